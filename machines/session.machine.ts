/**
 * One worker connection: its registration lifecycle. connecting → open → closed.
 *
 * The session decides every registration the worker asks for, with named guards in the
 * order the protocol gives them, and records what it accepts in the catalog. What a
 * decision needs to know about the rest of the engine (is the function offered anywhere,
 * who provides a trigger type) a `lookUp…` action reads from the catalog and raises as a
 * `….checked` event; the guards then decide on the facts that event carries. So every
 * decision is a guard, in order, in the generated diagram (diagrams/session.md).
 *
 * `registertrigger` is checked as the reference page says, first failure wins:
 * `triggerIdTaken` → `triggerTypeUnknown` → `functionUnknown`; then the session's child for
 * the trigger type (spawned on first use: built-in or worker-provided) takes the
 * registration and validates its config, and its outcome comes back as `trigger.settled`.
 *
 * The session keeps no socket: it emits `outbound` messages for its transport to write.
 * Calls and their answers bypass it (actors/invocations.ts). Closing ends the session's
 * calls and leaves the catalog; the engine then stops it, which stops its children, and
 * that releases everything they held (routes, schedules, consumers, forwarded triggers).
 */
import { and, assign, assertEvent, emit, enqueueActions, not, raise, sendParent, setup } from 'xstate'
import type { ErrorBody, Outbound, RegistrationResult } from '../protocol/messages.js'
import { errors } from '../protocol/errors.js'
import { ENGINE_FUNCTIONS, isEngineFunction } from '../protocol/engine-functions.js'
import { describeWorker, ENGINE_PROVIDER, forwardedOrigin, isBuiltin, isKnown, providerOf, replacedBy, type BuiltinTriggerType, type CatalogState } from '../core/catalog.js'
import { allows, mayCall, type Scope } from '../core/auth.js'
import { queuesNamed } from '../core/queue-config.js'
import { hashToken, sameHash } from '../core/reattach-token.js'
import { closest } from '../core/closest.js'
import type { SessionContext, SessionEmitted, SessionEvent, SessionInput, TriggerFacts } from './contracts.js'
import { actorIds, actorsOf, catalogOf, offeredInCluster, tell, typeHolderInCluster, typesInCluster } from './system.js'
import { slot } from './slot.js'

type Ref = { type?: string; id?: string }

/** A refusal answered with a `triggerregistrationresult` echoing the request. */
const refusal = (message: { id: string; trigger_type: string; function_id: string }, error: ErrorBody): RegistrationResult => ({
  type: 'triggerregistrationresult',
  id: message.id,
  trigger_type: message.trigger_type,
  function_id: message.function_id,
  error,
})

type Ev<T extends SessionEvent['type']> = Extract<SessionEvent, { type: T }>

/** An action that writes one frame to the worker, made from the event (of type `type`) it handles. */
const write = <T extends SessionEvent['type']>(type: T | T[], frame: (event: Ev<T>, context: SessionContext) => Outbound) =>
  emit<SessionContext, SessionEvent, undefined, SessionEvent, SessionEmitted>(({ event, context }) => ({ type: 'outbound', message: frame(narrow(event, type), context) }))

/** `event` as an event of type `type`; throws (XState's `assertEvent`) if it is not one. */
function narrow<T extends SessionEvent['type']>(event: SessionEvent, type: T | T[]): Ev<T> {
  assertEvent(event, type)
  return event as SessionEvent as Ev<T>
}

const errorFrame = (error: ErrorBody, ref?: Ref): Outbound => (ref ? { type: 'error', error, ref } : { type: 'error', error })

/** The ref of a wire message that names something by `id`. */
const refOf = (message: { type: string; id: string }): Ref => ({ type: message.type, id: message.id })

/** Why a session closed, for its log and its transport. */
const closeReason = (event: SessionEvent, context: SessionContext): string =>
  event.type === 'session.close'
    ? (event.reason ?? 'closed')
    : event.type === 'session.retire'
      ? `replaced by ${event.by} (reattach)`
      : event.type === 'replacement.checked'
        ? `replaced by ${context.successor} (reattach)`
      : (event.type as string).startsWith('xstate.after')
        ? `held ${context.reconnectGraceMs} ms after its connection was lost; no reattach`
        : 'closed'

/** The sizes of a worker's entry in the catalog (zero when it has none). */
const sizesOf = (catalog: CatalogState, worker_id: string) => catalog.workers[worker_id]?.sizes ?? { functions: 0, trigger_types: 0, triggers: 0 }

/** The token's name, for refusals. */
const who = (context: SessionContext) => context.identity?.name ?? ''

