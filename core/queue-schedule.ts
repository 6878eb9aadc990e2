/**
 * Queue scheduling: who gets the next batch of a queue, how many batches each consumer may
 * have in flight, which queues wait for a function no worker offers yet, and what a
 * function's answer does to the messages it was given. Pure data and rules: `provider:queue`
 * (actors/queue-provider.ts) owns the store and the timers and asks this module what to
 * do; its JSON form is that actor's snapshot (the consumers of every queue).
 *
 * Rules (docs/protocol.md, queues):
 * - Consumers of a queue take turns, least recently served first: one that gets a batch, or
 *   whose batch failed, goes to the back, so competing triggers share a queue and a batch
 *   that came back goes to another consumer when there is one.
 * - A consumer has at most `concurrency` batches in flight.
 * - A consumer whose function no worker offers right now leaves the messages to others, or
 *   to later; the queue is "starved" until the catalog changes.
 * - Durable calls (`invokefunction` with `action: enqueue`) run with CALL_RULES.
 */
import type { ErrorBody } from '../protocol/messages.js'
import { errors } from '../protocol/errors.js'
import type { Outcome } from './call-table.js'
import type { QueueConsumerConfig } from './queue-config.js'
import { record } from './catalog.js'

/** Delivery rules for durable calls, which have no trigger config. */
export const CALL_RULES = { visibility_timeout: 30, max_receive_count: 5, concurrency: 16 } as const

/** One queue trigger's consumer. */
export interface Consumer {
  readonly key: string
  readonly worker_id: string
  readonly trigger_id: string
  readonly function_id: string
  readonly config: QueueConsumerConfig
  /** Batches in flight. */
  inFlight: number
  /** Removed: no new batch; batches in flight still settle. */
  stopped: boolean
}

const consumerKey = (worker_id: string, trigger_id: string) => `${worker_id}\u0000${trigger_id}`

export class QueueSchedule {
  private readonly consumers = new Map<string, Consumer>()
  /** Consumers per queue, least recently served first. */
  private readonly byQueue = new Map<string, Consumer[]>()
  /** Queues that may hold durable calls. */
  private readonly callQueues = new Set<string>()
  /** Durable calls in flight, per queue. */
  private readonly callsInFlight = new Map<string, number>()
  /** Queues with work waiting for its function to be offered by some worker. */
  private readonly starved = new Set<string>()
  /** Set once the engine stops: nothing new is leased. */
  draining = false

  /**
   * Why a consumer with `config` cannot join its queue, or undefined. The consumers of one
   * queue must agree on what belongs to the queue rather than to a trigger: whether it is
   * FIFO, and its default delay.
   */
  conflict(config: QueueConsumerConfig): string | undefined {
    const other = this.byQueue.get(config.queue_name)?.[0]
    if (!other) return undefined
    const by = `trigger '${other.trigger_id}' of worker '${other.worker_id}'`
    if (other.config.fifo !== config.fifo) {
      return `queue '${config.queue_name}' is ${other.config.fifo ? '' : 'not '}FIFO for ${by}; every trigger on a queue must give the same 'fifo'`
    }
    if (other.config.delay_seconds !== config.delay_seconds) {
      return `queue '${config.queue_name}' has 'delay_seconds' ${other.config.delay_seconds} for ${by}; every trigger on a queue must give the same 'delay_seconds'`
    }
    return undefined
  }

  /** What the queue's consumers say of it: FIFO or not, and its default delay (a queue nobody consumes: neither). */
  attributes(queue: string): { fifo: boolean; delay_seconds: number } {
    const config = this.byQueue.get(queue)?.[0]?.config
    return { fifo: config?.fifo ?? false, delay_seconds: config?.delay_seconds ?? 0 }
  }

  /** The consumers of `queue`, in turn order. */
  consumersOf(queue: string): readonly Consumer[] {
    return this.byQueue.get(queue) ?? []
  }

  /** Queues with consumers. */
  get consumedQueues(): string[] {
    return [...this.byQueue.keys()]
  }

  /** Adds a consumer at the back of its queue (check `conflict` first). */
  addConsumer(worker_id: string, trigger_id: string, function_id: string, config: QueueConsumerConfig): Consumer {
    const consumer: Consumer = { key: consumerKey(worker_id, trigger_id), worker_id, trigger_id, function_id, config, inFlight: 0, stopped: false }
    this.consumers.set(consumer.key, consumer)
    const list = this.byQueue.get(config.queue_name)
    if (list) list.push(consumer)
    else this.byQueue.set(config.queue_name, [consumer])
    return consumer
  }

  /** Removes a consumer; its batches in flight still settle. */
  removeConsumer(worker_id: string, trigger_id: string): Consumer | undefined {
    const key = consumerKey(worker_id, trigger_id)
    const consumer = this.consumers.get(key)
    if (!consumer) return undefined
    consumer.stopped = true
    this.consumers.delete(key)
    const list = this.byQueue.get(consumer.config.queue_name) ?? []
    list.splice(list.indexOf(consumer), 1)
    if (list.length === 0) this.byQueue.delete(consumer.config.queue_name)
    return consumer
  }

  hasConsumers(queue: string): boolean {
    return (this.byQueue.get(queue)?.length ?? 0) > 0
  }

