/**
 * The invocations actor (systemId `invocations`): every call in flight, who asked, who
 * serves it and its deadline. It routes an `invokefunction` to a worker offering the
 * function (round robin over replicas) under an engine-made id, routes the answer back to
 * the caller under the caller's own id, and fails calls that time out or whose worker
 * leaves. Its deadlines are timers it owns; stopping the actor clears them all.
 *
 * Calls and answers are the hot path, so they do not pass through the session machines:
 * a session's port sends `invocation.call` and `invocation.result` here directly, and
 * the frames for workers leave as emitted `invocation.out` events, which the ports'
 * dispatcher (adapters/session-port.ts) writes to the worker's connection.
 */
import { fromCallback, type AnyActorRef } from 'xstate'
import type { ErrorBody, InboundOf, Outbound } from '../adapters/messages.js'
import { catalogOf } from './catalog.js'
import { engineFunctions, type EngineFunctionScope } from './engine-functions.js'
import { queueNameProblem } from './queue-config.js'

/** How a call ended: a result, or an error object passed on as it came. */
export type Outcome = { result: unknown; error?: undefined } | { error: unknown; result?: undefined }

/** Who asked: a worker session (answered with `invocationresult`), or the engine itself. */
export type Caller = { worker_id: string; invocation_id?: string } | { reply: (outcome: Outcome) => void }

export type InvocationsEvent =
  /** A worker's `invokefunction`, straight from its port. */
  | { type: 'invocation.call'; worker_id: string; message: InboundOf<'invokefunction'> }
  | {
      type: 'invocation.start'
      caller: Caller
      function_id: string
      data: unknown
      timeout_ms?: number
      /** What started the call, for metrics: a worker, or a trigger type. */
      source?: CallSource
      /** Fire and forget: no answer is routed back. */
      void?: boolean
      /** A durable call: stored on this queue and run from there; answered at once with its message id. */
      enqueue?: string
      metadata?: unknown
      traceparent?: string
      baggage?: string
    }
  | { type: 'invocation.result'; worker_id: string; invocation_id: string; result?: unknown; error?: unknown }
  | { type: 'worker.gone'; worker_id: string }
  | { type: 'invocations.drain' }
  /** A trigger skipped a run (e.g. a cron tick while the previous run is in flight): counted, nothing else. */
  | { type: 'invocation.skipped'; source: CallSource; function_id: string }
  /** The engine stops now: every call in flight fails for its caller. */
  | { type: 'invocations.abort' }

export type CallSource = 'worker' | 'http' | 'cron' | 'queue' | 'engine'

/** What the invocations actor emits for whoever watches (metrics). */
export type InvocationsEmitted =
  /** A frame for a worker: a call it serves, or the answer to one it made. */
  | { type: 'invocation.out'; worker_id: string; message: Extract<Outbound, { type: 'invokefunction' | 'invocationresult' }> }
  | { type: 'invocation.ended'; source: CallSource; function_id: string; outcome: string; seconds: number }
  | { type: 'invocation.skipped'; source: CallSource; function_id: string }

/** The outcome label of a call: ok, error, or the engine's own error code. */
export const outcomeOf = (outcome: Outcome): string => {
  if (outcome.error === undefined) return 'ok'
  const code = (outcome.error as { code?: unknown } | null)?.code
  return code === 'invocation_timeout' || code === 'function_not_found' || code === 'worker_disconnected' ? code : 'error'
}

export interface InvocationsInput {
  defaultTimeoutMs: number
}

interface InFlight {
  caller: Caller
  source: CallSource
  started: number
  function_id: string
  worker_id: string
  timer: NodeJS.Timeout
}

/** Error bodies the engine itself produces for calls. */
export const invocationErrors = {
  functionNotFound: (id: string): ErrorBody => ({ code: 'function_not_found', message: `No function registered with ID '${id}'` }),
  timeout: (id: string, ms: number): ErrorBody => ({ code: 'invocation_timeout', message: `Function '${id}' did not answer within ${ms} ms` }),
  disconnected: (id: string): ErrorBody => ({ code: 'worker_disconnected', message: `The worker serving '${id}' disconnected before answering` }),
  engineStopped: (id: string): ErrorBody => ({ code: 'worker_disconnected', message: `The engine stopped before '${id}' answered` }),
}

