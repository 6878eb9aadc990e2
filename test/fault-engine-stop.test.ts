/**
 * The engine stopped under load, short: one SIGTERM while calls are served, one SIGKILL
 * while messages are sent to a SQLite queue. What it proves is in
 * test/faults/scenarios/engine-stop.ts; `npm run soak` repeats each ten times.
 */
import { suite } from 'uvu'
import { limit } from './harness.js'
import { cleanUpEngines } from './faults/engine-process.js'
import { STOP_SHORT, engineStop } from './faults/scenarios/engine-stop.js'

const it = suite('fault: engine stopped under load')

it.after(cleanUpEngines)

it('SIGTERM lets calls in flight finish and exits 0; SIGKILL loses no acknowledged queue message', limit(() => engineStop(STOP_SHORT), 120_000))

it.run()