  /**
   * True when some consumer of `queue` has room for a batch (offered or not). While none
   * has, the queue needs no wake-up: each consumer's batch in flight pumps the queue again
   * when it settles.
   */
  consumerRoom(queue: string): boolean {
    for (const c of this.byQueue.get(queue) ?? []) if (this.hasRoom(c)) return true
    return false
  }

  /**
   * The consumers that may take batches of `queue` now, in turn order: not stopped, with
   * room, and with their function offered (`available`). `waiting` is true when some
   * consumer has room but no worker offers its function.
   */
  takers(queue: string, available: (function_id: string) => boolean): { takers: Consumer[]; waiting: boolean } {
    const takers: Consumer[] = []
    let waiting = false
    for (const c of this.byQueue.get(queue) ?? []) {
      if (c.stopped || !this.hasRoom(c)) continue
      if (available(c.function_id)) takers.push(c)
      else waiting = true
    }
    return { takers, waiting }
  }

  hasRoom(consumer: Consumer): boolean {
    return !consumer.stopped && consumer.inFlight < consumer.config.concurrency
  }

  /** A batch was leased to `consumer`: it goes to the back of its queue. */
  leased(consumer: Consumer): void {
    consumer.inFlight++
    this.toBack(consumer)
  }

  /** A batch of `consumer` settled; one that failed sends it to the back (its batch goes to another consumer next). */
  settled(consumer: Consumer, failed: boolean): void {
    consumer.inFlight--
    if (failed) this.toBack(consumer)
  }

  /** `queue` may hold durable calls from now on. */
  holdsCalls(queue: string): void {
    this.callQueues.add(queue)
  }

  isCallQueue(queue: string): boolean {
    return this.callQueues.has(queue)
  }

  /** Queues that may hold durable calls. */
  get queuesWithCalls(): string[] {
    return [...this.callQueues]
  }

  /** Whether `queue` may run one more durable call now. */
  callRoom(queue: string): boolean {
    return this.callQueues.has(queue) && (this.callsInFlight.get(queue) ?? 0) < CALL_RULES.concurrency
  }

  callStarted(queue: string): void {
    this.callsInFlight.set(queue, (this.callsInFlight.get(queue) ?? 0) + 1)
  }

  callSettled(queue: string): void {
    const n = (this.callsInFlight.get(queue) ?? 1) - 1
    if (n > 0) this.callsInFlight.set(queue, n)
    else this.callsInFlight.delete(queue)
  }

  /** `queue` has work waiting for a function; returns true if it was not already waiting. */
  starve(queue: string): boolean {
    if (this.starved.has(queue)) return false
    this.starved.add(queue)
    return true
  }

  get hasStarved(): boolean {
    return this.starved.size > 0
  }

  /** The queues waiting for a function, now to be tried again; none is waiting afterwards. */
  takeStarved(): string[] {
    const queues = [...this.starved]
    this.starved.clear()
    return queues
  }

  /** What the inspector shows: the consumers of every queue in turn order, and durable calls in flight. */
  toJSON() {
    const queues = record<unknown>()
    for (const [queue, list] of this.byQueue) {
      queues[queue] = {
        fifo: list[0].config.fifo,
        consumers: list.map((c) => ({ worker_id: c.worker_id, trigger_id: c.trigger_id, function_id: c.function_id, in_flight: c.inFlight, concurrency: c.config.concurrency, batch_size: c.config.batch_size })),
      }
    }
    for (const [queue, n] of this.callsInFlight) queues[queue] = { ...(queues[queue] as object), calls_in_flight: n }
    return { draining: this.draining, starved: [...this.starved], queues }
  }

  private toBack(consumer: Consumer): void {
    const list = this.byQueue.get(consumer.config.queue_name)
    const at = list?.indexOf(consumer) ?? -1
    if (list && at >= 0 && at < list.length - 1) list.push(...list.splice(at, 1))
  }
}

/** What a batch's outcome does to its messages: acknowledge some, fail others with an error, or leave them to their lease. */
export interface Settlement<L> {
  ack: L[]
  fail: L[]
  error?: unknown
}

/**
 * The settlement of a batch from its function's outcome:
 * - a result acknowledges the batch, except the messages named in `failed_message_ids`,
 *   which fail with `message_failed`;
 * - an error fails every message with that error;
 * - a timeout leaves the batch to its lease: the store sees the lease end itself (its last
 *   error is then `visibility_timeout`). The call's timer may fire a few milliseconds
 *   before the lease's end; recording it then would make the outcome depend on that race.
 */
export function settlement<L extends { message_id: string }>(leases: L[], outcome: Outcome): Settlement<L> {
  if (outcome.error !== undefined) {
    if ((outcome.error as { code?: unknown } | null)?.code === 'invocation_timeout') return { ack: [], fail: [] }
    return { ack: [], fail: leases, error: outcome.error }
  }
  const ids = (outcome.result as { failed_message_ids?: unknown } | null)?.failed_message_ids
  if (!Array.isArray(ids)) return { ack: leases, fail: [] }
  const failed = new Set(ids.filter((x): x is string => typeof x === 'string'))
  const error: ErrorBody = errors.messageFailed()
  return { ack: leases.filter((l) => !failed.has(l.message_id)), fail: leases.filter((l) => failed.has(l.message_id)), error }
}
