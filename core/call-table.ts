/**
 * The call table: every call in flight, who serves it and who waits for it, and which
 * replica serves a function next. Pure data, no timers and no I/O: the invocations actor
 * (actors/invocations.ts) drives it, keeps the deadlines, and writes the frames. Its JSON
 * form (`toJSON`) is what the inspector shows as that actor's snapshot.
 *
 * Each call carries an opaque `handle` for its driver (a deadline timer, a reply
 * callback); the table never looks at it and never shows it.
 */
import { record } from './catalog.js'

/** How a call ended: a result, or an error object passed on as it came. */
export type Outcome = { result: unknown; error?: undefined } | { error: unknown; result?: undefined }

/** What started a call, for metrics: a worker, a trigger type, or the engine. */
export type CallSource = 'worker' | 'http' | 'cron' | 'queue' | 'pubsub' | 'engine'

/**
 * Whether calls from `source` count against `limits.callsInFlight`: those of workers and
 * http triggers. Cron and queue calls are bounded by their triggers (docs/limits.md).
 */
export const isLimitedSource = (source: CallSource): boolean => source === 'worker' || source === 'http'

/** The outcome label of a call: ok, error, or the engine's own error code. */
export const outcomeOf = (outcome: Outcome): string => {
  if (outcome.error === undefined) return 'ok'
  const code = (outcome.error as { code?: unknown } | null)?.code
  return code === 'invocation_timeout' || code === 'function_not_found' || code === 'worker_disconnected' ? code : 'error'
}

/** One call in flight. */
export interface Call<H> {
  /** The engine-made invocation id the serving worker sees (set by `open`). */
  id: string
  readonly function_id: string
  /** The worker serving it. */
  readonly worker_id: string
  /** The worker waiting for it and its own invocation id; undefined when engine code waits. */
  readonly caller?: { worker_id: string; invocation_id?: string }
  readonly source: CallSource
  /** `performance.now()` when it started. */
  readonly started: number
  readonly timeout_ms: number
  /** The driver's own data for this call. */
  readonly handle: H
}

export class CallTable<H = unknown, W = unknown> {
  private readonly calls = new Map<string, Call<H>>()
  /**
   * worker id → the calls it serves or waits for (so a leaving worker costs only its own
   * calls), and how many of them it waits for (what `limits.callsPerSession` counts). A
   * worker's record stays, empty, until `workerGone`: with one call at a time, creating and
   * dropping it on every call cost more than the rest of the table's work.
   */
  private readonly byWorker = new Map<string, { ids: Set<string>; waiting: number }>()
  /**
   * Calls not started yet because every worker offering their function is held (its
   * connection lost): by function id, in arrival order. `W` is the driver's record of one.
   */
  private readonly parkedCalls = new Map<string, Set<W>>()
  private parkedCount = 0
  /** Started calls whose source counts against `limits.callsInFlight`. */
  private limitedCount = 0
  /** The worker that waits for each parked call, when a worker made it (it counts in `waitingFor`). */
  private readonly parkedWaiters = new Map<W, string>()
  /** Round robin over replicas: whose turn it is, per function id. */
  private readonly turns = new Map<string, number>()
  private seq = 0
  private draining = false

  /** @param prefix starts every id this table makes (ids of different engine runs never match). */
  constructor(private readonly prefix: string) {}

  /** Calls in flight: started, and parked. */
  get size(): number {
    return this.calls.size + this.parkedCount
  }

  /** What `limits.callsInFlight` counts: started calls of limited sources (`isLimitedSource`), and parked calls. */
  get limitedSize(): number {
    return this.limitedCount + this.parkedCount
  }

  /** How many calls `worker_id` waits for. */
  waitingFor(worker_id: string): number {
    return this.byWorker.get(worker_id)?.waiting ?? 0
  }

  /** Parks a call until a live worker offers `function_id` (see `unpark`); `waiter`: the worker that waits for its answer. */
  park(function_id: string, call: W, waiter?: string): void {
    if (waiter !== undefined) {
      this.parkedWaiters.set(call, waiter)
      this.recordOf(waiter).waiting++
    }
    const set = this.parkedCalls.get(function_id)
    if (set) set.add(call)
    else this.parkedCalls.set(function_id, new Set([call]))
    this.parkedCount++
  }

  /** Takes every call parked for `function_id`, in arrival order. */
  unpark(function_id: string): W[] {
    const set = this.parkedCalls.get(function_id)
    if (!set) return []
    this.parkedCalls.delete(function_id)
    this.parkedCount -= set.size
    for (const call of set) this.releaseWaiter(call)
    return [...set]
  }

