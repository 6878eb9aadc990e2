/**
 * Invocation round trip: worker A calls a function worker B serves, through the engine
 * and through the baseline ws relay in each of its cork modes (the best of them on each
 * figure is the baseline); A, B, and the engine or relay each in their own process. 1 and
 * 64 calls in flight. Every round measures every target once, in an order that rotates
 * from round to round; ratios are taken within a round (bench/lib/compare.ts).
 */
import { join } from 'node:path'
import { Child } from '../lib/rpc.js'
import { fmt, otherEngines, profileDir, startAgent, startEngine, table, timestamp, type Ctx, type Row, type Section } from '../lib/common.js'
import { compare, pickText, ratioText } from '../lib/compare.js'
import { procCpu } from '../lib/procmem.js'
import { RELAY_NAMES, RELAY_VARIANTS_TEXT, startRelay } from '../lib/relays.js'

type Load = { callsPerSec: number; p50: number; p99: number; n: number; total: number; errors: number; stuck: number; cpuUs: number; sysShare: number }

export const WS_RELAYS = RELAY_NAMES

export interface RoundtripOptions {
  inflights?: number[]
  runs?: number
  durationMs?: number
  /** Which of `relay:<mode>` or `relay:<mode>:defaults` (bench/lib/relays.ts) and `signalbox` to measure (default: all). */
  targets?: string[]
  /** Profile every measurement of the engine and the relays (their window only) into bench/profiles/, files named with this stamp. */
  profileStamp?: string
}

