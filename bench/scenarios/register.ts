/**
 * Registering many triggers in ONE session, of a worker-defined type (its provider is a
 * second session that accepts every trigger at once) and `http`. A raw client sends every
 * `registertrigger` frame at once and the clock stops at the last result. Each run uses a
 * fresh engine process, so its peak RSS (VmHWM) belongs to that run. Smaller counts are
 * measured too, to show how the cost grows.
 */
import { fmt, startAgent, startEngine, table, type Ctx, type Row, type Section } from '../lib/common.js'
import { procMemory } from '../lib/procmem.js'
import { median } from '../lib/stats.js'

type Reg = { seconds: number; sentAt: number; answered: number; errors: number; firstError: unknown; marks: Array<[number, number]>; timedOut: boolean }
type Close = { seconds: number; maxGapMs: number; gone: boolean }
type Run = Reg & { n: number; kind: string; rssBefore: number; peakRss: number; rssAfter: number; close?: Close }

export async function register(ctx: Ctx, options: { sizes?: number[]; runs?: number; kinds?: Array<'custom' | 'http'>; cpuProfile?: string } = {}): Promise<Section> {
  const sizes = options.sizes ?? [1000, 10_000]
  const runs = options.runs ?? Math.max(3, Math.min(ctx.runs, 3))
  const kinds = options.kinds ?? (['custom', 'http'] as const)
  const agent = await startAgent('registrar')
  const results: Run[] = []
  try {
    for (let r = 0; r < runs; r++) {
      for (const kind of kinds) {
        for (const n of sizes) {
          const engine = await startEngine('engine', { cpuProfile: options.cpuProfile })
          try {
            const before = await engine.child.call('mem', { collect: true })
            const reg = await agent.call<Reg>('registerMany', { url: engine.url, n, kind }, 150_000)
            const peak = procMemory(engine.pid)
            // Closing that session releases every trigger it holds: how long, and how long the engine stalls.
            const close = await agent.call<Close>('closeAndWatch', { url: engine.url, timeoutMs: 60_000 }, 90_000)
            results.push({ ...reg, n, kind, rssBefore: before.rss, peakRss: peak.peakRss, rssAfter: peak.rss, close })
            ctx.log(`  run ${r + 1}/${runs} ${kind} ×${n}: ${fmt.s(reg.seconds)} (all sent after ${fmt.s(reg.sentAt)}), peak RSS ${fmt.mb(peak.peakRss)}${reg.errors ? `, ${reg.errors} errors (${JSON.stringify(reg.firstError)})` : ''}${reg.timedOut ? `, TIMED OUT with ${reg.answered} answered` : ''}${close ? `; closing the session took ${fmt.s(close.seconds)}, longest stall ${fmt.ms(close.maxGapMs)}${close.gone ? '' : ' (NOT GONE)'}` : ''}`)
          } finally {
            // Profiled: exit without the engine's own teardown, so the profile is the registration's and the session close's.
            if (options.cpuProfile) await engine.child.stop(30_000, { fast: true })
            else await engine.child.kill()
            await agent.call('closeAll')
          }
        }
      }
    }
  } finally {
    await agent.stop()
  }
  const rows: Row[] = []
  const big = sizes[sizes.length - 1]
  const small = sizes[0]
  for (const kind of kinds) {
    const pick = (n: number) => results.filter((x) => x.kind === kind && x.n === n)
    const secs = median(pick(big).map((x) => (x.timedOut ? Infinity : x.seconds)))
    const secsSmall = median(pick(small).map((x) => x.seconds))
    const growth = secs / big / (secsSmall / small)
    const label = kind === 'custom' ? 'worker-defined type' : 'http'
    const scenario = `register ${fmt.int(big)} triggers in one session (${label})`
    const refused = pick(big).filter((x) => x.errors > 0)
    const note = refused.length ? ` (${refused.length} of ${pick(big).length} runs had refusals, e.g. ${fmt.int(refused[0].errors)} × ${(refused[0].firstError as { code?: string })?.code ?? 'error'})` : ''
    rows.push({ scenario, figure: 'seconds', value: `${fmt.s(secs)}${note}`, target: '< 2 s', pass: secs < 2 && refused.length === 0 })
    rows.push({ scenario, figure: `time per trigger at ${fmt.int(big)} vs at ${fmt.int(small)}`, value: `${((secs / big) * 1e6).toFixed(0)} µs vs ${((secsSmall / small) * 1e6).toFixed(0)} µs`, ratio: fmt.x(growth), target: 'linear (≈ 1×; ≤ 1.5× taken as linear)', pass: growth <= 1.5 })
    const closeBig = median(pick(big).map((x) => x.close?.seconds ?? NaN))
    const closeSmall = median(pick(small).map((x) => x.close?.seconds ?? NaN))
    rows.push({ scenario, figure: 'closing that session: seconds until released (engine stalled meanwhile, longest gap)', value: `${fmt.s(closeBig)} (${fmt.ms(median(pick(big).map((x) => x.close?.maxGapMs ?? NaN)))})`, baseline: `${fmt.s(closeSmall)} at ${fmt.int(small)}`, ratio: `${fmt.x(closeBig / big / (closeSmall / small))} per trigger`, target: '— (reported)', pass: null })
    rows.push({ scenario, figure: 'engine peak RSS', value: fmt.mb(median(pick(big).map((x) => x.peakRss))), baseline: `${fmt.mb(median(pick(big).map((x) => x.rssBefore)))} before`, target: '— (reported)', pass: null })
  }
  const detailRows = results.map((x) => [x.kind === 'custom' ? 'worker-defined' : 'http', fmt.int(x.n), fmt.s(x.seconds), fmt.s(x.sentAt), x.timedOut ? `timed out (${x.answered})` : String(x.answered), String(x.errors), fmt.mb(x.rssBefore), fmt.mb(x.peakRss), x.close ? `${fmt.s(x.close.seconds)}${x.close.gone ? '' : ' (not gone)'}` : '', x.close ? fmt.ms(x.close.maxGapMs) : ''])
  const curve = results
    .filter((x) => x.n === big)
    .map((x) => `- ${x.kind === 'custom' ? 'worker-defined' : 'http'}: ${x.marks.map(([k, t]) => `${k / 1000}k ${t.toFixed(2)} s`).join(', ')}`)
  const details = [
    `A raw \`ws\` session registers a function, waits for one probe trigger, then sends ${fmt.int(big)} \`registertrigger\` frames at once (worker-defined type: config \`{n}\`, provider in a second session answering at once; http: \`GET /reg/<i>\`) and waits for every \`triggerregistrationresult\`. A fresh engine process per measurement; RSS before is after a forced GC, peak is the engine's VmHWM. "Time per trigger" compares ${fmt.int(big)} with ${fmt.int(small)} triggers: 1× is linear. Then the registering session closes (the provider stays), and a third session measures how long until \`engine::workers::list\` shows it gone, while it keeps a JSON ping loop going: the longest wait for a pong is how long the engine answered nobody. Runs: ${runs}.`,
    '',
    table(['type', 'triggers', 'seconds', 'all frames sent after', 'answered', 'errors', 'RSS before', 'peak RSS', 'close: released after', 'close: longest stall'], detailRows),
    '',
    'When the answers arrived (time since the first frame, each 1,000 answers):',
    '',
    ...curve,
  ].join('\n')
  return { id: 'register', title: 'Registering many triggers in one session', rows, details }
}
