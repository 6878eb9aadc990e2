/**
 * The shared queue suites (test/queue-suite.ts) on the JetStream store, on a real
 * nats-server -js (test/nats-server.ts); without nats-server installed they fail, saying so.
 */
import { queueSuites, storeSuites } from './queue-suite.js'

queueSuites(['jetstream'])
storeSuites(['jetstream'])
