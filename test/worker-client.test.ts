/**
 * Workers that wait, and refusals nobody can miss: `connectWorker` keeps trying an engine
 * that is not up yet (logging each attempt) until it comes, or until `connectTimeoutMs`
 * passes; a refused `registerTrigger` resolves with the error and is also reported to
 * `onError` and logged, over every transport.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createEngine } from '../adapters/engine.js'
import { ConnectError, connectWorker } from '../client/ws-client.js'
import { actorsOf, catalogOf } from '../machines/system.js'
import { captureLogger, eachWithEngine, limit, until, type EngineCtx } from './harness.js'
import { peersOver, transports } from './transports.js'

/** A port nothing listens on (listened on, then closed). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

const waits = suite('connectWorker waits for the engine')

waits('started before the engine: it logs each attempt, then connects once the engine is up, and works', limit(async () => {
  const port = await freePort()
  const log = captureLogger()
  let connected = false
  const pending = connectWorker(`ws://127.0.0.1:${port}`, { name: 'early', initialDelayMs: 20, maxDelayMs: 100, logger: log }).then((w) => ((connected = true), w))
  await until(() => log.records.filter((r) => r.level === 'warn').length >= 2, 3000, 'two failed attempts logged')
  const attempt = log.records[0]
  assert.match(attempt.msg, new RegExp(`^cannot reach the engine at ws://127\\.0\\.0\\.1:${port}: nothing is listening there \\(ECONNREFUSED\\); trying again in \\d+ ms \\(attempt 1\\)$`))
  assert.is(attempt.url, `ws://127.0.0.1:${port}`)
  assert.is(connected, false)
  const engine = await createEngine({ port, logger: captureLogger() })
  try {
    const w = await pending
    try {
      w.registerFunction('early::hello', () => 'hi')
      assert.is(await w.invoke('early::hello'), 'hi')
      const { workers } = await w.invoke<{ workers: Array<{ name?: string }> }>('engine::workers::list')
      assert.equal(workers.map((x) => x.name), ['early'])
    } finally {
      w.close()
    }
  } finally {
    await engine.stop()
  }
}))

waits('connectTimeoutMs: it gives up after the deadline, saying why; 0 tries once', limit(async () => {
  const port = await freePort()
  const log = captureLogger()
  const started = Date.now()
  const err = await connectWorker(`ws://127.0.0.1:${port}`, { initialDelayMs: 20, maxDelayMs: 50, connectTimeoutMs: 300, logger: log }).then(
    () => undefined,
    (e: Error) => e,
  )
  const took = Date.now() - started
  assert.instance(err, ConnectError)
  assert.is((err as ConnectError).code, 'engine_unreachable')
  assert.match(err!.message, new RegExp(`^Cannot reach the engine at ws://127\\.0\\.0\\.1:${port}: nothing is listening there \\(ECONNREFUSED\\); gave up after \\d+ ms and \\d+ attempts$`))
  assert.ok(took >= 300, `it kept trying until the deadline (${took} ms)`)
  assert.ok(log.records.length >= 3, `each attempt was logged (${log.records.length})`)
  const last = log.records.at(-1)!
  assert.is(last.level, 'error')
  assert.is(last.msg, err!.message.replace(/^Cannot/, 'cannot'), 'the give-up line says what the error says')

  const once = captureLogger()
  const err0 = await connectWorker(`ws://127.0.0.1:${port}`, { connectTimeoutMs: 0, logger: once }).then(
    () => undefined,
    (e: Error) => e,
  )
  assert.match(err0!.message, /nothing is listening there \(ECONNREFUSED\); gave up after \d+ ms and 1 attempt$/)
  assert.equal(once.records.map((r) => r.level), ['error'], 'one attempt, nothing retried: only the give-up line')
}))

waits('connectTimeoutMs with the default backoff: it tries until the deadline, not a backoff early; an engine that comes before the deadline is reached', limit(async () => {
  // Default backoff (100 ms doubling, jitter): the attempts fall near 0, 0.1, 0.3, 0.7, 1.5 s, and the next one would
  // fall past 3 s; it is made at the deadline instead, and the engine is up by then.
  const port = await freePort()
  const log = captureLogger()
  const started = Date.now()
  let engine: Awaited<ReturnType<typeof createEngine>> | undefined
  const starting = new Promise<void>((resolve, reject) => setTimeout(() => createEngine({ port, logger: captureLogger() }).then((e) => ((engine = e), resolve()), reject), 2000))
  try {
    const w = await connectWorker(`ws://127.0.0.1:${port}`, { name: 'patient', connectTimeoutMs: 3000, logger: log })
    try {
      assert.ok(Date.now() - started >= 2000, 'connected once the engine was up')
      const { workers } = await w.invoke<{ workers: Array<{ name?: string }> }>('engine::workers::list')
      assert.equal(workers.map((x) => x.name), ['patient'])
      assert.not.ok(log.records.some((r) => r.level === 'error'), 'no give-up line')
    } finally {
      await w.close()
    }
  } finally {
    await starting
    await engine?.stop()
  }
}, 15_000))

waits('connectTimeoutMs with the default backoff and no engine: it rejects no earlier than the deadline, saying how long it tried', limit(async () => {
  const port = await freePort()
  const log = captureLogger()
  const started = Date.now()
  const err = await connectWorker(`ws://127.0.0.1:${port}`, { connectTimeoutMs: 3000, logger: log }).then(
    () => undefined,
    (e: Error) => e,
  )
  const took = Date.now() - started
  assert.instance(err, ConnectError)
  assert.is((err as ConnectError).code, 'engine_unreachable')
  assert.ok(took >= 3000, `it rejected at ${took} ms, not before the 3000 ms deadline`)
  assert.ok(took < 10_000, `and not long after it (${took} ms)`)
  const [, ms, attempts] = /gave up after (\d+) ms and (\d+) attempts$/.exec(err!.message) ?? []
  assert.ok(Number(ms) >= 3000, `the text says how long it tried (${ms} ms)`)
  assert.is(Number(attempts), log.records.length, 'one attempt per line logged: each retry, then the give-up line')
  assert.equal(log.records.at(-1)!.level, 'error')
}, 15_000))

waits.run()

for (const transport of transports) {
  const it = suite<EngineCtx>(`a refused registerTrigger is seen over ${transport.name}`)
  eachWithEngine(it)
  const { worker } = peersOver(transport)

  it('the result carries the error; onError and the log get it too, once', limit(async (ctx) => {
    // Over WebSocket the worker logs to the logger it was given; in-process, to the engine's.
    const log = transport.name === 'websocket' ? captureLogger() : ctx.engine.log
    const w = transport.name === 'websocket' ? await connectWorker(ctx.engine.url!, { name: 'jobs', logger: log, reconnect: false }) : await worker(ctx, { name: 'jobs' })
    ctx.closers.push(() => w.close())
    const seen: Array<[unknown, unknown]> = []
    w.onError((error, ref) => seen.push([error, ref]))
    w.registerFunction('jobs::nightly', () => null)
    const result = await w.registerTrigger({ id: 'nightly', trigger_type: 'cron', function_id: 'jobs::nightly', config: { schedule: '@hourlly' } })
    const error = {
      code: 'invalid_config',
      message: "Invalid cron expression: '@hourlly'",
      details: "'@hourlly' is not a nickname; did you mean '@hourly'? (nicknames: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)",
    }
    assert.equal(result.error, error)
    assert.equal(seen, [[error, { type: 'registertrigger', id: 'nightly' }]])
    const warned = log.records.filter((r) => r.msg.startsWith("trigger 'nightly'"))
    assert.equal(warned.map((r) => [r.level, r.msg]), [
      ['warn', `trigger 'nightly' (cron → jobs::nightly) was refused: invalid_config: Invalid cron expression: '@hourlly' (${error.details})`],
    ])
    // A refusal the client makes itself is reported the same way.
    await w.registerTrigger({ id: '', trigger_type: 'cron', function_id: 'jobs::nightly', config: {} })
    assert.is(seen.length, 2)
    assert.equal(seen[1][1], { type: 'registertrigger', id: '' })
    // An accepted one is not.
    assert.is((await w.registerTrigger({ id: 'ok', trigger_type: 'cron', function_id: 'jobs::nightly', config: { schedule: '@hourly' } })).error, undefined)
    assert.is(seen.length, 2)
  }))

  it('a refused registerTriggerType (a second provider of a type) reaches onError and the log, naming the provider', limit(async (ctx) => {
    const log = transport.name === 'websocket' ? captureLogger() : ctx.engine.log
    const connect = (name: string, logger?: typeof log) =>
      transport.name === 'websocket' ? connectWorker(ctx.engine.url!, { name, logger: logger ?? false, reconnect: false }) : worker(ctx, { name })
    const first = await connect('webhooks-a')
    ctx.closers.push(() => first.close())
    const handler = { registerTrigger: () => {}, unregisterTrigger: () => {} }
    first.registerTriggerType({ id: 'webhook' }, handler)
    await until(() => catalogOf(ctx.engine.actor.system).triggerTypes.webhook?.worker_id === first.workerId, 3000, 'the first provider holds the type')
    const second = await connect('webhooks-b', log)
    ctx.closers.push(() => second.close())
    const seen: Array<[unknown, unknown]> = []
    second.onError((error, ref) => seen.push([error, ref]))
    const registered = second.registerTriggerType({ id: 'webhook' }, handler)
    assert.is(registered.id, 'webhook', 'it still returns the type and its unregister')
    assert.type(registered.unregister, 'function')
    await until(() => seen.length === 1, 3000, 'the refusal reported')
    const error = { code: 'trigger_type_exists', message: `Trigger type 'webhook' is already provided by worker 'webhooks-a' (${first.workerId})` }
    assert.equal(seen, [[error, { type: 'registertriggertype', id: 'webhook' }]])
    const warned = log.records.filter((r) => r.msg.startsWith("trigger type 'webhook'"))
    assert.equal(warned.map((r) => [r.level, r.msg]), [['warn', `trigger type 'webhook' was refused: trigger_type_exists: ${error.message}`]])
  }))

  it.run()
}

const closing = suite<EngineCtx>('close(): calls on their way are served, not lost')
eachWithEngine(closing)

closing('a call the engine sent just before the worker closed reaches it, is answered, and only then is the connection closed', limit(async (ctx) => {
  const w = await connectWorker(ctx.engine.url!, { name: 'leaving', reconnect: false, logger: false })
  let served = 0
  w.registerFunction('f', (n: number) => (served++, n * 2))
  await until(() => catalogOf(ctx.engine.actor.system).functions.f?.workers.length === 1, 3000, 'f offered')
  // The engine starts a call on the worker; in the same turn (its frame still in the engine's
  // socket buffer, unseen by the worker, which serves nothing yet) the worker closes.
  const outcome = new Promise((resolve) =>
    actorsOf(ctx.engine.actor.system).invocations()!.send({ type: 'invocation.start', source: 'engine', caller: { reply: resolve }, function_id: 'f', data: 21 }),
  )
  const closed = w.close()
  assert.equal(await outcome, { result: 42 }, 'the call was served')
  await closed
  assert.is(served, 1)
  assert.ok(w.isClosed)
  // Its functions left first: a call now finds nobody.
  assert.is(catalogOf(ctx.engine.actor.system).functions.f, undefined)
}))

closing('a call in hand is answered before the connection closes, even when the worker has unregistered every function', limit(async (ctx) => {
  const w = await connectWorker(ctx.engine.url!, { reconnect: false, logger: false })
  let release: ((n: number) => void) | undefined
  w.registerFunction('f', () => new Promise<number>((resolve) => (release = resolve)))
  await until(() => catalogOf(ctx.engine.actor.system).functions.f?.workers.length === 1, 3000, 'f offered')
  const outcome = new Promise((resolve) =>
    actorsOf(ctx.engine.actor.system).invocations()!.send({ type: 'invocation.start', source: 'engine', caller: { reply: resolve }, function_id: 'f', data: 21 }),
  )
  await until(() => release, 3000, 'the call in hand')
  // What a deploy script may do by hand: take the function back, then close.
  w.unregisterFunction('f')
  const closed = w.close()
  release!(42)
  assert.equal(await outcome, { result: 42 }, 'the call in hand was answered')
  await closed
  assert.ok(w.isClosed)
}))

closing('drainMs: 0 closes at once, failing a call on its way', limit(async (ctx) => {
  const w = await connectWorker(ctx.engine.url!, { reconnect: false, logger: false })
  w.registerFunction('f', (n: number) => n * 2)
  await until(() => catalogOf(ctx.engine.actor.system).functions.f?.workers.length === 1, 3000, 'f offered')
  const outcome = new Promise<{ error?: { code: string } }>((resolve) =>
    actorsOf(ctx.engine.actor.system).invocations()!.send({ type: 'invocation.start', source: 'engine', caller: { reply: resolve as (o: unknown) => void }, function_id: 'f', data: 21 }),
  )
  await w.close({ drainMs: 0 })
  assert.is((await outcome).error?.code, 'worker_disconnected')
}))

closing('a worker that closes and exits at once ends its session cleanly (1000): nothing is held for a reconnect', limit(async (ctx) => {
  // What the examples do on Ctrl-C: `await worker.close()`, then `process.exit`.
  const client = new URL('../client/ws-client.js', import.meta.url).href
  const script = `
    const { connectWorker } = await import(${JSON.stringify(client)})
    const w = await connectWorker(process.argv[1], { name: 'quitter', logger: false, reconnect: false })
    w.registerFunction('quitter::f', () => 1)
    await w.invoke('engine::workers::list')
    process.stdout.write(w.workerId + '\\n')
    await w.close()
    process.exit(0)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, ctx.engine.url!], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  assert.is(await exited, 0)
  const worker_id = out.trim()
  assert.ok(worker_id.length > 0, 'the child connected')
  const records = () => ctx.engine.log.records.filter((r) => r.worker_id === worker_id)
  await until(() => records().some((r) => r.msg === 'session closed'), 3000, "the engine's 'session closed' line")
  const closed = records().find((r) => r.msg === 'session closed')!
  assert.is(closed.reason, 'connection closed (1000)')
  assert.not.ok(records().some((r) => r.msg === 'session held'), 'not held as a lost connection')
  const lister = ctx.engine.connect()
  ctx.closers.push(() => lister.close())
  const { workers } = await lister.invoke<{ workers: Array<{ worker_id: string }> }>('engine::workers::list')
  assert.equal(workers.filter((w) => w.worker_id === worker_id), [], 'gone from the listing')
}))

closing('close() resolves once the socket has closed: the engine has already ended the session', limit(async (ctx) => {
  const w = await connectWorker(ctx.engine.url!, { name: 'tidy', reconnect: false, logger: false })
  const worker_id = w.workerId!
  w.registerFunction('tidy::f', () => 1)
  await until(() => catalogOf(ctx.engine.actor.system).functions['tidy::f'], 3000, 'tidy::f offered')
  await w.close()
  // The engine answered the close frame before close() resolved, and ended the session as it did: no wait here.
  assert.is(catalogOf(ctx.engine.actor.system).workers[worker_id], undefined, 'the session is gone at once')
  const closed = ctx.engine.log.records.find((r) => r.worker_id === worker_id && r.msg === 'session closed')
  assert.is(closed?.reason, 'connection closed (1000)')
}))

closing.run()
