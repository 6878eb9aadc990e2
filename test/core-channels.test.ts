/**
 * Data channels' pure parts, alone: core/channel-relay.ts (frames in order, the writer
 * paused at `capacity` frames waiting and resumed when the reader catches up, the reader
 * ended after the last frame, a reader that leaves stopping the writer, release),
 * core/channel-table.ts (a key per end, each end opened once, unopened channels going
 * stale, `buffer_size`), and core/response-stream.ts (what set_status and set_headers do).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Relay, type Frame } from '../core/channel-relay.js'
import { bufferSize, ChannelTable, UNOPENED_TTL_MS } from '../core/channel-table.js'
import { applyControl, newHead } from '../core/response-stream.js'

const text = (data: string): Frame => ({ binary: false, data })
const bytes = (...b: number[]): Frame => ({ binary: true, data: Uint8Array.from(b) })

/** A reader that keeps what it is given, and confirms only when told. */
function slowReader() {
  const frames: Frame[] = []
  const pending: Array<() => void> = []
  const ends: boolean[] = []
  return {
    frames,
    ends,
    confirmAll: () => pending.splice(0).forEach((done) => done()),
    reader: { deliver: (f: Frame, done: () => void) => (frames.push(f), pending.push(done)), end: (clean: boolean) => ends.push(clean) },
  }
}
function writerLog() {
  const calls: string[] = []
  return { calls, writer: { pause: () => calls.push('pause'), resume: () => calls.push('resume'), stop: () => calls.push('stop') } }
}

const it = suite('core: data channels')

it('Relay: frames reach the reader in order; a writer that ends ends the reader after the last frame', () => {
  let done = 0
  const r = new Relay(8, () => done++)
  const w = writerLog()
  r.attachWriter(w.writer)
  r.push(text('hello'))
  r.push(bytes(1, 2))
  const s = slowReader()
  r.attachReader(s.reader) // frames waited for it
  r.push(bytes(3))
  r.finish(true)
  assert.equal(s.frames, [text('hello'), bytes(1, 2), bytes(3)])
  assert.equal(s.ends, [true])
  assert.equal([r.frames, r.bytes], [3, 8])
  assert.is(done, 1)
  assert.ok(r.done)
  r.push(bytes(4)) // after the end: dropped
  assert.is(s.frames.length, 3)
  assert.equal(w.calls, [])
})

it('Relay: the writer is paused at capacity frames waiting, and resumed when the reader catches up', () => {
  const r = new Relay(3)
  const w = writerLog()
  r.attachWriter(w.writer)
  r.push(bytes(1))
  r.push(bytes(2))
  assert.equal(w.calls, [])
  r.push(bytes(3)) // no reader: 3 queued
  assert.equal(w.calls, ['pause'])
  assert.ok(r.isPaused)
  const s = slowReader()
  r.attachReader(s.reader) // handed over, not yet written out: still 3 waiting
  assert.is(r.waiting, 3)
  assert.equal(w.calls, ['pause'])
  s.confirmAll()
  assert.equal(w.calls, ['pause', 'resume'])
  assert.is(r.waiting, 0)
  // A slow reader holds the writer back the same way.
  for (let i = 0; i < 3; i++) r.push(bytes(i))
  assert.equal(w.calls, ['pause', 'resume', 'pause'])
  s.confirmAll()
  assert.equal(w.calls, ['pause', 'resume', 'pause', 'resume'])
})

it('Relay: a writer attached while the relay is full is paused at once', () => {
  const r = new Relay(1)
  r.push(bytes(1))
  const w = writerLog()
  r.attachWriter(w.writer)
  assert.equal(w.calls, ['pause'])
})

it('Relay: a reader that goes away stops the writer and drops what waits; broken-off writers end the reader unclean', () => {
  let done = 0
  const r = new Relay(8, () => done++)
  const w = writerLog()
  r.attachWriter(w.writer)
  r.push(bytes(1))
  r.readerClosed()
  assert.equal(w.calls, ['stop'])
  assert.is(r.waiting, 0)
  assert.is(done, 1)
  const r2 = new Relay(8)
  const s = slowReader()
  r2.attachReader(s.reader)
  r2.finish(false)
  assert.equal(s.ends, [false])
})

