/**
 * Every fault scenario, by name, with its short size (the one `npm test` runs) and its
 * long one (`npm run soak`). Each resolves with its row of RELIABILITY.md, or throws.
 */
import type { Outcome } from '../outcome.js'
import { CHURN_LONG, CHURN_SHORT, churn } from './churn.js'
import { STOP_LONG, STOP_SHORT, engineStop } from './engine-stop.js'
import { FUZZ_LONG, FUZZ_SHORT, fuzzFrames } from './fuzz-frames.js'
import { HTTP_LONG, HTTP_SHORT, httpHostility } from './http-hostility.js'
import { CUTS_LONG, CUTS_SHORT, DEPLOY_LONG, DEPLOY_SHORT, cutReconnects, rollingDeploy } from './reconnects.js'
import { MEMORY_LONG, MEMORY_SHORT, sessionMemory } from './session-memory.js'
import { KILL_LONG, KILL_SHORT, workerKill } from './worker-kill.js'

export type Size = 'short' | 'long'

export interface Scenario {
  name: string
  /** The test file that runs its short size in `npm test`. */
  test: string
  run(size: Size): Promise<Outcome>
}

const pick = <T>(size: Size, short: T, long: T) => (size === 'short' ? short : long)

export const SCENARIOS: Scenario[] = [
  { name: 'fuzz', test: 'test/fault-fuzz.test.ts', run: (s) => fuzzFrames(pick(s, FUZZ_SHORT, FUZZ_LONG)) },
  { name: 'http', test: 'test/fault-http.test.ts', run: (s) => httpHostility(pick(s, HTTP_SHORT, HTTP_LONG)) },
  { name: 'worker-kill', test: 'test/fault-worker-kill.test.ts', run: (s) => workerKill(pick(s, KILL_SHORT, KILL_LONG)) },
  { name: 'engine-stop', test: 'test/fault-engine-stop.test.ts', run: (s) => engineStop(pick(s, STOP_SHORT, STOP_LONG)) },
  { name: 'reconnects-ours', test: 'test/fault-reconnects.test.ts', run: (s) => cutReconnects('ours', pick(s, CUTS_SHORT, CUTS_LONG)) },
  { name: 'reconnects-iii', test: 'test/fault-reconnects.test.ts', run: (s) => cutReconnects('iii', pick(s, CUTS_SHORT, CUTS_LONG)) },
  { name: 'deploy-ours', test: 'test/fault-reconnects.test.ts', run: (s) => rollingDeploy('ours', pick(s, DEPLOY_SHORT, DEPLOY_LONG)) },
  { name: 'deploy-iii', test: 'test/fault-reconnects.test.ts', run: (s) => rollingDeploy('iii', pick(s, DEPLOY_SHORT, DEPLOY_LONG)) },
  { name: 'churn', test: 'test/fault-churn.test.ts', run: (s) => churn(pick(s, CHURN_SHORT, CHURN_LONG)) },
  { name: 'session-memory', test: 'test/fault-session-memory.test.ts', run: (s) => sessionMemory(pick(s, MEMORY_SHORT, MEMORY_LONG)) },
]
