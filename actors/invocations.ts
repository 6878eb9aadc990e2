/**
 * The `invocations` actor: routes every call. It starts a call on a worker offering the
 * function (round robin over replicas) under an engine-made id, routes the answer back to
 * the caller under the caller's own id, and fails calls that time out or whose worker
 * leaves. The calls in flight are a pure table (core/call-table.ts), which is this actor's
 * snapshot; the deadlines (actors/deadlines.ts: one timer per distinct timeout, not one
 * per call) and each call's request (its caller: a worker, or engine code's `reply`) are
 * its handles, cleared when it stops.
 *
 * A call that no local worker serves goes, in a cluster, to the `cluster` actor, which
 * sends it to whichever engine serves it (docs/cluster.md); alone, it is answered
 * `function_not_found`.
 *
 * A call whose function only held workers have (their connection lost, the engine holding
 * their registrations: reconnectGraceMs) is parked until a live worker offers the function
 * (`function.offered`), or until the last hold ends, or its own timeout; then it fails
 * `worker_disconnected` (or `invocation_timeout`). Limits (`limits.callsPerSession`,
 * `limits.callsInFlight`) and a token's scope are checked before a call starts; what they
 * refuse is answered `too_many_requests` or `forbidden`.
 *
 * Calls and answers are the hot path, so they do not pass through the session machines:
 * a session's port sends `invocation.call` and `invocation.result` here directly, and the
 * frames for workers leave as emitted `invocation.out` events, which the ports' dispatcher
 * (adapters/session-port.ts) writes to the worker's connection.
 */
import type { ErrorBody, Outbound } from '../protocol/messages.js'
import { errors } from '../protocol/errors.js'
import { ENGINE_FUNCTIONS, isEngineFunction, type EngineFunctionId } from '../protocol/engine-functions.js'
import { closest } from '../core/closest.js'
import { allows, mayCall, type Identity } from '../core/auth.js'
import { heldUntil, isKnown } from '../core/catalog.js'
import type { CallSource } from '../protocol/cluster.js'
import { CallTable, isLimitedSource, outcomeOf, type Call, type Outcome } from '../core/call-table.js'
import { delayProblem, queueNameProblem, tagProblem } from '../core/queue-config.js'
import type { Caller, CallRequest, EnqueueOptions, InvocationsEmitted, InvocationsEvent, InvocationsInput } from '../machines/contracts.js'
import { actorsOf, catalogOf, tell, type ClusterRef } from '../machines/system.js'
import { EngineFunctionError, engineFunctions } from './engine-functions.js'
import { Deadlines, type DeadlineEntry } from './deadlines.js'
import { fromTable, type TableScope } from './table-actor.js'

/** What the table keeps for each call on this actor's behalf. */
interface CallHandle extends DeadlineEntry {
  /** The call, for its deadline. */
  call: Call<CallHandle>
  /** The request: its caller is answered (a worker, or engine code through its `reply`), and it starts again elsewhere if it reached a worker that no longer had its function. */
  request: CallRequest
}

/** A call parked until a live worker offers its function. */
interface Parked {
  request: CallRequest
  /** `performance.now()` when it was parked. */
  since: number
  timer: NodeJS.Timeout
}

type Scope = TableScope<CallTable<CallHandle, Parked>, InvocationsInput, InvocationsEmitted> & { handles: { deadlines: Deadlines<CallHandle> } }

const sourceOf = (request: CallRequest): CallSource => request.source ?? ('worker_id' in request.caller ? 'worker' : 'engine')
const isError = (error: unknown) => error !== undefined && error !== null

/** Answers a caller: engine code through its reply, a worker with an `invocationresult` (unless it asked for none). */
function answer(scope: Scope, caller: Caller, function_id: string, outcome: Outcome): void {
  if ('reply' in caller) return caller.reply(outcome)
  if (caller.invocation_id === undefined) return
  const message = isError(outcome.error)
    ? { type: 'invocationresult' as const, invocation_id: caller.invocation_id, function_id, error: outcome.error }
    : { type: 'invocationresult' as const, invocation_id: caller.invocation_id, function_id, result: outcome.result }
  scope.emit({ type: 'invocation.out', worker_id: caller.worker_id, message })
}

