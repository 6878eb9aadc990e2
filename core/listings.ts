/**
 * What the introspection engine functions answer, read from the catalog, in the names and
 * shapes of iii 0.22.1 (its SDK's `EngineFunctions` constants): `engine::triggers::list`
 * and `::info` are trigger TYPES, `engine::registered-triggers::list` and `::info` are
 * trigger INSTANCES (registrations), plus `engine::functions::info` and
 * `engine::workers::info`. Each row also keeps what signalbox has always shown
 * (`worker_id`, a registration's `state`). Pure: the catalog in, plain JSON out; the
 * queries are valibot schemas, their types inferred.
 *
 * A worker is named by the name it gave (`engine::workers::register`), or by its id when
 * it gave none; the engine's own types and functions by `engine`.
 */
import * as v from 'valibot'
import { shown } from '../protocol/values.js'
import { ENGINE_PROVIDER, workerName, type CatalogState, type TriggerEntry } from './catalog.js'

/** Ids with this prefix are the engine's own (iii's "internal"): hidden unless `include_internal`. */
export const INTERNAL_PREFIX = 'engine::'

/** Longest `config_summary` (iii's): the config as JSON, cut with `…`. */
export const CONFIG_SUMMARY_MAX = 80

const text = (field: string) => v.optional(v.string((i) => `'${field}' must be a string, got ${shown(i.input)}`))
const flag = (field: string) => v.optional(v.boolean((i) => `'${field}' must be true or false, got ${shown(i.input)}`))
const id = (field: string, what: string) =>
  v.pipe(
    v.string((i) => `'${field}' must be ${what}, got ${shown(i.input)}`),
    v.minLength(1, () => `'${field}' must be ${what}, got an empty string`),
  )

/** `engine::triggers::list`: filters on trigger types. */
export const TriggerTypesQuery = v.object({ search: text('search'), prefix: text('prefix'), worker: text('worker'), include_internal: flag('include_internal') })
/** `engine::registered-triggers::list`: filters on registrations. */
export const RegisteredTriggersQuery = v.object({
  search: text('search'),
  trigger_type: text('trigger_type'),
  function_id: text('function_id'),
  worker: text('worker'),
  include_internal: flag('include_internal'),
})
export const TriggerTypeInfoQuery = v.object({ id: id('id', 'a trigger type id') })
/** `worker_id` picks one session's registration when several sessions use the id. */
export const RegisteredTriggerInfoQuery = v.object({ id: id('id', 'a trigger id'), worker_id: text('worker_id') })
export const FunctionInfoQuery = v.object({ function_id: id('function_id', 'a function id') })
/** iii asks by `name`; signalbox also by `worker_id`. */
export const WorkerInfoQuery = v.pipe(
  v.object({ name: text('name'), worker_id: text('worker_id') }),
  v.check((q) => q.name !== undefined || q.worker_id !== undefined, "give 'name' (the name the worker gave) or 'worker_id'"),
)

export type TriggerTypesQuery = v.InferOutput<typeof TriggerTypesQuery>
export type RegisteredTriggersQuery = v.InferOutput<typeof RegisteredTriggersQuery>

/**
 * Reads a query from an engine function's input (absent or `null` is `{}`); returns it, or
 * the text of the refusal, prefixed with the function's id.
 */
export function readQuery<S extends v.GenericSchema>(schema: S, function_id: string, data: unknown): v.InferOutput<S> | { problem: string } {
  const input = data ?? {}
  if (typeof input !== 'object' || Array.isArray(input)) return { problem: `${function_id}: the input must be an object, got ${shown(data)}` }
  const parsed = v.safeParse(schema, input)
  return parsed.success ? parsed.output : { problem: `${function_id}: ${parsed.issues[0].message}` }
}

export const isProblem = (q: unknown): q is { problem: string } => typeof q === 'object' && q !== null && 'problem' in q && Object.keys(q).length === 1

/** A worker as listings name it: its name, or its id when it gave none; `engine` for the engine. */
export const workerNameOf = (state: CatalogState, worker_id: string): string => (worker_id === ENGINE_PROVIDER ? ENGINE_PROVIDER : (workerName(state, worker_id) ?? worker_id))

