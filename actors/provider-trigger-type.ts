/**
 * The shape shared by session children whose triggers live in an engine-level provider
 * (`provider:http` routes, `provider:queue` consumers, `provider:cron` schedules):
 * validate the config here, ask the provider to hold the trigger (it answers the
 * trigger's registration actor), and give every held trigger back when it is
 * unregistered or this actor stops with its session.
 */
import { fromCallback, type AnyActorRef } from 'xstate'
import type { TriggerTypeEvent, TriggerTypeInput } from './remote-trigger-type.js'
import { triggerActorId } from '../machines/trigger.machine.js'
import { triggerRegistrations } from './trigger-registrations.js'

export interface ProvidedTriggerType<Config> {
  /** systemId of the provider. */
  provider: string
  /** The config checked and normalised, or the text of the refusal (`invalid_config`). */
  parse(config: Record<string, unknown>): Config | string
  /** The provider's event that takes the trigger on. */
  hold(trigger: { worker_id: string; trigger_id: string; function_id: string }, config: Config): { type: string }
  /** The provider's event that lets it go. */
  release(trigger: { worker_id: string; trigger_id: string }): { type: string }
}

/** The actor logic of a session's child for a provider-backed built-in trigger type. */
export function providedTriggerType<Config>(type: ProvidedTriggerType<Config>) {
  return fromCallback<TriggerTypeEvent, TriggerTypeInput>(({ input, system, self, sendBack, receive }) => {
    const { worker_id } = input
    const registrations = triggerRegistrations({ worker_id, self, system, sendBack })
    const held = new Set<string>()
    const provider = () => system.get(type.provider) as AnyActorRef | undefined
    receive((event) => {
      if (registrations.handle(event)) return
      if (event.type === 'trigger.activate') {
        const config = type.parse(event.config)
        if (typeof config === 'string') {
          system.get(triggerActorId(worker_id, event.trigger_id))?.send({ type: 'trigger.rejected', error: { code: 'invalid_config', message: config } })
          return
        }
        held.add(event.trigger_id)
        provider()?.send(type.hold({ worker_id, trigger_id: event.trigger_id, function_id: event.function_id }, config))
      } else if (event.type === 'trigger.deactivate') {
        if (held.delete(event.trigger_id)) provider()?.send(type.release({ worker_id, trigger_id: event.trigger_id }))
      }
    })
    return () => {
      registrations.stop()
      for (const trigger_id of held) provider()?.send(type.release({ worker_id, trigger_id }))
    }
  })
}
