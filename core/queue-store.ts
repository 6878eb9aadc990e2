/**
 * The queue store: where queued messages live between send and acknowledgement. Two
 * implementations share this interface and one test suite: memory and SQLite. Every
 * operation is synchronous and atomic, so competing consumers never get one message twice
 * within its visibility timeout.
 */

import { errors } from '../protocol/errors.js'

/** A message as the store holds it. */
export interface StoredMessage {
  message_id: string
  queue: string
  body: unknown
  /** Set for a durable call (`invokefunction` with `action: enqueue`): the function to call. */
  function_id?: string
  /** Milliseconds since the epoch. */
  enqueued_at: number
  /** Invisible (delayed or leased) until then. */
  visible_at: number
  receive_count: number
  /** Names the current lease; an acknowledgement must carry it. */
  receipt?: string
  last_error?: unknown
  /** For dead letters: the queue the message came from. */
  source_queue?: string
}

/** A message handed to a consumer under a lease. */
export interface Delivery {
  message_id: string
  body: unknown
  function_id?: string
  receive_count: number
  enqueued_at: number
  receipt: string
}

export interface ReceiveOptions {
  /** Most messages to lease. */
  max: number
  /** How long the lease lasts. */
  visibilityMs: number
  /** A message already received this often goes to `deadLetterQueue` instead of out again. */
  maxReceiveCount: number
  deadLetterQueue: string
  /** Lease durable calls (true) or plain messages (false). Dead calls (in a dead-letter queue) are never leased. */
  calls: boolean
  /**
   * Durable calls only: whether a call of this function can run now. Calls it refuses are
   * left as they are (not leased, not counted, not dead-lettered), so a call waits for its
   * function rather than burning its receives while no worker offers it.
   */
  accept?: (function_id: string) => boolean
  now: number
}

export interface QueueCounts {
  /** Visible now. */
  ready: number
  /** Leased to a consumer. */
  in_flight: number
  /** Sent with a delay, not yet visible. */
  delayed: number
}

export interface QueueStore {
  readonly kind: 'memory' | 'sqlite'
  /** Stores a message; returns its id. */
  send(queue: string, body: unknown, options: { now: number; delayMs?: number; function_id?: string }): string
  /** Leases up to `max` visible messages, oldest first; exhausted ones move to the dead-letter queue. */
  receive(queue: string, options: ReceiveOptions): Delivery[]
  /** Deletes the messages whose lease is still current; returns how many. A stale receipt changes nothing. */
  ack(queue: string, leases: Array<{ message_id: string; receipt: string }>, now: number): number
  /**
   * Records a failed delivery: the messages become visible when their lease ends; those
   * that reached `maxReceiveCount` move to the dead-letter queue at once.
   */
  fail(queue: string, leases: Array<{ message_id: string; receipt: string }>, error: unknown, options: { maxReceiveCount: number; deadLetterQueue: string; now: number }): void
  /** The earliest time a message of `queue` becomes visible after `now`, if any is waiting. */
  nextVisibleAt(queue: string, calls: boolean, now: number): number | undefined
  /** Messages of a queue, oldest first (for dead-letter listings). */
  list(queue: string, limit: number): StoredMessage[]
  /** Moves dead letters (all, or those named) back to their source queues; returns how many, and which queues got them. */
  redrive(deadLetterQueue: string, message_ids: string[] | undefined, now: number): { redriven: number; queues: string[] }
  /** Queues holding durable calls that are not dead letters (to run after a restart). */
  callQueues(): string[]
  /** Counts per queue. */
  counts(now: number): Record<string, QueueCounts>
  close(): void
}

/** Why a message went to the dead-letter queue when its lease ran out with no error recorded. */
export const expiredLease = (receive_count: number) => errors.leaseExpired(receive_count)
