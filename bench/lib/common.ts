/** What scenarios share: the run context, engine start-up, result shapes, formatting. */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Child } from './rpc.js'
import { SERVE_NODE_FLAGS } from '../../cli/node-flags.js'

/** The repository root (this file is dist/bench/lib/common.js once compiled). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
export const profileDir = join(repoRoot, 'bench', 'profiles')

export interface Ctx {
  /** Measured repetitions per figure (the median is reported). */
  runs: number
  /** Run the engine of the round-trip scenarios under --cpu-prof. */
  profile: boolean
  log(message: string): void
}

/** One line of the summary table. */
export interface Row {
  scenario: string
  figure: string
  value: string
  baseline?: string
  ratio?: string
  target: string
  /** true / false, or null when the row has no target of its own. */
  pass: boolean | null
}

export interface Section {
  id: string
  title: string
  rows: Row[]
  /** Markdown: how it was measured and every run's figures. */
  details: string
  seconds?: number
  /** 1-minute load average of the machine when the scenario started and ended. */
  load?: [number, number]
  /** Raw measurements, for scenarios that build on another's (profiling). */
  raw?: Record<string, any>
}

export interface EngineProc {
  child: Child
  url: string
  httpUrl: string
  pid: number
}

/** Node flags that write a CPU profile named `name` into bench/profiles/ when the process exits. */
export function cpuProfileArgs(name: string | undefined): string[] {
  if (!name) return []
  mkdirSync(profileDir, { recursive: true })
  return ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}`]
}

/**
 * Other builds of the engine to measure beside this one, from `SIGNALBOX_BENCH_ENGINES`
 * (`name=/path/to/checkout,…`, each a checkout whose dist/ is built): the round trip and the
 * HTTP trigger then measure `signalbox@name` in the same rounds, so that a before and an
 * after are compared in one run, on the same machine load.
 */
export function otherEngines(): Array<{ name: string; root: string }> {
  const spec = process.env.SIGNALBOX_BENCH_ENGINES ?? ''
  return spec
    .split(',')
    .filter((s) => s.includes('='))
    .map((s) => {
      const [name, root] = s.split('=')
      return { name: `signalbox@${name.trim()}`, root: root.trim() }
    })
}

/**
 * Starts the engine in its own process (bench/procs/engine-host), of this build or of the
 * checkout at `root`; `store` is `memory` (the default), `sqlite:<path>`, or `cluster:<nats url>`
 * for one engine of a cluster.
 */
export async function startEngine(name: string, options: { store?: string; cpuProfile?: string; root?: string; readyTimeoutMs?: number } = {}): Promise<EngineProc> {
  // As `signalbox serve` runs (cli/node-flags.ts).
  const execArgv = ['--expose-gc', ...SERVE_NODE_FLAGS, ...cpuProfileArgs(options.cpuProfile)]
  const script = options.root ? join(options.root, 'dist', 'bench', 'procs', 'engine-host.js') : 'engine-host'
  const child = new Child(name, script, [options.store ?? 'memory'], { execArgv, readyTimeoutMs: options.readyTimeoutMs })
  const info = (await child.ready) as { url: string; httpUrl: string; pid: number }
  return { child, url: info.url, httpUrl: info.httpUrl, pid: info.pid }
}

export async function startAgent(name: string): Promise<Child> {
  const child = new Child(name, 'agent')
  await child.ready
  return child
}

export const fmt = {
  int: (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a'),
  ms: (v: number) => (!Number.isFinite(v) ? 'n/a' : v < 1 ? `${v.toFixed(3)} ms` : v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(1)} ms`),
  s: (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)} s` : 'n/a'),
  x: (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : 'n/a'),
  mb: (bytes: number) => (Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : 'n/a'),
  kb: (bytes: number) => (Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(1)} KB` : 'n/a'),
}

/** A markdown table. */
export function table(head: string[], rows: Array<Array<string | number>>): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}

/**
 * Rounds of the two comparisons with the baseline relays (roundtrip, http) when `--runs`
 * does not say: more than the other scenarios' 5. Each figure's baseline is the best of
 * eight relay variants, each a median over rounds; with few rounds, the best of eight noisy
 * medians is lower than any one variant's usual figure by the noise alone, and every ratio
 * is judged against it.
 */
export const COMPARISON_RUNS = 9

export const timestamp = () => new Date().toISOString().replace(/[:.]/g, '-')
