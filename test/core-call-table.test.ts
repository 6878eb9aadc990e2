/**
 * core/call-table.ts, alone: round robin over replicas, opening and closing calls, answers
 * accepted only from the serving worker, a leaving worker's calls (failed vs dropped),
 * closeAll, draining, the inspector's JSON, call ids, and `outcomeOf`.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { CallTable, outcomeOf, type Call } from '../core/call-table.js'

type Handle = { tag: string }

/** A call served by `worker_id`, waited for by `caller` (a worker) or by the engine. */
const call = (worker_id: string, caller?: string, function_id = 'f'): Call<Handle> => ({
  id: '',
  function_id,
  worker_id,
  caller: caller === undefined ? undefined : { worker_id: caller, invocation_id: `inv-${caller}` },
  source: caller === undefined ? 'engine' : 'worker',
  started: 1000,
  timeout_ms: 5000,
  handle: { tag: `handle-of-${worker_id}` },
})

const it = suite('core: CallTable')

it('pickWorker: none without replicas, the only one with one', () => {
  const t = new CallTable('x-')
  assert.is(t.pickWorker('f', undefined), undefined)
  assert.is(t.pickWorker('f', []), undefined)
  assert.is(t.pickWorker('f', ['a']), 'a')
  assert.is(t.pickWorker('f', ['a']), 'a')
})

it('pickWorker: round robin over replicas in order, per function', () => {
  const t = new CallTable('x-')
  const ws = ['a', 'b', 'c']
  assert.equal([1, 2, 3, 4, 5, 6, 7].map(() => t.pickWorker('f', ws)), ['a', 'b', 'c', 'a', 'b', 'c', 'a'])
  // Another function keeps its own turn.
  assert.is(t.pickWorker('g', ws), 'a')
  assert.is(t.pickWorker('f', ws), 'b')
})

it('pickWorker: the replicas list may shrink or grow between calls', () => {
  const t = new CallTable('x-')
  assert.is(t.pickWorker('f', ['a', 'b', 'c']), 'a')
  assert.is(t.pickWorker('f', ['a', 'b', 'c']), 'b')
  assert.is(t.pickWorker('f', ['a', 'b', 'c']), 'c')
  // The turn is now 0 again; move it to 2 and then shrink the list to two replicas.
  t.pickWorker('f', ['a', 'b', 'c'])
  t.pickWorker('f', ['a', 'b', 'c'])
  // Turn 2 of a list of 2: wraps to a replica that exists, never undefined.
  const picked = t.pickWorker('f', ['a', 'b'])
  assert.ok(picked === 'a' || picked === 'b', `picked ${picked}`)
  // Then it keeps alternating over the two.
  const next = [t.pickWorker('f', ['a', 'b']), t.pickWorker('f', ['a', 'b'])]
  assert.equal(next.slice().sort(), ['a', 'b'])
  // Grown to four: every replica gets its turn within four calls.
  const four = ['a', 'b', 'c', 'd']
  const seen = new Set([1, 2, 3, 4].map(() => t.pickWorker('f', four)))
  assert.equal([...seen].sort(), four)
})

it('open: records the call with a fresh prefixed id and keeps its handle', () => {
  const t = new CallTable<Handle>('run7:')
  assert.is(t.size, 0)
  const c = t.open(call('w1', 'w2'))
  assert.ok(c.id.startsWith('run7:'), c.id)
  assert.is(c.worker_id, 'w1')
  assert.equal(c.caller, { worker_id: 'w2', invocation_id: 'inv-w2' })
  assert.equal(c.handle, { tag: 'handle-of-w1' })
  assert.is(t.size, 1)
  assert.is(t.get(c.id), c)
  assert.is(t.get('run7:nope'), undefined)
})

it('open: ids carry the prefix and never repeat, even after closing', () => {
  const t = new CallTable('p_')
  const ids = new Set<string>()
  for (let i = 0; i < 500; i++) {
    const c = t.open(call('w'))
    assert.ok(c.id.startsWith('p_'), c.id)
    assert.not.ok(ids.has(c.id), `repeated id ${c.id}`)
    ids.add(c.id)
    if (i % 2 === 0) t.close(c.id)
  }
  assert.is(ids.size, 500)
  // Two tables with different prefixes never make the same id.
  const a = new CallTable('A').open(call('w')).id
  const b = new CallTable('B').open(call('w')).id
  assert.is.not(a, b)
})

it('close: removes and returns the call once', () => {
  const t = new CallTable('x-')
  const c = t.open(call('w1'))
  assert.is(t.close(c.id), c)
  assert.is(t.size, 0)
  assert.is(t.get(c.id), undefined)
  assert.is(t.close(c.id), undefined)
})

it('answeredBy: only the serving worker answers a call', () => {
  const t = new CallTable('x-')
  const c = t.open(call('server', 'caller'))
  // The caller, or any other worker, cannot answer it.
  assert.is(t.answeredBy('caller', c.id), undefined)
  assert.is(t.answeredBy('someone', c.id), undefined)
  assert.is(t.size, 1)
  // An unknown id is no call.
  assert.is(t.answeredBy('server', 'x-zzz'), undefined)
  // The server does, once.
  assert.is(t.answeredBy('server', c.id), c)
  assert.is(t.size, 0)
  assert.is(t.answeredBy('server', c.id), undefined)
})