it('Relay: abort ends both ends once', () => {
  let done = 0
  const r = new Relay(8, () => done++)
  const w = writerLog()
  const s = slowReader()
  r.attachWriter(w.writer)
  r.attachReader(s.reader)
  r.abort()
  r.abort()
  assert.equal([w.calls, s.ends, done], [['stop'], [false], 1])
})

it('Relay: onWriter is told when a writer attaches', () => {
  const r = new Relay(8)
  let told = 0
  r.onWriter = () => told++
  r.attachWriter(writerLog().writer)
  assert.is(told, 1)
  assert.ok(r.hasWriter)
})

it('ChannelTable: a key per end, each end opened once, no keys in the inspector', () => {
  const t = new ChannelTable()
  const refs = t.add('c1', { read: 'rk', write: 'wk' }, 4, 'test', 0)
  assert.equal(refs, { writer: { channel_id: 'c1', access_key: 'wk', direction: 'write' }, reader: { channel_id: 'c1', access_key: 'rk', direction: 'read' } })
  assert.is(t.access('c1', 'rk', 'read'), 'ok')
  assert.is(t.access('c1', 'wk', 'read'), 'forbidden')
  assert.is(t.access('c1', 'rk', 'write'), 'forbidden')
  assert.is(t.access('c1', 'r', 'read'), 'forbidden')
  assert.is(t.access('c2', 'rk', 'read'), 'unknown')
  t.open('c1', 'read')
  assert.is(t.access('c1', 'rk', 'read'), 'taken')
  assert.is(t.access('c1', 'wk', 'write'), 'ok')
  assert.not.ok(JSON.stringify(t).includes('rk'))
  assert.ok(t.remove('c1'))
  assert.is(t.size, 0)
})

it('ChannelTable: channels with an end never opened go stale after the TTL', () => {
  const t = new ChannelTable()
  t.add('a', { read: 'r', write: 'w' }, 4, 'test', 0)
  t.add('b', { read: 'r', write: 'w' }, 4, 'test', 0)
  t.open('b', 'read')
  t.open('b', 'write')
  t.add('c', { read: 'r', write: 'w' }, 4, 'test', UNOPENED_TTL_MS)
  assert.equal(t.stale(UNOPENED_TTL_MS + 1), ['a'])
})

it('bufferSize: 64 by default, at most 1024 frames, at least 1', () => {
  assert.equal([bufferSize(undefined), bufferSize(null), bufferSize(8), bufferSize(5000)], [64, 64, 8, 1024])
  assert.is(bufferSize(0), "'buffer_size' must be a whole number of frames, at least 1, got 0")
  assert.is(bufferSize('8'), '\'buffer_size\' must be a whole number of frames, at least 1, got "8"')
})

it('applyControl: set_status (200–599) and set_headers (strings, lists; framing headers left to the engine); anything else ignored', () => {
  const head = newHead()
  assert.equal([head.status, { ...head.headers }], [200, {}])
  assert.is(applyControl(head, JSON.stringify({ type: 'set_status', status_code: 206 })), 'status')
  assert.is(applyControl(head, JSON.stringify({ type: 'set_headers', headers: { 'Content-Type': 'text/event-stream', 'Set-Cookie': ['a=1', 'b=2'], 'Transfer-Encoding': 'gzip', n: 7 } })), 'headers')
  assert.equal([head.status, { ...head.headers }], [206, { 'content-type': 'text/event-stream', 'set-cookie': ['a=1', 'b=2'] }])
  for (const m of ['not json', '7', JSON.stringify({ type: 'set_status', status_code: 99 }), JSON.stringify({ type: 'set_status', status_code: '200' }), JSON.stringify({ type: 'other' })]) {
    assert.is(applyControl(head, m), 'ignored', m)
  }
  assert.is(head.status, 206)
})

it.run()
