/**
 * Interoperability with the published iii-sdk worker SDK, against a real
 * `signalbox serve` process: two iii-sdk workers in this process, one providing a
 * trigger type (telemetry left on, so the SDK's `/otel` connection is exercised), the
 * other binding a trigger to it, calls both ways, errors, engine functions, and the
 * provider hearing about the trigger when its owner goes away.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { InvocationError, registerWorker } from 'iii-sdk'
import WebSocket from 'ws'
import { limit, until } from './harness.js'

type Client = ReturnType<typeof registerWorker>
type Seen = { id: string; function_id: string; config: any; metadata?: unknown }
type LogLine = { level: string; msg: string } & Record<string, unknown>

const cli = fileURLToPath(new URL('../cli.js', import.meta.url))

/** Everything the SDK prints goes here instead of the terminal (it is chatty). */
const consoleLines: Array<{ level: string; text: string }> = []
const originalConsole = { debug: console.debug, log: console.log, info: console.info, warn: console.warn, error: console.error }
const stubConsole = () => {
  for (const level of Object.keys(originalConsole) as Array<keyof typeof originalConsole>) {
    console[level] = (...args: unknown[]) => void consoleLines.push({ level, text: args.map((a) => (a instanceof Error ? a.stack ?? a.message : typeof a === 'string' ? a : JSON.stringify(a))).join(' ') })
  }
}
const restoreConsole = () => Object.assign(console, originalConsole)

/** The engine child process and what it wrote to stderr (JSON log lines). */
let engine: ChildProcess | undefined
let engineExited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined
let url = ''
const engineLog: LogLine[] = []
const engineStderrOther: string[] = []

let a: Client | undefined
let b: Client | undefined
const registered: Seen[] = []
const unregistered: Seen[] = []
const ticksSeenByB: unknown[] = []

const T = suite('iii-sdk')

T.before(async () => {
  stubConsole()
  const child = spawn(process.execPath, [cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--http-port', '0', '--grace-ms', '500', '--log-level', 'debug'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  engine = child
  engineExited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  createInterface({ input: child.stderr! }).on('line', (line) => {
    try {
      engineLog.push(JSON.parse(line))
    } catch {
      engineStderrOther.push(line)
    }
  })
  url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('engine did not print its ready line within 10 s')), 10_000)
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`engine exited early (${code}): ${engineStderrOther.join('\n')}`))))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^signalbox ready (ws:\/\/127\.0\.0\.1:\d+) http:\/\/127\.0\.0\.1:\d+$/.exec(line)
      if (m) (clearTimeout(timer), resolve(m[1]))
    })
  })
})

T.after(async () => {
  try {
    await Promise.allSettled([a?.shutdown(), b?.shutdown()])
    if (engine && engine.exitCode === null && engine.signalCode === null) {
      engine.kill('SIGTERM')
      const timer = setTimeout(() => engine?.kill('SIGKILL'), 5000)
      await engineExited
      clearTimeout(timer)
    }
  } finally {
    restoreConsole()
  }
})

/** An iii-sdk call that must fail: returns the error it failed with. */
async function rejection(p: Promise<unknown>): Promise<InvocationError> {
  try {
    const value = await p
    throw new Error(`expected a rejection, got ${JSON.stringify(value)}`)
  } catch (err) {
    if (!(err instanceof InvocationError)) throw err
    return err
  }
}

const listWorkers = async (via: Client) =>
  ((await via.trigger({ function_id: 'engine::workers::list', payload: {}, timeoutMs: 3000 })) as { workers: Array<Record<string, any>> }).workers

