/**
 * 1,000 cron triggers firing on the same second (`* * * * * *`), for 10 s per run. The
 * function's input carries scheduled_time and actual_time: fire delay = actual − scheduled.
 * The worker also notes when each call arrived (arrival delay = arrival − scheduled, the
 * same machine's clock), and how many of the expected fires came at all.
 */
import { fmt, startAgent, startEngine, table, type Ctx, type Row, type Section } from '../lib/common.js'
import { median, sleep } from '../lib/stats.js'

type Summary = { n: number; p50: number; p90: number; p99: number; max: number; mean: number }
type Collected = { fire: Summary; arrival: Summary; ticks: number }

export async function cron(ctx: Ctx, options: { runs?: number; triggers?: number; sessions?: number; windowS?: number; cpuProfile?: string } = {}): Promise<Section> {
  const runs = options.runs ?? Math.max(3, Math.min(ctx.runs, 3))
  const triggers = options.triggers ?? 1000
  const sessions = options.sessions ?? 4
  const windowS = options.windowS ?? 10
  const engine = await startEngine('engine', { cpuProfile: options.cpuProfile })
  const worker = await startAgent('cron-worker')
  const results: Collected[] = []
  let setup = { seconds: 0, errors: 0, firstError: undefined as unknown }
  try {
    setup = await worker.call('cronSetup', { url: engine.url, n: triggers, sessions }, 120_000)
    if (setup.errors) throw new Error(`${setup.errors} cron registrations failed: ${JSON.stringify(setup.firstError)}`)
    ctx.log(`  ${triggers} cron triggers registered over ${sessions} sessions in ${fmt.s(setup.seconds)}`)
    // Windows start on a whole second, 2 s after the registrations, and follow one another.
    const start = Math.ceil(Date.now() / 1000) * 1000 + 2000
    const windows = Array.from({ length: runs }, (_, r) => ({ from: start + r * windowS * 1000, to: start + (r + 1) * windowS * 1000 }))
    for (const [r, w] of windows.entries()) {
      await sleep(Math.max(0, w.to + 1500 - Date.now()))
      const c = await worker.call<Collected>('cronCollect', { fromMs: w.from, toMs: w.to })
      results.push(c)
      ctx.log(`  run ${r + 1}/${runs}: ${fmt.int(c.fire.n)} fires over ${c.ticks} ticks; fire delay p50 ${fmt.ms(c.fire.p50)} p99 ${fmt.ms(c.fire.p99)}; arrival p50 ${fmt.ms(c.arrival.p50)} p99 ${fmt.ms(c.arrival.p99)}`)
    }
  } finally {
    await Promise.all([worker.stop(), options.cpuProfile ? engine.child.stop() : engine.child.kill()])
  }
  const p50 = median(results.map((x) => x.fire.p50))
  const p99 = median(results.map((x) => x.fire.p99))
  const expected = triggers * windowS
  const got = median(results.map((x) => x.fire.n))
  const scenario = `${fmt.int(triggers)} cron triggers on the same second, ${windowS} s`
  const rows: Row[] = [
    { scenario, figure: 'fire delay p50', value: fmt.ms(p50), target: '≤ 5 ms', pass: p50 <= 5 },
    { scenario, figure: 'fire delay p99', value: fmt.ms(p99), target: '≤ 25 ms', pass: p99 <= 25 },
    { scenario, figure: 'arrival at worker p50, p99', value: `${fmt.ms(median(results.map((x) => x.arrival.p50)))}, ${fmt.ms(median(results.map((x) => x.arrival.p99)))}`, target: '— (reported)', pass: null },
    { scenario, figure: 'fires delivered', value: `${fmt.int(got)} of ${fmt.int(expected)}`, target: '— (reported)', pass: null },
  ]
  const details = [
    `One engine process; an SDK worker process registers ${fmt.int(triggers)} triggers with schedule \`* * * * * *\` over ${sessions} sessions (took ${fmt.s(setup.seconds)}), their functions record each call's \`scheduled_time\`, \`actual_time\` and the arrival time. ${runs} consecutive ${windowS} s windows, starting on a whole second 2 s after registration; a run counts the fires scheduled inside its window. Fire delay = actual_time − scheduled_time (ISO times, so millisecond resolution); arrival delay = arrival at the worker − scheduled_time.`,
    '',
    table(
      ['run', 'fires', 'ticks', 'fire p50', 'fire p90', 'fire p99', 'fire max', 'arrival p50', 'arrival p99', 'arrival max'],
      results.map((x, i) => [String(i + 1), fmt.int(x.fire.n), String(x.ticks), fmt.ms(x.fire.p50), fmt.ms(x.fire.p90), fmt.ms(x.fire.p99), fmt.ms(x.fire.max), fmt.ms(x.arrival.p50), fmt.ms(x.arrival.p99), fmt.ms(x.arrival.max)]),
    ),
  ].join('\n')
  return { id: 'cron', title: 'Cron triggers firing on the same second', rows, details }
}
