/**
 * Pub/sub's pure parts, alone: core/topic-table.ts (the distinct functions subscribed to a
 * topic, plain and durable apart, in subscription order; replacing and removing a
 * trigger's subscription) and core/pubsub-config.ts (a `{topic}` config, iii's
 * `queue_config` of a durable subscriber mapped onto a queue consumer, `publish`'s input,
 * and the queue each durable subscriber gets).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { TopicTable } from '../core/topic-table.js'
import { durableQueueName, forSubscriber, parseDurableConfig, parsePublish, parseTopicConfig } from '../core/pubsub-config.js'
import { QUEUE_NAME } from '../core/queue-config.js'

const it = suite('core: pub/sub')

const sub = (worker_id: string, trigger_id: string, function_id: string, topic: string, durable = false, metadata?: unknown) =>
  metadata === undefined ? { worker_id, trigger_id, function_id, topic, durable } : { worker_id, trigger_id, function_id, topic, durable, metadata }

it('TopicTable: each function once per topic, in subscription order, with its first subscription\'s metadata', () => {
  const t = new TopicTable()
  t.add(sub('w1', 'a', 'f', 'orders', false, { m: 1 }))
  t.add(sub('w2', 'a', 'g', 'orders'))
  t.add(sub('w2', 'b', 'f', 'orders', false, { m: 2 })) // a replica of f: one subscriber
  t.add(sub('w1', 'c', 'h', 'payments'))
  t.add(sub('w1', 'd', 'k', 'orders', true)) // durable: apart
  assert.equal(t.subscribers('orders', false), [{ function_id: 'f', metadata: { m: 1 } }, { function_id: 'g' }])
  assert.equal(t.subscribers('orders', true), [{ function_id: 'k' }])
  assert.equal(t.subscribers('payments', false), [{ function_id: 'h' }])
  assert.equal(t.subscribers('payments', true), [])
  assert.equal(t.subscribers('nobody', false), [])
  assert.is(t.size, 5)
})

it('TopicTable: a trigger holds one subscription; removing it leaves the others', () => {
  const t = new TopicTable()
  t.add(sub('w1', 'a', 'f', 'orders'))
  t.add(sub('w1', 'a', 'f', 'payments')) // the same trigger again: replaced
  assert.equal(t.subscribers('orders', false), [])
  assert.equal(t.subscribers('payments', false), [{ function_id: 'f' }])
  t.add(sub('w2', 'b', 'f', 'payments'))
  assert.equal(t.remove({ worker_id: 'w1', trigger_id: 'a' })?.topic, 'payments')
  assert.equal(t.subscribers('payments', false), [{ function_id: 'f' }], 'the other trigger still subscribes f')
  assert.is(t.remove({ worker_id: 'w1', trigger_id: 'a' }), undefined)
  t.remove({ worker_id: 'w2', trigger_id: 'b' })
  assert.is(t.size, 0)
  assert.equal(t.toJSON(), { topics: {} })
})

it('parseTopicConfig: a topic is required, a non-empty string', () => {
  assert.equal(parseTopicConfig({ topic: 'orders.created', other: 1 }), { topic: 'orders.created' })
  assert.is(parseTopicConfig({}), "'topic' is required: the topic to subscribe to, e.g. 'orders.created'")
  assert.is(parseTopicConfig({ topic: '' }), "'topic' must be a non-empty string of at most 1024 characters, got ''")
  assert.is(parseTopicConfig({ topic: 7 }), "'topic' must be a non-empty string of at most 1024 characters, got 7")
})

it("parseDurableConfig: iii's queue_config onto a queue consumer, one message per call, exponential backoff from 1 s by default", () => {
  const plain = parseDurableConfig({ topic: 'jobs' })
  assert.equal(plain, { topic: 'jobs', queue: { batch_size: 1, visibility_timeout: 30, max_receive_count: 5, concurrency: 1, delay_seconds: 0, fifo: false, backoff: { type: 'exponential', delay_ms: 1000, max_delay_ms: 900_000 }, unwrap: true } })
  const given = parseDurableConfig({ topic: 'jobs', queue_config: { maxRetries: 3, concurrency: 4, backoffType: 'fixed', backoffDelayMs: 50, visibilityTimeout: 9 } })
  assert.equal(typeof given === 'string' ? given : [given.queue.max_receive_count, given.queue.concurrency, given.queue.backoff], [3, 4, { type: 'fixed', delay_ms: 50, max_delay_ms: 900_000 }])
  assert.is(parseDurableConfig({ topic: 'jobs', queue_config: { maxRetries: 0 } }), "'queue_config.maxRetries' must be a whole number from 1 to 100, got 0")
  assert.is(parseDurableConfig({ topic: 'jobs', queue_config: { backoffType: 'linear' } }), "'queue_config.backoffType' must be 'fixed' or 'exponential', got 'linear'")
  assert.is(parseDurableConfig({ topic: 'jobs', queue_config: [] }), "'queue_config' must be an object such as { maxRetries: 5 }, got an array")
  assert.is(parseDurableConfig({}), "'topic' is required: the topic to subscribe to, e.g. 'orders.created'")
})

it('durableQueueName: readable when it can be a queue name, a hash of topic and function otherwise; forSubscriber puts its dead letters beside it', () => {
  assert.is(durableQueueName('jobs', 'jobs::work'), 'durable:jobs:jobs::work')
  const odd = durableQueueName('user created', 'on/create')
  assert.match(odd, /^durable:[0-9a-f]{40}$/)
  assert.is.not(durableQueueName('user created', 'on/create2'), odd)
  assert.ok(QUEUE_NAME.test(durableQueueName('t'.repeat(500), 'f')))
  const parsed = parseDurableConfig({ topic: 'jobs' })
  if (typeof parsed === 'string') throw new Error(parsed)
  const consumer = forSubscriber('jobs', 'jobs::work', parsed.queue)
  assert.equal([consumer.queue_name, consumer.dead_letter_queue], ['durable:jobs:jobs::work', 'durable:jobs:jobs::work.dlq'])
})

it('parsePublish: {topic, data}; data defaults to null; refusals name the function and the field', () => {
  assert.equal(parsePublish('publish', { topic: 'a', data: { n: 1 } }), { topic: 'a', data: { n: 1 } })
  assert.equal(parsePublish('publish', { topic: 'a' }), { topic: 'a', data: null })
  assert.equal(parsePublish('publish', { data: 1 }), { problem: "publish: 'topic' is required: the topic to publish to, e.g. 'orders.created'" })
  assert.equal(parsePublish('iii::durable::publish', 'a'), { problem: "iii::durable::publish: the input must be an object {topic, data}, got 'a'" })
})

it.run()
