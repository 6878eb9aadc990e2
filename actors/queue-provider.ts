/**
 * `provider:queue`: the queue store and the delivery of its messages. Sessions' queue
 * children add and remove consumers (one per queue trigger); this actor leases batches to
 * them as soon as messages are visible, acknowledges what their functions handled, and
 * lets the rest become visible again when the lease ends (or moves it to the dead-letter
 * queue). It also runs durable calls (`invokefunction` with `action: enqueue`).
 *
 * Who gets what is decided by the pure schedule (core/queue-schedule.ts), which is this
 * actor's snapshot; the store, the wake-up timers and the catalog subscription are its
 * handles. The store is opened when the actor starts and closed when it stops; which store
 * is the composition root's choice (`createQueueProvider(openStore)`).
 */
import { isEngineFunction } from '../protocol/engine-functions.js'
import { isOffered } from '../core/catalog.js'
import type { EventObject } from 'xstate'
import type { Outcome } from '../core/call-table.js'
import type { Delivery, QueueStore, StoredMessage } from '../core/queue-store.js'
import { CALL_RULES, QueueSchedule, settlement, type Consumer } from '../core/queue-schedule.js'
import type { QueueProviderEvent } from '../machines/contracts.js'
import { actorsOf, catalogOf, tell, type EngineSystem } from '../machines/system.js'
import { fromTable, type TableScope } from './table-actor.js'

interface Handles {
  store: QueueStore
  /** One wake-up per queue with messages that become visible later. */
  wakeups: Map<string, { at: number; timer: NodeJS.Timeout }>
  /** Set while some queue waits for a function: retried when the catalog changes. */
  catalogWatch?: { unsubscribe(): void }
  startup: NodeJS.Timeout
  /** Set once the actor stops: answers still arriving (calls failed by the engine stopping) touch nothing. */
  closed: boolean
}

type Scope = TableScope<QueueSchedule, undefined, EventObject> & { handles: Handles }

const iso = (ms: number) => new Date(ms).toISOString()
/** Drops keys whose value is undefined, so every transport shows the same object. */
const withoutUndefined = <T extends Record<string, unknown>>(o: T): T => {
  for (const k in o) if (o[k] === undefined) delete o[k]
  return o
}

/** Whether a call of `function_id` can be routed now (an engine function, or a worker offers it). */
const availableIn = (system: EngineSystem) => (function_id: string) => isEngineFunction(function_id) || isOffered(catalogOf(system), function_id)

const log = (scope: Scope, level: 'info' | 'warn', msg: string, data: Record<string, unknown>) => scope.sendBack({ type: 'engine.log', level, msg, data })

function settle(scope: Scope, queue: string, leases: Delivery[], outcome: Outcome, rules: { max_receive_count: number; dead_letter_queue: string }): void {
  const now = Date.now()
  const { ack, fail, error } = settlement(leases, outcome)
  if (ack.length > 0) scope.handles.store.ack(queue, ack, now)
  if (fail.length > 0) scope.handles.store.fail(queue, fail, error, { maxReceiveCount: rules.max_receive_count, deadLetterQueue: rules.dead_letter_queue, now })
}

/**
 * Starts the call that delivers `leases` of `queue`. When it is answered: `answered` first,
 * then the leases settle by `rules`, and the queue is pumped again.
 */
function startDelivery(
  scope: Scope,
  queue: string,
  leases: Delivery[],
  call: { function_id: string; data: unknown; timeout_ms: number },
  rules: { max_receive_count: number; dead_letter_queue: string },
  answered: (outcome: Outcome) => void,
): void {
  actorsOf(scope.system).invocations()?.send({
    type: 'invocation.start',
    source: 'queue',
    caller: {
      reply: (outcome) => {
        if (scope.handles.closed) return
        answered(outcome)
        settle(scope, queue, leases, outcome, rules)
        pump(scope, queue)
      },
    },
    ...call,
  })
}

/** A batch for a queue trigger's function. */
function deliver(scope: Scope, consumer: Consumer, batch: Delivery[]): void {
  const { config } = consumer
  scope.context.leased(consumer)
  const data = {
    queue_name: config.queue_name,
    messages: batch.map((m) => ({ message_id: m.message_id, body: m.body, receive_count: m.receive_count, enqueued_at: iso(m.enqueued_at) })),
  }
  startDelivery(scope, config.queue_name, batch, { function_id: consumer.function_id, data, timeout_ms: config.visibility_timeout * 1000 }, config, (outcome) => {
    const failed = outcome.error !== undefined
    scope.context.settled(consumer, failed)
    if (failed) log(scope, 'warn', 'queue batch failed', { queue_name: config.queue_name, function_id: consumer.function_id, messages: batch.length, error: outcome.error })
  })
}

/** A durable call (`invokefunction` with `action: enqueue`), run by the engine's own rules. */
function runCall(scope: Scope, queue: string, call: Delivery): void {
  scope.context.callStarted(queue)
  const rules = { max_receive_count: CALL_RULES.max_receive_count, dead_letter_queue: `${queue}.dlq` }
  startDelivery(scope, queue, [call], { function_id: call.function_id!, data: call.body, timeout_ms: CALL_RULES.visibility_timeout * 1000 }, rules, () => scope.context.callSettled(queue))
}

