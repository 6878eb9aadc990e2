/**
 * Functions the engine itself serves, callable with `invokefunction` like any worker's.
 * Each reads the actor system (the catalog, the sessions' trigger actors) and returns
 * plain JSON; none keeps state of its own.
 */
import type { ActorSystem, AnyActorRef } from 'xstate'
import { catalogOf } from './catalog.js'
import { nextRun, parseCronConfig } from './cron-config.js'
import { queueNameProblem } from './queue-config.js'
import type { QueueProviderEvent } from './queue-provider.js'
import type { ErrorBody } from '../adapters/messages.js'

export interface EngineFunctionScope {
  system: ActorSystem<any>
  /** The worker that made the call, when a worker made it. */
  caller_worker_id?: string
}

type EngineFunction = (data: unknown, scope: EngineFunctionScope) => unknown

/** Drops keys whose value is undefined, so every transport shows the same object. */
const withoutUndefined = <T extends Record<string, unknown>>(o: T): T => {
  for (const k in o) if (o[k] === undefined) delete o[k]
  return o
}


/**
 * Every live trigger registration, grouped by the worker that registered it, as listed by
 * `engine::triggers::list`; `next_run` is computed for active cron triggers when asked.
 */
export function triggersByWorker(system: ActorSystem<any>, { nextRuns = false } = {}): Map<string, Array<Record<string, unknown>>> {
  const out = new Map<string, Array<Record<string, unknown>>>()
  // Once per schedule as written: triggers on the same schedule share its next run.
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
  const actors = system.getAll() as Record<string, AnyActorRef | undefined>
  for (const key in actors) {
    if (!key.startsWith('trigger:')) continue
    const snapshot = actors[key]?.getSnapshot()
    if (!snapshot || snapshot.status !== 'active') continue
    const c = snapshot.context
    const entry: Record<string, unknown> = { id: c.id, trigger_type: c.trigger_type, function_id: c.function_id, worker_id: c.worker_id, state: snapshot.value, config: c.config }
    if (nextRuns && c.trigger_type === 'cron' && snapshot.value === 'active') {
      const next = nextRunOf(c.config)
      if (next) entry.next_run = next
    }
    const list = out.get(c.worker_id)
    if (list) list.push(entry)
    else out.set(c.worker_id, [entry])
  }
  return out
}

const invalid = (message: string) => Object.assign(new Error(message), { code: 'invalid_message' })

/** Sends `provider:queue` a request and resolves with its answer. */
function askQueue<T>(system: ActorSystem<any>, request: (reply: (r: { result: T } | { error: ErrorBody }) => void) => QueueProviderEvent): Promise<T> {
  const provider = system.get('provider:queue') as AnyActorRef | undefined
  if (!provider) return Promise.reject(Object.assign(new Error('This engine runs no queue store'), { code: 'queue_unavailable' }))
  return new Promise((resolve, reject) =>
    provider.send(request((r) => ('error' in r ? reject(Object.assign(new Error(r.error.message), { code: r.error.code })) : resolve(r.result)))),
  )
}

/** The table of engine functions by id. */
export const engineFunctions: Record<string, EngineFunction> = Object.assign(Object.create(null) as Record<string, EngineFunction>, {
  'engine::workers::register': (data: unknown, { system, caller_worker_id }: EngineFunctionScope) => {
    if (caller_worker_id === undefined) throw Object.assign(new Error('Only a connected worker can describe itself'), { code: 'invalid_message' })
    const info = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : {}
    system.get('catalog').send({ type: 'worker.describe', worker_id: caller_worker_id, info })
    return { worker_id: caller_worker_id }
  },
  'engine::workers::list': (_data: unknown, { system }: EngineFunctionScope) => {
    const catalog = catalogOf(system)
    const triggers = triggersByWorker(system)
    return {
      workers: Object.values(catalog.workers).map((w) => withoutUndefined({
        worker_id: w.worker_id,
        name: typeof w.info.name === 'string' ? w.info.name : undefined,
        runtime: w.info.runtime,
        version: w.info.version,
        pid: w.info.pid,
        connected_at: w.connected_at,
        functions: Object.keys(w.functions),
        trigger_types: Object.keys(w.trigger_types),
        triggers: triggers.get(w.worker_id)?.length ?? 0,
      })),
    }
  },
  'engine::functions::list': (_data: unknown, { system }: EngineFunctionScope) => {
    const catalog = catalogOf(system)
    const functions: Array<Record<string, unknown>> = Object.keys(engineFunctions).map((function_id) => ({ function_id, engine: true, workers: [] }))
    for (const function_id in catalog.functions) {
      const workers = catalog.functions[function_id].workers
      const info = catalog.workers[workers[0]]?.functions[function_id]
      functions.push(withoutUndefined({ function_id, description: info?.description, metadata: info?.metadata, workers: [...workers] }))
    }
    return { functions }
  },
  'engine::trigger-types::list': (_data: unknown, { system }: EngineFunctionScope) => {
    const catalog = catalogOf(system)
    return {
      trigger_types: Object.keys(catalog.triggerTypes).map((id) => withoutUndefined({
        id,
        description: catalog.triggerTypes[id].description,
        worker_id: catalog.triggerTypes[id].worker_id,
      })),
    }
  },
  'engine::queue::send': (data: unknown, { system }: EngineFunctionScope) => {
    const { queue_name, body, delay_seconds } = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>
    const problem = queueNameProblem('queue_name', queue_name)
    if (problem) throw invalid(`engine::queue::send: ${problem}`)
    if (delay_seconds !== undefined && (typeof delay_seconds !== 'number' || !Number.isInteger(delay_seconds) || delay_seconds < 0 || delay_seconds > 43_200)) {
      throw invalid(`engine::queue::send: 'delay_seconds' must be a whole number from 0 to 43200, got ${JSON.stringify(delay_seconds)}`)
    }
    return askQueue(system, (reply) => ({ type: 'queue.send', queue_name: queue_name as string, body: body ?? null, delay_seconds: delay_seconds as number | undefined, reply }))
  },
  'engine::queue::dlq': (data: unknown, { system }: EngineFunctionScope) => {
    const d = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>
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
  'engine::triggers::list': (_data: unknown, { system }: EngineFunctionScope) => {
    const catalog = catalogOf(system)
    const byWorker = triggersByWorker(system, { nextRuns: true })
    const triggers: Array<Record<string, unknown>> = []
    for (const worker_id in catalog.workers) triggers.push(...(byWorker.get(worker_id) ?? []))
    return { triggers }
  },
})
