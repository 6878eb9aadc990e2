/**
 * HTTP trigger to a WebSocket worker under autocannon, 1 and 100 connections: the engine,
 * the baseline http→ws relay, and plain node:http hello as the ceiling. autocannon runs
 * in its own process; latency percentiles come from every response's own timing.
 */
import { Child } from '../lib/rpc.js'
import { cpuProfileArgs, fmt, startAgent, startEngine, table, timestamp, type Ctx, type Row, type Section } from '../lib/common.js'
import { median } from '../lib/stats.js'
import { procCpu } from '../lib/procmem.js'

type Load = { reqPerSec: number; p50: number; p99: number; n: number; total: number; errors: number; timeouts: number; non2xx: number; cpuUs: number; sysShare: number }

export async function httpTrigger(ctx: Ctx, options: { cpuProfile?: string; relayCpuProfile?: string; connections?: number[]; runs?: number; durationS?: number; targets?: string[] } = {}): Promise<Section> {
  const connections = options.connections ?? [1, 100]
  const runs = options.runs ?? ctx.runs
  const durationS = options.durationS ?? 2
  const engine = await startEngine('engine', { cpuProfile: options.cpuProfile ?? (ctx.profile ? `http-engine-${timestamp()}.cpuprofile` : undefined) })
  const relay = new Child('http-relay', 'http-relay', [], { execArgv: cpuProfileArgs(options.relayCpuProfile ?? (ctx.profile ? `http-relay-${timestamp()}.cpuprofile` : undefined)) })
  const hello = new Child('http-hello', 'http-hello')
  const relayInfo = (await relay.ready) as { url: string; httpUrl: string }
  const helloInfo = (await hello.ready) as { httpUrl: string }
  const worker = await startAgent('http-worker')
  const loader = await startAgent('autocannon')
  const all: Record<string, string> = { ceiling: `${helloInfo.httpUrl}/hello`, baseline: `${relayInfo.httpUrl}/hello`, signalbox: `${engine.httpUrl}/hello` }
  const names = options.targets ?? ['ceiling', 'baseline', 'signalbox']
  try {
    const route = { id: 'hello', function_id: 'bench::http', path: '/hello', method: 'GET' }
    await worker.call('serve', { url: relayInfo.url, functions: ['bench::http'], reply: 'http', routes: [route] })
    await worker.call('serve', { url: engine.url, functions: ['bench::http'], reply: 'http', routes: [route] })
    const results: Record<string, Load[]> = {}
    for (let r = 0; r < runs; r++) {
      for (const conns of connections) {
        const order = names.map((_, i) => names[(i + r) % names.length])
        for (const target of order) {
          const pid = target === 'signalbox' ? engine.pid : target === 'baseline' ? relay.pid : hello.pid
          const cpu0 = procCpu(pid)
          const load = await loader.call<Load>('autocannon', { url: all[target], connections: conns, durationS, warmupS: r === 0 ? 1 : 0 }, (durationS + 2) * 1000 + 30_000)
          const cpu1 = procCpu(pid)
          const used = cpu1.user - cpu0.user + cpu1.system - cpu0.system
          load.cpuUs = (used * 1000) / load.total
          load.sysShare = (cpu1.system - cpu0.system) / used
          ;(results[`${target}:${conns}`] ??= []).push(load)
          const bad = load.errors + load.timeouts + load.non2xx
          ctx.log(`  round ${r + 1}/${runs} ${target} ${conns} conn: ${fmt.int(load.reqPerSec)} req/s p50 ${fmt.ms(load.p50)} p99 ${fmt.ms(load.p99)}${bad ? ` errors/timeouts/non-2xx ${load.errors}/${load.timeouts}/${load.non2xx}` : ''}`)
        }
      }
    }
    const rows: Row[] = []
    const detailRows: string[][] = []
    for (const conns of connections) {
      const m = (target: string, k: keyof Load) => (results[`${target}:${conns}`] ? median(results[`${target}:${conns}`].map((l) => l[k])) : NaN)
      const ratio = m('signalbox', 'reqPerSec') / m('baseline', 'reqPerSec')
      const scenario = `HTTP trigger → WS worker, ${conns} connection${conns === 1 ? '' : 's'}`
      rows.push({ scenario, figure: 'req/s', value: fmt.int(m('signalbox', 'reqPerSec')), baseline: fmt.int(m('baseline', 'reqPerSec')), ratio: fmt.x(ratio), target: '≥ 0.7× baseline', pass: ratio >= 0.7 })
      rows.push({ scenario, figure: 'CPU per request (engine or relay process)', value: `${m('signalbox', 'cpuUs').toFixed(1)} µs`, baseline: `${m('baseline', 'cpuUs').toFixed(1)} µs`, ratio: fmt.x(m('signalbox', 'cpuUs') / m('baseline', 'cpuUs')), target: '—', pass: null })
      rows.push({ scenario, figure: 'p99 latency', value: fmt.ms(m('signalbox', 'p99')), baseline: fmt.ms(m('baseline', 'p99')), ratio: fmt.x(m('signalbox', 'p99') / m('baseline', 'p99')), target: '— (reported)', pass: null })
      rows.push({ scenario, figure: 'ceiling: node:http hello req/s, p99', value: `${fmt.int(m('ceiling', 'reqPerSec'))}, ${fmt.ms(m('ceiling', 'p99'))}`, ratio: `signalbox at ${fmt.x(m('signalbox', 'reqPerSec') / m('ceiling', 'reqPerSec'))}`, target: '— (ceiling)', pass: null })
      for (const target of names) {
        for (const [i, l] of (results[`${target}:${conns}`] ?? []).entries()) {
          detailRows.push([String(conns), target, String(i + 1), fmt.int(l.reqPerSec), fmt.ms(l.p50), fmt.ms(l.p99), fmt.int(l.n), `${l.errors}/${l.timeouts}/${l.non2xx}`, `${l.cpuUs.toFixed(1)} µs (${Math.round(l.sysShare * 100)}% system)`])
        }
      }
    }
    const details = [
      `autocannon (its own process, pipelining 1) runs ${durationS} s per measurement against GET /hello on: the engine's http listener, whose route is bound to \`bench::http\` served by a raw \`ws\` worker process; the baseline http→ws relay with the same worker and route; and plain node:http answering "hello" (the ceiling, no WebSocket hop). Every function answers \`{status_code: 200, body: 'hello'}\`. One 1 s warm-up run per target precedes the first round. req/s counts 2xx answers over the run's duration; p50/p99 come from every 2xx response's own time (autocannon's histogram rounds to whole milliseconds). Server CPU per request is the serving process's user + system CPU time from /proc during the run, divided by the 2xx answers (warm-up included); for the engine and the relay it leaves out the worker process.`,
      '',
      table(['connections', 'target', 'round', 'req/s', 'p50', 'p99', 'responses', 'errors/timeouts/non-2xx', 'server CPU per request'], detailRows),
    ].join('\n')
    return { id: 'http', title: 'HTTP trigger to a WebSocket worker', rows, details, raw: results }
  } finally {
    await Promise.all([loader.stop(), worker.stop(), relay.stop(), hello.stop(), engine.child.stop()])
  }
}
