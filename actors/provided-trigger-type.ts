/**
 * The shape shared by session children whose triggers live in an engine-level provider
 * (`provider:http` routes, `provider:cron` schedules, `provider:queue` consumers):
 * validate the config here, ask the provider to hold the trigger (it answers the
 * trigger's registration machine), and give every held trigger back when it is
 * unregistered or this actor stops with its session. The snapshot lists what it holds.
 * Such a provider never leaves, so a registration machine ends once its trigger is held
 * (`heldByEngine`); from then on this actor is where the trigger lives, and unregistering
 * it (release, and leaving the catalog) is done here.
 */
import type { EventObject } from 'xstate'
import type { ErrorBody } from '../protocol/messages.js'
import { errors } from '../protocol/errors.js'
import type { TriggerTypeEvent, TriggerTypeInput } from '../machines/contracts.js'
import { actorsOf, tell, type EngineSystem } from '../machines/system.js'
import { fromTable } from './table-actor.js'
import { handleRegistrationEvent, Registrations, releaseRegistrations } from './trigger-registrations.js'

export interface ProvidedTriggerType<Config, E extends EventObject> {
  /** The provider, looked up in the system. */
  provider(system: EngineSystem): { send(event: E): void } | undefined
  /** The config checked and normalised, or the refusal: its text (`invalid_config`) or the whole error body. */
  parse(config: Record<string, unknown>): Config | string | { refused: ErrorBody }
  /** The provider's event that takes the trigger on. */
  hold(trigger: { worker_id: string; trigger_id: string; function_id: string; metadata?: unknown }, config: Config): E
  /** The provider's event that lets it go. */
  release(trigger: { worker_id: string; trigger_id: string }): E
  /** The provider's event that lets go of all of them at once (the child is stopping), if it has one; else `release` each. */
  releaseAll?(worker_id: string, trigger_ids: string[]): E
}

const isRefusal = (value: unknown): value is { refused: ErrorBody } => typeof value === 'object' && value !== null && 'refused' in value

/** What a built-in type's child holds: the ids of its session's triggers the provider holds. */
export interface Held {
  worker_id: string
  trigger_type: string
  held: Set<string>
  toJSON(): { trigger_type: string; held: string[] }
}

/** The actor logic of a session's child for a provider-backed built-in trigger type. */
export function providedTriggerType<Config, E extends EventObject>(type: ProvidedTriggerType<Config, E>) {
  return fromTable<Held, TriggerTypeEvent, TriggerTypeInput, EventObject, Registrations>({
    context: ({ worker_id, trigger_type }) => ({
      worker_id,
      trigger_type,
      held: new Set(),
      toJSON() {
        return { trigger_type: this.trigger_type, held: [...this.held] }
      },
    }),
    open: () => new Registrations(),
    receive(scope, event) {
      const { context, system, handles: registrations } = scope
      const { worker_id } = context
      if (handleRegistrationEvent(registrations, { worker_id, self: scope.self, system, sendBack: scope.sendBack, heldByEngine: true }, event)) return
      const provider = type.provider(system)
      if (event.type === 'trigger.activate') {
        const config = type.parse(event.config)
        if (typeof config === 'string' || isRefusal(config)) {
          const error = typeof config === 'string' ? errors.invalidConfig(config) : config.refused
          tell(actorsOf(system).trigger(worker_id, event.trigger_id), { type: 'trigger.rejected', error })
          return
        }
        context.held.add(event.trigger_id)
        provider?.send(type.hold({ worker_id, trigger_id: event.trigger_id, function_id: event.function_id, metadata: event.metadata }, config))
      } else if (event.type === 'trigger.deactivate') {
        if (context.held.delete(event.trigger_id)) provider?.send(type.release({ worker_id, trigger_id: event.trigger_id }))
      } else if (event.type === 'trigger.unregister') {
        // Its registration machine has ended (held): the trigger is unregistered here.
        if (!context.held.delete(event.trigger_id)) return
        provider?.send(type.release({ worker_id, trigger_id: event.trigger_id }))
        tell(actorsOf(system).catalog(), { type: 'trigger.remove', worker_id, id: event.trigger_id })
      }
    },
    close({ context, system, handles: registrations }) {
      releaseRegistrations(registrations)
      const provider = type.provider(system)
      if (type.releaseAll) {
        if (context.held.size > 0) provider?.send(type.releaseAll(context.worker_id, [...context.held]))
      } else {
        for (const trigger_id of context.held) provider?.send(type.release({ worker_id: context.worker_id, trigger_id }))
      }
      context.held.clear()
    },
  })
}