export async function roundtrip(ctx: Ctx, options: RoundtripOptions = {}): Promise<Section> {
  const inflights = options.inflights ?? [1, 64]
  const runs = options.runs ?? ctx.runs
  const durationMs = options.durationMs ?? 2000
  const others = options.targets ? [] : otherEngines()
  const names = options.targets ?? [...WS_RELAYS, 'signalbox', ...others.map((o) => o.name)]
  const profileStamp = options.profileStamp ?? (ctx.profile ? timestamp() : undefined)
  const engine = await startEngine('engine')
  const relays = new Map(names.filter((n) => n.startsWith('relay:')).map((n) => [n, startRelay('ws-relay', n)]))
  const urls: Record<string, string> = { signalbox: engine.url }
  const procs: Record<string, Child> = { signalbox: engine.child }
  const engines = [engine]
  for (const o of others) {
    const e = await startEngine(o.name, { root: o.root })
    engines.push(e)
    urls[o.name] = e.url
    procs[o.name] = e.child
  }
  const workerB = await startAgent('worker-B')
  const workerA = await startAgent('worker-A')
  try {
    for (const [name, relay] of relays) {
      urls[name] = ((await relay.ready) as { url: string }).url
      procs[name] = relay
    }
    for (const name of names) await workerB.call('serve', { url: urls[name], functions: ['bench::echo'], reply: 'echo' })
    const results: Record<string, Load[]> = {}
    const profiles: string[] = []
    for (let r = 0; r < runs; r++) {
      for (const inflight of inflights) {
        const order = names.map((_, i) => names[(i + r) % names.length])
        for (const target of order) {
          const proc = procs[target]
          const profile = profileStamp ? `roundtrip${inflight}-${target.replaceAll(':', '-')}-r${r + 1}-${profileStamp}.cpuprofile` : undefined
          if (profile) await proc.call('profileStart', {})
          const cpu0 = procCpu(proc.pid)
          const load = await workerA.call<Load>('wsLoad', { url: urls[target], function_id: 'bench::echo', inflight, warmupMs: 500, durationMs }, durationMs + 30_000)
          const cpu1 = procCpu(proc.pid)
          if (profile) {
            await proc.call('profileStop', { file: join(profileDir, profile) })
            profiles.push(profile)
          }
          const used = cpu1.user - cpu0.user + cpu1.system - cpu0.system
          load.cpuUs = (used * 1000) / load.total
          load.sysShare = (cpu1.system - cpu0.system) / used
          ;(results[`${target}:${inflight}`] ??= []).push(load)
          ctx.log(`  round ${r + 1}/${runs} ${target} ${inflight} in flight: ${fmt.int(load.callsPerSec)} calls/s p50 ${fmt.ms(load.p50)} p99 ${fmt.ms(load.p99)} CPU ${load.cpuUs.toFixed(1)} µs/call${load.errors ? ` errors ${load.errors}` : ''}`)
        }
      }
    }
    const rows: Row[] = []
    const detailRows: string[][] = []
    const modeRows: string[][] = []
    const otherLines: string[] = []
    const relayNames = names.filter((n) => n.startsWith('relay:'))
    for (const inflight of inflights) {
      const at = Object.fromEntries(names.map((n) => [n, results[`${n}:${inflight}`] ?? []]))
      const scenario = `invocation round trip, ${inflight} in flight`
      if (at.signalbox?.length && relayNames.length) {
        const tput = compare(at, 'signalbox', relayNames, 'callsPerSec', 'higher')
        const p50 = compare(at, 'signalbox', relayNames, 'p50', 'lower')
        const p99 = compare(at, 'signalbox', relayNames, 'p99', 'lower')
        const cpu = compare(at, 'signalbox', relayNames, 'cpuUs', 'lower')
        const vs = pickText
        const tputTarget = inflight === 1 ? 0.9 : 0.95
        rows.push({ scenario, figure: 'calls/s', value: fmt.int(tput.engine), baseline: fmt.int(tput.baseline) + vs(tput), ratio: ratioText(tput), target: `≥ ${tputTarget}× baseline`, pass: tput.ratio >= tputTarget })
        rows.push({ scenario, figure: 'p50 latency', value: fmt.ms(p50.engine), baseline: fmt.ms(p50.baseline) + vs(p50), ratio: ratioText(p50), target: '—', pass: null })
        rows.push({ scenario, figure: 'CPU per call (engine or relay process)', value: `${cpu.engine.toFixed(1)} µs`, baseline: `${cpu.baseline.toFixed(1)} µs` + vs(cpu), ratio: ratioText(cpu), target: '—', pass: null })
        rows.push({ scenario, figure: 'p99 latency', value: fmt.ms(p99.engine), baseline: fmt.ms(p99.baseline) + vs(p99), ratio: ratioText(p99), target: '≤ 1.5× baseline', pass: p99.ratio <= 1.5 })
        for (const mode of relayNames) modeRows.push([String(inflight), mode, fmt.int(tput.modes[mode]), fmt.ms(p99.modes[mode]), `${cpu.modes[mode].toFixed(1)} µs`])
        for (const o of others) {
          const c = (key: 'callsPerSec' | 'p99' | 'cpuUs', better: 'higher' | 'lower') => compare(at, o.name, relayNames, key, better)
          const line = `${scenario}, ${o.name}: calls/s ${ratioText(c('callsPerSec', 'higher'))}, p99 ${ratioText(c('p99', 'lower'))}, CPU ${ratioText(c('cpuUs', 'lower'))}`
          otherLines.push(line)
          ctx.log(`     ${line}`)
        }
      }
      for (const target of names) {
        for (const [i, l] of (at[target] ?? []).entries()) {
          detailRows.push([String(inflight), target, String(i + 1), fmt.int(l.callsPerSec), fmt.ms(l.p50), fmt.ms(l.p99), fmt.int(l.n), String(l.errors), `${l.cpuUs.toFixed(1)} µs (${Math.round(l.sysShare * 100)}% system)`])
        }
      }
    }
    const details = [
      `Worker A (raw \`ws\` caller), worker B (raw \`ws\` echo worker) and the engine or the baseline relay (bench/procs/ws-relay.ts) each run in their own process. The relay runs in each way of corking its sockets (\`relay:tick\`: uncorked on \`process.nextTick\`; \`relay:turn\`: uncorked once per event-loop turn; \`relay:none\`: not corked; \`relay:auto\`: a turn's first frame written at once, the frames after it in the turn corked until its end, and from the first frame while the socket is busy (its last turn with frames had more than one), as the engine does). The engine runs with the node flags \`signalbox serve\` runs it with. ${RELAY_VARIANTS_TEXT} A keeps 1 or 64 \`invokefunction\` calls in flight for ${durationMs / 1000} s after a 0.5 s warm-up; B answers each with the call's data. Each round measures every target once, in an order rotated from round to round (${runs} rounds). For each figure and round the baseline is the relay mode that did best on it by its median over the other rounds (leave one out: bench/lib/compare.ts says why), and the ratio is the median of the ratios taken within each round, with their smallest and largest in brackets; a baseline named "in N of M rounds" was the pick in that many. CPU per call is the engine's (or relay's) user + system CPU time from /proc during the measurement, warm-up included, divided by the calls it carried.`,
      '',
      "The relay's modes (medians):",
      '',
      table(['in flight', 'mode', 'calls/s', 'p99', 'CPU per call'], modeRows),
      '',
      ...(otherLines.length ? ['Other builds of the engine measured in the same rounds (`SIGNALBOX_BENCH_ENGINES`), against the same baselines:', '', ...otherLines.map((l) => `- ${l}`), ''] : []),
      table(['in flight', 'target', 'round', 'calls/s', 'p50', 'p99', 'calls', 'errors', 'CPU per call'], detailRows),
    ].join('\n')
    return { id: 'roundtrip', title: 'Invocation round trip', rows, details, raw: { results, profiles } }
  } finally {
    await Promise.all([workerA.stop(), workerB.stop(), ...[...relays.values()].map((r) => r.stop()), ...engines.map((e) => e.child.stop())])
  }
}