T(
  'worker A (telemetry on) registers functions and a trigger type; /otel is accepted without engine errors',
  limit(async () => {
    a = registerWorker(url, { workerName: 'sdk-provider-a' })
    a.registerFunction('a::echo', async (data: unknown) => ({ from: 'a', got: data }))
    a.registerFunction('a::fail', async () => {
      throw new Error('a refuses on purpose')
    })
    a.registerTriggerType<{ every: string }>(
      { id: 'a::ticker', description: 'ticks when worker A says so' },
      {
        async registerTrigger(t) {
          registered.push({ id: t.id, function_id: t.function_id, config: t.config, metadata: t.metadata })
        },
        async unregisterTrigger(t) {
          unregistered.push({ id: t.id, function_id: t.function_id, config: t.config, metadata: t.metadata })
        },
      },
    )

    // The engine knows A by name, with its functions and trigger type.
    const me = await until(async () => (await listWorkers(a!)).find((w) => w.name === 'sdk-provider-a' && w.trigger_types.includes('a::ticker')), 5000, 'worker A in engine::workers::list')
    assert.is(me!.runtime, 'node')
    assert.ok(me!.functions.includes('a::echo') && me!.functions.includes('a::fail'), JSON.stringify(me))

    // The telemetry socket connected to <url>/otel and stayed up.
    await until(() => consoleLines.some((l) => l.text.includes(`[OTel] Connected to engine at ${url}/otel`)), 5000, 'the /otel connection')
    // Let an invocation's span be exported over /otel (spans flush every 100 ms).
    assert.equal(await a.trigger({ function_id: 'a::echo', payload: { self: true }, timeoutMs: 3000 }), { from: 'a', got: { self: true } })
    await new Promise((r) => setTimeout(r, 300))
    const otelTrouble = consoleLines.filter((l) => /\[OTel\].*(error|Disconnected|Reconnecting|queue full)/i.test(l.text))
    assert.equal(otelTrouble, [], 'the SDK reports no telemetry trouble')
    assert.equal(engineLog.filter((l) => l.level === 'error'), [], 'no error-level engine log lines')
    assert.equal(engineLog.filter((l) => l.msg === 'error frame' || l.msg === 'connection error'), [], 'no error frames or connection errors')
    assert.equal(engineStderrOther, [], 'nothing but JSON log lines on the engine stderr')
  }),
)

T(
  "worker B binds a trigger to A's type; A's registerTrigger handler receives B's function and config",
  limit(async () => {
    b = registerWorker(url, { workerName: 'sdk-consumer-b', otel: { enabled: false }, enableMetricsReporting: false })
    b.registerFunction('b::on_tick', async (data: unknown) => {
      ticksSeenByB.push(data)
      return { ticked: true }
    })
    b.registerFunction('b::double', async (data: any) => ({ n: data.n * 2 }))
    b.registerFunction('b::fail', async () => {
      throw new Error('b refuses on purpose')
    })
    b.registerTrigger({ type: 'a::ticker', function_id: 'b::on_tick', config: { every: '1s', label: 'from-b' } })

    await until(() => registered.length > 0, 5000, "A's registerTrigger handler")
    assert.is(registered.length, 1)
    assert.is(registered[0].function_id, 'b::on_tick')
    assert.equal(registered[0].config, { every: '1s', label: 'from-b' })
    assert.type(registered[0].id, 'string')
    assert.ok(registered[0].id.length > 0)

    // The provider fires the trigger the iii way: by calling the bound function.
    const result = await a!.trigger({ function_id: registered[0].function_id, payload: { tick: 1 }, timeoutMs: 3000 })
    assert.equal(result, { ticked: true })
    assert.equal(ticksSeenByB, [{ tick: 1 }])

    // The binding is visible to the engine, and B was told of no failure.
    const { registered_triggers: triggers } = (await b.trigger({ function_id: 'engine::registered-triggers::list', payload: {}, timeoutMs: 3000 })) as { registered_triggers: Array<Record<string, any>> }
    assert.ok(triggers.some((t) => t.trigger_type === 'a::ticker' && t.function_id === 'b::on_tick'), JSON.stringify(triggers))
    assert.equal(consoleLines.filter((l) => l.text.includes('Trigger registration failed')), [])
  }),
)

T(
  'calls across the two workers: results both ways, thrown errors and unknown functions reject',
  limit(async () => {
    assert.equal(await b!.trigger({ function_id: 'a::echo', payload: { x: 1, s: 'é' }, timeoutMs: 3000 }), { from: 'a', got: { x: 1, s: 'é' } })
    assert.equal(await a!.trigger({ function_id: 'b::double', payload: { n: 21 }, timeoutMs: 3000 }), { n: 42 })

    // Several at once, both ways.
    const many = await Promise.all([
      ...[1, 2, 3].map((n) => a!.trigger({ function_id: 'b::double', payload: { n }, timeoutMs: 3000 })),
      ...[1, 2, 3].map((n) => b!.trigger({ function_id: 'a::echo', payload: n, timeoutMs: 3000 })),
    ])
    assert.equal(many, [{ n: 2 }, { n: 4 }, { n: 6 }, { from: 'a', got: 1 }, { from: 'a', got: 2 }, { from: 'a', got: 3 }])

    const fromA = await rejection(b!.trigger({ function_id: 'a::fail', payload: {}, timeoutMs: 3000 }))
    assert.is(fromA.code, 'invocation_failed')
    assert.is(fromA.message, 'invocation_failed: a refuses on purpose')
    const fromB = await rejection(a!.trigger({ function_id: 'b::fail', payload: {}, timeoutMs: 3000 }))
    assert.is(fromB.code, 'invocation_failed')
    assert.is(fromB.message, 'invocation_failed: b refuses on purpose')

    const unknown = await rejection(a!.trigger({ function_id: 'nobody::home', payload: {}, timeoutMs: 3000 }))
    assert.is(unknown.code, 'function_not_found')
    assert.is(unknown.message, "function_not_found: No function registered with ID 'nobody::home'")

    // A failed call leaves both workers working.
    assert.equal(await b!.trigger({ function_id: 'a::echo', payload: null, timeoutMs: 3000 }), { from: 'a', got: null })
  }),
)

