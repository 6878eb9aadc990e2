/**
 * Workers written for iii run unchanged: each behaviour tracker issue 13 names, driven by
 * the published iii-sdk@0.22.1 against a real engine over real sockets (createEngine on
 * free ports; the SDK connects to its WebSocket URL and calls its HTTP listener).
 *
 * - paths written without a leading slash (`api_path: 'health'`) are served;
 * - a provider of a worker-defined type sees the consumer's own trigger id, and sees the
 *   same id again after it reconnects, and nothing at all when the consumer reconnects;
 * - the engine functions the SDK names (`EngineFunctions` from `iii-sdk/engine`) answer
 *   with iii 0.22.1's shapes: trigger types, registered triggers, functions and workers;
 * - `publish` reaches every function bound with `subscribe` to the topic, once each, and
 *   no other topic's; `iii::durable::publish` gives each `durable:subscriber` its own
 *   queue, with retries and dead letters, and survives an engine restart on SQLite;
 * - data channels: one worker creates a channel and another reads it; keys are checked;
 *   a writer without a reader is held back; a channel is released when both ends close;
 * - streaming http: a download streamed chunk by chunk, an upload larger than the body
 *   limit, server-sent events arriving one by one, a multipart form read from
 *   `request_body`; the plain `{status_code, headers, body}` answer as before.
 *
 * (docs/iii-compatibility.md lists every iii message, engine function and trigger type
 * with signalbox's support for each.)
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { InvocationError, registerWorker } from 'iii-sdk'
import { EngineFunctions } from 'iii-sdk/engine'
import { createChannel } from 'iii-sdk/helpers'
import WebSocket from 'ws'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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

it('a provider sees nothing change when the consumer reconnects; two sessions with one id are told apart', limit(async (ctx) => {
  const net = await proxy(ctx)
  const provider = sdk(ctx, ctx.engine.url!, 'ticker-provider')
  const seen = tickerProvider(provider, 'ticker')
  const consumer = sdk(ctx, net.url, 'ticker-consumer')
  consumer.registerFunction('consumer::on_tick', async () => ({}))
  await provided(consumer, 'ticker')
  consumer.registerTrigger({ type: 'ticker', function_id: 'consumer::on_tick', config: {} })
  await until(() => seen.length === 1, 5000, 'the provider to be given the trigger')
  const id = seen[0][1]
  const [before] = await instances(provider)

  // The consumer reconnects. Its old session is held until the new one holds everything
  // (docs/reconnects.md); the new session's registration adopts the held one's forwarding,
  // so the provider is neither given the trigger again nor told to drop it.
  net.cut()
  await until(async () => {
    const rows = await instances(provider)
    return rows.length === 1 && rows[0].worker_id !== before.worker_id && rows[0].state === 'active'
  }, 5000, "the new session's trigger, active, and the held session gone")
  await new Promise((r) => setTimeout(r, 100))
  assert.equal(seen, [['register', id, 'consumer::on_tick']], 'nothing more reached the provider')

  // A raw worker binds the very same id to the type: the provider sees it told apart.
  const other = new WebSocket(ctx.engine.url!)
  ctx.closers.push(() => other.close())
  const hello = await new Promise<any>((resolve) => other.once('message', (d) => resolve(JSON.parse(String(d)))))
  other.send(JSON.stringify({ type: 'registerfunction', id: 'other::on_tick' }))
  other.send(JSON.stringify({ type: 'registertrigger', id, trigger_type: 'ticker', function_id: 'other::on_tick', config: {} }))
  await until(() => seen.length === 2, 5000, "the other session's registration")
  assert.equal(seen[1], ['register', `${id}@${hello.worker_id}`, 'other::on_tick'])
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
  assert.equal(types.map((t: any) => t.id), ['cron', 'durable:subscriber', 'http', 'queue', 'subscribe', 'ticker'], 'sorted by id')
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

// --------------------------------------------------------------------------- 4. pub/sub

/** Waits until `n` registrations are active. */
const active = (via: Client, n: number) =>
  until(async () => {
    const { registered_triggers } = (await via.trigger({ function_id: 'engine::registered-triggers::list', payload: {}, timeoutMs: 3000 })) as { registered_triggers: Array<{ state: string }> }
    return registered_triggers.length === n && registered_triggers.every((t) => t.state === 'active')
  }, 5000, `${n} active triggers`)

