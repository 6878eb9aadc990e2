/**
 * The console's wire vocabulary: what the operator console in the browser (console/) and
 * the engine (adapters/console-server.ts) say to each other over the WebSocket at
 * `/console/ws` on the worker port. It is not the worker protocol: a console session is
 * no worker, registers nothing, and is never listed among the workers.
 *
 * The browser speaks first, once: `hello` with its token (when the engine has tokens).
 * The engine answers `welcome` (who the token is and what it may do) and then pushes
 * `state` (the sections that changed since the last push, each whole) and `feed` (the
 * invocations that ended since), or answers `refused` and closes. Requests (`invoke`,
 * `dead-letters`, `redrive`) carry an id the `result` repeats.
 *
 * Only types and the schema of what the browser sends: the browser imports the types
 * alone (erased at build), so nothing here runs in it.
 */
import * as v from 'valibot'

// ---------------------------------------------------------------------------------------
// browser → engine

const id = v.pipe(v.string(), v.minLength(1), v.maxLength(64))
const name = v.pipe(v.string(), v.minLength(1), v.maxLength(1024))

/** Every message the browser may send; anything else is refused. */
export const ConsoleRequestSchema = v.variant('type', [
  v.strictObject({ type: v.literal('hello'), token: v.optional(v.pipe(v.string(), v.maxLength(4096))) }),
  v.strictObject({
    type: v.literal('invoke'),
    id,
    function_id: name,
    data: v.optional(v.unknown()),
    timeout_ms: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(600_000))),
  }),
  v.strictObject({ type: v.literal('dead-letters'), id, dead_letter_queue: name, limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000))) }),
  v.strictObject({ type: v.literal('redrive'), id, dead_letter_queue: name, message_ids: v.optional(v.pipe(v.array(name), v.maxLength(1000))) }),
])
export type ConsoleRequest = v.InferOutput<typeof ConsoleRequestSchema>

// ---------------------------------------------------------------------------------------
// engine → browser

/** What a console session may do, from its token's scope (docs/console.md). */
export interface ConsoleRights {
  /** Patterns of the functions it may invoke from the page (checked again by the engine). */
  invoke: string[]
  /** Whether it may invoke `engine::*` functions (its invoke patterns must match them too). */
  engine: boolean
  /** Whether it may redrive dead letters. */
  redrive: boolean
}

export interface ConsoleWelcome {
  type: 'welcome'
  /** The token's name, when the engine has tokens. */
  identity?: string
  rights: ConsoleRights
  version: string
  /** ISO time the engine started. */
  started_at: string
  /** The Stately inspector's page, when the engine is inspected (`serve --inspect`). */
  inspector_url?: string
  /**
   * The largest message the browser may send, in bytes (UTF-8): 16 MiB, or the engine's
   * `maxPayload` when smaller. A larger one ends the session, so the page checks first.
   */
  max_message_bytes: number
}

export interface ConsoleRefused {
  type: 'refused'
  error: { code: string; message: string }
}

/** Calls and errors in one second (`t`: ms since the epoch at the second's start). */
export interface RatePoint {
  t: number
  calls: number
  errors: number
}

export interface QueueTotals {
  queues: number
  ready: number
  in_flight: number
  delayed: number
  dead_lettered: number
}

export interface OverviewSection {
  version: string
  started_at: string
  sessions: number
  held_sessions: number
  /** Distinct function ids offered by workers (engine functions not counted). */
  functions: number
  /**
   * type → state → how many: the registrations by their state (pending, active, parked,
   * resending), and under `failed` the recent failures the engine keeps (the last 100).
   */
  triggers: Record<string, Record<string, number>>
  calls_in_flight: number
  /** Calls that ended in the last whole second. */
  calls_per_second: number
  /** Share of the calls of the last minute that ended in an error, 0–1 (0 with no calls). */
  error_rate: number
  /** The last minute, a point a second, oldest first. */
  series: RatePoint[]
  queues: QueueTotals
  /** In a cluster only: this engine's id and every engine it hears of, as `/healthz`'s `cluster` says. */
  cluster?: ClusterOverview
}

/** One engine of the cluster, as its last heartbeat described it. */
export interface ClusterEngineRow {
  engine_id: string
  host: string
  pid?: number
  /** Its WebSocket endpoint, when it has one. */
  url?: string
  /** Its HTTP listener, when it has one. */
  http_url?: string
  /** Workers connected to it. */
  workers: number
  /** Functions its workers offer. */
  functions: number
  started_at: string
}

