/**
 * Limits, end to end (docs/limits.md), over every transport: a session past its functions,
 * triggers or trigger types is answered `too_many_requests` and keeps working, and another
 * session notices nothing; a session with too many calls waiting is answered too, while
 * another session's calls go on; the engine at its calls in flight answers an http trigger
 * 429 with `Retry-After`; a queue message larger than the limit is refused
 * `payload_too_large` whether sent or enqueued, and nothing is stored.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { eachWithEngine, limit, until, type EngineCtx } from './harness.js'
import { peersOver, transports, untilOffered } from './transports.js'

for (const transport of transports) {
  const it = suite<EngineCtx>(`limits over ${transport.name}`)
  const { raw } = peersOver(transport)
  eachWithEngine(it, () => ({
    limits: { functionsPerSession: 2, triggersPerSession: 2, triggerTypesPerSession: 1, callsPerSession: 3, queueMessageBytes: 100 },
  }))

  it('functions, trigger types and triggers past the session limit: too_many_requests; the session goes on, others notice nothing', limit(async (ctx) => {
    const p = await raw(ctx)
    const other = await raw(ctx)
    for (const id of ['f1', 'f2', 'f3']) p.send({ type: 'registerfunction', id })
    const tooMany = await p.next((m) => m.type === 'error')
    assert.is(tooMany.error.code, 'too_many_requests')
    assert.is(tooMany.error.message, 'This worker already has 2 functions, the most allowed (option limits.functionsPerSession)')
    assert.equal(tooMany.ref, { type: 'registerfunction', id: 'f3' })
    p.send({ type: 'registertriggertype', id: 'a' })
    p.send({ type: 'registertriggertype', id: 'b' })
    assert.match((await p.next((m) => m.type === 'error')).error.message, /1 trigger types, the most allowed \(option limits.triggerTypesPerSession\)/)
    for (const id of ['t1', 't2', 't3']) p.send({ type: 'registertrigger', id, trigger_type: 'cron', function_id: 'f1', config: { schedule: '0 0 1 1 *' } })
    const results = await Promise.all(['t1', 't2', 't3'].map((id) => p.next((m) => m.type === 'triggerregistrationresult' && m.id === id)))
    assert.equal(results.map((m) => m.error?.code), [undefined, undefined, 'too_many_requests'])
    // Room again once one goes; the other session was never limited by this one.
    p.send({ type: 'unregistertrigger', id: 't1' })
    p.send({ type: 'registertrigger', id: 't3', trigger_type: 'cron', function_id: 'f1', config: { schedule: '0 0 1 1 *' } })
    assert.is((await p.next((m) => m.type === 'triggerregistrationresult' && m.id === 't3')).error, undefined)
    for (const id of ['g1', 'g2']) other.send({ type: 'registerfunction', id })
    other.send({ type: 'registertrigger', id: 'x', trigger_type: 'cron', function_id: 'g1', config: { schedule: '0 0 1 1 *' } })
    assert.is((await other.next((m) => m.type === 'triggerregistrationresult')).error, undefined)
    assert.not.ok(other.received.some((m) => m.type === 'error'))
  }))

  it('calls a session waits for, past its limit: too_many_requests; another session still calls', limit(async (ctx) => {
    const server = await raw(ctx)
    server.send({ type: 'registerfunction', id: 'slow' })
    const caller = await raw(ctx)
    const other = await raw(ctx)
    await until(() => ctx.engine.actor.system.get('catalog')!.getSnapshot().context.functions.slow)
    for (let i = 1; i <= 4; i++) caller.send({ type: 'invokefunction', invocation_id: `c${i}`, function_id: 'slow', data: i })
    const refused = await caller.next((m) => m.type === 'invocationresult' && m.invocation_id === 'c4')
    assert.is(refused.error.code, 'too_many_requests')
    assert.match(refused.error.message, /3 calls waiting for an answer, the most allowed \(option limits.callsPerSession\)/)
    other.send({ type: 'invokefunction', invocation_id: 'o1', function_id: 'slow', data: 'o' })
    // The server sees the three calls and the other session's: answering them frees the caller.
    const calls = await Promise.all([1, 2, 3, 4].map(() => server.next((m) => m.type === 'invokefunction')))
    assert.equal(calls.map((c) => c.data).sort(), [1, 2, 3, 'o'])
    for (const c of calls) server.send({ type: 'invocationresult', invocation_id: c.invocation_id, function_id: 'slow', result: c.data })
    assert.is((await other.next((m) => m.type === 'invocationresult' && m.invocation_id === 'o1')).result, 'o')
    await Promise.all(['c1', 'c2', 'c3'].map((id) => caller.next((m) => m.type === 'invocationresult' && m.invocation_id === id)))
    caller.send({ type: 'invokefunction', invocation_id: 'c5', function_id: 'slow', data: 5 })
    const fifth = await server.next((m) => m.type === 'invokefunction' && m.data === 5)
    server.send({ type: 'invocationresult', invocation_id: fifth.invocation_id, function_id: 'slow', result: 'again' })
    assert.is((await caller.next((m) => m.type === 'invocationresult' && m.invocation_id === 'c5')).result, 'again')
  }))

  it('a queue message larger than the limit is refused payload_too_large, sent or enqueued; nothing is stored', limit(async (ctx) => {
    const p = await raw(ctx)
    p.send({ type: 'invokefunction', invocation_id: 's1', function_id: 'engine::queue::send', data: { queue_name: 'big', body: 'x'.repeat(200) } })
    const sent = await p.next((m) => m.type === 'invocationresult' && m.invocation_id === 's1')
    assert.is(sent.error.code, 'payload_too_large')
    assert.is(sent.error.message, 'The queue message is 202 bytes of JSON, more than the limit of 100 (option limits.queueMessageBytes)')
    p.send({ type: 'registerfunction', id: 'job' })
    p.send({ type: 'invokefunction', invocation_id: 'e1', function_id: 'job', data: { blob: 'y'.repeat(200) }, action: { type: 'enqueue', queue: 'big' } })
    assert.is((await p.next((m) => m.type === 'invocationresult' && m.invocation_id === 'e1')).error.code, 'payload_too_large')
    p.send({ type: 'invokefunction', invocation_id: 's2', function_id: 'engine::queue::send', data: { queue_name: 'big', body: 'small' } })
    assert.ok((await p.next((m) => m.type === 'invocationresult' && m.invocation_id === 's2')).result.message_id)
    p.send({ type: 'invokefunction', invocation_id: 'l', function_id: 'engine::queue::list', data: {} })
    const list = await p.next((m) => m.type === 'invocationresult' && m.invocation_id === 'l')
    assert.is(list.result.queues.find((q: { queue_name: string }) => q.queue_name === 'big').ready, 1, 'only the small message is stored')
  }))

  it.run()
}

const busy = suite<EngineCtx>('limits: calls in flight in the engine')
eachWithEngine(busy, () => ({ limits: { callsInFlight: 2 } }))

busy('an http trigger past the engine-wide limit answers 429 with Retry-After; answers free room again', limit(async (ctx) => {
  const { raw } = peersOver(transports[0])
  const p = await raw(ctx)
  p.send({ type: 'registerfunction', id: 'hold' })
  p.send({ type: 'registertrigger', id: 'h', trigger_type: 'http', function_id: 'hold', config: { path: '/hold' } })
  await p.next((m) => m.type === 'triggerregistrationresult')
  const first = [fetch(`${ctx.engine.httpUrl}/hold`), fetch(`${ctx.engine.httpUrl}/hold`)]
  const calls = await Promise.all([p.next((m) => m.type === 'invokefunction'), p.next((m) => m.type === 'invokefunction')])
  const third = await fetch(`${ctx.engine.httpUrl}/hold`)
  assert.is(third.status, 429)
  assert.is(third.headers.get('retry-after'), '1')
  const body = (await third.json()) as { error: { code: string; message: string } }
  assert.is(body.error.code, 'too_many_requests')
  assert.match(body.error.message, /2 calls in flight, the most allowed \(option limits.callsInFlight\)/)
  for (const c of calls) p.send({ type: 'invocationresult', invocation_id: c.invocation_id, function_id: 'hold', result: 'ok' })
  assert.equal(await Promise.all(first.map(async (r) => (await r).status)), [200, 200])
  const after = fetch(`${ctx.engine.httpUrl}/hold`)
  const call = await p.next((m) => m.type === 'invokefunction')
  p.send({ type: 'invocationresult', invocation_id: call.invocation_id, function_id: 'hold', result: 'ok' })
  assert.is((await after).status, 200)
}))

busy("a worker's call past the engine-wide limit is refused on the wire, a void one with an error frame; cron and queue calls take no room", limit(async (ctx) => {
  const { raw } = peersOver(transports[0])
  const server = await raw(ctx)
  server.send({ type: 'registerfunction', id: 'hold' })
  const client = await raw(ctx)
  await untilOffered(client, 'hold')
  // A queue consumer's batch in flight takes no room.
  server.send({ type: 'registertrigger', id: 'q', trigger_type: 'queue', function_id: 'hold', config: { queue_name: 'busy' } })
  await server.next((m) => m.type === 'triggerregistrationresult')
  client.send({ type: 'invokefunction', invocation_id: 's', function_id: 'engine::queue::send', data: { queue_name: 'busy', body: 1 } })
  await server.next((m) => m.type === 'invokefunction' && Array.isArray(m.data?.messages))
  client.send({ type: 'invokefunction', invocation_id: 'c1', function_id: 'hold', data: {} })
  client.send({ type: 'invokefunction', invocation_id: 'c2', function_id: 'hold', data: {} })
  await Promise.all([server.next((m) => m.type === 'invokefunction' && m.data?.messages === undefined), server.next((m) => m.type === 'invokefunction' && m.data?.messages === undefined)])
  client.send({ type: 'invokefunction', invocation_id: 'c3', function_id: 'hold', data: {} })
  assert.is((await client.next((m) => m.type === 'invocationresult' && m.invocation_id === 'c3')).error.code, 'too_many_requests')
  client.send({ type: 'invokefunction', function_id: 'hold', data: {}, action: { type: 'void' } })
  const frame = await client.next((m) => m.type === 'error')
  assert.is(frame.error.code, 'too_many_requests')
  assert.equal(frame.ref, { type: 'invokefunction' })
}))

busy.run()
