/**
 * What the operator console shows, computed from the engine's tables: the sections
 * (protocol/console.ts) built from the catalog, the call statistics and the queue
 * listing, and what a console session may do, from its token's scope. Pure: the time is
 * given, nothing is read from an actor here (adapters/console-server.ts does that).
 */
import { Cron } from 'croner'
import type {
  ClusterEngineRow,
  ClusterOverview,
  ConsoleRights,
  FailedTriggerRow,
  FunctionRow,
  OverviewSection,
  QueueRow,
  QueueTotals,
  RatePoint,
  TriggerRow,
  TriggerTypeRow,
  WorkerRow,
} from '../protocol/console.js'
import { allows, type Identity } from './auth.js'
import { allTriggers, type CatalogState } from './catalog.js'
import { parseCronConfig } from './cron-config.js'
import { rates, type CallStats } from './console-stats.js'
import type { MemberInfo } from '../protocol/cluster.js'

/** The function a console needs to be allowed to call to redrive dead letters (with `engine`). */
export const REDRIVE_FUNCTION = 'engine::queue::dlq'

/**
 * What a console session may do. Without tokens (no identity): everything. With a token:
 * it reads the engine only if its scope has `engine` (the console shows every listing);
 * it invokes a function from the page only if its `invoke` patterns match it (and, for
 * `engine::*`, it has `engine`); it redrives only if it has `engine` and its `invoke`
 * patterns match `engine::queue::dlq`. So `{ "engine": true }` is a read-only console.
 */
export function consoleRights(identity: Identity | undefined): ConsoleRights & { view: boolean } {
  if (!identity) return { view: true, invoke: ['*'], engine: true, redrive: true }
  const { scope } = identity
  return { view: scope.engine, invoke: [...scope.invoke], engine: scope.engine, redrive: scope.engine && allows(scope.invoke, REDRIVE_FUNCTION) }
}

/**
 * What a console's scope lacks to redrive, in words, or undefined when it may: no
 * `engine`; no `invoke` patterns at all (a read-only console); or patterns that do not
 * match `engine::queue::dlq`. The browser says the same (console/view.ts).
 */
export function redriveLacks(rights: Pick<ConsoleRights, 'invoke' | 'engine'>): string | undefined {
  if (!rights.engine) return "its scope has no 'engine'"
  if (rights.invoke.length === 0) return "its scope has no 'invoke' patterns: it is read-only"
  if (!allows(rights.invoke, REDRIVE_FUNCTION)) return `its scope's 'invoke' patterns (${rights.invoke.join(', ')}) do not match '${REDRIVE_FUNCTION}'`
  return undefined
}

/** Whether `rights` allow invoking `function_id` from the console. */
export function mayInvoke(rights: ConsoleRights, function_id: string): boolean {
  if (function_id.startsWith('engine::') && !rights.engine) return false
  return allows(rights.invoke, function_id)
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined)

/** The workers, with their address (when known) and how many calls each serves now. */
export function workerRows(catalog: CatalogState, inFlight: ReadonlyMap<string, number>, addresses: ReadonlyMap<string, string>): WorkerRow[] {
  const rows: WorkerRow[] = []
  for (const worker_id in catalog.workers) {
    const w = catalog.workers[worker_id]
    const row: WorkerRow = {
      worker_id,
      connected_at: w.connected_at,
      functions: Object.keys(w.functions),
      trigger_types: Object.keys(w.trigger_types),
      triggers: w.sizes.triggers,
      in_flight: inFlight.get(worker_id) ?? 0,
    }
    const name = str(w.info.name)
    if (name) row.name = name
    const runtime = str(w.info.runtime)
    if (runtime) row.runtime = runtime
    const version = str(w.info.version)
    if (version) row.version = version
    if (typeof w.info.pid === 'number') row.pid = w.info.pid
    if (w.held_until !== undefined) row.held_until = w.held_until
    const address = addresses.get(worker_id)
    if (address) row.address = address
    rows.push(row)
  }
  return rows
}

