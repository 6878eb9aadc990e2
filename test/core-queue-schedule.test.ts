/**
 * core/queue-schedule.ts, alone: consumers of a queue take turns least recently served
 * first, each within its concurrency; queues wait while no worker offers a consumer's
 * function; removed consumers stop; durable-call queues and their concurrency; starved
 * queues; the inspector's JSON; and `settlement()`, what a batch's outcome does to its
 * messages.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { QueueConsumerConfig } from '../core/queue-config.js'
import { CALL_RULES, QueueSchedule, settlement, type Consumer } from '../core/queue-schedule.js'

const config = (queue_name: string, concurrency = 1, batch_size = 10): QueueConsumerConfig => ({
  queue_name,
  batch_size,
  visibility_timeout: 30,
  max_receive_count: 5,
  dead_letter_queue: `${queue_name}.dlq`,
  concurrency,
  delay_seconds: 0,
  fifo: false,
})
const always = () => true
/** Trigger ids of the consumers that may take a batch of `queue` now, in turn order. */
const turn = (s: QueueSchedule, queue: string, available: (f: string) => boolean = always) => s.takers(queue, available).takers.map((c) => c.trigger_id)

/** The schedule as the inspector gets it: its JSON (its records have no prototype). */
const json = (s: QueueSchedule) => JSON.parse(JSON.stringify(s))

const it = suite('core: QueueSchedule')

it('addConsumer: consumers join the back of their own queue', () => {
  const s = new QueueSchedule()
  assert.is(s.hasConsumers('q'), false)
  const a = s.addConsumer('w1', 'a', 'f', config('q'))
  s.addConsumer('w2', 'b', 'f', config('q'))
  s.addConsumer('w1', 'c', 'g', config('other'))
  assert.equal(a, { key: 'w1\u0000a', worker_id: 'w1', trigger_id: 'a', function_id: 'f', config: config('q'), inFlight: 0, stopped: false })
  assert.is(s.hasConsumers('q'), true)
  assert.is(s.hasConsumers('other'), true)
  assert.is(s.hasConsumers('none'), false)
  assert.equal(turn(s, 'q'), ['a', 'b'])
  assert.equal(turn(s, 'other'), ['c'])
  assert.equal(s.takers('none', always), { takers: [], waiting: false })
})

it('leased: the consumer served goes to the back', () => {
  const s = new QueueSchedule()
  const a = s.addConsumer('w', 'a', 'f', config('q', 5))
  const b = s.addConsumer('w', 'b', 'f', config('q', 5))
  s.addConsumer('w', 'c', 'f', config('q', 5))
  s.leased(a)
  assert.equal(turn(s, 'q'), ['b', 'c', 'a'])
  s.leased(b)
  assert.equal(turn(s, 'q'), ['c', 'a', 'b'])
  assert.is(a.inFlight, 1)
  assert.is(b.inFlight, 1)
})

it('settled: a failed batch sends its consumer to the back, a good one does not', () => {
  const s = new QueueSchedule()
  const a = s.addConsumer('w', 'a', 'f', config('q', 5))
  const b = s.addConsumer('w', 'b', 'f', config('q', 5))
  s.leased(a)
  s.leased(b)
  assert.equal(turn(s, 'q'), ['a', 'b'])
  // a's batch went well: a keeps its place at the front.
  s.settled(a, false)
  assert.is(a.inFlight, 0)
  assert.equal(turn(s, 'q'), ['a', 'b'])
  s.leased(a)
  assert.equal(turn(s, 'q'), ['b', 'a'])
  // b's batch failed: b goes behind a, so the batch comes back to a next.
  s.settled(b, true)
  assert.is(b.inFlight, 0)
  assert.equal(turn(s, 'q'), ['a', 'b'])
})

