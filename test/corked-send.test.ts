/**
 * adapters/corked-send.ts over a real WebSocket on loopback: in every mode the frames
 * arrive whole and in order; `auto` writes a turn's first frame at once (the socket is
 * not corked after it) and corks for the frames after it until the turn's check phase,
 * and from the first frame while the socket is busy (its last turn with frames had more
 * than one); `turn` corks from the first frame.
 */
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket, { WebSocketServer } from 'ws'
import { CORK_MODES, corkedSend } from '../adapters/corked-send.js'
import { until } from './harness.js'

const it = suite<{ wss: WebSocketServer; server: WebSocket; socket: Socket; client: WebSocket; got: string[] }>('corked send')

it.before.each(async (ctx) => {
  ctx.wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(ctx.wss, 'listening')
  const accepted = once(ctx.wss, 'connection')
  ctx.client = new WebSocket(`ws://127.0.0.1:${(ctx.wss.address() as { port: number }).port}`)
  ctx.got = []
  ctx.client.on('message', (data) => ctx.got.push(String(data)))
  const [server, req] = (await accepted) as [WebSocket, { socket: Socket }]
  ctx.server = server
  ctx.socket = req.socket
  await once(ctx.client, 'open')
})

it.after.each(async (ctx) => {
  ctx.client.terminate()
  await new Promise((resolve) => ctx.wss.close(resolve))
})

const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

for (const mode of CORK_MODES) {
  it(`${mode}: frames sent in one turn and in later turns arrive whole and in order`, async ({ server, socket, got }) => {
    const send = corkedSend(server, socket, mode)
    const sent: string[] = []
    for (let turn = 0; turn < 3; turn++) {
      for (let i = 0; i < 1 + turn * 3; i++) {
        const text = JSON.stringify({ turn, i, pad: 'x'.repeat(i * 100) })
        sent.push(text)
        send(text)
      }
      await nextTurn()
    }
    await until(() => got.length === sent.length, 5000, 'every frame')
    assert.equal(got, sent)
  })
}

it('auto: a lone frame is written at once; the frames after it in the turn wait, corked, for its check phase', async ({ server, socket, got }) => {
  const send = corkedSend(server, socket, 'auto')
  send('first')
  assert.is(socket.writableCorked, 0, 'the first frame of the turn is not held')
  send('second')
  send('third')
  assert.is(socket.writableCorked, 1, 'the frames after it are')
  await nextTurn()
  assert.is(socket.writableCorked, 0, 'uncorked in the check phase')
  await until(() => got.length === 3, 5000, 'three frames')
  assert.equal(got, ['first', 'second', 'third'])
})

it('auto: after a turn of several frames the socket is busy, corked from the first frame, until a turn brings one frame alone', async ({ server, socket, got }) => {
  const send = corkedSend(server, socket, 'auto')
  send('a1')
  send('a2')
  await nextTurn()
  send('b1')
  assert.is(socket.writableCorked, 1, 'busy: the first frame of the next turn is held for its check phase')
  await nextTurn()
  assert.is(socket.writableCorked, 0, 'uncorked in the check phase')
  send('c1')
  assert.is(socket.writableCorked, 0, 'a turn of one frame ended the busy spell: the next lone frame leaves at once')
  await until(() => got.length === 4, 5000, 'four frames')
  assert.equal(got, ['a1', 'a2', 'b1', 'c1'])
})

it('auto: busy turns in a row keep the socket corked from their first frame', async ({ server, socket, got }) => {
  const send = corkedSend(server, socket, 'auto')
  const sent: string[] = []
  for (let turn = 0; turn < 4; turn++) {
    for (const i of [0, 1]) {
      sent.push(`t${turn}f${i}`)
      send(`t${turn}f${i}`)
      if (i === 0) assert.is(socket.writableCorked, turn === 0 ? 0 : 1, turn === 0 ? 'the first turn is not busy yet' : `turn ${turn} follows a busy turn`)
    }
    await nextTurn()
    assert.is(socket.writableCorked, 0, 'uncorked in each check phase')
  }
  await until(() => got.length === sent.length, 5000, 'every frame')
  assert.equal(got, sent)
})

it('turn: corked from the first frame until the check phase', async ({ server, socket }) => {
  const send = corkedSend(server, socket, 'turn')
  send('first')
  assert.is(socket.writableCorked, 1)
  await nextTurn()
  assert.is(socket.writableCorked, 0)
})

it.run()
