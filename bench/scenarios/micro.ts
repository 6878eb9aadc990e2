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
    }>('run', {}, 120_000)
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
    ].join('\n')
    return { id: 'micro', title: 'Micro-measurements behind the explanations', rows: [], details }
  } finally {
    await child.stop()
  }
}
