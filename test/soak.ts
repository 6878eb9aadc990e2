/**
 * `npm run soak`: every fault scenario (test/faults/scenarios/index.ts) in its long size,
 * one after the other, each in a process of its own with a time limit; then
 * soak-results.json (what each did, or why it failed) and RELIABILITY.md made from it, at
 * the root of the repository. Ends with one line: `N passed, M failed`; exits 1 if any
 * failed (RELIABILITY.md is then left as it was).
 *
 *   node dist/test/soak.js [--short] [--only name,name] [--out DIR]
 *
 * `--short` runs the sizes `npm test` runs (a quick check of the whole pipeline); `--out`
 * writes the two files elsewhere.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { renderReliability, type SoakResult, type SoakResults } from './faults/reliability.js'
import { SCENARIOS, type Size } from './faults/scenarios/index.js'

const here = fileURLToPath(import.meta.url)
const root = resolve(dirname(here), '..', '..')
/** A scenario still running after this long is killed and counted as failed. */
const SCENARIO_LIMIT_MS = 30 * 60_000

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    one: { type: 'string' },
    result: { type: 'string' },
  },
})
const size: Size = values.short ? 'short' : 'long'

if (values.one !== undefined) {
  // A child: run one scenario, write its outcome where the parent said, exit.
  const scenario = SCENARIOS.find((s) => s.name === values.one)
  if (!scenario) throw new Error(`no scenario '${values.one}'`)
  const outcome = await scenario.run(size)
  writeFileSync(values.result!, JSON.stringify(outcome))
  // Whatever a client library left open must not keep the process alive.
  process.exit(0)
}

function runOne(name: string, resultFile: string): Promise<{ ok: boolean; error?: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [here, '--one', name, '--result', resultFile, ...(values.short ? ['--short'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] })
    let tail = ''
    const keep = (d: Buffer) => {
      process.stdout.write(d)
      tail = (tail + d.toString('utf8')).slice(-4000)
    }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    const timer = setTimeout(() => {
      tail += `\nkilled after ${SCENARIO_LIMIT_MS / 60_000} min`
      child.kill('SIGKILL')
    }, SCENARIO_LIMIT_MS)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      done(code === 0 ? { ok: true } : { ok: false, error: `exit ${signal ?? code}: ${tail.trim().split('\n').slice(-12).join('\n')}` })
    })
  })
}

const only = values.only?.split(',').map((s) => s.trim())
for (const name of only ?? []) if (!SCENARIOS.some((s) => s.name === name)) throw new Error(`no scenario '${name}' (there are: ${SCENARIOS.map((s) => s.name).join(', ')})`)
const chosen = SCENARIOS.filter((s) => !only || only.includes(s.name))
const outDir = values.out ? resolve(values.out) : root
const scratch = mkdtempSync(join(tmpdir(), 'signalbox-soak-'))
let commit: string | undefined
try {
  commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim()
} catch {
  /* not a git checkout */
}
const started = Date.now()
const results: SoakResults = {
  size,
  started_at: new Date(started).toISOString(),
  seconds: 0,
  commit,
  node: process.versions.node,
  machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model.trim() ?? 'unknown', memory_bytes: totalmem(), load_at_start: loadavg() },
  results: [],
}
for (const scenario of chosen) {
  process.stdout.write(`\n== ${scenario.name} (${size}) ==\n`)
  const at = Date.now()
  const file = join(scratch, `${scenario.name}.json`)
  const run = await runOne(scenario.name, file)
  const result: SoakResult = { name: scenario.name, test: scenario.test, ok: run.ok, seconds: (Date.now() - at) / 1000 }
  if (run.ok) result.outcome = JSON.parse(readFileSync(file, 'utf8'))
  else result.error = run.error
  results.results.push(result)
  process.stdout.write(`== ${scenario.name}: ${run.ok ? 'passed' : 'FAILED'} in ${result.seconds.toFixed(0)} s ==\n`)
}
rmSync(scratch, { recursive: true, force: true })
results.seconds = (Date.now() - started) / 1000
const failed = results.results.filter((r) => !r.ok).length
writeFileSync(join(outDir, 'soak-results.json'), JSON.stringify(results, null, 2) + '\n')
if (failed === 0) writeFileSync(join(outDir, 'RELIABILITY.md'), renderReliability(results))
process.stdout.write(`\n${results.results.length - failed} passed, ${failed} failed\n`)
process.exitCode = failed === 0 ? 0 : 1
