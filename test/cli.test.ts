/**
 * `signalbox serve` as a process: the ready line, usage errors (exit 2), and shutting
 * down on SIGTERM / SIGINT while letting calls in flight finish within the grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connectWorker } from '../client/ws-client.js'
import { InvocationError, type WorkerClient } from '../client/worker.js'
import { limit, until } from './harness.js'

const cli = fileURLToPath(new URL('../cli.js', import.meta.url))

interface Run {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Parsed JSON lines from stderr (the engine's log). */
  log: Array<{ level: string; msg: string } & Record<string, unknown>>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
}

/** Every child started here, so `after` can make sure none outlives the tests. */
const children = new Set<ChildProcess>()

function run(args: string[]): Run {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let out = ''
  let err = ''
  const log: Run['log'] = []
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8')
  createInterface({ input: child.stderr! }).on('line', (line) => {
    err += line + '\n'
    try {
      log.push(JSON.parse(line))
    } catch {
      /* usage text */
    }
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('close', (code, signal) => (children.delete(child), resolve({ code, signal, at: Date.now() }))),
  )
  return { child, stdout: () => out, stderr: () => err, log, exited }
}

/** Starts `signalbox serve` on a free port; resolves once it printed its ready line. */
async function serve(extra: string[] = []): Promise<Run & { url: string; port: number }> {
  const r = run(['serve', '--host', '127.0.0.1', '--port', '0', '--http-port', '0', ...extra])
  const url: string = await Promise.race([
    until(() => /^signalbox ready (ws:\/\/\S+) http:\/\/\S+\n/.exec(r.stdout())?.[1], 10_000, 'the ready line') as Promise<string>,
    r.exited.then(({ code }) => {
      throw new Error(`serve exited (${code}) before it was ready: ${r.stderr()}`)
    }),
  ])
  return Object.assign(r, { url, port: Number(new URL(url).port) })
}

/** Resolves with the exit, or fails if the process is still running after `ms`. */
async function exitWithin(r: Run, ms: number) {
  return Promise.race([
    r.exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still running ${ms} ms later; stderr: ${r.stderr()}`)), ms).unref()),
  ])
}

const C = suite('cli')

C.after(async () => {
  for (const child of children) child.kill('SIGKILL')
})

C(
  'serve prints exactly one ready line with the real port, and accepts workers there',
  limit(async () => {
    let httpPort = 0
    const s = await serve(['--log-level', 'silent'])
    try {
      const m = /^signalbox ready ws:\/\/127\.0\.0\.1:(\d+) http:\/\/127\.0\.0\.1:(\d+)\n$/.exec(s.stdout())
      assert.ok(m, `ready line: ${JSON.stringify(s.stdout())}`)
      const port = Number(m![1])
      httpPort = Number(m![2])
      assert.ok(httpPort > 0 && httpPort !== port && httpPort !== 3111, `http port ${httpPort}`)
      assert.ok(port > 0 && port < 65536 && port !== 49134, `port ${port}`)
      assert.is(s.url, `ws://127.0.0.1:${port}`)
      const w = await connectWorker(s.url, { name: 'ready-check', reconnect: false })
      try {
        const { workers } = await w.invoke<{ workers: Array<{ name?: string }> }>('engine::workers::list', {})
        assert.ok(workers.some((x) => x.name === 'ready-check'))
      } finally {
        w.close()
      }
    } finally {
      s.child.kill('SIGTERM')
      assert.is((await exitWithin(s, 20_000)).code, 0)
    }
    assert.is(s.stdout(), `signalbox ready ws://127.0.0.1:${s.port} http://127.0.0.1:${httpPort}\n`, 'nothing else on stdout')
    assert.is(s.stderr(), '', '--log-level silent writes nothing')
  }, 60_000),
)

C(
  '--help prints usage and exits 0',
  limit(async () => {
    for (const args of [['--help'], ['-h'], ['serve', '--help']]) {
      const r = run(args)
      const { code } = await exitWithin(r, 20_000)
      assert.is(code, 0, args.join(' '))
      assert.match(r.stdout(), /^Usage: signalbox <command> \[options\]/, args.join(' '))
      assert.match(r.stdout(), /--grace-ms/)
      assert.is(r.stderr(), '', args.join(' '))
    }
  }, 60_000),
)

