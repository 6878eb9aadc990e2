/**
 * The catalog: the engine's directory. Which workers are connected; which functions each
 * offers, which trigger types each provides and which triggers each registered (with the
 * state of each registration); indexed for the lookups every registration and invocation
 * makes. Pure data and one transition function: the `catalog` actor (actors/catalog.ts)
 * runs it, sessions and registrations change it only by sending it events, and everyone
 * reads it through that actor's snapshot (which the inspector shows).
 *
 * Records have no prototype, so ids such as `__proto__` or `constructor` are ordinary
 * keys. The state is plain JSON, updated in place: it is large and changed often.
 */
import type { FailedTriggerRow } from '../protocol/console.js'

/** The catalog's provider name for the trigger types the engine provides itself. */
export const ENGINE_PROVIDER = 'engine'

/** The trigger types the engine provides itself, with what `engine::trigger-types::list` says of each. */
export const BUILTIN_TRIGGER_TYPES = {
  http: "HTTP routes on the engine's HTTP listener",
  cron: 'Cron schedules (5 or 6 fields, nicknames, IANA time zones)',
  queue: 'Durable queues: batches, visibility timeouts, dead letters',
  subscribe: "Pub/sub: the function gets the data of every message published to the config's topic (publish)",
  'durable:subscriber': "Durable pub/sub: every message published to the config's topic (iii::durable::publish) on the function's own durable queue, with retries and dead letters",
} as const

export type BuiltinTriggerType = keyof typeof BUILTIN_TRIGGER_TYPES

export const isBuiltin = (trigger_type: string): trigger_type is BuiltinTriggerType => Object.hasOwn(BUILTIN_TRIGGER_TYPES, trigger_type)

/** What a worker told the engine about itself (`engine::workers::register`). */
export type WorkerInfo = Record<string, unknown>

export interface FunctionInfo {
  description?: string
  request_format?: unknown
  response_format?: unknown
  metadata?: unknown
}

/** The states of a trigger registration (machines/trigger.machine.ts) that others see. */
export type TriggerState = 'pending' | 'active' | 'parked' | 'resending'

/** One trigger registration, as listings show it. */
export interface TriggerEntry {
  id: string
  trigger_type: string
  function_id: string
  config: Record<string, unknown>
  state: TriggerState
  /** The `metadata` of its `registertrigger`, when it had one. */
  metadata?: unknown
  /** For a worker-defined type: the id its provider knows it by (see `forwardedIdFor`). */
  forwarded_id?: string
}

/** How many failed registrations the catalog remembers (`CatalogState.failed`), the latest. */
export const RECENT_FAILURES = 100
/** Longest error text a failed registration keeps, in characters (a provider's refusal is the provider's text). */
const FAILURE_TEXT_MAX = 1000
/** Largest config a failed registration keeps, as JSON characters; a larger one is left out. */
const FAILURE_CONFIG_MAX = 4096

/**
 * A trigger registration that failed (machines/trigger.machine.ts `failed`): refused by
 * its type (`invalid_config`, a provider's refusal), timed out, or its provider gone while
 * it waited, first or when re-sent. It has left the worker's triggers; the catalog keeps
 * the last `RECENT_FAILURES` of them, for the console.
 */
export type FailedTrigger = Omit<FailedTriggerRow, 'from' | 'failed_at'> & {
  /** The state it failed from: `pending` (the worker was answered with the error) or `resending`. */
  from: TriggerState
  /** ISO time it failed. */
  at: string
}

/** The registration a forwarded id stands for. */
export interface ForwardedEntry {
  worker_id: string
  trigger_id: string
  /** In a cluster: the engine of the registering worker, when it is another engine (its registration crossed the cluster). */
  engine_id?: string
}

export interface WorkerEntry {
  worker_id: string
  connected_at: string
  /**
   * Set while the engine holds the worker's registrations after its connection was lost
   * (until this ISO time at the latest): its functions are not offered to calls (they wait
   * for a worker that offers them), its trigger types are released, its triggers stay.
   */
  held_until?: string
  info: WorkerInfo
  functions: Record<string, FunctionInfo>
  trigger_types: Record<string, { description?: string }>
  /** Its trigger registrations by id, from acceptance until they fail, are removed or the worker leaves. */
  triggers: Record<string, TriggerEntry>
  /** How many functions, trigger types and triggers it has (what the per-session limits count). */
  sizes: { functions: number; trigger_types: number; triggers: number }
}

/** Who offers a function: live workers (calls go to them, round robin) and held ones (calls wait for a live one). */
export interface FunctionEntry {
  /** Live workers offering it, in registration order. */
  workers: string[]
  /** Workers whose connection was lost and whose registrations the engine holds. */
  held: string[]
}