it('publish: every function subscribed to the topic gets the data once; other topics are kept apart', limit(async (ctx) => {
  const seen: Record<string, unknown[]> = { a: [], b: [], payments: [] }
  const a = sdk(ctx, ctx.engine.url!, 'subscriber-a')
  a.registerFunction('a::on_order', async (data: any) => void seen.a.push(data.n))
  a.registerFunction('a::on_payment', async (data: any) => void seen.payments.push(data.n))
  // Bound twice to the same topic: still one subscriber.
  a.registerTrigger({ type: 'subscribe', function_id: 'a::on_order', config: { topic: 'orders' } })
  a.registerTrigger({ type: 'subscribe', function_id: 'a::on_order', config: { topic: 'orders' } })
  a.registerTrigger({ type: 'subscribe', function_id: 'a::on_payment', config: { topic: 'payments' } })
  const b = sdk(ctx, ctx.engine.url!, 'subscriber-b')
  b.registerFunction('b::on_order', async (data: any) => void seen.b.push(data.n))
  b.registerTrigger({ type: 'subscribe', function_id: 'b::on_order', config: { topic: 'orders' } })
  const publisher = sdk(ctx, ctx.engine.url!, 'publisher')
  await active(publisher, 4)

  const publish = (topic: string, n: number) => publisher.trigger({ function_id: 'publish', payload: { topic, data: { n } }, timeoutMs: 3000 })
  assert.is(await publish('orders', 1), null, "iii's answer: null")
  await publish('payments', 2)
  await publish('orders', 3)
  await publish('nobody-listens', 4)
  await until(() => seen.a.length >= 2 && seen.b.length >= 2 && seen.payments.length >= 1, 5000, 'the deliveries')
  // Each message once, in order (a duplicate of 1 would have come before 3).
  assert.equal(seen, { a: [1, 3], b: [1, 3], payments: [2] })

  const bad = await rejection(publisher.trigger({ function_id: 'publish', payload: { data: 1 }, timeoutMs: 3000 }))
  assert.equal([bad.code, bad.message], ['invalid_message', "invalid_message: publish: 'topic' is required: the topic to publish to, e.g. 'orders.created'"])
  const refused = await rejection(publisher.trigger({ function_id: 'nope', payload: {}, timeoutMs: 3000 }))
  assert.is(refused.code, 'function_not_found')
}))

