/**
 * Workers written for iii run unchanged: each behaviour tracker issue 13 names, driven by
 * the published iii-sdk@0.22.1 against a real engine over real sockets (createEngine on
 * free ports; the SDK connects to its WebSocket URL and calls its HTTP listener).
 *
 * - paths written without a leading slash (`api_path: 'health'`) are served;
 * - a provider of a worker-defined type sees the consumer's own trigger id, and sees the
 *   same id again after it reconnects, and after the consumer reconnects;
 * - the engine functions the SDK names (`EngineFunctions` from `iii-sdk/engine`) answer
 *   with iii 0.22.1's shapes: trigger types, registered triggers, functions and workers;
 *
 * (docs/iii-compatibility.md lists every iii message, engine function and trigger type
 * with signalbox's support for each.)
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { InvocationError, registerWorker } from 'iii-sdk'
import { EngineFunctions } from 'iii-sdk/engine'
import WebSocket from 'ws'
import { limit, startEngine, until, type TestEngine } from './harness.js'
import { cutProxy, type CutProxy } from './cut-proxy.js'

type Client = ReturnType<typeof registerWorker>

/** Everything the SDK prints goes here instead of the terminal (it is chatty). */
const consoleLines: string[] = []
const originalConsole = { debug: console.debug, log: console.log, info: console.info, warn: console.warn, error: console.error }
const quiet = () => {
  for (const level of Object.keys(originalConsole) as Array<keyof typeof originalConsole>) {
    console[level] = (...args: unknown[]) => void consoleLines.push(args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a))).join(' '))
  }
}
const loud = () => void Object.assign(console, originalConsole)

interface Ctx {
  engine: TestEngine
  closers: Array<() => unknown>
}

/** An iii-sdk worker as a user writes one (telemetry off, quick reconnects), closed after the test. */
const sdk = (ctx: Ctx, url: string, name: string): Client => {
  const w = registerWorker(url, {
    workerName: name,
    otel: { enabled: false },
    enableMetricsReporting: false,
    reconnectionConfig: { initialDelayMs: 20, maxDelayMs: 200, jitterFactor: 0 },
  })
  ctx.closers.push(() => w.shutdown())
  return w
}

const proxy = async (ctx: Ctx): Promise<CutProxy> => {
  const p = await cutProxy(ctx.engine.url!)
  ctx.closers.push(() => p.close())
  return p
}

/** Trigger registrations of live sessions, as the engine lists them (`engine::registered-triggers::list`). */
const instances = async (via: Client): Promise<Array<Record<string, any>>> => {
  const listed = (await via.trigger({ function_id: 'engine::registered-triggers::list', payload: {}, timeoutMs: 3000 })) as { registered_triggers: Array<Record<string, any>> }
  return listed.registered_triggers
}

/**
 * Waits until `type` is provided. (A registertrigger for a type nobody provides yet is
 * answered trigger_type_not_found, where iii parks it: a documented difference.)
 */
const provided = (via: Client, type: string) =>
  until(async () => {
    const listed = (await via.trigger({ function_id: 'engine::trigger-types::list', payload: {}, timeoutMs: 3000 })) as { trigger_types: Array<{ id: string }> }
    return listed.trigger_types.some((t) => t.id === type)
  }, 5000, `trigger type ${type}`)

const it = suite<Ctx>('iii-sdk workers run unchanged')

it.before(quiet)
it.after(loud)
it.before.each(async (ctx) => {
  ctx.closers = []
  ctx.engine = await startEngine({ reconnectGraceMs: 5000 })
})
it.after.each(async (ctx) => {
  for (const close of ctx.closers.reverse()) await close()
  await ctx.engine.stop()
  const errors = ctx.engine.log.records.filter((r) => r.level === 'error')
  assert.equal(errors, [], 'no error-level engine log lines')
})

// ------------------------------------------------------------------------- 1. paths

