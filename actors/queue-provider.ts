/**
 * `provider:queue`: the queue store and the delivery of its messages. Sessions' queue
 * children add and remove consumers (one per queue trigger); this actor leases batches to
 * them as soon as messages are visible, acknowledges what their functions handled, and
 * lets the rest become visible again when the lease ends (or moves it to the dead-letter
 * queue). It also runs durable calls (`invokefunction` with `action: enqueue`). The store,
 * the consumers and the wake-up timers live in this actor and end with it.
 */
import { fromCallback, type AnyActorRef } from 'xstate'
import type { ErrorBody } from '../adapters/messages.js'
import { createMemoryQueueStore } from '../adapters/memory-queue-store.js'
import { createSqliteQueueStore } from '../adapters/sqlite-queue-store.js'
import type { Delivery, QueueCounts, QueueStore, StoredMessage } from '../adapters/queue-store.js'
import type { QueueConsumerConfig } from './queue-config.js'
import type { Outcome } from './invocations.js'
import { triggerActorId } from '../machines/trigger.machine.js'
import { catalogOf } from './catalog.js'
import { engineFunctions } from './engine-functions.js'

export interface QueueProviderInput {
  store: { kind: 'memory' } | { kind: 'sqlite'; path: string }
}

/** Delivery rules for durable calls (`action: enqueue`), which have no trigger config. */
export const CALL_RULES = { visibility_timeout: 30, max_receive_count: 5, concurrency: 16 }

type Reply<T> = (answer: { result: T } | { error: ErrorBody }) => void

export type QueueProviderEvent =
  | { type: 'queue.consume'; worker_id: string; trigger_id: string; function_id: string; config: QueueConsumerConfig }
  | { type: 'queue.stop'; worker_id: string; trigger_id: string }
  | { type: 'queue.send'; queue_name: string; body: unknown; delay_seconds?: number; function_id?: string; reply: Reply<{ message_id: string }> }
  | { type: 'queue.deadLetters'; dead_letter_queue: string; limit: number; reply: Reply<{ messages: Array<Record<string, unknown>> }> }
  | { type: 'queue.redrive'; dead_letter_queue: string; message_ids?: string[]; reply: Reply<{ redriven: number }> }
  | { type: 'queue.counts'; reply: (counts: Record<string, QueueCounts>) => void }
  /**
   * The engine is stopping: lease nothing new (a batch leased now could not finish and would
   * only come back after its timeout with one receive spent); batches in flight still settle.
   */
  | { type: 'queue.drain' }

interface Consumer {
  key: string
  function_id: string
  config: QueueConsumerConfig
  inFlight: number
  stopped: boolean
}

const iso = (ms: number) => new Date(ms).toISOString()
/** Drops keys whose value is undefined, so every transport shows the same object. */
const withoutUndefined = <T extends Record<string, unknown>>(o: T): T => {
  for (const k in o) if (o[k] === undefined) delete o[k]
  return o
}
/** The engine's answer for a call that was not answered within its timeout (the lease). */
const timedOut = (outcome: Outcome) => (outcome.error as { code?: unknown } | null | undefined)?.code === 'invocation_timeout'
const failedIds = (result: unknown): string[] | undefined => {
  const ids = (result as { failed_message_ids?: unknown } | null)?.failed_message_ids
  return Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : undefined
}