const ended = (scope: Scope, source: CallSource, function_id: string, outcome: Outcome, started: number) =>
  scope.emit({ type: 'invocation.ended', source, function_id, outcome: outcomeOf(outcome), seconds: (performance.now() - started) / 1000 })

/** Ends a call that has left the table: counts it, answers its caller, reports the drain. */
function finish(scope: Scope, call: Call<CallHandle>, outcome: Outcome): void {
  scope.handles.deadlines.remove(call.handle)
  ended(scope, call.source, call.function_id, outcome, call.started)
  answer(scope, call.handle.request.caller, call.function_id, outcome)
  if (scope.context.drained) scope.sendBack({ type: 'invocations.drained' })
}

function runEngineFunction(scope: Scope, request: CallRequest): void {
  const run = engineFunctions[request.function_id as EngineFunctionId]
  const started = performance.now()
  const settle = (outcome: Outcome) => {
    ended(scope, sourceOf(request), request.function_id, outcome, started)
    if (!request.void) answer(scope, request.caller, request.function_id, outcome)
  }
  const failed = (err: unknown) => settle({ error: err instanceof EngineFunctionError ? err.body : errors.engineError(err instanceof Error ? err.message : String(err)) })
  // Run now, in the order calls arrive (a worker's `engine::workers::register` is in the
  // catalog before its next message is handled); answer once the result is there.
  let result: unknown
  try {
    result = run(request.data, {
      system: scope.system,
      caller_worker_id: 'worker_id' in request.caller ? request.caller.worker_id : undefined,
      context: { traceparent: request.traceparent, baggage: request.baggage, metadata: request.metadata },
      local: request.local,
    })
  } catch (err) {
    return void Promise.resolve().then(() => failed(err))
  }
  Promise.resolve(result).then((value) => settle({ result: value }), failed)
}

function enqueueCall(scope: Scope, request: CallRequest, enqueue: EnqueueOptions): void {
  const provider = actorsOf(scope.system).queueProvider()
  if (!provider) {
    if (!request.void) answer(scope, request.caller, request.function_id, { error: errors.queueUnavailable() })
    return
  }
  provider.send({
    type: 'queue.send',
    queue_name: enqueue.queue,
    body: request.data ?? null,
    function_id: request.function_id,
    message_group_id: enqueue.message_group_id,
    deduplication_id: enqueue.deduplication_id,
    delay_seconds: enqueue.delay_seconds,
    // The call runs later, from the queue, with the trace context and metadata of this one.
    context: { traceparent: request.traceparent, baggage: request.baggage, metadata: request.metadata },
    reply: (r) => {
      if (request.void) return
      // `messageReceiptId` is what iii-sdk's documentation promises; `message_id` is ours.
      answer(scope, request.caller, request.function_id, 'error' in r ? r : { result: { message_id: r.result.message_id, messageReceiptId: r.result.message_id } })
    },
  })
}

/** Ends a request that never started (refused, or parked in vain): counted and answered. */
function settleUnstarted(scope: Scope, request: CallRequest, outcome: Outcome, started = performance.now()): void {
  ended(scope, sourceOf(request), request.function_id, outcome, started)
  if (!request.void) answer(scope, request.caller, request.function_id, outcome)
}

/**
 * Parks a call whose function only held workers have, until a live worker offers it
 * (`function.offered`), the last hold ends, or the call's own timeout, whichever is first.
 */
function park(scope: Scope, request: CallRequest, held_until: number): void {
  const table = scope.context
  const timeout_ms = request.timeout_ms ?? scope.input.defaultTimeoutMs
  const wait = Math.max(0, Math.min(held_until - Date.now(), timeout_ms))
  const parked: Parked = { request, since: performance.now(), timer: undefined as unknown as NodeJS.Timeout }
  parked.timer = setTimeout(() => {
    if (!table.unparkOne(request.function_id, parked)) return
    const error = wait >= timeout_ms ? errors.invocationTimeout(request.function_id, timeout_ms) : errors.noLiveWorker(request.function_id, Math.round(performance.now() - parked.since))
    settleUnstarted(scope, request, { error }, parked.since)
    if (table.drained) scope.sendBack({ type: 'invocations.drained' })
  }, wait)
  const caller = request.caller
  table.park(request.function_id, parked, !request.void && 'worker_id' in caller ? caller.worker_id : undefined)
}

