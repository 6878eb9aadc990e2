/**
 * Session lifecycle: everything a session owned is released when it closes (clean or
 * not), reattach retires the previous session, workers reconnect and replay, heartbeats
 * end dead connections, and the WebSocket server's other paths.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { createEngine, type Engine, type EngineOptions } from '../adapters/engine.js'
import { ListenError } from '../adapters/listen-error.js'
import { connectWorker } from '../client/ws-client.js'
import type { CatalogState } from '../core/catalog.js'
import { actorIds, actorsOf, catalogOf } from '../machines/system.js'
import { activeTimers, eachWithEngine, limit, sleep, startEngine, until, type EngineCtx } from './harness.js'
import { peersOver, rawSocket, transports, type RawPeer } from './transports.js'

type Ctx = EngineCtx
const catalog = (engine: Engine): CatalogState => catalogOf(engine.actor.system)
const sessionIds = (engine: Engine) =>
  Object.keys(engine.actor.getSnapshot().children)
    .filter((id) => id.startsWith(actorIds.session('')))
    .map((id) => id.slice(actorIds.session('').length))

for (const transport of transports) {
  const it = suite<Ctx>(`session lifecycle over ${transport.name}`)
  eachWithEngine(it, () => ({ registrationTimeoutMs: 5000 }))
  const { raw } = peersOver(transport)

  it('closing a session leaves nothing behind: no actors, no catalog entries, no timers', limit(async (ctx) => {
    const provider = await raw(ctx)
    provider.send({ type: 'registertriggertype', id: 'webhook', description: 'd' })
    const timersBefore = activeTimers()
    const p = await raw(ctx)
    p.send({ type: 'registerfunction', id: 'mine' })
    p.send({ type: 'registertriggertype', id: 'own-type', description: 'd' })
    p.send({ type: 'registertrigger', id: 't1', trigger_type: 'webhook', function_id: 'mine', config: {} })
    const forwarded = await provider.next((m) => m.type === 'registertrigger')
    provider.send({ type: 'triggerregistrationresult', id: forwarded.id })
    await p.next((m) => m.type === 'triggerregistrationresult')
    p.send({ type: 'registertrigger', id: 't2', trigger_type: 'webhook', function_id: 'mine', config: {} }) // left pending
    await provider.next((m) => m.type === 'registertrigger' && m.id !== forwarded.id)
    provider.send({ type: 'registerfunction', id: 'never-answers' })
    p.send({ type: 'invokefunction', invocation_id: 'c1', function_id: 'never-answers', data: {} })
    await provider.next((m) => m.type === 'invokefunction')
    const system = ctx.engine.actor.system
    assert.ok(system.get(actorIds.session(p.worker_id)))
    assert.ok(system.get(actorIds.typeChild(p.worker_id, 'webhook')))
    assert.ok(system.get(actorIds.trigger(p.worker_id, 't1')))
    assert.ok(activeTimers() > timersBefore, 'a pending registration and a call hold timers')

    await p.close()
    await until(() => !system.get(actorIds.session(p.worker_id)), 2000, 'the session actor to stop')
    assert.is(system.get(actorIds.typeChild(p.worker_id, 'webhook')), undefined)
    assert.is(system.get(actorIds.trigger(p.worker_id, 't1')), undefined)
    assert.is(system.get(actorIds.trigger(p.worker_id, 't2')), undefined)
    assert.equal(sessionIds(ctx.engine), [provider.worker_id])
    const c = catalog(ctx.engine)
    assert.is(c.workers[p.worker_id], undefined)
    assert.is(c.functions.mine, undefined)
    assert.is(c.triggerTypes['own-type'], undefined)
    assert.is(c.forwarded.webhook, undefined, 'its forwarded ids are free again')
    await until(() => activeTimers() <= timersBefore, 2000, 'timers to be cleared')
    // the provider was told to drop both registrations it had been sent
    const dropped = await until(() => {
      const ids = provider.received.filter((m) => m.type === 'unregistertrigger').map((m) => m.id)
      return ids.length === 2 ? ids : undefined
    }, 2000, 'both registrations to be withdrawn')
    assert.ok(dropped!.includes(forwarded.id))
  }))

  it('reattach with the token from workerregistered ends the previous connection at once, and retires its session once the new one holds all it held', limit(async (ctx) => {
    const old = await raw(ctx)
    const hello = old.received[0]
    assert.equal(Object.keys(hello).sort(), ['reattach_token', 'type', 'worker_id'])
    old.send({ type: 'registerfunction', id: 'f' })
    await until(() => catalog(ctx.engine).functions.f)
    const fresh = await raw(ctx)
    fresh.send({ type: 'reattach', previous_worker_id: old.worker_id, reattach_token: hello.reattach_token })
    await old.ended
    // Its connection is ended; what it held is held (its function waits for a live worker) until the new session holds it.
    assert.ok(ctx.engine.actor.system.get(actorIds.session(old.worker_id)), 'held')
    assert.ok(catalog(ctx.engine).functions.f, 'its function stays while it is held')
    fresh.send({ type: 'registerfunction', id: 'f' })
    await until(() => ctx.engine.actor.system.get(actorIds.session(old.worker_id)) === undefined, 5000, 'the previous session retired')
    assert.equal(catalog(ctx.engine).functions.f.workers, [fresh.worker_id])
    assert.is(fresh.received.filter((m) => m.type === 'error').length, 0)
  }))

  it('reattach with a wrong token is refused, and the previous session lives on', limit(async (ctx) => {
    const old = await raw(ctx)
    const fresh = await raw(ctx)
    fresh.send({ type: 'reattach', previous_worker_id: old.worker_id, reattach_token: 'guess' })
    const frame = await fresh.next((m) => m.type === 'error')
    assert.equal(frame.error.code, 'unauthorized')
    assert.ok(ctx.engine.actor.system.get(actorIds.session(old.worker_id)))
    // reattaching to a session that is already gone is not an error: nothing to retire
    fresh.send({ type: 'reattach', previous_worker_id: 'gone', reattach_token: 'x' })
    fresh.send({ type: 'ping' })
    await fresh.next((m) => m.type === 'pong')
    assert.is(fresh.received.filter((m) => m.type === 'error').length, 1)
  }))

  it('reattach naming anything but a session (engine actors, prototype names) harms nothing', limit(async (ctx) => {
    const p = await raw(ctx)
    for (const id of ['__proto__', 'constructor', 'toString', 'catalog', 'invocations', 'provider:http', p.worker_id]) {
      p.send({ type: 'reattach', previous_worker_id: id, reattach_token: 'x' })
    }
    p.send({ type: 'ping' })
    assert.equal(await p.next((m) => m.type === 'pong'), { type: 'pong' })
    assert.is(ctx.engine.actor.getSnapshot().status, 'active')
    assert.is(p.received.filter((m) => m.type === 'error').length, 0)
    assert.ok(ctx.engine.actor.system.get('catalog') && ctx.engine.actor.system.get('invocations'))
  }))

  it('JSON ping is answered with pong', limit(async (ctx) => {
    const p = await raw(ctx)
    p.send({ type: 'ping' })
    assert.equal(await p.next((m) => m.type === 'pong'), { type: 'pong' })
  }))

  it('stopping the engine answers calls still in flight after the grace period', limit(async (ctx) => {
    const server = await raw(ctx)
    server.send({ type: 'registerfunction', id: 'stuck' })
    const client = await raw(ctx)
    client.send({ type: 'invokefunction', invocation_id: 'c1', function_id: 'stuck', data: {} })
    await server.next((m) => m.type === 'invokefunction')
    await ctx.engine.stop()
    const result = await client.next((m) => m.type === 'invocationresult')
    assert.equal(result.error, { code: 'worker_disconnected', message: "The engine stopped before 'stuck' answered" })
  }))

  it.run()
}

const ws = suite<Ctx>('websocket connections')
eachWithEngine(ws, () => ({ heartbeatMs: 100, reconnectGraceMs: 300 }))

ws('an unclean close holds the session for the grace period, then releases it like a clean one', limit(async (ctx) => {
  const p = await rawSocket(ctx.engine.url!)
  p.send({ type: 'registerfunction', id: 'f' })
  await until(() => catalog(ctx.engine).functions.f)
  p.socket.terminate()
  await until(() => catalog(ctx.engine).workers[p.worker_id]?.held_until, 2000, 'the hold')
  assert.equal(catalog(ctx.engine).functions.f, { workers: [], held: [p.worker_id] })
  await until(() => !catalog(ctx.engine).functions.f, 3000, 'cleanup')
  assert.equal(sessionIds(ctx.engine), [])
  assert.ok(ctx.engine.log.records.some((r) => r.msg === 'session held' && r.worker_id === p.worker_id))
  assert.ok(ctx.engine.log.records.some((r) => r.msg === 'session closed' && r.worker_id === p.worker_id && String(r.reason).startsWith('held 300 ms')))
}))

ws('a clean close releases the session at once', limit(async (ctx) => {
  const p = await rawSocket(ctx.engine.url!)
  p.send({ type: 'registerfunction', id: 'f' })
  await until(() => catalog(ctx.engine).functions.f)
  await p.close()
  await until(() => !catalog(ctx.engine).functions.f, 2000, 'cleanup')
  assert.not.ok(ctx.engine.log.records.some((r) => r.msg === 'session held'))
}))

ws('heartbeat: a connection that stops answering pings is ended; live ones stay', limit(async (ctx) => {
  const live = await rawSocket(ctx.engine.url!)
  ctx.closers.push(() => live.close())
  const dead = new WebSocket(ctx.engine.url!, { autoPong: false })
  await new Promise((r) => dead.once('open', r))
  const closed = new Promise((r) => dead.once('close', r))
  await closed
  // The dead connection's session is held for the grace period, then ends.
  await until(() => sessionIds(ctx.engine).length === 1, 3000, 'the dead session to end')
  assert.is(live.socket.readyState, WebSocket.OPEN)
  assert.equal(sessionIds(ctx.engine), [live.worker_id])
}))

ws('/otel accepts telemetry and discards it; other paths are 404', limit(async (ctx) => {
  const otel = new WebSocket(ctx.engine.url! + '/otel')
  await new Promise((r, j) => (otel.once('open', r), otel.once('error', j)))
  otel.send(Buffer.concat([Buffer.from('OTLP'), Buffer.from('{"resourceSpans":[]}')]))
  otel.send('not json at all')
  await sleep(100)
  assert.is(otel.readyState, WebSocket.OPEN)
  assert.equal(sessionIds(ctx.engine), [])
  otel.close()
  const other = new WebSocket(ctx.engine.url! + '/elsewhere')
  const status = await new Promise<number>((r) => other.once('unexpected-response', (_req, res) => r(res.statusCode!)).once('error', () => r(0)))
  assert.is(status, 404)
  const res = await fetch(ctx.engine.url!.replace('ws:', 'http:') + '/nothing')
  assert.is(res.status, 404)
}))

ws('the client reconnects after a dropped connection, reattaches and replays its registrations', limit(async (ctx) => {
  const provider = await connectWorker(ctx.engine.url!, { reconnect: false })
  ctx.closers.push(() => provider.close())
  const seen: string[] = []
  provider.registerTriggerType({ id: 'webhook', description: 'd' }, { registerTrigger: (t) => void seen.push(t.config.tag), unregisterTrigger: () => {} })
  const w = await connectWorker(ctx.engine.url!, { initialDelayMs: 20, logger: false })
  ctx.closers.push(() => w.close())
  w.registerFunction('f', () => 'from w')
  assert.is((await w.registerTrigger({ id: 't', trigger_type: 'webhook', function_id: 'f', config: { tag: 'one' } })).error, undefined)
  const before = w.workerId!
  // drop the worker's connection from the engine's side
  actorsOf(ctx.engine.actor.system).session(before)!.send({ type: 'session.close', reason: 'test drop' })
  await until(() => w.workerId !== before, 3000, 'a new session')
  await until(() => seen.length === 2, 3000, 'the trigger to be replayed')
  assert.equal(seen, ['one', 'one'])
  assert.is(await provider.invoke('f'), 'from w')
  assert.equal(sessionIds(ctx.engine).sort(), [provider.workerId!, w.workerId!].sort())
}))

ws('refused upgrades survive clients that reset the connection', limit(async (ctx) => {
  const { connect } = await import('node:net')
  const port = ctx.engine.port!
  for (const path of ['/nowhere', '/']) {
    await new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`)
        s.resetAndDestroy()
        resolve()
      })
      s.on('error', () => resolve())
    })
  }
  await sleep(100)
  const p = await rawSocket(ctx.engine.url!)
  ctx.closers.push(() => p.close())
  p.send({ type: 'ping' })
  await p.next((m) => m.type === 'pong')
}))

ws('after an engine restart, a trigger whose type comes back later is re-registered once it can be', limit(async (ctx) => {
  const port = ctx.engine.port!
  const seen: string[] = []
  const provide = async () => {
    const w = await connectWorker(ctx.engine.url!, { initialDelayMs: 20, maxDelayMs: 100, logger: false })
    w.registerTriggerType({ id: 'webhook', description: 'd' }, { registerTrigger: (t) => void seen.push(t.function_id), unregisterTrigger: () => {} })
    return w
  }
  let provider = await provide()
  const consumer = await connectWorker(ctx.engine.url!, { initialDelayMs: 20, maxDelayMs: 100, logger: false })
  consumer.registerFunction('f', () => 1)
  assert.is((await consumer.registerTrigger({ id: 't', trigger_type: 'webhook', function_id: 'f', config: {} })).error, undefined)
  provider.close()
  await ctx.engine.stop()
  ctx.engine = await startEngine({ port })
  // the consumer comes back first: its trigger's type is not there yet
  await until(() => catalog(ctx.engine).functions.f, 5000, 'the consumer to come back')
  provider = await provide()
  await until(async () => (await consumer.invoke<any>('engine::registered-triggers::list')).registered_triggers.some((t: any) => t.id === 't' && t.state === 'active'), 8000, 'the trigger to be re-registered')
  assert.equal(seen, ['f', 'f'])
  provider.close()
  consumer.close()
}, 15_000))

ws('an engine whose ports are taken rejects with a ListenError naming the listener, the address and the option', limit(async (ctx) => {
  const httpPort = Number(new URL(ctx.engine.httpUrl!).port)
  const refusal = async (options: EngineOptions): Promise<ListenError> => {
    try {
      await createEngine({ logger: ctx.engine.log, ...options })
    } catch (err) {
      return err as ListenError
    }
    throw new Error('it started')
  }
  const http = await refusal({ port: 0, http: { port: httpPort } })
  assert.instance(http, ListenError)
  assert.is(http.listener, 'http')
  assert.is(http.option, 'http.port')
  assert.is(http.reason, 'EADDRINUSE')
  assert.is(
    http.message,
    `The HTTP listener for http triggers cannot listen on 127.0.0.1:${httpPort}: the port is already in use (is another signalbox running?); stop what holds it, or give option 'http.port' another port (0 picks a free one)`,
  )
  assert.not.match(http.stack!, /xstate/, 'the stack is the caller\'s, not the actor system\'s')
  const wsErr = await refusal({ port: ctx.engine.port!, http: { port: 0 } })
  assert.instance(wsErr, ListenError)
  assert.is(wsErr.listener, 'websocket')
  assert.is(wsErr.option, 'port')
  assert.match(wsErr.message, `The WebSocket port for workers cannot listen on 127.0.0.1:${ctx.engine.port}: the port is already in use`)
  // The engine that holds them is unharmed.
  const w = await connectWorker(ctx.engine.url!, { reconnect: false, logger: false })
  assert.ok(w.workerId)
  w.close()
}))

ws('the client survives an engine restart on the same port', limit(async (ctx) => {
  const port = ctx.engine.port!
  const w = await connectWorker(ctx.engine.url!, { initialDelayMs: 20, maxDelayMs: 200, logger: false })
  w.registerFunction('f', () => 'still here')
  await until(() => catalog(ctx.engine).functions.f)
  await ctx.engine.stop()
  ctx.engine = await startEngine({ port })
  const other = await connectWorker(ctx.engine.url!, { reconnect: false })
  await until(() => catalog(ctx.engine).functions.f, 5000, 'the worker to come back')
  assert.is(await other.invoke('f'), 'still here')
  other.close()
  w.close()
}, 15_000))

ws.run()
