/**
 * The seeded fuzzer: hostile sessions send `signalbox serve` frames made by fast-check
 * (hostile-frames.ts) while a control pair and an http route carry traffic beside them.
 * Proves that the engine stays up, answers every frame that asks with an id (and refuses
 * every frame that is not a message with the code the protocol names), that the control
 * traffic sees no failure at any time, that sessions ended rudely (a reset, a text frame
 * that is not UTF-8, a frame over the limit) are closed as documented and release all
 * they held, that no frame reaches `Object.prototype`, and that the engine's heap comes
 * back to within 10 % of where it started. (The heap is read from snapshots after full
 * collections; the 10 % is judged on the program's own objects, without the code V8
 * compiles as the fuzzer reaches new paths, which is reported beside it.)
 */
import fc from 'fast-check'
import * as assert from 'uvu/assert'
import { until } from '../../harness.js'
import { startControlTraffic, type ControlTraffic } from '../control-traffic.js'
import { cleanUpEngines, startServe } from '../engine-process.js'
import { hostileFrame, type Frame } from '../hostile-frames.js'
import { openHostileSession, type Broken } from '../hostile-session.js'
import { fmt, type Outcome } from '../outcome.js'

export interface FuzzSize {
  sessions: number
  framesPerSession: number
  /** Frames sent before the engine's answers are checked. */
  batch: number
  seed: number
  /** Frames of the warm-up round (four sessions, every ending once), sent before the heap is first read. */
  warmup: number
}

export const FUZZ_SHORT: FuzzSize = { sessions: 4, framesPerSession: 750, batch: 50, seed: 424242, warmup: 800 }
export const FUZZ_LONG: FuzzSize = { sessions: 20, framesPerSession: 5000, batch: 50, seed: 424242, warmup: 4000 }

/** Largest frame the fuzzed engine accepts (its huge frames stay under it; one session ends by passing it). */
const MAX_PAYLOAD = 8 * 1024 * 1024
/** How each session ends, in turn, and the close code its client must see. */
const ENDINGS = [
  ['close', 1000],
  ['reset', 1006],
  ['invalid-utf8', 1007],
  ['oversize', 1009],
] as const

/** The frames of one batch: the same for the same seed, session and batch. */
const framesOf = (seed: number, session: number, batch: number, count: number): Frame[] => fc.sample(hostileFrame, { seed: seed + session * 100_003 + batch, numRuns: count })

const brokenText = (b: Broken) =>
  [...b.codes.map((c) => `refusals '${c.code}': ${c.got} for ${c.want} frames`), ...b.unanswered.slice(0, 5).map((u) => `${u.key}: ${u.got} answers, not ${u.want}, to ${u.frame}`)].join('\n  ')

/** Runs one hostile session to its end; returns how many frames it sent. */
async function hostile(url: string, size: FuzzSize, session: number, stayedUp: () => boolean): Promise<number> {
  const s = await openHostileSession(url, `s${session}`)
  const batches = Math.ceil(size.framesPerSession / size.batch)
  for (let b = 0; b < batches; b++) {
    const frames = framesOf(size.seed, session, b, Math.min(size.batch, size.framesPerSession - b * size.batch))
    const broken = await s.exchange(frames)
    assert.ok(stayedUp(), 'the engine is still running')
    if (broken.codes.length || broken.unanswered.length) {
      assert.unreachable(`session ${session}, batch ${b} (seed ${size.seed}): the engine did not answer as promised:\n  ${brokenText(broken)}`)
    }
  }
  const [how, code] = ENDINGS[session % ENDINGS.length]
  assert.is(await s.end(how, MAX_PAYLOAD), code, `session ${session} ended by '${how}' closes with ${code}`)
  return s.sent()
}