it('http: api_path without a leading slash is served at /<path>, its params too', limit(async (ctx) => {
  const w = sdk(ctx, ctx.engine.url!, 'paths')
  w.registerFunction('paths::health', async () => ({ status_code: 200, body: { ok: true } }))
  w.registerFunction('paths::user', async (req: any) => ({ status_code: 200, body: { id: req.path_params.id, path: req.path } }))
  w.registerTrigger({ type: 'http', function_id: 'paths::health', config: { api_path: 'health', http_method: 'GET' } })
  w.registerTrigger({ type: 'http', function_id: 'paths::user', config: { api_path: 'users/:id', http_method: 'GET' } })
  const health = await until(async () => {
    const res = await fetch(`${ctx.engine.httpUrl}/health`)
    return res.status === 200 ? res.json() : undefined
  }, 5000, 'GET /health to be routed')
  assert.equal(health, { ok: true })
  const user = await until(async () => {
    const res = await fetch(`${ctx.engine.httpUrl}/users/42`)
    return res.status === 200 ? res.json() : undefined
  }, 5000, 'GET /users/42 to be routed')
  assert.equal(user, { id: '42', path: '/users/42' })
  assert.equal(consoleLines.filter((l) => l.includes('Trigger registration failed')), [])
}))

// ------------------------------------------------------------- 2. forwarded trigger ids

/** A provider of `type` that records the ids its handler is given. */
const tickerProvider = (w: Client, type: string) => {
  const seen: Array<['register' | 'unregister', string, string]> = []
  w.registerTriggerType(
    { id: type, description: 'ticks' },
    {
      async registerTrigger(t) {
        seen.push(['register', t.id, t.function_id])
      },
      async unregisterTrigger(t) {
        seen.push(['unregister', t.id, t.function_id])
      },
    },
  )
  return seen
}

it("a provider sees the consumer's own trigger id, and the same id again after the provider reconnects", limit(async (ctx) => {
  const net = await proxy(ctx)
  const provider = sdk(ctx, net.url, 'ticker-provider')
  const seen = tickerProvider(provider, 'ticker')
  const consumer = sdk(ctx, ctx.engine.url!, 'ticker-consumer')
  consumer.registerFunction('consumer::on_tick', async () => ({}))
  await provided(consumer, 'ticker')
  const binding = consumer.registerTrigger({ type: 'ticker', function_id: 'consumer::on_tick', config: { every: 1 } })

  await until(() => seen.length === 1, 5000, 'the provider to be given the trigger')
  const [listed] = await instances(consumer)
  assert.ok(/^[0-9a-f-]{36}$/.test(listed.id), `iii-sdk's own id: ${listed.id}`)
  assert.equal(seen, [['register', listed.id, 'consumer::on_tick']], 'the id the consumer registered, unchanged')

  // The provider's connection drops; it reconnects (reattach) and provides the type again:
  // the parked trigger is re-sent to it under the same id.
  net.cut()
  await until(() => seen.length === 2, 5000, 'the re-send to the reconnected provider')
  assert.equal(seen[1], ['register', listed.id, 'consumer::on_tick'])
  await until(async () => (await instances(consumer))[0]?.state === 'active', 5000, 'the trigger to be active again')

  // The consumer's unregister reaches the provider under that id too.
  binding.unregister()
  await until(() => seen.length === 3, 5000, 'the unregister')
  assert.equal(seen[2], ['unregister', listed.id, 'consumer::on_tick'])
}))

