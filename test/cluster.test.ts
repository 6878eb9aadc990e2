/**
 * A cluster of engines: `signalbox serve --cluster nats://…` child processes on one real
 * nats-server -js (test/nats-server.ts), workers connected to each over WebSocket. Calls
 * cross engines (direct, void, enqueued), with their trace context; nobody serving is
 * `function_not_found`; an engine killed mid-call is `worker_disconnected`; a route
 * registered on one engine is served by every engine's listener; a cron trigger held on
 * three engines fires once per tick.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '@nats-io/transport-node'
import { InvocationError } from '../client/worker.js'
import { callSubject } from '../protocol/cluster.js'
import { limit, until } from './harness.js'
import { cleanUp, nats, rawWorker, serve, whenServed, worker, type Server } from './cluster-harness.js'

const cli = fileURLToPath(new URL('../cli.js', import.meta.url))

const it = suite('cluster (signalbox serve --cluster)')
it.before(() => nats.start())
it.after(() => nats.stop())
it.after.each(cleanUp)

it('a worker on engine A calls a function only a worker on engine B serves: direct, void, enqueued; errors pass back', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const caller = await worker(a.url)
  const server = await worker(b.url)
  const voids: unknown[] = []
  const queued: unknown[] = []
  server.registerFunction('math::add', (d: { a: number; b: number }) => d.a + d.b)
  server.registerFunction('math::fail', () => {
    throw Object.assign(new Error('no such number'), { code: 'bad_number' })
  })
  server.registerFunction('log::write', (d: unknown) => void voids.push(d))
  server.registerFunction('orders::ship', (d: unknown) => void queued.push(d))

  assert.is(await whenServed(caller, 'math::add', { a: 2, b: 3 }), 5)
  // Concurrent calls, each answered to its own caller.
  const sums = await Promise.all(Array.from({ length: 50 }, (_, i) => caller.invoke('math::add', { a: i, b: 1 })))
  assert.equal(sums, Array.from({ length: 50 }, (_, i) => i + 1))
  // The serving worker's error, as it gave it.
  try {
    await caller.invoke('math::fail', {})
    assert.unreachable('the call should fail')
  } catch (err) {
    assert.instance(err, InvocationError)
    assert.is((err as InvocationError).code, 'bad_number')
  }
  // Nobody in the cluster serves it.
  try {
    await caller.invoke('math::nobody', {})
    assert.unreachable('the call should fail')
  } catch (err) {
    assert.is((err as InvocationError).code, 'function_not_found')
  }
  // Void: fire and forget.
  await until(async () => (await whenServed(caller, 'log::write', { probe: true }), true), 5000, 'log::write served')
  caller.invokeVoid('log::write', { line: 1 })
  await until(() => voids.some((v) => (v as { line?: number }).line === 1), 5000, 'the void call to arrive on engine B')
  // Enqueued on A (the JetStream store they share), run on B.
  await whenServed(caller, 'orders::ship', { probe: true })
  const sent = await caller.invoke<{ message_id: string }>('orders::ship', { order: 7 }, { action: { type: 'enqueue', queue: 'shipping' } } as any)
  assert.type(sent.message_id, 'string')
  await until(() => queued.some((q) => (q as { order?: number }).order === 7), 10_000, 'the enqueued call to run on engine B')
  // B's worker leaves (unregistering its functions first): nobody serves them any more.
  await server.close()
  await until(
    async () => caller.invoke('math::add', { a: 1, b: 1 }, { timeout_ms: 2000 }).then(() => false, (err: InvocationError) => err.code === 'function_not_found'),
    15_000,
    'math::add to be unserved once its worker left',
  )
}, 60_000))

it('http, cron and queue triggers registered on engine A reach a function served only on engine B', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const onB = await worker(b.url)
  const ticks: unknown[] = []
  const batches: unknown[] = []
  onB.registerFunction('b::page', (input: { path: string }) => ({ status_code: 200, body: { served_by: 'b', path: input.path } }))
  onB.registerFunction('b::tick', (d: unknown) => void ticks.push(d))
  onB.registerFunction('b::jobs', (batch: { messages: Array<{ body: unknown }> }) => void batches.push(...batch.messages.map((m) => m.body)))
  const onA = await worker(a.url)
  // A knows of B's functions from B's heartbeat: until then, binding them is refused as unknown.
  const bind = (request: Parameters<typeof onA.registerTrigger>[0]) =>
    until(async () => {
      const result = await onA.registerTrigger(request)
      if (result.error?.code === 'function_not_found') return undefined
      assert.not.ok(result.error, JSON.stringify(result))
      return result
    }, 10_000, `${request.id} to be accepted on A`)
  await bind({ id: 'page', trigger_type: 'http', function_id: 'b::page', config: { path: '/page', method: 'GET' } })
  await bind({ id: 'tick', trigger_type: 'cron', function_id: 'b::tick', config: { schedule: '* * * * * *' } })
  await bind({ id: 'jobs', trigger_type: 'queue', function_id: 'b::jobs', config: { queue_name: 'jobs', batch_size: 5 } })
  const page = await fetch(`${a.httpUrl}/page`)
  assert.is(page.status, 200)
  assert.equal(await page.json(), { served_by: 'b', path: '/page' })
  await until(() => ticks.length >= 2, 10_000, "A's cron trigger to run B's function twice")
  await onB.invoke('engine::queue::send', { queue_name: 'jobs', body: { job: 1 } })
  await until(() => batches.some((m) => (m as { job?: number }).job === 1), 10_000, "A's queue trigger to hand the message to B's function")
}, 60_000))

it('trace context and metadata cross engines with the call', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const serving = await rawWorker(b.url)
  serving.send({ type: 'registerfunction', id: 'trace::echo' })
  const caller = await rawWorker(a.url)
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
  let n = 0
  await until(
    () => {
      const answered = caller.frames.find((f) => f.type === 'invocationresult' && f.invocation_id === `t${n}`)
      if (answered && !answered.error) return true
      if (answered || n === 0) {
        n++
        caller.send({ type: 'invokefunction', invocation_id: `t${n}`, function_id: 'trace::echo', data: { n }, traceparent, baggage: 'tenant=acme', metadata: { who: 'a' } })
      }
      // Answer what arrived on B.
      for (const f of serving.frames.splice(0)) {
        if (f.type === 'invokefunction') serving.send({ type: 'invocationresult', invocation_id: f.invocation_id, function_id: f.function_id, result: { traceparent: f.traceparent, baggage: f.baggage, metadata: f.metadata, data: f.data } })
      }
      return false
    },
    10_000,
    'trace::echo to be served across engines',
  )
  const answer = caller.frames.find((f) => f.type === 'invocationresult' && f.invocation_id === `t${n}`)!
  assert.equal(answer.result, { traceparent, baggage: 'tenant=acme', metadata: { who: 'a' }, data: { n } })
}, 60_000))

it('engine B killed (SIGKILL) mid-call: the caller on A gets worker_disconnected, well before its timeout', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const caller = await worker(a.url)
  const server = await worker(b.url)
  let started = 0
  server.registerFunction('slow::op', (d: { probe?: boolean }) => (d.probe ? 'ready' : (started++, new Promise(() => {}))))
  assert.is(await whenServed(caller, 'slow::op', { probe: true }), 'ready')
  const t0 = Date.now()
  const call = caller.invoke('slow::op', {}, { timeout_ms: 25_000 }).then(
    () => 'answered',
    (err: InvocationError) => err.code,
  )
  await until(() => started === 1, 5000, 'the call to reach engine B')
  b.child.kill('SIGKILL')
  assert.is(await call, 'worker_disconnected')
  console.log(`answered ${Date.now() - t0} ms after the call`)
  assert.ok(Date.now() - t0 < 15_000, `answered after ${Date.now() - t0} ms`)
}, 60_000))

it('one HTTP surface: a route registered on engine B is served by engine A\'s listener; it goes when its trigger goes; a conflict is refused cluster-wide with the one-engine text', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const onB = await worker(b.url)
  onB.registerFunction('hello::http', (input: { path_params: Record<string, string>; query_params: Record<string, unknown> }) => ({ status_code: 200, body: { hello: input.path_params.name, from: 'b' } }))
  onB.registerFunction('other::http', () => ({ status_code: 200, body: 'other' }))
  const registered = await onB.registerTrigger({ id: 'hello', trigger_type: 'http', function_id: 'hello::http', config: { path: '/hello/:name', method: 'GET' } })
  assert.not.ok(registered.error, JSON.stringify(registered))
  const t0 = Date.now()
  const res = await until(async () => {
    const r = await fetch(`${a.httpUrl}/hello/ada`)
    return r.status === 200 ? r : (await r.text(), undefined)
  }, 10_000, "B's route on A's listener")
  assert.equal(await res!.json(), { hello: 'ada', from: 'b' })
  const appeared = Date.now() - t0
  assert.ok(appeared < 2000, `the route appeared on A after ${appeared} ms`)
  // The same route bound to another function: refused on A as on B, with the same text.
  const onA = await worker(a.url)
  onA.registerFunction('mine::http', () => ({ status_code: 200, body: 'mine' }))
  const onBAgain = await onB.registerTrigger({ id: 'clash', trigger_type: 'http', function_id: 'other::http', config: { path: '/hello/:name', method: 'GET' } })
  const onAClash = await onA.registerTrigger({ id: 'clash', trigger_type: 'http', function_id: 'mine::http', config: { path: '/hello/:name', method: 'GET' } })
  assert.is(onBAgain.error?.code, 'invalid_config')
  assert.is(onAClash.error?.code, 'invalid_config')
  assert.is(onAClash.error?.message, onBAgain.error?.message)
  // The trigger goes on B: the route goes on A as well.
  onB.unregisterTrigger('hello', 'http')
  await until(async () => (await fetch(`${a.httpUrl}/hello/ada`)).status === 404, 5000, 'the route to leave A')
}, 60_000))

it('listings and /healthz show the cluster: every engine\'s workers, functions and triggers, each with its engine id', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const health = async (server: Server) => (await (await fetch(`${server.url.replace(/^ws:/, 'http:')}/healthz`)).json()) as { cluster: { engine_id: string; engines: Array<{ engine_id: string; url: string; functions: number }> } }
  const onA = await worker(a.url)
  const onB = await worker(b.url)
  onA.registerFunction('a::fn', () => 'a')
  onB.registerFunction('b::fn', () => 'b')
  await whenServed(onA, 'b::fn')
  const [ha, hb] = await Promise.all([health(a), health(b)])
  assert.is.not(ha.cluster.engine_id, hb.cluster.engine_id)
  const engines = await until(async () => {
    const h = await health(a)
    return h.cluster.engines.length === 2 && h.cluster.engines.every((e) => e.functions === 1) ? h.cluster.engines : undefined
  }, 5000, 'both engines in /healthz') as Array<{ engine_id: string; url: string; functions: number }>
  assert.equal(engines.map((e) => e.engine_id).sort(), [ha.cluster.engine_id, hb.cluster.engine_id].sort())
  assert.equal(engines.find((e) => e.engine_id === hb.cluster.engine_id)!.url, b.url)

  const { workers } = await onA.invoke<{ workers: Array<{ worker_id: string; engine_id: string; functions: string[] }> }>('engine::workers::list')
  assert.equal(workers.map((w) => [w.engine_id, w.functions.join()]).sort(), [[ha.cluster.engine_id, 'a::fn'], [hb.cluster.engine_id, 'b::fn']].sort())
  const { functions } = await onB.invoke<{ functions: Array<{ function_id: string; engine_id: string; engine?: boolean }> }>('engine::functions::list')
  const offered = functions.filter((f) => !f.engine).map((f) => [f.function_id, f.engine_id])
  assert.equal(offered.sort(), [['a::fn', ha.cluster.engine_id], ['b::fn', hb.cluster.engine_id]].sort())
  // The engine's own functions once.
  assert.is(functions.filter((f) => f.function_id === 'engine::workers::list').length, 1)
  assert.not.ok((await onB.registerTrigger({ id: 'every-minute', trigger_type: 'cron', function_id: 'b::fn', config: { schedule: '0 * * * *' } })).error)
  const { registered_triggers } = await onA.invoke<{ registered_triggers: Array<{ id: string; engine_id: string }> }>('engine::registered-triggers::list')
  assert.equal(registered_triggers.map((t) => [t.id, t.engine_id]), [['every-minute', hb.cluster.engine_id]])
  // `signalbox ls` asked on A: an ENGINE column, B's worker on B.
  const ls = spawnSync(process.execPath, [cli, 'ls', 'functions', '--url', a.url], { encoding: 'utf8', env: { ...process.env, SIGNALBOX_CONFIG: '' } })
  assert.is(ls.status, 0, ls.stderr)
  const [head, ...lines] = ls.stdout.trim().split('\n')
  assert.match(head, /FUNCTION_ID\s+SERVED_BY\s+DESCRIPTION\s+ENGINE/)
  assert.ok(lines.some((l) => l.startsWith('b::fn') && l.endsWith(hb.cluster.engine_id)), ls.stdout)
}, 60_000))

it('garbage published on a call subject is refused, answered when it has a reply subject, and the engine serves on', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const caller = await worker(a.url)
  const server = await worker(b.url)
  server.registerFunction('math::add', (d: { a: number; b: number }) => d.a + d.b)
  assert.is(await whenServed(caller, 'math::add', { a: 1, b: 1 }), 2)
  const nc = await connect({ servers: nats.url })
  try {
    const subject = callSubject('signalbox', 'math::add')
    const bodies = ['null', '"a string"', '{"data":{"a":1,"b":2}}', '[1,2]', '{"from":"x","timeout_ms":"soon"}', '{not json', '']
    // Without a reply subject first (nobody to answer), then asked: each answered invalid_message.
    for (const body of bodies) nc.publish(subject, new TextEncoder().encode(body))
    for (const body of bodies) {
      const answer = await nc.request(subject, new TextEncoder().encode(body), { timeout: 5000 })
      const reply = JSON.parse(new TextDecoder().decode(answer.data)) as { error?: { code: string; message: string } }
      assert.is(reply.error?.code, 'invalid_message', `${body}: ${JSON.stringify(reply)}`)
      assert.match(reply.error!.message, "math::add")
    }
  } finally {
    await nc.close()
  }
  // The serving engine's connection reads on: calls across engines are answered.
  const sums = await Promise.all(Array.from({ length: 10 }, (_, i) => caller.invoke('math::add', { a: i, b: 1 }, { timeout_ms: 5000 })))
  assert.equal(sums, Array.from({ length: 10 }, (_, i) => i + 1))
}, 60_000))

it('a function id of 1024 characters (the most) is called across engines (subjects are digests)', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const caller = await worker(a.url)
  const server = await worker(b.url)
  // 3 bytes each in UTF-8: its base64url would be a subject of 4096 characters, past NATS's control line of 4096.
  const id = '€'.repeat(1024)
  server.registerFunction(id, (d: { n: number }) => d.n * 2)
  assert.is(await whenServed(caller, id, { n: 21 }), 42)
  assert.is(await caller.invoke(id, { n: 5 }, { timeout_ms: 5000 }), 10)
}, 60_000))

it('a call larger than NATS max_payload is refused with payload_too_large (direct) or dropped (void); the engine calls on', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const caller = await worker(a.url)
  const server = await worker(b.url)
  const voids: unknown[] = []
  server.registerFunction('blob::size', (d: { blob?: string; n?: number }) => d.blob?.length ?? d.n)
  server.registerFunction('blob::void', (d: unknown) => void voids.push(d))
  assert.is(await whenServed(caller, 'blob::size', { n: 1 }), 1)
  const blob = 'x'.repeat(2 * 1024 * 1024)
  try {
    await caller.invoke('blob::size', { blob }, { timeout_ms: 5000 })
    assert.unreachable('the call should fail')
  } catch (err) {
    assert.instance(err, InvocationError)
    assert.is((err as InvocationError).code, 'payload_too_large')
    assert.match((err as InvocationError).message, /max_payload/)
  }
  await whenServed(caller, 'blob::void', { n: 0 })
  caller.invokeVoid('blob::void', { blob })
  caller.invokeVoid('blob::void', { n: 1 })
  await until(() => voids.some((v) => (v as { n?: number }).n === 1), 5000, 'the small void call after the large one')
  assert.not.ok(voids.some((v) => (v as { blob?: string }).blob !== undefined), 'the large void call did not cross')
  // The cluster actor lives on: calls cross both ways.
  assert.is(await caller.invoke('blob::size', { n: 7 }, { timeout_ms: 5000 }), 7)
  const back = await worker(b.url)
  const onA = await worker(a.url)
  onA.registerFunction('a::echo', (d: unknown) => d)
  assert.equal(await whenServed(back, 'a::echo', { ok: true }), { ok: true })
}, 60_000))

it('a cron trigger held on three engines fires once per tick across the cluster', limit(async () => {
  const engines = await Promise.all([serve(), serve(), serve()])
  /** Runs by scheduled time. */
  const runs = new Map<string, number>()
  await Promise.all(
    engines.map(async (engine, i) => {
      const w = await worker(engine.url)
      w.registerFunction('report::hourly', (d: { scheduled_time: string }) => {
        runs.set(d.scheduled_time, (runs.get(d.scheduled_time) ?? 0) + 1)
      })
      // iii-sdk gives each trigger a random id: the replicas are told alike by their function, schedule and metadata.
      const result = await w.registerTrigger({ id: `every-second-${i}`, trigger_type: 'cron', function_id: 'report::hourly', config: { schedule: '* * * * * *' } })
      assert.not.ok(result.error, JSON.stringify(result))
    }),
  )
  await until(() => runs.size >= 6, 20_000, 'six ticks')
  // A tick's other runs, if any, would have come long before two later ticks.
  const settled = [...runs.keys()].sort().slice(0, -2)
  for (const tick of settled) assert.is(runs.get(tick), 1, `${tick} ran ${runs.get(tick)} times (${JSON.stringify([...runs])})`)
}, 60_000))

it('a cron trigger with 3.5 KB of metadata held on two engines fires once per tick (its claim key is a digest)', limit(async () => {
  const engines = await Promise.all([serve(), serve()])
  const runs = new Map<string, number>()
  const metadata = { blob: 'm'.repeat(3500) }
  await Promise.all(
    engines.map(async (engine, i) => {
      const w = await worker(engine.url)
      w.registerFunction('report::big', (d: { scheduled_time: string }) => void runs.set(d.scheduled_time, (runs.get(d.scheduled_time) ?? 0) + 1))
      const result = await w.registerTrigger({ id: `big-${i}`, trigger_type: 'cron', function_id: 'report::big', config: { schedule: '* * * * * *' }, metadata } as any)
      assert.not.ok(result.error, JSON.stringify(result))
    }),
  )
  await until(() => runs.size >= 5, 20_000, 'five ticks')
  const settled = [...runs.keys()].sort().slice(0, -2)
  for (const tick of settled) assert.is(runs.get(tick), 1, `${tick} ran ${runs.get(tick)} times (${JSON.stringify([...runs])})`)
}, 60_000))

it.run()
