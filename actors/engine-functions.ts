/**
 * Functions the engine itself serves, callable with `invokefunction` like any worker's.
 * Each reads the actor system (the catalog, the sessions' trigger actors) and returns
 * plain JSON; none keeps state of its own.
 */
import type { ActorSystem, AnyActorRef } from 'xstate'
import { catalogOf } from './catalog.js'
import { nextRun, parseCronConfig } from './cron-config.js'

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


/** Snapshot of every trigger actor of one session, as listed by `engine::triggers::list`. */
export function triggersOf(session: AnyActorRef | undefined): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = []
  if (!session) return out
  const children = session.getSnapshot().children as Record<string, AnyActorRef | undefined>
  for (const key in children) {
    if (!key.startsWith('trigger:')) continue
    const snapshot = children[key]?.getSnapshot()
    if (!snapshot || snapshot.status !== 'active') continue
    const c = snapshot.context
    const entry: Record<string, unknown> = { id: c.id, trigger_type: c.trigger_type, function_id: c.function_id, worker_id: c.worker_id, state: snapshot.value, config: c.config }
    if (c.trigger_type === 'cron' && snapshot.value === 'active') {
      const schedule = parseCronConfig(c.config)
      const next = typeof schedule === 'string' ? null : nextRun(schedule)
      if (next) entry.next_run = next.toISOString()
    }
    out.push(entry)
  }
  return out
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
        triggers: triggersOf(system.get(`session:${w.worker_id}`)).length,
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
  'engine::triggers::list': (_data: unknown, { system }: EngineFunctionScope) => {
    const catalog = catalogOf(system)
    const triggers: Array<Record<string, unknown>> = []
    for (const worker_id in catalog.workers) triggers.push(...triggersOf(system.get(`session:${worker_id}`)))
    return { triggers }
  },
})