it('iii::durable::publish: each durable subscriber on its own queue, retried with backoff, then a dead letter; plain subscribers are apart', limit(async (ctx) => {
  const got: Record<string, unknown[]> = { ok: [], flaky: [], failing: [], plain: [] }
  let flakyFailures = 0
  const w = sdk(ctx, ctx.engine.url!, 'durable-subscribers')
  w.registerFunction('jobs::ok', async (data: any) => void got.ok.push(data.job))
  w.registerFunction('jobs::flaky', async (data: any) => {
    got.flaky.push(data.job)
    if (flakyFailures++ < 2) throw new Error('not yet')
    return { done: true }
  })
  w.registerFunction('jobs::failing', async (data: any) => {
    got.failing.push(data.job)
    throw new Error('always fails')
  })
  w.registerFunction('jobs::plain', async (data: any) => void got.plain.push(data.job))
  const fast = { backoffType: 'fixed', backoffDelayMs: 20 }
  w.registerTrigger({ type: 'durable:subscriber', function_id: 'jobs::ok', config: { topic: 'jobs' } })
  w.registerTrigger({ type: 'durable:subscriber', function_id: 'jobs::flaky', config: { topic: 'jobs', queue_config: fast } })
  w.registerTrigger({ type: 'durable:subscriber', function_id: 'jobs::failing', config: { topic: 'jobs', queue_config: { ...fast, maxRetries: 2 } } })
  w.registerTrigger({ type: 'subscribe', function_id: 'jobs::plain', config: { topic: 'jobs' } })
  await active(w, 4)

  assert.is(await w.trigger({ function_id: 'iii::durable::publish', payload: { topic: 'jobs', data: { job: 1 } }, timeoutMs: 3000 }), null)
  await until(() => got.ok.length === 1 && got.flaky.length === 3 && got.failing.length === 2, 5000, 'deliveries and retries')
  // The failing subscriber's message is a dead letter of its own queue, after its 2 receives.
  const dlq = 'durable:jobs:jobs::failing.dlq'
  const dead = await until(async () => {
    const { messages } = await w.trigger<unknown, { messages: Array<Record<string, any>> }>({ function_id: 'engine::queue::dlq', payload: { dead_letter_queue: dlq }, timeoutMs: 3000 })
    return messages.length === 1 ? messages[0] : undefined
  }, 5000, 'the dead letter')
  assert.equal([dead!.body, dead!.receive_count, dead!.source_queue, dead!.last_error.code], [{ job: 1 }, 2, 'durable:jobs:jobs::failing', 'invocation_failed'])
  // Every durable subscriber has a queue of its own; the plain one got nothing of it.
  const { queues } = await w.trigger<unknown, { queues: Array<Record<string, any>> }>({ function_id: 'engine::queue::list', payload: {}, timeoutMs: 3000 })
  assert.equal(
    queues.filter((q) => q.consumers.length > 0).map((q) => q.queue_name),
    ['durable:jobs:jobs::failing', 'durable:jobs:jobs::flaky', 'durable:jobs:jobs::ok'],
  )
  await w.trigger({ function_id: 'publish', payload: { topic: 'jobs', data: { job: 'plain' } }, timeoutMs: 3000 })
  await until(() => got.plain.length === 1, 5000, 'the plain delivery')
  assert.equal(got, { ok: [1], flaky: [1, 1, 1], failing: [1, 1], plain: ['plain'] })
}))

it('iii::durable::publish: a message for a subscriber whose function is away survives an engine restart (SQLite)', limit(async (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'signalbox-durable-'))
  ctx.closers.push(() => rmSync(dir, { recursive: true, force: true }))
  const store = { sqlite: join(dir, 'queues.sqlite') }
  await ctx.engine.stop()
  ctx.engine = await startEngine({ store })
  const port = ctx.engine.port!
  const got: unknown[] = []
  const handler = async (data: any) => void got.push(data)
  const w = sdk(ctx, ctx.engine.url!, 'durable-restart')
  const fn = w.registerFunction('audit::record', handler)
  w.registerTrigger({ type: 'durable:subscriber', function_id: 'audit::record', config: { topic: 'audit' } })
  await active(w, 1)
  // The function goes away (its trigger stays): the message waits on the subscriber's queue.
  fn.unregister()
  await until(async () => !(await w.trigger<unknown, any>({ function_id: 'engine::functions::list', payload: {}, timeoutMs: 3000 })).functions.some((f: any) => f.function_id === 'audit::record'), 3000, 'the function to go')
  await w.trigger({ function_id: 'iii::durable::publish', payload: { topic: 'audit', data: { event: 'login' } }, timeoutMs: 3000 })
  const waiting = await w.trigger<unknown, { queues: Array<Record<string, any>> }>({ function_id: 'engine::queue::list', payload: {}, timeoutMs: 3000 })
  assert.equal(waiting.queues.map((q) => [q.queue_name, q.ready]), [['durable:audit:audit::record', 1]])

  // The engine restarts on the same store and port; the worker reconnects by itself and
  // registers the function again (and replays its trigger): the message is delivered.
  await ctx.engine.stop()
  w.registerFunction('audit::record', handler)
  ctx.engine = await startEngine({ store, port })
  await until(() => got.length === 1, 8000, 'the message after the restart')
  assert.equal(got, [{ event: 'login' }])
}, 15_000))

// ------------------------------------------------------------------- 5. data channels

