/**
 * provider:http's exchanges alone (actors/http-stream.ts), with a stand-in response: a
 * plain call's refs, keys and ends, its answer and release; the slots calls are kept in
 * (numbers never reused while a call is in flight, however long it lasts); an empty answer
 * that waits for a writer, and a stream's head and body written through the response.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Exchanges } from '../actors/http-stream.js'
import { HttpInput } from '../core/http-input.js'
import type { Outcome } from '../core/call-table.js'
import type { ChannelSocket } from '../machines/contracts.js'
import { RESPONSE_STREAM_WAIT_MS } from '../core/response-stream.js'

/** A response that records what is done to it. */
function fakeResponse() {
  const log: unknown[] = []
  const res = {
    destroyed: false,
    shouldKeepAlive: true,
    once: () => res,
    writeHead: (status: number, headers: unknown) => (log.push(['head', status, headers]), res),
    write: (data: Uint8Array, done: () => void) => (log.push(['write', Buffer.from(data).toString()]), done(), true),
    end: () => (log.push(['end']), res),
    destroy: () => log.push(['destroy']),
  }
  return { log, res: res as unknown as ServerResponse }
}

/** Exchanges whose plain answers are recorded. */
function exchanges() {
  const answers: Array<{ outcome?: Outcome; status?: number }> = []
  const all = new Exchanges({ respond: (_res, outcome) => answers.push({ outcome }), fail: (_res, status) => answers.push({ status }) })
  return { all, answers }
}

/** A channel end's socket driven by the test: `frame` and `close` as a worker would. */
function fakeSocket() {
  let onFrame: (data: string | Uint8Array, binary: boolean) => void = () => {}
  let onClose: (clean: boolean) => void = () => {}
  const closed: number[] = []
  const socket: ChannelSocket = {
    send: (_data, _binary, done) => done(),
    close: (code) => closed.push(code),
    pause: () => {},
    resume: () => {},
    onFrame: (l) => (onFrame = l),
    onClose: (l) => (onClose = l),
  }
  return { socket, closed, frame: (data: string | Uint8Array) => onFrame(data, typeof data !== 'string'), close: (clean: boolean) => onClose(clean) }
}

const req = {} as IncomingMessage
const it = suite('http exchanges')

it('a plain call: one channel id for both refs (read: the request body, write: the response), one key; answered, it is gone', () => {
  const { all, answers } = exchanges()
  const x = all.open(req, fakeResponse().res, 'f', 30_000, undefined)
  const input = new HttpInput('GET', '/', {}, {}, {}, null, x.channel_id, x.key)
  const [body, response] = [input.request_body, input.response]
  assert.equal([body.direction, response.direction], ['read', 'write'])
  assert.is(body.channel_id, `http:${x.n}`)
  assert.is(response.channel_id, body.channel_id)
  assert.is(body.access_key, response.access_key)
  assert.match(body.access_key, /^[A-Za-z0-9_-]{22}$/)
  assert.is.not(all.open(req, fakeResponse().res, 'f', 30_000, undefined).key, x.key, 'each call its own key')
  assert.is(all.access(body.channel_id, x.key, 'read'), 'ok')
  assert.is(all.access(body.channel_id, x.key, 'write'), 'ok')
  assert.is(all.access(body.channel_id, 'wrong', 'read'), 'forbidden')
  for (const id of ['http:0', `http:0${x.n}`, 'http:x', `http:${x.n}:body`, 'http:', `http:${x.n + 100}`]) assert.is(all.access(id, x.key, 'read'), 'unknown', id)
  x.reply({ result: { body: 'hi' } })
  assert.equal(answers, [{ outcome: { result: { body: 'hi' } } }])
  assert.is(all.access(body.channel_id, x.key, 'read'), 'unknown', 'released with its answer')
  assert.is(all.size, 1)
  x.reply({ result: 'again' })
  assert.is(answers.length, 1, 'answered once')
})

it('slots: calls in flight keep their numbers, a long one too, while thousands come and go; past half full they double', () => {
  const { all } = exchanges()
  const long = all.open(req, fakeResponse().res, 'f', 30_000, undefined)
  const seen = new Set<number>([long.n])
  for (let i = 0; i < 5000; i++) {
    const x = all.open(req, fakeResponse().res, 'f', 30_000, undefined)
    assert.ok(!seen.has(x.n))
    seen.add(x.n)
    assert.is(all.get(x.n), x)
    x.reply({ result: 1 })
    assert.is(all.get(x.n), undefined)
  }
  assert.is(all.get(long.n), long)
  const open = Array.from({ length: 300 }, () => all.open(req, fakeResponse().res, 'f', 30_000, undefined))
  assert.is(all.size, 301)
  for (const x of [long, ...open]) assert.is(all.get(x.n), x)
  for (const x of open) x.release()
  assert.is(all.size, 1)
  assert.is(all.get(long.n), long)
  assert.is(all.forget(open[0].n), false, 'ended once')
})

it('an empty answer waits for the response writer, then is the empty answer (204)', async () => {
  const { all, answers } = exchanges()
  const x = all.open(req, fakeResponse().res, 'f', 30_000, undefined)
  x.reply({ result: null })
  assert.equal(answers, [])
  await new Promise((r) => setTimeout(r, RESPONSE_STREAM_WAIT_MS + 60))
  assert.equal(answers, [{ outcome: { result: null } }])
  assert.is(all.size, 0)
})

it('a stream: the writer opened, set_status and set_headers, then bytes; an empty answer leaves the response to it', () => {
  const { all, answers } = exchanges()
  const { res, log } = fakeResponse()
  const x = all.open(req, res, 'f', 30_000, Buffer.from('request'))
  const writer = fakeSocket()
  all.connect(x.channel_id, 'write', writer.socket)
  assert.is(all.access(x.channel_id, x.key, 'write'), 'taken')
  assert.is(all.access(x.channel_id, x.key, 'read'), 'ok')
  writer.frame(JSON.stringify({ type: 'set_status', status_code: 201 }))
  writer.frame(JSON.stringify({ type: 'set_headers', headers: { 'content-type': 'text/plain', 'transfer-encoding': 'x' } }))
  x.reply({ result: undefined })
  writer.frame(Buffer.from('one'))
  writer.frame(Buffer.from('two'))
  writer.close(true)
  assert.equal(answers, [], 'no plain answer')
  assert.equal(log, [['head', 201, Object.assign(Object.create(null), { 'content-type': 'text/plain' })], ['write', 'one'], ['write', 'two'], ['end']])
})

it('the request body is read from the read end: the body read whole, then its end', () => {
  const { all } = exchanges()
  const x = all.open(req, fakeResponse().res, 'f', 30_000, Buffer.from('hello'))
  const sent: string[] = []
  const closed: number[] = []
  all.connect(x.channel_id, 'read', {
    send: (data, _binary, done) => (sent.push(Buffer.from(data as Uint8Array).toString()), done()),
    close: (code) => closed.push(code),
    pause: () => {},
    resume: () => {},
    onFrame: () => {},
    onClose: () => {},
  })
  assert.equal(sent, ['hello'])
  assert.equal(closed, [1000])
})

it.run()