/** A config as one short line: its JSON, cut at CONFIG_SUMMARY_MAX characters with `…`. */
export function configSummary(config: unknown): string {
  const raw = JSON.stringify(config ?? {}) ?? '{}'
  return [...raw].length <= CONFIG_SUMMARY_MAX ? raw : [...raw].slice(0, CONFIG_SUMMARY_MAX).join('') + '…'
}

const matches = (needle: string | undefined, ...haystacks: Array<string | undefined>) => {
  if (!needle) return true
  const lowered = needle.toLowerCase()
  return haystacks.some((h) => h !== undefined && h.toLowerCase().includes(lowered))
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

// ------------------------------------------------------------------------ trigger types

export interface TriggerTypeRow {
  id: string
  worker_name: string
  description: string
  /** Who provides it: a worker id, or `engine`. */
  worker_id: string
}

/** The trigger types (`engine::triggers::list`), sorted by id. */
export function triggerTypeRows(state: CatalogState, query: TriggerTypesQuery = {}): TriggerTypeRow[] {
  const rows: TriggerTypeRow[] = []
  for (const id in state.triggerTypes) {
    const { worker_id, description = '' } = state.triggerTypes[id]
    const row = { id, worker_name: workerNameOf(state, worker_id), description, worker_id }
    if (!query.include_internal && id.startsWith(INTERNAL_PREFIX)) continue
    if (query.prefix !== undefined && !id.startsWith(query.prefix)) continue
    if (query.worker !== undefined && row.worker_name !== query.worker) continue
    if (!matches(query.search, id, description)) continue
    rows.push(row)
  }
  return rows.sort(byId)
}

/** How many registrations of live workers use `trigger_type`. */
function instanceCount(state: CatalogState, trigger_type: string): number {
  let n = 0
  for (const worker_id in state.workers) {
    const triggers = state.workers[worker_id].triggers
    for (const id in triggers) if (triggers[id].trigger_type === trigger_type) n++
  }
  return n
}

/** One trigger type (`engine::triggers::info`), with how many registrations use it; undefined when nobody provides it. */
export function triggerTypeDetail(state: CatalogState, id: string): (TriggerTypeRow & { instance_count: number }) | undefined {
  const type = state.triggerTypes[id]
  if (!type) return undefined
  return { id, worker_name: workerNameOf(state, type.worker_id), description: type.description ?? '', worker_id: type.worker_id, instance_count: instanceCount(state, id) }
}

// ------------------------------------------------------------------ registered triggers

export interface RegisteredTriggerRow {
  id: string
  trigger_type: string
  function_id: string
  /** The worker that registered it, by name. */
  worker_name: string
  config: Record<string, unknown>
  config_summary: string
  worker_id: string
  state: TriggerEntry['state']
}

const rowOf = (state: CatalogState, worker_id: string, t: TriggerEntry): RegisteredTriggerRow => ({
  id: t.id,
  trigger_type: t.trigger_type,
  function_id: t.function_id,
  worker_name: workerNameOf(state, worker_id),
  config: t.config,
  config_summary: configSummary(t.config),
  worker_id,
  state: t.state,
})

/** The registrations of live workers (`engine::registered-triggers::list`), in worker order, then registration order. */
export function registeredTriggerRows(state: CatalogState, query: RegisteredTriggersQuery = {}): RegisteredTriggerRow[] {
  const rows: RegisteredTriggerRow[] = []
  for (const worker_id in state.workers) {
    const triggers = state.workers[worker_id].triggers
    for (const id in triggers) {
      const t = triggers[id]
      if (!query.include_internal && t.function_id.startsWith(INTERNAL_PREFIX)) continue
      if (query.trigger_type !== undefined && t.trigger_type !== query.trigger_type) continue
      if (query.function_id !== undefined && t.function_id !== query.function_id) continue
      const row = rowOf(state, worker_id, t)
      if (query.worker !== undefined && row.worker_name !== query.worker) continue
      if (!matches(query.search, t.id, t.trigger_type, t.function_id)) continue
      rows.push(row)
    }
  }
  return rows
}

/** One registration (`engine::registered-triggers::info`) with its type's and function's detail (null when gone). */
export function registeredTriggerDetail(state: CatalogState, id: string, worker_id: string | undefined, engineFunctions: Readonly<Record<string, string>>) {
  const owners = worker_id === undefined ? Object.keys(state.workers) : [worker_id]
  for (const owner of owners) {
    const t = state.workers[owner]?.triggers[id]
    if (!t) continue
    const { config_summary: _, ...row } = rowOf(state, owner, t)
    return {
      ...row,
      ...(t.metadata === undefined ? {} : { metadata: t.metadata }),
      trigger: triggerTypeDetail(state, t.trigger_type) ?? null,
      function: functionDetail(state, t.function_id, engineFunctions) ?? null,
    }
  }
  return undefined
}

// --------------------------------------------------------------------------- functions

export interface FunctionDetail {
  function_id: string
  /** The worker serving it first (replicas: `workers`), by name; `engine` for an engine function. */
  worker_name: string
  description?: string
  request_schema?: unknown
  response_schema?: unknown
  metadata?: unknown
  registered_triggers: Array<{ id: string; trigger_type: string; config: Record<string, unknown>; worker_id: string }>
  /** Live workers serving it, in registration order (empty for an engine function). */
  workers: string[]
  engine?: true
}

const withoutUndefined = <T extends Record<string, unknown>>(o: T): T => {
  for (const k in o) if (o[k] === undefined) delete o[k]
  return o
}

/** The triggers of live workers bound to `function_id`, in worker order (a cluster's engine may bind a function only another engine serves). */
export function triggersBoundTo(state: CatalogState, function_id: string): FunctionDetail['registered_triggers'] {
  const registered_triggers: FunctionDetail['registered_triggers'] = []
  for (const worker_id in state.workers) {
    const triggers = state.workers[worker_id].triggers
    for (const id in triggers) {
      const t = triggers[id]
      if (t.function_id === function_id) registered_triggers.push({ id: t.id, trigger_type: t.trigger_type, config: t.config, worker_id })
    }
  }
  return registered_triggers
}

/** One function (`engine::functions::info`): who serves it, what it said of itself, the triggers bound to it; undefined when nobody offers it. */
export function functionDetail(state: CatalogState, function_id: string, engineFunctions: Readonly<Record<string, string>>): FunctionDetail | undefined {
  const registered_triggers = triggersBoundTo(state, function_id)
  if (Object.hasOwn(engineFunctions, function_id)) {
    return { function_id, worker_name: ENGINE_PROVIDER, description: engineFunctions[function_id], registered_triggers, workers: [], engine: true }
  }
  const entry = state.functions[function_id]
  if (!entry) return undefined
  const first = entry.workers[0] ?? entry.held[0]
  const info = state.workers[first]?.functions[function_id]
  return withoutUndefined({
    function_id,
    worker_name: workerNameOf(state, first),
    description: info?.description,
    request_schema: info?.request_format,
    response_schema: info?.response_format,
    metadata: info?.metadata,
    registered_triggers,
    workers: [...entry.workers],
  })
}

// ----------------------------------------------------------------------------- workers

/** One worker (`engine::workers::info`), by the name it gave or its id: itself, its functions, the types it provides, its registrations. */
export function workerDetail(state: CatalogState, query: { name?: string; worker_id?: string }) {
  const worker_id =
    query.worker_id !== undefined ? (state.workers[query.worker_id] ? query.worker_id : undefined) : Object.keys(state.workers).find((w) => workerName(state, w) === query.name)
  const w = worker_id === undefined ? undefined : state.workers[worker_id]
  if (!w || worker_id === undefined) return undefined
  const name = workerNameOf(state, worker_id)
  const info = w.info
  const str = (x: unknown) => (typeof x === 'string' ? x : undefined)
  return {
    worker: withoutUndefined({
      id: worker_id,
      worker_id,
      name: workerName(state, worker_id),
      description: str(info.description),
      runtime: str(info.runtime),
      version: str(info.version),
      os: str(info.os),
      pid: typeof info.pid === 'number' ? info.pid : undefined,
      status: w.held_until === undefined ? 'connected' : 'held',
      function_count: w.sizes.functions,
      connected_at: w.connected_at,
      connected_at_ms: Date.parse(w.connected_at),
    }),
    functions: Object.keys(w.functions).map((function_id) =>
      withoutUndefined({ function_id, worker_name: name, description: w.functions[function_id].description, metadata: w.functions[function_id].metadata }),
    ),
    trigger_types: Object.keys(w.trigger_types).map((id) => ({ id, worker_name: name, description: w.trigger_types[id].description ?? '', worker_id })),
    registered_triggers: Object.values(w.triggers).map((t) => rowOf(state, worker_id, t)),
  }
}
