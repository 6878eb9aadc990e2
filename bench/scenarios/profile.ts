/**
 * Where the time goes: short passes of the two round-trip scenarios with the engine AND
 * the baseline under `node --cpu-prof`, compared per call; then the two scenarios whose
 * targets are furthest off (cron, SQLite queue) with the engine profiled. Profiles go to
 * bench/profiles/ and are summarised here. The figures of these passes are not used
 * anywhere else: the profiler slows the processes down.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { profileDir, table, timestamp, type Ctx, type Section } from '../lib/common.js'
import { summarise, summaryMarkdown, type ProfileSummary } from '../lib/profile-summary.js'
import { roundtrip } from './roundtrip.js'
import { httpTrigger } from './http-trigger.js'
import { cron } from './cron.js'
import { queue } from './queue.js'
import { register } from './register.js'

async function load(name: string): Promise<ProfileSummary | undefined> {
  const file = join(profileDir, name)
  for (let i = 0; i < 50 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100))
  return existsSync(file) ? summarise(file) : undefined
}

/** CPU µs per call by origin, engine beside baseline. */
function perCall(engine: ProfileSummary, engineCalls: number, base: ProfileSummary, baseCalls: number): string {
  const us = (s: ProfileSummary, calls: number, share: number) => (share * s.busyMs * 1000) / calls
  const origins = [...new Set([...engine.self.slice(0, 10).map(([k]) => k), ...base.self.slice(0, 6).map(([k]) => k)])]
  const get = (s: ProfileSummary, k: string) => s.self.find(([o]) => o === k)?.[1] ?? 0
  const rows = origins.map((k) => [k, us(base, baseCalls, get(base, k)).toFixed(1), us(engine, engineCalls, get(engine, k)).toFixed(1)])
  rows.push(['**all busy time**', `**${us(base, baseCalls, 1).toFixed(1)}**`, `**${us(engine, engineCalls, 1).toFixed(1)}**`])
  return table(['origin (self time)', 'baseline µs/call', 'signalbox µs/call'], rows)
}

export async function profile(ctx: Ctx): Promise<Section> {
  const stamp = timestamp()
  const quiet: Ctx = { ...ctx, profile: false, log: (m) => ctx.log(`  (profiled) ${m.trim()}`) }
  const parts: string[] = [
    'Each pass reruns a scenario briefly under `node --cpu-prof` (files in bench/profiles/, gitignored; `node dist/bench/profile-summary.js <file>` prints a summary). "Self time" is time in that origin\'s own code (`native X` is native code called from JavaScript: `writev` is the socket write system call, which on loopback also carries the kernel\'s TCP work); "on the stack" is the share of samples where any function of that origin was on the stack, so it includes what it called. µs/call divides each process\'s busy CPU time by the calls it carried during the pass (warm-ups included). These passes\' own throughput figures are not used anywhere: the profiler slows the processes down.',
  ]

  // Round trip, 1 and 64 in flight: engine and ws relay both profiled, one pass each.
  for (const inflight of [64, 1]) {
    const rt = { engine: `roundtrip${inflight}-engine-${stamp}.cpuprofile`, relay: `roundtrip${inflight}-relay-${stamp}.cpuprofile` }
    const rtSection = await roundtrip(quiet, { cpuProfile: rt.engine, relayCpuProfile: rt.relay, inflights: [inflight], runs: 1, durationMs: 3000 })
    const rtCalls = (target: string) => (rtSection.raw?.[`${target}:${inflight}`] as Array<{ total: number }>)[0].total
    const rtEngine = await load(rt.engine)
    const rtRelay = await load(rt.relay)
    parts.push('', `#### Invocation round trip, ${inflight} in flight`, '', `\`bench/profiles/${rt.engine}\`, \`bench/profiles/${rt.relay}\``, '')
    if (rtEngine && rtRelay) parts.push(perCall(rtEngine, rtCalls('signalbox'), rtRelay, rtCalls('baseline')), '', 'The engine process:', '', summaryMarkdown(rtEngine))
  }

  // HTTP trigger, 100 connections: engine and http relay both profiled.
  const hp = { engine: `http-engine-${stamp}.cpuprofile`, relay: `http-relay-${stamp}.cpuprofile` }
  const hpSection = await httpTrigger(quiet, { cpuProfile: hp.engine, relayCpuProfile: hp.relay, connections: [100], runs: 1, durationS: 4, targets: ['baseline', 'signalbox'] })
  const hpCalls = (target: string) => (hpSection.raw?.[`${target}:100`] as Array<{ total: number }>)[0].total
  const hpEngine = await load(hp.engine)
  const hpRelay = await load(hp.relay)
  parts.push('', '#### HTTP trigger, 100 connections', '', `\`bench/profiles/${hp.engine}\`, \`bench/profiles/${hp.relay}\``, '')
  if (hpEngine && hpRelay) parts.push(perCall(hpEngine, hpCalls('signalbox'), hpRelay, hpCalls('baseline')), '', 'The engine process:', '', summaryMarkdown(hpEngine))

  // The two scenarios furthest from their targets, engine only.
  const cr = `cron-engine-${stamp}.cpuprofile`
  await cron(quiet, { cpuProfile: cr, runs: 1 })
  const crEngine = await load(cr)
  parts.push('', '#### 1,000 cron triggers, one 10 s window (engine process)', '', `\`bench/profiles/${cr}\``, '', crEngine ? summaryMarkdown(crEngine) : '_no profile was written_')

  const qu = `queue-engine-${stamp}.cpuprofile`
  await queue(quiet, { cpuProfile: qu, runs: 1, stores: ['sqlite'], batches: [10] })
  const quEngine = await load(qu)
  parts.push('', '#### Queue, SQLite, batch 10 (engine process)', '', `\`bench/profiles/${qu}\``, '', quEngine ? summaryMarkdown(quEngine) : '_no profile was written_')

  const rg = `register-engine-${stamp}.cpuprofile`
  await register(quiet, { cpuProfile: rg, runs: 1, sizes: [5000], kinds: ['http'] })
  const rgEngine = await load(rg)
  parts.push('', '#### Registering 5,000 http triggers in one session, then closing that session (engine process)', '', `\`bench/profiles/${rg}\``, '', rgEngine ? summaryMarkdown(rgEngine) : '_no profile was written_')

  return { id: 'profile', title: 'Where the time goes (CPU profiles)', rows: [], details: parts.join('\n') }
}
