/**
 * The config of a `queue` trigger, with its defaults, and the other inputs of queues that
 * need checking (names, delays, message group and deduplication ids). Every refusal names
 * the field, what was expected and what came. The meaning of each option, beside its SQS
 * and BullMQ counterpart, is in docs/queues.md.
 */
import { shown as show } from '../protocol/values.js'

/** What a queue name may be: 1–128 of letters, digits, `_ . : -`. */
export const QUEUE_NAME = /^[A-Za-z0-9_.:-]{1,128}$/

/** The longest delay, in seconds (12 hours; SQS allows 15 minutes). */
export const MAX_DELAY_SECONDS = 43_200

/** How long a failed message waits before it is visible again (instead of the rest of its visibility timeout). */
export interface Backoff {
  /** `fixed`: `delay_ms` after every failure; `exponential`: `delay_ms` doubled per receive, with jitter. */
  type: 'fixed' | 'exponential'
  /** Milliseconds. */
  delay_ms: number
  /** Milliseconds; the exponential delay never exceeds it. Default 900 000 (15 minutes). */
  max_delay_ms: number
}

export interface QueueConsumerConfig {
  queue_name: string
  /** Most messages per batch. Default 1 (1–1000). */
  batch_size: number
  /** Seconds a batch is leased for; an unanswered batch becomes visible again after it. Default 30 (1–43200). */
  visibility_timeout: number
  /** Receives before a message goes to the dead-letter queue. Default 5 (1–100). */
  max_receive_count: number
  /** Default `<queue_name>.dlq`. */
  dead_letter_queue: string
  /** Batches in flight at once for this trigger. Default 1 (1–100). */
  concurrency: number
  /** The queue's default delay in seconds, for sends that give none. Default 0 (0–43200). */
  delay_seconds: number
  /** Each message group in send order, one batch per group in flight. Default false. */
  fifo: boolean
  /** Default: none (a failed message waits out its visibility timeout). */
  backoff?: Backoff
  /**
   * Set for a durable subscriber's queue (`durable:subscriber`), never by a queue trigger:
   * its function gets each message's body as its input, one message per call, as iii's
   * subscribers do; an answer acknowledges it, an error fails it.
   */
  unwrap?: true
}

const shown = (value: unknown) => show(value, 140)

/** Checks a queue name; returns the refusal text, if any. */
export function queueNameProblem(field: string, value: unknown): string | undefined {
  if (typeof value !== 'string' || !QUEUE_NAME.test(value)) {
    return `'${field}' must be 1 to 128 letters, digits or '_', '.', ':', '-', got ${shown(value)}`
  }
  return undefined
}

/** Checks a message group id or a deduplication id (SQS: 1–128 printable characters); returns the refusal text, if any. */
export function tagProblem(field: string, value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0 || value.length > 128 || /[\x00-\x1f\x7f]/.test(value)) {
    return `'${field}' must be 1 to 128 printable characters, got ${shown(value)}`
  }
  return undefined
}

/** Checks a delay in seconds; returns the refusal text, if any. */
export function delayProblem(field: string, value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_DELAY_SECONDS) {
    return `'${field}' must be a whole number from 0 to ${MAX_DELAY_SECONDS}, got ${shown(value)}`
  }
  return undefined
}

function wholeNumber(config: Record<string, unknown>, field: string, min: number, max: number, fallback: number): number | string {
  const value = config[field]
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    return `'${field}' must be a whole number from ${min} to ${max}, got ${shown(value)}`
  }
  return value
}

function parseBackoff(value: unknown): Backoff | string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `'backoff' must be an object such as { type: 'exponential', delay_ms: 1000 }, got ${shown(value)}`
  }
  const b = value as Record<string, unknown>
  const unknown = Object.keys(b).find((k) => !['type', 'delay_ms', 'max_delay_ms'].includes(k))
  if (unknown !== undefined) return `'backoff' takes type, delay_ms and max_delay_ms, got '${unknown}'`
  if (b.type !== 'fixed' && b.type !== 'exponential') return `'backoff.type' must be 'fixed' or 'exponential', got ${shown(b.type)}`
  const delay_ms = wholeNumber(b, 'delay_ms', 1, MAX_DELAY_SECONDS * 1000, NaN)
  if (typeof delay_ms === 'string') return delay_ms.replace("'delay_ms'", "'backoff.delay_ms'")
  if (Number.isNaN(delay_ms)) return "'backoff.delay_ms' is required: the delay in milliseconds, e.g. 1000"
  const max_delay_ms = wholeNumber(b, 'max_delay_ms', delay_ms, MAX_DELAY_SECONDS * 1000, Math.max(delay_ms, 900_000))
  if (typeof max_delay_ms === 'string') return max_delay_ms.replace("'max_delay_ms'", "'backoff.max_delay_ms'")
  return { type: b.type, delay_ms, max_delay_ms }
}

