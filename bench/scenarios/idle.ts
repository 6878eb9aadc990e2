/**
 * 2,000 idle sessions with 5 functions and 5 triggers each (3 http routes, 2 yearly cron
 * schedules), opened by SDK workers in 4 client processes so no client memory is counted.
 * The engine's RSS (and V8 heap) after a forced GC, before and after; a fresh engine per run.
 * "After" is read twice: 2 s after the last registration, and again once the engine has
 * been idle for SETTLE_MS. Opening 2,000 sessions is a burst of allocation that makes V8
 * grow its young generation (to ~32 MB); V8's memory reducer gives that back once the
 * process is idle, so the settled figure is what idle sessions cost, and the target is
 * judged on it. Both are reported, with V8's young-generation size at each reading. The
 * "before" reading is taken after the same idle time, so it is measured alike.
 */
import { fmt, startAgent, startEngine, table, type Ctx, type Row, type Section } from '../lib/common.js'
import type { Child } from '../lib/rpc.js'
import { median, sleep } from '../lib/stats.js'

type Mem = { rss: number; peakRss: number; heapUsed: number; external: number; gcExposed: boolean; newSpace: number; oldSlack: number }
/** How long the engine is left idle before the settled reading. */
const SETTLE_MS = 20_000
type Shape = { functions: number; http: number; cron: number }

/** Fresh engine; `sessions` sessions of `shape` over the agents; engine memory before and after (forced GC). */
async function measure(agents: Child[], sessions: number, shape: Shape) {
  const engine = await startEngine('engine')
  try {
    // Read "before" idle too, so young-generation sizing counts on neither side.
    await engine.child.call<Mem>('mem', { collect: true })
    await sleep(SETTLE_MS)
    const before = await engine.child.call<Mem>('mem', { collect: true })
    const t0 = Date.now()
    const per = Math.ceil(sessions / agents.length)
    const outcomes = await Promise.all(agents.map((a, i) => a.call<{ seconds: number; errors: number; firstError: unknown }>('idleSessions', { url: engine.url, sessions: Math.min(per, sessions - i * per), offset: i * per, ...shape }, 180_000)))
    const seconds = (Date.now() - t0) / 1000
    const errors = outcomes.reduce((n, o) => n + o.errors, 0)
    if (errors) throw new Error(`${errors} registrations failed: ${JSON.stringify(outcomes.find((o) => o.errors)?.firstError)}`)
    await sleep(2000)
    const burst = await engine.child.call<Mem>('mem', { collect: true })
    await sleep(SETTLE_MS)
    const after = await engine.child.call<Mem>('mem', { collect: true })
    return {
      before,
      burst,
      after,
      seconds,
      errors,
      burstRssPer: (burst.rss - before.rss) / sessions,
      rssPer: (after.rss - before.rss) / sessions,
      heapPer: (after.heapUsed - before.heapUsed) / sessions,
    }
  } finally {
    await engine.child.kill()
    await Promise.all(agents.map((a) => a.call('closeAll')))
  }
}

