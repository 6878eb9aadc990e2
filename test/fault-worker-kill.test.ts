/**
 * A worker killed with SIGKILL mid-call, short: one kill. What it proves is in
 * test/faults/scenarios/worker-kill.ts; `npm run soak` kills ten workers in turn.
 */
import { suite } from 'uvu'
import { limit } from './harness.js'
import { Child } from './faults/child.js'
import { cleanUpEngines } from './faults/engine-process.js'
import { KILL_SHORT, workerKill } from './faults/scenarios/worker-kill.js'

const it = suite('fault: worker killed mid-call')

it.after(async () => {
  await Child.killAll()
  await cleanUpEngines()
})

it('callers told at once, new calls wait out the hold, the batch comes back after its visibility timeout, the bound trigger comes back', limit(() => workerKill(KILL_SHORT), 120_000))

it.run()