export const queueProviderLogic = fromCallback<QueueProviderEvent, QueueProviderInput>(({ input, system, receive, sendBack }) => {
  const store: QueueStore = input.store.kind === 'sqlite' ? createSqliteQueueStore(input.store.path) : createMemoryQueueStore()
  /** Set once this actor stops: answers still arriving (e.g. calls failed by the engine stopping) touch nothing. */
  let closed = false
  /** Set by `queue.drain`: nothing new is leased. */
  let draining = false
  const consumers = new Map<string, Consumer>()
  /**
   * Consumers per queue, least recently served first: a consumer that gets a batch, or
   * whose batch failed or timed out, goes to the back, so competing triggers take turns and
   * a batch that came back goes to another consumer when there is one.
   */
  const byQueue = new Map<string, Consumer[]>()
  /**
   * Queues that may hold durable calls: those in the store at start, and those sent a call or
   * given redriven dead letters since. Pumping any other queue skips the store's call queries.
   */
  const callQueues = new Set(store.callQueues())
  /** Durable calls in flight per queue. */
  const callsInFlight = new Map<string, number>()
  const wakeups = new Map<string, { at: number; timer: NodeJS.Timeout }>()
  /** Queues with visible work that waits for its function to be offered by some worker. */
  const starved = new Set<string>()
  let catalogWatch: { unsubscribe(): void } | undefined
  const invocations = () => system.get('invocations') as AnyActorRef
  const log = (level: 'info' | 'warn', msg: string, data: Record<string, unknown>) => sendBack({ type: 'engine.log', level, msg, data })

  /** Whether a call of `function_id` can be routed now (an engine function, or a worker offers it). */
  const available = (function_id: string) => Object.hasOwn(engineFunctions, function_id) || (catalogOf(system).functions[function_id]?.workers.length ?? 0) > 0
  const toBack = (queue: string, consumer: Consumer) => {
    const list = byQueue.get(queue)
    const at = list?.indexOf(consumer) ?? -1
    if (list && at >= 0) list.push(...list.splice(at, 1))
  }
  /**
   * Work waiting for a function is retried when the catalog changes (a worker registered a
   * function, or came back after a restart of the engine).
   */
  const starve = (queue: string) => {
    starved.add(queue)
    if (catalogWatch) return
    const catalog = system.get('catalog') as AnyActorRef | undefined
    catalogWatch = catalog?.subscribe(() => {
      if (starved.size === 0) return
      // After the catalog's own step: the worker that registered is ready to be called.
      setTimeout(() => {
        if (closed) return
        const queues = [...starved]
        starved.clear()
        for (const queue of queues) pump(queue)
      }, 0)
    })
  }

  const settle = (queue: string, leases: Delivery[], outcome: Outcome, rules: { max_receive_count: number; dead_letter_queue: string }) => {
    const now = Date.now()
    const options = { maxReceiveCount: rules.max_receive_count, deadLetterQueue: rules.dead_letter_queue, now }
    // A call that timed out is a lease that ran out: the store sees that itself when the
    // lease ends (its last error is then `visibility_timeout`). The call's timer may fire a
    // few milliseconds before the lease's end; recording it then would make the outcome
    // depend on that race.
    if (timedOut(outcome)) return
    if (outcome.error !== undefined) return store.fail(queue, leases, outcome.error, options)
    const failed = failedIds(outcome.result)
    if (!failed) return void store.ack(queue, leases, now)
    const retry = leases.filter((l) => failed.includes(l.message_id))
    store.ack(queue, leases.filter((l) => !failed.includes(l.message_id)), now)
    store.fail(queue, retry, { code: 'message_failed', message: 'The function reported this message as failed' }, options)
  }

  const deliver = (consumer: Consumer, batch: Delivery[]) => {
    const { config } = consumer
    consumer.inFlight++
    invocations().send({
      type: 'invocation.start',
      source: 'queue',
      caller: {
        reply: (outcome: Outcome) => {
          consumer.inFlight--
          if (closed) return
          settle(config.queue_name, batch, outcome, config)
          if (outcome.error !== undefined) {
            log('warn', 'queue batch failed', { queue_name: config.queue_name, function_id: consumer.function_id, messages: batch.length, error: outcome.error })
            toBack(config.queue_name, consumer)
          }
          pump(config.queue_name)
        },
      },
      function_id: consumer.function_id,
      data: {
        queue_name: config.queue_name,
        messages: batch.map((m) => ({ message_id: m.message_id, body: m.body, receive_count: m.receive_count, enqueued_at: iso(m.enqueued_at) })),
      },
      timeout_ms: config.visibility_timeout * 1000,
    })
  }

  const runCall = (queue: string, call: Delivery) => {
    callsInFlight.set(queue, (callsInFlight.get(queue) ?? 0) + 1)
    invocations().send({
      type: 'invocation.start',
      source: 'queue',
      caller: {
        reply: (outcome: Outcome) => {
          callsInFlight.set(queue, (callsInFlight.get(queue) ?? 1) - 1)
          if (closed) return
          settle(queue, [call], outcome, { max_receive_count: CALL_RULES.max_receive_count, dead_letter_queue: `${queue}.dlq` })
          pump(queue)
        },
      },
      function_id: call.function_id!,
      data: call.body,
      timeout_ms: CALL_RULES.visibility_timeout * 1000,
    })
  }

  /** Leases what is visible on `queue` to whoever has room, then sleeps until the next message is due. */
  const pump = (queue: string) => {
    if (closed || draining) return
    const now = Date.now()
    let drained = false
    let waiting = false
    for (const consumer of [...(byQueue.get(queue) ?? [])]) {
      const { config } = consumer
      if (drained) break
      if (consumer.stopped || consumer.inFlight >= config.concurrency) continue
      // A trigger whose function no worker offers right now leaves the messages to others, or to later.
      if (!available(consumer.function_id)) {
        waiting = true
        continue
      }
      while (!consumer.stopped && consumer.inFlight < config.concurrency) {
        const batch = store.receive(queue, {
          max: config.batch_size,
          visibilityMs: config.visibility_timeout * 1000,
          maxReceiveCount: config.max_receive_count,
          deadLetterQueue: config.dead_letter_queue,
          calls: false,
          now,
        })
        if (batch.length === 0) {
          drained = true
          break
        }
        deliver(consumer, batch)
        toBack(queue, consumer)
      }
    }
    let refused = false
    const accept = (function_id: string) => available(function_id) || ((refused = true), false)
    while (callQueues.has(queue) && (callsInFlight.get(queue) ?? 0) < CALL_RULES.concurrency) {
      const [call] = store.receive(queue, {
        max: 1,
        visibilityMs: CALL_RULES.visibility_timeout * 1000,
        maxReceiveCount: CALL_RULES.max_receive_count,
        deadLetterQueue: `${queue}.dlq`,
        calls: true,
        accept,
        now,
      })
      if (!call) break
      runCall(queue, call)
    }
    if (refused || (waiting && !drained)) starve(queue)
    scheduleWakeup(queue, now)
  }

  const scheduleWakeup = (queue: string, now: number) => {
    const candidates = callQueues.has(queue) ? [store.nextVisibleAt(queue, true, now)] : []
    if (byQueue.get(queue)?.length) candidates.push(store.nextVisibleAt(queue, false, now))
    const due = candidates.filter((x): x is number => x !== undefined)
    if (due.length === 0) return
    const at = Math.min(...due)
    const current = wakeups.get(queue)
    if (current && current.at <= at) return
    if (current) clearTimeout(current.timer)
    const timer = setTimeout(() => {
      wakeups.delete(queue)
      pump(queue)
    }, Math.max(0, at - Date.now()) + 5)
    wakeups.set(queue, { at, timer })
  }

  const asDeadLetter = (m: StoredMessage) =>
    withoutUndefined({
      message_id: m.message_id,
      body: m.body,
      receive_count: m.receive_count,
      enqueued_at: iso(m.enqueued_at),
      source_queue: m.source_queue,
      function_id: m.function_id,
      last_error: m.last_error,
    })

  receive((event) => {
    if (closed) return
    switch (event.type) {
      case 'queue.consume': {
        const key = `${event.worker_id}\u0000${event.trigger_id}`
        const consumer: Consumer = { key, function_id: event.function_id, config: event.config, inFlight: 0, stopped: false }
        consumers.set(key, consumer)
        const list = byQueue.get(event.config.queue_name) ?? []
        list.push(consumer)
        byQueue.set(event.config.queue_name, list)
        system.get(triggerActorId(event.worker_id, event.trigger_id))?.send({ type: 'trigger.activated' })
        pump(event.config.queue_name)
        return
      }
      case 'queue.stop': {
        const key = `${event.worker_id}\u0000${event.trigger_id}`
        const consumer = consumers.get(key)
        if (!consumer) return
        consumer.stopped = true
        consumers.delete(key)
        const list = byQueue.get(consumer.config.queue_name) ?? []
        list.splice(list.indexOf(consumer), 1)
        if (list.length === 0) byQueue.delete(consumer.config.queue_name)
        return
      }
      case 'queue.send': {
        if (event.function_id !== undefined) callQueues.add(event.queue_name)
        const message_id = store.send(event.queue_name, event.body, {
          now: Date.now(),
          delayMs: (event.delay_seconds ?? 0) * 1000,
          function_id: event.function_id,
        })
        event.reply({ result: { message_id } })
        pump(event.queue_name)
        return
      }
      case 'queue.deadLetters':
        return event.reply({ result: { messages: store.list(event.dead_letter_queue, event.limit).map(asDeadLetter) } })
      case 'queue.redrive': {
        const { redriven, queues } = store.redrive(event.dead_letter_queue, event.message_ids, Date.now())
        for (const queue of queues) callQueues.add(queue)
        event.reply({ result: { redriven } })
        for (const queue of queues) pump(queue)
        return
      }
      case 'queue.counts':
        return event.reply(store.counts(Date.now()))
      case 'queue.drain':
        draining = true
        for (const { timer } of wakeups.values()) clearTimeout(timer)
        wakeups.clear()
        return
    }
  })

  // Durable calls left from an earlier run (SQLite) run as soon as their functions are offered;
  // plain messages as soon as someone consumes them.
  const startup = setTimeout(() => {
    if (!closed) for (const queue of [...callQueues]) pump(queue)
  }, 0)

  return () => {
    closed = true
    clearTimeout(startup)
    for (const { timer } of wakeups.values()) clearTimeout(timer)
    wakeups.clear()
    catalogWatch?.unsubscribe()
    store.close()
  }
})
