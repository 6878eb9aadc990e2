/**
 * The seeded fuzzer, short: a few thousand hostile frames (fast-check, fixed seed) over a
 * few sessions against `signalbox serve`. What it proves is in
 * test/faults/scenarios/fuzz-frames.ts; `npm run soak` runs it with 100,000 frames.
 */
import { suite } from 'uvu'
import { limit } from './harness.js'
import { FUZZ_SHORT, fuzzFrames } from './faults/scenarios/fuzz-frames.js'

const it = suite('fault: seeded fuzzer')

it('hostile frames: the engine answers every one as promised, control traffic never fails, the heap comes back', limit(() => fuzzFrames(FUZZ_SHORT), 120_000))

it.run()
