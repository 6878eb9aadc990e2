/**
 * A lost connection is held (docs/reconnects.md), end to end over real sockets: during
 * the hold an http request to the lost worker's route waits and is served by the worker
 * that comes back (never 404); when nobody comes back it gets 503 with Retry-After, and
 * after the hold the route is gone (404); a clean close is not held; a held queue trigger
 * leases nothing until a worker offers its function; `/healthz` counts held sessions; and
 * the bundled client, cut again and again under load through a proxy, reattaches each
 * time (retiring its held session once its replay is done, not after the hold) with no
 * 404 or 503 to HTTP clients polling its route and its cron trigger firing once per tick,
 * and takes its bindings to another worker's trigger type over without their provider
 * seeing anything; and a rolling deploy (start new, close old, which lets its calls in
 * hand finish) answers every poll 200.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connectWorker } from '../client/ws-client.js'
import { catalogOf } from '../machines/system.js'
import { eachWithEngine, limit, sleep, until, type EngineCtx, type TestEngine } from './harness.js'
import { rawSocket, type RawPeer } from './transports.js'
import { cutProxy } from './cut-proxy.js'

const catalog = (engine: TestEngine) => catalogOf(engine.actor.system)
const heldCount = (engine: TestEngine) => Object.values(catalog(engine).workers).filter((w) => w.held_until !== undefined).length

/** A raw worker serving `f` behind an http route at `/r`, answering with `tag`. */
async function routeWorker(engine: TestEngine, tag: string): Promise<RawPeer & { socket: { terminate(): void } }> {
  const p = await rawSocket(engine.url!)
  p.send({ type: 'registerfunction', id: 'f' })
  p.send({ type: 'registertrigger', id: 'r', trigger_type: 'http', function_id: 'f', config: { path: '/r' } })
  await p.next((m) => m.type === 'triggerregistrationresult')
  const serve = () =>
    p.next((m) => m.type === 'invokefunction', 60_000).then((call) => {
      p.send({ type: 'invocationresult', invocation_id: call.invocation_id, function_id: 'f', result: { body: tag } })
      serve()
    }, () => {})
  serve()
  return p
}

const it = suite<EngineCtx>('reconnects: a lost session is held')
eachWithEngine(it, () => ({ reconnectGraceMs: 1500, graceMs: 5000, limits: { callsPerSession: 2 } }))

it('during the hold a request waits, and the worker that comes back serves it: no 404', limit(async (ctx) => {
  const a = await routeWorker(ctx.engine, 'a')
  a.socket.terminate()
  await until(() => heldCount(ctx.engine) === 1, 3000, 'the hold')
  const health = (await (await fetch(ctx.engine.url!.replace('ws:', 'http:') + '/healthz')).json()) as { held_sessions: number }
  assert.is(health.held_sessions, 1)
  const waiting = fetch(`${ctx.engine.httpUrl}/r`)
  await sleep(100)
  const b = await routeWorker(ctx.engine, 'b')
  ctx.closers.push(() => b.close())
  const res = await waiting
  assert.is(res.status, 200)
  assert.is(await res.text(), 'b')
}))

it('nobody comes back: 503 with Retry-After when the hold ends, then the route is gone (404)', limit(async (ctx) => {
  const a = await routeWorker(ctx.engine, 'a')
  a.socket.terminate()
  await until(() => heldCount(ctx.engine) === 1, 3000, 'the hold')
  const started = Date.now()
  const res = await fetch(`${ctx.engine.httpUrl}/r`)
  assert.is(res.status, 503)
  assert.is(res.headers.get('retry-after'), '1')
  const body = (await res.json()) as { error: { code: string; message: string } }
  assert.is(body.error.code, 'worker_disconnected')
  assert.match(body.error.message, /No worker offered 'f' within \d+ ms/)
  assert.ok(Date.now() - started < 3000)
  await until(() => heldCount(ctx.engine) === 0, 3000, 'the hold to end')
  assert.is((await fetch(`${ctx.engine.httpUrl}/r`)).status, 404)
}))

