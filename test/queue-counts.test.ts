/**
 * The counts and the queues holding durable calls, as the memory and JetStream stores
 * compute them from their messages by queue (core/queue-store.ts).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { countQueues, queuesWithCalls, type Tally } from '../core/queue-store.js'

const it = suite('queue counts')

const m = (over: Partial<Tally> = {}): Tally => ({ visible_at: 0, enqueued_at: 5, call: false, ...over })
const queues = new Map<string, Map<string, Tally>>([
  ['jobs', new Map([
    ['a', m({ enqueued_at: 3 })],
    ['b', m({ visible_at: 200, receipt: 'r' })],
    ['c', m({ visible_at: 200, call: true })],
  ])],
  ['jobs.dlq', new Map([['d', m({ source_queue: 'jobs', enqueued_at: 1 })]])],
  ['__proto__', new Map([['e', m({ source_queue: 'gone' })]])],
  ['empty', new Map()],
])

it('each queue with messages: ready, in flight, delayed, its oldest; dead letters counted under the queue they came from', () => {
  const counts = countQueues(queues, (x) => x, 100)
  assert.equal(counts.jobs, { ready: 1, in_flight: 1, delayed: 1, dead_lettered: 1, oldest_enqueued_at: 3 })
  assert.equal(counts['jobs.dlq'], { ready: 1, in_flight: 0, delayed: 0, dead_lettered: 0, oldest_enqueued_at: 1 })
  assert.equal(counts.gone, { ready: 0, in_flight: 0, delayed: 0, dead_lettered: 1 })
  assert.ok(Object.hasOwn(counts, '__proto__'), 'any name is an own key')
  assert.not.ok(Object.hasOwn(counts, 'empty'), 'a queue with nothing in it is not listed')
  assert.is(countQueues(queues, (x) => x, 300).jobs.ready, 3, 'what came due is ready')
})

it('queues holding a durable call, each once', () => {
  assert.equal(queuesWithCalls(queues, (x) => x), ['jobs'])
  assert.equal(queuesWithCalls(new Map([['q', new Map([['x', { state: m({ call: true }) }], ['y', { state: m({ call: true }) }]])]]), (e) => e.state), ['q'])
})

it.run()
