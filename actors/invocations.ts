/**
 * The invocations actor (systemId `invocations`): every call in flight, who asked, who
 * serves it and its deadline. It routes an `invokefunction` to a worker offering the
 * function (round robin over replicas) under an engine-made id, routes the answer back to
 * the caller under the caller's own id, and fails calls that time out or whose worker
 * leaves. Its deadlines are timers it owns; stopping the actor clears them all.
 */
import { fromCallback, type AnyActorRef } from 'xstate'
import type { ErrorBody } from '../adapters/messages.js'
import { pickWorker, type CatalogState } from './catalog.js'
import { engineFunctions, type EngineFunctionScope } from './engine-functions.js'

/** How a call ended: a result, or an error object passed on as it came. */
export type Outcome = { result: unknown; error?: undefined } | { error: unknown; result?: undefined }

/** Who asked: a worker session (answered with `invocationresult`), or the engine itself. */
export type Caller = { worker_id: string; invocation_id?: string } | { reply: (outcome: Outcome) => void }

export type InvocationsEvent =
  | {
      type: 'invocation.start'
      caller: Caller
      function_id: string
      data: unknown
      timeout_ms?: number
      /** Fire and forget: no answer is routed back. */
      void?: boolean
      metadata?: unknown
      traceparent?: string
      baggage?: string
    }
  | { type: 'invocation.result'; worker_id: string; invocation_id: string; result?: unknown; error?: unknown }
  | { type: 'worker.gone'; worker_id: string }
  | { type: 'invocations.drain' }
  /** The engine stops now: every call in flight fails for its caller. */
  | { type: 'invocations.abort' }

export interface InvocationsInput {
  defaultTimeoutMs: number
}

interface InFlight {
  caller: Caller
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
export const invocationsLogic = fromCallback<InvocationsEvent, InvocationsInput>(({ input, system, receive, sendBack }) => {
  const inFlight = new Map<string, InFlight>()
  const prefix = Math.random().toString(36).slice(2, 8) + '-'
  let seq = 0
  let draining = false

  const session = (worker_id: string): AnyActorRef | undefined => system.get(`session:${worker_id}`)
  const catalog = (): CatalogState => system.get('catalog').getSnapshot().context

  const answer = (caller: Caller, function_id: string, outcome: Outcome) => {
    if ('reply' in caller) return caller.reply(outcome)
    if (caller.invocation_id === undefined) return
    const message =
      outcome.error !== undefined
        ? { type: 'invocationresult' as const, invocation_id: caller.invocation_id, function_id, error: outcome.error }
        : { type: 'invocationresult' as const, invocation_id: caller.invocation_id, function_id, result: outcome.result }
    session(caller.worker_id)?.send({ type: 'invocation.reply', message })
  }

  const finish = (id: string, call: InFlight, outcome: Outcome) => {
    clearTimeout(call.timer)
    inFlight.delete(id)
    answer(call.caller, call.function_id, outcome)
    if (draining && inFlight.size === 0) sendBack({ type: 'invocations.drained' })
  }

  const runEngineFunction = (event: Extract<InvocationsEvent, { type: 'invocation.start' }>) => {
    const run = engineFunctions[event.function_id]
    const scope: EngineFunctionScope = {
      system,
      caller_worker_id: 'worker_id' in event.caller ? event.caller.worker_id : undefined,
    }
    Promise.resolve()
      .then(() => run(event.data, scope))
      .then(
        (result) => !event.void && answer(event.caller, event.function_id, { result }),
        (err: unknown) =>
          !event.void &&
          answer(event.caller, event.function_id, {
            error: { code: (err as { code?: string }).code ?? 'engine_error', message: (err as Error).message ?? String(err) },
          }),
      )
  }

  receive((event) => {
    switch (event.type) {
      case 'invocation.start': {
        if (Object.hasOwn(engineFunctions, event.function_id)) return runEngineFunction(event)
        const worker_id = pickWorker(catalog(), event.function_id)
        const target = worker_id === undefined ? undefined : session(worker_id)
        if (!target || worker_id === undefined) {
          if (!event.void) answer(event.caller, event.function_id, { error: invocationErrors.functionNotFound(event.function_id) })
          return
        }
        const message = {
          type: 'invokefunction' as const,
          invocation_id: undefined as string | undefined,
          function_id: event.function_id,
          data: event.data,
          metadata: event.metadata,
          traceparent: event.traceparent,
          baggage: event.baggage,
        }
        if (!event.void) {
          const id = prefix + (++seq).toString(36)
          const ms = event.timeout_ms ?? input.defaultTimeoutMs
          const timer = setTimeout(() => {
            const call = inFlight.get(id)
            if (call) finish(id, call, { error: invocationErrors.timeout(call.function_id, ms) })
          }, ms)
          inFlight.set(id, { caller: event.caller, function_id: event.function_id, worker_id, timer })
          message.invocation_id = id
        }
        target.send({ type: 'invocation.deliver', message })
        return
      }
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
        finish(event.invocation_id, call, event.error !== undefined ? { error: event.error } : { result: event.result })
        return
      }
      case 'worker.gone': {
        for (const [id, call] of inFlight) {
          if (call.worker_id === event.worker_id) finish(id, call, { error: invocationErrors.disconnected(call.function_id) })
          else if ('worker_id' in call.caller && call.caller.worker_id === event.worker_id) {
            clearTimeout(call.timer)
            inFlight.delete(id)
          }
        }
        if (draining && inFlight.size === 0) sendBack({ type: 'invocations.drained' })
        return
      }
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
      clearTimeout(call.timer)
      inFlight.delete(id)
      if ('reply' in call.caller) call.caller.reply({ error: invocationErrors.engineStopped(call.function_id) })
    }
  }
})