/** Work waiting for a function is retried when the catalog changes (a worker registered a function, or came back). */
function starve(scope: Scope, queue: string): void {
  scope.context.starve(queue)
  if (scope.handles.catalogWatch) return
  scope.handles.catalogWatch = actorsOf(scope.system).catalog()?.subscribe(() => {
    if (!scope.context.hasStarved) return
    // After the catalog's own step: the worker that registered is ready to be called.
    setTimeout(() => {
      if (scope.handles.closed) return
      for (const queue of scope.context.takeStarved()) pump(scope, queue)
    }, 0)
  })
}

/** Leases what is visible on `queue` to whoever may take it, then sleeps until the next message is due. */
function pump(scope: Scope, queue: string): void {
  const schedule = scope.context
  const { store } = scope.handles
  if (scope.handles.closed || schedule.draining) return
  const now = Date.now()
  const available = availableIn(scope.system)
  const { takers, waiting } = schedule.takers(queue, available)
  let drained = false
  for (const consumer of takers) {
    if (drained) break
    const { config } = consumer
    while (schedule.hasRoom(consumer)) {
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
      deliver(scope, consumer, batch)
    }
  }
  let refused = false
  const accept = (function_id: string) => available(function_id) || ((refused = true), false)
  while (schedule.callRoom(queue)) {
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
    runCall(scope, queue, call)
  }
  if (refused || (waiting && !drained)) starve(scope, queue)
  scheduleWakeup(scope, queue, now)
}

function scheduleWakeup(scope: Scope, queue: string, now: number): void {
  const { store, wakeups } = scope.handles
  const candidates = scope.context.isCallQueue(queue) ? [store.nextVisibleAt(queue, true, now)] : []
  if (scope.context.hasConsumers(queue)) candidates.push(store.nextVisibleAt(queue, false, now))
  const due = candidates.filter((x): x is number => x !== undefined)
  if (due.length === 0) return
  const at = Math.min(...due)
  const current = wakeups.get(queue)
  if (current && current.at <= at) return
  if (current) clearTimeout(current.timer)
  const timer = setTimeout(() => {
    wakeups.delete(queue)
    pump(scope, queue)
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

/** The `provider:queue` logic over the store `openStore` opens (when the actor starts; closed when it stops). */
export function createQueueProvider(openStore: () => QueueStore) {
  return fromTable<QueueSchedule, QueueProviderEvent, undefined, EventObject, Handles>({
    context: () => new QueueSchedule(),
    open(scope) {
      const store = openStore()
      // Queues that may hold durable calls: those in the store at start, and those sent a call
      // or given redriven dead letters since. Pumping any other queue skips the call queries.
      for (const queue of store.callQueues()) scope.context.holdsCalls(queue)
      // Durable calls left from an earlier run (SQLite) run as soon as their functions are
      // offered; plain messages as soon as someone consumes them.
      const startup = setTimeout(() => {
        for (const queue of scope.context.queuesWithCalls) pump(scope as Scope, queue)
      }, 0)
      return { store, wakeups: new Map(), startup, closed: false }
    },
    receive(scope, event) {
      const schedule = scope.context
      const { store, wakeups } = scope.handles
      if (scope.handles.closed) return
      switch (event.type) {
        case 'queue.consume': {
          schedule.addConsumer(event.worker_id, event.trigger_id, event.function_id, event.config)
          tell(actorsOf(scope.system).trigger(event.worker_id, event.trigger_id), { type: 'trigger.activated' })
          pump(scope, event.config.queue_name)
          return
        }
        case 'queue.stop':
          schedule.removeConsumer(event.worker_id, event.trigger_id)
          return
        case 'queue.send': {
          if (event.function_id !== undefined) schedule.holdsCalls(event.queue_name)
          const message_id = store.send(event.queue_name, event.body, { now: Date.now(), delayMs: (event.delay_seconds ?? 0) * 1000, function_id: event.function_id })
          event.reply({ result: { message_id } })
          pump(scope, event.queue_name)
          return
        }
        case 'queue.deadLetters':
          return event.reply({ result: { messages: store.list(event.dead_letter_queue, event.limit).map(asDeadLetter) } })
        case 'queue.redrive': {
          const { redriven, queues } = store.redrive(event.dead_letter_queue, event.message_ids, Date.now())
          for (const queue of queues) schedule.holdsCalls(queue)
          event.reply({ result: { redriven } })
          for (const queue of queues) pump(scope, queue)
          return
        }
        case 'queue.counts':
          return event.reply(store.counts(Date.now()))
        case 'queue.drain':
          schedule.draining = true
          for (const { timer } of wakeups.values()) clearTimeout(timer)
          wakeups.clear()
          return
      }
    },
    close({ handles }) {
      handles.closed = true
      clearTimeout(handles.startup)
      for (const { timer } of handles.wakeups.values()) clearTimeout(timer)
      handles.wakeups.clear()
      handles.catalogWatch?.unsubscribe()
      handles.store.close()
    },
  })
}
