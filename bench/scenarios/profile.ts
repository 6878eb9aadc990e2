/**
 * Where the time goes: short passes of the round-trip and HTTP scenarios with the engine
 * AND every baseline relay mode profiled during their own measurement, compared per call
 * with the relay mode that spent least; then cron, the SQLite queue and bulk registration
 * with the engine under `node --cpu-prof`. Profiles go to bench/profiles/ and are
 * summarised here. The figures of these passes are not used anywhere else: the profiler
 * slows the processes down.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { profileDir, table, timestamp, type Ctx, type Section } from '../lib/common.js'
import { summarise, summaryMarkdown, type ProfileSummary } from '../lib/profile-summary.js'
import { roundtrip } from './roundtrip.js'
import { httpTrigger, RELAYS } from './http-trigger.js'
import { cron } from './cron.js'
import { queue } from './queue.js'
import { register } from './register.js'

async function load(name: string): Promise<ProfileSummary | undefined> {
  const file = join(profileDir, name)
  for (let i = 0; i < 50 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100))
  return existsSync(file) ? summarise(file) : undefined
}

/** CPU µs per call by origin, engine beside baseline. */
function perCall(engine: ProfileSummary, engineCalls: number, base: ProfileSummary, baseCalls: number, baseName = 'baseline'): string {
  const us = (s: ProfileSummary, calls: number, share: number) => (share * s.busyMs * 1000) / calls
  const origins = [...new Set([...engine.self.slice(0, 10).map(([k]) => k), ...base.self.slice(0, 6).map(([k]) => k)])]
  const get = (s: ProfileSummary, k: string) => s.self.find(([o]) => o === k)?.[1] ?? 0
  const rows = origins.map((k) => [k, us(base, baseCalls, get(base, k)).toFixed(1), us(engine, engineCalls, get(engine, k)).toFixed(1)])
  rows.push(['**all busy time**', `**${us(base, baseCalls, 1).toFixed(1)}**`, `**${us(engine, engineCalls, 1).toFixed(1)}**`])
  return table(['origin (self time)', `${baseName} µs/call`, 'signalbox µs/call'], rows)
}

/**
 * The engine's profile beside the relay mode that spent the least busy time per call, from
 * a one-round pass whose every measurement was profiled (its window only).
 */
async function compareProfiles(section: Section, key: string, file: (target: string) => string, title: string): Promise<string[]> {
  const results = section.raw?.results as Record<string, Array<{ total: number }>>
  const calls = (target: string) => results[`${target}:${key}`][0].total
  const targets = Object.keys(results).filter((k) => k.endsWith(`:${key}`)).map((k) => k.slice(0, -(key.length + 1)))
  const summaries = new Map<string, ProfileSummary>()
  for (const t of targets) {
    const s = await load(file(t))
    if (s) summaries.set(t, s)
  }
  const engine = summaries.get('signalbox')
  const relays = [...summaries.keys()].filter((t) => t !== 'signalbox').sort((a, b) => summaries.get(a)!.busyMs / calls(a) - summaries.get(b)!.busyMs / calls(b))
  const out = ['', `#### ${title}`, '', targets.map((t) => `\`bench/profiles/${file(t)}\``).join(', '), '']
  if (!engine || relays.length === 0) return [...out, '_no profile was written_']
  const best = relays[0]
  out.push(`Busy CPU per call in the profiled windows: ${[...summaries.keys()].map((t) => `${t} ${((summaries.get(t)!.busyMs * 1000) / calls(t)).toFixed(1)} µs`).join(', ')}. Beside the engine, the relay mode that spent least (${best}):`, '')
  out.push(perCall(engine, calls('signalbox'), summaries.get(best)!, calls(best), best), '', 'The engine process:', '', summaryMarkdown(engine, 25), '', `The relay (${best}):`, '', summaryMarkdown(summaries.get(best)!, 15))
  return out
}

export async function profile(ctx: Ctx): Promise<Section> {
  const stamp = timestamp()
  const quiet: Ctx = { ...ctx, profile: false, log: (m) => ctx.log(`  (profiled) ${m.trim()}`) }
  const parts: string[] = [
    'Each pass reruns a scenario briefly with V8\'s sampling profiler on (files in bench/profiles/, gitignored; `node dist/bench/profile-summary.js <file>` prints a summary). For the round trip and the HTTP trigger, every process is profiled during its own measurement only (started and stopped through the inspector, bench/lib/profiler.ts), so start-up, warm-up and the other targets\' turns are left out. "Self time" is time in that origin\'s own code (`native X` is native code called from JavaScript: `writev` is the socket write system call, which on loopback also carries the kernel\'s TCP work, including the receiving side\'s); "on the stack" is the share of samples where any function of that origin was on the stack, so it includes what it called. µs/call divides each process\'s busy CPU time in its window by the calls it carried (warm-up included). These passes\' own throughput figures are not used anywhere: the profiler slows the processes down.',
  ]

  // Round trip, 64 and 1 in flight: the engine and every relay mode profiled, one pass each.
  for (const inflight of [64, 1]) {
    const section = await roundtrip(quiet, { profileStamp: stamp, inflights: [inflight], runs: 1, durationMs: 3000 })
    parts.push(...(await compareProfiles(section, String(inflight), (t) => `roundtrip${inflight}-${t.replaceAll(':', '-')}-r1-${stamp}.cpuprofile`, `Invocation round trip, ${inflight} in flight`)))
  }

  // HTTP trigger, 100 and 1 connections: the engine and every relay mode profiled.
  for (const conns of [100, 1]) {
    const section = await httpTrigger(quiet, { profileStamp: stamp, connections: [conns], runs: 1, durationS: 4, targets: [...RELAYS, 'signalbox'] })
    parts.push(...(await compareProfiles(section, String(conns), (t) => `http${conns}-${t.replaceAll(':', '-')}-r1-${stamp}.cpuprofile`, `HTTP trigger, ${conns} connection${conns === 1 ? '' : 's'}`)))
  }

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
