/**
 * The call table: every call in flight, who serves it and who waits for it, and which
 * replica serves a function next. Pure data, no timers and no I/O: the invocations actor
 * (actors/invocations.ts) drives it, keeps the deadlines, and writes the frames. Its JSON
 * form (`toJSON`) is what the inspector shows as that actor's snapshot.
 *
 * Each call carries an opaque `handle` for its driver (a deadline timer, a reply
 * callback); the table never looks at it and never shows it.
 */
import type { CallSource } from '../protocol/cluster.js'
import { record } from './catalog.js'
import { TransientIndex } from './transient-index.js'

/** How a call ended: a result, or an error object passed on as it came. */
export type Outcome = { result: unknown; error?: undefined } | { error: unknown; result?: undefined }

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

/**
 * The table's record of a call: the call, and its links in two lists, the calls its
 * serving worker serves and the calls its calling worker waits for, so that a leaving
 * worker costs only its own calls and opening or closing a call costs no hashing but the
 * id's (linking is a few assignments; a Set per worker cost an insertion and a deletion
 * per list, about as much as the rest of the table's work).
 */
interface Entry<H> {
  readonly call: Call<H>
  servedPrev?: Entry<H>
  servedNext?: Entry<H>
  waitedPrev?: Entry<H>
  waitedNext?: Entry<H>
}

/** A worker's lists' heads, and how many calls it waits for (what `limits.callsPerSession` counts). Kept, empty, until `workerGone`. */
interface WorkerRecord<H> {
  served?: Entry<H>
  waited?: Entry<H>
  waiting: number
}

export class CallTable<H = unknown, W = unknown> {
  /** By invocation id. Not a `Map`: one is added and one removed per call (core/transient-index.ts says why that matters). */
  private readonly calls = new TransientIndex<Entry<H>>()
  private readonly byWorker = new Map<string, WorkerRecord<H>>()
  /**
   * Calls not started yet because every worker offering their function is held (its
   * connection lost): by function id, in arrival order. `W` is the driver's record of one.
   */
  private readonly parkedCalls = new Map<string, Set<W>>()
  private parkedCount = 0
  /** Started calls whose source counts against `limits.callsInFlight` (those sent to other engines too). */
  private limitedCount = 0
  /** Calls sent to another engine of the cluster, waiting for its answer (`acrossStarted`). */
  private acrossCount = 0
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

  /** What `limits.callsInFlight` counts: started calls of limited sources (`isLimitedSource`, here or sent to other engines), and parked calls. */
  get limitedSize(): number {
    return this.limitedCount + this.parkedCount
  }

  /** Calls sent to other engines of the cluster, waiting for their answers. */
  get across(): number {
    return this.acrossCount
  }

  /**
   * A call sent to another engine of the cluster (no local worker serves its function):
   * counted, until `acrossEnded`, as a call in flight of `source` (against
   * `limits.callsInFlight` when its source is limited), and as one `waiter` waits for
   * (`limits.callsPerSession`). The other engine's answer, or its timeout here, ends it.
   */
  acrossStarted(source: CallSource, waiter: string | undefined): void {
    this.acrossCount++
    if (isLimitedSource(source)) this.limitedCount++
    if (waiter !== undefined) this.recordOf(waiter).waiting++
  }

  /** A call `acrossStarted` counted was answered (or failed). */
  acrossEnded(source: CallSource, waiter: string | undefined): void {
    this.acrossCount--
    if (isLimitedSource(source)) this.limitedCount--
    // A worker gone meanwhile took its count with it.
    const record = waiter === undefined ? undefined : this.byWorker.get(waiter)
    if (record && record.waiting > 0) record.waiting--
  }