/** The invocations actor logic. */
export const invocationsLogic = fromCallback<InvocationsEvent, InvocationsInput, InvocationsEmitted>(({ input, system, receive, sendBack, emit }) => {
  const inFlight = new Map<string, InFlight>()
  const prefix = Math.random().toString(36).slice(2, 8) + '-'
  let seq = 0
  let draining = false

  const session = (worker_id: string): AnyActorRef | undefined => system.get(`session:${worker_id}`)
  /** Round robin over replicas: how many calls each function id has had. */
  const turns = new Map<string, number>()
  const pickWorker = (function_id: string): string | undefined => {
    const workers = catalogOf(system).functions[function_id]?.workers
    if (!workers) return undefined
    if (workers.length === 1) return workers[0]
    const turn = turns.get(function_id) ?? 0
    turns.set(function_id, turn + 1 >= workers.length ? 0 : turn + 1)
    return workers[turn % workers.length]
  }

  const answer = (caller: Caller, function_id: string, outcome: Outcome) => {
    if ('reply' in caller) return caller.reply(outcome)
    if (caller.invocation_id === undefined) return
    const message =
      outcome.error !== undefined && outcome.error !== null
        ? { type: 'invocationresult' as const, invocation_id: caller.invocation_id, function_id, error: outcome.error }
        : { type: 'invocationresult' as const, invocation_id: caller.invocation_id, function_id, result: outcome.result }
    emit({ type: 'invocation.out', worker_id: caller.worker_id, message })
  }

  /** worker id → ids of the calls it serves or waits for, so a leaving worker costs only its own calls. */
  const byWorker = new Map<string, Set<string>>()
  const index = (worker_id: string, id: string) => {
    const ids = byWorker.get(worker_id)
    if (ids) ids.add(id)
    else byWorker.set(worker_id, new Set([id]))
  }
  const unindex = (worker_id: string, id: string) => {
    const ids = byWorker.get(worker_id)
    if (ids && ids.delete(id) && ids.size === 0) byWorker.delete(worker_id)
  }
  const forget = (id: string, call: InFlight) => {
    clearTimeout(call.timer)
    inFlight.delete(id)
    unindex(call.worker_id, id)
    if ('worker_id' in call.caller) unindex(call.caller.worker_id, id)
  }

  const sourceOf = (event: { caller: Caller; source?: CallSource }): CallSource => event.source ?? ('worker_id' in event.caller ? 'worker' : 'engine')
  const ended = (source: CallSource, function_id: string, outcome: Outcome, started: number) =>
    emit({ type: 'invocation.ended', source, function_id, outcome: outcomeOf(outcome), seconds: (performance.now() - started) / 1000 })

  const finish = (id: string, call: InFlight, outcome: Outcome) => {
    forget(id, call)
    ended(call.source, call.function_id, outcome, call.started)
    answer(call.caller, call.function_id, outcome)
    if (draining && inFlight.size === 0) sendBack({ type: 'invocations.drained' })
  }

  const runEngineFunction = (event: Extract<InvocationsEvent, { type: 'invocation.start' }>) => {
    const run = engineFunctions[event.function_id]
    const scope: EngineFunctionScope = {
      system,
      caller_worker_id: 'worker_id' in event.caller ? event.caller.worker_id : undefined,
    }
    const started = performance.now()
    const settle = (outcome: Outcome) => {
      ended(sourceOf(event), event.function_id, outcome, started)
      if (!event.void) answer(event.caller, event.function_id, outcome)
    }
    Promise.resolve()
      .then(() => run(event.data, scope))
      .then(
        (result) => settle({ result }),
        (err: unknown) =>
          settle({ error: { code: (err as { code?: string } | null)?.code ?? 'engine_error', message: (err as Error | null)?.message ?? String(err) } }),
      )
  }

  const enqueueCall = (event: Extract<InvocationsEvent, { type: 'invocation.start' }>, queue_name: string) => {
    const provider = system.get('provider:queue') as AnyActorRef | undefined
    if (!provider) {
      if (!event.void) answer(event.caller, event.function_id, { error: { code: 'queue_unavailable', message: 'This engine runs no queue store' } })
      return
    }
    provider.send({
      type: 'queue.send',
      queue_name,
      body: event.data ?? null,
      function_id: event.function_id,
      reply: (r: { result: { message_id: string } } | { error: ErrorBody }) => {
        if (event.void) return
        // `messageReceiptId` is what iii-sdk's documentation promises; `message_id` is ours.
        answer(event.caller, event.function_id, 'error' in r ? r : { result: { message_id: r.result.message_id, messageReceiptId: r.result.message_id } })
      },
    })
  }

  const start = (event: Extract<InvocationsEvent, { type: 'invocation.start' }>) => {
    if (event.enqueue !== undefined) return enqueueCall(event, event.enqueue)
    if (Object.hasOwn(engineFunctions, event.function_id)) return runEngineFunction(event)
    const worker_id = pickWorker(event.function_id)
    if (worker_id === undefined || !session(worker_id)) {
      const outcome = { error: invocationErrors.functionNotFound(event.function_id) }
      ended(sourceOf(event), event.function_id, outcome, performance.now())
      if (!event.void) answer(event.caller, event.function_id, outcome)
      return
    }
    const message: Extract<Outbound, { type: 'invokefunction' }> = { type: 'invokefunction', function_id: event.function_id, data: event.data }
    if (event.metadata !== undefined) message.metadata = event.metadata
    if (event.traceparent !== undefined) message.traceparent = event.traceparent
    if (event.baggage !== undefined) message.baggage = event.baggage
    if (!event.void) {
      const id = prefix + (++seq).toString(36)
      const ms = event.timeout_ms ?? input.defaultTimeoutMs
      const timer = setTimeout(() => {
        const call = inFlight.get(id)
        if (call) finish(id, call, { error: invocationErrors.timeout(call.function_id, ms) })
      }, ms)
      inFlight.set(id, { caller: event.caller, source: sourceOf(event), started: performance.now(), function_id: event.function_id, worker_id, timer })
      index(worker_id, id)
      if ('worker_id' in event.caller) index(event.caller.worker_id, id)
      message.invocation_id = id
    }
    emit({ type: 'invocation.out', worker_id, message })
  }

  /** A worker's `invokefunction`: checked for what the schema cannot say, then started. */
  const call = ({ worker_id, message }: Extract<InvocationsEvent, { type: 'invocation.call' }>) => {
    const queue = message.action?.type === 'enqueue' ? message.action.queue : undefined
    const badQueue = queue === undefined ? undefined : queueNameProblem('action.queue', queue)
    if (badQueue) {
      if (message.invocation_id === undefined) return
      const error = { code: 'invalid_message', message: `invokefunction: ${badQueue}` }
      emit({ type: 'invocation.out', worker_id, message: { type: 'invocationresult', invocation_id: message.invocation_id, function_id: message.function_id, error } })
      return
    }
    start({
      type: 'invocation.start',
      caller: { worker_id, invocation_id: message.invocation_id },
      function_id: message.function_id,
      data: message.data,
      timeout_ms: message.timeout_ms,
      void: message.action?.type === 'void' || message.invocation_id === undefined,
      enqueue: queue,
      metadata: message.metadata,
      traceparent: message.traceparent,
      baggage: message.baggage,
    })
  }

  receive((event) => {
    switch (event.type) {
      case 'invocation.call':
        return call(event)
      case 'invocation.start':
        return start(event)
      case 'invocation.result': {
        const call = inFlight.get(event.invocation_id)
        if (!call || call.worker_id !== event.worker_id) {
          session(event.worker_id)?.send({
            type: 'session.reject',
            error: {
              code: 'invalid_message',
              message: `No invocation '${event.invocation_id}' is awaiting a result from this worker (unknown, already answered or timed out)`,
            },
            ref: { type: 'invocationresult', id: event.invocation_id },
          })
          return
        }
        // `"error": null` is no error (serialisers that write every field send it).
        finish(event.invocation_id, call, event.error !== undefined && event.error !== null ? { error: event.error } : { result: event.result })
        return
      }
      case 'worker.gone': {
        for (const id of byWorker.get(event.worker_id) ?? []) {
          const call = inFlight.get(id)
          if (!call) continue
          if (call.worker_id === event.worker_id) finish(id, call, { error: invocationErrors.disconnected(call.function_id) })
          else forget(id, call)
        }
        byWorker.delete(event.worker_id)
        if (draining && inFlight.size === 0) sendBack({ type: 'invocations.drained' })
        return
      }
      case 'invocation.skipped':
        emit({ type: 'invocation.skipped', source: event.source, function_id: event.function_id })
        return
      case 'invocations.abort':
        for (const [id, call] of inFlight) finish(id, call, { error: invocationErrors.engineStopped(call.function_id) })
        return
      case 'invocations.drain':
        draining = true
        if (inFlight.size === 0) sendBack({ type: 'invocations.drained' })
        return
    }
  })

  return () => {
    for (const [id, call] of inFlight) {
      forget(id, call)
      if ('reply' in call.caller) call.caller.reply({ error: invocationErrors.engineStopped(call.function_id) })
    }
  }
})