C(
  'nonsense on the command line: usage on stderr, exit 2, nothing started',
  limit(async () => {
    const cases: Array<[string[], RegExp]> = [
      [['serve', '--bogus'], /bogus/],
      [['serve', '--port', 'abc'], /--port must be a whole number from 0 to 65535, got 'abc'/],
      [['serve', '--port', '70000'], /--port must be a whole number from 0 to 65535, got '70000'/],
      [['serve', '--port', '-1'], /port/],
      [['serve', '--grace-ms', 'soon'], /--grace-ms/],
      [['serve', '--log-level', 'loud'], /--log-level must be one of/],
      [['serve', 'extra'], /extra/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [[], /missing command/],
    ]
    await Promise.all(
      cases.map(async ([args, why]) => {
        const r = run(args)
        const { code } = await exitWithin(r, 20_000)
        const what = `signalbox ${args.join(' ')}`
        assert.is(code, 2, `${what}: exit code; stderr: ${r.stderr()}`)
        assert.match(r.stderr(), /^signalbox: /, what)
        assert.match(r.stderr(), why, what)
        assert.match(r.stderr(), /Usage: signalbox <command> \[options\]/, what)
        assert.is(r.stdout(), '', `${what}: nothing on stdout`)
      }),
    )
  }, 60_000),
)

C(
  'SIGTERM with a call in flight: stops accepting, the call still gets its result, exit 0',
  limit(async () => {
    const s = await serve(['--grace-ms', '5000', '--log-level', 'info'])
    const workers: WorkerClient[] = []
    try {
      const server = await connectWorker(s.url, { name: 'slow-server', reconnect: false })
      workers.push(server)
      let started = 0
      let answeredAt = 0
      server.registerFunction('slow::work', async (data: { n: number }) => {
        started += 1
        await new Promise((r) => setTimeout(r, 300))
        answeredAt = Date.now()
        return { done: data.n }
      })
      const caller = await connectWorker(s.url, { name: 'caller', reconnect: false })
      workers.push(caller)
      await until(async () => (await caller.invoke<{ functions: Array<{ function_id: string }> }>('engine::functions::list', {})).functions.some((f) => f.function_id === 'slow::work'), 3000, 'slow::work registered')

      let resolvedAt = 0
      const call = caller.invoke('slow::work', { n: 7 }).then((v) => ((resolvedAt = Date.now()), v))
      await until(() => started === 1, 3000, 'the call to reach the serving worker')
      s.child.kill('SIGTERM')
      await until(() => s.log.some((l) => l.msg === 'stopping' && l.signal === 'SIGTERM'), 3000, "the engine's 'stopping' log line")

      // No new connections once stopping.
      let refused: unknown
      await connectWorker(s.url, { name: 'latecomer', reconnect: false }).then(
        (w) => (workers.push(w), undefined),
        (err) => (refused = err),
      )
      assert.ok(refused instanceof Error, 'a new worker is refused while the engine stops')

      assert.equal(await call, { done: 7 })
      const { code, signal, at } = await exitWithin(s, 20_000)
      assert.is(signal, null)
      assert.is(code, 0)
      assert.ok(answeredAt > 0 && resolvedAt >= answeredAt && at >= resolvedAt, 'the process exits after the call was answered')
      assert.equal(s.log.filter((l) => l.level === 'error'), [])
    } finally {
      for (const w of workers) w.close()
      s.child.kill('SIGKILL')
    }
  }, 60_000),
)

C(
  'SIGTERM with a call that never ends: exit 0 once --grace-ms 200 has passed; the caller is not left hanging',
  limit(async () => {
    const s = await serve(['--grace-ms', '200', '--log-level', 'info'])
    const workers: WorkerClient[] = []
    try {
      const server = await connectWorker(s.url, { name: 'stuck-server', reconnect: false })
      workers.push(server)
      let started = 0
      server.registerFunction('stuck::forever', () => {
        started += 1
        return new Promise(() => {})
      })
      const caller = await connectWorker(s.url, { name: 'caller', reconnect: false })
      workers.push(caller)
      await until(async () => (await caller.invoke<{ functions: Array<{ function_id: string }> }>('engine::functions::list', {})).functions.some((f) => f.function_id === 'stuck::forever'), 3000, 'stuck::forever registered')

      let outcome: unknown
      const call = caller.invoke('stuck::forever', {}, { timeout_ms: 60_000 }).then(
        (v) => (outcome = { resolved: v }),
        (err) => (outcome = err),
      )
      await until(() => started === 1, 3000, 'the call to reach the serving worker')
      const signalledAt = Date.now()
      s.child.kill('SIGTERM')
      const { code, signal, at } = await exitWithin(s, 20_000)
      assert.is(signal, null)
      assert.is(code, 0)
      assert.ok(at - signalledAt >= 150, `waited for the grace period (exited after ${at - signalledAt} ms)`)
      assert.ok(at - signalledAt < 3000, `exited within a few seconds (${at - signalledAt} ms)`)
      await until(() => outcome !== undefined, 3000, 'the caller to hear the call ended')
      await call
      // The engine answers it before it closes the connection.
      assert.instance(outcome, InvocationError, `the call rejects: ${String(outcome)}`)
      assert.is((outcome as InvocationError).code, 'worker_disconnected')
      assert.match((outcome as InvocationError).message, 'The engine stopped before')
    } finally {
      for (const w of workers) w.close()
      s.child.kill('SIGKILL')
    }
  }, 60_000),
)

C(
  'SIGINT exits 0',
  limit(async () => {
    const s = await serve(['--log-level', 'info'])
    s.child.kill('SIGINT')
    const { code, signal } = await exitWithin(s, 20_000)
    assert.is(signal, null)
    assert.is(code, 0)
    assert.ok(s.log.some((l) => l.msg === 'stopping' && l.signal === 'SIGINT'), s.stderr())
  }, 60_000),
)

C(
  'SIGTERM with workers connected but idle exits 0 at once',
  limit(async () => {
    const s = await serve(['--grace-ms', '5000', '--log-level', 'silent'])
    const w = await connectWorker(s.url, { name: 'idle', reconnect: false })
    try {
      w.registerFunction('idle::fn', () => 1)
      const signalledAt = Date.now()
      s.child.kill('SIGTERM')
      const { code, at } = await exitWithin(s, 20_000)
      assert.is(code, 0)
      assert.ok(at - signalledAt < 2000, `no waiting for the grace period without calls in flight (${at - signalledAt} ms)`)
    } finally {
      w.close()
    }
  }, 60_000),
)

C.run()
