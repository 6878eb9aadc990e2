/**
 * The catalog: which workers are connected, which functions each offers and which trigger
 * types each provides, indexed for the lookups every registration and invocation makes.
 * One actor (systemId `catalog`) owns this data; sessions change it only by sending it
 * events, and read it through its snapshot. Records have no prototype, so ids such as
 * `__proto__` or `constructor` are ordinary keys. The snapshot is plain JSON.
 */
import { fromTransition, type ActorSystem } from 'xstate'
import { ENGINE_PROVIDER } from './builtin-trigger-types.js'

/** What a worker told the engine about itself (`engine::workers::register`). */
export type WorkerInfo = Record<string, unknown>

export interface FunctionInfo {
  description?: string
  request_format?: unknown
  response_format?: unknown
  metadata?: unknown
}

export interface WorkerEntry {
  worker_id: string
  connected_at: string
  info: WorkerInfo
  functions: Record<string, FunctionInfo>
  trigger_types: Record<string, { description?: string }>
}

export interface CatalogState {
  workers: Record<string, WorkerEntry>
  /** function id → the workers offering it, in registration order. */
  functions: Record<string, { workers: string[] }>
  /** trigger type id → the worker providing it. */
  triggerTypes: Record<string, { worker_id: string; description?: string }>
}

export type CatalogEvent =
  | { type: 'worker.add'; worker_id: string; connected_at: string }
  | { type: 'worker.describe'; worker_id: string; info: WorkerInfo }
  | { type: 'worker.remove'; worker_id: string }
  | { type: 'function.add'; worker_id: string; function_id: string; info: FunctionInfo }
  | { type: 'function.remove'; worker_id: string; function_id: string }
  | { type: 'triggerType.add'; worker_id: string; trigger_type: string; description?: string }
  | { type: 'triggerType.remove'; worker_id: string; trigger_type: string }

/** The catalog's current data, read through its actor's snapshot. */
export const catalogOf = (system: ActorSystem<any>): CatalogState => system.get('catalog').getSnapshot().context

/** A record without a prototype, safe for any key. */
export const record = <T>(): Record<string, T> => Object.create(null) as Record<string, T>

function removeFunction(state: CatalogState, worker_id: string, function_id: string): void {
  const entry = state.functions[function_id]
  if (!entry) return
  const at = entry.workers.indexOf(worker_id)
  if (at >= 0) entry.workers.splice(at, 1)
  if (entry.workers.length === 0) delete state.functions[function_id]
}

/** Applies one change. The state is updated in place: it is large and changed often. */
export function applyCatalogEvent(state: CatalogState, event: CatalogEvent): CatalogState {
  switch (event.type) {
    case 'worker.add':
      state.workers[event.worker_id] = {
        worker_id: event.worker_id,
        connected_at: event.connected_at,
        info: record(),
        functions: record(),
        trigger_types: record(),
      }
      break
    case 'worker.describe': {
      const worker = state.workers[event.worker_id]
      if (worker) worker.info = event.info
      break
    }
    case 'worker.remove': {
      const worker = state.workers[event.worker_id]
      if (!worker) break
      for (const function_id in worker.functions) removeFunction(state, event.worker_id, function_id)
      for (const trigger_type in worker.trigger_types) {
        if (state.triggerTypes[trigger_type]?.worker_id === event.worker_id) delete state.triggerTypes[trigger_type]
      }
      delete state.workers[event.worker_id]
      break
    }
    case 'function.add': {
      const worker = state.workers[event.worker_id]
      if (!worker) break
      worker.functions[event.function_id] = event.info
      const entry = (state.functions[event.function_id] ??= { workers: [] })
      entry.workers.push(event.worker_id)
      break
    }
    case 'function.remove': {
      const worker = state.workers[event.worker_id]
      if (!worker || !(event.function_id in worker.functions)) break
      delete worker.functions[event.function_id]
      removeFunction(state, event.worker_id, event.function_id)
      break
    }
    case 'triggerType.add': {
      const worker = state.workers[event.worker_id]
      if (!worker) break
      worker.trigger_types[event.trigger_type] = { description: event.description }
      state.triggerTypes[event.trigger_type] = { worker_id: event.worker_id, description: event.description }
      break
    }
    case 'triggerType.remove': {
      const worker = state.workers[event.worker_id]
      if (worker) delete worker.trigger_types[event.trigger_type]
      if (state.triggerTypes[event.trigger_type]?.worker_id === event.worker_id) delete state.triggerTypes[event.trigger_type]
      break
    }
  }
  return state
}

/** The catalog actor logic; `builtins` are the engine's own trigger types (id → description). */
export const catalogLogic = fromTransition(applyCatalogEvent, ({ input }: { input: { builtins: Record<string, string> } }): CatalogState => {
  const triggerTypes = record<{ worker_id: string; description?: string }>()
  for (const [id, description] of Object.entries(input.builtins)) triggerTypes[id] = { worker_id: ENGINE_PROVIDER, description }
  return { workers: record(), functions: record(), triggerTypes }
})
