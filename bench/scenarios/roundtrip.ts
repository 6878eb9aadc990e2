/**
 * Invocation round trip: worker A calls a function worker B serves, through the engine
 * and through the baseline ws relay; four processes (A, engine or relay, B, and the
 * orchestrator idle). 1 and 64 calls in flight. Rounds alternate the two targets so
 * drift hits both alike; each figure is the median over rounds.
 */
import { Child } from '../lib/rpc.js'
import { cpuProfileArgs, fmt, startAgent, startEngine, table, timestamp, type Ctx, type Row, type Section } from '../lib/common.js'
import { median } from '../lib/stats.js'
import { procCpu } from '../lib/procmem.js'

type Load = { callsPerSec: number; p50: number; p99: number; n: number; total: number; errors: number; stuck: number; cpuUs: number; sysShare: number }

export async function roundtrip(ctx: Ctx, options: { cpuProfile?: string; relayCpuProfile?: string; inflights?: number[]; runs?: number; durationMs?: number } = {}): Promise<Section> {
  const inflights = options.inflights ?? [1, 64]
  const runs = options.runs ?? ctx.runs
  const durationMs = options.durationMs ?? 2000
  const engine = await startEngine('engine', { cpuProfile: options.cpuProfile ?? (ctx.profile ? `roundtrip-engine-${timestamp()}.cpuprofile` : undefined) })
  const relay = new Child('ws-relay', 'ws-relay', [], { execArgv: cpuProfileArgs(options.relayCpuProfile ?? (ctx.profile ? `roundtrip-relay-${timestamp()}.cpuprofile` : undefined)) })
  const relayUrl = ((await relay.ready) as { url: string }).url
  const workerB = await startAgent('worker-B')
  const workerA = await startAgent('worker-A')
  const targets = { baseline: relayUrl, signalbox: engine.url }
  try {
    for (const url of Object.values(targets)) await workerB.call('serve', { url, functions: ['bench::echo'], reply: 'echo' })
    const results: Record<string, Load[]> = {}
    for (let r = 0; r < runs; r++) {
      for (const inflight of inflights) {
        const order = r % 2 === 0 ? (['baseline', 'signalbox'] as const) : (['signalbox', 'baseline'] as const)
        for (const target of order) {
          const pid = target === 'signalbox' ? engine.pid : relay.pid
          const cpu0 = procCpu(pid)
          const load = await workerA.call<Load>('wsLoad', { url: targets[target], function_id: 'bench::echo', inflight, warmupMs: 500, durationMs }, durationMs + 30_000)
          const cpu1 = procCpu(pid)
          const used = cpu1.user - cpu0.user + cpu1.system - cpu0.system
          load.cpuUs = (used * 1000) / load.total
          load.sysShare = (cpu1.system - cpu0.system) / used
          ;(results[`${target}:${inflight}`] ??= []).push(load)
          ctx.log(`  round ${r + 1}/${runs} ${target} ${inflight} in flight: ${fmt.int(load.callsPerSec)} calls/s p50 ${fmt.ms(load.p50)} p99 ${fmt.ms(load.p99)}${load.errors ? ` errors ${load.errors}` : ''}`)
        }
      }
    }
    const rows: Row[] = []
    const detailRows: string[][] = []
    for (const inflight of inflights) {
      const m = (target: string, k: keyof Load) => median(results[`${target}:${inflight}`].map((l) => l[k]))
      const tput = m('signalbox', 'callsPerSec') / m('baseline', 'callsPerSec')
      const p99 = m('signalbox', 'p99') / m('baseline', 'p99')
      const scenario = `invocation round trip, ${inflight} in flight`
      rows.push({ scenario, figure: 'calls/s', value: fmt.int(m('signalbox', 'callsPerSec')), baseline: fmt.int(m('baseline', 'callsPerSec')), ratio: fmt.x(tput), target: '≥ 0.7× baseline', pass: tput >= 0.7 })
      rows.push({ scenario, figure: 'p50 latency', value: fmt.ms(m('signalbox', 'p50')), baseline: fmt.ms(m('baseline', 'p50')), ratio: fmt.x(m('signalbox', 'p50') / m('baseline', 'p50')), target: '—', pass: null })
      rows.push({ scenario, figure: 'CPU per call (engine or relay process)', value: `${m('signalbox', 'cpuUs').toFixed(1)} µs`, baseline: `${m('baseline', 'cpuUs').toFixed(1)} µs`, ratio: fmt.x(m('signalbox', 'cpuUs') / m('baseline', 'cpuUs')), target: '—', pass: null })
      rows.push({ scenario, figure: 'p99 latency', value: fmt.ms(m('signalbox', 'p99')), baseline: fmt.ms(m('baseline', 'p99')), ratio: fmt.x(p99), target: '≤ 1.5× baseline', pass: p99 <= 1.5 })
      for (const target of ['baseline', 'signalbox']) {
        for (const [i, l] of results[`${target}:${inflight}`].entries()) {
          detailRows.push([String(inflight), target, String(i + 1), fmt.int(l.callsPerSec), fmt.ms(l.p50), fmt.ms(l.p99), fmt.int(l.n), String(l.errors), `${l.cpuUs.toFixed(1)} µs (${Math.round(l.sysShare * 100)}% system)`])
        }
      }
    }
    const details = [
      `Worker A (raw \`ws\` caller), worker B (raw \`ws\` echo worker) and the engine or the baseline relay each run in their own process. A keeps 1 or 64 \`invokefunction\` calls in flight for ${durationMs / 1000} s after a 0.5 s warm-up; B answers each with the call's data. Rounds alternate which target goes first. CPU per call is the engine's (or relay's) user + system CPU time from /proc during the measurement, warm-up included, divided by the calls it carried.`,
      '',
      table(['in flight', 'target', 'round', 'calls/s', 'p50', 'p99', 'calls', 'errors', 'CPU per call'], detailRows),
    ].join('\n')
    return { id: 'roundtrip', title: 'Invocation round trip', rows, details, raw: results }
  } finally {
    await Promise.all([workerA.stop(), workerB.stop(), relay.stop(), engine.child.stop()])
  }
}
