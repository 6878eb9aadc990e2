/**
 * The shared queue suites (test/queue-suite.ts) on the memory and the SQLite store; the
 * JetStream store runs them in queue-jetstream.test.ts.
 */
import { queueSuites, storeSuites } from './queue-suite.js'

queueSuites(['memory', 'sqlite'])
storeSuites(['memory', 'sqlite'])
