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

interface Consumer {
  key: string
  function_id: string
  config: QueueConsumerConfig
  inFlight: number
  stopped: boolean
}

const iso = (ms: number) => new Date(ms).toISOString()
const failedIds = (result: unknown): string[] | undefined => {
  const ids = (result as { failed_message_ids?: unknown } | null)?.failed_message_ids
  return Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : undefined
}

export const queueProviderLogic = fromCallback<QueueProviderEvent, QueueProviderInput>(({ input, system, receive, sendBack }) => {
  const store: QueueStore = input.store.kind === 'sqlite' ? createSqliteQueueStore(input.store.path) : createMemoryQueueStore()
  const consumers = new Map<string, Consumer>()
  const byQueue = new Map<string, Consumer[]>()
  /** Durable calls in flight per queue. */
  const callsInFlight = new Map<string, number>()
  const wakeups = new Map<string, { at: number; timer: NodeJS.Timeout }>()
  const invocations = () => system.get('invocations') as AnyActorRef
  const log = (level: 'info' | 'warn', msg: string, data: Record<string, unknown>) => sendBack({ type: 'engine.log', level, msg, data })

  const settle = (queue: string, leases: Delivery[], outcome: Outcome, rules: { max_receive_count: number; dead_letter_queue: string }) => {
    const now = Date.now()
    const options = { maxReceiveCount: rules.max_receive_count, deadLetterQueue: rules.dead_letter_queue, now }
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
      caller: {
        reply: (outcome: Outcome) => {
          consumer.inFlight--
          settle(config.queue_name, batch, outcome, config)
          if (outcome.error !== undefined) log('warn', 'queue batch failed', { queue_name: config.queue_name, function_id: consumer.function_id, messages: batch.length, error: outcome.error })
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
      caller: {
        reply: (outcome: Outcome) => {
          callsInFlight.set(queue, (callsInFlight.get(queue) ?? 1) - 1)
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
    const now = Date.now()
    const list = byQueue.get(queue) ?? []
    // Rotate, so competing triggers take turns.
    if (list.length > 1) list.push(list.shift()!)
    let drained = false
    for (const consumer of list) {
      const { config } = consumer
      while (!drained && !consumer.stopped && consumer.inFlight < config.concurrency) {
        const batch = store.receive(queue, {
          max: config.batch_size,
          visibilityMs: config.visibility_timeout * 1000,
          maxReceiveCount: config.max_receive_count,
          deadLetterQueue: config.dead_letter_queue,
          calls: false,
          now,
        })
        if (batch.length === 0) drained = true
        else deliver(consumer, batch)
      }
    }
    while ((callsInFlight.get(queue) ?? 0) < CALL_RULES.concurrency) {
      const [call] = store.receive(queue, {
        max: 1,
        visibilityMs: CALL_RULES.visibility_timeout * 1000,
        maxReceiveCount: CALL_RULES.max_receive_count,
        deadLetterQueue: `${queue}.dlq`,
        calls: true,
        now,
      })
      if (!call) break
      runCall(queue, call)
    }
    scheduleWakeup(queue, now)
  }

  const scheduleWakeup = (queue: string, now: number) => {
    const candidates = [store.nextVisibleAt(queue, true, now)]
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

  const asDeadLetter = (m: StoredMessage) => ({
    message_id: m.message_id,
    body: m.body,
    receive_count: m.receive_count,
    enqueued_at: iso(m.enqueued_at),
    source_queue: m.source_queue,
    function_id: m.function_id,
    last_error: m.last_error,
  })

  // Messages left from an earlier run (SQLite) are delivered as soon as someone consumes.
  receive((event) => {
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
        const redriven = store.redrive(event.dead_letter_queue, event.message_ids, Date.now())
        event.reply({ result: { redriven } })
        const targets = new Set<string>()
        for (const list of byQueue.keys()) targets.add(list)
        for (const queue of targets) pump(queue)
        return
      }
      case 'queue.counts':
        return event.reply(store.counts(Date.now()))
    }
  })

  return () => {
    for (const { timer } of wakeups.values()) clearTimeout(timer)
    wakeups.clear()
    store.close()
  }
})
