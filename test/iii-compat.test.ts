/**
 * Workers written for iii run unchanged: each behaviour tracker issue 13 names, driven by
 * the published iii-sdk@0.22.1 against a real engine over real sockets (createEngine on
 * free ports; the SDK connects to its WebSocket URL and calls its HTTP listener).
 *
 * - paths written without a leading slash (`api_path: 'health'`) are served;
 * - a provider of a worker-defined type sees the consumer's own trigger id, and sees the
 *   same id again after it reconnects, and after the consumer reconnects;
 *
 * (docs/iii-compatibility.md lists every iii message, engine function and trigger type
 * with signalbox's support for each.)
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { registerWorker } from 'iii-sdk'
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
  const listed = (await via.trigger({ function_id: 'engine::triggers::list', payload: {}, timeoutMs: 3000 })) as { triggers: Array<Record<string, any>> }
  return listed.triggers
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

it.run()