export async function idle(ctx: Ctx, options: { runs?: number; sessions?: number; clients?: number; breakdown?: boolean } = {}): Promise<Section> {
  const runs = options.runs ?? Math.max(3, Math.min(ctx.runs, 3))
  const sessions = options.sessions ?? 2000
  const clients = options.clients ?? 4
  const agents: Child[] = []
  for (let i = 0; i < clients; i++) agents.push(await startAgent(`sessions-${i}`))
  const results: Array<Awaited<ReturnType<typeof measure>>> = []
  const breakdown: Array<{ label: string; shape: Shape; rssPer: number; heapPer: number }> = []
  const parts = options.breakdown ?? true
  try {
    for (let r = 0; r < runs; r++) {
      const m = await measure(agents, sessions, { functions: 5, http: 3, cron: 2 })
      results.push(m)
      ctx.log(`  run ${r + 1}/${runs}: ${sessions} sessions up in ${fmt.s(m.seconds)}; RSS ${fmt.mb(m.before.rss)} → ${fmt.mb(m.burst.rss)} (${fmt.kb(m.burstRssPer)}/session; young generation ${fmt.mb(m.burst.newSpace)}) → ${fmt.mb(m.after.rss)} after ${SETTLE_MS / 1000} s idle = ${fmt.kb(m.rssPer)}/session (young generation ${fmt.mb(m.after.newSpace)}), heap ${fmt.kb(m.heapPer)}/session`)
    }
    if (parts) {
      // What each part costs: the same count of sessions holding less.
      const shapes: Array<[string, Shape]> = [
        ['bare session (no functions, no triggers)', { functions: 0, http: 0, cron: 0 }],
        ['5 functions', { functions: 5, http: 0, cron: 0 }],
        ['5 functions + 5 http triggers', { functions: 5, http: 5, cron: 0 }],
        ['5 functions + 5 cron triggers', { functions: 5, http: 0, cron: 5 }],
      ]
      for (const [label, shape] of shapes) {
        const m = await measure(agents, 1000, shape)
        breakdown.push({ label, shape, rssPer: m.rssPer, heapPer: m.heapPer })
        ctx.log(`  breakdown, 1,000 × ${label}: ${fmt.kb(m.rssPer)} RSS, ${fmt.kb(m.heapPer)} heap per session`)
      }
    }
  } finally {
    await Promise.all(agents.map((a) => a.stop()))
  }
  const perSession = median(results.map((x) => x.rssPer))
  const burstPer = median(results.map((x) => x.burstRssPer))
  const heapPer = median(results.map((x) => x.heapPer))
  const scenario = `${fmt.int(sessions)} idle sessions, 5 functions + 5 triggers each`
  const rows: Row[] = [
    { scenario, figure: `engine RSS per session, idle ${SETTLE_MS / 1000} s`, value: fmt.kb(perSession), baseline: `V8 heap ${fmt.kb(heapPer)}/session`, target: '≤ 50 KB', pass: perSession <= 50 * 1024 },
    { scenario, figure: 'engine RSS per session, 2 s after the last registration', value: fmt.kb(burstPer), baseline: `young generation ${fmt.mb(median(results.map((x) => x.burst.newSpace)))}, ${fmt.mb(median(results.map((x) => x.after.newSpace)))} once idle`, target: '— (reported)', pass: null },
  ]
  const details = [
    `A fresh engine process per run; ${clients} client processes open ${fmt.int(sessions)} SDK sessions (\`connectWorker\`, 50 at a time per process), each registering 5 functions and 5 triggers: 3 http routes (\`POST /idle/<s>/h<i>/:id\`) and 2 cron schedules that fire once a year. Engine memory is read in the engine process after forced GCs: before the first connection (the engine idle for ${SETTLE_MS / 1000} s), 2 s after the last registration answered, and again after ${SETTLE_MS / 1000} s more with nothing happening (the target is judged on this last reading: see the scenario's doc comment). Runs: ${runs}.`,
    '',
    table(
      ['run', 'sessions up in', 'RSS before', 'RSS 2 s after (young gen.)', 'RSS idle (young gen.)', 'RSS per session: 2 s after, idle', 'old-space slack idle', 'heap before', 'heap idle', 'heap per session'],
      results.map((x, i) => [
        String(i + 1),
        fmt.s(x.seconds),
        fmt.mb(x.before.rss),
        `${fmt.mb(x.burst.rss)} (${fmt.mb(x.burst.newSpace)})`,
        `${fmt.mb(x.after.rss)} (${fmt.mb(x.after.newSpace)})`,
        `${fmt.kb(x.burstRssPer)}, ${fmt.kb(x.rssPer)}`,
        fmt.mb(x.after.oldSlack),
        fmt.mb(x.before.heapUsed),
        fmt.mb(x.after.heapUsed),
        fmt.kb(x.heapPer),
      ]),
    ),
    ...(breakdown.length
      ? [
          '',
          `Where it goes: one run each with 1,000 sessions holding less (a fresh engine each, read once idle; per-trigger cost = (row − "5 functions") / 5).`,
          '',
          table(
            ['each session holds', 'RSS per session', 'V8 heap per session'],
            breakdown.map((b) => [b.label, fmt.kb(b.rssPer), fmt.kb(b.heapPer)]),
          ),
        ]
      : []),
  ].join('\n')
  return { id: 'idle', title: 'Idle sessions', rows, details }
}
