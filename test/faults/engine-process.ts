/**
 * `signalbox serve` as the fault tests run it: the real program in a child process on free
 * ports, started from its built CLI, read through what it serves (`/healthz`, `/metrics`,
 * its engine functions), its memory read from /proc and, when asked, its heap through the
 * Node inspector (inspector-probe.ts); stopped with real signals.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { until } from '../harness.js'
import { connectInspector, debuggerUrl, type HeapSplit, type InspectorProbe } from './inspector-probe.js'

const cli = fileURLToPath(new URL('../../cli.js', import.meta.url))

/** The environment without SIGNALBOX_ variables of the machine running the tests. */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIGNALBOX_')))

export interface ServeOptions {
  /** Extra `serve` flags (`--grace-ms 500`, …). Ports are always free ones; the log level defaults to `error`. */
  flags?: string[]
  /** The SQLite store in this folder (kept across restarts when given); default: a fresh temporary folder. */
  dataDir?: string
  /** `--store memory` instead of SQLite. */
  memoryStore?: boolean
  /** Run under `--inspect=127.0.0.1:0`, so that `inspector` can force collections, read the heap, look at globals. */
  inspect?: boolean
  /** Keep every JSON log line (for assertions on the log). */
  keepLog?: boolean
}

export interface EngineProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** `ws://…` of the worker endpoint. */
  readonly url: string
  /** `http://…` of the HTTP listener for http triggers. */
  readonly httpUrl: string
  /** `http://…` of the worker port, where /healthz and /metrics are. */
  readonly controlUrl: string
  readonly dataDir: string
  /** Log records (JSON lines on stderr), when `keepLog`. */
  readonly log: Array<{ level: string; msg: string } & Record<string, unknown>>
  /** What stderr held that was not a JSON log line (crash traces land here). */
  readonly stderr: () => string
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
  readonly alive: () => boolean
  health(): Promise<{ status: number; body: Record<string, any> }>
  metrics(): Promise<string>
  /** RSS and peak RSS (VmHWM) of the engine process, in bytes. */
  memory(): { rss: number; peakRss: number }
  /** The process seen through Node's inspector (with `inspect: true`). */
  readonly inspector: InspectorProbe | undefined
  /** V8 heap in use after full collections (needs `inspect: true`). */
  heap(): Promise<number>
  /** The heap after full collections, all of it and the program's own objects (needs `inspect: true`). */
  heapSplit(): Promise<HeapSplit>
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
}

const running = new Set<EngineProcess>()
const folders = new Set<string>()

/** A folder for a SQLite store that outlives one engine (for restarts); removed by `cleanUpEngines`. */
export function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'signalbox-faults-'))
  folders.add(dir)
  return dir
}

/** A value of a Prometheus series in `/metrics` text, summed over the series that match `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) sum += Number(m[3])
  }
  return sum
}

export function procMemory(pid: number): { rss: number; peakRss: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024
  return { rss: kb('VmRSS'), peakRss: kb('VmHWM') }
}

/** Starts `signalbox serve` on free ports; resolves once it printed its ready line. */
export async function startServe(options: ServeOptions = {}): Promise<EngineProcess> {
  const dataDir = options.dataDir ?? tempDataDir()
  const store = options.memoryStore ? ['--store', 'memory'] : ['--store', 'sqlite', '--data-dir', dataDir]
  const flags = options.flags ?? []
  const level = flags.includes('--log-level') ? [] : ['--log-level', 'error']
  const execArgv = options.inspect ? ['--inspect=127.0.0.1:0'] : []
  const child = spawn(process.execPath, [...execArgv, cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--http-port', '0', ...store, ...level, ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv,
  })
  let out = ''
  let other = ''
  const log: EngineProcess['log'] = []
  let probe: InspectorProbe | undefined
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (line.startsWith('{')) {
      if (!options.keepLog) return
      try {
        return void log.push(JSON.parse(line))
      } catch {
        /* not a record */
      }
    }
    // Keep the tail only: a crash trace is what matters here.
    other = (other + line + '\n').slice(-20_000)
    // Crashed under --inspect, Node waits for the debugger to go away before it exits: let it exit.
    if (line.startsWith('Waiting for the debugger to disconnect')) probe?.close()
  })
  let done = false
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('close', (code, signal) => ((done = true), resolve({ code, signal, at: Date.now() }))),
  )
  const ready: RegExpExecArray = await Promise.race([
    until(() => /^signalbox ready (ws:\/\/\S+) (http:\/\/\S+)\n/.exec(out) ?? undefined, 20_000, 'the ready line of signalbox serve') as Promise<RegExpExecArray>,
    exited.then(({ code, signal }) => {
      throw new Error(`signalbox serve exited (${signal ?? code}) before it was ready: ${other}`)
    }),
  ])
  if (options.inspect) probe = await connectInspector((await until(() => debuggerUrl(other), 5000, 'the debugger URL'))!)
  const controlUrl = ready[1].replace(/^ws:/, 'http:')
  const engine: EngineProcess = {
    child,
    pid: child.pid!,
    url: ready[1],
    httpUrl: ready[2],
    controlUrl,
    dataDir,
    log,
    stderr: () => other,
    exited,
    alive: () => !done,
    // Never waits long for an engine that stopped answering: the test fails saying so instead of hanging.
    async health() {
      const res = await fetch(`${controlUrl}/healthz`, { signal: AbortSignal.timeout(10_000) })
      return { status: res.status, body: await res.json() }
    },
    metrics: async () => (await fetch(`${controlUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text(),
    memory: () => procMemory(child.pid!),
    inspector: probe,
    heap: () => {
      if (!probe) throw new Error('started without inspect: true')
      return probe.usedHeapAfterGc()
    },
    heapSplit: () => {
      if (!probe) throw new Error('started without inspect: true')
      return probe.heapSplit()
    },
    kill: (signal) => {
      probe?.close()
      if (!done) child.kill(signal)
      return exited
    },
  }
  running.add(engine)
  void exited.then(() => (probe?.close(), running.delete(engine)))
  return engine
}

/** SIGKILLs every engine still running and removes the temporary folders. */
export async function cleanUpEngines(): Promise<void> {
  await Promise.all([...running].map((e) => e.kill('SIGKILL')))
  for (const dir of folders) rmSync(dir, { recursive: true, force: true })
  folders.clear()
}
