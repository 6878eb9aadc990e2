/**
 * HTTP trigger latency with 1, 1,000 and 10,000 routes registered (and a control). Engines run side
 * by side, one per route count (10,000 routes spread over 20 sessions of 500, 1,000 over 2);
 * every route is a parameterised GET bound to its session's function. One client process
 * sends sequential keep-alive requests to randomly chosen registered routes; rounds
 * alternate the engines. p50 per route count, and 10,000 against 1.
 */
import { fmt, startAgent, startEngine, table, type Ctx, type EngineProc, type Row, type Section } from '../lib/common.js'
import { Child } from '../lib/rpc.js'
import { median } from '../lib/stats.js'

type Lat = { p50: number; p99: number; n: number; bad: number }

export async function routes(ctx: Ctx, options: { runs?: number; count?: number } = {}): Promise<Section> {
  const runs = options.runs ?? ctx.runs
  const count = options.count ?? 3000
  const setups = [
    { routes: 1, sessions: 1, perSession: 1 },
    { routes: 1000, sessions: 2, perSession: 500 },
    { routes: 10_000, sessions: 20, perSession: 500 },
    // Control: as many sessions as the 10,000-route engine, one route each.
    { routes: 20, sessions: 20, perSession: 1 },
  ]
  const engines: EngineProc[] = []
  const holders: Child[] = []
  const client = await startAgent('http-client')
  try {
    const paths: string[][] = []
    const setupSeconds: number[] = []
    for (const s of setups) {
      const engine = await startEngine(`engine-${s.routes}`)
      engines.push(engine)
      const holder = await startAgent(`routes-${s.routes}`)
      holders.push(holder)
      const r = await holder.call<{ seconds: number; errors: number; paths: string[] }>('routeSessions', { url: engine.url, sessions: s.sessions, perSession: s.perSession, prefix: 'rt', sample: 1000 }, 120_000)
      if (r.errors) throw new Error(`${r.errors} route registrations failed for ${s.routes} routes`)
      paths.push(r.paths)
      setupSeconds.push(r.seconds)
      ctx.log(`  ${fmt.int(s.routes)} routes registered over ${s.sessions} session(s) in ${fmt.s(r.seconds)}`)
    }
    // One unrecorded pass first: the engines just took their registrations (JIT, GC).
    for (let i = 0; i < setups.length; i++) await client.call<Lat>('httpLatency', { base: engines[i].httpUrl, paths: paths[i], warmup: 0, count: 5000, maxMs: 20_000 }, 40_000)
    const results: Lat[][] = setups.map(() => [])
    for (let r = 0; r < runs; r++) {
      for (let k = 0; k < setups.length; k++) {
        const i = (k + r) % setups.length
        const lat = await client.call<Lat>('httpLatency', { base: engines[i].httpUrl, paths: paths[i], warmup: 500, count, maxMs: 20_000 }, 40_000)
        if (lat.bad) throw new Error(`${lat.bad} requests to the ${setups[i].routes}-route engine were not answered 200`)
        results[i].push(lat)
        ctx.log(`  round ${r + 1}/${runs} ${fmt.int(setups[i].routes)} routes: p50 ${fmt.ms(lat.p50)} p99 ${fmt.ms(lat.p99)} (${lat.n} requests)`)
      }
    }
    const p50 = results.map((rs) => median(rs.map((x) => x.p50)))
    const p99 = results.map((rs) => median(rs.map((x) => x.p99)))
    const rows: Row[] = setups.slice(0, 3).map((s, i) => {
      const ratio = p50[i] / p50[0]
      const last = i === 2
      return {
        scenario: `HTTP trigger latency, ${fmt.int(s.routes)} route${s.routes === 1 ? '' : 's'} over ${s.sessions} session${s.sessions === 1 ? '' : 's'}`,
        figure: 'p50 latency',
        value: fmt.ms(p50[i]),
        baseline: i === 0 ? '' : `${fmt.ms(p50[0])} (1 route)`,
        ratio: i === 0 ? '' : fmt.x(ratio),
        target: last ? '≤ 1.1× one route' : '—',
        pass: last ? ratio <= 1.1 : null,
      }
    })
    rows.push({
      scenario: 'HTTP trigger latency, control: 20 routes over 20 sessions',
      figure: 'p50 latency',
      value: fmt.ms(p50[3]),
      baseline: `${fmt.ms(p50[0])} (1 route); 10,000 routes over 20 sessions at ${fmt.x(p50[2] / p50[3])} of this`,
      ratio: fmt.x(p50[3] / p50[0]),
      target: '— (control)',
      pass: null,
    })
    const detailRows: string[][] = []
    setups.forEach((s, i) => results[i].forEach((x, r) => detailRows.push([`${fmt.int(s.routes)} (${s.sessions})`, String(r + 1), fmt.ms(x.p50), fmt.ms(x.p99), String(x.n)])))
    const details = [
      `Four engine processes side by side: 1 route (1 session), 1,000 routes (2 sessions × 500), 10,000 routes (20 sessions × 500), and a control with 20 routes over 20 sessions (one each), which has the 10,000-route engine's spread of calls over sessions without its route count. Routes are registered by SDK workers (\`connectWorker\`) in another process (took ${setupSeconds.map((x) => fmt.s(x)).join(', ')}). Routes are \`GET /rt<session>/r<i>/:id\`, each bound to its session's function, which answers \`{status_code: 200, body: 'ok'}\`. A client process sends ${fmt.int(count)} sequential keep-alive requests (after 500 warm-up ones, and one unrecorded pass of 5,000 per engine before the first round) per round, each to a route picked at random from the registered ones (a different \`:id\` each time); rounds rotate the engines. p50 medians: ${p50.map((x) => fmt.ms(x)).join(', ')}; p99 medians: ${p99.map((x) => fmt.ms(x)).join(', ')}.`,
      '',
      table(['routes (sessions)', 'round', 'p50', 'p99', 'requests'], detailRows),
    ].join('\n')
    return { id: 'routes', title: 'HTTP trigger latency against route count', rows, details }
  } finally {
    await Promise.all([client.stop(), ...engines.map((e) => e.child.kill()), ...holders.map((h) => h.stop())])
  }
}
