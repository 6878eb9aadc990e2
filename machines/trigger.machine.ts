/**
 * One trigger registration: pending → active, then parked while its type has no provider
 * and resending once one is back; it ends failed, removed, or released with its session.
 * A registration whose type the engine provides (http, cron, queue, subscribe,
 * durable:subscriber: `heldByEngine`) ends in `held` once active instead: such a
 * provider never leaves, so nothing is left to wait for, and an idle session keeps no
 * machine per trigger (about 2.4 KB of heap each). The type's child holds the trigger
 * from then on (its snapshot lists it) and unregisters it itself; the catalog shows it
 * `active`.
 * The session's child for the trigger type creates one per accepted `registertrigger`
 * (actors/trigger-registrations.ts) and does the type's own work for it (validate, route,
 * schedule, forward), answering `trigger.activated` or `trigger.rejected`.
 *
 * Waiting for the type's answer (`pending`, `resending`) ends in `failed` when it takes
 * longer than `registrationTimeoutMs`: the type's child times the wait from each
 * `trigger.activate` and says so with `trigger.timedOut` (one timer per child, not an
 * XState delayed event per registration: XState cancels an actor's delayed events by
 * scanning every delayed event of the system, so stopping N waiting registrations cost
 * O(N²)).
 *
 * A registration that fails leaves the catalog with its error (`reportFailure`): the
 * catalog keeps the latest failures (core/catalog.ts `RECENT_FAILURES`), which the console
 * lists as `failed`.
 *
 * The outcome of `pending` is the registering worker's answer (`trigger.settled`); the
 * outcome of `resending` (the worker was answered long ago) is only logged. Each state is
 * reported to the catalog, which is what listings and metrics read.
 */
import { assign, sendParent, setup } from 'xstate'
import type { ErrorBody, RegistrationResult } from '../protocol/messages.js'
import { errors } from '../protocol/errors.js'
import type { TriggerState } from '../core/catalog.js'
import type { TriggerEvent, TriggerInput } from './contracts.js'
import { actorsOf, tell } from './system.js'

/** A registration's context: its input, and, once it failed, why. */
type TriggerContext = TriggerInput & { failure?: ErrorBody }

/** The error of a registration that waited too long for its type's answer, or whose provider left meanwhile. */
const timedOut = ({ context, event }: { context: TriggerContext; event: TriggerEvent }) => ({
  error: errors.providerTimeout(context.trigger_type, context.registrationTimeoutMs, (event as Extract<TriggerEvent, { type: 'trigger.timedOut' }>).provider),
})
const providerLeft = ({ context, event }: { context: TriggerContext; event: TriggerEvent }) => ({
  error: errors.providerLeft(context.trigger_type, (event as Extract<TriggerEvent, { type: 'provider.lost' }>).provider),
})

const result = (context: TriggerInput, error?: ErrorBody): RegistrationResult =>
  error
    ? { type: 'triggerregistrationresult', id: context.id, trigger_type: context.trigger_type, function_id: context.function_id, error }
    : { type: 'triggerregistrationresult', id: context.id, trigger_type: context.trigger_type, function_id: context.function_id }

