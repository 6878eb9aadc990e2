/**
 * The console's pure helpers: routes, formatting, filtering, the chart's geometry, and
 * what a console may do. No DOM and no imports that run (types only), so that the same
 * module runs in the browser (served from dist/console/view.js) and in the unit tests.
 */
import type { ClusterOverview, ConsoleRights, FailedTriggerRow, FeedEntry, QueueRow, RatePoint, TriggerRow } from '../protocol/console.js'

// ---------------------------------------------------------------------------------------
// routes

export const PAGES = ['overview', 'workers', 'functions', 'triggers', 'queues', 'feed'] as const
export type Page = (typeof PAGES)[number]

export interface Route {
  page: Page
  /** A worker id, a function id or a queue name, for the pages that show one. */
  param?: string
}

/** The route of a location hash (`#/workers/<id>`); the overview for anything else. */
export function parseRoute(hash: string): Route {
  const [page, ...rest] = hash.replace(/^#\/?/, '').split('/')
  if (!(PAGES as readonly string[]).includes(page)) return { page: 'overview' }
  const param = rest.length > 0 ? decodeURIComponent(rest.join('/')) : undefined
  return param ? { page: page as Page, param } : { page: page as Page }
}

/** The hash of a route. */
export const hrefOf = (page: Page, param?: string): string => `#/${page}${param === undefined ? '' : `/${encodeURIComponent(param)}`}`

// ---------------------------------------------------------------------------------------
// rights (the engine checks them again: these only decide what the page offers)

/** Whether `text` matches the glob `pattern` (`*`: any run of characters), as core/auth.ts reads them. */
export function globMatch(pattern: string, text: string): boolean {
  if (pattern === '*') return true
  const parts = pattern.split('*')
  if (parts.length === 1) return pattern === text
  if (!text.startsWith(parts[0])) return false
  let at = parts[0].length
  for (let i = 1; i < parts.length - 1; i++) {
    const found = text.indexOf(parts[i], at)
    if (found < 0) return false
    at = found + parts[i].length
  }
  const last = parts[parts.length - 1]
  return text.length - last.length >= at && text.endsWith(last)
}

export function mayInvoke(rights: ConsoleRights | undefined, function_id: string): boolean {
  if (!rights) return false
  if (function_id.startsWith('engine::') && !rights.engine) return false
  return rights.invoke.some((p) => globMatch(p, function_id))
}

/** The function a console needs to be allowed to call to redrive dead letters (core/console-view.ts). */
const REDRIVE_FUNCTION = 'engine::queue::dlq'

/**
 * What a console's scope lacks to redrive, in the engine's words (core/console-view.ts
 * `redriveLacks`), or undefined when it may, or before the engine said what it may.
 */
export function redriveLacks(rights: ConsoleRights | undefined): string | undefined {
  if (!rights || rights.redrive) return undefined
  if (!rights.engine) return "its scope has no 'engine'"
  if (rights.invoke.length === 0) return "its scope has no 'invoke' patterns: it is read-only"
  return `its scope's 'invoke' patterns (${rights.invoke.join(', ')}) do not match '${REDRIVE_FUNCTION}'`
}

/** What a console's scope lacks to invoke `function_id`, in words, or undefined when it may, or before the engine said what it may. */
export function invokeLacks(rights: ConsoleRights | undefined, function_id: string): string | undefined {
  if (!rights || mayInvoke(rights, function_id)) return undefined
  if (function_id.startsWith('engine::') && !rights.engine) return "its scope has no 'engine', which engine::* functions need"
  if (rights.invoke.length === 0) return "its scope has no 'invoke' patterns: it is read-only"
  return `its scope's 'invoke' patterns (${rights.invoke.join(', ')}) do not match it`
}

// ---------------------------------------------------------------------------------------
// formatting

/** A duration in ms, short: `850 µs`, `12 ms`, `1.25 s`, `2 min 5 s`. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–'
  if (ms < 1) return `${Math.round(ms * 1000)} µs`
  if (ms < 100) return `${Math.round(ms * 10) / 10} ms`
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${Math.round(ms / 10) / 100} s`
  return formatAge(ms / 1000)
}

/** An age in seconds, short: `42 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`. */
export function formatAge(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '–'
  const s = Math.max(0, Math.floor(seconds))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`
  if (s < 86_400) return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`
  return `${Math.floor(s / 86_400)} d${Math.floor((s % 86_400) / 3600) ? ` ${Math.floor((s % 86_400) / 3600)} h` : ''}`
}

/** How long ago `iso` was, or how long until it is: `5 min ago`, `in 3 s`. */
export function relative(iso: string, now: number): string {
  const at = Date.parse(iso)
  if (Number.isNaN(at)) return ''
  const diff = (at - now) / 1000
  return diff >= 0 ? `in ${formatAge(Math.ceil(diff))}` : `${formatAge(-diff)} ago`
}

/** `iso` as a wall-clock time in `timeZone`: `Mon 1 Dec 2025, 09:00:00`. */
export function inZone(iso: string, timeZone = 'UTC'): string {
  const at = new Date(iso)
  if (Number.isNaN(at.getTime())) return iso
  try {
    return new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(at)
  } catch {
    return at.toISOString()
  }
}

/** A share (0–1) as a percentage: `0 %`, `2.5 %`, `100 %`. */
export const percent = (share: number): string => `${Math.round(share * 1000) / 10} %`

/** A number with thousands separated: `12 345`. */
export const count = (n: number): string => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, '\u202f')