export interface CatalogState {
  workers: Record<string, WorkerEntry>
  /** function id → the workers offering it. An entry exists while a live or a held worker has the function. */
  functions: Record<string, FunctionEntry>
  /** trigger type id → the worker providing it (`engine` for the built-in types). */
  triggerTypes: Record<string, { worker_id: string; description?: string }>
  /**
   * trigger type id → forwarded id → the registration it stands for: the ids providers of
   * worker-defined types know triggers by. Taken from a registration's first forwarding
   * until it ends (kept while it is parked), so a re-send carries the same id.
   */
  forwarded: Record<string, Record<string, ForwardedEntry>>
  /** The last `RECENT_FAILURES` failed registrations, oldest first. */
  failed: FailedTrigger[]
}

export type CatalogEvent =
  | { type: 'worker.add'; worker_id: string; connected_at: string }
  | { type: 'worker.describe'; worker_id: string; info: WorkerInfo }
  /** The worker's connection was lost: hold its registrations until `until` (ISO), or until it is removed. */
  | { type: 'worker.hold'; worker_id: string; until: string }
  | { type: 'worker.remove'; worker_id: string }
  | { type: 'function.add'; worker_id: string; function_id: string; info: FunctionInfo }
  | { type: 'function.remove'; worker_id: string; function_id: string }
  | { type: 'triggerType.add'; worker_id: string; trigger_type: string; description?: string }
  | { type: 'triggerType.remove'; worker_id: string; trigger_type: string }
  | { type: 'trigger.add'; worker_id: string; trigger: TriggerEntry }
  | { type: 'trigger.state'; worker_id: string; id: string; state: TriggerState }
  | { type: 'trigger.remove'; worker_id: string; id: string }
  /** The registration failed (`at`: ISO time): it leaves the worker's triggers, and is kept among the recent failures. */
  | { type: 'trigger.fail'; worker_id: string; id: string; error: { code: string; message?: string }; at: string }
  /** The registration is forwarded to its type's provider under `forwarded_id` (from `forwardedIdFor`). */
  | { type: 'trigger.forward'; worker_id: string; id: string; forwarded_id: string }
  /**
   * The registration takes over the forwarded id of the same trigger of `from`, the held
   * session it reattached in place of: the provider already holds it under that id.
   */
  | { type: 'trigger.adopt'; worker_id: string; id: string; from: string }
  /** In a cluster: a registration of another engine's worker is forwarded to this engine's provider under `forwarded_id`. */
  | { type: 'forwarded.bind'; trigger_type: string; forwarded_id: string; entry: ForwardedEntry & { engine_id: string } }
  /** …and is no more (withdrawn, its engine gone, or the provider gone). */
  | { type: 'forwarded.unbind'; trigger_type: string; forwarded_id: string }

/** A record without a prototype, safe for any key. */
export const record = <T>(): Record<string, T> => Object.create(null) as Record<string, T>

/** The catalog at start: the engine's own trigger types (id → description), nothing else. */
export function initialCatalog(builtins: Record<string, string>): CatalogState {
  const triggerTypes = record<{ worker_id: string; description?: string }>()
  for (const [id, description] of Object.entries(builtins)) triggerTypes[id] = { worker_id: ENGINE_PROVIDER, description }
  return { workers: record(), functions: record(), triggerTypes, forwarded: record(), failed: [] }
}

const without = (list: string[], item: string) => {
  const at = list.indexOf(item)
  if (at >= 0) list.splice(at, 1)
}

function removeFunction(state: CatalogState, worker_id: string, function_id: string): void {
  const entry = state.functions[function_id]
  if (!entry) return
  without(entry.workers, worker_id)
  without(entry.held, worker_id)
  if (entry.workers.length === 0 && entry.held.length === 0) delete state.functions[function_id]
}

/**
 * How many forwarded ids each type's record in `forwarded` holds, kept beside the plain
 * state: whether a type has any left is known without enumerating its ids (a `for…in`
 * collects every key first, so releasing each of a session's N triggers cost O(N) each).
 */
const forwardedCounts = new WeakMap<Record<string, ForwardedEntry>, number>()

/** The number of ids in `ids`, counted once for a record this module has not counted yet. */
function forwardedCount(ids: Record<string, ForwardedEntry>): number {
  let n = forwardedCounts.get(ids)
  if (n === undefined) {
    n = 0
    for (const _ in ids) n++
    forwardedCounts.set(ids, n)
  }
  return n
}

