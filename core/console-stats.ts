/**
 * What the operator console counts about calls, as they end: per function its calls,
 * errors and recent latencies (for p50 and p99); per second, calls and errors over the
 * last minute (the overview's chart); and the last invocations (the live feed). Pure
 * data: every method takes the time it is told, nothing here reads a clock or sets a
 * timer. adapters/console-server.ts feeds it from the invocations actor's
 * `invocation.ended` events.
 */
import type { FeedEntry, RatePoint } from '../protocol/console.js'

/** The latencies kept per function for its percentiles: the most recent ones. */
export const LATENCY_WINDOW = 512
/** Seconds the rate series covers. */
export const SERIES_SECONDS = 60

interface FunctionStats {
  calls: number
  errors: number
  /** The last `LATENCY_WINDOW` latencies in ms, a ring. */
  latencies: Float64Array
  /** How many were ever written (the ring's next slot is this modulo its size). */
  written: number
  /** Percentiles computed since the last call; undefined when a call ended since. */
  cached?: { p50?: number; p99?: number }
}

/** The value at quantile `q` (0–1) of sorted `values`, nearest rank; undefined when empty. */
export function quantile(sorted: ArrayLike<number>, q: number): number | undefined {
  if (sorted.length === 0) return undefined
  const rank = Math.ceil(q * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

/** Whether an outcome label (core/call-table.ts `outcomeOf`) counts as an error. */
export const isErrorOutcome = (outcome: string): boolean => outcome !== 'ok'

export class CallStats {
  private readonly functions = new Map<string, FunctionStats>()
  /** Per second of the last minute: its second (ms since the epoch / 1000, floored), calls, errors. */
  private readonly seconds = new Float64Array(SERIES_SECONDS)
  private readonly calls = new Uint32Array(SERIES_SECONDS)
  private readonly errors = new Uint32Array(SERIES_SECONDS)

  constructor() {
    this.seconds.fill(-1)
  }

  /** How many functions have figures. */
  get size(): number {
    return this.functions.size
  }

  /** Drops the figures of every function `keep` says no; what nobody offers any more is not kept (churn would grow it). */
  prune(keep: (function_id: string) => boolean): void {
    for (const function_id of this.functions.keys()) if (!keep(function_id)) this.functions.delete(function_id)
  }

  /** One call ended at `now` (ms since the epoch) after `ms`, with `outcome`. */
  record(function_id: string, outcome: string, ms: number, now: number): void {
    let f = this.functions.get(function_id)
    if (!f) this.functions.set(function_id, (f = { calls: 0, errors: 0, latencies: new Float64Array(LATENCY_WINDOW), written: 0 }))
    const failed = isErrorOutcome(outcome)
    f.calls++
    if (failed) f.errors++
    f.latencies[f.written % LATENCY_WINDOW] = ms
    f.written++
    f.cached = undefined
    const second = Math.floor(now / 1000)
    const slot = second % SERIES_SECONDS
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second
      this.calls[slot] = 0
      this.errors[slot] = 0
    }
    this.calls[slot]++
    if (failed) this.errors[slot]++
  }

  /** A function's counts and latency percentiles (ms), over its last `LATENCY_WINDOW` calls. */
  of(function_id: string): { calls: number; errors: number; p50?: number; p99?: number } {
    const f = this.functions.get(function_id)
    if (!f) return { calls: 0, errors: 0 }
    if (!f.cached) {
      const sorted = f.latencies.slice(0, Math.min(f.written, LATENCY_WINDOW)).sort()
      f.cached = { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) }
    }
    return { calls: f.calls, errors: f.errors, ...f.cached }
  }

  /** The function ids that have had a call. */
  functionIds(): IterableIterator<string> {
    return this.functions.keys()
  }

  /** Forgets a function's counts (it is offered by nobody any more and has no calls to show). */
  forget(function_id: string): void {
    this.functions.delete(function_id)
  }

  /** The last `SERIES_SECONDS` whole seconds before `now`, oldest first (the current second is not over). */
  series(now: number): RatePoint[] {
    const current = Math.floor(now / 1000)
    const out: RatePoint[] = []
    for (let second = current - SERIES_SECONDS; second < current; second++) {
      const slot = second % SERIES_SECONDS
      const here = this.seconds[slot] === second
      out.push({ t: second * 1000, calls: here ? this.calls[slot] : 0, errors: here ? this.errors[slot] : 0 })
    }
    return out
  }
}

/** Calls in the last whole second, and the share of errors over the series. */
export function rates(series: readonly RatePoint[]): { calls_per_second: number; error_rate: number } {
  let calls = 0
  let errors = 0
  for (const p of series) {
    calls += p.calls
    errors += p.errors
  }
  return { calls_per_second: series.length > 0 ? series[series.length - 1].calls : 0, error_rate: calls === 0 ? 0 : errors / calls }
}

/**
 * The live feed's buffer: every invocation that ended gets a sequence number; the last
 * `backlog` are kept for consoles that connect later, and those not yet pushed wait in
 * `pending`, at most `perPush` of them (the rest are counted as skipped: at thousands of
 * calls a second a browser cannot show each one anyway).
 *
 * The backlog is a ring of columns, written in place: an invocation nobody watches costs
 * no object (entries that lived for the next few hundred calls were promoted out of V8's
 * young generation, the costliest garbage there is). Entries are made when a console
 * watches, or connects.
 */
export class FeedBuffer {
  private seq = 0
  private readonly at: Float64Array
  private readonly ms: Float64Array
  private readonly functionIds: string[]
  private readonly sources: string[]
  private readonly outcomes: string[]
  private pending: FeedEntry[] = []
  private skipped = 0

  constructor(
    private readonly backlog = 200,
    private readonly perPush = 200,
  ) {
    this.at = new Float64Array(backlog)
    this.ms = new Float64Array(backlog)
    this.functionIds = new Array<string>(backlog).fill('')
    this.sources = new Array<string>(backlog).fill('')
    this.outcomes = new Array<string>(backlog).fill('')
  }

  /** Records an invocation that ended; `collect` is false when nobody watches (it is only kept). */
  push(at: number, function_id: string, source: string, outcome: string, ms: number, collect: boolean): void {
    const seq = ++this.seq
    const slot = seq % this.backlog
    this.at[slot] = at
    this.ms[slot] = ms
    this.functionIds[slot] = function_id
    this.sources[slot] = source
    this.outcomes[slot] = outcome
    if (!collect) return
    if (this.pending.length < this.perPush) this.pending.push(this.entry(seq))
    else this.skipped++
  }

  private entry(seq: number): FeedEntry {
    const slot = seq % this.backlog
    return { seq, at: this.at[slot], function_id: this.functionIds[slot], source: this.sources[slot], outcome: this.outcomes[slot], ms: this.ms[slot] }
  }

  /** What waits to be pushed (and how many were skipped), emptied; undefined when nothing does. */
  take(): { entries: FeedEntry[]; skipped: number } | undefined {
    if (this.pending.length === 0 && this.skipped === 0) return undefined
    const out = { entries: this.pending, skipped: this.skipped }
    this.pending = []
    this.skipped = 0
    return out
  }

  /** The last invocations, oldest first, for a console that just connected. */
  recent(): FeedEntry[] {
    const out: FeedEntry[] = []
    for (let seq = Math.max(1, this.seq - this.backlog + 1); seq <= this.seq; seq++) out.push(this.entry(seq))
    return out
  }
}
