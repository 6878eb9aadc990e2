/**
 * Bad input: every malformed frame gets an answer saying what was wrong, is logged once,
 * and leaves its session and every other session working.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Engine } from '../adapters/engine.js'
import { limit, startEngine } from './harness.js'
import { rawSocket, transports, type RawPeer } from './transports.js'

type Ctx = { engine: Engine & { log: ReturnType<typeof import('./harness.js').captureLogger> }; peers: RawPeer[] }
type Msg = Record<string, any>

const errorFrames = (ctx: Ctx) => ctx.engine.log.records.filter((r) => r.msg === 'error frame')

/** Shows that `p` and a bystander session still work: a call round trip through both. */
async function stillWorking(ctx: Ctx, p: RawPeer, bystander: RawPeer) {
  const id = `alive-${Math.random().toString(36).slice(2)}`
  bystander.send({ type: 'registerfunction', id })
  p.send({ type: 'invokefunction', invocation_id: id, function_id: id, data: { n: 1 } })
  const delivered = await bystander.next((m) => m.type === 'invokefunction' && m.function_id === id)
  bystander.send({ type: 'invocationresult', invocation_id: delivered.invocation_id, function_id: id, result: 'ok' })
  assert.is((await p.next((m) => m.type === 'invocationresult' && m.invocation_id === id)).result, 'ok')
}

for (const transport of transports) {
  const it = suite<Ctx>(`bad messages over ${transport.name}`)
  it.before.each(async (ctx) => {
    ctx.engine = await startEngine()
    ctx.peers = []
  })
  it.after.each(async (ctx) => {
    for (const p of ctx.peers) await p.close()
    await ctx.engine.stop()
  })
  const peer = async (ctx: Ctx) => {
    const p = await transport.raw(ctx.engine)
    ctx.peers.push(p)
    return p
  }

  const cases: Array<[string, unknown, Msg]> = [
    ['not an object', [1, 2, 3], { code: 'invalid_message', message: 'A message must be a JSON object, got an array' }],
    ['no type', { id: 'x' }, { code: 'invalid_message', message: "'type' must be a string, got nothing" }],
    ['unknown type', { type: 'launchmissiles', id: 'x' }, { code: 'unknown_message_type', message: "Unknown message type 'launchmissiles'" }],
    ['missing field', { type: 'registerfunction' }, { code: 'invalid_message', message: "registerfunction: 'id' must be a non-empty string of at most 1024 characters, got nothing" }],
    ['mistyped field', { type: 'invokefunction', invocation_id: 'i', function_id: 7, data: {} }, { code: 'invalid_message', message: "invokefunction: 'function_id' must be a non-empty string of at most 1024 characters, got a number" }],
    ['bad timeout', { type: 'invokefunction', invocation_id: 'i', function_id: 'f', timeout_ms: -5 }, { code: 'invalid_message', message: "invokefunction: 'timeout_ms' must be at least 1" }],
    ['bad action', { type: 'invokefunction', invocation_id: 'i', function_id: 'f', action: { type: 'later' } }, { code: 'invalid_message', message: 'invokefunction: \'action\' must be {"type":"void"} or {"type":"enqueue","queue":"<name>"}' }],
    ['unknown invocation', { type: 'invocationresult', invocation_id: 'never-sent', function_id: 'f', result: 1 }, { code: 'invalid_message', message: "No invocation 'never-sent' is awaiting a result from this worker (unknown, already answered or timed out)" }],
    ['unknown verdict', { type: 'triggerregistrationresult', id: 'never-forwarded' }, { code: 'invalid_message', message: "No trigger registration 'never-forwarded' is awaiting a verdict from this worker" }],
    ['10 MB id', { type: 'registerfunction', id: 'x'.repeat(10 * 1024 * 1024) }, { code: 'invalid_message', message: "registerfunction: 'id' must be a non-empty string of at most 1024 characters, got a string of 10485760 characters" }],
  ]

  for (const [name, message, error] of cases) {
    it(`${name}: an error frame that says so, logged once; everyone keeps working`, limit(async (ctx) => {
      const p = await peer(ctx)
      const bystander = await peer(ctx)
      p.send(message)
      const frame = await p.next((m) => m.type === 'error')
      assert.equal(frame.error, error)
      assert.is(errorFrames(ctx).length, 1)
      await stillWorking(ctx, p, bystander)
      assert.is(errorFrames(ctx).length, 1)
    }))
  }

  it('deeply nested values are refused, not forwarded', limit(async (ctx) => {
    const p = await peer(ctx)
    const bystander = await peer(ctx)
    bystander.send({ type: 'registerfunction', id: 'f' })
    let deep: unknown = 'bottom'
    for (let i = 0; i < 1000; i++) deep = [deep]
    p.send({ type: 'invokefunction', invocation_id: 'd', function_id: 'f', data: deep })
    const frame = await p.next((m) => m.type === 'error')
    assert.equal(frame, { type: 'error', error: { code: 'invalid_message', message: 'invokefunction: values may nest at most 64 levels deep' }, ref: { type: 'invokefunction', id: 'd' } })
    await stillWorking(ctx, p, bystander)
  }))

  it('a refused call that asked for no answer: an error frame whose ref names no invocation id (a function id is not one)', limit(async (ctx) => {
    const p = await peer(ctx)
    p.send({ type: 'invokefunction', function_id: 'c7', data: {}, action: { type: 'enqueue', queue: 'bad name' } })
    const frame = await p.next((m) => m.type === 'error')
    assert.equal(frame.ref, { type: 'invokefunction' }, 'not named c7, which a worker could take for its own invocation id')
    assert.match(frame.error.message, /'action\.queue' must be/)
  }))

  it('__proto__ and other prototype names are ordinary ids and data', limit(async (ctx) => {
    const server = await peer(ctx)
    const client = await peer(ctx)
    for (const id of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) server.send({ type: 'registerfunction', id })
    const data = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}')
    client.send({ type: 'invokefunction', invocation_id: 'p1', function_id: '__proto__', data })
    const delivered = await server.next((m) => m.type === 'invokefunction')
    assert.is(delivered.function_id, '__proto__')
    assert.equal(Object.keys(delivered.data).sort(), ['__proto__', 'constructor'])
    server.send({ type: 'invocationresult', invocation_id: delivered.invocation_id, function_id: '__proto__', result: 'fine' })
    assert.is((await client.next((m) => m.type === 'invocationresult')).result, 'fine')
    client.send(JSON.parse('{"type":"invokefunction","invocation_id":"p2","function_id":"constructor","__proto__":{"function_id":"x"}}'))
    assert.is((await server.next((m) => m.type === 'invokefunction' && m.function_id === 'constructor')).function_id, 'constructor')
    client.send({ type: 'invokefunction', invocation_id: 'p3', function_id: 'valueOf' })
    assert.is((await client.next((m) => m.invocation_id === 'p3')).error.code, 'function_not_found')
    assert.is(({} as Msg).polluted, undefined)
    assert.is(errorFrames(ctx).length, 0)
  }))
  it.run()
}