T(
  'the engine::workers::register call on connect is accepted silently; both workers are listed by name',
  limit(async () => {
    const workers = await listWorkers(b!)
    const byName = (name: string) => workers.filter((w) => w.name === name)
    assert.is(byName('sdk-provider-a').length, 1, JSON.stringify(workers))
    assert.is(byName('sdk-consumer-b').length, 1, JSON.stringify(workers))
    const bInfo = byName('sdk-consumer-b')[0]
    assert.is(bInfo.runtime, 'node')
    assert.is(bInfo.pid, process.pid)
    assert.type(bInfo.version, 'string')
    assert.ok(['b::on_tick', 'b::double', 'b::fail'].every((f) => bInfo.functions.includes(f)), JSON.stringify(bInfo))
    assert.is(bInfo.triggers, 1)

    // Not a single error frame (iii-sdk ignores them, so the engine's log is where they show).
    assert.equal(engineLog.filter((l) => l.msg === 'error frame'), [])
    assert.equal(engineLog.filter((l) => l.level === 'error'), [])

    // The same call, byte for byte as iii-sdk 0.22.1 sends it, from a raw socket: the
    // engine answers nothing at all (a JSON ping sent after it is answered first).
    const raw = new WebSocket(url)
    const received: Array<Record<string, any>> = []
    raw.on('message', (d: Buffer) => received.push(JSON.parse(d.toString('utf8'))))
    try {
      await new Promise((resolve, reject) => (raw.once('open', resolve), raw.once('error', reject)))
      raw.send(
        JSON.stringify({
          type: 'invokefunction',
          function_id: 'engine::workers::register',
          data: { runtime: 'node', version: '0.22.1', name: 'raw-iii', os: 'linux', pid: 1, isolation: null, telemetry: { language: 'en-US', project_name: 'signalbox', framework: 'iii-node' } },
          action: { type: 'void' },
        }),
      )
      raw.send(JSON.stringify({ type: 'ping' }))
      await until(() => received.some((m) => m.type === 'pong'), 3000, 'pong')
      assert.equal(received.map((m) => m.type), ['workerregistered', 'pong'])
      const rawInfo = (await listWorkers(a!)).find((w) => w.name === 'raw-iii')
      assert.ok(rawInfo, 'the raw worker is listed by name')
      assert.is(rawInfo!.runtime, 'node')
      assert.is(rawInfo!.version, '0.22.1')
    } finally {
      raw.close(1000)
    }
  }),
)

T(
  "when worker B shuts down, A's unregisterTrigger handler is called for B's trigger",
  limit(async () => {
    assert.is(unregistered.length, 0)
    const client = b!
    b = undefined
    await client.shutdown()
    await until(() => unregistered.length > 0, 5000, "A's unregisterTrigger handler")
    assert.is(unregistered.length, 1)
    assert.is(unregistered[0].id, registered[0].id)
    assert.is(unregistered[0].function_id, 'b::on_tick')
    assert.equal(unregistered[0].config, { every: '1s', label: 'from-b' })

    // B is gone from the engine; A still works.
    await until(async () => !(await listWorkers(a!)).some((w) => w.name === 'sdk-consumer-b'), 3000, 'B to leave engine::workers::list')
    const gone = await rejection(a!.trigger({ function_id: 'b::double', payload: { n: 1 }, timeoutMs: 3000 }))
    assert.is(gone.code, 'function_not_found')
    assert.equal(engineLog.filter((l) => l.level === 'error'), [])
  }),
)

T.run()