/** Every function: engine functions (`engineIds`) first, then those workers offer, with their statistics. */
export function functionRows(catalog: CatalogState, engineIds: readonly string[], stats: CallStats): FunctionRow[] {
  const row = (function_id: string, base: Omit<FunctionRow, 'function_id' | 'calls' | 'errors'>): FunctionRow => {
    const s = stats.of(function_id)
    const out: FunctionRow = { function_id, ...base, calls: s.calls, errors: s.errors }
    if (s.p50 !== undefined) out.p50_ms = round(s.p50)
    if (s.p99 !== undefined) out.p99_ms = round(s.p99)
    return out
  }
  const rows = engineIds.map((id) => row(id, { engine: true, workers: [], held: [] }))
  for (const function_id in catalog.functions) {
    const entry = catalog.functions[function_id]
    const first = entry.workers[0] ?? entry.held[0]
    const description = str(catalog.workers[first]?.functions[function_id]?.description)
    rows.push(row(function_id, { ...(description ? { description } : {}), workers: [...entry.workers], held: [...entry.held] }))
  }
  return rows
}

const round = (ms: number) => Math.round(ms * 100) / 100

/** The next `count` runs of a cron schedule after `from`, in its time zone, as ISO times; [] when it has none. */
export function nextRuns(config: Record<string, unknown>, from: Date, count = 3): { runs: string[]; timezone?: string } {
  const schedule = parseCronConfig(config)
  if (typeof schedule === 'string') return { runs: [] }
  const cron = new Cron(schedule.schedule, { timezone: schedule.timezone, paused: true })
  return { runs: cron.nextRuns(count, from).map((d) => d.toISOString()), timezone: schedule.timezone }
}

/** Next runs already computed, by schedule and zone: good until the first of them passes. */
export type NextRunsMemo = Map<string, { runs: string[]; timezone?: string }>

/**
 * Every trigger registration, with the next runs of active cron triggers, and the
 * earliest of those runs (ms; Infinity without any): the rows are stale from then on.
 * Each distinct schedule and zone is computed once, and, given a `memo`, reused on later
 * calls until its first run has passed (parsing a schedule is costly).
 */
export function triggerRows(catalog: CatalogState, now: Date, memo: NextRunsMemo = new Map()): { rows: TriggerRow[]; staleAt: number } {
  if (memo.size > 10_000) memo.clear()
  let staleAt = Infinity
  const rows: TriggerRow[] = []
  for (const t of allTriggers(catalog)) {
    const row: TriggerRow = { id: t.id, trigger_type: t.trigger_type, function_id: t.function_id, worker_id: t.worker_id, state: t.state, config: t.config }
    if (t.trigger_type === 'cron') {
      const key = JSON.stringify([t.config.schedule ?? t.config.expression, t.config.timezone])
      let next = memo.get(key)
      if (!next || (next.runs.length > 0 && Date.parse(next.runs[0]) <= now.getTime())) memo.set(key, (next = nextRuns(t.config, now)))
      if (next.timezone) row.timezone = next.timezone
      if (t.state === 'active' && next.runs.length > 0) {
        row.next_runs = next.runs
        staleAt = Math.min(staleAt, Date.parse(next.runs[0]))
      }
    }
    rows.push(row)
  }
  return { rows, staleAt }
}

/** The recent failed registrations the catalog keeps, latest first. */
export function failedTriggerRows(catalog: CatalogState): FailedTriggerRow[] {
  const rows: FailedTriggerRow[] = []
  for (let i = catalog.failed.length - 1; i >= 0; i--) {
    const f = catalog.failed[i]
    const row: FailedTriggerRow = { seq: f.seq, id: f.id, trigger_type: f.trigger_type, function_id: f.function_id, worker_id: f.worker_id, from: f.from, error: f.error, failed_at: f.at }
    if (f.worker_name !== undefined) row.worker_name = f.worker_name
    if (f.config !== undefined) row.config = f.config
    rows.push(row)
  }
  return rows
}