/** Ends every parked call: the engine stops. */
function settleAllParked(scope: Scope): void {
  for (const parked of scope.context.unparkAll()) {
    clearTimeout(parked.timer)
    settleUnstarted(scope, parked.request, { error: errors.engineStopped(parked.request.function_id) }, parked.since)
  }
}

/** A live worker offers the function now: its parked calls start, with what is left of their timeout. */
function unpark(scope: Scope, function_id: string): void {
  for (const parked of scope.context.unpark(function_id)) {
    clearTimeout(parked.timer)
    const timeout_ms = parked.request.timeout_ms ?? scope.input.defaultTimeoutMs
    start(scope, { ...parked.request, timeout_ms: Math.max(1, Math.round(timeout_ms - (performance.now() - parked.since))) })
  }
}

/** After a worker left: parked calls it waited for are dropped; those whose function nobody has any more fail. */
function settleParked(scope: Scope, gone: string): void {
  const table = scope.context
  const catalog = catalogOf(scope.system)
  for (const function_id of table.parkedFunctions()) {
    const orphaned = !isKnown(catalog, function_id)
    for (const parked of table.unpark(function_id)) {
      const caller = parked.request.caller
      if ('worker_id' in caller && caller.worker_id === gone) clearTimeout(parked.timer)
      else if (orphaned) {
        clearTimeout(parked.timer)
        settleUnstarted(scope, parked.request, { error: errors.noLiveWorker(function_id, Math.round(performance.now() - parked.since)) }, parked.since)
      } else table.park(function_id, parked)
    }
  }
}

/**
 * Whether a call's `function_not_found` answer means it crossed its worker's
 * unregistration on the wire: the worker no longer offers the function (it unregistered
 * it after the call was sent), so it did not run it. A worker that still offers the
 * function answered with its own error, which is passed on.
 */
function crossedUnregistration(scope: Scope, call: Call<CallHandle>, error: unknown): boolean {
  if ((error as { code?: unknown } | null)?.code !== 'function_not_found') return false
  return !(catalogOf(scope.system).functions[call.function_id]?.workers.includes(call.worker_id) ?? false)
}

/** Starts a call again, on whichever worker offers its function now, with what is left of its timeout. */
function restart(scope: Scope, call: Call<CallHandle>): void {
  scope.handles.deadlines.remove(call.handle)
  const left = call.timeout_ms - (performance.now() - call.started)
  if (left < 1) return finish(scope, call, { error: errors.invocationTimeout(call.function_id, call.timeout_ms) })
  start(scope, { ...call.handle.request, timeout_ms: Math.round(left) })
}

/**
 * Sends a call no local worker serves to the cluster (actors/cluster.ts); its outcome is
 * counted and answered here, as a local call's. Until then it counts against its caller's
 * limits as a local call does (`limits.callsInFlight`, `limits.callsPerSession`), unless void.
 */
function toCluster(scope: Scope, request: CallRequest, cluster: ClusterRef): void {
  const started = performance.now()
  const source = sourceOf(request)
  const waiter = request.void ? undefined : 'worker_id' in request.caller && request.caller.invocation_id !== undefined ? request.caller.worker_id : undefined
  if (!request.void) scope.context.acrossStarted(source, waiter)
  cluster.send({
    type: 'cluster.call',
    request,
    source,
    settle: (outcome) => {
      if (!request.void) scope.context.acrossEnded(source, waiter)
      ended(scope, source, request.function_id, outcome, started)
      if (!request.void) answer(scope, request.caller, request.function_id, outcome)
    },
  })
}