/** Gives `forwarded_id`, under `trigger_type`, to the registration `entry` names. */
function takeForwardedId(state: CatalogState, trigger_type: string, forwarded_id: string, entry: ForwardedEntry): void {
  const ids = (state.forwarded[trigger_type] ??= record())
  const n = forwardedCount(ids)
  if (ids[forwarded_id] === undefined) forwardedCounts.set(ids, n + 1)
  ids[forwarded_id] = entry
}

/** Frees the forwarded id a trigger held, if it held one. */
function releaseForwardedId(state: CatalogState, trigger: TriggerEntry): void {
  if (trigger.forwarded_id === undefined) return
  const ids = state.forwarded[trigger.trigger_type]
  if (!ids) return
  let n = forwardedCount(ids)
  if (ids[trigger.forwarded_id] !== undefined) {
    delete ids[trigger.forwarded_id]
    forwardedCounts.set(ids, --n)
  }
  if (n === 0) delete state.forwarded[trigger.trigger_type]
}

function removeTriggerType(state: CatalogState, worker: WorkerEntry, trigger_type: string): void {
  if (!(trigger_type in worker.trigger_types)) return
  delete worker.trigger_types[trigger_type]
  worker.sizes.trigger_types--
  if (state.triggerTypes[trigger_type]?.worker_id === worker.worker_id) delete state.triggerTypes[trigger_type]
}

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text)

/** What the catalog keeps of a registration that failed. */
function failure(state: CatalogState, worker_id: string, trigger: TriggerEntry, event: { error: { code: string; message?: string }; at: string }): FailedTrigger {
  const last = state.failed[state.failed.length - 1]
  const entry: FailedTrigger = {
    seq: (last?.seq ?? 0) + 1,
    id: trigger.id,
    trigger_type: trigger.trigger_type,
    function_id: trigger.function_id,
    worker_id,
    from: trigger.state,
    error: { code: cut(String(event.error.code), 100), message: cut(typeof event.error.message === 'string' ? event.error.message : '', FAILURE_TEXT_MAX) },
    at: event.at,
  }
  const name = workerName(state, worker_id)
  if (name !== undefined) entry.worker_name = name
  let json: string | undefined
  try {
    json = JSON.stringify(trigger.config)
  } catch {
    json = undefined
  }
  if (json !== undefined && json.length <= FAILURE_CONFIG_MAX) entry.config = trigger.config
  return entry
}

/** Keeps `entry` among the recent failures, dropping the oldest past `RECENT_FAILURES`. */
function remember(state: CatalogState, entry: FailedTrigger): void {
  state.failed.push(entry)
  if (state.failed.length > RECENT_FAILURES) state.failed.splice(0, state.failed.length - RECENT_FAILURES)
}