/** Validates a queue trigger's config; returns it with defaults, or the text of the refusal. */
export function parseQueueConfig(config: Record<string, unknown>): QueueConsumerConfig | string {
  if (config.queue_name === undefined) return "'queue_name' is required: the queue to consume, e.g. 'email_queue'"
  const nameProblem = queueNameProblem('queue_name', config.queue_name)
  if (nameProblem) return nameProblem
  const queue_name = config.queue_name as string
  const batch_size = wholeNumber(config, 'batch_size', 1, 1000, 1)
  if (typeof batch_size === 'string') return batch_size
  const visibility_timeout = wholeNumber(config, 'visibility_timeout', 1, 43_200, 30)
  if (typeof visibility_timeout === 'string') return visibility_timeout
  const max_receive_count = wholeNumber(config, 'max_receive_count', 1, 100, 5)
  if (typeof max_receive_count === 'string') return max_receive_count
  const concurrency = wholeNumber(config, 'concurrency', 1, 100, 1)
  if (typeof concurrency === 'string') return concurrency
  const delay_seconds = wholeNumber(config, 'delay_seconds', 0, MAX_DELAY_SECONDS, 0)
  if (typeof delay_seconds === 'string') return delay_seconds
  if (config.fifo !== undefined && typeof config.fifo !== 'boolean') return `'fifo' must be true or false, got ${shown(config.fifo)}`
  const backoff = parseBackoff(config.backoff)
  if (typeof backoff === 'string') return backoff
  // The default (`<queue_name>.dlq`) is always usable, even when it is longer than a name a
  // user may give (a queue name of 125 to 128 characters).
  let dead_letter_queue = `${queue_name}.dlq`
  if (config.dead_letter_queue !== undefined) {
    const dlqProblem = queueNameProblem('dead_letter_queue', config.dead_letter_queue)
    if (dlqProblem) return dlqProblem
    dead_letter_queue = config.dead_letter_queue as string
    if (dead_letter_queue === queue_name) return `'dead_letter_queue' must differ from 'queue_name' ('${queue_name}')`
  }
  const parsed: QueueConsumerConfig = { queue_name, batch_size, visibility_timeout, max_receive_count, dead_letter_queue, concurrency, delay_seconds, fifo: config.fifo === true }
  if (backoff) parsed.backoff = backoff
  return parsed
}

/**
 * How long after a failure on its `receive_count`th receive a message becomes visible
 * again. Exponential: `delay_ms · 2^(receive_count − 1)`, capped at `max_delay_ms`, then
 * "equal jitter" (half of it fixed, half at random), so that the retries of messages that
 * failed together spread out instead of failing together again.
 */
export function backoffDelay(backoff: Backoff, receive_count: number, random: () => number = Math.random): number {
  if (backoff.type === 'fixed') return backoff.delay_ms
  const delay = Math.min(backoff.max_delay_ms, backoff.delay_ms * 2 ** Math.max(0, receive_count - 1))
  return Math.round(delay / 2 + (random() * delay) / 2)
}

/**
 * The queues a trigger uses by name: a `queue` trigger's `queue_name` and its explicit
 * `dead_letter_queue` (those that are text; the config is checked later, by the queue type).
 * A token's `queues` patterns must match each (docs/security.md).
 */
export function queuesNamed(trigger_type: string, config: unknown): string[] {
  if (trigger_type !== 'queue' || typeof config !== 'object' || config === null) return []
  const { queue_name, dead_letter_queue } = config as { queue_name?: unknown; dead_letter_queue?: unknown }
  return [queue_name, dead_letter_queue].filter((q): q is string => typeof q === 'string')
}
