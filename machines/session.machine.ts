/**
 * One worker connection. The session validates nothing itself (the edge did) and keeps no
 * socket: it turns events into changes of the catalog and trigger registrations, and
 * emits `outbound` messages for its transport to write (calls and their answers bypass
 * it: see actors/invocations.ts). Its children are one actor
 * per trigger type it uses (`session:<id>:<type>`), which holds that type's registration
 * machines (`trigger:<id>:<trigger>`, see actors/trigger-registrations.ts); stopping the
 * session stops them, and that releases all they held.
 */
import { assign, emit, enqueueActions, sendParent, sendTo, setup, type AnyActorRef, type ActorSystem } from 'xstate'
import type { ErrorBody, Outbound } from '../adapters/messages.js'
import type { InvalidFrameEvent, SessionWireEvent as WireEvent } from '../adapters/events.js'
import { catalogOf } from '../actors/catalog.js'
import { engineFunctions } from '../actors/engine-functions.js'
import { parseForwardedId, remoteTriggerTypeLogic } from '../actors/remote-trigger-type.js'
import { builtinTriggerTypes, ENGINE_PROVIDER, isBuiltin } from '../actors/builtin-trigger-types.js'
import { triggerActorId, typeActorId } from './trigger.machine.js'

export interface SessionInput {
  worker_id: string
  /** SHA-256 of the token handed to the worker in `workerregistered`; the token itself is never kept. */
  reattach_hash: string
  registrationTimeoutMs: number
}

/** Events the engine's other actors send a session. */
export type SessionInternalEvent =
  | { type: 'session.start'; reattach_token: string }
  | { type: 'session.close'; reason?: string }
  | { type: 'session.reject'; error: ErrorBody; ref?: { type?: string; id?: string } }
  | { type: 'provider.forward'; message: Extract<Outbound, { type: 'registertrigger' }> }
  | { type: 'provider.unforward'; message: Extract<Outbound, { type: 'unregistertrigger' }> }
  | { type: 'provider.lost'; trigger_type: string; gone: boolean }
  | { type: 'provider.available'; trigger_type: string }
  | { type: 'trigger.settled'; result: Extract<Outbound, { type: 'triggerregistrationresult' }> }
  | { type: 'session.log'; level: 'info' | 'warn'; msg: string; data: Record<string, unknown> }

export type SessionEvent = WireEvent | InvalidFrameEvent | SessionInternalEvent

/** What a session emits: frames for its transport, log records, and its end. */
export type SessionEmitted =
  | { type: 'outbound'; message: Outbound }
  | { type: 'log'; level: 'info' | 'warn'; msg: string; data: Record<string, unknown> }
  | { type: 'ended'; reason: string }


/** Answers a frame with an error frame and logs it, once. */
function refuse(enqueue: { emit: (event: SessionEmitted) => void }, worker_id: string, error: ErrorBody, ref?: { type?: string; id?: string }): void {
  enqueue.emit({ type: 'outbound', message: ref ? { type: 'error', error, ref } : { type: 'error', error } })
  enqueue.emit({ type: 'log', level: 'warn', msg: 'error frame', data: { worker_id, error, ref } })
}
const childrenOf = (self: AnyActorRef) => self.getSnapshot().children as Record<string, AnyActorRef | undefined>