/** The first characters of a long id (UUIDs read better shortened). */
export const shortId = (id: string): string => (id.length > 13 ? `${id.slice(0, 8)}…` : id)

/** A value as one line of JSON, cut to `max` characters. */
export function preview(value: unknown, max = 120): string {
  let text: string
  try {
    text = JSON.stringify(value) ?? 'undefined'
  } catch {
    text = String(value)
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

// ---------------------------------------------------------------------------------------
// triggers and queues

/** The states of a registration, then `failed`: a registration that failed, kept by the engine among the recent failures. */
export const TRIGGER_STATES = ['pending', 'active', 'parked', 'resending', 'failed'] as const

/** A trigger as the Triggers page lists it: a registration, or one that failed recently (`state: failed`, with `failure`). */
export interface ListedTrigger extends TriggerRow {
  failure?: {
    seq: number
    code: string
    message: string
    /** ISO time it failed. */
    at: string
    /** The state it failed from. */
    from: string
    worker_name?: string
    /** Whether the engine kept its config (not when large): what it binds is shown only then. */
    config_kept: boolean
  }
}

/** The registrations, then the recent failures (latest first), as one list. */
export function listedTriggers(live: readonly TriggerRow[], failed: readonly FailedTriggerRow[]): ListedTrigger[] {
  const out: ListedTrigger[] = [...live]
  for (const f of failed) {
    const failure: NonNullable<ListedTrigger['failure']> = { seq: f.seq, code: f.error.code, message: f.error.message, at: f.failed_at, from: f.from, config_kept: f.config !== undefined }
    if (f.worker_name !== undefined) failure.worker_name = f.worker_name
    out.push({ id: f.id, trigger_type: f.trigger_type, function_id: f.function_id, worker_id: f.worker_id, state: 'failed', config: f.config ?? {}, failure })
  }
  return out
}

/** Whether a listed trigger passes the Triggers page's filters (`all`, or a type and a state). */
export const triggerMatches = (t: Pick<TriggerRow, 'trigger_type' | 'state'>, type: string, state: string): boolean =>
  (type === 'all' || t.trigger_type === type) && (state === 'all' || t.state === state)

/** One row of the overview's triggers table: a type's registrations by state, how many in all, and its recent failures. */
export interface TriggerCountRow {
  trigger_type: string
  /** How many registrations are in each of `TRIGGER_STATES` but `failed`, in that order. */
  states: number[]
  registered: number
  failed: number
}

/** The overview's triggers table, by type (sorted), from the overview's counts (type → state → how many). */
export function triggerCountRows(counts: Record<string, Record<string, number>>): TriggerCountRow[] {
  return Object.keys(counts)
    .sort()
    .map((trigger_type) => {
      const byState = counts[trigger_type]
      const registered = Object.entries(byState).reduce((n, [state, k]) => (state === 'failed' ? n : n + k), 0)
      return { trigger_type, states: TRIGGER_STATES.filter((s) => s !== 'failed').map((s) => byState[s] ?? 0), registered, failed: byState.failed ?? 0 }
    })
}

/** What a trigger binds, in a few words: `GET /hello/:name`, `0 9 * * MON-FRI`, `queue orders`. */
export function bindsOf(t: Pick<TriggerRow, 'trigger_type' | 'config'>): string {
  const c = t.config
  if (t.trigger_type === 'http') return `${String(c.method ?? 'GET').toUpperCase()} ${String(c.path ?? c.api_path ?? '')}`
  if (t.trigger_type === 'cron') return String(c.schedule ?? c.expression ?? '')
  if (t.trigger_type === 'queue') return `queue ${String(c.queue_name ?? c.queue ?? c.topic ?? '')}`
  return preview(c, 60)
}

/** The dead-letter queue of `queue`: its triggers' `dead_letter_queue`, else `<queue>.dlq`. */
export function deadLetterQueueOf(queue: string, triggers: readonly TriggerRow[]): string {
  for (const t of triggers) {
    if (t.trigger_type === 'queue' && t.config.queue_name === queue && typeof t.config.dead_letter_queue === 'string') return t.config.dead_letter_queue
  }
  return `${queue}.dlq`
}

/** Whether `name` is where another queue's dead letters go (then its own messages are dead letters). */
export function isDeadLetterQueue(name: string, queues: readonly QueueRow[], triggers: readonly TriggerRow[]): boolean {
  if (name.endsWith('.dlq')) return true
  return queues.some((q) => q.queue_name !== name && deadLetterQueueOf(q.queue_name, triggers) === name)
}

/** The queue whose dead letters a queue's page shows: its own messages if it is a dead-letter queue, else its dead-letter queue's. */
export const deadLettersShownFor = (name: string, queues: readonly QueueRow[], triggers: readonly TriggerRow[]): string =>
  isDeadLetterQueue(name, queues, triggers) ? name : deadLetterQueueOf(name, triggers)

/**
 * What started an invocation, in words: `cron nightly` when one trigger of that type
 * binds the function, `http (2 triggers)` when several do, `worker call`, `engine`.
 */
export function sourceOf(entry: Pick<FeedEntry, 'source' | 'function_id'>, triggers: readonly TriggerRow[]): string {
  if (entry.source === 'worker') return 'worker call'
  if (entry.source === 'engine') return 'engine / console'
  const bound = triggers.filter((t) => t.trigger_type === entry.source && t.function_id === entry.function_id)
  if (bound.length === 1) return `${entry.source} ${bound[0].id}`
  if (bound.length > 1) return `${entry.source} (${bound.length} triggers)`
  return entry.source
}

// ---------------------------------------------------------------------------------------
// the cluster

/** One engine of the cluster as the overview's table shows it: each cell's text. */
export interface EngineCells {
  engine_id: string
  /** `this engine` for the engine serving the console. */
  note?: string
  host: string
  /** Its WebSocket endpoint, else its HTTP listener, else `–`. */
  address: string
  workers: string
  functions: string
  /** How long ago it started, and the time itself (for a title). */
  started: string
  started_at: string
}

/** The rows of the overview's engines table, in the order the engine gave them (oldest first). */
export function engineCells(cluster: ClusterOverview, now: number): EngineCells[] {
  return cluster.engines.map((e) => {
    const cells: EngineCells = {
      engine_id: e.engine_id,
      host: e.host === '' ? '–' : `${e.host}${e.pid === undefined ? '' : ` (pid ${e.pid})`}`,
      address: e.url ?? e.http_url ?? '–',
      workers: count(e.workers),
      functions: count(e.functions),
      started: relative(e.started_at, now),
      started_at: e.started_at,
    }
    if (e.engine_id === cluster.engine_id) cells.note = 'this engine'
    return cells
  })
}

// ---------------------------------------------------------------------------------------
// the live feed

export interface FeedFilter {
  /** Words that must all appear in the function id or the source (case-insensitive). */
  text: string
  outcome: 'all' | 'ok' | 'errors'
}

export function feedMatches(entry: FeedEntry, source: string, filter: FeedFilter): boolean {
  if (filter.outcome === 'ok' && entry.outcome !== 'ok') return false
  if (filter.outcome === 'errors' && entry.outcome === 'ok') return false
  const hay = `${entry.function_id} ${source} ${entry.outcome}`.toLowerCase()
  return filter.text
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((word) => hay.includes(word))
}

/** Appends `more` to `list`, keeping the last `max`. */
export function keepLast<T>(list: T[], more: readonly T[], max: number): T[] {
  const all = list.concat(more)
  return all.length > max ? all.slice(all.length - max) : all
}

// ---------------------------------------------------------------------------------------
// the chart

/** The polylines of the calls and errors of `series` in a `width` × `height` box (y grows down), and the top of the scale. */
export function chartLines(series: readonly RatePoint[], width: number, height: number): { calls: string; errors: string; max: number } {
  const max = Math.max(1, ...series.map((p) => p.calls))
  const step = series.length > 1 ? width / (series.length - 1) : 0
  const line = (pick: (p: RatePoint) => number) =>
    series.map((p, i) => `${Math.round(i * step * 10) / 10},${Math.round((height - (pick(p) / max) * height) * 10) / 10}`).join(' ')
  return { calls: line((p) => p.calls), errors: line((p) => p.errors), max }
}

// ---------------------------------------------------------------------------------------
// the invoke editor

/** The most a console message may weigh when the engine does not say (protocol/console.ts `max_message_bytes`). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024

/** A size in bytes, short: `512 B`, `12.5 KiB`, `16 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${Math.round((n / 1024) * 10) / 10} KiB`
  return `${Math.round((n / 1024 / 1024) * 10) / 10} MiB`
}

/** Why a message of `bytes` cannot go to the engine (over `max`), or undefined when it can. */
export function tooLarge(bytes: number, max: number): string | undefined {
  if (bytes <= max) return undefined
  // Just over: in bytes, so the two figures differ.
  const [size, most] = formatBytes(bytes) === formatBytes(max) ? [`${count(bytes)} bytes`, `${count(max)} bytes`] : [formatBytes(bytes), formatBytes(max)]
  return `Not sent: with its input the request is ${size} of JSON, and the engine takes at most ${most} in one console message (a larger one would end the console's connection). Send less, or invoke it from a worker.`
}

/** The longest timeout a console may ask for (protocol/console.ts). */
export const MAX_TIMEOUT_MS = 600_000

/**
 * The timeout field's text as a timeout: none for empty text (the engine's default), a
 * whole number of ms from 1 to 600 000, or what is wrong. `badInput`: the browser could
 * not read the field as a number at all (its value is then empty).
 */
export function parseTimeout(text: string, badInput = false): { ok: true; value?: number } | { ok: false; error: string } {
  const wrong = { ok: false as const, error: `Not sent: the timeout must be a whole number of milliseconds from 1 to ${count(MAX_TIMEOUT_MS)} (10 min), or empty for the engine's default` }
  if (badInput) return { ...wrong, error: `${wrong.error}; the field does not hold a number` }
  if (text.trim() === '') return { ok: true }
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1 || value > MAX_TIMEOUT_MS) return { ...wrong, error: `${wrong.error}; got ${JSON.stringify(text)}` }
  return { ok: true, value }
}

/** The editor's text as JSON: the value, or what is wrong with it (empty text is no input). */
export function parseInput(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  if (text.trim() === '') return { ok: true, value: undefined }
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (err) {
    return { ok: false, error: `Not JSON: ${(err as Error).message}` }
  }
}