it("calls waiting for a held worker count against the caller's limit; the engine stops without waiting for them", limit(async (ctx) => {
  const a = await routeWorker(ctx.engine, 'a')
  a.socket.terminate()
  await until(() => heldCount(ctx.engine) === 1, 3000, 'the hold')
  const caller = await rawSocket(ctx.engine.url!)
  ctx.closers.push(() => caller.close())
  for (let i = 0; i < 3; i++) caller.send({ type: 'invokefunction', invocation_id: `c${i}`, function_id: 'f', data: {} })
  // This engine's callsPerSession is 2: the third waits for nothing.
  const third = await caller.next((m) => m.type === 'invocationresult' && m.invocation_id === 'c2')
  assert.is(third.error.code, 'too_many_requests')
  const before = Date.now()
  await ctx.engine.stop()
  assert.ok(Date.now() - before < 1000, `stopped in ${Date.now() - before} ms, not after the grace of its parked calls`)
  const parked = await Promise.all(['c0', 'c1'].map((id) => caller.next((m) => m.type === 'invocationresult' && m.invocation_id === id)))
  assert.equal(parked.map((answer) => answer.error.message), ["The engine stopped before 'f' answered", "The engine stopped before 'f' answered"])
}))

it('a clean close is not held: the route is gone at once', limit(async (ctx) => {
  const a = await routeWorker(ctx.engine, 'a')
  await a.close()
  await until(async () => (await fetch(`${ctx.engine.httpUrl}/r`)).status === 404, 2000, 'the route to go')
  assert.is(heldCount(ctx.engine), 0)
}))

it('a held queue trigger leases nothing; the worker that comes back gets the message on its first receive', limit(async (ctx) => {
  const a = await rawSocket(ctx.engine.url!)
  a.send({ type: 'registerfunction', id: 'job' })
  a.send({ type: 'registertrigger', id: 'q', trigger_type: 'queue', function_id: 'job', config: { queue_name: 'jobs' } })
  await a.next((m) => m.type === 'triggerregistrationresult')
  a.socket.terminate()
  await until(() => heldCount(ctx.engine) === 1, 3000, 'the hold')
  const sender = await rawSocket(ctx.engine.url!)
  ctx.closers.push(() => sender.close())
  sender.send({ type: 'invokefunction', invocation_id: 's', function_id: 'engine::queue::send', data: { queue_name: 'jobs', body: 'work' } })
  await sender.next((m) => m.type === 'invocationresult')
  sender.send({ type: 'invokefunction', invocation_id: 'l', function_id: 'engine::queue::list', data: {} })
  const list = await sender.next((m) => m.type === 'invocationresult' && m.invocation_id === 'l')
  assert.equal(list.result.queues.find((q: { queue_name: string }) => q.queue_name === 'jobs').ready, 1, 'not leased to the held trigger')
  const b = await rawSocket(ctx.engine.url!)
  ctx.closers.push(() => b.close())
  b.send({ type: 'registerfunction', id: 'job' })
  b.send({ type: 'registertrigger', id: 'q', trigger_type: 'queue', function_id: 'job', config: { queue_name: 'jobs' } })
  const call = await b.next((m) => m.type === 'invokefunction')
  assert.equal(call.data.messages.map((m: { body: unknown; receive_count: number }) => [m.body, m.receive_count]), [['work', 1]])
  b.send({ type: 'invocationresult', invocation_id: call.invocation_id, function_id: 'job', result: null })
}))

