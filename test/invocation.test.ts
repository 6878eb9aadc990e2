/**
 * Calls between workers, over every transport: routing with engine-made ids, replicas in
 * round robin, results and errors passed on unchanged, timeouts, workers that leave,
 * fire and forget, and the engine's own functions.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Engine } from '../adapters/engine.js'
import { InvocationError, type WorkerClient } from '../client/worker.js'
import { activeTimers, eachWithEngine, limit, sleep, startEngine, until, type EngineCtx } from './harness.js'
import { peersOver, transports, type RawPeer } from './transports.js'

type Ctx = EngineCtx

for (const transport of transports) {
  const it = suite<Ctx>(`invocations over ${transport.name}`)
  eachWithEngine(it, () => ({ invocationTimeoutMs: 400 }))
  const peers = peersOver(transport)
  const worker = (ctx: Ctx, name?: string) => peers.worker(ctx, { name })
  const raw = peers.raw
  const rejection = async (p: Promise<unknown>): Promise<InvocationError> => {
    try {
      await p
    } catch (err) {
      return err as InvocationError
    }
    throw new Error('expected the call to fail')
  }

  it('a call is routed to the worker offering the function and answered', limit(async (ctx) => {
    const server = await worker(ctx)
    server.registerFunction('math::add', ({ a, b }) => a + b)
    const client = await worker(ctx)
    assert.is(await client.invoke('math::add', { a: 2, b: 40 }), 42)
  }))

  it('a burst of calls reaches the serving worker whole and in order, and every answer comes back', limit(async (ctx) => {
    const server = await raw(ctx)
    server.send({ type: 'registerfunction', id: 'burst' })
    const client = await raw(ctx)
    await until(() => ctx.engine.actor.system.get('catalog').getSnapshot().context.functions.burst, 2000, 'the function to be registered')
    const n = 300
    for (let i = 0; i < n; i++) client.send({ type: 'invokefunction', invocation_id: `c${i}`, function_id: 'burst', data: { i } })
    await until(() => server.received.filter((m) => m.type === 'invokefunction').length === n, 5000, 'every call to arrive')
    const calls = server.received.filter((m) => m.type === 'invokefunction')
    assert.equal(calls.map((m) => (m.data as { i: number }).i), Array.from({ length: n }, (_, i) => i), 'frames written in one turn keep their order')
    for (const m of calls) server.send({ type: 'invocationresult', invocation_id: m.invocation_id, function_id: 'burst', result: (m.data as { i: number }).i })
    await until(() => client.received.filter((m) => m.type === 'invocationresult').length === n, 5000, 'every answer to arrive')
    const answers = client.received.filter((m) => m.type === 'invocationresult')
    assert.equal(answers.map((m) => m.invocation_id), Array.from({ length: n }, (_, i) => `c${i}`))
    assert.equal(answers.map((m) => m.result), Array.from({ length: n }, (_, i) => i))
  }))

  it('ids are engine-made both ways; the answer carries the caller\'s id and the function id', limit(async (ctx) => {
    const server = await raw(ctx)
    server.send({ type: 'registerfunction', id: 'echo' })
    const client = await raw(ctx)
    client.send({ type: 'invokefunction', invocation_id: 'mine-1', function_id: 'echo', data: { x: [1, { y: 'z' }] }, metadata: { m: 1 } })
    const delivered = await server.next((m) => m.type === 'invokefunction')
    assert.is.not(delivered.invocation_id, 'mine-1')
    assert.equal(delivered.data, { x: [1, { y: 'z' }] })
    assert.equal(delivered.metadata, { m: 1 })
    server.send({ type: 'invocationresult', invocation_id: delivered.invocation_id, function_id: 'echo', result: { ok: true } })
    assert.equal(await client.next((m) => m.type === 'invocationresult'), { type: 'invocationresult', invocation_id: 'mine-1', function_id: 'echo', result: { ok: true } })
  }))

  it('a result is accepted only from the session that was asked', limit(async (ctx) => {
    const server = await raw(ctx)
    server.send({ type: 'registerfunction', id: 'f' })
    const intruder = await raw(ctx)
    const client = await raw(ctx)
    client.send({ type: 'invokefunction', invocation_id: 'c1', function_id: 'f', data: null })
    const delivered = await server.next((m) => m.type === 'invokefunction')
    intruder.send({ type: 'invocationresult', invocation_id: delivered.invocation_id, function_id: 'f', result: 'forged' })
    const frame = await intruder.next((m) => m.type === 'error')
    assert.is(frame.error.code, 'invalid_message')
    assert.equal(frame.ref, { type: 'invocationresult', id: delivered.invocation_id })
    server.send({ type: 'invocationresult', invocation_id: delivered.invocation_id, function_id: 'f', result: 'real' })
    assert.is((await client.next((m) => m.type === 'invocationresult')).result, 'real')
  }))

  it('a result with "error": null is a result', limit(async (ctx) => {
    const server = await raw(ctx)
    server.send({ type: 'registerfunction', id: 'f' })
    const client = await raw(ctx)
    client.send({ type: 'invokefunction', invocation_id: 'c1', function_id: 'f', data: null })
    const delivered = await server.next((m) => m.type === 'invokefunction')
    server.send({ type: 'invocationresult', invocation_id: delivered.invocation_id, function_id: 'f', result: 42, error: null })
    assert.equal(await client.next((m) => m.type === 'invocationresult'), { type: 'invocationresult', invocation_id: 'c1', function_id: 'f', result: 42 })
  }))

  it('a function returning what JSON cannot carry: the caller gets an error, nothing crashes', limit(async (ctx) => {
    const server = await worker(ctx)
    server.registerFunction('big', () => ({ n: 10n }))
    server.registerFunction('loop', () => {
      const o: Record<string, unknown> = {}
      o.self = o
      return o
    })
    const client = await worker(ctx)
    for (const id of ['big', 'loop']) {
      const err = await rejection(client.invoke(id))
      assert.ok(err.code === 'invalid_result' || err.code === 'invalid_message', err.code)
    }
    const err = await rejection(client.invoke('big', { n: 1n }))
    assert.is(err.code, 'invalid_message')
    assert.is(await server.invoke('engine::workers::list').then(() => 'alive'), 'alive')
  }))

  it('errors from the serving worker are passed on unchanged', limit(async (ctx) => {
    const server = await raw(ctx)
    server.send({ type: 'registerfunction', id: 'f' })
    const client = await raw(ctx)
    client.send({ type: 'invokefunction', invocation_id: 'c1', function_id: 'f', data: null })
    const delivered = await server.next((m) => m.type === 'invokefunction')
    const error = { code: 'card_declined', message: 'Insufficient funds', details: { retry: false } }
    server.send({ type: 'invocationresult', invocation_id: delivered.invocation_id, function_id: 'f', error })
    assert.equal((await client.next((m) => m.type === 'invocationresult')).error, error)
    const w = await worker(ctx)
    w.registerFunction('boom', () => { throw Object.assign(new Error('it broke'), { code: 'broken' }) })
    const err = await rejection(w.invoke('boom'))
    assert.instance(err, InvocationError)
    assert.is(err.code, 'broken')
    assert.is(err.message, 'it broke')
  }))

  it('an unknown function: function_not_found with the reference text', limit(async (ctx) => {
    const client = await raw(ctx)
    client.send({ type: 'invokefunction', invocation_id: 'c1', function_id: 'nope', data: {} })
    assert.equal(await client.next((m) => m.type === 'invocationresult'), {
      type: 'invocationresult',
      invocation_id: 'c1',
      function_id: 'nope',
      error: { code: 'function_not_found', message: "No function registered with ID 'nope'" },
    })
  }))

  it('a mistyped function id: the reference text, and the function it probably meant in details', limit(async (ctx) => {
    const w = await worker(ctx)
    w.registerFunction('users::get', () => 'u')
    const client = await worker(ctx)
    await until(async () => (await client.invoke<any>('engine::functions::list')).functions.some((f: any) => f.function_id === 'users::get'))
    const err = await rejection(client.invoke('users::gte'))
    assert.instance(err, InvocationError)
    assert.is(err.code, 'function_not_found')
    assert.is(err.message, "No function registered with ID 'users::gte'")
    assert.is(err.details, "Did you mean 'users::get'?")
    assert.is((await rejection(client.invoke('engine::worker::list'))).details, "Did you mean 'engine::workers::list'?", 'engine functions count')
  }))

  it('replicas: calls are spread round robin over every session offering the function', limit(async (ctx) => {
    const counts = [0, 0, 0]
    for (let i = 0; i < 3; i++) {
      const w = await worker(ctx)
      w.registerFunction('work', () => ++counts[i])
    }
    const client = await worker(ctx)
    await until(async () => (await client.invoke<any>('engine::functions::list')).functions.find((f: any) => f.function_id === 'work')?.workers.length === 3)
    for (let i = 0; i < 30; i++) await client.invoke('work')
    assert.equal(counts, [10, 10, 10])
  }))

  it('a call that crossed its worker\'s unregistration (function_not_found from a worker that no longer offers it) starts again on another replica', limit(async (ctx) => {
    const a = await raw(ctx)
    const b = await raw(ctx)
    for (const p of [a, b]) p.send({ type: 'registerfunction', id: 'f' })
    await until(() => ctx.engine.actor.system.get('catalog').getSnapshot().context.functions.f?.workers.length === 2, 2000, 'both replicas')
    const client = await raw(ctx)
    // The first call goes to a; a unregisters f, then answers it as a worker without f does.
    client.send({ type: 'invokefunction', invocation_id: 'c1', function_id: 'f', data: 1 })
    const first = await a.next((m) => m.type === 'invokefunction')
    a.send({ type: 'unregisterfunction', id: 'f' })
    a.send({ type: 'invocationresult', invocation_id: first.invocation_id, function_id: 'f', error: { code: 'function_not_found', message: 'Function not found' } })
    const again = await b.next((m) => m.type === 'invokefunction')
    assert.is(again.data, 1)
    b.send({ type: 'invocationresult', invocation_id: again.invocation_id, function_id: 'f', result: 'from b' })
    assert.is((await client.next((m) => m.type === 'invocationresult' && m.invocation_id === 'c1')).result, 'from b')
    // A worker that still offers the function and answers function_not_found: its own error, passed on.
    client.send({ type: 'invokefunction', invocation_id: 'c2', function_id: 'f', data: 2 })
    const second = await b.next((m) => m.type === 'invokefunction' && m.data === 2)
    b.send({ type: 'invocationresult', invocation_id: second.invocation_id, function_id: 'f', error: { code: 'function_not_found', message: 'a function it called was not found' } })
    const passed = await client.next((m) => m.type === 'invocationresult' && m.invocation_id === 'c2')
    assert.equal(passed.error, { code: 'function_not_found', message: 'a function it called was not found' })
  }))

  it('a replica that leaves stops getting calls; the rest serve on', limit(async (ctx) => {
    const a = await worker(ctx)
    a.registerFunction('work', () => 'a')
    const b = await worker(ctx)
    b.registerFunction('work', () => 'b')
    const client = await worker(ctx)
    a.close()
    await until(async () => (await client.invoke<any>('engine::functions::list')).functions.find((f: any) => f.function_id === 'work')?.workers.length === 1)
    for (let i = 0; i < 5; i++) assert.is(await client.invoke('work'), 'b')
  }))

  it('timeouts: the engine default, and timeout_ms per call', limit(async (ctx) => {
    const server = await raw(ctx)
    server.send({ type: 'registerfunction', id: 'slow' })
    const client = await raw(ctx)
    const started = Date.now()
    client.send({ type: 'invokefunction', invocation_id: 'c1', function_id: 'slow', data: {}, timeout_ms: 100 })
    const quick = await client.next((m) => m.type === 'invocationresult' && m.invocation_id === 'c1')
    assert.equal(quick.error, { code: 'invocation_timeout', message: "Function 'slow' did not answer within 100 ms" })
    assert.ok(Date.now() - started < 390, 'timeout_ms applied, not the default')
    client.send({ type: 'invokefunction', invocation_id: 'c2', function_id: 'slow', data: {} })
    const slow = await client.next((m) => m.type === 'invocationresult' && m.invocation_id === 'c2')
    assert.equal(slow.error, { code: 'invocation_timeout', message: "Function 'slow' did not answer within 400 ms" })
    // the late answer changes nothing for the caller, and the server is told
    const delivered = server.received.filter((m) => m.type === 'invokefunction')
    server.send({ type: 'invocationresult', invocation_id: delivered[0].invocation_id, function_id: 'slow', result: 'late' })
    assert.is((await server.next((m) => m.type === 'error')).error.code, 'invalid_message')
    await sleep(50)
    assert.is(client.received.filter((m) => m.type === 'invocationresult').length, 2)
  }))

  it('a serving worker that disconnects: worker_disconnected for its callers', limit(async (ctx) => {
    const server = await raw(ctx)
    server.send({ type: 'registerfunction', id: 'f' })
    const client = await raw(ctx)
    client.send({ type: 'invokefunction', invocation_id: 'c1', function_id: 'f', data: {} })
    await server.next((m) => m.type === 'invokefunction')
    await server.close()
    const result = await client.next((m) => m.type === 'invocationresult')
    assert.is(result.error.code, 'worker_disconnected')
    assert.is(result.invocation_id, 'c1')
  }))

  it('a caller that disconnects: its pending calls are dropped, the server\'s answer goes nowhere', limit(async (ctx) => {
    const server = await raw(ctx)
    server.send({ type: 'registerfunction', id: 'f' })
    const client = await raw(ctx)
    const timersBefore = activeTimers()
    client.send({ type: 'invokefunction', invocation_id: 'c1', function_id: 'f', data: {} })
    const delivered = await server.next((m) => m.type === 'invokefunction')
    await client.close()
    await until(() => activeTimers() <= timersBefore, 2000, 'the call\'s deadline timer to be cleared')
    server.send({ type: 'invocationresult', invocation_id: delivered.invocation_id, function_id: 'f', result: 1 })
    assert.is((await server.next((m) => m.type === 'error')).error.code, 'invalid_message')
  }))

  it('fire and forget: action void, or no invocation_id, gets no answer', limit(async (ctx) => {
    const server = await raw(ctx)
    server.send({ type: 'registerfunction', id: 'f' })
    const client = await raw(ctx)
    client.send({ type: 'invokefunction', invocation_id: 'v1', function_id: 'f', data: 1, action: { type: 'void' } })
    client.send({ type: 'invokefunction', function_id: 'f', data: 2 })
    client.send({ type: 'invokefunction', function_id: 'nope', data: 3, action: { type: 'void' } })
    const first = await server.next((m) => m.type === 'invokefunction' && m.data === 1)
    const second = await server.next((m) => m.type === 'invokefunction' && m.data === 2)
    assert.is(first.invocation_id, undefined)
    assert.is(second.invocation_id, undefined)
    await sleep(100)
    assert.is(client.received.filter((m) => m.type === 'invocationresult' || m.type === 'error').length, 0)
  }))

  it('enqueue: answered at once with a message id, then run through the queue', limit(async (ctx) => {
    const server = await raw(ctx)
    server.send({ type: 'registerfunction', id: 'f' })
    const client = await raw(ctx)
    client.send({ type: 'invokefunction', invocation_id: 'q1', function_id: 'f', data: { job: 7 }, action: { type: 'enqueue', queue: 'jobs' } })
    const answer = await client.next((m) => m.type === 'invocationresult')
    assert.type(answer.result.message_id, 'string')
    assert.is(answer.result.messageReceiptId, answer.result.message_id)
    const delivered = await server.next((m) => m.type === 'invokefunction')
    assert.equal(delivered.data, { job: 7 })
    server.send({ type: 'invocationresult', invocation_id: delivered.invocation_id, function_id: 'f', result: 'done' })
    client.send({ type: 'invokefunction', invocation_id: 'q2', function_id: 'f', data: {}, action: { type: 'enqueue', queue: 'no spaces' } })
    const bad = await client.next((m) => m.type === 'invocationresult' && m.invocation_id === 'q2')
    assert.is(bad.error.code, 'invalid_message')
    assert.match(bad.error.message, "'action.queue' must be 1 to 128 letters")
  }))

  it('engine functions describe workers, functions, trigger types and triggers', limit(async (ctx) => {
    const w = await worker(ctx, 'billing')
    w.registerFunction('invoices::create', () => 1, { description: 'Creates an invoice' })
    w.registerTriggerType({ id: 'webhook', description: 'Incoming webhooks' }, { registerTrigger: () => {}, unregisterTrigger: () => {} })
    assert.is((await w.registerTrigger({ id: 'h', trigger_type: 'webhook', function_id: 'invoices::create', config: { path: '/i' } })).error, undefined)
    const workers = await w.invoke<any>('engine::workers::list')
    const me = workers.workers.find((x: any) => x.worker_id === w.workerId)
    assert.is(me.name, 'billing')
    assert.is(me.runtime, 'node')
    assert.equal(me.functions, ['invoices::create'])
    assert.equal(me.trigger_types, ['webhook'])
    assert.is(me.triggers, 1)
    const fns = await w.invoke<any>('engine::functions::list')
    assert.equal(fns.functions.find((f: any) => f.function_id === 'invoices::create'), { function_id: 'invoices::create', worker_name: 'billing', description: 'Creates an invoice', workers: [w.workerId] })
    assert.ok(fns.functions.some((f: any) => f.function_id === 'engine::triggers::list' && f.engine && f.worker_name === 'engine'))
    // Trigger types: engine::triggers::list (iii 0.22.1's name), and signalbox's alias.
    const types = await w.invoke<any>('engine::triggers::list')
    assert.equal(types.triggers.filter((t: any) => t.worker_id !== 'engine'), [{ id: 'webhook', worker_name: 'billing', description: 'Incoming webhooks', worker_id: w.workerId }])
    const alias = await w.invoke<any>('engine::trigger-types::list')
    assert.equal(alias.trigger_types.filter((t: any) => t.worker_id !== 'engine'), [{ id: 'webhook', description: 'Incoming webhooks', worker_id: w.workerId }])
    // Trigger registrations (instances): engine::registered-triggers::list.
    const triggers = await w.invoke<any>('engine::registered-triggers::list')
    assert.equal(triggers.registered_triggers, [
      { id: 'h', trigger_type: 'webhook', function_id: 'invoices::create', worker_name: 'billing', config: { path: '/i' }, config_summary: '{"path":"/i"}', worker_id: w.workerId, state: 'active' },
    ])
  }))
  it.run()
}