/** Applies one change, in place, and returns the state. Changes for a worker that left change nothing. */
export function applyCatalogEvent(state: CatalogState, event: CatalogEvent): CatalogState {
  if (event.type === 'forwarded.bind') {
    takeForwardedId(state, event.trigger_type, event.forwarded_id, event.entry)
    return state
  }
  if (event.type === 'forwarded.unbind') {
    const ids = state.forwarded[event.trigger_type]
    if (ids?.[event.forwarded_id]?.engine_id === undefined) return state
    const n = forwardedCount(ids) - 1
    delete ids[event.forwarded_id]
    forwardedCounts.set(ids, n)
    if (n === 0) delete state.forwarded[event.trigger_type]
    return state
  }
  if (event.type === 'worker.add') {
    state.workers[event.worker_id] = {
      worker_id: event.worker_id,
      connected_at: event.connected_at,
      info: record(),
      functions: record(),
      trigger_types: record(),
      triggers: record(),
      sizes: { functions: 0, trigger_types: 0, triggers: 0 },
    }
    return state
  }
  const worker = state.workers[event.worker_id]
  if (!worker) return state
  switch (event.type) {
    case 'worker.describe':
      worker.info = event.info
      break
    case 'worker.hold':
      if (worker.held_until !== undefined) break
      worker.held_until = event.until
      for (const function_id in worker.functions) {
        const entry = state.functions[function_id]
        if (!entry) continue
        without(entry.workers, event.worker_id)
        entry.held.push(event.worker_id)
      }
      // A held worker provides nothing: its types are free for the worker that replaces it.
      for (const trigger_type in worker.trigger_types) removeTriggerType(state, worker, trigger_type)
      break
    case 'worker.remove':
      for (const function_id in worker.functions) removeFunction(state, event.worker_id, function_id)
      for (const trigger_type in worker.trigger_types) removeTriggerType(state, worker, trigger_type)
      for (const id in worker.triggers) releaseForwardedId(state, worker.triggers[id])
      delete state.workers[event.worker_id]
      break
    case 'function.add': {
      // Registered again by the same worker (the session refuses that; replays may not): one replica still.
      if (event.function_id in worker.functions) {
        worker.functions[event.function_id] = event.info
        break
      }
      worker.functions[event.function_id] = event.info
      worker.sizes.functions++
      const entry = state.functions[event.function_id]
      const held = worker.held_until !== undefined
      // A new entry's list is made with its worker in it: an array grown by `push` from empty keeps room for 17 (152 bytes), one made so for 1.
      if (!entry) state.functions[event.function_id] = held ? { workers: [], held: [event.worker_id] } : { workers: [event.worker_id], held: [] }
      else (held ? entry.held : entry.workers).push(event.worker_id)
      break
    }
    case 'function.remove':
      if (!(event.function_id in worker.functions)) break
      delete worker.functions[event.function_id]
      worker.sizes.functions--
      removeFunction(state, event.worker_id, event.function_id)
      break
    case 'triggerType.add':
      if (!(event.trigger_type in worker.trigger_types)) worker.sizes.trigger_types++
      worker.trigger_types[event.trigger_type] = { description: event.description }
      state.triggerTypes[event.trigger_type] = { worker_id: event.worker_id, description: event.description }
      break
    case 'triggerType.remove':
      removeTriggerType(state, worker, event.trigger_type)
      break
    case 'trigger.add':
      if (!(event.trigger.id in worker.triggers)) worker.sizes.triggers++
      worker.triggers[event.trigger.id] = event.trigger
      break
    case 'trigger.state': {
      const trigger = worker.triggers[event.id]
      if (trigger) trigger.state = event.state
      break
    }
    case 'trigger.remove':
      if (!(event.id in worker.triggers)) break
      releaseForwardedId(state, worker.triggers[event.id])
      delete worker.triggers[event.id]
      worker.sizes.triggers--
      break
    case 'trigger.fail': {
      const trigger = worker.triggers[event.id]
      if (!trigger) break
      remember(state, failure(state, event.worker_id, trigger, event))
      releaseForwardedId(state, trigger)
      delete worker.triggers[event.id]
      worker.sizes.triggers--
      break
    }
    case 'trigger.forward': {
      const trigger = worker.triggers[event.id]
      if (!trigger || trigger.forwarded_id === event.forwarded_id) break
      // Taken by another registration (two forwardings crossed): the first keeps it.
      if (state.forwarded[trigger.trigger_type]?.[event.forwarded_id] !== undefined) break
      releaseForwardedId(state, trigger)
      trigger.forwarded_id = event.forwarded_id
      takeForwardedId(state, trigger.trigger_type, event.forwarded_id, { worker_id: event.worker_id, trigger_id: event.id })
      break
    }
    case 'trigger.adopt': {
      const trigger = worker.triggers[event.id]
      const theirs = state.workers[event.from]?.triggers[event.id]
      const forwarded_id = theirs?.forwarded_id
      if (!trigger || !theirs || forwarded_id === undefined || trigger.trigger_type !== theirs.trigger_type) break
      if (state.forwarded[theirs.trigger_type]?.[forwarded_id]?.worker_id !== event.from) break
      releaseForwardedId(state, trigger)
      delete theirs.forwarded_id
      trigger.forwarded_id = forwarded_id
      takeForwardedId(state, trigger.trigger_type, forwarded_id, { worker_id: event.worker_id, trigger_id: event.id })
      break
    }
  }
  return state
}

/** The name a worker gave itself (`engine::workers::register`), if it gave one. */
export const workerName = (state: CatalogState, worker_id: string): string | undefined => {
  const name = state.workers[worker_id]?.info.name
  return typeof name === 'string' && name.length > 0 ? name : undefined
}

/** A worker as error texts name it: `worker 'billing' (<worker_id>)`, or `worker '<worker_id>'` when it gave no name. */
export const describeWorker = (state: CatalogState, worker_id: string): string => {
  const name = workerName(state, worker_id)
  return name === undefined ? `worker '${worker_id}'` : `worker '${name}' (${worker_id})`
}

/** Who provides `trigger_type`: a worker id, `engine`, or undefined when nobody does. */
export const providerOf = (state: CatalogState, trigger_type: string): string | undefined => state.triggerTypes[trigger_type]?.worker_id

/** Whether any live worker offers `function_id`. */
export const isOffered = (state: CatalogState, function_id: string): boolean => (state.functions[function_id]?.workers.length ?? 0) > 0