it('hasRoom: at most `concurrency` batches in flight per consumer', () => {
  const s = new QueueSchedule()
  const a = s.addConsumer('w', 'a', 'f', config('q', 2))
  const b = s.addConsumer('w', 'b', 'f', config('q', 1))
  assert.is(s.hasRoom(a), true)
  assert.is(s.consumerRoom('q'), true)
  s.leased(a)
  assert.is(s.hasRoom(a), true)
  s.leased(a)
  assert.is(s.hasRoom(a), false)
  assert.is(s.consumerRoom('q'), true)
  s.leased(b)
  assert.is(s.hasRoom(b), false)
  // Consumers without room are not takers, and the queue needs no wake-up.
  assert.equal(s.takers('q', always), { takers: [], waiting: false })
  assert.is(s.consumerRoom('q'), false)
  assert.is(s.consumerRoom('none'), false)
  s.settled(a, false)
  assert.equal(turn(s, 'q'), ['a'])
  assert.is(s.consumerRoom('q'), true)
  // A stopped consumer has no room.
  s.removeConsumer('w', 'a')
  assert.is(s.consumerRoom('q'), false)
})

it('takers: a consumer whose function is not offered leaves the batch to others and marks the queue waiting', () => {
  const s = new QueueSchedule()
  s.addConsumer('w', 'a', 'gone', config('q'))
  s.addConsumer('w', 'b', 'here', config('q'))
  const offered = (f: string) => f === 'here'
  const r = s.takers('q', offered)
  assert.equal(r.takers.map((c) => c.trigger_id), ['b'])
  assert.is(r.waiting, true)
  // Nobody offered: no takers, waiting.
  assert.equal(s.takers('q', () => false), { takers: [], waiting: true })
  // Everyone offered: not waiting.
  assert.is(s.takers('q', always).waiting, false)
})

it('takers: a consumer without room does not make the queue wait', () => {
  const s = new QueueSchedule()
  const a = s.addConsumer('w', 'a', 'gone', config('q', 1))
  s.leased(a)
  assert.equal(s.takers('q', () => false), { takers: [], waiting: false })
})

it('removeConsumer: stops it, takes it out of the turns, drops the queue when empty', () => {
  const s = new QueueSchedule()
  const a = s.addConsumer('w', 'a', 'f', config('q', 2))
  s.addConsumer('w', 'b', 'f', config('q'))
  s.leased(a)
  const removed = s.removeConsumer('w', 'a')
  assert.is(removed, a)
  assert.is(a.stopped, true)
  assert.is(s.hasRoom(a), false)
  assert.equal(turn(s, 'q'), ['b'])
  // Its batch in flight still settles.
  s.settled(a, true)
  assert.is(a.inFlight, 0)
  assert.equal(turn(s, 'q'), ['b'])
  assert.is(s.removeConsumer('w', 'a'), undefined)
  assert.ok(s.removeConsumer('w', 'b'))
  assert.is(s.hasConsumers('q'), false)
  assert.equal(json(s).queues, {})
})

it('removeConsumer: an unknown consumer changes nothing', () => {
  const s = new QueueSchedule()
  s.addConsumer('w', 'a', 'f', config('q'))
  assert.is(s.removeConsumer('w', 'zz'), undefined)
  assert.is(s.removeConsumer('zz', 'a'), undefined)
  assert.equal(turn(s, 'q'), ['a'])
})

it('call queues: only queues marked as holding calls have room, up to CALL_RULES.concurrency', () => {
  const s = new QueueSchedule()
  assert.is(s.isCallQueue('calls'), false)
  assert.is(s.callRoom('calls'), false)
  assert.equal(s.queuesWithCalls, [])
  s.holdsCalls('calls')
  s.holdsCalls('calls')
  assert.is(s.isCallQueue('calls'), true)
  assert.equal(s.queuesWithCalls, ['calls'])
  assert.is(CALL_RULES.concurrency, 16)
  for (let i = 0; i < CALL_RULES.concurrency - 1; i++) s.callStarted('calls')
  assert.is(s.callRoom('calls'), true)
  s.callStarted('calls')
  assert.is(s.callRoom('calls'), false)
  s.callSettled('calls')
  assert.is(s.callRoom('calls'), true)
  // Another queue has its own count.
  s.holdsCalls('other')
  assert.is(s.callRoom('other'), true)
  assert.equal(s.queuesWithCalls, ['calls', 'other'])
})