  /** Takes one parked call (its wait ended); false when it was no longer parked. */
  unparkOne(function_id: string, call: W): boolean {
    const set = this.parkedCalls.get(function_id)
    if (!set?.delete(call)) return false
    this.parkedCount--
    this.releaseWaiter(call)
    if (set.size === 0) this.parkedCalls.delete(function_id)
    return true
  }

  /** Takes every parked call, whatever its function (the engine stops or drains). */
  unparkAll(): W[] {
    return [...this.parkedCalls.keys()].flatMap((function_id) => this.unpark(function_id))
  }

  private releaseWaiter(call: W): void {
    const waiter = this.parkedWaiters.get(call)
    if (waiter === undefined) return
    this.parkedWaiters.delete(call)
    const record = this.byWorker.get(waiter)
    if (record) record.waiting--
  }

  /** The function ids calls are parked for. */
  parkedFunctions(): string[] {
    return [...this.parkedCalls.keys()]
  }

  /** Which of `workers` (the function's replicas, in registration order) serves the next call: round robin. */
  pickWorker(function_id: string, workers: readonly string[] | undefined): string | undefined {
    if (!workers || workers.length === 0) return undefined
    if (workers.length === 1) return workers[0]
    const turn = this.turns.get(function_id) ?? 0
    this.turns.set(function_id, turn + 1 >= workers.length ? 0 : turn + 1)
    return workers[turn % workers.length]
  }

  /**
   * Records a new call, giving it its id (the object itself is kept: the hot path makes
   * one object per call, not two), and returns it.
   */
  open(call: Call<H>): Call<H> {
    const id = this.prefix + (++this.seq).toString(36)
    call.id = id
    this.calls.set(id, call)
    if (isLimitedSource(call.source)) this.limitedCount++
    this.recordOf(call.worker_id).ids.add(id)
    if (call.caller) {
      const caller = this.recordOf(call.caller.worker_id)
      caller.ids.add(id)
      caller.waiting++
    }
    return call
  }

  get(id: string): Call<H> | undefined {
    return this.calls.get(id)
  }

  /** Removes a call and returns it. */
  close(id: string): Call<H> | undefined {
    const call = this.calls.get(id)
    if (!call) return undefined
    this.calls.delete(id)
    if (isLimitedSource(call.source)) this.limitedCount--
    this.byWorker.get(call.worker_id)?.ids.delete(id)
    if (call.caller) {
      const caller = this.byWorker.get(call.caller.worker_id)
      if (caller) {
        caller.ids.delete(id)
        caller.waiting--
      }
    }
    return call
  }

  /**
   * The call an `invocationresult` from `worker_id` answers, removed from the table; undefined
   * when no such call awaits that worker (unknown, answered, timed out, or served by another).
   */
  answeredBy(worker_id: string, id: string): Call<H> | undefined {
    return this.calls.get(id)?.worker_id === worker_id ? this.close(id) : undefined
  }

  /**
   * A worker left: its calls leave the table. `failed` are the calls it served (their callers
   * must be told), `dropped` those it waited for (nobody to tell).
   */
  workerGone(worker_id: string): { failed: Array<Call<H>>; dropped: Array<Call<H>> } {
    const failed: Array<Call<H>> = []
    const dropped: Array<Call<H>> = []
    for (const id of [...(this.byWorker.get(worker_id)?.ids ?? [])]) {
      const call = this.close(id)
      if (call) (call.worker_id === worker_id ? failed : dropped).push(call)
    }
    this.byWorker.delete(worker_id)
    return { failed, dropped }
  }

  /** Removes and returns every call (the engine stops); parked calls are taken with `unpark`. */
  closeAll(): Array<Call<H>> {
    const all = [...this.calls.values()]
    for (const call of all) this.close(call.id)
    return all
  }

  /** From now on the table counts as drained once it is empty. */
  drain(): void {
    this.draining = true
  }

  /** Draining, and no call left (started or parked). */
  get drained(): boolean {
    return this.draining && this.calls.size === 0 && this.parkedCount === 0
  }

  /** What the inspector shows: the calls in flight, without their handles. */
  toJSON() {
    const calls: Record<string, unknown> = {}
    for (const c of this.calls.values()) {
      calls[c.id] = {
        function_id: c.function_id,
        worker_id: c.worker_id,
        caller: c.caller ?? c.source,
        source: c.source,
        started_at: new Date(performance.timeOrigin + c.started).toISOString(),
        timeout_ms: c.timeout_ms,
      }
    }
    const parked = record<number>()
    for (const [function_id, set] of this.parkedCalls) parked[function_id] = set.size
    return { in_flight: this.calls.size, parked, draining: this.draining, calls }
  }

  private recordOf(worker_id: string): { ids: Set<string>; waiting: number } {
    let record = this.byWorker.get(worker_id)
    if (!record) this.byWorker.set(worker_id, (record = { ids: new Set(), waiting: 0 }))
    return record
  }
}
