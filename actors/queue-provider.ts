/**
 * `provider:queue`: the queue store and the delivery of its messages. Sessions' queue
 * children add and remove consumers (one per queue trigger); this actor leases batches to
 * them as soon as messages are visible, acknowledges what their functions handled, and
 * lets the rest become visible again after their backoff or when their lease ends (or
 * moves them to their dead-letter queue, which is a queue like any other). It also runs
 * durable calls (`invokefunction` with `action: enqueue`). The rules are in
 * core/queue-store.ts and docs/queues.md.
 *
 * Who gets what is decided by the pure schedule (core/queue-schedule.ts), which is this
 * actor's snapshot; the store, the wake-up timers and the catalog subscription are its
 * handles. The store is opened when the actor starts and closed when it stops; which store
 * is the composition root's choice (`createQueueProvider(openStore)`). Store operations
 * return promises (a store may be on the network); a queue is pumped by one pump at a time,
 * and a pump asked for meanwhile runs again when it ends.
 */
import type { EventObject } from 'xstate'
import { errors } from '../protocol/errors.js'
import { isEngineFunction } from '../protocol/engine-functions.js'
import { isOffered } from '../core/catalog.js'
import type { Outcome } from '../core/call-table.js'
import { backoffDelay } from '../core/queue-config.js'
import type { ErrorBody } from '../protocol/messages.js'
import type { Delivery, MessageContext, QueueStore, StoredMessage } from '../core/queue-store.js'
import { CALL_RULES, QueueSchedule, settlement, type Consumer } from '../core/queue-schedule.js'
import type { CallRequest, QueueInfo, QueueProviderEvent } from '../machines/contracts.js'
import { actorsOf, catalogOf, offeredInCluster, tell, type EngineSystem } from '../machines/system.js'
import { fromTable, type TableScope } from './table-actor.js'

export interface QueueProviderOptions {
  /** How long a deduplication id is remembered per queue (ms). */
  deduplicationWindowMs: number
  /** Largest message body, in bytes of its JSON (`limits.queueMessageBytes`); a larger send is refused `payload_too_large`. */
  maxMessageBytes: number
}

interface Handles {
  store: QueueStore
  options: QueueProviderOptions
  /** Queues being pumped, and those to pump again when that pump ends. */
  pumping: Set<string>
  again: Set<string>
  /** One wake-up per queue with messages that become visible later. */
  wakeups: Map<string, { at: number; timer: NodeJS.Timeout }>
  /** Set while some queue waits for a function: retried when the catalog (or, in a cluster, the membership) changes. */
  catalogWatch?: { unsubscribe(): void }
  startup: NodeJS.Timeout
  /** Set once the actor stops: answers still arriving (calls failed by the engine stopping) touch nothing. */
  closed: boolean
}

type Scope = TableScope<QueueSchedule, undefined, EventObject> & { handles: Handles }

/** What a consumer's rules are when it settles a batch. */
interface Rules {
  max_receive_count: number
  dead_letter_queue: string
  backoff?: Consumer['config']['backoff']
}

const iso = (ms: number) => new Date(ms).toISOString()
/** Drops keys whose value is undefined, so every transport shows the same object. */
const withoutUndefined = <T extends Record<string, unknown>>(o: T): T => {
  for (const k in o) if (o[k] === undefined) delete o[k]
  return o
}

/** Whether a call of `function_id` can be routed now (an engine function, or a worker offers it: on this engine, or on another of its cluster). */
const availableIn = (system: EngineSystem) => (function_id: string) => isEngineFunction(function_id) || isOffered(catalogOf(system), function_id) || offeredInCluster(system, function_id)


const log = (scope: Scope, level: 'info' | 'warn', msg: string, data: Record<string, unknown>) => scope.sendBack({ type: 'engine.log', level, msg, data })

/** Dead-letter queues that got messages, pumped once the current step is done (their consumers take them at once). */
function deadLetters(scope: Scope): { note: (queue: string) => void; pump: () => void } {
  const queues = new Set<string>()
  return { note: (queue) => queues.add(queue), pump: () => queues.forEach((queue) => pump(scope, queue)) }
}

async function settle(scope: Scope, queue: string, leases: Delivery[], outcome: Outcome, rules: Rules): Promise<void> {
  const now = Date.now()
  const { ack, fail, error } = settlement(leases, outcome)
  if (ack.length > 0) await scope.handles.store.ack(queue, ack, now)
  if (fail.length === 0) return
  const dead = deadLetters(scope)
  const backoff = rules.backoff
  await scope.handles.store.fail(queue, fail, error, {
    maxReceiveCount: rules.max_receive_count,
    deadLetterQueue: rules.dead_letter_queue,
    now,
    retryDelayMs: backoff && ((receive_count) => backoffDelay(backoff, receive_count)),
    onDeadLetter: dead.note,
  })
  dead.pump()
}