export const sessionMachine = setup({
  types: {
    input: {} as SessionInput,
    context: {} as SessionInput,
    events: {} as SessionEvent,
    emitted: {} as SessionEmitted,
  },
  actors: { ...builtinTriggerTypes, remoteTriggerType: remoteTriggerTypeLogic },
  actions: {
    /** Writes one message to the worker. */
    send: emit((_, params: { message: Outbound }) => ({ type: 'outbound' as const, message: params.message })),
    /** Answers a frame that could not be processed, and logs it once. */
    reject: enqueueActions(({ enqueue, context }, params: { error: ErrorBody; ref?: { type?: string; id?: string } }) => {
      refuse(enqueue, context.worker_id, params.error, params.ref)
    }),
    joinCatalog: sendTo(({ system }) => system.get('catalog') as AnyActorRef, ({ context }) => ({ type: 'worker.add' as const, worker_id: context.worker_id, connected_at: new Date().toISOString() })),
    welcome: emit(({ context, event }) => ({
      type: 'outbound' as const,
      message: { type: 'workerregistered' as const, worker_id: context.worker_id, reattach_token: (event as Extract<SessionEvent, { type: 'session.start' }>).reattach_token },
    })),
    log: emit(({ event }) => {
      const { level, msg, data } = event as Extract<SessionInternalEvent, { type: 'session.log' }>
      return { type: 'log' as const, level, msg, data }
    }),
    logOpened: emit(({ context }) => ({ type: 'log' as const, level: 'info' as const, msg: 'session opened', data: { worker_id: context.worker_id } })),

    answerInvalidFrame: enqueueActions(({ enqueue, event, context, system }) => {
      const { failure } = event as InvalidFrameEvent
      if (failure.echo && failure.ref?.id !== undefined) {
        const result = { type: 'triggerregistrationresult' as const, id: failure.ref.id, ...failure.echo, error: failure.error }
        enqueue.emit({ type: 'outbound', message: result })
        enqueue.emit({ type: 'log', level: 'warn', msg: 'trigger registration refused', data: { worker_id: context.worker_id, error: failure.error, ref: failure.ref } })
        return
      }
      refuse(enqueue, context.worker_id, failure.error, failure.ref)
      // A malformed answer still ends the call, so its caller is not left waiting.
      if (failure.ref?.type === 'invocationresult' && failure.ref.id !== undefined) {
        enqueue.sendTo(system.get('invocations') as AnyActorRef, {
          type: 'invocation.result',
          worker_id: context.worker_id,
          invocation_id: failure.ref.id,
          error: { code: 'invalid_result', message: `The serving worker's answer was refused: ${failure.error.message}` },
        })
      }
    }),

    admitFunction: enqueueActions(({ enqueue, event, context, system }) => {
      const { message } = event as Extract<WireEvent, { type: 'function.register' }>
      const mine = catalogOf(system).workers[context.worker_id]
      if (Object.hasOwn(engineFunctions, message.id) || (mine && message.id in mine.functions)) {
        const reason = Object.hasOwn(engineFunctions, message.id) ? 'is an engine function' : 'is already registered by this worker'
        refuse(enqueue, context.worker_id, { code: 'duplicate_function_id', message: `Function '${message.id}' ${reason}` }, { type: message.type, id: message.id })
        return
      }
      const { description, request_format, response_format, metadata } = message
      enqueue.sendTo(system.get('catalog') as AnyActorRef, {
        type: 'function.add',
        worker_id: context.worker_id,
        function_id: message.id,
        info: { description, request_format, response_format, metadata },
      })
    }),
    removeFunction: enqueueActions(({ enqueue, event, context, system }) => {
      const { message } = event as Extract<WireEvent, { type: 'function.unregister' }>
      if (!(message.id in (catalogOf(system).workers[context.worker_id]?.functions ?? {}))) {
        refuse(enqueue, context.worker_id, { code: 'function_not_found', message: `No function registered with ID '${message.id}' by this worker` }, { type: message.type, id: message.id })
        return
      }
      enqueue.sendTo(system.get('catalog') as AnyActorRef, { type: 'function.remove', worker_id: context.worker_id, function_id: message.id })
    }),

    admitTriggerType: enqueueActions(({ enqueue, event, context, system }) => {
      const { message } = event as Extract<WireEvent, { type: 'triggerType.register' }>
      const holder = catalogOf(system).triggerTypes[message.id]
      if (holder) {
        const by = holder.worker_id === ENGINE_PROVIDER ? 'by the engine' : holder.worker_id === context.worker_id ? 'by this worker' : `by worker '${holder.worker_id}'`
        refuse(enqueue, context.worker_id, { code: 'trigger_type_exists', message: `Trigger type '${message.id}' is already provided ${by}` }, { type: message.type, id: message.id })
        return
      }
      enqueue.sendTo(system.get('catalog') as AnyActorRef, { type: 'triggerType.add', worker_id: context.worker_id, trigger_type: message.id, description: message.description })
      enqueue.sendParent({ type: 'triggerType.available', trigger_type: message.id })
    }),
    removeTriggerType: enqueueActions(({ enqueue, event, context, system }) => {
      const { message } = event as Extract<WireEvent, { type: 'triggerType.unregister' }>
      if (catalogOf(system).triggerTypes[message.id]?.worker_id !== context.worker_id) {
        refuse(enqueue, context.worker_id, { code: 'trigger_type_not_found', message: `This worker does not provide trigger type '${message.id}'` }, { type: message.type, id: message.id })
        return
      }
      enqueue.sendTo(system.get('catalog') as AnyActorRef, { type: 'triggerType.remove', worker_id: context.worker_id, trigger_type: message.id })
      enqueue.sendParent({ type: 'triggerType.lost', trigger_type: message.id, gone: false })
    }),

    /** The checks of the reference page, in its order; the first that fails is the answer. */
    admitTrigger: enqueueActions(({ enqueue, event, context, system, self }) => {
      const { message } = event as Extract<WireEvent, { type: 'trigger.register' }>
      const { id, trigger_type, function_id } = message
      const catalog = catalogOf(system)
      const refuse = (code: string, text: string) => {
        const error = { code, message: text }
        enqueue.emit({ type: 'outbound', message: { type: 'triggerregistrationresult', id, trigger_type, function_id, error } })
        enqueue.emit({ type: 'log', level: 'info', msg: 'trigger registration refused', data: { worker_id: context.worker_id, trigger_id: id, trigger_type, function_id, error } })
      }
      if (system.get(triggerActorId(context.worker_id, id))) return refuse('duplicate_trigger_id', `A trigger with ID '${id}' is already registered`)
      const provider = catalog.triggerTypes[trigger_type]?.worker_id
      const builtin = provider === ENGINE_PROVIDER && isBuiltin(trigger_type)
      if (provider === undefined) return refuse('trigger_type_not_found', `No trigger type registered with ID '${trigger_type}'`)
      if (!catalog.functions[function_id] && !Object.hasOwn(engineFunctions, function_id)) {
        return refuse('function_not_found', `No function registered with ID '${function_id}'`)
      }
      const typeId = typeActorId(context.worker_id, trigger_type)
      if (!childrenOf(self)[typeId]) {
        enqueue.spawnChild((builtin ? trigger_type : 'remoteTriggerType') as 'remoteTriggerType', { id: typeId, systemId: typeId, input: { worker_id: context.worker_id, trigger_type } })
      }
      enqueue.sendTo(typeId, {
        type: 'trigger.register',
        input: {
          worker_id: context.worker_id,
          id,
          trigger_type,
          function_id,
          config: message.config,
          metadata: message.metadata,
          registrationTimeoutMs: context.registrationTimeoutMs,
        },
      })
    }),
    reportTrigger: enqueueActions(({ enqueue, event, context }) => {
      const { result } = event as Extract<SessionInternalEvent, { type: 'trigger.settled' }>
      enqueue.emit({ type: 'outbound', message: result })
      const msg = result.error ? 'trigger registration refused' : 'trigger registered'
      enqueue.emit({ type: 'log', level: 'info', msg, data: { worker_id: context.worker_id, trigger_id: result.id, trigger_type: result.trigger_type, function_id: result.function_id, error: result.error } })
    }),
    removeTrigger: enqueueActions(({ enqueue, event, context, system }) => {
      const { message } = event as Extract<WireEvent, { type: 'trigger.unregister' }>
      const child = system.get(triggerActorId(context.worker_id, message.id)) as AnyActorRef | undefined
      const type = child?.getSnapshot().context.trigger_type
      if (!child || (message.trigger_type !== undefined && message.trigger_type !== type)) {
        const of = message.trigger_type !== undefined ? ` of type '${message.trigger_type}'` : ''
        refuse(enqueue, context.worker_id, { code: 'trigger_not_found', message: `No trigger with ID '${message.id}'${of} is registered by this worker` }, { type: message.type, id: message.id })
        return
      }
      enqueue.sendTo(child, { type: 'trigger.unregister' })
    }),
    /** A provider change concerns the child for that type, which passes it to its registrations. */
    relayProviderChange: ({ event, self, context }) => {
      const change = event as Extract<SessionInternalEvent, { type: 'provider.lost' | 'provider.available' }>
      childrenOf(self)[typeActorId(context.worker_id, change.trigger_type)]?.send(change)
    },

    deliver: emit(({ event }) => ({ type: 'outbound' as const, message: (event as { message: Outbound }).message })),

    /**
     * A provider's verdict goes to the registering session's child for that type. The
     * forwarded id names the registering worker and trigger (see remote-trigger-type.ts);
     * that child checks the verdict came from the provider it asked.
     */
    relayVerdict: enqueueActions(({ enqueue, event, context, system }) => {
      const { message } = event as Extract<WireEvent, { type: 'trigger.verdict' }>
      const origin = parseForwardedId(message.id)
      const trigger = origin && (system.get(triggerActorId(origin.worker_id, origin.trigger_id)) as AnyActorRef | undefined)
      const target = trigger && (system.get(typeActorId(origin.worker_id, trigger.getSnapshot().context.trigger_type)) as AnyActorRef | undefined)
      if (!target) {
        refuse(enqueue, context.worker_id, { code: 'invalid_message', message: `No trigger registration '${message.id}' is awaiting a verdict from this worker` }, { type: message.type, id: message.id })
        return
      }
      enqueue.sendTo(target, { type: 'provider.verdict', forwarded_id: message.id, from: context.worker_id, error: message.error })
    }),

    pong: emit({ type: 'outbound' as const, message: { type: 'pong' as const } }),
    retirePrevious: sendParent(({ event, context }) => {
      const { message } = event as Extract<WireEvent, { type: 'session.reattach' }>
      return { type: 'session.retire' as const, by: context.worker_id, worker_id: message.previous_worker_id ?? '', reattach_token: message.reattach_token ?? '' }
    }),

    /** Everything the session registered leaves the catalog; its calls end; providers' users park. */
    releaseRegistrations: enqueueActions(({ enqueue, context, system }) => {
      const mine = catalogOf(system).workers[context.worker_id]
      for (const trigger_type in mine?.trigger_types ?? {}) enqueue.sendParent({ type: 'triggerType.lost', trigger_type, gone: true })
      enqueue.sendTo(system.get('catalog') as AnyActorRef, { type: 'worker.remove', worker_id: context.worker_id })
      enqueue.sendTo(system.get('invocations') as AnyActorRef, { type: 'worker.gone', worker_id: context.worker_id })
    }),
    announceEnd: enqueueActions(({ enqueue, event, context }) => {
      const reason = event.type === 'session.close' ? (event.reason ?? 'closed') : 'closed'
      enqueue.emit({ type: 'log', level: 'info', msg: 'session closed', data: { worker_id: context.worker_id, reason } })
      enqueue.emit({ type: 'ended', reason })
    }),
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({ ...input }),
  initial: 'connecting',
  states: {
    connecting: {
      on: {
        'session.start': { target: 'open', actions: ['joinCatalog', 'welcome', 'logOpened'] },
        'session.close': 'closed',
      },
    },
    open: {
      on: {
        'frame.invalid': { actions: 'answerInvalidFrame' },
        'session.reject': { actions: { type: 'reject', params: ({ event }) => ({ error: event.error, ref: event.ref }) } },
        'function.register': { actions: 'admitFunction' },
        'function.unregister': { actions: 'removeFunction' },
        'triggerType.register': { actions: 'admitTriggerType' },
        'triggerType.unregister': { actions: 'removeTriggerType' },
        'trigger.register': { actions: 'admitTrigger' },
        'trigger.unregister': { actions: 'removeTrigger' },
        'trigger.settled': { actions: 'reportTrigger' },
        'session.log': { actions: 'log' },
        'provider.lost': { actions: 'relayProviderChange' },
        'provider.available': { actions: 'relayProviderChange' },
        'provider.forward': { actions: 'deliver' },
        'provider.unforward': { actions: 'deliver' },
        'trigger.verdict': { actions: 'relayVerdict' },
        'session.ping': { actions: 'pong' },
        'session.pong': {},
        'session.reattach': { actions: 'retirePrevious' },
        'session.close': 'closed',
      },
    },
    closed: {
      type: 'final',
      entry: ['releaseRegistrations', 'announceEnd'],
    },
  },
})
