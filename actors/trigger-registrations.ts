/**
 * The trigger registrations a session's child for one trigger type holds. Each is a
 * `trigger` machine (machines/trigger.machine.ts) whose parent is that child, so the
 * inspector shows `session → type → trigger`, and stopping the child (with its session)
 * stops them all. They are not children of the session machine itself: XState copies a
 * machine's `children` on every spawn and stop, which would make registering and
 * releasing N triggers in one session cost O(N²).
 */
import { createActor, type ActorSystem, type AnyActorRef } from 'xstate'
import { triggerActorId, triggerMachine, type TriggerInput } from '../machines/trigger.machine.js'

/** What a session asks of its child for a type, and what that child's registrations tell it. */
export type RegistrationEvent =
  | { type: 'trigger.register'; input: TriggerInput }
  | { type: 'trigger.unregister'; trigger_id: string }
  | { type: 'provider.available'; trigger_type: string }
  | { type: 'provider.lost'; trigger_type: string; gone: boolean }
  /** From a registration: its first outcome, for the session to report. */
  | { type: 'trigger.settled'; result: unknown }
  /** From a registration: a later outcome, for the session to log. */
  | { type: 'session.log'; level: 'info' | 'warn'; msg: string; data: Record<string, unknown> }

interface Scope {
  worker_id: string
  self: AnyActorRef
  system: ActorSystem<any>
  sendBack: (event: any) => void
}

/** Creates the registry of one type child; `handle` it every event, `stop` it in the child's teardown. */
export function triggerRegistrations({ worker_id, self, system, sendBack }: Scope) {
  const prefix = triggerActorId(worker_id, '')
  const actors = new Map<string, AnyActorRef>()
  return {
    /**
     * Handles the registry's own events and returns true; returns false for those the
     * type's logic handles (provider changes are passed to the registrations first, and
     * to the type's logic too).
     */
    handle(event: { type: string }): boolean {
      const e = event as RegistrationEvent
      switch (e.type) {
        case 'trigger.register': {
          const id = triggerActorId(e.input.worker_id, e.input.id)
          if (actors.has(e.input.id) || system.get(id)) {
            // The session checks this first; should two registrations still cross, the second is answered, not dropped.
            const { id: trigger_id, trigger_type, function_id } = e.input
            const error = { code: 'duplicate_trigger_id', message: `A trigger with ID '${trigger_id}' is already registered` }
            sendBack({ type: 'trigger.settled', result: { type: 'triggerregistrationresult', id: trigger_id, trigger_type, function_id, error } })
            return true
          }
          const actor = createActor(triggerMachine, { parent: self, id, systemId: id, input: e.input })
          actors.set(e.input.id, actor)
          actor.start()
          return true
        }
        case 'trigger.unregister':
          actors.get(e.trigger_id)?.send({ type: 'trigger.unregister' })
          return true
        case 'trigger.settled':
        case 'session.log':
          sendBack(e)
          return true
        case 'provider.lost':
        case 'provider.available':
          for (const actor of actors.values()) actor.send(e)
          return false
      }
      if (event.type.startsWith('xstate.done.actor.')) {
        // A registration ended (failed or removed); it has already left the system.
        actors.delete(event.type.slice('xstate.done.actor.'.length + prefix.length))
        return true
      }
      return false
    },
    /** Ends every registration still held (the child is stopping with its session). */
    stop() {
      const held = [...actors.values()]
      actors.clear()
      for (const actor of held) actor.send({ type: 'trigger.release' })
    },
  }
}