/** How many channels the engine holds. */
const channelCount = (engine: TestEngine) => (engine.actor.system.get('channels')?.getSnapshot().context as { size: number }).size

/** Opens a raw WebSocket (a channel end, or a refused one): resolves once open, or with the status it was refused with. */
const rawSocket = (url: string) =>
  new Promise<{ ws?: WebSocket; status?: number }>((resolve) => {
    const ws = new WebSocket(url)
    ws.once('open', () => resolve({ ws }))
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }))
    ws.once('error', () => resolve({}))
  })

it('channels: one worker creates a channel, another reads it as a stream; text messages too; released when both ends close', limit(async (ctx) => {
  const reader = sdk(ctx, ctx.engine.url!, 'channel-reader')
  const seen: { bytes?: string; messages: string[] } = { messages: [] }
  reader.registerFunction('reader::consume', async (input: any) => {
    // iii-sdk turned the ref into a ChannelReader.
    input.channel.onMessage((m: string) => seen.messages.push(m))
    seen.bytes = (await input.channel.readAll()).toString('utf8')
    return { length: seen.bytes!.length }
  })
  const writer = sdk(ctx, ctx.engine.url!, 'channel-writer')
  await until(async () => (await writer.trigger<unknown, any>({ function_id: 'engine::functions::list', payload: {}, timeoutMs: 3000 })).functions.some((f: any) => f.function_id === 'reader::consume'), 5000, 'the reader function')
  const channel = await createChannel(writer, 8)
  assert.equal([channel.writerRef.direction, channel.readerRef.direction], ['write', 'read'])
  assert.is(channel.writerRef.channel_id, channel.readerRef.channel_id)
  assert.is.not(channel.writerRef.access_key, channel.readerRef.access_key, 'each end has its own key')
  const consumed = writer.trigger({ function_id: 'reader::consume', payload: { channel: channel.readerRef }, timeoutMs: 5000 })
  channel.writer.sendMessage(JSON.stringify({ type: 'progress', n: 1 }))
  for (let i = 0; i < 50; i++) channel.writer.stream.write(Buffer.from(`chunk ${i};`))
  channel.writer.stream.end()
  const expected = Array.from({ length: 50 }, (_, i) => `chunk ${i};`).join('')
  assert.equal(await consumed, { length: expected.length })
  assert.is(seen.bytes, expected)
  assert.equal(seen.messages, ['{"type":"progress","n":1}'])
  await until(() => channelCount(ctx.engine) === 0, 3000, 'the channel to be released')
}))

it('channels: keys are checked for each end; an end opens once; buffer_size is checked', limit(async (ctx) => {
  const w = sdk(ctx, ctx.engine.url!, 'keys')
  const { writer, reader } = await w.trigger<unknown, any>({ function_id: 'engine::channels::create', payload: { buffer_size: 4 }, timeoutMs: 3000 })
  const at = (id: string, key: string, dir: string) => `${ctx.engine.url}/ws/channels/${id}?key=${encodeURIComponent(key)}&dir=${dir}`
  assert.is((await rawSocket(at('nope', reader.access_key, 'read'))).status, 404, 'an unknown channel')
  assert.is((await rawSocket(at(reader.channel_id, 'wrong', 'read'))).status, 403, 'a wrong key')
  assert.is((await rawSocket(at(reader.channel_id, writer.access_key, 'read'))).status, 403, "the writer's key does not open the reader")
  assert.is((await rawSocket(at(reader.channel_id, reader.access_key, 'sideways'))).status, 400)
  const first = await rawSocket(at(reader.channel_id, reader.access_key, 'read'))
  assert.ok(first.ws, 'the right key opens it')
  ctx.closers.push(() => first.ws!.terminate())
  assert.is((await rawSocket(at(reader.channel_id, reader.access_key, 'read'))).status, 409, 'an end opens once')
  const bad = await rejection(w.trigger({ function_id: 'engine::channels::create', payload: { buffer_size: 0 }, timeoutMs: 3000 }))
  assert.equal([bad.code, bad.message], ['invalid_message', "invalid_message: engine::channels::create: 'buffer_size' must be a whole number of frames, at least 1, got 0"])
}))

