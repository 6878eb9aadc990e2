/**
 * Sessions that connect and leave, short: 2,000 of them; the engine's heap stays flat. What
 * it proves (and the XState trap it guards) is in test/faults/scenarios/session-memory.ts;
 * `npm run soak` runs 20,000.
 */
import { suite } from 'uvu'
import { limit } from './harness.js'
import { Child } from './faults/child.js'
import { cleanUpEngines } from './faults/engine-process.js'
import { MEMORY_SHORT, sessionMemory } from './faults/scenarios/session-memory.js'

const it = suite('fault: sessions that connect and leave')

it.after(async () => {
  await Child.killAll()
  await cleanUpEngines()
})

it('2,000 sessions come and go: nothing left over, the heap flat within 10 %', limit(() => sessionMemory(MEMORY_SHORT), 120_000))

it.run()