it('workerGone: calls it served fail, calls it waited for are dropped, others stay', () => {
  const t = new CallTable('x-')
  const served = t.open(call('gone', 'other'))
  const servedForEngine = t.open(call('gone'))
  const waited = t.open(call('other', 'gone'))
  const unrelated = t.open(call('other', 'third'))
  const { failed, dropped } = t.workerGone('gone')
  assert.equal(failed.map((c) => c.id).sort(), [served.id, servedForEngine.id].sort())
  assert.equal(dropped.map((c) => c.id), [waited.id])
  assert.is(t.size, 1)
  assert.is(t.get(unrelated.id), unrelated)
  // Going again finds nothing.
  assert.equal(t.workerGone('gone'), { failed: [], dropped: [] })
})

it('workerGone: clears both indexes (the other side no longer sees the removed calls)', () => {
  const t = new CallTable('x-')
  t.open(call('server', 'caller'))
  t.open(call('caller', 'server'))
  const first = t.workerGone('server')
  assert.is(first.failed.length, 1)
  assert.is(first.dropped.length, 1)
  assert.is(t.size, 0)
  // The caller's index held both calls; they are gone from it too.
  assert.equal(t.workerGone('caller'), { failed: [], dropped: [] })
  // A new call of the caller is found on its own.
  const fresh = t.open(call('caller'))
  const again = t.workerGone('caller')
  assert.equal(again.failed.map((c) => c.id), [fresh.id])
  assert.equal(again.dropped, [])
})

it('workerGone: a call closed earlier is not reported', () => {
  const t = new CallTable('x-')
  const a = t.open(call('w'))
  const b = t.open(call('w'))
  t.close(a.id)
  const { failed } = t.workerGone('w')
  assert.equal(failed.map((c) => c.id), [b.id])
})

it('workerGone: a worker calling itself fails its call once', () => {
  const t = new CallTable('x-')
  const c = t.open(call('w', 'w'))
  const { failed, dropped } = t.workerGone('w')
  assert.equal(failed.map((x) => x.id), [c.id])
  assert.equal(dropped, [])
})

it('workerGone: after calls opened and closed in any order, exactly the open ones, oldest first', () => {
  const t = new CallTable<Handle>('x-')
  const open = new Map<string, Call<Handle>>()
  // A deterministic mix of workers serving and waiting, some calls closed out of order.
  const workers = ['a', 'b', 'c']
  for (let i = 0; i < 300; i++) {
    const c = t.open(call(workers[i % 3], i % 4 === 0 ? undefined : workers[(i * 7) % 3]))
    open.set(c.id, c)
    if (i % 5 === 2) {
      const victim = [...open.keys()][(i * 13) % open.size]
      assert.ok(t.close(victim))
      open.delete(victim)
    }
  }
  const { failed, dropped } = t.workerGone('b')
  const expectFailed = [...open.values()].filter((c) => c.worker_id === 'b')
  const expectDropped = [...open.values()].filter((c) => c.worker_id !== 'b' && c.caller?.worker_id === 'b')
  assert.equal(failed.map((c) => c.id), expectFailed.map((c) => c.id))
  assert.equal(dropped.map((c) => c.id), expectDropped.map((c) => c.id))
  for (const c of [...expectFailed, ...expectDropped]) open.delete(c.id)
  assert.is(t.size, open.size)
  assert.is(t.waitingFor('b'), 0)
  assert.is(t.waitingFor('a'), [...open.values()].filter((c) => c.caller?.worker_id === 'a').length)
  // The others' lists are whole: each leaves with exactly its own.
  const a = t.workerGone('a')
  const c = t.workerGone('c')
  const rest = [...a.failed, ...a.dropped, ...c.failed, ...c.dropped]
  assert.equal(rest.map((c) => c.id).sort(), [...open.keys()].sort())
  assert.is(t.size, 0)
})

it('closeAll: returns every call and empties the table', () => {
  const t = new CallTable('x-')
  const ids = [t.open(call('a')).id, t.open(call('b', 'a')).id, t.open(call('c')).id]
  const all = t.closeAll()
  assert.equal(all.map((c) => c.id).sort(), ids.sort())
  assert.is(t.size, 0)
  assert.equal(t.closeAll(), [])
  assert.equal(t.workerGone('a'), { failed: [], dropped: [] })
})

it('drain: drained only once draining and empty', () => {
  const t = new CallTable('x-')
  assert.is(t.drained, false)
  const c = t.open(call('w'))
  t.drain()
  assert.is(t.drained, false)
  t.close(c.id)
  assert.is(t.drained, true)
  // An empty table that never drains is not drained.
  assert.is(new CallTable('y-').drained, false)
})