it('a provider sees the same id after the consumer reconnects; two sessions with one id are told apart', limit(async (ctx) => {
  const net = await proxy(ctx)
  const provider = sdk(ctx, ctx.engine.url!, 'ticker-provider')
  const seen = tickerProvider(provider, 'ticker')
  const consumer = sdk(ctx, net.url, 'ticker-consumer')
  consumer.registerFunction('consumer::on_tick', async () => ({}))
  await provided(consumer, 'ticker')
  consumer.registerTrigger({ type: 'ticker', function_id: 'consumer::on_tick', config: {} })
  await until(() => seen.length === 1, 5000, 'the provider to be given the trigger')
  const id = seen[0][1]

  // The consumer reconnects: its reattach retires the old session (the provider is told to
  // drop the trigger), and it binds the same trigger again: under the same id.
  net.cut()
  await until(() => seen.length === 3, 5000, 'the withdrawal and the new registration')
  assert.equal(seen.slice(1), [
    ['unregister', id, 'consumer::on_tick'],
    ['register', id, 'consumer::on_tick'],
  ])

  // A raw worker binds the very same id to the type: the provider sees it told apart.
  const other = new WebSocket(ctx.engine.url!)
  ctx.closers.push(() => other.close())
  const hello = await new Promise<any>((resolve) => other.once('message', (d) => resolve(JSON.parse(String(d)))))
  other.send(JSON.stringify({ type: 'registerfunction', id: 'other::on_tick' }))
  other.send(JSON.stringify({ type: 'registertrigger', id, trigger_type: 'ticker', function_id: 'other::on_tick', config: {} }))
  await until(() => seen.length === 4, 5000, "the other session's registration")
  assert.equal(seen[3], ['register', `${id}@${hello.worker_id}`, 'other::on_tick'])
}))

// ------------------------------------------------------------ 3. engine functions

/** An iii-sdk call that must fail: the error it failed with. */
async function rejection(p: Promise<unknown>): Promise<InvocationError> {
  try {
    throw new Error(`expected a rejection, got ${JSON.stringify(await p)}`)
  } catch (err) {
    if (!(err instanceof InvocationError)) throw err
    return err
  }
}

