/**
 * A session's child for a trigger type that another worker provides. It forwards each
 * registration to the provider's session under an id unique across sessions, relays the
 * provider's verdict to the trigger's actor, and owns the forwarded registrations: when
 * a trigger is unregistered, or this actor stops with its session, the provider is told
 * with `unregistertrigger`.
 */
import { fromCallback } from 'xstate'
import type { ErrorBody } from '../adapters/messages.js'
import { catalogOf } from './catalog.js'
import { triggerActorId } from '../machines/trigger.machine.js'
import { triggerRegistrations, type RegistrationEvent } from './trigger-registrations.js'

/** What every trigger-type child receives: the same for built-in and worker-provided types. */
export type TriggerTypeEvent =
  | { type: 'trigger.activate'; trigger_id: string; function_id: string; config: Record<string, unknown>; metadata?: unknown }
  | { type: 'trigger.deactivate'; trigger_id: string }
  | { type: 'provider.verdict'; forwarded_id: string; from: string; error?: unknown }
  /** The type lost its provider: `gone` when the provider disconnected, not when it only unregistered the type. */
  | { type: 'provider.lost'; trigger_type: string; gone: boolean }
  | RegistrationEvent

export interface TriggerTypeInput {
  worker_id: string
  trigger_type: string
}

interface Forwarded {
  forwarded_id: string
  provider: string
  function_id: string
  config: Record<string, unknown>
}

/** The forwarded id of a registration: `<worker_id>:<n>:<trigger id>`, unique across sessions and registrations. */
export const forwardedId = (worker_id: string, n: number, trigger_id: string) => `${worker_id}:${n}:${trigger_id}`

/** The registering worker and trigger a forwarded id names, or undefined if it is not one. */
export function parseForwardedId(id: string): { worker_id: string; trigger_id: string } | undefined {
  const first = id.indexOf(':')
  const second = first < 0 ? -1 : id.indexOf(':', first + 1)
  if (first <= 0 || second < 0 || !/^\d+$/.test(id.slice(first + 1, second))) return undefined
  return { worker_id: id.slice(0, first), trigger_id: id.slice(second + 1) }
}

/** Turns whatever a provider sent as `error` into an error body, unchanged where it already is one. */
export function asErrorBody(error: unknown): ErrorBody {
  if (typeof error === 'object' && error !== null && typeof (error as ErrorBody).code === 'string') return error as ErrorBody
  return { code: 'invalid_config', message: typeof error === 'string' ? error : JSON.stringify(error) }
}

/** The actor logic for worker-provided trigger types. */
export const remoteTriggerTypeLogic = fromCallback<TriggerTypeEvent, TriggerTypeInput>(({ input, system, self, sendBack, receive }) => {
  const { worker_id, trigger_type } = input
  const registrations = triggerRegistrations({ worker_id, self, system, sendBack })
  const byTrigger = new Map<string, Forwarded>()
  const byForwardedId = new Map<string, string>()
  let seq = 0

  const trigger = (trigger_id: string) => system.get(triggerActorId(worker_id, trigger_id))
  const providerOf = (): string | undefined =>
    catalogOf(system).triggerTypes[trigger_type]?.worker_id

  const withdraw = (trigger_id: string) => {
    const entry = byTrigger.get(trigger_id)
    if (!entry) return
    byTrigger.delete(trigger_id)
    byForwardedId.delete(entry.forwarded_id)
    system.get(`session:${entry.provider}`)?.send({
      type: 'provider.unforward',
      message: { type: 'unregistertrigger', id: entry.forwarded_id, trigger_type, function_id: entry.function_id, config: entry.config },
    })
  }

  receive((event) => {
    if (registrations.handle(event)) return
    switch (event.type) {
      case 'trigger.activate': {
        withdraw(event.trigger_id)
        const provider = providerOf()
        const session = provider === undefined ? undefined : system.get(`session:${provider}`)
        if (provider === undefined || !session) {
          trigger(event.trigger_id)?.send({
            type: 'trigger.rejected',
            error: { code: 'provider_unavailable', message: `No worker provides trigger type '${trigger_type}'` },
          })
          return
        }
        const forwarded_id = forwardedId(worker_id, ++seq, event.trigger_id)
        byTrigger.set(event.trigger_id, { forwarded_id, provider, function_id: event.function_id, config: event.config })
        byForwardedId.set(forwarded_id, event.trigger_id)
        session.send({
          type: 'provider.forward',
          message: {
            type: 'registertrigger',
            id: forwarded_id,
            trigger_type,
            function_id: event.function_id,
            config: event.config,
            metadata: event.metadata,
          },
        })
        return
      }
      case 'trigger.deactivate':
        withdraw(event.trigger_id)
        return
      case 'provider.verdict': {
        const trigger_id = byForwardedId.get(event.forwarded_id)
        if (trigger_id === undefined || byTrigger.get(trigger_id)?.provider !== event.from) {
          // Unknown, already settled, withdrawn after a timeout, or from a session that was not asked.
          system.get(`session:${event.from}`)?.send({
            type: 'session.reject',
            error: { code: 'invalid_message', message: `No trigger registration '${event.forwarded_id}' is awaiting a verdict from this worker` },
            ref: { type: 'triggerregistrationresult', id: event.forwarded_id },
          })
          return
        }
        if (event.error === undefined || event.error === null) {
          trigger(trigger_id)?.send({ type: 'trigger.activated' })
        } else {
          byForwardedId.delete(event.forwarded_id)
          byTrigger.delete(trigger_id)
          trigger(trigger_id)?.send({ type: 'trigger.rejected', error: asErrorBody(event.error) })
        }
        return
      }
      case 'provider.lost':
        if (!event.gone) {
          // The provider is still connected: withdraw what it holds of ours.
          for (const trigger_id of [...byTrigger.keys()]) withdraw(trigger_id)
        }
        // A provider that left took its registrations with it.
        byTrigger.clear()
        byForwardedId.clear()
        return
    }
  })

  return () => {
    registrations.stop()
    for (const trigger_id of [...byTrigger.keys()]) withdraw(trigger_id)
  }
})
