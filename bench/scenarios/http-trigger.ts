/**
 * HTTP trigger to a WebSocket worker under autocannon, 1 and 100 connections: the engine,
 * the baseline http→ws relay in each of its cork modes (the best of them on each figure
 * is the baseline), and plain node:http hello as the ceiling. autocannon runs in its own
 * process; latency percentiles come from every response's own timing. Every round
 * measures every target once, in an order that rotates from round to round; ratios are
 * taken within a round (bench/lib/compare.ts).
 */
import { join } from 'node:path'
import { Child } from '../lib/rpc.js'
import { fmt, otherEngines, profileDir, startAgent, startEngine, table, timestamp, type Ctx, type Row, type Section } from '../lib/common.js'
import { compare, pickText, ratioText } from '../lib/compare.js'
import { procCpu } from '../lib/procmem.js'
import { RELAY_NAMES, RELAY_VARIANTS_TEXT, startRelay } from '../lib/relays.js'

type Load = { reqPerSec: number; p50: number; p99: number; n: number; total: number; errors: number; timeouts: number; non2xx: number; cpuUs: number; sysShare: number }

export const RELAYS = RELAY_NAMES

export interface HttpOptions {
  connections?: number[]
  runs?: number
  durationS?: number
  /** Which of `ceiling`, `relay:<mode>` or `relay:<mode>:defaults` (bench/lib/relays.ts), `signalbox` to measure (default: all). */
  targets?: string[]
  /** Profile every measurement of the engine and the relays (their window only) into bench/profiles/, files named with this stamp. */
  profileStamp?: string
}