export const triggerMachine = setup({
  types: {
    input: {} as TriggerInput,
    context: {} as TriggerContext,
    events: {} as TriggerEvent,
  },
  guards: {
    /** The engine's own provider holds the trigger (a built-in type): nothing to wait for once active. */
    heldByEngine: ({ context }) => context.heldByEngine === true,
  },
  actions: {
    /** Asks the parent, the session's child for this trigger's type, to do the type's work. */
    requestActivation: sendParent(({ context }) => ({
      type: 'trigger.activate' as const,
      trigger_id: context.id,
      function_id: context.function_id,
      config: context.config,
      metadata: context.metadata,
    })),
    /** Tells the parent the registration no longer waits for the type's answer (its timer for it ends). */
    endWait: sendParent(({ context }) => ({ type: 'trigger.waited' as const, trigger_id: context.id })),
    /** Asks the parent to give back whatever it held for this trigger. */
    requestDeactivation: sendParent(({ context }) => ({ type: 'trigger.deactivate' as const, trigger_id: context.id })),
    /** The registering worker's answer: the registration's first outcome. */
    answerWorker: sendParent(({ context }, params: { error?: ErrorBody }) => ({ type: 'trigger.settled' as const, result: result(context, params.error) })),
    logResent: sendParent(({ context }) => ({
      type: 'session.log' as const,
      level: 'info' as const,
      msg: 'parked trigger re-sent to the new provider',
      data: { worker_id: context.worker_id, trigger_id: context.id, trigger_type: context.trigger_type },
    })),
    logResendFailed: sendParent(({ context }, params: { error: ErrorBody }) => ({
      type: 'session.log' as const,
      level: 'warn' as const,
      msg: 'parked trigger could not be re-sent to the new provider',
      data: { worker_id: context.worker_id, trigger_id: context.id, trigger_type: context.trigger_type, error: params.error },
    })),
    /** Lists the registration in the catalog, as pending. */
    joinCatalog: ({ context, system }) =>
      tell(actorsOf(system).catalog(), {
        type: 'trigger.add',
        worker_id: context.worker_id,
        trigger:
          context.metadata === undefined
            ? { id: context.id, trigger_type: context.trigger_type, function_id: context.function_id, config: context.config, state: 'pending' }
            : { id: context.id, trigger_type: context.trigger_type, function_id: context.function_id, config: context.config, state: 'pending', metadata: context.metadata },
      }),
    reportState: ({ context, system }, params: { state: TriggerState }) =>
      tell(actorsOf(system).catalog(), { type: 'trigger.state', worker_id: context.worker_id, id: context.id, state: params.state }),
    leaveCatalog: ({ context, system }) => tell(actorsOf(system).catalog(), { type: 'trigger.remove', worker_id: context.worker_id, id: context.id }),
    /** Keeps why the registration failed, for the catalog. */
    noteFailure: assign({ failure: (_, params: { error: ErrorBody }) => params.error }),
    /** Leaves the catalog as a failed registration: the catalog keeps the latest failures, with their error, for the console. */
    reportFailure: ({ context, system }) =>
      tell(
        actorsOf(system).catalog(),
        context.failure === undefined
          ? { type: 'trigger.remove', worker_id: context.worker_id, id: context.id }
          : { type: 'trigger.fail', worker_id: context.worker_id, id: context.id, error: context.failure, at: new Date().toISOString() },
      ),
  },
}).createMachine({
  id: 'trigger',
  context: ({ input }) => input,
  initial: 'pending',
  // Whatever the type's child held for it is given back by that child as it stops.
  on: { 'trigger.release': '.released' },
  states: {
    pending: {
      entry: ['joinCatalog', 'requestActivation'],
      exit: 'endWait',
      on: {
        'trigger.timedOut': { target: 'failed', actions: [{ type: 'answerWorker', params: timedOut }, { type: 'noteFailure', params: timedOut }] },
        'trigger.activated': [
          { guard: 'heldByEngine', target: 'held', actions: { type: 'answerWorker', params: {} } },
          { target: 'active', actions: { type: 'answerWorker', params: {} } },
        ],
        'trigger.rejected': {
          target: 'failed',
          actions: [
            { type: 'answerWorker', params: ({ event }) => ({ error: event.error }) },
            { type: 'noteFailure', params: ({ event }) => ({ error: event.error }) },
          ],
        },
        'provider.lost': { target: 'failed', actions: [{ type: 'answerWorker', params: providerLeft }, { type: 'noteFailure', params: providerLeft }] },
        'trigger.unregister': {
          target: 'removed',
          actions: [{ type: 'answerWorker', params: ({ context }) => ({ error: errors.triggerUnregistered(context.id) }) }, 'requestDeactivation'],
        },
      },
    },
    active: {
      entry: { type: 'reportState', params: { state: 'active' } },
      on: {
        'provider.lost': 'parked',
        'trigger.unregister': { target: 'removed', actions: 'requestDeactivation' },
      },
    },
    parked: {
      entry: { type: 'reportState', params: { state: 'parked' } },
      on: {
        'provider.available': 'resending',
        'trigger.unregister': 'removed',
      },
    },
    resending: {
      entry: [{ type: 'reportState', params: { state: 'resending' } }, 'requestActivation'],
      exit: 'endWait',
      on: {
        'trigger.timedOut': { target: 'failed', actions: [{ type: 'logResendFailed', params: timedOut }, { type: 'noteFailure', params: timedOut }] },
        'trigger.activated': { target: 'active', actions: 'logResent' },
        'trigger.rejected': {
          target: 'failed',
          actions: [
            { type: 'logResendFailed', params: ({ event }) => ({ error: event.error }) },
            { type: 'noteFailure', params: ({ event }) => ({ error: event.error }) },
          ],
        },
        'provider.lost': 'parked',
        'trigger.unregister': { target: 'removed', actions: 'requestDeactivation' },
      },
    },
    // Active, held by the engine's own provider: the type's child keeps it from here.
    held: { type: 'final', entry: { type: 'reportState', params: { state: 'active' } } },
    // Whatever the type's child may hold for a failed registration is given back; the catalog keeps it among the recent failures.
    failed: { type: 'final', entry: ['requestDeactivation', 'reportFailure'] },
    removed: { type: 'final', entry: 'leaveCatalog' },
    released: { type: 'final' },
  },
})