function start(scope: Scope, request: CallRequest): void {
  if (request.enqueue !== undefined) return enqueueCall(scope, request, request.enqueue)
  if (isEngineFunction(request.function_id)) return runEngineFunction(scope, request)
  const table = scope.context
  const { callsInFlight } = scope.input.limits
  if (table.limitedSize >= callsInFlight && isLimitedSource(sourceOf(request))) return settleUnstarted(scope, request, { error: errors.engineBusy(callsInFlight) })
  const entry = catalogOf(scope.system).functions[request.function_id]
  const worker_id = table.pickWorker(request.function_id, entry?.workers)
  if (worker_id === undefined) {
    if (entry !== undefined && entry.held.length > 0) return park(scope, request, heldUntil(catalogOf(scope.system), request.function_id) ?? Date.now())
    // One of a cluster: the call goes to whichever engine serves the function (a call that came from one is served here or not at all).
    const cluster = request.local ? undefined : actorsOf(scope.system).cluster()
    if (cluster) return toCluster(scope, request, cluster)
    // A worker's call by a mistyped id is told what it probably meant (not a trigger's: those may fire often).
    const suggestion = sourceOf(request) === 'worker' ? closest(request.function_id, [...Object.keys(catalogOf(scope.system).functions), ...Object.keys(ENGINE_FUNCTIONS)]) : undefined
    const outcome = { error: errors.functionNotFound(request.function_id, suggestion) }
    ended(scope, sourceOf(request), request.function_id, outcome, performance.now())
    if (!request.void) answer(scope, request.caller, request.function_id, outcome)
    return
  }
  let message: Extract<Outbound, { type: 'invokefunction' }>
  if (request.void) message = { type: 'invokefunction', function_id: request.function_id, data: request.data }
  else {
    const timeout_ms = request.timeout_ms ?? scope.input.defaultTimeoutMs
    const started = performance.now()
    // Every field the deadline list links is here from the start (added later, they would cost the object a second allocation).
    const handle: CallHandle = { due: 0, prev: undefined, next: undefined, list: undefined, call: undefined as unknown as Call<CallHandle>, request }
    const call = table.open({
      id: '',
      function_id: request.function_id,
      worker_id,
      caller: 'worker_id' in request.caller ? request.caller : undefined,
      source: sourceOf(request),
      started,
      timeout_ms,
      handle,
    })
    handle.call = call
    scope.handles.deadlines.add(handle, timeout_ms, started)
    message = { type: 'invokefunction', function_id: request.function_id, data: request.data, invocation_id: call.id }
  }
  if (request.metadata !== undefined) message.metadata = request.metadata
  if (request.traceparent !== undefined) message.traceparent = request.traceparent
  if (request.baggage !== undefined) message.baggage = request.baggage
  scope.emit({ type: 'invocation.out', worker_id, message })
}

/** What the schema cannot say about an enqueue action: its queue name, ids and delay. */
function enqueueProblem(action: EnqueueOptions): string | undefined {
  return (
    queueNameProblem('action.queue', action.queue) ??
    tagProblem('action.message_group_id', action.message_group_id) ??
    tagProblem('action.deduplication_id', action.deduplication_id) ??
    delayProblem('action.delay_seconds', action.delay_seconds)
  )
}

/** Refuses a worker's `invokefunction`: with an `invocationresult`, or, when it asked for none, an `error` frame. */
function refuseCall(scope: Scope, worker_id: string, message: Extract<InvocationsEvent, { type: 'invocation.call' }>['message'], error: ErrorBody): void {
  if (message.invocation_id === undefined || message.action?.type === 'void') {
    // The ref names the call by its invocation id, as every ref of an `invokefunction` does; a call without one is named by its type alone.
    const ref = message.invocation_id === undefined ? { type: 'invokefunction' } : { type: 'invokefunction', id: message.invocation_id }
    tell(actorsOf(scope.system).session(worker_id), { type: 'session.reject', error, ref })
    return
  }
  scope.emit({ type: 'invocation.out', worker_id, message: { type: 'invocationresult', invocation_id: message.invocation_id, function_id: message.function_id, error } })
}

/** What a token's scope refuses of a call, if anything (`mayCall` says what it allows). */
function outOfScope({ name, scope }: Identity, function_id: string, queue: string | undefined): ErrorBody | undefined {
  if (!mayCall(scope, function_id)) return isEngineFunction(function_id) ? errors.mayNotCallEngine(function_id, name) : errors.mayNotInvoke(function_id, name)
  if (queue !== undefined && !allows(scope.queues, queue)) return errors.mayNotUseQueue(queue, name)
  return undefined
}