it('a reattach sent before the registrations (as iii-sdk sends it): the held session stays until the new one holds it all; no 404 in between', limit(async (ctx) => {
  const a = await routeWorker(ctx.engine, 'a')
  const token = a.received.find((m) => m.type === 'workerregistered')!.reattach_token as string
  a.socket.terminate()
  await until(() => heldCount(ctx.engine) === 1, 3000, 'the hold')
  const b = await rawSocket(ctx.engine.url!)
  ctx.closers.push(() => b.close())
  b.send({ type: 'reattach', previous_worker_id: a.worker_id, reattach_token: token })
  b.send({ type: 'ping' })
  await b.next((m) => m.type === 'pong')
  assert.is(heldCount(ctx.engine), 1, 'still held: the new session holds nothing yet')
  // A request now waits for a worker offering the function (the route is held, never 404).
  const waiting = fetch(`${ctx.engine.httpUrl}/r`)
  b.send({ type: 'registerfunction', id: 'f' })
  const call = await b.next((m) => m.type === 'invokefunction')
  b.send({ type: 'invocationresult', invocation_id: call.invocation_id, function_id: 'f', result: { body: 'b' } })
  assert.equal([(await waiting).status, await (await waiting).text()], [200, 'b'])
  assert.is(heldCount(ctx.engine), 1, 'still held: the route is not the new session\'s yet')
  b.send({ type: 'registertrigger', id: 'r', trigger_type: 'http', function_id: 'f', config: { path: '/r' } })
  assert.not.ok((await b.next((m) => m.type === 'triggerregistrationresult')).error)
  await until(() => heldCount(ctx.engine) === 0, 1000, 'the held session to be retired once replaced')
  const again = fetch(`${ctx.engine.httpUrl}/r`)
  const second = await b.next((m) => m.type === 'invokefunction')
  b.send({ type: 'invocationresult', invocation_id: second.invocation_id, function_id: 'f', result: { body: 'b' } })
  assert.is((await again).status, 200)
}))

const cuts = suite<EngineCtx>('reconnects: the bundled client, cut again and again')
eachWithEngine(cuts, () => ({ reconnectGraceMs: 5000 }))

cuts('cut 20 times under HTTP polling: no 404, a 503 only for a call cut mid-answer, the held session retired once the replay is done, cron once per tick', limit(async (ctx) => {
  const proxy = await cutProxy(ctx.engine.url!)
  ctx.closers.push(() => proxy.close())
  const w = await connectWorker(proxy.url, { logger: false, initialDelayMs: 10, maxDelayMs: 50, name: 'cut' })
  ctx.closers.push(() => w.close())
  const ticks: string[] = []
  w.registerFunction('poll', () => ({ body: 'ok' }))
  w.registerFunction('tick', (event: { scheduled_time: string }) => void ticks.push(event.scheduled_time))
  await w.registerTrigger({ id: 'poll', trigger_type: 'http', function_id: 'poll', config: { path: '/poll' } })
  await w.registerTrigger({ id: 'tick', trigger_type: 'cron', function_id: 'tick', config: { schedule: '* * * * * *' } })
  const statuses = new Map<number, number>()
  /** The 503s: a call in the worker's hands when its connection was cut (its answer is lost). */
  const failures: Array<{ retry: string | null; message: string }> = []
  let polling = true
  const poll = async () => {
    while (polling) {
      const res = await fetch(`${ctx.engine.httpUrl}/poll`)
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      if (res.status === 503) failures.push({ retry: res.headers.get('retry-after'), message: ((await res.json()) as { error: { message: string } }).error.message })
      else await res.arrayBuffer()
    }
  }
  const pollers = [poll(), poll()]
  for (let i = 0; i < 20; i++) {
    await until(() => proxy.open === 1 && Object.keys(catalog(ctx.engine).workers).length === 1 && catalog(ctx.engine).functions.poll?.workers.length === 1, 5000, `reconnect ${i}`)
    await sleep(50)
    proxy.cut()
  }
  await until(() => proxy.open === 1 && heldCount(ctx.engine) === 0 && catalog(ctx.engine).functions.poll?.workers.length === 1, 5000, 'the last reattach')
  // The cuts may take little more than a second, and a tick whose call went out on a
  // connection just cut runs nowhere: the schedule is shown alive by a tick after the last cut.
  await until(() => ticks.length >= 1, 3000, 'a tick after the last cut')
  polling = false
  await Promise.all(pollers)
  // Never a 404: the route is held while the worker is away. A 503 only for a call the
  // worker had in hand when the cut came (at most one per poller per cut), with Retry-After;
  // never one that waited for the worker in vain.
  assert.equal([...statuses.keys()].filter((s) => s !== 200 && s !== 503), [], `statuses: ${JSON.stringify([...statuses])}`)
  assert.ok(failures.length <= 20 * pollers.length, `${failures.length} 503s`)
  for (const f of failures) {
    assert.is(f.retry, '1')
    assert.match(f.message, /disconnected before answering/)
  }
  assert.ok((statuses.get(200) ?? 0) > 20)
  // Each reattach retired the held session once the replay was done (not after its 5 s hold).
  assert.is(heldCount(ctx.engine), 0)
  assert.equal(Object.keys(catalog(ctx.engine).workers).length, 1)
  // Each tick fired once, whichever session held the trigger then.
  assert.is(new Set(ticks).size, ticks.length, `no tick twice: ${ticks.join(' ')}`)
  assert.ok(ticks.length >= 1)
}, 60_000))