const ws = suite<Ctx>('bad frames over websocket')
ws.before.each(async (ctx) => {
  ctx.engine = await startEngine({ maxPayload: 12 * 1024 * 1024 })
  ctx.peers = []
})
ws.after.each(async (ctx) => {
  for (const p of ctx.peers) await p.close()
  await ctx.engine.stop()
})

const frames: Array<[string, (p: Awaited<ReturnType<typeof rawSocket>>) => void, (error: Msg) => void]> = [
  ['invalid JSON', (p) => p.sendText('{"type": "registerfunction", "id": '), (e) => { assert.is(e.code, 'invalid_json'); assert.match(e.message, 'Frame is not valid JSON') }],
  ['a 10 MB string that is not JSON', (p) => p.sendText('y'.repeat(10 * 1024 * 1024)), (e) => assert.is(e.code, 'invalid_json')],
  ['a binary frame', (p) => p.sendBinary(Buffer.from('{"type":"ping"}')), (e) => assert.equal(e, { code: 'binary_not_supported', message: 'Binary frames are not supported: send JSON in text frames' })],
  ['a JSON string', (p) => p.sendText('"registerfunction"'), (e) => assert.equal(e, { code: 'invalid_message', message: 'A message must be a JSON object, got a string' })],
  ['deeply nested JSON', (p) => p.sendText('{"type":"invokefunction","invocation_id":"d","function_id":"f","data":' + '['.repeat(200_000) + ']'.repeat(200_000) + '}'), (e) => assert.is(e.code, 'invalid_message')],
]
for (const [name, send, check] of frames) {
  ws(`${name}: an error frame that says so, logged once; everyone keeps working`, limit(async (ctx) => {
    const p = await rawSocket(ctx.engine.url!)
    const bystander = await rawSocket(ctx.engine.url!)
    ctx.peers.push(p, bystander)
    send(p)
    check((await p.next((m) => m.type === 'error')).error)
    assert.is(errorFrames(ctx).length, 1)
    await stillWorking(ctx, p, bystander)
  }))
}

ws('JSON ping is answered with pong', limit(async (ctx) => {
  const p = await rawSocket(ctx.engine.url!)
  ctx.peers.push(p)
  p.send({ type: 'ping' })
  assert.equal(await p.next((m) => m.type === 'pong'), { type: 'pong' })
}))

ws('a frame over the size limit closes that connection with 1009, and only that one', limit(async (ctx) => {
  const p = await rawSocket(ctx.engine.url!)
  const bystander = await rawSocket(ctx.engine.url!)
  const other = await rawSocket(ctx.engine.url!)
  ctx.peers.push(bystander, other)
  p.sendText('z'.repeat(13 * 1024 * 1024))
  assert.match(await p.ended, /^1009/)
  await stillWorking(ctx, other, bystander)
}, 20_000))
ws.run()
