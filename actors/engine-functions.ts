/**
 * The functions the engine serves itself (their ids and shapes: protocol/engine-functions.ts).
 * The invocations actor runs them for a caller; each reads the catalog or asks a provider,
 * returns plain JSON, and keeps no state of its own. A refusal is an `EngineFunctionError`
 * carrying the error body the caller gets.
 */
import type { ErrorBody } from '../protocol/messages.js'
import { errors } from '../protocol/errors.js'
import { ENGINE_FUNCTIONS, type EngineFunctionId } from '../protocol/engine-functions.js'
import type { GatheredPart } from '../protocol/cluster.js'
import * as v from 'valibot'
import {
  FunctionInfoQuery,
  functionDetail,
  isProblem,
  readQuery,
  RegisteredTriggerInfoQuery,
  registeredTriggerDetail,
  registeredTriggerRows,
  RegisteredTriggersQuery,
  TriggerTypeInfoQuery,
  triggerTypeDetail,
  triggerTypeRows,
  TriggerTypesQuery,
  triggersBoundTo,
  WorkerInfoQuery,
  workerDetail,
  workerNameOf,
} from '../core/listings.js'
import { nextRun, parseCronConfig } from '../core/cron-config.js'
import { parsePublish } from '../core/pubsub-config.js'
import { bufferSize, refsOf } from '../core/channel-table.js'
import { Relay } from '../core/channel-relay.js'
import { randomUUID } from 'node:crypto'
import { delayProblem, queueNameProblem, tagProblem } from '../core/queue-config.js'
import type { MessageContext } from '../core/queue-store.js'
import { actorsOf, catalogOf, tell, type EngineSystem } from '../machines/system.js'
import { ENGINE_PROVIDER } from '../core/catalog.js'
import {
  boundOnly,
  foundInCluster,
  FunctionAnswer,
  mergeFunctionDetails,
  mergeQueueLists,
  mergeTypeRows,
  typeRowsProblem,
  QueueList,
  queueListProblem,
  RegisteredTriggerAnswer,
  rowsProblem,
  shapeProblem,
  WorkerInfoAnswer,
} from '../core/cluster-listings.js'
import type { QueueInfo, QueueProviderEvent } from '../machines/contracts.js'

export interface EngineFunctionScope {
  system: EngineSystem
  /** The worker that made the call, when a worker made it. */
  caller_worker_id?: string
  /** The call's trace context and metadata (a message sent keeps them for the call that handles it). */
  context?: MessageContext
  /** Asked by another engine of the cluster: this engine's part alone. */
  local?: boolean
}

/** An engine function's refusal: the caller gets `body`. */
export class EngineFunctionError extends Error {
  constructor(readonly body: ErrorBody) {
    super(body.message)
  }
}

type EngineFunction = (data: unknown, scope: EngineFunctionScope) => unknown

/** Drops keys whose value is undefined, so every transport shows the same object. */
const withoutUndefined = <T extends Record<string, unknown>>(o: T): T => {
  for (const k in o) if (o[k] === undefined) delete o[k]
  return o
}

