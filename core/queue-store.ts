/**
 * The queue store: where queued messages live between send and acknowledgement. The
 * memory and SQLite stores (adapters/) implement this interface and pass one shared test
 * suite; a store on a network (NATS JetStream) can implement the same, which is why every
 * operation returns a promise. Each operation is atomic, so competing consumers never get
 * one message twice within its visibility timeout, and operations take effect in the order
 * they are made; a send is visible to receives once its promise has resolved (the SQLite
 * store commits the sends of one turn together). Times are milliseconds
 * since the epoch, given by the caller (`now`), so the rules can be tested at any time
 * without waiting.
 *
 * The rules (docs/queues.md has them in plain words, beside SQS and BullMQ):
 * - A receive leases visible messages, oldest first, for `visibilityMs`; an
 *   acknowledgement counts only while its lease is current.
 * - A failed message becomes visible again when its lease ends, or after `retryDelayMs`
 *   when the consumer has a backoff; one received `maxReceiveCount` times goes to its
 *   dead-letter queue instead (at once when it fails, or on its next receive when its
 *   lease ran out with no answer).
 * - A dead-letter queue is an ordinary queue: its messages (dead durable calls too) are
 *   received like any others, with `source_queue`, `source_receive_count` and
 *   `last_error`; on entering it a message's receive count starts again from 0, so the
 *   dead-letter queue's own `maxReceiveCount` applies to its own receives.
 * - FIFO receives (`fifo`) hand out one message group at a time, in send order: a group
 *   whose oldest message is not visible (leased, failing, delayed) is passed over until it
 *   is; a batch holds messages of one group only.
 * - A send with a deduplication id that the queue saw within the window returns the first
 *   send's message id and stores nothing.
 */
import { errors } from '../protocol/errors.js'
import { record } from './catalog.js'

/** W3C trace context and metadata of the call that sent a message, passed on to the call that handles it. */
export interface MessageContext {
  traceparent?: string
  baggage?: string
  metadata?: unknown
}

/** A message as the store holds it. */
export interface StoredMessage {
  message_id: string
  queue: string
  body: unknown
  /** Set for a durable call (`invokefunction` with `action: enqueue`): the function to call. */
  function_id?: string
  enqueued_at: number
  /** Invisible (delayed, leased, or waiting out a backoff) until then. */
  visible_at: number
  /** Receives from the queue it is in now. */
  receive_count: number
  /** Names the current lease; an acknowledgement must carry it. */
  receipt?: string
  last_error?: unknown
  /** For dead letters: the queue the message came from, and its receives there. */
  source_queue?: string
  source_receive_count?: number
  message_group_id?: string
  context?: MessageContext
}

/** A message handed to a consumer under a lease. */
export interface Delivery {
  message_id: string
  body: unknown
  function_id?: string
  receive_count: number
  enqueued_at: number
  receipt: string
  message_group_id?: string
  /** Dead letters only. */
  source_queue?: string
  source_receive_count?: number
  last_error?: unknown
  context?: MessageContext
}

export interface SendOptions {
  now: number
  /** Invisible for this long after `now`. Default 0. */
  delayMs?: number
  /** A durable call: the function that handles it. */
  function_id?: string
  message_group_id?: string
  /** A second send with this id to the same queue within `windowMs` stores nothing and returns the first's id. */
  deduplication?: { id: string; windowMs: number }
  context?: MessageContext
}

export interface ReceiveOptions {
  /** Most messages to lease. */
  max: number
  /** How long the lease lasts. */
  visibilityMs: number
  /** A message already received this often goes to `deadLetterQueue` instead of out again. */
  maxReceiveCount: number
  deadLetterQueue: string
  /** Lease durable calls (true) or messages (false; dead letters included, dead calls too). */
  calls: boolean
  /** Messages only: one message group per batch, in send order, a group only when its oldest message is visible. */
  fifo?: boolean
  /**
   * Durable calls only: whether a call of this function can run now. Calls it refuses are
   * left as they are (not leased, not counted, not dead-lettered), so a call waits for its
   * function rather than burning its receives while no worker offers it.
   */
  accept?: (function_id: string) => boolean
  /** Told the dead-letter queue of every message this receive moved there. */
  onDeadLetter?: (deadLetterQueue: string) => void
  now: number
}

export interface FailOptions {
  maxReceiveCount: number
  deadLetterQueue: string
  now: number
  /**
   * The consumer's backoff: how long after `now` a message that failed its `receive_count`th
   * receive becomes visible again. Without it, it becomes visible when its lease ends.
   */
  retryDelayMs?: (receive_count: number) => number
  /** Told the dead-letter queue of every message this failure moved there. */
  onDeadLetter?: (deadLetterQueue: string) => void
}