it("the engine functions iii-sdk's constants name answer with iii 0.22.1's shapes", limit(async (ctx) => {
  const provider = sdk(ctx, ctx.engine.url!, 'ticker-provider')
  tickerProvider(provider, 'ticker')
  const consumer = sdk(ctx, ctx.engine.url!, 'ticker-consumer')
  consumer.registerFunction('consumer::on_tick', async () => ({}), { description: 'counts ticks', metadata: { team: 'a' } })
  await provided(consumer, 'ticker')
  consumer.registerTrigger({ type: 'ticker', function_id: 'consumer::on_tick', config: { every: 1 }, metadata: { why: 'test' } })
  consumer.registerTrigger({ type: 'http', function_id: 'consumer::on_tick', config: { api_path: 'tick', http_method: 'POST' } })
  const call = <T = any>(function_id: string, payload: unknown = {}) => consumer.trigger<unknown, T>({ function_id, payload, timeoutMs: 3000 })
  const registered = await until(async () => {
    const { registered_triggers } = await call(EngineFunctions.LIST_REGISTERED_TRIGGERS)
    return registered_triggers.length === 2 && registered_triggers.every((t: any) => t.state === 'active') ? registered_triggers : undefined
  }, 5000, 'both triggers active')

  // Trigger TYPES, with their descriptions; the filters iii has.
  const { triggers: types } = await call(EngineFunctions.LIST_TRIGGERS, { include_internal: true })
  assert.equal(types.map((t: any) => t.id), ['cron', 'http', 'queue', 'ticker'], 'sorted by id')
  const ticker = types.find((t: any) => t.id === 'ticker')
  assert.equal(ticker, { id: 'ticker', worker_name: 'ticker-provider', description: 'ticks', worker_id: ticker.worker_id })
  assert.equal((await call(EngineFunctions.LIST_TRIGGERS, { worker: 'ticker-provider' })).triggers.map((t: any) => t.id), ['ticker'])
  assert.equal((await call(EngineFunctions.LIST_TRIGGERS, { search: 'HTTP' })).triggers.map((t: any) => t.id), ['http'])
  assert.equal(await call(EngineFunctions.INFO_TRIGGERS, { id: 'ticker' }), { ...ticker, instance_count: 1 })
  const noType = await rejection(call(EngineFunctions.INFO_TRIGGERS, { id: 'nope' }))
  assert.is(noType.code, 'trigger_type_not_found')

  // Trigger INSTANCES: id, trigger_type, function_id, worker name, config and its summary.
  const byType = (type: string) => registered.find((t: any) => t.trigger_type === type)
  assert.equal(byType('http'), {
    id: byType('http').id,
    trigger_type: 'http',
    function_id: 'consumer::on_tick',
    worker_name: 'ticker-consumer',
    config: { api_path: 'tick', http_method: 'POST' },
    config_summary: '{"api_path":"tick","http_method":"POST"}',
    worker_id: byType('http').worker_id,
    state: 'active',
  })
  assert.equal((await call(EngineFunctions.LIST_REGISTERED_TRIGGERS, { trigger_type: 'ticker' })).registered_triggers.map((t: any) => t.id), [byType('ticker').id])
  const detail = await call(EngineFunctions.INFO_REGISTERED_TRIGGERS, { id: byType('ticker').id })
  assert.is(detail.worker_name, 'ticker-consumer')
  assert.equal(detail.metadata, { why: 'test' })
  assert.equal(detail.trigger, { ...ticker, instance_count: 1 })
  assert.is(detail.function.function_id, 'consumer::on_tick')
  assert.is((await rejection(call(EngineFunctions.INFO_REGISTERED_TRIGGERS, { id: 'nope' }))).code, 'trigger_not_found')

  // Functions and workers.
  const fn = await call(EngineFunctions.INFO_FUNCTIONS, { function_id: 'consumer::on_tick' })
  assert.equal(
    { ...fn, registered_triggers: fn.registered_triggers.map((t: any) => t.trigger_type).sort() },
    { function_id: 'consumer::on_tick', worker_name: 'ticker-consumer', description: 'counts ticks', metadata: { team: 'a' }, registered_triggers: ['http', 'ticker'], workers: [byType('http').worker_id] },
  )
  assert.is((await call(EngineFunctions.INFO_FUNCTIONS, { function_id: EngineFunctions.LIST_TRIGGERS })).worker_name, 'engine')
  assert.is((await rejection(call(EngineFunctions.INFO_FUNCTIONS, { function_id: 'nope' }))).code, 'function_not_found')
  const listed = (await call(EngineFunctions.LIST_FUNCTIONS)).functions
  assert.ok(Object.values(EngineFunctions).every((id) => listed.some((f: any) => f.function_id === id && f.worker_name === 'engine')), 'every engine function the SDK names exists')
  const me = await call(EngineFunctions.INFO_WORKERS, { name: 'ticker-consumer' })
  assert.equal(Object.keys(me).sort(), ['functions', 'registered_triggers', 'trigger_types', 'worker'])
  assert.equal([me.worker.name, me.worker.runtime, me.worker.status, me.worker.function_count, me.worker.pid], ['ticker-consumer', 'node', 'connected', 1, process.pid])
  assert.equal(me.functions, [{ function_id: 'consumer::on_tick', worker_name: 'ticker-consumer', description: 'counts ticks', metadata: { team: 'a' } }])
  assert.is(me.registered_triggers.length, 2)
  assert.equal((await call(EngineFunctions.INFO_WORKERS, { name: 'ticker-provider' })).trigger_types.map((t: any) => t.id), ['ticker'])
  assert.is((await rejection(call(EngineFunctions.INFO_WORKERS, { name: 'nobody' }))).code, 'not_found')
  const workers = (await call(EngineFunctions.LIST_WORKERS)).workers
  assert.equal(workers.map((w: any) => w.name).sort(), ['ticker-consumer', 'ticker-provider'])
  // A bad query is refused, naming the function and the field.
  const bad = await rejection(call(EngineFunctions.LIST_TRIGGERS, { include_internal: 'yes' }))
  assert.equal([bad.code, bad.message], ['invalid_message', "invalid_message: engine::triggers::list: 'include_internal' must be true or false, got 'yes'"])
}))

it.run()