/** The first queue a trigger names that `scope` does not allow, if any. */
const queueOutOfScope = (scope: Scope, message: { trigger_type: string; config?: unknown }) => queuesNamed(message.trigger_type, message.config).find((q) => !allows(scope.queues, q))

export const sessionMachine = setup({
  types: {
    input: {} as SessionInput,
    context: {} as SessionContext,
    events: {} as SessionEvent,
    emitted: {} as SessionEmitted,
  },
  actors: {
    http: slot('session', 'http'),
    cron: slot('session', 'cron'),
    queue: slot('session', 'queue'),
    subscribe: slot('session', 'subscribe'),
    'durable:subscriber': slot('session', 'durable:subscriber'),
    remoteTriggerType: slot('session', 'remoteTriggerType'),
  },
  delays: { reconnectGrace: ({ context }) => context.reconnectGraceMs },
  guards: {
    // A frame that failed decoding
    isMalformedRegistration: ({ event }) => {
      assertEvent(event, 'frame.invalid')
      return event.failure.echo !== undefined && event.failure.ref?.id !== undefined
    },
    isMalformedResult: ({ event }) => {
      assertEvent(event, 'frame.invalid')
      return event.failure.ref?.type === 'invocationresult' && event.failure.ref.id !== undefined
    },
    // registerfunction / unregisterfunction
    isEngineFunctionId: ({ event }) => {
      assertEvent(event, 'function.checked')
      return isEngineFunction(event.message.id)
    },
    mayNotRegisterFunction: ({ context, event }) => {
      assertEvent(event, 'function.checked')
      return context.identity !== undefined && !allows(context.identity.scope.register, event.message.id)
    },
    functionLimitReached: ({ event }) => {
      assertEvent(event, 'function.checked')
      return event.full
    },
    functionIsMine: ({ event }) => {
      assertEvent(event, ['function.checked', 'functionRemoval.checked'])
      return event.mine
    },
    // registertriggertype / unregistertriggertype
    triggerTypeProvided: ({ event }) => {
      assertEvent(event, 'triggerType.checked')
      return event.provider !== undefined
    },
    triggerTypeIsMine: ({ context, event }) => {
      assertEvent(event, ['triggerType.checked', 'triggerTypeRemoval.checked'])
      return event.provider === context.worker_id
    },
    mayNotProvideTriggerTypes: ({ context }) => context.identity !== undefined && !context.identity.scope.provide_trigger_types,
    triggerTypeLimitReached: ({ event }) => {
      assertEvent(event, 'triggerType.checked')
      return event.full
    },
    // registertrigger: the reference page's checks, then which child takes it
    triggerIdTaken: ({ event }) => {
      assertEvent(event, 'trigger.checked')
      return event.facts.idTaken
    },
    mayNotBindTriggerType: ({ context, event }) => {
      assertEvent(event, 'trigger.checked')
      return context.identity !== undefined && !allows(context.identity.scope.trigger_types, event.message.trigger_type)
    },
    mayNotBindFunction: ({ context, event }) => {
      assertEvent(event, 'trigger.checked')
      return context.identity !== undefined && !event.facts.functionMine && !mayCall(context.identity.scope, event.message.function_id)
    },
    /** The trigger binds one of the engine's own functions (`engine::…`), which its refusal names as such. */
    bindsEngineFunction: ({ event }) => {
      assertEvent(event, 'trigger.checked')
      return isEngineFunction(event.message.function_id)
    },
    /** A queue trigger uses its queues by name: the scope must allow each (`queues`). */
    mayNotUseQueue: ({ context, event }) => {
      assertEvent(event, 'trigger.checked')
      return context.identity !== undefined && queueOutOfScope(context.identity.scope, event.message) !== undefined
    },
    triggerTypeUnknown: ({ event }) => {
      assertEvent(event, 'trigger.checked')
      return event.facts.provider === undefined
    },
    functionUnknown: ({ event }) => {
      assertEvent(event, 'trigger.checked')
      return !event.facts.functionKnown
    },
    triggerLimitReached: ({ event }) => {
      assertEvent(event, 'trigger.checked')
      return event.facts.full
    },
    typeChildMissing: ({ event }) => {
      assertEvent(event, 'trigger.checked')
      return !event.facts.hasTypeChild
    },
    builtinType: ({ event }) => {
      assertEvent(event, 'trigger.checked')
      return event.facts.provider === ENGINE_PROVIDER && isBuiltin(event.message.trigger_type)
    },
    // unregistertrigger
    triggerNotRegistered: ({ event }) => {
      assertEvent(event, 'triggerRemoval.checked')
      const { registered_type, message } = event
      return registered_type === undefined || (message.trigger_type !== undefined && message.trigger_type !== registered_type)
    },
    // A provider's verdict on a forwarded registration
    verdictUnexpected: ({ event }) => {
      assertEvent(event, 'verdict.checked')
      return event.origin === undefined
    },
    /** In a cluster: the registration came from a worker of another engine. */
    verdictForAnotherEngine: ({ event }) => {
      assertEvent(event, 'verdict.checked')
      return event.origin?.engine_id !== undefined
    },
    /** In a cluster: the type whose claim another engine won is still this worker's here. */
    revokedTypeIsMine: ({ event }) => {
      assertEvent(event, 'revocation.checked')
      return event.mine
    },
    // reattach
    reattachesNothing: ({ context, event }) => {
      assertEvent(event, 'session.reattach')
      const previous = event.message.previous_worker_id
      return previous === undefined || previous === context.worker_id
    },
    /** This session reattached in place of a held one, which waits to hear what it registers. */
    hasPredecessor: ({ context }) => context.predecessor !== undefined,
    reattachTokenMatches: ({ context, event }) => {
      assertEvent(event, 'session.retire')
      return sameHash(context.reattach_hash, hashToken(event.reattach_token))
    },
    replaced: ({ event }) => {
      assertEvent(event, 'replacement.checked')
      return event.replaced
    },
    // closing
    holdsOnReconnect: ({ context }) => context.reconnectGraceMs > 0,
    connectionLostAndHeld: ({ context, event }) => {
      assertEvent(event, 'session.close')
      return event.lost === true && context.reconnectGraceMs > 0
    },
  },
  actions: {
    // ----- Opening
    joinCatalog: ({ context, system }) => tell(actorsOf(system).catalog(), { type: 'worker.add', worker_id: context.worker_id, connected_at: new Date().toISOString() }),
    logOpened: emit(({ context }) => ({
      type: 'log' as const,
      level: 'info' as const,
      msg: 'session opened',
      data: context.identity ? { worker_id: context.worker_id, token: context.identity.name } : { worker_id: context.worker_id },
    })),

    // ----- Frames that could not be processed (the transport logs every error frame it writes)
    refuseMalformedRegistration: write('frame.invalid', ({ failure }) => refusal({ id: failure.ref!.id!, ...failure.echo! }, failure.error)),
    refuseFrame: write('frame.invalid', ({ failure }) => errorFrame(failure.error, failure.ref)),
    /** A malformed answer still ends its call, so the caller is not left waiting for the timeout. */
    failMalformedResult: ({ event, context, system }) => {
      assertEvent(event, 'frame.invalid')
      tell(actorsOf(system).invocations(), {
        type: 'invocation.result',
        worker_id: context.worker_id,
        invocation_id: event.failure.ref!.id!,
        error: errors.resultRefused(event.failure.error.message ?? event.failure.error.code),
      })
    },
    /** Another actor refused a frame of this worker (an unknown invocation id, a verdict nobody awaits, a reattach). */
    passOnRefusal: write('session.reject', (event) => errorFrame(event.error, event.ref)),

    // ----- Functions
    lookUpFunction: raise(({ context, event, system }) => {
      assertEvent(event, 'function.register')
      const catalog = catalogOf(system)
      return {
        type: 'function.checked' as const,
        message: event.message,
        mine: event.message.id in (catalog.workers[context.worker_id]?.functions ?? {}),
        full: sizesOf(catalog, context.worker_id).functions >= context.limits.functionsPerSession,
      }
    }),
    refuseReservedFunctionId: write('function.checked', ({ message }) => errorFrame(errors.engineFunctionReserved(message.id), refOf(message))),
    refuseFunctionOutOfScope: write('function.checked', ({ message }, context) => errorFrame(errors.mayNotRegister(message.id, who(context)), refOf(message))),
    refuseDuplicateFunction: write('function.checked', ({ message }) => errorFrame(errors.duplicateFunctionId(message.id), refOf(message))),
    refuseFunctionOverLimit: write('function.checked', ({ message }, context) =>
      errorFrame(errors.tooMany('functions', context.limits.functionsPerSession, 'limits.functionsPerSession'), refOf(message)),
    ),
    addFunction: ({ context, event, system }) => {
      assertEvent(event, 'function.checked')
      const { id, description, request_format, response_format, metadata } = event.message
      tell(actorsOf(system).catalog(), { type: 'function.add', worker_id: context.worker_id, function_id: id, info: { description, request_format, response_format, metadata } })
    },
    /** Calls waiting for a live worker to offer this function start now. */
    announceFunction: ({ event, system }) => {
      assertEvent(event, 'function.checked')
      tell(actorsOf(system).invocations(), { type: 'function.offered', function_id: event.message.id })
    },
    lookUpFunctionRemoval: raise(({ context, event, system }) => {
      assertEvent(event, 'function.unregister')
      return { type: 'functionRemoval.checked' as const, message: event.message, mine: event.message.id in (catalogOf(system).workers[context.worker_id]?.functions ?? {}) }
    }),
    refuseFunctionNotMine: write('functionRemoval.checked', ({ message }) => errorFrame(errors.functionNotMine(message.id), refOf(message))),
    removeFunction: ({ context, event, system }) => {
      assertEvent(event, 'functionRemoval.checked')
      tell(actorsOf(system).catalog(), { type: 'function.remove', worker_id: context.worker_id, function_id: event.message.id })
    },

    // ----- Trigger types
    lookUpTriggerType: raise(({ context, event, system }) => {
      assertEvent(event, 'triggerType.register')
      const catalog = catalogOf(system)
      // In a cluster, a worker of another engine may provide it (the types bucket says who).
      const remote = providerOf(catalog, event.message.id) === undefined ? typeHolderInCluster(system, event.message.id) : undefined
      const provider = remote?.worker_id ?? providerOf(catalog, event.message.id)
      const provider_label = remote ? `${remote.worker} on engine '${remote.engine_id}'` : provider === undefined || provider === ENGINE_PROVIDER ? undefined : describeWorker(catalog, provider)
      const full = sizesOf(catalog, context.worker_id).trigger_types >= context.limits.triggerTypesPerSession
      return { type: 'triggerType.checked' as const, message: event.message, provider, provider_label, full }
    }),
    refuseProvidingOutOfScope: write('triggerType.checked', ({ message }, context) => errorFrame(errors.mayNotProvide(message.id, who(context)), refOf(message))),
    refuseTriggerTypeOverLimit: write('triggerType.checked', ({ message }, context) =>
      errorFrame(errors.tooMany('trigger types', context.limits.triggerTypesPerSession, 'limits.triggerTypesPerSession'), refOf(message)),
    ),
    refuseTriggerTypeExists: write('triggerType.checked', ({ message, provider, provider_label }) =>
      errorFrame(errors.triggerTypeExists(message.id, provider === ENGINE_PROVIDER ? 'by the engine' : `by ${provider_label ?? `worker '${provider}'`}`), refOf(message)),
    ),
    refuseTriggerTypeAlreadyMine: write('triggerType.checked', ({ message }) => errorFrame(errors.triggerTypeExists(message.id, 'by this worker'), refOf(message))),
    addTriggerType: ({ context, event, system }) => {
      assertEvent(event, 'triggerType.checked')
      tell(actorsOf(system).catalog(), { type: 'triggerType.add', worker_id: context.worker_id, trigger_type: event.message.id, description: event.message.description })
    },
    /** Triggers parked for want of this type's provider may now be re-sent. */
    announceTriggerType: sendParent(({ event }) => {
      assertEvent(event, 'triggerType.checked')
      return { type: 'triggerType.available' as const, trigger_type: event.message.id }
    }),
    lookUpTriggerTypeRemoval: raise(({ event, system }) => {
      assertEvent(event, 'triggerType.unregister')
      return { type: 'triggerTypeRemoval.checked' as const, message: event.message, provider: providerOf(catalogOf(system), event.message.id) }
    }),
    refuseTriggerTypeNotMine: write('triggerTypeRemoval.checked', ({ message }) => errorFrame(errors.triggerTypeNotMine(message.id), refOf(message))),
    removeTriggerType: ({ context, event, system }) => {
      assertEvent(event, 'triggerTypeRemoval.checked')
      tell(actorsOf(system).catalog(), { type: 'triggerType.remove', worker_id: context.worker_id, trigger_type: event.message.id })
    },
    /** Triggers of this type park: their provider withdrew the type but is still connected. */
    announceTriggerTypeWithdrawn: sendParent(({ event }) => {
      assertEvent(event, 'triggerTypeRemoval.checked')
      return { type: 'triggerType.lost' as const, trigger_type: event.message.id, gone: false }
    }),
    // In a cluster: a worker of another engine claimed the type first (both accepted it in the same moment).
    lookUpRevocation: raise(({ context, event, system }) => {
      assertEvent(event, 'triggerType.revoke')
      return { type: 'revocation.checked' as const, trigger_type: event.trigger_type, error: event.error, mine: providerOf(catalogOf(system), event.trigger_type) === context.worker_id }
    }),
    removeRevokedTriggerType: ({ context, event, system }) => {
      assertEvent(event, 'revocation.checked')
      tell(actorsOf(system).catalog(), { type: 'triggerType.remove', worker_id: context.worker_id, trigger_type: event.trigger_type })
    },
    announceRevokedTriggerTypeWithdrawn: sendParent(({ event }) => {
      assertEvent(event, 'revocation.checked')
      return { type: 'triggerType.lost' as const, trigger_type: event.trigger_type, gone: false }
    }),
    refuseRevokedTriggerType: write('revocation.checked', ({ trigger_type, error }) => errorFrame(error, { type: 'registertriggertype', id: trigger_type })),

    // ----- Triggers
    lookUpTrigger: raise(({ context, event, system, self }) => {
      assertEvent(event, 'trigger.register')
      const { id, trigger_type, function_id } = event.message
      const catalog = catalogOf(system)
      const worker = catalog.workers[context.worker_id]
      const facts: TriggerFacts = {
        idTaken: worker?.triggers[id] !== undefined,
        // In a cluster, a worker of another engine may provide it: the registration crosses the cluster.
        provider: providerOf(catalog, trigger_type) ?? typeHolderInCluster(system, trigger_type)?.worker_id,
        // In a cluster, a function another engine serves may be bound as well: its calls cross the cluster.
        functionKnown: isKnown(catalog, function_id) || isEngineFunction(function_id) || offeredInCluster(system, function_id),
        functionMine: worker !== undefined && function_id in worker.functions,
        full: sizesOf(catalog, context.worker_id).triggers >= context.limits.triggersPerSession,
        hasTypeChild: self.getSnapshot().children[actorIds.typeChild(context.worker_id, trigger_type)] !== undefined,
      }
      // Only for a refusal: the id it was probably meant to be.
      if (facts.provider === undefined) facts.typeSuggestion = closest(trigger_type, [...Object.keys(catalog.triggerTypes), ...typesInCluster(system)])
      else if (!facts.functionKnown) facts.functionSuggestion = closest(function_id, [...Object.keys(catalog.functions), ...Object.keys(ENGINE_FUNCTIONS)])
      return { type: 'trigger.checked' as const, message: event.message, facts }
    }),
    refuseDuplicateTriggerId: write('trigger.checked', ({ message }) => refusal(message, errors.duplicateTriggerId(message.id))),
    refuseUnknownTriggerType: write('trigger.checked', ({ message, facts }) => refusal(message, errors.triggerTypeNotFound(message.trigger_type, facts.typeSuggestion))),
    refuseUnknownFunction: write('trigger.checked', ({ message, facts }) => refusal(message, errors.functionNotFound(message.function_id, facts.functionSuggestion))),
    refuseTriggerTypeOutOfScope: write('trigger.checked', (event, context) => refusal(event.message, errors.mayNotBindType(event.message.trigger_type, who(context)))),
    refuseFunctionOutOfReach: write('trigger.checked', (event, context) => refusal(event.message, errors.mayNotBindFunction(event.message.function_id, who(context)))),
    refuseEngineFunctionOutOfReach: write('trigger.checked', (event, context) => refusal(event.message, errors.mayNotBindEngineFunction(event.message.function_id, who(context)))),
    refuseQueueOutOfScope: write('trigger.checked', (event, context) => refusal(event.message, errors.mayNotUseQueue(queueOutOfScope(context.identity!.scope, event.message)!, who(context)))),
    refuseTriggerOverLimit: write('trigger.checked', (event, context) =>
      refusal(event.message, errors.tooMany('triggers', context.limits.triggersPerSession, 'limits.triggersPerSession')),
    ),
    spawnBuiltinTypeChild: enqueueActions(({ enqueue, context, event }) => {
      assertEvent(event, 'trigger.checked')
      const trigger_type = event.message.trigger_type as BuiltinTriggerType
      const id = actorIds.typeChild(context.worker_id, trigger_type)
      enqueue.spawnChild(trigger_type, { id, systemId: id, input: { worker_id: context.worker_id, trigger_type } })
    }),
    spawnRemoteTypeChild: enqueueActions(({ enqueue, context, event }) => {
      assertEvent(event, 'trigger.checked')
      const { trigger_type } = event.message
      const id = actorIds.typeChild(context.worker_id, trigger_type)
      enqueue.spawnChild('remoteTriggerType', { id, systemId: id, input: { worker_id: context.worker_id, trigger_type } })
    }),
    /** The type's child creates the registration machine, which lists itself in the catalog at once. */
    registerWithTypeChild: ({ context, event, system }) => {
      assertEvent(event, 'trigger.checked')
      const { id, trigger_type, function_id, config, metadata } = event.message
      tell(actorsOf(system).typeChild(context.worker_id, trigger_type), {
        type: 'trigger.register',
        input: { worker_id: context.worker_id, id, trigger_type, function_id, config, metadata, registrationTimeoutMs: context.registrationTimeoutMs },
      })
    },
    /** A registration's first outcome is the worker's answer (the transport logs it). */
    answerRegistration: write('trigger.settled', (event) => event.result),
    lookUpTriggerRemoval: raise(({ context, event, system }) => {
      assertEvent(event, 'trigger.unregister')
      return { type: 'triggerRemoval.checked' as const, message: event.message, registered_type: catalogOf(system).workers[context.worker_id]?.triggers[event.message.id]?.trigger_type }
    }),
    refuseUnknownTrigger: write('triggerRemoval.checked', ({ message }) => errorFrame(errors.triggerNotFound(message.id, message.trigger_type), refOf(message))),
    unregisterWithTypeChild: ({ context, event, system }) => {
      assertEvent(event, 'triggerRemoval.checked')
      tell(actorsOf(system).typeChild(context.worker_id, event.registered_type!), { type: 'trigger.unregister', trigger_id: event.message.id })
    },

    // ----- This worker as the provider of a trigger type
    /** Writes a forwarded `registertrigger` / `unregistertrigger` to this worker. */
    deliverToProvider: write(['provider.forward', 'provider.unforward'], (event) => event.message),
    lookUpVerdictOrigin: raise(({ context, event, system }) => {
      assertEvent(event, 'trigger.verdict')
      const { id, trigger_type } = event.message
      const origin = forwardedOrigin(catalogOf(system), id, trigger_type || undefined, context.worker_id)
      return {
        type: 'verdict.checked' as const,
        message: event.message,
        origin: origin && (origin.engine_id === undefined ? { worker_id: origin.worker_id, trigger_type: origin.trigger_type } : { worker_id: origin.worker_id, trigger_type: origin.trigger_type, engine_id: origin.engine_id }),
      }
    }),
    refuseUnexpectedVerdict: write('verdict.checked', ({ message }) => errorFrame(errors.unexpectedVerdict(message.id), refOf(message))),
    /** The registering session's child for the type checks that the verdict came from the provider it asked. */
    passVerdict: ({ context, event, system }) => {
      assertEvent(event, 'verdict.checked')
      const { worker_id, trigger_type } = event.origin!
      tell(actorsOf(system).typeChild(worker_id, trigger_type), { type: 'provider.verdict', forwarded_id: event.message.id, from: context.worker_id, error: event.message.error })
    },
    /** In a cluster: the registration's engine gets the verdict (the cluster actor checks it came from the provider it asked). */
    passVerdictAcross: ({ context, event, system }) => {
      assertEvent(event, 'verdict.checked')
      tell(actorsOf(system).cluster(), { type: 'cluster.verdict', from: context.worker_id, trigger_type: event.origin!.trigger_type, forwarded_id: event.message.id, error: event.message.error })
    },

    // ----- Keeping the connection
    log: emit(({ event }) => {
      assertEvent(event, 'session.log')
      return { type: 'log' as const, level: event.level, msg: event.msg, data: event.data }
    }),
    pong: emit({ type: 'outbound' as const, message: { type: 'pong' as const } }),
    /** Asks the session a `reattach` names to close; it decides, from its own token. */
    askPreviousToRetire: ({ context, event, system }) => {
      assertEvent(event, 'session.reattach')
      tell(actorsOf(system).session(event.message.previous_worker_id!), { type: 'session.retire', by: context.worker_id, reattach_token: event.message.reattach_token ?? '' })
    },
    rememberPredecessor: assign({
      predecessor: ({ event }) => {
        assertEvent(event, 'session.reattach')
        return event.message.previous_worker_id
      },
    }),
    /** Tells the held session this one reattached in place of (`hasPredecessor`) that it registered something. */
    tellPredecessor: ({ context, system }) => tell(actorsOf(system).session(context.predecessor!), { type: 'successor.progress' }),
    /** Whether the session that reattached in place of this held one holds all this one held (core/catalog.ts `replacedBy`). */
    lookUpReplacement: raise(({ context, system }) => ({
      type: 'replacement.checked' as const,
      replaced: context.successor !== undefined && replacedBy(catalogOf(system), context.worker_id, context.successor),
    })),
    rememberSuccessor: assign({
      successor: ({ event }) => {
        assertEvent(event, 'session.retire')
        return event.by
      },
    }),
    refuseRetirement: ({ context, event, system }) => {
      assertEvent(event, 'session.retire')
      tell(actorsOf(system).session(event.by), {
        type: 'session.reject',
        error: errors.reattachRefused(context.worker_id),
        ref: { type: 'reattach', id: context.worker_id },
      })
    },

    // ----- Held: the connection was lost; what the session holds stays for the grace period
    /** Tells the engine: the types this session provided are gone (triggers bound to them park). */
    reportHeld: sendParent(({ context, system }) => ({
      type: 'session.held' as const,
      worker_id: context.worker_id,
      trigger_types: Object.keys(catalogOf(system).workers[context.worker_id]?.trigger_types ?? {}),
    })),
    /** Its functions stop taking calls (calls for them wait for a live worker), its types are released. */
    holdInCatalog: ({ context, system }) =>
      tell(actorsOf(system).catalog(), { type: 'worker.hold', worker_id: context.worker_id, until: new Date(Date.now() + context.reconnectGraceMs).toISOString() }),
    logHeld: emit(({ event, context }) => ({
      type: 'log' as const,
      level: 'info' as const,
      msg: 'session held',
      data: { worker_id: context.worker_id, reason: closeReason(event, context), hold_ms: context.reconnectGraceMs },
    })),

    // ----- Closing
    /** Tells the engine, which stops this session (and so all it holds); the types it provided are gone. */
    reportEnd: sendParent(({ context, system }) => ({
      type: 'session.ended' as const,
      worker_id: context.worker_id,
      trigger_types: Object.keys(catalogOf(system).workers[context.worker_id]?.trigger_types ?? {}),
    })),
    leaveCatalog: ({ context, system }) => tell(actorsOf(system).catalog(), { type: 'worker.remove', worker_id: context.worker_id }),
    /** How error texts name this worker, read while it is still in the catalog (calls that fail as it goes name it). */
    nameSelf: assign({ label: ({ context, system }) => describeWorker(catalogOf(system), context.worker_id) }),
    /** Calls this worker serves fail for their callers; calls it waits for are dropped. */
    endCalls: ({ context, system }) => tell(actorsOf(system).invocations(), { type: 'worker.gone', worker_id: context.worker_id, worker: context.label }),
    logClosed: emit(({ event, context }) => ({ type: 'log' as const, level: 'info' as const, msg: 'session closed', data: { worker_id: context.worker_id, reason: closeReason(event, context) } })),
    /** Tells the transport to close the connection. */
    announceEnd: emit(({ event, context }) => ({ type: 'ended' as const, reason: closeReason(event, context) })),
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({ ...input }),
  initial: 'connecting',
  states: {
    connecting: {
      on: {
        'session.start': { target: 'open', actions: ['joinCatalog', 'logOpened'] },
        'session.close': 'closed',
      },
    },
    // Each region handles one kind of message; a message is decided by the guards of its region, in order.
    open: {
      type: 'parallel',
      on: { 'session.close': [{ guard: 'connectionLostAndHeld', target: 'held' }, { target: 'closed' }] },
      states: {
        frames: {
          on: {
            'frame.invalid': [
              { guard: 'isMalformedRegistration', actions: 'refuseMalformedRegistration' },
              { guard: 'isMalformedResult', actions: ['refuseFrame', 'failMalformedResult'] },
              { actions: 'refuseFrame' },
            ],
            'session.reject': { actions: 'passOnRefusal' },
          },
        },
        functions: {
          on: {
            'function.register': { actions: 'lookUpFunction' },
            'function.checked': [
              { guard: 'isEngineFunctionId', actions: 'refuseReservedFunctionId' },
              { guard: 'mayNotRegisterFunction', actions: 'refuseFunctionOutOfScope' },
              { guard: 'functionIsMine', actions: 'refuseDuplicateFunction' },
              { guard: 'functionLimitReached', actions: 'refuseFunctionOverLimit' },
              { guard: 'hasPredecessor', actions: ['addFunction', 'announceFunction', 'tellPredecessor'] },
              { actions: ['addFunction', 'announceFunction'] },
            ],
            'function.unregister': { actions: 'lookUpFunctionRemoval' },
            'functionRemoval.checked': [{ guard: not('functionIsMine'), actions: 'refuseFunctionNotMine' }, { actions: 'removeFunction' }],
          },
        },
        triggerTypes: {
          on: {
            'triggerType.register': { actions: 'lookUpTriggerType' },
            'triggerType.checked': [
              { guard: 'mayNotProvideTriggerTypes', actions: 'refuseProvidingOutOfScope' },
              { guard: 'triggerTypeIsMine', actions: 'refuseTriggerTypeAlreadyMine' },
              { guard: 'triggerTypeProvided', actions: 'refuseTriggerTypeExists' },
              { guard: 'triggerTypeLimitReached', actions: 'refuseTriggerTypeOverLimit' },
              { actions: ['addTriggerType', 'announceTriggerType'] },
            ],
            'triggerType.unregister': { actions: 'lookUpTriggerTypeRemoval' },
            'triggerTypeRemoval.checked': [
              { guard: not('triggerTypeIsMine'), actions: 'refuseTriggerTypeNotMine' },
              { actions: ['removeTriggerType', 'announceTriggerTypeWithdrawn'] },
            ],
            'triggerType.revoke': { actions: 'lookUpRevocation' },
            'revocation.checked': { guard: 'revokedTypeIsMine', actions: ['removeRevokedTriggerType', 'announceRevokedTriggerTypeWithdrawn', 'refuseRevokedTriggerType'] },
          },
        },
        // registertrigger: the duplicate id, the token's scope (before anything that would tell
        // whether a type or function outside it exists), the reference page's checks in its
        // order, the session's limit, then the type's child.
        triggers: {
          on: {
            'trigger.register': { actions: 'lookUpTrigger' },
            'trigger.checked': [
              { guard: 'triggerIdTaken', actions: 'refuseDuplicateTriggerId' },
              { guard: 'mayNotBindTriggerType', actions: 'refuseTriggerTypeOutOfScope' },
              { guard: and(['mayNotBindFunction', 'bindsEngineFunction']), actions: 'refuseEngineFunctionOutOfReach' },
              { guard: 'mayNotBindFunction', actions: 'refuseFunctionOutOfReach' },
              { guard: 'mayNotUseQueue', actions: 'refuseQueueOutOfScope' },
              { guard: 'triggerTypeUnknown', actions: 'refuseUnknownTriggerType' },
              { guard: 'functionUnknown', actions: 'refuseUnknownFunction' },
              { guard: 'triggerLimitReached', actions: 'refuseTriggerOverLimit' },
              { guard: and(['typeChildMissing', 'builtinType']), actions: ['spawnBuiltinTypeChild', 'registerWithTypeChild'] },
              { guard: 'typeChildMissing', actions: ['spawnRemoteTypeChild', 'registerWithTypeChild'] },
              { actions: 'registerWithTypeChild' },
            ],
            'trigger.settled': [{ guard: 'hasPredecessor', actions: ['answerRegistration', 'tellPredecessor'] }, { actions: 'answerRegistration' }],
            'trigger.unregister': { actions: 'lookUpTriggerRemoval' },
            'triggerRemoval.checked': [{ guard: 'triggerNotRegistered', actions: 'refuseUnknownTrigger' }, { actions: 'unregisterWithTypeChild' }],
          },
        },
        // This worker as the provider of trigger types other workers bind.
        providing: {
          on: {
            'provider.forward': { actions: 'deliverToProvider' },
            'provider.unforward': { actions: 'deliverToProvider' },
            'trigger.verdict': { actions: 'lookUpVerdictOrigin' },
            'verdict.checked': [
              { guard: 'verdictUnexpected', actions: 'refuseUnexpectedVerdict' },
              { guard: 'verdictForAnotherEngine', actions: 'passVerdictAcross' },
              { actions: 'passVerdict' },
            ],
          },
        },
        connection: {
          on: {
            'session.log': { actions: 'log' },
            'session.ping': { actions: 'pong' },
            'session.pong': {},
            'session.reattach': [{ guard: 'reattachesNothing' }, { actions: ['rememberPredecessor', 'askPreviousToRetire'] }],
            // A reattach for this session while its connection still looks open (the engine has
            // not seen it drop yet): the connection is ended, and what it held is held until the
            // new session holds it all, as for a lost connection (unless holding is off).
            'session.retire': [
              { guard: and(['reattachTokenMatches', 'holdsOnReconnect']), target: '#session.held', actions: ['rememberSuccessor', 'announceEnd', 'lookUpReplacement'] },
              { guard: 'reattachTokenMatches', target: '#session.closed' },
              { actions: 'refuseRetirement' },
            ],
          },
        },
      },
    },
    // The connection was lost (or ended by a reattach that named this session while it still
    // looked open): routes, schedules and consumers stay, calls for its functions wait for a
    // live worker, until the grace period ends, or a reattach names it and the session that
    // sent it holds all this one held (at once when it registered everything before its
    // reattach; as soon as it has, when it sent the reattach first, as the bundled client
    // and iii-sdk do).
    held: {
      entry: ['nameSelf', 'reportHeld', 'holdInCatalog', 'endCalls', 'logHeld'],
      after: { reconnectGrace: 'closed' },
      on: {
        'session.retire': [{ guard: not('reattachTokenMatches'), actions: 'refuseRetirement' }, { actions: ['rememberSuccessor', 'lookUpReplacement'] }],
        'successor.progress': { actions: 'lookUpReplacement' },
        'replacement.checked': { guard: 'replaced', target: 'closed' },
        'session.log': { actions: 'log' },
      },
    },
    closed: {
      entry: ['nameSelf', 'reportEnd', 'leaveCatalog', 'endCalls', 'logClosed', 'announceEnd'],
    },
  },
})
