/**
 * Churn, short: 500 sessions at once connecting, registering, calling and leaving for a
 * few seconds; afterwards the engine holds nothing more than at the start. What it proves
 * is in test/faults/scenarios/churn.ts; `npm run soak` runs it for 60 s.
 */
import { suite } from 'uvu'
import { limit } from './harness.js'
import { Child } from './faults/child.js'
import { cleanUpEngines } from './faults/engine-process.js'
import { CHURN_SHORT, churn } from './faults/scenarios/churn.js'

const it = suite('fault: churn')

it.after(async () => {
  await Child.killAll()
  await cleanUpEngines()
})

it('500 sessions come and go: nothing lost, nothing left over, the heap comes back', limit(() => churn(CHURN_SHORT), 120_000))

it.run()