export async function fuzzFrames(size: FuzzSize): Promise<Outcome> {
  const started = Date.now()
  let control: ControlTraffic | undefined
  try {
    const engine = await startServe({ inspect: true, flags: ['--max-payload', String(MAX_PAYLOAD), '--registration-timeout-ms', '3000'] })
    const traffic = (control = await startControlTraffic(engine))
    await until(() => traffic.progress().calls > 10 && traffic.progress().requests > 10, 10_000, 'control traffic to flow')

    // Warm up: every kind of frame and every ending once, so what is measured after is not first-use allocation.
    await Promise.all(ENDINGS.map((_, i) => hostile(engine.url, { ...size, framesPerSession: size.warmup / ENDINGS.length, seed: size.seed - 1 }, i, engine.alive)))
    await until(async () => (await engine.health()).body.sessions === 2, 10_000, 'the warm-up sessions to be gone')
    const heapStart = await engine.heapSplit()

    let frames = 0
    const progressBefore = traffic.progress()
    const sessions = Array.from({ length: size.sessions }, (_, i) => i)
    const counts = await Promise.all(sessions.map((i) => hostile(engine.url, size, i, engine.alive)))
    frames = counts.reduce((a, b) => a + b, 0)
    const during = traffic.progress()
    assert.ok(during.calls > progressBefore.calls && during.requests > progressBefore.requests, 'the control traffic kept moving while the fuzzing went on')

    // Everything the hostile sessions held is released: only the control pair and its route are left.
    const health = (await until(async () => {
      const h = await engine.health()
      return h.body.sessions === 2 && h.body.functions === 2 && h.body.triggers.http === 1 && Object.keys(h.body.triggers).length === 1 ? h : undefined
    }, 15_000, 'the hostile sessions to be released'))!
    assert.is(health.status, 200)
    const clean = await engine.inspector!.evaluate('Object.getOwnPropertyNames(Object.prototype).sort().join() === Object.getOwnPropertyNames(Object.getPrototypeOf({})).sort().join() && ({}).polluted === undefined && ({}).type === undefined && Object.prototype.constructor === Object')
    assert.is(clean, true, 'Object.prototype was not touched')
    const totals = await traffic.stop()
    assert.equal(totals.failures, [], 'the control traffic never failed')
    assert.ok(totals.calls > 0 && totals.requests > 0)

    const heapEnd = await engine.heapSplit()
    const { peakRss, rss } = engine.memory()
    const growth = heapEnd.program / heapStart.program - 1
    const totalGrowth = heapEnd.total / heapStart.total - 1
    assert.ok(growth <= 0.1, `the engine's heap came back to within 10 % of the start: ${fmt.mb(heapStart.program)} → ${fmt.mb(heapEnd.program)} (${fmt.pct(growth)}) of the program's objects; ${fmt.mb(heapStart.total)} → ${fmt.mb(heapEnd.total)} in all`)
    assert.ok(engine.alive(), 'the engine is still running')
    return {
      title: 'Seeded fuzzer',
      load: `${size.sessions} hostile sessions at once, beside a control pair (worker → worker calls) and an http route in loops`,
      faults: 'sessions ended by a TCP reset, a text frame that is not UTF-8 (1007), a frame over max-payload (1009), or a clean close',
      badInputs: 'random text and bytes, binary frames, truncated and mutated messages, wrong types in every field, dropped fields, `__proto__`/`constructor`/`prototype` keys, huge strings and arrays (to 2 MB), nesting to 100,000 levels; fast-check, seed ' + size.seed,
      lost: 'nothing: every frame with an id answered once, every non-message refused with its code, no control failure',
      figures: [
        ['frames fuzzed', fmt.int(frames)],
        ['control calls survived', fmt.int(totals.calls)],
        ['control http requests survived', fmt.int(totals.requests)],
        ['heap growth, program objects', fmt.pct(growth)],
        ['heap growth, with compiled code', fmt.pct(totalGrowth)],
      ],
      memory: { heapStart: heapStart.total, heapEnd: heapEnd.total, peakRss, rssEnd: rss },
      seconds: (Date.now() - started) / 1000,
    }
  } finally {
    await control?.stop()
    await cleanUpEngines()
  }
}