/** Whether a live or a held worker has `function_id` (a held one's calls wait for a live one). */
export const isKnown = (state: CatalogState, function_id: string): boolean => state.functions[function_id] !== undefined

/** When the last hold on `function_id` ends (ms since the epoch), or undefined when no held worker has it. */
export function heldUntil(state: CatalogState, function_id: string): number | undefined {
  let until: number | undefined
  for (const worker_id of state.functions[function_id]?.held ?? []) {
    const at = Date.parse(state.workers[worker_id]?.held_until ?? '')
    if (!Number.isNaN(at) && (until === undefined || at > until)) until = at
  }
  return until
}

/**
 * The id a provider will know a worker's trigger by: the trigger's own id, unchanged, as
 * iii forwards it; the one it already has, if it was forwarded before (a re-send to a new
 * provider carries the id the previous provider saw). Only when another session's trigger
 * of the same type already goes by that id is it told apart, as `<trigger id>@<worker id>`
 * (and, should even that be taken, with `#2`, `#3`… after it).
 */
export function forwardedIdFor(state: CatalogState, worker_id: string, trigger_id: string, trigger_type: string): string {
  const own = state.workers[worker_id]?.triggers[trigger_id]?.forwarded_id
  if (own !== undefined) return own
  const ids = state.forwarded[trigger_type]
  const free = (id: string) => {
    const holder = ids?.[id]
    return holder === undefined || (holder.worker_id === worker_id && holder.trigger_id === trigger_id)
  }
  if (free(trigger_id)) return trigger_id
  const apart = `${trigger_id}@${worker_id}`
  if (free(apart)) return apart
  for (let n = 2; ; n++) if (free(`${apart}#${n}`)) return `${apart}#${n}`
}

/**
 * The id this engine's provider of `trigger_type` will know a registration of another
 * engine's worker by: `wanted` (the id the registering engine proposes: the trigger's own,
 * or the one a previous provider knew it by) when it is free or already this registration's,
 * else told apart as `<wanted>@<worker id>` (then `#2`, `#3`…), as `forwardedIdFor` does.
 */
export function forwardedIdForRemote(state: CatalogState, trigger_type: string, wanted: string, origin: { engine_id: string; worker_id: string; trigger_id: string }): string {
  const ids = state.forwarded[trigger_type]
  const free = (id: string) => {
    const holder = ids?.[id]
    return holder === undefined || (holder.engine_id === origin.engine_id && holder.worker_id === origin.worker_id && holder.trigger_id === origin.trigger_id)
  }
  if (free(wanted)) return wanted
  const apart = `${wanted}@${origin.worker_id}`
  if (free(apart)) return apart
  for (let n = 2; ; n++) if (free(`${apart}#${n}`)) return `${apart}#${n}`
}

/**
 * The registration a provider's verdict names by its forwarded id: looked up under the
 * verdict's `trigger_type` when it gives one, then under the types `provider` provides.
 * (Forwarded ids are unique within a type; a provider of several types that may see the
 * same id under two of them tells them apart by echoing `trigger_type`, as iii-sdk does.)
 */
export function forwardedOrigin(state: CatalogState, forwarded_id: string, trigger_type: string | undefined, provider: string): (ForwardedEntry & { trigger_type: string }) | undefined {
  const provided = Object.keys(state.workers[provider]?.trigger_types ?? {})
  const types = trigger_type ? [trigger_type, ...provided] : provided
  for (const type of types) {
    const entry = state.forwarded[type]?.[forwarded_id]
    if (entry) return { ...entry, trigger_type: type }
  }
  return undefined
}

/**
 * Whether `successor`, a live worker, now holds everything the worker `held` registered:
 * every function it offered, and every trigger it had (the same id and type) past its
 * registration (not `pending`). Then the held worker can be let go without a gap: its
 * routes are the successor's too, its schedules and consumers run there.
 */
export function replacedBy(state: CatalogState, held: string, successor: string): boolean {
  const old = state.workers[held]
  const next = state.workers[successor]
  if (!old) return true
  if (!next || next.held_until !== undefined) return false
  for (const function_id in old.functions) if (!(function_id in next.functions)) return false
  for (const id in old.triggers) {
    const mine = next.triggers[id]
    if (!mine || mine.trigger_type !== old.triggers[id].trigger_type || mine.state === 'pending') return false
  }
  return true
}

/** Every trigger registration of live workers, in worker order. */
export function* allTriggers(state: CatalogState): Generator<TriggerEntry & { worker_id: string }> {
  for (const worker_id in state.workers) {
    const triggers = state.workers[worker_id].triggers
    for (const id in triggers) yield { ...triggers[id], worker_id }
  }
}
