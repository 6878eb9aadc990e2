/**
 * Isolation, over every transport: a session cannot unregister, answer or steal another
 * session's triggers, routes, trigger types, functions, calls or queue leases. Each
 * attempt is answered on the wire (an `error` frame or a refused registration), and the
 * owner's route, function and trigger type go on working.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { eachWithEngine, limit, until, type EngineCtx } from './harness.js'
import { peersOver, transports, untilOffered } from './transports.js'

for (const transport of transports) {
  const it = suite<EngineCtx>(`isolation over ${transport.name}`)
  const { raw } = peersOver(transport)
  eachWithEngine(it)

  const get = async (ctx: EngineCtx, path: string) => {
    const res = await fetch(`${ctx.engine.httpUrl}${path}`)
    return { status: res.status, text: await res.text() }
  }

  it("another session's trigger, route, function and trigger type: unregistering is refused, taking the route is refused, and the owner's keep working", limit(async (ctx) => {
    const owner = await raw(ctx)
    owner.send({ type: 'registerfunction', id: 'owner::page' })
    owner.send({ type: 'registertriggertype', id: 'owner-type', description: 'the owner provides it' })
    owner.send({ type: 'registertrigger', id: 'route', trigger_type: 'http', function_id: 'owner::page', config: { api_path: '/owned', http_method: 'GET' } })
    assert.is((await owner.next((m) => m.type === 'triggerregistrationresult' && m.id === 'route')).error, undefined)
    /** A request to the route, answered by the owner. */
    const served = async () => {
      const [res] = await Promise.all([
        get(ctx, '/owned'),
        owner.next((m) => m.type === 'invokefunction').then((call) =>
          owner.send({ type: 'invocationresult', invocation_id: call.invocation_id, function_id: 'owner::page', result: { status_code: 200, body: 'owner' } }),
        ),
      ])
      return res.text
    }
    assert.is(await served(), 'owner')

    const intruder = await raw(ctx)
    intruder.send({ type: 'unregistertrigger', id: 'route' })
    let refused = await intruder.next((m) => m.type === 'error')
    assert.is(refused.error.code, 'trigger_not_found')
    assert.equal(refused.ref, { type: 'unregistertrigger', id: 'route' })

    intruder.send({ type: 'unregisterfunction', id: 'owner::page' })
    refused = await intruder.next((m) => m.type === 'error')
    assert.equal(refused.ref, { type: 'unregisterfunction', id: 'owner::page' })
    assert.ok(refused.error.code, JSON.stringify(refused))

    intruder.send({ type: 'unregistertriggertype', id: 'owner-type' })
    refused = await intruder.next((m) => m.type === 'error')
    assert.equal(refused.ref, { type: 'unregistertriggertype', id: 'owner-type' })

    // Taking the route for its own function, or taking the type, is refused too.
    intruder.send({ type: 'registerfunction', id: 'intruder::page' })
    intruder.send({ type: 'registertrigger', id: 'steal', trigger_type: 'http', function_id: 'intruder::page', config: { api_path: '/owned', http_method: 'GET' } })
    assert.is((await intruder.next((m) => m.type === 'triggerregistrationresult' && m.id === 'steal')).error?.code, 'invalid_config')
    intruder.send({ type: 'registertriggertype', id: 'owner-type' })
    assert.is((await intruder.next((m) => m.type === 'error')).ref?.id, 'owner-type')

    // The owner's route still reaches the owner's function, its type is still its own.
    for (let i = 0; i < 3; i++) assert.is(await served(), 'owner')
    intruder.send({ type: 'invokefunction', invocation_id: 'types', function_id: 'engine::trigger-types::list', data: {} })
    const types = (await intruder.next((m) => m.type === 'invocationresult' && m.invocation_id === 'types')).result.trigger_types
    assert.ok(types.some((t: { id: string; worker_id?: string }) => t.id === 'owner-type' && t.worker_id === owner.worker_id), JSON.stringify(types))
  }))

  it('a spoofed, made-up or replayed invocation_id is answered with an error frame; the caller gets exactly the real answer, once', limit(async (ctx) => {
    const server = await raw(ctx)
    server.send({ type: 'registerfunction', id: 'f' })
    const intruder = await raw(ctx)
    const client = await raw(ctx)
    await untilOffered(client, 'f')
    client.send({ type: 'invokefunction', invocation_id: 'c1', function_id: 'f', data: null })
    const delivered = await server.next((m) => m.type === 'invokefunction')

    // Someone else's call, and one that never existed.
    intruder.send({ type: 'invocationresult', invocation_id: delivered.invocation_id, function_id: 'f', result: 'forged' })
    intruder.send({ type: 'invocationresult', invocation_id: 'no-such-call', function_id: 'f', result: 'forged' })
    const frames = [await intruder.next((m) => m.type === 'error'), await intruder.next((m) => m.type === 'error')]
    assert.equal(frames.map((f) => f.ref), [{ type: 'invocationresult', id: delivered.invocation_id }, { type: 'invocationresult', id: 'no-such-call' }])
    for (const f of frames) assert.is(f.error.code, 'invalid_message')

    // The real answer, then the same answer again.
    server.send({ type: 'invocationresult', invocation_id: delivered.invocation_id, function_id: 'f', result: 'real' })
    assert.is((await client.next((m) => m.type === 'invocationresult' && m.invocation_id === 'c1')).result, 'real')
    server.send({ type: 'invocationresult', invocation_id: delivered.invocation_id, function_id: 'f', result: 'again' })
    const replay = await server.next((m) => m.type === 'error')
    assert.equal(replay.ref, { type: 'invocationresult', id: delivered.invocation_id })
    // A round trip later, still only one answer reached the caller.
    client.send({ type: 'invokefunction', invocation_id: 'after', function_id: 'engine::workers::list', data: {} })
    await client.next((m) => m.type === 'invocationresult' && m.invocation_id === 'after')
    assert.is(client.received.filter((m) => m.type === 'invocationresult' && m.invocation_id === 'c1').length, 1)
  }))

  it("another session cannot settle a queue batch it was not given: the lease stays with the consumer, and the message comes back after its visibility timeout", limit(async (ctx) => {
    const consumer = await raw(ctx)
    consumer.send({ type: 'registerfunction', id: 'consume' })
    consumer.send({ type: 'registertrigger', id: 'q', trigger_type: 'queue', function_id: 'consume', config: { queue_name: 'leased', visibility_timeout: 1 } })
    assert.is((await consumer.next((m) => m.type === 'triggerregistrationresult')).error, undefined)
    const intruder = await raw(ctx)
    intruder.send({ type: 'invokefunction', invocation_id: 's', function_id: 'engine::queue::send', data: { queue_name: 'leased', body: 'job' } })
    await intruder.next((m) => m.type === 'invocationresult' && m.invocation_id === 's')
    const first = await consumer.next((m) => m.type === 'invokefunction')
    // The intruder claims the batch went well; the engine refuses, so the message is not deleted.
    intruder.send({ type: 'invocationresult', invocation_id: first.invocation_id, function_id: 'consume', result: null })
    assert.equal((await intruder.next((m) => m.type === 'error')).ref, { type: 'invocationresult', id: first.invocation_id })
    const again = await consumer.next((m) => m.type === 'invokefunction', 5000)
    assert.is(again.data.messages[0].body, 'job')
    assert.is(again.data.messages[0].receive_count, 2)
    consumer.send({ type: 'invocationresult', invocation_id: again.invocation_id, function_id: 'consume', result: null })
  }, 10_000))

  it.run()
}