/** The trace context and metadata a message carries, as the fields of a call. */
const contextFields = (context: MessageContext | undefined): Pick<CallRequest, 'traceparent' | 'baggage' | 'metadata'> =>
  context ? { traceparent: context.traceparent, baggage: context.baggage, metadata: context.metadata } : {}

/**
 * Starts the call that delivers `leases` of `queue`. When it is answered: `answered` first,
 * then the leases settle by `rules`, and the queue is pumped again.
 */
function startDelivery(
  scope: Scope,
  queue: string,
  leases: Delivery[],
  call: Pick<CallRequest, 'function_id' | 'data' | 'timeout_ms' | 'traceparent' | 'baggage' | 'metadata'>,
  rules: Rules,
  answered: (outcome: Outcome) => void,
): void {
  actorsOf(scope.system).invocations()?.send({
    type: 'invocation.start',
    source: 'queue',
    caller: {
      reply: (outcome) => {
        if (scope.handles.closed) return
        answered(outcome)
        settle(scope, queue, leases, outcome, rules).then(
          () => pump(scope, queue),
          (err: unknown) => storeFailed(scope, queue, 'settle', err),
        )
      },
    },
    ...call,
  })
}

/** A message as a queue trigger's function receives it. */
const asReceived = (m: Delivery) =>
  withoutUndefined({
    message_id: m.message_id,
    body: m.body,
    receive_count: m.receive_count,
    enqueued_at: iso(m.enqueued_at),
    message_group_id: m.message_group_id,
    source_queue: m.source_queue,
    source_receive_count: m.source_receive_count,
    last_error: m.last_error,
    function_id: m.source_queue !== undefined ? m.function_id : undefined,
    traceparent: m.context?.traceparent,
    baggage: m.context?.baggage,
    metadata: m.context?.metadata,
  })

/**
 * A batch for a queue trigger's function. Each message carries its sender's trace context;
 * the call carries the first message's, so a batch of one is traced like a direct call.
 */
function deliver(scope: Scope, consumer: Consumer, batch: Delivery[]): void {
  const { config } = consumer
  scope.context.leased(consumer)
  // A durable subscriber's function gets the message's body itself (its batches are of one).
  const data = config.unwrap ? batch[0].body : { queue_name: config.queue_name, messages: batch.map(asReceived) }
  const call = { function_id: consumer.function_id, data, timeout_ms: config.visibility_timeout * 1000, ...contextFields(batch[0].context) }
  startDelivery(scope, config.queue_name, batch, call, config, (outcome) => {
    // Whatever a durable subscriber answers acknowledges its message (only an error fails it).
    if (config.unwrap && outcome.error === undefined) outcome.result = null
    const failed = outcome.error !== undefined
    scope.context.settled(consumer, failed)
    if (failed) log(scope, 'warn', 'queue batch failed', { queue_name: config.queue_name, function_id: consumer.function_id, messages: batch.length, error: outcome.error })
  })
}

/** A durable call (`invokefunction` with `action: enqueue`), run by the engine's own rules, with its caller's trace context. */
function runCall(scope: Scope, queue: string, call: Delivery): void {
  scope.context.callStarted(queue)
  const rules = { max_receive_count: CALL_RULES.max_receive_count, dead_letter_queue: `${queue}.dlq` }
  const request = { function_id: call.function_id!, data: call.body, timeout_ms: CALL_RULES.visibility_timeout * 1000, ...contextFields(call.context) }
  startDelivery(scope, queue, [call], request, rules, () => scope.context.callSettled(queue))
}

/** Work waiting for a function is retried when the catalog changes (a worker registered a function, or came back). */
function starve(scope: Scope, queue: string): void {
  scope.context.starve(queue)
  if (scope.handles.catalogWatch) return
  const retry = () => {
    if (!scope.context.hasStarved) return
    // After the catalog's own step: the worker that registered is ready to be called.
    setTimeout(() => {
      if (scope.handles.closed) return
      for (const queue of scope.context.takeStarved()) pump(scope, queue)
    }, 0)
  }
  const catalog = actorsOf(scope.system).catalog()?.subscribe(retry)
  // In a cluster, also when the functions offered across it change (another engine offers one now);
  // not at each of the cluster actor's events (every heartbeat, claim and call).
  const clusterActor = actorsOf(scope.system).cluster()
  let offered = clusterActor?.getSnapshot().context.membership.offeredVersion
  const cluster = clusterActor?.subscribe((snapshot) => {
    if (snapshot.context.membership.offeredVersion === offered) return
    offered = snapshot.context.membership.offeredVersion
    retry()
  })
  scope.handles.catalogWatch = { unsubscribe: () => (catalog?.unsubscribe(), cluster?.unsubscribe()) }
}