cuts("a binding to another worker's trigger type is taken over as it was: its provider sees nothing when the consumer reconnects", limit(async (ctx) => {
  const seen: string[] = []
  const provider = await connectWorker(ctx.engine.url!, { logger: false, name: 'provider' })
  ctx.closers.push(() => provider.close())
  provider.registerTriggerType({ id: 'ticker' }, {
    registerTrigger: (t) => void seen.push(`register ${t.id}`),
    unregisterTrigger: (t) => void seen.push(`unregister ${t.id}`),
  })
  const proxy = await cutProxy(ctx.engine.url!)
  ctx.closers.push(() => proxy.close())
  const consumer = await connectWorker(proxy.url, { logger: false, initialDelayMs: 10, maxDelayMs: 50, name: 'consumer' })
  ctx.closers.push(() => consumer.close())
  consumer.registerFunction('on_tick', () => ({}))
  await until(() => catalog(ctx.engine).triggerTypes.ticker !== undefined, 5000, 'the type')
  const result = await consumer.registerTrigger({ id: 'every', trigger_type: 'ticker', function_id: 'on_tick', config: {} })
  assert.is(result.error, undefined, JSON.stringify(result.error))
  await until(() => seen.length === 1, 5000, 'the provider to be given the trigger')
  const first = Object.keys(catalog(ctx.engine).workers).find((w) => catalog(ctx.engine).workers[w].info.name === 'consumer')
  proxy.cut()
  await until(() => {
    const workers = catalog(ctx.engine).workers
    const consumers = Object.keys(workers).filter((w) => workers[w].info.name === 'consumer')
    return proxy.open === 1 && heldCount(ctx.engine) === 0 && consumers.length === 1 && consumers[0] !== first
  }, 5000, 'the reattach, and the held session retired')
  // Anything the engine would tell the provider about the takeover is sent with the retirement: a round trip to it shows it would have arrived.
  await provider.invoke('engine::workers::list', {})
  assert.equal(seen, ['register every'], 'the provider was told nothing more')
}, 30_000))

cuts('a rolling deploy (start the new replica, close the old): every poll answered 200, the cron trigger once per tick', limit(async (ctx) => {
  const ticks: string[] = []
  const replica = async (name: string) => {
    const w = await connectWorker(ctx.engine.url!, { logger: false, name })
    // Slow enough that the old replica has calls in hand when it is told to close.
    w.registerFunction('poll', async () => (await sleep(20), { body: name }))
    w.registerFunction('tick', (event: { scheduled_time: string }) => void ticks.push(event.scheduled_time))
    await w.registerTrigger({ id: 'poll', trigger_type: 'http', function_id: 'poll', config: { path: '/poll' } })
    await w.registerTrigger({ id: 'tick', trigger_type: 'cron', function_id: 'tick', config: { schedule: '* * * * * *' } })
    return w
  }
  const statuses = new Map<number, number>()
  const served = new Set<string>()
  let polling = true
  const poll = async () => {
    while (polling) {
      const res = await fetch(`${ctx.engine.httpUrl}/poll`)
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      served.add(await res.text())
    }
  }
  let old = await replica('v1')
  const pollers = [poll(), poll(), poll()]
  for (const version of ['v2', 'v3']) {
    await sleep(300)
    const next = await replica(version)
    await old.close()
    old = next
  }
  await sleep(300)
  polling = false
  await Promise.all(pollers)
  ctx.closers.push(() => old.close())
  assert.equal([...statuses.keys()], [200], `statuses: ${JSON.stringify([...statuses])}`)
  assert.ok(['v1', 'v2', 'v3'].every((v) => served.has(v)), `served by ${[...served]}`)
  assert.is(new Set(ticks).size, ticks.length, `no tick twice: ${ticks.join(' ')}`)
}, 30_000))

it.run()
cuts.run()