export function triggerTypeRows(catalog: CatalogState): TriggerTypeRow[] {
  return Object.keys(catalog.triggerTypes).map((id) => {
    const t = catalog.triggerTypes[id]
    return t.description ? { id, description: t.description, worker_id: t.worker_id } : { id, worker_id: t.worker_id }
  })
}

/** Sums of the queues' counts. */
export function queueTotals(queues: readonly QueueRow[]): QueueTotals {
  const totals: QueueTotals = { queues: queues.length, ready: 0, in_flight: 0, delayed: 0, dead_lettered: 0 }
  for (const q of queues) {
    totals.ready += q.ready
    totals.in_flight += q.in_flight
    totals.delayed += q.delayed
    totals.dead_lettered += q.dead_lettered
  }
  return totals
}

/** Trigger counts by type and state; `failed` counts the recent failures the catalog keeps. */
export function triggerCounts(catalog: CatalogState): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {}
  const add = (trigger_type: string, state: string) => {
    const byState = (out[trigger_type] ??= {})
    byState[state] = (byState[state] ?? 0) + 1
  }
  for (const { trigger_type, state } of allTriggers(catalog)) add(trigger_type, state)
  for (const { trigger_type } of catalog.failed) add(trigger_type, 'failed')
  return out
}

const count = (n: unknown): number => (typeof n === 'number' && Number.isFinite(n) && n >= 0 ? Math.floor(n) : 0)

/**
 * The engines of the cluster as the console's overview shows them (`/healthz`'s
 * `cluster.engines`: each engine's last heartbeat, its functions counted), `self` the
 * engine serving the console. A membership entry is checked when read (protocol/cluster.ts
 * `isMemberInfo`, its schema); what else it carries is taken only when it has the right
 * type all the same (another engine wrote it).
 */
export function clusterOverview(self: string, members: readonly MemberInfo[]): ClusterOverview {
  const engines = members.map((m): ClusterEngineRow => {
    const row: ClusterEngineRow = { engine_id: m.engine_id, host: str(m.host) ?? '', workers: count(m.workers), functions: Array.isArray(m.functions) ? m.functions.length : 0, started_at: m.started_at }
    if (typeof m.pid === 'number' && Number.isInteger(m.pid)) row.pid = m.pid
    const url = str(m.url)
    if (url) row.url = url
    const http_url = str(m.http_url)
    if (http_url) row.http_url = http_url
    return row
  })
  return { engine_id: self, engines }
}

export function overview(input: {
  catalog: CatalogState
  version: string
  started_at: string
  callsInFlight: number
  series: RatePoint[]
  queues: readonly QueueRow[]
  /** In a cluster only. */
  cluster?: ClusterOverview
}): OverviewSection {
  const { catalog } = input
  let held = 0
  for (const worker_id in catalog.workers) if (catalog.workers[worker_id].held_until !== undefined) held++
  return {
    version: input.version,
    started_at: input.started_at,
    sessions: Object.keys(catalog.workers).length,
    held_sessions: held,
    functions: Object.keys(catalog.functions).length,
    triggers: triggerCounts(catalog),
    calls_in_flight: input.callsInFlight,
    ...rates(input.series),
    series: input.series,
    queues: queueTotals(input.queues),
    ...(input.cluster ? { cluster: input.cluster } : {}),
  }
}

/** Calls in flight per serving worker, from the call table's calls (`CallTable.toJSON().calls`). */
export function inFlightByWorker(calls: Record<string, { worker_id: string }>): Map<string, number> {
  const out = new Map<string, number>()
  for (const id in calls) {
    const w = calls[id].worker_id
    out.set(w, (out.get(w) ?? 0) + 1)
  }
  return out
}