/** A worker's `invokefunction`: checked for what the schema cannot say, its token's scope and its session's limit, then started. */
function call(scope: Scope, { worker_id, message, identity }: Extract<InvocationsEvent, { type: 'invocation.call' }>): void {
  const enqueue = message.action?.type === 'enqueue' ? message.action : undefined
  const problem = enqueue && enqueueProblem(enqueue)
  if (problem) return refuseCall(scope, worker_id, message, errors.invalidMessage(`invokefunction: ${problem}`))
  const forbidden = identity && outOfScope(identity, message.function_id, enqueue?.queue)
  if (forbidden) return refuseCall(scope, worker_id, message, forbidden)
  const { callsPerSession, callsInFlight } = scope.input.limits
  if (message.invocation_id !== undefined && scope.context.waitingFor(worker_id) >= callsPerSession) return refuseCall(scope, worker_id, message, errors.tooManyCalls(callsPerSession))
  // Checked here too (not only in `start`) so that a void call past the limit gets its error frame.
  if (!enqueue && !isEngineFunction(message.function_id) && scope.context.limitedSize >= callsInFlight) return refuseCall(scope, worker_id, message, errors.engineBusy(callsInFlight))
  start(scope, {
    caller: { worker_id, invocation_id: message.invocation_id },
    function_id: message.function_id,
    data: message.data,
    timeout_ms: message.timeout_ms,
    void: message.action?.type === 'void' || message.invocation_id === undefined,
    enqueue,
    metadata: message.metadata,
    traceparent: message.traceparent,
    baggage: message.baggage,
  })
}

export const invocationsLogic = fromTable<CallTable<CallHandle, Parked>, InvocationsEvent, InvocationsInput, InvocationsEmitted, Scope['handles']>({
  // Ids of different engine runs never match: an answer meant for an earlier run is refused.
  context: () => new CallTable<CallHandle, Parked>(Math.random().toString(36).slice(2, 8) + '-'),
  open(scope) {
    const table = scope.context
    // `scope` gets its handles once this returns; the deadline's callback runs later.
    return {
      deadlines: new Deadlines<CallHandle>(({ call }) => {
        if (table.close(call.id)) finish(scope as Scope, call, { error: errors.invocationTimeout(call.function_id, call.timeout_ms) })
      }),
    }
  },
  receive(scope, event) {
    const table = scope.context
    switch (event.type) {
      case 'invocation.call':
        return call(scope, event)
      case 'invocation.start':
        return start(scope, event)
      case 'invocation.result': {
        const answered = table.answeredBy(event.worker_id, event.invocation_id)
        if (!answered) {
          tell(actorsOf(scope.system).session(event.worker_id), {
            type: 'session.reject',
            error: errors.unexpectedResult(event.invocation_id),
            ref: { type: 'invocationresult', id: event.invocation_id },
          })
          return
        }
        // The worker had unregistered the function before the call reached it (a replica
        // stopping gracefully): the call did not run there; it starts again elsewhere.
        if (crossedUnregistration(scope, answered, event.error)) return restart(scope, answered)
        // `"error": null` is no error (serialisers that write every field send it).
        finish(scope, answered, isError(event.error) ? { error: event.error } : { result: event.result })
        return
      }
      case 'worker.gone': {
        const { failed, dropped } = table.workerGone(event.worker_id)
        for (const call of dropped) scope.handles.deadlines.remove(call.handle)
        for (const call of failed) finish(scope, call, { error: errors.workerDisconnected(call.function_id, event.worker) })
        settleParked(scope, event.worker_id)
        if (table.drained) scope.sendBack({ type: 'invocations.drained' })
        return
      }
      case 'function.offered':
        return unpark(scope, event.function_id)
      case 'invocation.skipped':
        scope.emit({ type: 'invocation.skipped', source: event.source, function_id: event.function_id })
        return
      case 'invocations.abort':
        settleAllParked(scope)
        for (const call of table.closeAll()) finish(scope, call, { error: errors.engineStopped(call.function_id) })
        if (table.drained) scope.sendBack({ type: 'invocations.drained' })
        return
      case 'invocations.drain':
        // No worker can connect while the engine stops, so parked calls would wait in vain.
        settleAllParked(scope)
        table.drain()
        if (table.drained) scope.sendBack({ type: 'invocations.drained' })
        return
    }
  },
  close({ context: table, handles }) {
    handles.deadlines.clear()
    for (const parked of table.unparkAll()) {
      clearTimeout(parked.timer)
      const caller = parked.request.caller
      if ('reply' in caller) caller.reply({ error: errors.engineStopped(parked.request.function_id) })
    }
    for (const call of table.closeAll()) {
      const caller = call.handle.request.caller
      if ('reply' in caller) caller.reply({ error: errors.engineStopped(call.function_id) })
    }
  },
})