export async function httpTrigger(ctx: Ctx, options: HttpOptions = {}): Promise<Section> {
  const connections = options.connections ?? [1, 100]
  const runs = options.runs ?? ctx.runs
  const durationS = options.durationS ?? 2
  const others = options.targets ? [] : otherEngines()
  const names = options.targets ?? ['ceiling', ...RELAYS, 'signalbox', ...others.map((o) => o.name)]
  const profileStamp = options.profileStamp ?? (ctx.profile ? timestamp() : undefined)
  const engine = await startEngine('engine')
  const relays = new Map(names.filter((n) => n.startsWith('relay:')).map((n) => [n, startRelay('http-relay', n)]))
  const hello = new Child('http-hello', 'http-hello')
  const urls: Record<string, string> = { signalbox: `${engine.httpUrl}/hello` }
  const procs: Record<string, Child> = { signalbox: engine.child, ceiling: hello }
  const engines = [{ name: 'signalbox', engine }]
  for (const o of others) {
    const e = await startEngine(o.name, { root: o.root })
    engines.push({ name: o.name, engine: e })
    urls[o.name] = `${e.httpUrl}/hello`
    procs[o.name] = e.child
  }
  const worker = await startAgent('http-worker')
  const loader = await startAgent('autocannon')
  const route = { id: 'hello', function_id: 'bench::http', path: '/hello', method: 'GET' }
  try {
    urls.ceiling = `${((await hello.ready) as { httpUrl: string }).httpUrl}/hello`
    for (const [name, relay] of relays) {
      const info = (await relay.ready) as { url: string; httpUrl: string }
      urls[name] = `${info.httpUrl}/hello`
      procs[name] = relay
      await worker.call('serve', { url: info.url, functions: ['bench::http'], reply: 'http', routes: [route] })
    }
    for (const e of engines) await worker.call('serve', { url: e.engine.url, functions: ['bench::http'], reply: 'http', routes: [route] })
    const results: Record<string, Load[]> = {}
    const profiles: string[] = []
    for (let r = 0; r < runs; r++) {
      for (const conns of connections) {
        const order = names.map((_, i) => names[(i + r) % names.length])
        for (const target of order) {
          const proc = procs[target]
          const profile = profileStamp && target !== 'ceiling' ? `http${conns}-${target.replaceAll(':', '-')}-r${r + 1}-${profileStamp}.cpuprofile` : undefined
          if (profile) await proc.call('profileStart', {})
          const cpu0 = procCpu(proc.pid)
          const load = await loader.call<Load>('autocannon', { url: urls[target], connections: conns, durationS, warmupS: r === 0 ? 1 : 0 }, (durationS + 2) * 1000 + 30_000)
          const cpu1 = procCpu(proc.pid)
          if (profile) {
            await proc.call('profileStop', { file: join(profileDir, profile) })
            profiles.push(profile)
          }
          const used = cpu1.user - cpu0.user + cpu1.system - cpu0.system
          load.cpuUs = (used * 1000) / load.total
          load.sysShare = (cpu1.system - cpu0.system) / used
          ;(results[`${target}:${conns}`] ??= []).push(load)
          const bad = load.errors + load.timeouts + load.non2xx
          ctx.log(`  round ${r + 1}/${runs} ${target} ${conns} conn: ${fmt.int(load.reqPerSec)} req/s p50 ${fmt.ms(load.p50)} p99 ${fmt.ms(load.p99)} CPU ${load.cpuUs.toFixed(1)} µs/req${bad ? ` errors/timeouts/non-2xx ${load.errors}/${load.timeouts}/${load.non2xx}` : ''}`)
        }
      }
    }
    const rows: Row[] = []
    const detailRows: string[][] = []
    const modeRows: string[][] = []
    const otherLines: string[] = []
    const relayNames = names.filter((n) => n.startsWith('relay:'))
    for (const conns of connections) {
      const at = Object.fromEntries(names.map((n) => [n, results[`${n}:${conns}`] ?? []]))
      const scenario = `HTTP trigger → WS worker, ${conns} connection${conns === 1 ? '' : 's'}`
      if (at.signalbox?.length && relayNames.length) {
        const tput = compare(at, 'signalbox', relayNames, 'reqPerSec', 'higher')
        const p99 = compare(at, 'signalbox', relayNames, 'p99', 'lower')
        const cpu = compare(at, 'signalbox', relayNames, 'cpuUs', 'lower')
        const vs = pickText
        rows.push({ scenario, figure: 'req/s', value: fmt.int(tput.engine), baseline: fmt.int(tput.baseline) + vs(tput), ratio: ratioText(tput), target: '≥ 0.9× baseline', pass: tput.ratio >= 0.9 })
        rows.push({ scenario, figure: 'p99 latency', value: fmt.ms(p99.engine), baseline: fmt.ms(p99.baseline) + vs(p99), ratio: ratioText(p99), target: '≤ 1.2× baseline', pass: p99.ratio <= 1.2 })
        rows.push({ scenario, figure: 'CPU per request (engine or relay process)', value: `${cpu.engine.toFixed(1)} µs`, baseline: `${cpu.baseline.toFixed(1)} µs` + vs(cpu), ratio: ratioText(cpu), target: '≤ 1.15× baseline', pass: cpu.ratio <= 1.15 })
        for (const mode of relayNames) modeRows.push([String(conns), mode, fmt.int(tput.modes[mode]), fmt.ms(p99.modes[mode]), `${cpu.modes[mode].toFixed(1)} µs`])
        for (const o of others) {
          const c = (key: 'reqPerSec' | 'p99' | 'cpuUs', better: 'higher' | 'lower') => compare(at, o.name, relayNames, key, better)
          const line = `${scenario}, ${o.name}: req/s ${ratioText(c('reqPerSec', 'higher'))}, p99 ${ratioText(c('p99', 'lower'))}, CPU ${ratioText(c('cpuUs', 'lower'))}`
          otherLines.push(line)
          ctx.log(`     ${line}`)
        }
      }
      if (at.ceiling?.length && at.signalbox?.length) {
        const ceiling = compare(at, 'signalbox', ['ceiling'], 'reqPerSec', 'higher')
        rows.push({ scenario, figure: 'ceiling: node:http hello req/s, p99', value: `${fmt.int(ceiling.baseline)}, ${fmt.ms(compare(at, 'signalbox', ['ceiling'], 'p99', 'lower').baseline)}`, ratio: `signalbox at ${fmt.x(ceiling.ratio)}`, target: '— (ceiling)', pass: null })
      }
      for (const target of names) {
        for (const [i, l] of (at[target] ?? []).entries()) {
          detailRows.push([String(conns), target, String(i + 1), fmt.int(l.reqPerSec), fmt.ms(l.p50), fmt.ms(l.p99), fmt.int(l.n), `${l.errors}/${l.timeouts}/${l.non2xx}`, `${l.cpuUs.toFixed(1)} µs (${Math.round(l.sysShare * 100)}% system)`])
        }
      }
    }
    const details = [
      `autocannon (its own process, pipelining 1) runs ${durationS} s per measurement against GET /hello on: the engine's http listener, whose route is bound to \`bench::http\` served by a raw \`ws\` worker process; the baseline http→ws relay (bench/procs/http-relay.ts) with the same worker and route, in each way of corking its socket to the worker (\`relay:tick\`: uncorked on \`process.nextTick\`; \`relay:turn\`: uncorked once per event-loop turn; \`relay:none\`: not corked; \`relay:auto\`: a turn's first frame written at once, the frames after it in the turn corked until its end, and from the first frame while the socket is busy (its last turn with frames had more than one), as the engine does); and plain node:http answering "hello" (the ceiling, no WebSocket hop). The engine runs with the node flags \`signalbox serve\` runs it with. ${RELAY_VARIANTS_TEXT} Every function answers \`{status_code: 200, body: 'hello'}\`. One 1 s warm-up run per target precedes the first round; each round measures every target once, in an order rotated from round to round (${runs} rounds). For each figure and round the baseline is the relay mode that did best on it by its median over the other rounds (leave one out: bench/lib/compare.ts says why), and the ratio is the median of the ratios taken within each round, with their smallest and largest in brackets; a baseline named "in N of M rounds" was the pick in that many. req/s counts 2xx answers over the run's duration; p50/p99 come from every 2xx response's own time (autocannon's histogram rounds to whole milliseconds). Server CPU per request is the serving process's user + system CPU time from /proc during the run, divided by the 2xx answers (warm-up included); for the engine and the relay it leaves out the worker process.`,
      '',
      "The relay's modes (medians):",
      '',
      table(['connections', 'mode', 'req/s', 'p99', 'CPU per request'], modeRows),
      '',
      ...(otherLines.length ? ['Other builds of the engine measured in the same rounds (`SIGNALBOX_BENCH_ENGINES`), against the same baselines:', '', ...otherLines.map((l) => `- ${l}`), ''] : []),
      table(['connections', 'target', 'round', 'req/s', 'p50', 'p99', 'responses', 'errors/timeouts/non-2xx', 'server CPU per request'], detailRows),
    ].join('\n')
    return { id: 'http', title: 'HTTP trigger to a WebSocket worker', rows, details, raw: { results, profiles } }
  } finally {
    await Promise.all([loader.stop(), worker.stop(), ...[...relays.values()].map((r) => r.stop()), hello.stop(), ...engines.map((e) => e.engine.child.stop())])
  }
}
