/**
 * Pub/sub's inputs, as iii names them: the config of a `subscribe` or `durable:subscriber`
 * trigger (`{topic}`), the input of `publish` and `iii::durable::publish`
 * (`{topic, data}`), and the queue each durable subscriber gets. Every refusal names the
 * field, what was expected and what came.
 */
import { createHash } from 'node:crypto'
import { shown } from '../protocol/values.js'
import { parseQueueConfig, QUEUE_NAME, type QueueConsumerConfig } from './queue-config.js'

/** The longest topic (as long as an id). */
export const MAX_TOPIC_LENGTH = 1024

/** Checks a topic; returns the refusal text, if any. */
export function topicProblem(value: unknown): string | undefined {
  if (value === undefined) return "'topic' is required: the topic to subscribe to, e.g. 'orders.created'"
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TOPIC_LENGTH) return `'topic' must be a non-empty string of at most ${MAX_TOPIC_LENGTH} characters, got ${shown(value)}`
  return undefined
}

/** A `subscribe` or `durable:subscriber` trigger's config: its topic, or the refusal (`invalid_config`). Other fields are ignored. */
export function parseTopicConfig(config: Record<string, unknown>): { topic: string } | string {
  return topicProblem(config.topic) ?? { topic: config.topic as string }
}

/** The default backoff of a durable subscriber's retries (iii's: 1 s, doubled per attempt). */
export const DURABLE_BACKOFF = { type: 'exponential', delay_ms: 1000 } as const

/**
 * A `durable:subscriber` trigger's config: `{topic, queue_config?: {maxRetries?,
 * concurrency?, backoffType?, backoffDelayMs?}}` as iii writes it. Returns the topic and
 * how its subscriber's queue is consumed (queue_name and dead-letter queue are set per
 * function: `forSubscriber`), or the refusal (`invalid_config`). `maxRetries` is the
 * number of receives before a dead letter (default 5); the backoff is exponential from 1 s
 * unless given. iii's other queue_config fields are ignored.
 */
export function parseDurableConfig(config: Record<string, unknown>): { topic: string; queue: Omit<QueueConsumerConfig, 'queue_name' | 'dead_letter_queue'> } | string {
  const topic = parseTopicConfig(config)
  if (typeof topic === 'string') return topic
  const given = config.queue_config ?? {}
  if (typeof given !== 'object' || given === null || Array.isArray(given)) return `'queue_config' must be an object such as { maxRetries: 5 }, got ${shown(given)}`
  const q = given as Record<string, unknown>
  // Checked as a queue trigger's options (their texts name iii's fields).
  const names: Record<string, string> = { max_receive_count: 'queue_config.maxRetries', concurrency: 'queue_config.concurrency', 'backoff.type': 'queue_config.backoffType', 'backoff.delay_ms': 'queue_config.backoffDelayMs' }
  const parsed = parseQueueConfig({
    queue_name: 'durable',
    max_receive_count: q.maxRetries,
    concurrency: q.concurrency,
    backoff: { type: q.backoffType ?? DURABLE_BACKOFF.type, delay_ms: q.backoffDelayMs ?? DURABLE_BACKOFF.delay_ms },
  })
  if (typeof parsed === 'string') return parsed.replace(/'(max_receive_count|concurrency|backoff\.type|backoff\.delay_ms)'/, (_, field: string) => `'${names[field]}'`)
  const { queue_name: _name, dead_letter_queue: _dlq, ...queue } = parsed
  return { topic: topic.topic, queue: { ...queue, unwrap: true } }
}

/** The consumer config of one subscriber's queue: `durableQueueName`, and its dead letters beside it (`<queue>.dlq`). */
export function forSubscriber(topic: string, function_id: string, queue: Omit<QueueConsumerConfig, 'queue_name' | 'dead_letter_queue'>): QueueConsumerConfig {
  const queue_name = durableQueueName(topic, function_id)
  return { ...queue, queue_name, dead_letter_queue: `${queue_name}.dlq` }
}

/** `publish` / `iii::durable::publish` input: the topic and the data (absent: `null`), or the refusal (`invalid_message`). */
export function parsePublish(function_id: string, data: unknown): { topic: string; data: unknown } | { problem: string } {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { problem: `${function_id}: the input must be an object {topic, data}, got ${shown(data)}` }
  const { topic, data: payload } = data as Record<string, unknown>
  const problem = topicProblem(topic)
  if (problem) return { problem: `${function_id}: ${problem.replace('the topic to subscribe to', 'the topic to publish to')}` }
  return { topic: topic as string, data: payload ?? null }
}

/**
 * The durable queue of one subscriber (a function subscribed to a topic with
 * `durable:subscriber`): `durable:<topic>:<function_id>`, or, when that is not a queue name
 * (too long, or characters a queue name may not have), `durable:` and a hash of both.
 */
export function durableQueueName(topic: string, function_id: string): string {
  const readable = `durable:${topic}:${function_id}`
  if (QUEUE_NAME.test(readable)) return readable
  return `durable:${createHash('sha256').update(topic).update('\0').update(function_id).digest('hex').slice(0, 40)}`
}