it('call queues: calls in flight show in the JSON and leave it when settled', () => {
  const s = new QueueSchedule()
  s.holdsCalls('calls')
  s.callStarted('calls')
  s.callStarted('calls')
  assert.equal(json(s).queues, { calls: { calls_in_flight: 2 } })
  s.callSettled('calls')
  assert.equal(json(s).queues, { calls: { calls_in_flight: 1 } })
  s.callSettled('calls')
  assert.equal(json(s).queues, {})
  // Settling more than started never goes negative.
  s.callSettled('calls')
  assert.equal(json(s).queues, {})
  assert.is(s.callRoom('calls'), true)
})

it('starve: a queue waits once until taken', () => {
  const s = new QueueSchedule()
  assert.is(s.hasStarved, false)
  assert.is(s.starve('a'), true)
  assert.is(s.starve('a'), false)
  assert.is(s.starve('b'), true)
  assert.is(s.hasStarved, true)
  assert.equal(s.takeStarved(), ['a', 'b'])
  assert.is(s.hasStarved, false)
  assert.equal(s.takeStarved(), [])
  assert.is(s.starve('a'), true)
})

it('toJSON: consumers in turn order, calls in flight, starved queues, draining', () => {
  const s = new QueueSchedule()
  assert.equal(json(s), { draining: false, starved: [], queues: {} })
  const a = s.addConsumer('w1', 'a', 'f', config('q', 3, 7))
  s.addConsumer('w2', 'b', 'g', config('q'))
  s.leased(a)
  s.holdsCalls('q')
  s.callStarted('q')
  s.starve('z')
  s.draining = true
  assert.equal(json(s), {
    draining: true,
    starved: ['z'],
    queues: {
      q: {
        fifo: false,
        consumers: [
          { worker_id: 'w2', trigger_id: 'b', function_id: 'g', in_flight: 0, concurrency: 1, batch_size: 10 },
          { worker_id: 'w1', trigger_id: 'a', function_id: 'f', in_flight: 1, concurrency: 3, batch_size: 7 },
        ],
        calls_in_flight: 1,
      },
    },
  })
})

// -------------------------------------------------------------------------------------
// settlement()

const leases = [{ message_id: 'm1' }, { message_id: 'm2' }, { message_id: 'm3' }]
const idsOf = (ls: Array<{ message_id: string }>) => ls.map((l) => l.message_id)

it('settlement: a result acknowledges the whole batch', () => {
  for (const result of [null, undefined, 42, 'ok', { done: true }, { failed_message_ids: 'm1' }]) {
    const s = settlement(leases, { result })
    assert.equal(idsOf(s.ack), ['m1', 'm2', 'm3'], `result ${JSON.stringify(result)}`)
    assert.equal(s.fail, [])
    assert.is(s.error, undefined)
  }
})

it('settlement: failed_message_ids fail only those, with message_failed', () => {
  const s = settlement(leases, { result: { failed_message_ids: ['m2', 'unknown', 7] } })
  assert.equal(idsOf(s.ack), ['m1', 'm3'])
  assert.equal(idsOf(s.fail), ['m2'])
  assert.is((s.error as { code: string }).code, 'message_failed')
  // An empty list fails nothing.
  const none = settlement(leases, { result: { failed_message_ids: [] } })
  assert.equal(idsOf(none.ack), ['m1', 'm2', 'm3'])
  assert.equal(none.fail, [])
})

it('settlement: an error fails every message with that error', () => {
  const error = { code: 'boom', message: 'it broke' }
  const s = settlement(leases, { error })
  assert.equal(s.ack, [])
  assert.equal(idsOf(s.fail), ['m1', 'm2', 'm3'])
  assert.is(s.error, error)
  // Any error value, even one without a code.
  const plain = settlement(leases, { error: 'text' })
  assert.equal(idsOf(plain.fail), ['m1', 'm2', 'm3'])
  assert.is(plain.error, 'text')
  const nul = settlement(leases, { error: null })
  assert.equal(idsOf(nul.fail), ['m1', 'm2', 'm3'])
})

it('settlement: an invocation timeout leaves the batch to its lease', () => {
  const s = settlement(leases, { error: { code: 'invocation_timeout', message: 'late' } })
  assert.equal(s, { ack: [], fail: [] })
  // Other engine errors do fail the batch.
  assert.equal(idsOf(settlement(leases, { error: { code: 'worker_disconnected' } }).fail), ['m1', 'm2', 'm3'])
})

it.run()