it('channels: a writer without a reader is held back (buffer_size frames), then everything arrives in order', limit(async (ctx) => {
  const w = sdk(ctx, ctx.engine.url!, 'backpressure')
  const { writer, reader } = await w.trigger<unknown, any>({ function_id: 'engine::channels::create', payload: { buffer_size: 2 }, timeoutMs: 3000 })
  const at = (ref: any) => `${ctx.engine.url}/ws/channels/${ref.channel_id}?key=${ref.access_key}&dir=${ref.direction}`
  const out = (await rawSocket(at(writer))).ws!
  ctx.closers.push(() => out.terminate())
  const frame = Buffer.alloc(64 * 1024)
  const N = 400 // 25 MiB: more than the sockets' own buffers hold
  for (let i = 0; i < N; i++) out.send(frame.fill(i % 256))
  // With no reader, the engine stops reading: most of it stays in the writer's socket.
  await until(() => out.bufferedAmount > 8 * 1024 * 1024, 5000, 'the writer to be held back')
  const before = out.bufferedAmount
  await new Promise((r) => setTimeout(r, 200)) // (only to show that it stays held back)
  assert.ok(out.bufferedAmount >= before - 2 * frame.length, `still held back: ${out.bufferedAmount} of ${before}`)
  // A reader comes: every frame arrives, in order.
  const got: number[] = []
  const inbound = (await rawSocket(at(reader))).ws!
  ctx.closers.push(() => inbound.terminate())
  inbound.on('message', (d: Buffer) => got.push(d[0]))
  await until(() => got.length === N, 20_000, 'every frame')
  assert.ok(got.every((b, i) => b === i % 256), 'in order')
  out.close()
  await until(() => channelCount(ctx.engine) === 0, 3000, 'the channel to be released')
}, 30_000))

// ----------------------------------------------------------------- 5. streaming http

/** An iii-sdk http handler the iii way: status and headers as messages, then bytes. */
const streamed = (res: any, status: number, headers: Record<string, string>) => {
  res.sendMessage(JSON.stringify({ type: 'set_status', status_code: status }))
  res.sendMessage(JSON.stringify({ type: 'set_headers', headers }))
}