const invalid = (text: string) => new EngineFunctionError(errors.invalidMessage(text))
const fields = (data: unknown) => (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>

/**
 * A listing of the whole cluster: in a cluster (unless another engine asks for this one's
 * part), `key`'s rows of this engine, then of every other engine that answered within a
 * second, each row with its `engine_id`. Alone, the listing as it was.
 */
function acrossCluster(function_id: EngineFunctionId, key: string, here: EngineFunction): EngineFunction {
  return (data, scope) => {
    const own = here(data, scope) as Record<string, unknown>
    const cluster = scope.local ? undefined : actorsOf(scope.system).cluster()
    if (!cluster) return own
    const tagged = (rows: unknown, engine_id: string): Array<Record<string, unknown>> => (Array.isArray(rows) ? rows.map((row: Record<string, unknown>) => ({ ...row, engine_id })) : [])
    const rows = tagged(own[key], cluster.getSnapshot().context.membership.self)
    return new Promise((resolve) =>
      cluster.send({
        type: 'cluster.gather',
        function_id,
        data,
        check: rowsProblem(key),
        reply: (parts) => {
          for (const part of parts) {
            // The engine's own functions are listed once, as this engine's.
            const theirs = tagged((part.result as Record<string, unknown> | undefined)?.[key], part.engine_id).filter((row) => row.engine !== true)
            rows.push(...theirs)
          }
          resolve({ ...own, [key]: rows })
        },
      }),
    )
  }
}

/**
 * A trigger types listing of the whole cluster: in a cluster (unless another engine asks for
 * this one's part), every type once (`mergeTypeRows`): this engine's rows, then the types
 * other engines' workers provide, as those engines list them (answered within a second),
 * each row with the `engine_id` of its provider's engine. Alone, the listing as it was.
 */
function typesAcrossCluster(function_id: EngineFunctionId, key: string, here: EngineFunction): EngineFunction {
  return (data, scope) => {
    const own = here(data, scope) as Record<string, Array<{ id: string; worker_id: string }>>
    const cluster = scope.local ? undefined : actorsOf(scope.system).cluster()
    if (!cluster) return own
    return new Promise((resolve) =>
      cluster.send({
        type: 'cluster.gather',
        function_id,
        data,
        check: typeRowsProblem(key),
        reply: (parts) => {
          const membership = cluster.getSnapshot().context.membership
          const answered = parts.filter((p) => p.error === undefined).map((p) => ({ engine_id: p.engine_id, rows: (p.result as typeof own)[key] }))
          resolve({ ...own, [key]: mergeTypeRows(membership.self, own[key], answered, (id) => membership.typeHolder(id)?.engine_id) })
        },
      }),
    )
  }
}

/**
 * In a cluster (unless another engine asks for this one's part): every other engine's
 * answer to `function_id` with `data`, as `check` accepts it (within a second); undefined
 * alone. The cluster actor logs the answers it refuses.
 */
function askCluster(function_id: string, data: unknown, scope: EngineFunctionScope, check: (result: unknown) => string | undefined): Promise<{ self: string; parts: GatheredPart[] }> | undefined {
  const cluster = scope.local ? undefined : actorsOf(scope.system).cluster()
  if (!cluster) return undefined
  const self = cluster.getSnapshot().context.membership.self
  return new Promise((resolve) => cluster.send({ type: 'cluster.gather', function_id, data, check, reply: (parts) => resolve({ self, parts }) }))
}

/**
 * An `::info` function across the cluster: `here` (this engine's answer, or undefined when
 * it has none) and, when it has none, the first other engine's, with the `engine_id` of the
 * engine it lives on; `notFound` when no engine has it. Alone, `here` or `notFound`.
 */
function infoAcrossCluster<T extends Record<string, unknown>>(
  function_id: EngineFunctionId,
  data: unknown,
  scope: EngineFunctionScope,
  here: T | undefined,
  answer: v.GenericSchema,
  notFound: () => EngineFunctionError,
): T | (T & { engine_id: string }) | Promise<T & { engine_id: string }> {
  const cluster = scope.local ? undefined : actorsOf(scope.system).cluster()
  if (!cluster) {
    if (here === undefined) throw notFound()
    return here
  }
  const self = cluster.getSnapshot().context.membership.self
  if (here !== undefined) return { ...here, engine_id: self }
  return askCluster(function_id, data, scope, (result) => shapeProblem(answer, result))!.then(({ parts }) => {
    const found = foundInCluster<T>(self, undefined, parts)
    if (!found) throw notFound()
    return found
  })
}

/** Adds `next_run` to the rows of active cron triggers (computed once per schedule as written). */
function withNextRuns<T extends { trigger_type: string; state: string; config: Record<string, unknown> }>(rows: T[]): Array<T & { next_run?: string }> {
  const computed = new Map<string, string | null>()
  const nextRunOf = (config: Record<string, unknown>): string | null => {
    const key = JSON.stringify([config.timezone, config.schedule, config.expression])
    let next = computed.get(key)
    if (next === undefined) {
      const schedule = parseCronConfig(config)
      next = (typeof schedule === 'string' ? null : nextRun(schedule))?.toISOString() ?? null
      computed.set(key, next)
    }
    return next
  }
  for (const row of rows as Array<T & { next_run?: string }>) {
    if (row.trigger_type !== 'cron' || row.state !== 'active') continue
    const next = nextRunOf(row.config)
    if (next) row.next_run = next
  }
  return rows
}

/** The query in an engine function's input, or its refusal thrown. */
function query<S extends v.GenericSchema>(schema: S, function_id: EngineFunctionId, data: unknown): v.InferOutput<S> {
  const q = readQuery(schema, function_id, data)
  if (isProblem(q)) throw invalid(q.problem)
  return q
}

/** `publish` and `iii::durable::publish`: checks the input and asks `provider:pubsub` to deliver it. */
function publishTo(function_id: 'publish' | 'iii::durable::publish', data: unknown, { system, context }: EngineFunctionScope): Promise<null> {
  const input = parsePublish(function_id, data)
  if ('problem' in input) throw invalid(input.problem)
  const provider = actorsOf(system).pubsubProvider()
  if (!provider) return Promise.reject(new EngineFunctionError(errors.engineError('This engine runs no pub/sub')))
  return new Promise((resolve, reject) =>
    provider.send({
      type: 'topic.publish',
      topic: input.topic,
      data: input.data,
      durable: function_id === 'iii::durable::publish',
      context,
      reply: (r) => ('error' in r ? reject(new EngineFunctionError(r.error)) : resolve(r.result)),
    }),
  )
}

/** `engine::channels::create`: a channel between two workers (or one worker and itself); answers the refs of its ends. */
function createChannel(data: unknown, { system, caller_worker_id }: EngineFunctionScope) {
  const capacity = bufferSize(fields(data).buffer_size)
  if (typeof capacity === 'string') throw invalid(`engine::channels::create: ${capacity}`)
  const channels = actorsOf(system).channels()
  if (!channels) throw new EngineFunctionError(errors.engineError('This engine runs no data channels'))
  const channel_id = randomUUID()
  const keys = { read: randomUUID(), write: randomUUID() }
  // Released once both ends are done with it.
  const relay = new Relay(capacity, () => tell(channels, { type: 'channel.release', channel_id }))
  channels.send({ type: 'channel.create', channel_id, keys, capacity, origin: caller_worker_id === undefined ? 'engine' : `worker ${caller_worker_id}`, relay })
  return refsOf(channel_id, keys)
}

/** Sends `provider:queue` a request and resolves with its answer. */
function askQueue<T>(system: EngineSystem, request: (reply: (r: { result: T } | { error: ErrorBody }) => void) => QueueProviderEvent): Promise<T> {
  const provider = actorsOf(system).queueProvider()
  if (!provider) return Promise.reject(new EngineFunctionError(errors.queueUnavailable()))
  return new Promise((resolve, reject) => provider.send(request((r) => ('error' in r ? reject(new EngineFunctionError(r.error)) : resolve(r.result)))))
}

/** The engine functions, by id: exactly those protocol/engine-functions.ts names. */
export const engineFunctions: Record<EngineFunctionId, EngineFunction> = {
  'engine::workers::register': (data, { system, caller_worker_id }) => {
    if (caller_worker_id === undefined) throw invalid('Only a connected worker can describe itself')
    const info = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : {}
    actorsOf(system).catalog()?.send({ type: 'worker.describe', worker_id: caller_worker_id, info })
    // One line in the engine's log as the worker names itself ('session opened' came before it had a name).
    const { name, runtime, version, pid } = info
    tell(actorsOf(system).session(caller_worker_id), {
      type: 'session.log',
      level: 'info',
      msg: 'worker registered',
      data: withoutUndefined({ worker_id: caller_worker_id, worker: typeof name === 'string' && name.length > 0 ? name : undefined, runtime, version, pid }),
    })
    return { worker_id: caller_worker_id }
  },
  'engine::workers::list': acrossCluster('engine::workers::list', 'workers', (_data, { system }) => {
    const catalog = catalogOf(system)
    return {
      workers: Object.values(catalog.workers).map((w) =>
        withoutUndefined({
          worker_id: w.worker_id,
          id: w.worker_id,
          name: typeof w.info.name === 'string' ? w.info.name : undefined,
          runtime: w.info.runtime,
          version: w.info.version,
          pid: w.info.pid,
          status: w.held_until === undefined ? 'connected' : 'held',
          connected_at: w.connected_at,
          connected_at_ms: Date.parse(w.connected_at),
          function_count: w.sizes.functions,
          functions: Object.keys(w.functions),
          trigger_types: Object.keys(w.trigger_types),
          triggers: Object.keys(w.triggers).length,
        }),
      ),
    }
  }),
  'engine::workers::info': (data, scope) => {
    const q = query(WorkerInfoQuery, 'engine::workers::info', data)
    const notFound = () => new EngineFunctionError(errors.workerNotFound(q.worker_id !== undefined ? `with ID '${q.worker_id}'` : `named '${q.name}'`))
    return infoAcrossCluster('engine::workers::info', data, scope, workerDetail(catalogOf(scope.system), q), WorkerInfoAnswer, notFound)
  },
  'engine::functions::list': acrossCluster('engine::functions::list', 'functions', (_data, { system }) => {
    const catalog = catalogOf(system)
    const functions: Array<Record<string, unknown>> = Object.keys(ENGINE_FUNCTIONS).map((function_id) => ({ function_id, worker_name: ENGINE_PROVIDER, engine: true, workers: [] }))
    for (const function_id in catalog.functions) {
      const { workers, held } = catalog.functions[function_id]
      const first = workers[0] ?? held[0]
      const info = catalog.workers[first]?.functions[function_id]
      functions.push(withoutUndefined({ function_id, worker_name: workerNameOf(catalog, first), description: info?.description, metadata: info?.metadata, workers: [...workers] }))
    }
    return { functions }
  }),
  'engine::functions::info': (data, scope) => {
    const { function_id } = query(FunctionInfoQuery, 'engine::functions::info', data)
    const catalog = catalogOf(scope.system)
    const cluster = actorsOf(scope.system).cluster()
    const here = functionDetail(catalog, function_id, ENGINE_FUNCTIONS)
    // In a cluster, triggers here may bind a function only another engine serves: they count too.
    const bound = !here && cluster ? triggersBoundTo(catalog, function_id) : []
    const own = here ? { ...here } : bound.length > 0 ? boundOnly(function_id, bound) : undefined
    const notFound = () => new EngineFunctionError(errors.functionNotFound(function_id))
    // Alone, or asked by another engine: this engine's part.
    if (!cluster || scope.local) {
      if (!own) throw notFound()
      return own
    }
    // Every engine is asked: its workers may serve the function too, its triggers bind it.
    return askCluster('engine::functions::info', data, scope, (result) => shapeProblem(FunctionAnswer, result))!.then(({ self, parts }) => {
      const found = mergeFunctionDetails(self, own, parts)
      if (!found) throw notFound()
      return found
    })
  },
  'engine::triggers::list': typesAcrossCluster('engine::triggers::list', 'triggers', (data, { system }) => ({
    triggers: triggerTypeRows(catalogOf(system), query(TriggerTypesQuery, 'engine::triggers::list', data)),
  })),
  'engine::triggers::info': (data, { system }) => {
    const { id } = query(TriggerTypeInfoQuery, 'engine::triggers::info', data)
    const found = triggerTypeDetail(catalogOf(system), id)
    if (!found) throw new EngineFunctionError(errors.triggerTypeNotFound(id))
    return found
  },
  'engine::trigger-types::list': typesAcrossCluster('engine::trigger-types::list', 'trigger_types', (_data, { system }) => {
    const catalog = catalogOf(system)
    return {
      trigger_types: Object.keys(catalog.triggerTypes).map((id) =>
        withoutUndefined({ id, description: catalog.triggerTypes[id].description, worker_id: catalog.triggerTypes[id].worker_id }),
      ),
    }
  }),
  'engine::registered-triggers::list': acrossCluster('engine::registered-triggers::list', 'registered_triggers', (data, { system }) => ({
    registered_triggers: withNextRuns(registeredTriggerRows(catalogOf(system), query(RegisteredTriggersQuery, 'engine::registered-triggers::list', data))),
  })),
  'engine::registered-triggers::info': (data, scope) => {
    const { id, worker_id } = query(RegisteredTriggerInfoQuery, 'engine::registered-triggers::info', data)
    const found = registeredTriggerDetail(catalogOf(scope.system), id, worker_id, ENGINE_FUNCTIONS)
    const notFound = () => new EngineFunctionError(errors.registeredTriggerNotFound(id))
    return infoAcrossCluster('engine::registered-triggers::info', data, scope, found && withNextRuns([found])[0], RegisteredTriggerAnswer, notFound)
  },
  'engine::channels::create': createChannel,
  publish: (data, scope) => publishTo('publish', data, scope),
  'iii::durable::publish': (data, scope) => publishTo('iii::durable::publish', data, scope),
  'engine::queue::send': (data, { system, context }) => {
    const { queue_name, body, delay_seconds, message_group_id, deduplication_id } = fields(data)
    const problem =
      queueNameProblem('queue_name', queue_name) ??
      delayProblem('delay_seconds', delay_seconds) ??
      tagProblem('message_group_id', message_group_id) ??
      tagProblem('deduplication_id', deduplication_id)
    if (problem) throw invalid(`engine::queue::send: ${problem}`)
    return askQueue(system, (reply) => ({
      type: 'queue.send',
      queue_name: queue_name as string,
      body: body ?? null,
      delay_seconds: delay_seconds as number | undefined,
      message_group_id: message_group_id as string | undefined,
      deduplication_id: deduplication_id as string | undefined,
      context,
      reply,
    }))
  },
  'engine::queue::list': (data, scope) => {
    const provider = actorsOf(scope.system).queueProvider()
    if (!provider) throw new EngineFunctionError(errors.queueUnavailable())
    const own = new Promise<QueueInfo[]>((resolve) => provider.send({ type: 'queue.list', reply: resolve }))
    // In a cluster: the store's counts are the cluster's already; each engine adds its consumers.
    const asked = askCluster('engine::queue::list', data, scope, queueListProblem)
    if (!asked) return own.then((queues) => ({ queues }))
    return Promise.all([own, asked]).then(([queues, { self, parts }]) => ({
      queues: mergeQueueLists(
        self,
        queues,
        parts.filter((p) => p.error === undefined).map((p) => ({ engine_id: p.engine_id, queues: (p.result as v.InferOutput<typeof QueueList>).queues })),
      ),
    }))
  },
  'engine::queue::dlq': (data, { system }) => {
    const d = fields(data)
    const action = d.action ?? 'list'
    const dead_letter_queue = d.dead_letter_queue ?? (typeof d.queue_name === 'string' ? `${d.queue_name}.dlq` : undefined)
    const problem = queueNameProblem(d.dead_letter_queue !== undefined ? 'dead_letter_queue' : 'queue_name', d.dead_letter_queue ?? d.queue_name)
    if (problem) throw invalid(`engine::queue::dlq: ${problem} (give 'queue_name' for its default dead-letter queue, or 'dead_letter_queue')`)
    if (action === 'list') {
      const limit = d.limit ?? 100
      if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 10_000) throw invalid(`engine::queue::dlq: 'limit' must be a whole number from 1 to 10000, got ${JSON.stringify(limit)}`)
      return askQueue(system, (reply) => ({ type: 'queue.deadLetters', dead_letter_queue: dead_letter_queue as string, limit, reply }))
    }
    if (action === 'redrive') {
      const ids = d.message_ids
      if (ids !== undefined && (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string'))) throw invalid(`engine::queue::dlq: 'message_ids' must be a list of message ids`)
      return askQueue(system, (reply) => ({ type: 'queue.redrive', dead_letter_queue: dead_letter_queue as string, message_ids: ids as string[] | undefined, reply }))
    }
    throw invalid(`engine::queue::dlq: 'action' must be 'list' or 'redrive', got ${JSON.stringify(action)}`)
  },
}
