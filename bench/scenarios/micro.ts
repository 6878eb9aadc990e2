/** Micro-measurements of library calls on the engine's heavy paths (bench/procs/micro.ts), for the explanations. */
import { Child } from '../lib/rpc.js'
import { fmt, table, type Ctx, type Section } from '../lib/common.js'

export async function micro(ctx: Ctx): Promise<Section> {
  const child = new Child('micro', 'micro', [], { execArgv: ['--expose-gc'] })
  try {
    await child.ready
    const r = await child.call<{
      croner: { heapPerJobBytes: number; yearSlots?: number; previousRunsUs: number; nextRunUs: number; newCronUs: number }
      sqlite: { byBacklog: Array<{ backlog: number; messagesUs: number; callsUs: number }>; plan: string[] }
      router: Array<{ routes: number; lookupUs: number }>
      hotPath: Record<string, number>
      callLoop: { inflight1: number; inflight64: number }
    }>('run', {}, 240_000)
    const h = r.hotPath
    const ns = (v: number) => `${Math.round(v)} ns`
    ctx.log(`  in-process call loop: ${r.callLoop.inflight1.toFixed(2)} µs CPU per call at 1 in flight, ${r.callLoop.inflight64.toFixed(2)} µs at 64`)
    ctx.log(`  per request: ${Object.entries(h).map(([k, v]) => `${k} ${ns(v)}`).join(', ')}`)
    ctx.log(`  croner: ${fmt.kb(r.croner.heapPerJobBytes)} heap per job; previousRuns ${r.croner.previousRunsUs.toFixed(1)} µs, nextRun ${r.croner.nextRunUs.toFixed(1)} µs`)
    ctx.log(`  rou3 lookup: ${r.router.map((x) => `${x.routes} routes ${x.lookupUs.toFixed(2)} µs`).join(', ')}`)
    for (const b of r.sqlite.byBacklog) ctx.log(`  sqlite receive statements with ${b.backlog} queued: ${b.messagesUs.toFixed(0)} µs + ${b.callsUs.toFixed(0)} µs`)
    const details = [
      'Single library calls the engine makes, timed alone in one process (bench/procs/micro.ts).',
      '',
      table(
        ['what', 'measured'],
        [
          ['croner `new Cron(…)`: V8 heap per job (after GC)', `${fmt.kb(r.croner.heapPerJobBytes)}${r.croner.yearSlots ? ` (its pattern holds a ${fmt.int(r.croner.yearSlots)}-slot \`year\` array)` : ''}`],
          ['croner `job.previousRuns(1, …)` (the cron trigger type called it on every fire to find scheduled_time; provider:cron only when a tick is not the current second)', `${r.croner.previousRunsUs.toFixed(1)} µs`],
          ['croner `job.nextRun()` (what croner computes to schedule each next fire, once per job)', `${r.croner.nextRunUs.toFixed(1)} µs`],
          ['croner `new Cron(…)`', `${r.croner.newCronUs.toFixed(1)} µs`],
          ...r.sqlite.byBacklog.map((b) => [`SQLite store, receive statements with ${fmt.int(b.backlog)} messages visible: messages (LIMIT 10) + durable calls (LIMIT 1), each in its transaction`, `${b.messagesUs.toFixed(0)} µs + ${b.callsUs.toFixed(0)} µs`]),
          ['SQLite plans of those receives (mark due, then read; messages, then calls)', r.sqlite.plan.map((p) => `\`${p}\``).join('<br>')],
          ...r.router.map((x) => [`rou3 \`findRoute\` with ${fmt.int(x.routes)} param route${x.routes === 1 ? '' : 's'} (random registered paths, as in the routes scenario)`, `${x.lookupUs.toFixed(2)} µs`]),
        ],
      ),
      '',
      'Per-request work on the HTTP and call paths, each piece alone (best of 7 rounds of 100,000; a call has two frames, an HTTP request one). Where issue 15 changed it, the old way is beside the new:',
      '',
      table(
        ['work', 'before', 'now'],
        [
          ['metrics per call: `signalbox_invocations_total` and `signalbox_invocation_duration_seconds` (prom-client `inc` + `observe`, which hash the labels; now a Map entry and a bucket array, rendered at scrape time)', ns(h.promCounterAndHistogram), ns(h.ownCounterAndHistogram)],
          ["a call's deadline (a `setTimeout` + `clearTimeout` per call; now a link in its timeout's list, actors/deadlines.ts)", ns(h.setTimeoutAndClear), ns(h.deadlineAddAndRemove)],
          ['decoding an `invocationresult` frame (JSON.parse + valibot + depth walk; now JSON.parse + hand-written checks; JSON.parse alone: ' + ns(h.jsonParseAnswer) + ')', ns(h.decodeAnswerValibot), ns(h.decodeAnswer)],
          ['decoding an `invokefunction` frame', ns(h.decodeCallValibot), ns(h.decodeCall)],
          ["encoding an http call's `invokefunction` frame with its two channel refs (8 headers; a plain object through JSON.stringify; now the input writes its own JSON, core/http-input.ts)", ns(h.encodeHttpCallPlain), ns(h.encodeHttpCall)],
          ["copying the request's headers (8 headers; now not copied)", ns(h.headersCopy), '0'],
          ['parsing an empty query string (now `{}` at once)', '—', ns(h.queryEmpty)],
          ['parsing a two-parameter query string (kept: a worker gets its input as one JSON value, so what the function may read is parsed before it is sent)', 'kept', ns(h.queryTwo)],
          ['parsing a 90-byte JSON body (kept, as the query)', 'kept', ns(h.bodyJson)],
          ['routing through the rou3 radix tree (kept: the HTTP contract): a static route, a route with two parameters (whose object was built through Object.fromEntries before, about 1.2 µs more)', 'kept', `${ns(h.routeStatic)}, ${ns(h.routeParams)}`],
        ],
      ),
      '',
      `The engine's own CPU per call with no socket (two in-process sessions, frames in as text; the test's own JSON.stringify of each frame included): ${r.callLoop.inflight1.toFixed(2)} µs at 1 call in flight, ${r.callLoop.inflight64.toFixed(2)} µs at 64 (best of 9 rounds of 10,000 calls).`,
    ].join('\n')
    return { id: 'micro', title: 'Micro-measurements behind the explanations', rows: [], details }
  } finally {
    await child.stop()
  }
}