  /** How many calls `worker_id` waits for (here, and sent to other engines). */
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
    // Its links are here from the start: added later, they would cost the entry a second allocation.
    const entry: Entry<H> = { call, servedPrev: undefined, servedNext: undefined, waitedPrev: undefined, waitedNext: undefined }
    this.calls.set(id, entry)
    if (isLimitedSource(call.source)) this.limitedCount++
    const server = this.recordOf(call.worker_id)
    if (server.served) {
      entry.servedNext = server.served
      server.served.servedPrev = entry
    }
    server.served = entry
    if (call.caller) {
      const caller = this.recordOf(call.caller.worker_id)
      if (caller.waited) {
        entry.waitedNext = caller.waited
        caller.waited.waitedPrev = entry
      }
      caller.waited = entry
      caller.waiting++
    }
    return call
  }

  get(id: string): Call<H> | undefined {
    return this.calls.get(id)?.call
  }

  /** Removes a call and returns it. */
  close(id: string): Call<H> | undefined {
    const entry = this.calls.get(id)
    return entry && this.remove(entry)
  }

  /**
   * The call an `invocationresult` from `worker_id` answers, removed from the table; undefined
   * when no such call awaits that worker (unknown, answered, timed out, or served by another).
   */
  answeredBy(worker_id: string, id: string): Call<H> | undefined {
    const entry = this.calls.get(id)
    return entry?.call.worker_id === worker_id ? this.remove(entry) : undefined
  }

  /**
   * A worker left: its calls leave the table. `failed` are the calls it served (their callers
   * must be told), `dropped` those it waited for (nobody to tell).
   */
  workerGone(worker_id: string): { failed: Array<Call<H>>; dropped: Array<Call<H>> } {
    const failed: Array<Call<H>> = []
    const dropped: Array<Call<H>> = []
    const record = this.byWorker.get(worker_id)
    // Oldest first, as they started.
    const oldestFirst = (head: Entry<H> | undefined, next: (e: Entry<H>) => Entry<H> | undefined) => {
      const all: Array<Entry<H>> = []
      for (let e = head; e; e = next(e)) all.push(e)
      return all.reverse()
    }
    if (record) {
      for (const e of oldestFirst(record.served, (x) => x.servedNext)) failed.push(this.remove(e))
      for (const e of oldestFirst(record.waited, (x) => x.waitedNext)) if (this.calls.get(e.call.id) === e) dropped.push(this.remove(e))
    }
    this.byWorker.delete(worker_id)
    return { failed, dropped }
  }

  /** Removes and returns every call (the engine stops); parked calls are taken with `unpark`. */
  closeAll(): Array<Call<H>> {
    return this.calls.values().map((entry) => this.remove(entry))
  }

  /** From now on the table counts as drained once it is empty. */
  drain(): void {
    this.draining = true
  }

  /** Draining, and no call left (started or parked). */
  get drained(): boolean {
    return this.draining && this.calls.size === 0 && this.parkedCount === 0
  }

  /**
   * What the inspector shows: `in_flight` (started here), `parked` (by function: how many
   * wait for a live worker), `across` (how many were sent to other engines of the cluster
   * and wait for their answers: the `cluster` actor's snapshot lists them, with the engine
   * that took each), `draining`, and `calls`, by invocation id: function, serving worker,
   * caller, source, start (ISO) and timeout (ms); never their handles.
   */
  toJSON() {
    const calls: Record<string, unknown> = {}
    for (const { call: c } of this.calls.values()) {
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
    return { in_flight: this.calls.size, parked, across: this.acrossCount, draining: this.draining, calls }
  }

  private recordOf(worker_id: string): WorkerRecord<H> {
    let record = this.byWorker.get(worker_id)
    if (!record) this.byWorker.set(worker_id, (record = { waiting: 0 }))
    return record
  }

  /** Takes an entry out of the table and out of its workers' lists. */
  private remove(entry: Entry<H>): Call<H> {
    const call = entry.call
    this.calls.delete(call.id)
    if (isLimitedSource(call.source)) this.limitedCount--
    const server = this.byWorker.get(call.worker_id)
    if (entry.servedPrev) entry.servedPrev.servedNext = entry.servedNext
    else if (server && server.served === entry) server.served = entry.servedNext
    if (entry.servedNext) entry.servedNext.servedPrev = entry.servedPrev
    if (call.caller) {
      const caller = this.byWorker.get(call.caller.worker_id)
      if (entry.waitedPrev) entry.waitedPrev.waitedNext = entry.waitedNext
      else if (caller && caller.waited === entry) caller.waited = entry.waitedNext
      if (entry.waitedNext) entry.waitedNext.waitedPrev = entry.waitedPrev
      if (caller) caller.waiting--
    }
    entry.servedPrev = entry.servedNext = entry.waitedPrev = entry.waitedNext = undefined
    return call
  }
}