it('toJSON: the calls in flight without their handles', () => {
  const t = new CallTable<Handle>('x-')
  const byWorker = t.open(call('server', 'caller', 'math::add'))
  const byEngine = t.open({ ...call('server'), source: 'cron' })
  const json = t.toJSON()
  assert.is(json.in_flight, 2)
  assert.is(json.draining, false)
  assert.equal(Object.keys(json.calls).sort(), [byWorker.id, byEngine.id].sort())
  const expectedStart = new Date(performance.timeOrigin + 1000).toISOString()
  assert.equal(json.calls[byWorker.id], {
    function_id: 'math::add',
    worker_id: 'server',
    caller: { worker_id: 'caller', invocation_id: 'inv-caller' },
    source: 'worker',
    started_at: expectedStart,
    timeout_ms: 5000,
  })
  // Without a caller, the source stands in for it.
  assert.equal((json.calls[byEngine.id] as Record<string, unknown>).caller, 'cron')
  assert.not.match(JSON.stringify(json), 'handle-of-')
  t.drain()
  assert.is(t.toJSON().draining, true)
})

it('toJSON: the calls sent to other engines are counted (`across`) until they end', () => {
  const t = new CallTable<Handle>('x-')
  assert.is(t.toJSON().across, 0)
  t.acrossStarted('worker', 'w1')
  t.acrossStarted('http', undefined)
  assert.is(t.toJSON().across, 2)
  assert.is(t.toJSON().in_flight, 0, 'not started here')
  t.acrossEnded('worker', 'w1')
  assert.is(t.toJSON().across, 1)
  t.acrossEnded('http', undefined)
  assert.is(t.toJSON().across, 0)
})

it('outcomeOf: ok, the engine codes, or error', () => {
  assert.is(outcomeOf({ result: 1 }), 'ok')
  assert.is(outcomeOf({ result: undefined }), 'ok')
  assert.is(outcomeOf({ error: { code: 'invocation_timeout' } }), 'invocation_timeout')
  assert.is(outcomeOf({ error: { code: 'function_not_found' } }), 'function_not_found')
  assert.is(outcomeOf({ error: { code: 'worker_disconnected' } }), 'worker_disconnected')
  assert.is(outcomeOf({ error: { code: 'my_own_code' } }), 'error')
  assert.is(outcomeOf({ error: 'boom' }), 'error')
  assert.is(outcomeOf({ error: null }), 'error')
})

it('park: a parked call its worker waits for counts in waitingFor until unparked, one at a time or all at once', () => {
  const t = new CallTable<Handle, { n: number }>('x-')
  const [a, b, c] = [{ n: 1 }, { n: 2 }, { n: 3 }]
  t.park('f', a, 'w1')
  t.park('f', b, 'w1')
  t.park('g', c)
  assert.is(t.waitingFor('w1'), 2)
  assert.is(t.size, 3)
  assert.ok(t.unparkOne('f', a))
  assert.not.ok(t.unparkOne('f', a), 'not twice')
  assert.is(t.waitingFor('w1'), 1)
  assert.equal(t.unparkAll(), [b, c])
  assert.is(t.waitingFor('w1'), 0)
  assert.is(t.size, 0)
  assert.equal(t.unparkAll(), [])
})

it('limitedSize: started worker and http calls, and parked ones; cron, queue and engine calls take no room', () => {
  const t = new CallTable<Handle, { n: number }>('x-')
  const opened = (['worker', 'http', 'cron', 'queue', 'engine'] as const).map((source) => t.open({ ...call('s'), source }))
  t.park('f', { n: 1 })
  assert.is(t.size, 6)
  assert.is(t.limitedSize, 3)
  t.close(opened[0].id)
  t.close(opened[2].id)
  assert.is(t.limitedSize, 2)
  t.closeAll()
  assert.is(t.limitedSize, 1)
})

it('acrossStarted / acrossEnded: a call sent to another engine counts for its waiter and, from a limited source, in limitedSize, until it ends', () => {
  const t = new CallTable<Handle>('x-')
  t.acrossStarted('worker', 'w1')
  t.acrossStarted('worker', 'w1')
  t.acrossStarted('http', undefined)
  t.acrossStarted('cron', undefined)
  assert.is(t.across, 4)
  assert.is(t.waitingFor('w1'), 2)
  assert.is(t.limitedSize, 3)
  // Local calls count alongside.
  t.open(call('s', 'w1'))
  assert.is(t.waitingFor('w1'), 3)
  assert.is(t.limitedSize, 4)
  t.acrossEnded('worker', 'w1')
  t.acrossEnded('cron', undefined)
  assert.is(t.waitingFor('w1'), 2)
  assert.is(t.limitedSize, 3)
  // The waiter left before its call ended: nothing left to count down, nor below zero for a later worker of that id.
  t.workerGone('w1')
  t.acrossEnded('worker', 'w1')
  assert.is(t.waitingFor('w1'), 0)
  t.acrossEnded('http', undefined)
  assert.is(t.limitedSize, 0)
  assert.is(t.across, 0)
})

it.run()