export interface QueueCounts {
  /** Visible now. */
  ready: number
  /** Leased to a consumer. */
  in_flight: number
  /** Not visible yet: sent with a delay, or waiting out a backoff. */
  delayed: number
  /** Messages of this queue now in a dead-letter queue. */
  dead_lettered: number
  /** When its oldest message was sent, if it holds any. */
  oldest_enqueued_at?: number
}

export interface QueueStore {
  readonly kind: 'memory' | 'sqlite' | 'jetstream'
  /** Stores a message; resolves with its id, and whether it was a duplicate (nothing stored). */
  send(queue: string, body: unknown, options: SendOptions): Promise<{ message_id: string; duplicate: boolean }>
  /** Leases up to `max` visible messages, oldest first; exhausted ones move to the dead-letter queue. */
  receive(queue: string, options: ReceiveOptions): Promise<Delivery[]>
  /** Deletes the messages whose lease is still current; resolves with how many. A stale receipt changes nothing. */
  ack(queue: string, leases: Array<{ message_id: string; receipt: string }>, now: number): Promise<number>
  /** Records a failed delivery (see the rules above). */
  fail(queue: string, leases: Array<{ message_id: string; receipt: string }>, error: unknown, options: FailOptions): Promise<void>
  /** The earliest time a message (or durable call) of `queue` becomes visible after `now`, if any is waiting. */
  nextVisibleAt(queue: string, calls: boolean, now: number): Promise<number | undefined>
  /** Messages of a queue, oldest first (for dead-letter listings). */
  list(queue: string, limit: number): Promise<StoredMessage[]>
  /** Moves dead letters (all, or those named) back to their source queues; resolves with how many, and which queues got them. */
  redrive(deadLetterQueue: string, message_ids: string[] | undefined, now: number): Promise<{ redriven: number; queues: string[] }>
  /** Queues holding durable calls that are not dead letters (to run after a restart). */
  callQueues(): Promise<string[]>
  /** Counts per queue that holds or dead-lettered any message. */
  counts(now: number): Promise<Record<string, QueueCounts>>
  /**
   * A store several engines share (JetStream) tells when a message arrived in a queue
   * (`call`: a durable call) that this engine did not put there itself, so that a
   * consumer here takes it; a store of one engine never does.
   */
  onArrival?(listener: (queue: string, call: boolean) => void): void
  close(): Promise<void>
}

/** What counting and `callQueues` read of a stored message. */
export interface Tally {
  visible_at: number
  receipt?: string
  enqueued_at: number
  source_queue?: string
  /** A durable call (it names a function), not a message. */
  call: boolean
}

/**
 * The queues holding a durable call (`QueueStore.callQueues`), from a store that keeps its
 * messages by queue in memory (the memory store; the JetStream store's copy of its state).
 */
export function queuesWithCalls<T>(queues: Iterable<[string, Map<string, T>]>, tally: (entry: T) => Tally): string[] {
  const out: string[] = []
  for (const [queue, messages] of queues) {
    for (const entry of messages.values()) {
      if (!tally(entry).call) continue
      out.push(queue)
      break
    }
  }
  return out
}

/** `QueueStore.counts` of the same kind of store: by queue name (any name, `__proto__` included, is an own key). */
export function countQueues<T>(queues: Iterable<[string, Map<string, T>]>, tally: (entry: T) => Tally, now: number): Record<string, QueueCounts> {
  const out = record<QueueCounts>()
  const of = (queue: string) => (out[queue] ??= { ready: 0, in_flight: 0, delayed: 0, dead_lettered: 0 })
  for (const [queue, messages] of queues) {
    if (messages.size === 0) continue
    const c = of(queue)
    for (const entry of messages.values()) {
      const m = tally(entry)
      if (m.visible_at <= now) c.ready++
      else if (m.receipt !== undefined) c.in_flight++
      else c.delayed++
      if (c.oldest_enqueued_at === undefined || m.enqueued_at < c.oldest_enqueued_at) c.oldest_enqueued_at = m.enqueued_at
      if (m.source_queue !== undefined) of(m.source_queue).dead_lettered++
    }
  }
  return out
}

/** Why a message went to the dead-letter queue when its lease ran out with no error recorded. */
export const expiredLease = (receive_count: number) => errors.leaseExpired(receive_count)

/** Drops the fields of a context that are not set; undefined when none is. */
export function contextOf(context: MessageContext | undefined): MessageContext | undefined {
  if (!context) return undefined
  const out: MessageContext = {}
  if (context.traceparent !== undefined) out.traceparent = context.traceparent
  if (context.baggage !== undefined) out.baggage = context.baggage
  if (context.metadata !== undefined) out.metadata = context.metadata
  return Object.keys(out).length > 0 ? out : undefined
}
