/**
 * `npm run bench [-- scenario… ] [--runs N] [--profile] [--no-write]`
 *
 * Runs the benchmark scenarios side by side with the hand-written baselines and
 * writes BENCHMARKS.md (only when every scenario ran, unless --write). Each scenario can run
 * alone: `node dist/bench/run.js roundtrip`. --profile profiles the engine and the relays of
 * the two round-trip scenarios (roundtrip, http), each measurement's window into its own
 * file in bench/profiles/ (the figures of a profiled run are slower). With
 * SIGNALBOX_BENCH_ENGINES=name=/path/to/checkout (built), those two scenarios also measure
 * that build of the engine in the same rounds, for a before/after. Every process it
 * starts is its child and ends with it; every loop is bounded in count and time.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { Child } from './lib/rpc.js'
import { COMPARISON_RUNS, repoRoot, type Ctx, type Section } from './lib/common.js'
import { machineInfo } from './lib/machine.js'
import { report } from './lib/report.js'
import { roundtrip } from './scenarios/roundtrip.js'
import { httpTrigger } from './scenarios/http-trigger.js'
import { routes } from './scenarios/routes.js'
import { register } from './scenarios/register.js'
import { idle } from './scenarios/idle.js'
import { queue } from './scenarios/queue.js'
import { cron } from './scenarios/cron.js'
import { profile } from './scenarios/profile.js'
import { micro } from './scenarios/micro.js'
import { startup } from './scenarios/startup.js'
import { cluster } from './scenarios/cluster.js'

const scenarios: Record<string, (ctx: Ctx) => Promise<Section>> = {
  roundtrip: (ctx) => roundtrip(ctx, { runs: comparisonRuns }),
  http: (ctx) => httpTrigger(ctx, { runs: comparisonRuns }),
  routes,
  register,
  idle,
  queue,
  cron,
  profile,
  micro,
  startup,
  cluster,
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string' },
    profile: { type: 'boolean', default: false },
    write: { type: 'boolean' },
    // Node 20's parseArgs has no negated options.
    'no-write': { type: 'boolean' },
    report: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
})
if (values.help) {
  process.stdout.write(`usage: node dist/bench/run.js [${Object.keys(scenarios).join('|')} …] [--runs N] [--profile] [--write|--no-write] | --report\n`)
  process.exit(0)
}
// --report: rewrite BENCHMARKS.md from the last complete run's saved figures and bench/NOTES.md, measuring nothing.
const saved = join(repoRoot, 'bench', 'profiles', 'last-run.json')
if (values.report) {
  if (!existsSync(saved)) {
    process.stderr.write(`no saved run at ${saved}: run the benchmarks first\n`)
    process.exit(1)
  }
  const last = JSON.parse(readFileSync(saved, 'utf8'))
  if (!last.complete) process.stderr.write('note: the saved run did not include every scenario\n')
  writeFileSync(join(repoRoot, 'BENCHMARKS.md'), report({ ...last, notes: notes() }))
  process.stderr.write(`wrote BENCHMARKS.md from ${saved}\n`)
  process.exit(0)
}
const chosen = positionals.length ? positionals : Object.keys(scenarios)
for (const name of chosen) {
  if (!scenarios[name]) {
    process.stderr.write(`unknown scenario '${name}'; known: ${Object.keys(scenarios).join(', ')}\n`)
    process.exit(2)
  }
}
const runs = Number(values.runs ?? 5)
if (!Number.isInteger(runs) || runs < 1 || runs > 20) {
  process.stderr.write('--runs must be a whole number from 1 to 20\n')
  process.exit(2)
}
const comparisonRuns = values.runs === undefined ? COMPARISON_RUNS : runs
const all = chosen.length === Object.keys(scenarios).length
const write = values['no-write'] ? false : (values.write ?? (all && !values.profile))

const started = Date.now()
const ctx: Ctx = {
  runs,
  profile: values.profile,
  log: (m) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${m}\n`),
}

// Everything ends with this process: children exit on disconnect, and are killed here too.
const bail = (signal: string) => {
  ctx.log(`${signal}: stopping children`)
  Child.killAllNow()
  process.exit(130)
}
process.on('SIGINT', () => bail('SIGINT'))
process.on('SIGTERM', () => bail('SIGTERM'))
process.on('exit', () => Child.killAllNow())
// A hard ceiling for the whole run (a full run takes about 28 minutes).
setTimeout(() => {
  ctx.log('the run exceeded 45 minutes: stopping')
  Child.killAllNow()
  process.exit(1)
}, 45 * 60_000).unref()

const sections: Section[] = []
let failed = 0
for (const name of chosen) {
  const t0 = Date.now()
  const loadBefore = loadavg()[0]
  ctx.log(`${name}… (1-min load average ${loadBefore.toFixed(2)})`)
  try {
    const section = await scenarios[name](ctx)
    section.seconds = (Date.now() - t0) / 1000
    section.load = [loadBefore, loadavg()[0]]
    sections.push(section)
    for (const row of section.rows) {
      const mark = row.pass === null ? '  ' : row.pass ? 'ok' : 'NO'
      ctx.log(`  ${mark} ${row.scenario} | ${row.figure}: ${row.value}${row.baseline ? ` vs ${row.baseline}` : ''}${row.ratio ? ` (${row.ratio})` : ''} target ${row.target}`)
    }
  } catch (err) {
    failed++
    ctx.log(`${name} failed: ${err instanceof Error ? err.stack : String(err)}`)
  } finally {
    await Child.stopAll()
  }
  ctx.log(`${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
}

const run = { machine: machineInfo(), sections, runs, totalSeconds: (Date.now() - started) / 1000, argv: process.argv.slice(2), date: new Date().toISOString(), complete: all && failed === 0 }
const markdown = report({ ...run, notes: notes() })
mkdirSync(join(repoRoot, 'bench', 'profiles'), { recursive: true })
writeFileSync(saved.replace(/last-run\.json$/, `run-${run.date.replace(/[:.]/g, '-')}.json`), JSON.stringify(run, (k, v) => (k === 'raw' ? undefined : v), 1))
if (run.complete && !values.profile) writeFileSync(saved, JSON.stringify(run, (k, v) => (k === 'raw' ? undefined : v), 1))
if (write && failed === 0) {
  writeFileSync(join(repoRoot, 'BENCHMARKS.md'), markdown)
  ctx.log(`wrote BENCHMARKS.md (${((Date.now() - started) / 1000).toFixed(0)} s in all)`)
} else {
  const out = join(repoRoot, 'bench', 'profiles', `last-run.md`)
  writeFileSync(out, markdown)
  ctx.log(`${failed ? `${failed} scenario(s) failed; ` : ''}BENCHMARKS.md left as it was; this run's report: ${out}`)
}
process.exit(failed ? 1 : 0)

/** bench/NOTES.md, hand-written analysis carried into BENCHMARKS.md. */
function notes(): string {
  const path = join(repoRoot, 'bench', 'NOTES.md')
  return existsSync(path) ? readFileSync(path, 'utf8') : ''
}