it('http: a download streamed through the response channel; a plain answer as before; an empty one is 204', limit(async (ctx) => {
  const w = sdk(ctx, ctx.engine.url!, 'downloads')
  const chunk = Buffer.alloc(100 * 1024, 'x')
  w.registerFunction('files::download', async (req: any) => {
    streamed(req.response, 200, { 'content-type': 'application/octet-stream', 'x-file': 'big.bin' })
    for (let i = 0; i < 20; i++) req.response.stream.write(chunk)
    req.response.stream.end()
  })
  w.registerFunction('files::plain', async () => ({ status_code: 201, headers: { 'x-plain': 'yes' }, body: { ok: true } }))
  w.registerFunction('files::nothing', async () => undefined)
  w.registerTrigger({ type: 'http', function_id: 'files::download', config: { api_path: 'download', http_method: 'GET' } })
  w.registerTrigger({ type: 'http', function_id: 'files::plain', config: { api_path: 'plain', http_method: 'POST' } })
  w.registerTrigger({ type: 'http', function_id: 'files::nothing', config: { api_path: 'nothing', http_method: 'POST' } })
  await active(w, 3)
  const res = await fetch(`${ctx.engine.httpUrl}/download`)
  assert.is(res.status, 200)
  assert.is(res.headers.get('content-type'), 'application/octet-stream')
  assert.is(res.headers.get('x-file'), 'big.bin')
  assert.is(res.headers.get('transfer-encoding'), 'chunked')
  const body = Buffer.from(await res.arrayBuffer())
  assert.is(body.length, 20 * chunk.length)
  assert.ok(body.equals(Buffer.concat(Array(20).fill(chunk))))
  const plain = await fetch(`${ctx.engine.httpUrl}/plain`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
  assert.equal([plain.status, plain.headers.get('x-plain'), await plain.json()], [201, 'yes', { ok: true }])
  assert.is((await fetch(`${ctx.engine.httpUrl}/nothing`, { method: 'POST' })).status, 204)
  await until(() => channelCount(ctx.engine) === 0, 3000, 'every channel released')
}))

it('http: an upload larger than the body limit is streamed through request_body', limit(async (ctx) => {
  await ctx.engine.stop()
  ctx.engine = await startEngine({ http: { port: 0, maxBodyBytes: 64 * 1024 } })
  const w = sdk(ctx, ctx.engine.url!, 'uploads')
  w.registerFunction('files::upload', async (req: any) => {
    let size = 0
    let sum = 0
    for await (const chunk of req.request_body.stream as AsyncIterable<Buffer>) {
      size += chunk.length
      for (const b of chunk) sum = (sum + b) % 1_000_003
    }
    return { status_code: 200, body: { size, sum, body: req.body } }
  })
  w.registerTrigger({ type: 'http', function_id: 'files::upload', config: { api_path: 'upload', http_method: 'POST' } })
  await active(w, 1)
  const upload = Buffer.alloc(3 * 1024 * 1024)
  for (let i = 0; i < upload.length; i++) upload[i] = (i * 7) % 251
  let sum = 0
  for (const b of upload) sum = (sum + b) % 1_000_003
  const res = await fetch(`${ctx.engine.httpUrl}/upload`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: upload })
  assert.equal(await res.json(), { size: upload.length, sum, body: null })
  // A JSON body over the limit is still refused: the engine must parse it whole.
  const json = await fetch(`${ctx.engine.httpUrl}/upload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(100_000) }) })
  assert.is(json.status, 413)
}, 20_000))

it('http: server-sent events arrive one by one', limit(async (ctx) => {
  const w = sdk(ctx, ctx.engine.url!, 'events')
  const received: string[] = []
  w.registerFunction('events::stream', async (req: any) => {
    streamed(req.response, 200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    for (let n = 1; n <= 3; n++) {
      req.response.stream.write(`data: ${n}\n\n`)
      // The next event is written only once the client has this one: it was not held back.
      await until(() => received.length >= n, 5000, `event ${n} at the client`)
    }
    req.response.stream.end()
  })
  w.registerTrigger({ type: 'http', function_id: 'events::stream', config: { api_path: 'events', http_method: 'GET' } })
  await active(w, 1)
  const res = await fetch(`${ctx.engine.httpUrl}/events`)
  assert.is(res.headers.get('content-type'), 'text/event-stream')
  const reader = res.body!.getReader()
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    text += Buffer.from(value).toString('utf8')
    for (const event of text.split('\n\n').slice(received.length, -1)) received.push(event)
  }
  assert.equal(received, ['data: 1', 'data: 2', 'data: 3'])
}))

it('http: a multipart form read from request_body', limit(async (ctx) => {
  const w = sdk(ctx, ctx.engine.url!, 'forms')
  w.registerFunction('forms::submit', async (req: any) => {
    const raw = (await req.request_body.readAll()).toString('latin1')
    const boundary = /boundary=(.+)$/.exec(req.headers['content-type'])![1]
    const fields: Record<string, string> = {}
    for (const part of raw.split(`--${boundary}`)) {
      const m = /name="([^"]+)"(?:; filename="[^"]*")?\r\n(?:[^\r\n]+\r\n)*\r\n([\s\S]*)\r\n$/.exec(part)
      if (m) fields[m[1]] = m[2]
    }
    return { status_code: 200, body: fields }
  })
  w.registerTrigger({ type: 'http', function_id: 'forms::submit', config: { api_path: 'forms', http_method: 'POST' } })
  await active(w, 1)
  const form = new FormData()
  form.append('name', 'Ada')
  form.append('file', new Blob(['hello file']), 'hello.txt')
  const res = await fetch(`${ctx.engine.httpUrl}/forms`, { method: 'POST', body: form })
  assert.equal(await res.json(), { name: 'Ada', file: 'hello file' })
}))

it.run()