export interface ClusterOverview {
  /** The engine serving this console. */
  engine_id: string
  /** Every engine it hears of, itself included, oldest first. */
  engines: ClusterEngineRow[]
}

export interface WorkerRow {
  worker_id: string
  name?: string
  runtime?: string
  version?: string
  pid?: number
  connected_at: string
  /** Set while the engine holds a worker whose connection was lost. */
  held_until?: string
  /** The peer address of its connection, or `in-process`. */
  address?: string
  functions: string[]
  trigger_types: string[]
  triggers: number
  /** Calls it serves now. */
  in_flight: number
}

export interface FunctionRow {
  function_id: string
  /** An engine function (`engine::*`). */
  engine?: boolean
  description?: string
  /** Live workers serving it (replicas). */
  workers: string[]
  /** Workers held after a lost connection. */
  held: string[]
  calls: number
  errors: number
  p50_ms?: number
  p99_ms?: number
}

export interface TriggerRow {
  id: string
  trigger_type: string
  function_id: string
  worker_id: string
  state: string
  config: Record<string, unknown>
  /** For active cron triggers: the next runs (ISO), in `timezone`. */
  next_runs?: string[]
  timezone?: string
}

/**
 * A trigger registration that failed (refused by its type or its provider, timed out, or
 * its provider gone while it waited; first or when re-sent): it is no registration any
 * more. The engine keeps the last 100 (core/catalog.ts `RECENT_FAILURES`).
 */
export interface FailedTriggerRow {
  /** Counts the engine's failures from 1: newer ones have higher numbers. */
  seq: number
  id: string
  trigger_type: string
  function_id: string
  worker_id: string
  /** The registering worker's name, when it gave one (the worker may have left since). */
  worker_name?: string
  /** Its config, when small enough to keep (4096 characters of JSON). */
  config?: Record<string, unknown>
  /** The state it failed from: `pending` (its worker was answered with the error) or `resending`. */
  from: string
  error: { code: string; message: string }
  /** ISO time it failed. */
  failed_at: string
}

export interface TriggerTypeRow {
  id: string
  description?: string
  /** The worker providing it, or `engine`. */
  worker_id: string
}

export interface QueueRow {
  queue_name: string
  ready: number
  in_flight: number
  delayed: number
  dead_lettered: number
  oldest_message_age_seconds?: number
  fifo: boolean
  consumers: Array<{ worker_id: string; trigger_id: string; function_id: string; in_flight: number }>
}

export interface ConsoleSections {
  overview: OverviewSection
  workers: WorkerRow[]
  functions: FunctionRow[]
  triggers: TriggerRow[]
  /** Recent failed registrations, latest first. */
  failed_triggers: FailedTriggerRow[]
  trigger_types: TriggerTypeRow[]
  queues: QueueRow[]
}

export type SectionName = keyof ConsoleSections

export interface ConsoleState {
  type: 'state'
  sections: Partial<ConsoleSections>
}

/** One invocation that ended. */
export interface FeedEntry {
  /** Increases by one per invocation the engine saw end. */
  seq: number
  /** ms since the epoch when it ended. */
  at: number
  function_id: string
  /** What started it: worker, http, cron, queue, engine (the engine itself, or a console). */
  source: string
  /** ok, error, or the engine's code (invocation_timeout, function_not_found, worker_disconnected). */
  outcome: string
  ms: number
}

export interface ConsoleFeed {
  type: 'feed'
  entries: FeedEntry[]
  /** Invocations that ended since the last push and are not in `entries` (too many to send). */
  skipped: number
}

export interface ConsoleResult {
  type: 'result'
  id: string
  ok: boolean
  result?: unknown
  error?: { code: string; message: string; [k: string]: unknown }
  /** How long the engine took to answer, in ms. */
  ms: number
}

export type ConsoleMessage = ConsoleWelcome | ConsoleRefused | ConsoleState | ConsoleFeed | ConsoleResult

/** The close codes of a console session the engine ends. */
export const CONSOLE_CLOSE = {
  /** The token is missing or wrong, or its scope may not read the engine. */
  refused: 4001,
  /** The browser sent something that is not a console message. */
  invalid: 4002,
  /** It did not say hello in time. */
  silent: 4003,
  /** It could not keep up with what the engine sent. */
  slow: 4004,
} as const
