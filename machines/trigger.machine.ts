/**
 * One trigger registration: pending → active, failed, parked (its provider left) or
 * removed. The session's child for the trigger type creates one per accepted
 * `registertrigger` (actors/trigger-registrations.ts), does the type's own work (validate,
 * route, schedule, forward) and answers `trigger.activated` or `trigger.rejected`. The first verdict is reported to the
 * registering worker; later ones (re-sends after parking) are only logged.
 */
import { enqueueActions, not, sendParent, setup } from 'xstate'
import type { ErrorBody, RegistrationResult } from '../adapters/messages.js'

export interface TriggerInput {
  worker_id: string
  id: string
  trigger_type: string
  function_id: string
  config: Record<string, unknown>
  metadata?: unknown
  registrationTimeoutMs: number
}

export type TriggerEvent =
  | { type: 'trigger.activated' }
  | { type: 'trigger.rejected'; error: ErrorBody }
  | { type: 'trigger.unregister' }
  /** The type's child that holds this registration is stopping (its session ended). */
  | { type: 'trigger.release' }
  | { type: 'provider.lost'; trigger_type: string }
  | { type: 'provider.available'; trigger_type: string }

/** systemId of a session's child for one trigger type. */
export const typeActorId = (worker_id: string, trigger_type: string) => `session:${worker_id}:${trigger_type}`
/** systemId of a trigger registration actor. */
export const triggerActorId = (worker_id: string, id: string) => `trigger:${worker_id}:${id}`


const result = (context: TriggerInput, error?: ErrorBody): RegistrationResult =>
  error
    ? { type: 'triggerregistrationresult', id: context.id, trigger_type: context.trigger_type, function_id: context.function_id, error }
    : { type: 'triggerregistrationresult', id: context.id, trigger_type: context.trigger_type, function_id: context.function_id }

export const triggerMachine = setup({
  types: {
    input: {} as TriggerInput,
    context: {} as TriggerInput & { answered: boolean },
    events: {} as TriggerEvent,
  },
  delays: {
    registrationTimeout: ({ context }) => context.registrationTimeoutMs,
  },
  guards: {
    answered: ({ context }) => context.answered,
  },
  actions: {
    /** The registration's parent is the session's child for its type, which does the type's work. */
    requestActivation: sendParent(
      ({ context }) => ({
        type: 'trigger.activate' as const,
        trigger_id: context.id,
        function_id: context.function_id,
        config: context.config,
        metadata: context.metadata,
      }),
    ),
    requestDeactivation: sendParent(({ context }) => ({ type: 'trigger.deactivate' as const, trigger_id: context.id })),
    /**
     * Ends a registration attempt: the first outcome is the worker's answer; the outcome of
     * a re-send to a new provider (the worker was answered long ago) is only logged.
     */
    conclude: enqueueActions(({ enqueue, context }, params: { error?: ErrorBody }) => {
      if (!context.answered) {
        enqueue.sendParent({ type: 'trigger.settled', result: result(context, params.error) })
        enqueue.assign({ answered: true })
        return
      }
      enqueue.sendParent({
        type: 'session.log',
        level: params.error ? 'warn' : 'info',
        msg: params.error ? 'parked trigger could not be re-sent to the new provider' : 'parked trigger re-sent to the new provider',
        data: { worker_id: context.worker_id, trigger_id: context.id, trigger_type: context.trigger_type, error: params.error },
      })
    }),
  },
}).createMachine({
  id: 'trigger',
  context: ({ input }) => ({ ...input, answered: false }),
  initial: 'pending',
  // Whatever the type's child held for it is given back by that child as it stops.
  on: { 'trigger.release': '.released' },
  states: {
    pending: {
      entry: 'requestActivation',
      after: {
        registrationTimeout: {
          target: 'failed',
          actions: {
            type: 'conclude',
            params: ({ context }) => ({
              error: {
                code: 'provider_timeout',
                message: `The provider of trigger type '${context.trigger_type}' did not answer within ${context.registrationTimeoutMs} ms`,
              },
            }),
          },
        },
      },
      on: {
        'trigger.activated': { target: 'active', actions: { type: 'conclude', params: {} } },
        'trigger.rejected': { target: 'failed', actions: { type: 'conclude', params: ({ event }) => ({ error: event.error }) } },
        'provider.lost': 'parked',
        'trigger.unregister': {
          target: 'removed',
          actions: [
            {
              type: 'conclude',
              params: ({ context }) => ({
                error: { code: 'trigger_unregistered', message: `Trigger '${context.id}' was unregistered before its registration completed` },
              }),
            },
            'requestDeactivation',
          ],
        },
      },
    },
    active: {
      on: {
        'provider.lost': 'parked',
        'trigger.unregister': { target: 'removed', actions: 'requestDeactivation' },
      },
    },
    parked: {
      always: {
        guard: not('answered'),
        target: 'failed',
        actions: {
          type: 'conclude',
          params: ({ context }) => ({
            error: { code: 'provider_unavailable', message: `The provider of trigger type '${context.trigger_type}' disconnected before answering` },
          }),
        },
      },
      on: {
        'provider.available': 'pending',
        'trigger.unregister': 'removed',
      },
    },
    // Whatever the type's child may hold for a failed registration is given back.
    failed: { type: 'final', entry: 'requestDeactivation' },
    removed: { type: 'final' },
    released: { type: 'final' },
  },
})
