/**
 * Running the programs of examples/ the way the README says, against a real engine
 * process, and checking what they print. Shared by test/examples.test.ts (the examples of
 * this checkout) and test/install.test.ts (the examples of the package installed from its
 * tarball).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import * as assert from 'uvu/assert'
import { until } from './harness.js'

/** A program running, with what it printed so far. */
export interface Running {
  child: ChildProcess
  out: string[]
  err: string[]
  exited: Promise<number | null>
  /** Resolves with the first line of stdout matching `pattern`; fails after `ms`. */
  line(pattern: RegExp, ms?: number): Promise<string>
  /** Sends `signal` (default SIGINT, as Ctrl-C does) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Every process started here, so that a failing test leaves none behind. */
export const started = new Set<ChildProcess>()

/** Kills whatever is still running. */
export function killAll(): void {
  for (const child of started) child.kill('SIGKILL')
}

/** Starts `node <args>` in `cwd` with `env` added to a clean environment. */
export function start(args: string[], options: { cwd: string; env?: Record<string, string>; node?: string }): Running {
  // Without the machine's own SIGNALBOX_ variables: a test says what it means.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIGNALBOX_')))
  const child = spawn(options.node ?? process.execPath, args, { cwd: options.cwd, env: { ...base, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  started.add(child)
  const out: string[] = []
  const err: string[] = []
  createInterface({ input: child.stdout! }).on('line', (l) => out.push(l))
  createInterface({ input: child.stderr! }).on('line', (l) => err.push(l))
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => (started.delete(child), resolve(code))))
  const what = args.join(' ')
  const errLines = () => err.join('\n')
  return {
    child,
    out,
    err,
    exited,
    line: async (pattern, ms = 15_000) => {
      try {
        return (await until(() => out.find((l) => pattern.test(l)), ms, `${what} to print ${pattern}`)) as string
      } catch (err) {
        throw new Error(`${(err as Error).message}\nstdout:\n${out.join('\n')}\nstderr:\n${errLines()}`)
      }
    },
    stop: async (signal = 'SIGINT') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}

/** `signalbox serve` on free ports, queues in memory; resolves once it is ready. */
export async function startEngine(cli: string, cwd: string, extra: string[] = []): Promise<Running & { url: string; httpUrl: string }> {
  const engine = start([cli, 'serve', '--port', '0', '--http-port', '0', '--store', 'memory', '--log-level', 'warn', ...extra], { cwd })
  const ready = await engine.line(/^signalbox ready /)
  const [, url, httpUrl] = /^signalbox ready (\S+) (\S+)$/.exec(ready)!
  return Object.assign(engine, { url, httpUrl })
}

/** The programs of examples/ that `checkExamples` runs and checks. */
export const EXAMPLE_FILES = ['embedded.mjs', 'worker.mjs', 'jobs.mjs', 'ticker-consumer.mjs', 'ticker-provider.mjs', 'iii-sdk-worker.mjs'] as const

/**
 * Runs every example of `dir` against the engine at `url` / `httpUrl` and checks its
 * output, one after the other (each is stopped as a person would, with Ctrl-C, and must
 * exit 0). `cwd` is where they run (where `signalbox` resolves from).
 */
export async function checkExamples(dir: string, cwd: string, engine: { url: string; httpUrl: string }): Promise<void> {
  const env = { SIGNALBOX_URL: engine.url, SIGNALBOX_HTTP_URL: engine.httpUrl }
  const example = (file: (typeof EXAMPLE_FILES)[number]) => start([join(dir, file)], { cwd, env })

  // The embedded engine runs, calls its own route, and exits by itself.
  const embedded = example('embedded.mjs')
  assert.is(await embedded.exited, 0, embedded.err.join('\n'))
  assert.match(embedded.out[0], /^HTTP triggers on http:\/\/127\.0\.0\.1:\d+$/)
  assert.equal(embedded.out.slice(1), [
    'registered: {"type":"triggerregistrationresult","id":"create-invoice","trigger_type":"http","function_id":"invoices::create"}',
    'POST /invoices → 201 {"id":"inv-1","total":42}',
  ])

  const worker = example('worker.mjs')
  await worker.line(/^http: GET \/hello\/Ada → 200 \{"greeting":"Hello, Ada!"\}$/)
  await worker.line(/^queue: order 1: tea$/)
  await worker.line(/^queue: order 2: cake$/)
  await worker.line(/^cron: tick 1, scheduled for \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/)
  const hello = await fetch(`${engine.httpUrl}/hello/you`)
  assert.equal(await hello.json(), { greeting: 'Hello, you!' }, 'the route the README tells you to curl')
  assert.is(await worker.stop(), 0, worker.err.join('\n'))

  const jobs = example('jobs.mjs')
  await jobs.line(/^job 1: done$/)
  await jobs.line(/^job 3: failed \(no image\), receive 1$/)
  await jobs.line(/^job 3: failed \(no image\), receive 2$/)
  await jobs.line(/^dead letter: job 3 after 2 receives \(message_failed\); repairing it and sending it back$/)
  await jobs.line(/^job 3: done$/)
  assert.ok(jobs.out.includes('job 2: done'), jobs.out.join('\n'))
  assert.is(await jobs.stop(), 0, jobs.err.join('\n'))

  // The consumer without its provider says what to do.
  const early = example('ticker-consumer.mjs')
  assert.is(await early.exited, 1)
  assert.equal(early.out, ['consumer: nobody provides the trigger type ticker yet: start examples/ticker-provider.mjs first'])
  const provider = example('ticker-provider.mjs')
  await provider.line(/^provider: offering the trigger type ticker; Ctrl-C stops$/)
  const consumer = example('ticker-consumer.mjs')
  await consumer.line(/^consumer: refused: 'every_ms' must be a whole number of at least 100, got 1$/)
  await consumer.line(/^consumer: registered: \{"type":"triggerregistrationresult","id":"every-second","trigger_type":"ticker","function_id":"clock::tick"\}$/)
  await consumer.line(/^consumer: tick 2 at /)
  assert.ok(
    consumer.err.some((l) => l === "signalbox worker 'ticker-consumer': trigger 'too-fast' (ticker → clock::tick) was refused: invalid_config: 'every_ms' must be a whole number of at least 100, got 1"),
    `the refusal is logged too: ${consumer.err.join('\n')}`,
  )
  await provider.line(/^provider: ticking clock::tick every 1000 ms$/)
  assert.is(await consumer.stop(), 0, consumer.err.join('\n'))
  await provider.line(/^provider: stopped ticking clock::tick$/)
  assert.is(await provider.stop(), 0, provider.err.join('\n'))

  const iii = example('iii-sdk-worker.mjs')
  await iii.line(/^http: GET \/iii\/hello\?name=Ada → 200 \{"hello":"Ada","from":"iii-sdk"\}$/)
  await iii.line(/^workers: .*\biii-example\b/)
  await iii.line(/^running; Ctrl-C stops$/)
  assert.is(await iii.stop(), 0, iii.err.join('\n'))
}
