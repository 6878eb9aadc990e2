/**
 * The config of a `queue` trigger, with its defaults. Every refusal names the field, what
 * was expected and what came.
 */
import { shown as show } from '../protocol/values.js'

/** What a queue name may be: 1–128 of letters, digits, `_ . : -`. */
export const QUEUE_NAME = /^[A-Za-z0-9_.:-]{1,128}$/

export interface QueueConsumerConfig {
  queue_name: string
  batch_size: number
  /** Seconds. */
  visibility_timeout: number
  max_receive_count: number
  dead_letter_queue: string
  /** Batches in flight at once for this trigger. */
  concurrency: number
}

const shown = (value: unknown) => show(value, 140)

/** Checks a queue name; returns the refusal text, if any. */
export function queueNameProblem(field: string, value: unknown): string | undefined {
  if (typeof value !== 'string' || !QUEUE_NAME.test(value)) {
    return `'${field}' must be 1 to 128 letters, digits or '_', '.', ':', '-', got ${shown(value)}`
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
  // The default (`<queue_name>.dlq`) is always usable, even when it is longer than a name a
  // user may give (a queue name of 125 to 128 characters).
  let dead_letter_queue = `${queue_name}.dlq`
  if (config.dead_letter_queue !== undefined) {
    const dlqProblem = queueNameProblem('dead_letter_queue', config.dead_letter_queue)
    if (dlqProblem) return dlqProblem
    dead_letter_queue = config.dead_letter_queue as string
    if (dead_letter_queue === queue_name) return `'dead_letter_queue' must differ from 'queue_name' ('${queue_name}')`
  }
  return { queue_name, batch_size, visibility_timeout, max_receive_count, dead_letter_queue, concurrency }
}