/** A store operation failed (a store on the network may be down): logged, and the queue tried again a second later. */
function storeFailed(scope: Scope, queue: string, what: string, err: unknown): void {
  if (scope.handles.closed) return
  log(scope, 'warn', 'queue store failed', { queue_name: queue, operation: what, err: err instanceof Error ? err.message : String(err) })
  wakeAt(scope, queue, Date.now() + 1000)
}

/** Leases what is visible on `queue` to whoever may take it, then sleeps until the next message is due. One pump per queue at a time. */
function pump(scope: Scope, queue: string): void {
  const { pumping, again } = scope.handles
  if (scope.handles.closed || scope.context.draining) return
  if (pumping.has(queue)) return void again.add(queue)
  pumping.add(queue)
  const run = (): void => {
    again.delete(queue)
    pumpOnce(scope, queue).then(
      () => (again.has(queue) && !scope.handles.closed ? run() : pumping.delete(queue)),
      (err: unknown) => {
        pumping.delete(queue)
        storeFailed(scope, queue, 'receive', err)
      },
    )
  }
  run()
}

async function pumpOnce(scope: Scope, queue: string): Promise<void> {
  const schedule = scope.context
  const { store } = scope.handles
  const now = Date.now()
  const available = availableIn(scope.system)
  const dead = deadLetters(scope)
  const { takers, waiting } = schedule.takers(queue, available)
  let drained = false
  for (const consumer of takers) {
    if (drained) break
    const { config } = consumer
    while (schedule.hasRoom(consumer) && !scope.handles.closed && !schedule.draining) {
      const batch = await store.receive(queue, {
        max: config.batch_size,
        visibilityMs: config.visibility_timeout * 1000,
        maxReceiveCount: config.max_receive_count,
        deadLetterQueue: config.dead_letter_queue,
        calls: false,
        fifo: config.fifo,
        onDeadLetter: dead.note,
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
  while (schedule.callRoom(queue) && !scope.handles.closed && !schedule.draining) {
    const [call] = await store.receive(queue, {
      max: 1,
      visibilityMs: CALL_RULES.visibility_timeout * 1000,
      maxReceiveCount: CALL_RULES.max_receive_count,
      deadLetterQueue: `${queue}.dlq`,
      calls: true,
      accept,
      onDeadLetter: dead.note,
      now,
    })
    if (!call) break
    runCall(scope, queue, call)
  }
  if (scope.handles.closed) return
  if (refused || (waiting && !drained)) starve(scope, queue)
  await scheduleWakeup(scope, queue, now)
  dead.pump()
}

/**
 * Pumps `queue` again when its next waiting message is due, for whoever has room to take
 * it: durable calls below their limit, consumers below their concurrency. Work at its limit
 * needs no wake-up (and costs no query): each call or batch in flight pumps the queue when
 * it settles.
 */
async function scheduleWakeup(scope: Scope, queue: string, now: number): Promise<void> {
  const { store } = scope.handles
  const candidates = scope.context.callRoom(queue) ? [await store.nextVisibleAt(queue, true, now)] : []
  if (scope.context.consumerRoom(queue)) candidates.push(await store.nextVisibleAt(queue, false, now))
  const due = candidates.filter((x): x is number => x !== undefined)
  if (due.length > 0) wakeAt(scope, queue, Math.min(...due))
}

/** Pumps `queue` at `at` (ms), unless a wake-up is due earlier already. */
function wakeAt(scope: Scope, queue: string, at: number): void {
  const { wakeups } = scope.handles
  if (scope.handles.closed) return
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
    receive_count: m.source_receive_count ?? m.receive_count,
    enqueued_at: iso(m.enqueued_at),
    source_queue: m.source_queue,
    function_id: m.function_id,
    message_group_id: m.message_group_id,
    last_error: m.last_error,
  })

/** Every queue that holds messages or has consumers, by name. */
async function listQueues(scope: Scope): Promise<QueueInfo[]> {
  const now = Date.now()
  const counts = await scope.handles.store.counts(now)
  const names = [...new Set([...Object.keys(counts), ...scope.context.consumedQueues])].sort()
  return names.map((queue_name) => {
    const c = counts[queue_name] ?? { ready: 0, in_flight: 0, delayed: 0, dead_lettered: 0 }
    return withoutUndefined({
      queue_name,
      ready: c.ready,
      in_flight: c.in_flight,
      delayed: c.delayed,
      dead_lettered: c.dead_lettered,
      oldest_message_age_seconds: c.oldest_enqueued_at === undefined ? undefined : Math.max(0, Math.round((now - c.oldest_enqueued_at) / 1000)),
      fifo: scope.context.attributes(queue_name).fifo,
      consumers: scope.context.consumersOf(queue_name).map((k) => ({ worker_id: k.worker_id, trigger_id: k.trigger_id, function_id: k.function_id, in_flight: k.inFlight })),
    })
  })
}

/** Answers a request from engine code with what `work` resolves to, or with the store's failure. */
function answer<T>(scope: Scope, queue: string, work: Promise<T>, reply: (answer: { result: T } | { error: ErrorBody }) => void): void {
  work.then(
    (result) => reply({ result }),
    (err: unknown) => {
      storeFailed(scope, queue, 'request', err)
      reply({ error: errors.queueUnavailable() })
    },
  )
}

/** The `provider:queue` logic over the store `openStore` opens (when the actor starts; closed when it stops). */
export function createQueueProvider(openStore: () => QueueStore, options: QueueProviderOptions) {
  return fromTable<QueueSchedule, QueueProviderEvent, undefined, EventObject, Handles>({
    context: () => new QueueSchedule(),
    open(scope) {
      const store = openStore()
      // Queues that may hold durable calls: those in the store at start, and those sent a call
      // or given redriven dead letters since. Pumping any other queue skips the call queries.
      // Durable calls left from an earlier run (SQLite) run as soon as their functions are
      // offered; plain messages as soon as someone consumes them.
      const startup = setTimeout(() => {
        store.callQueues().then(
          (queues) => {
            for (const queue of queues) scope.context.holdsCalls(queue)
            for (const queue of scope.context.queuesWithCalls) pump(scope as Scope, queue)
          },
          (err: unknown) => storeFailed(scope as Scope, '', 'start', err),
        )
      }, 0)
      const handles: Handles = { store, options, pumping: new Set(), again: new Set(), wakeups: new Map(), startup, closed: false }
      // A store other engines share: a message another engine sent is taken by the consumers here.
      store.onArrival?.((queue, call) => {
        if (handles.closed) return
        if (call) scope.context.holdsCalls(queue)
        if (call || scope.context.hasConsumers(queue)) pump(scope as Scope, queue)
      })
      return handles
    },
    receive(scope, event) {
      const schedule = scope.context
      const { store, wakeups } = scope.handles
      if (scope.handles.closed) return
      switch (event.type) {
        case 'queue.consume': {
          const trigger = actorsOf(scope.system).trigger(event.worker_id, event.trigger_id)
          const conflict = schedule.conflict(event.config)
          if (conflict) return tell(trigger, { type: 'trigger.rejected', error: errors.invalidConfig(conflict) })
          schedule.addConsumer(event.worker_id, event.trigger_id, event.function_id, event.config)
          tell(trigger, { type: 'trigger.activated' })
          pump(scope, event.config.queue_name)
          return
        }
        case 'queue.stop':
          schedule.removeConsumer(event.worker_id, event.trigger_id)
          return
        case 'queue.send': {
          const queue = event.queue_name
          const { maxMessageBytes } = scope.handles.options
          let bytes: number
          try {
            bytes = Buffer.byteLength(JSON.stringify(event.body ?? null) ?? 'null')
          } catch (err) {
            return event.reply({ error: errors.invalidMessage(`A queue message must be JSON: ${(err as Error).message}`) })
          }
          if (bytes > maxMessageBytes) return event.reply({ error: errors.messageTooLarge(bytes, maxMessageBytes) })
          if (event.function_id !== undefined) schedule.holdsCalls(queue)
          const delay_seconds = event.delay_seconds ?? schedule.attributes(queue).delay_seconds
          const sent = store.send(queue, event.body, {
            now: Date.now(),
            delayMs: delay_seconds * 1000,
            function_id: event.function_id,
            message_group_id: event.message_group_id,
            deduplication: event.deduplication_id === undefined ? undefined : { id: event.deduplication_id, windowMs: scope.handles.options.deduplicationWindowMs },
            context: event.context,
          })
          answer(scope, queue, sent.then(({ message_id }) => ({ message_id })), event.reply)
          sent.then(({ duplicate }) => duplicate || pump(scope, queue), () => {})
          return
        }
        case 'queue.deadLetters':
          return answer(scope, event.dead_letter_queue, store.list(event.dead_letter_queue, event.limit).then((list) => ({ messages: list.map(asDeadLetter) })), event.reply)
        case 'queue.redrive': {
          const redrive = store.redrive(event.dead_letter_queue, event.message_ids, Date.now())
          answer(scope, event.dead_letter_queue, redrive.then(({ redriven }) => ({ redriven })), event.reply)
          redrive.then(({ queues }) => {
            for (const queue of queues) schedule.holdsCalls(queue)
            for (const queue of queues) pump(scope, queue)
          }, () => {})
          return
        }
        case 'queue.counts':
          return void store.counts(Date.now()).then(event.reply, () => event.reply({}))
        case 'queue.list':
          return void listQueues(scope).then(event.reply, () => event.reply([]))
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
      void handles.store.close()
    },
  })
}
