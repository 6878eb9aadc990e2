/**
 * The trigger registrations a session's child for one trigger type holds. Each is a
 * `trigger` machine (machines/trigger.machine.ts) whose parent is that child, so the
 * inspector shows `session → type → trigger`, and stopping the child (with its session)
 * ends them all. They are not children of the session machine itself: XState copies a
 * machine's `children` on every spawn and stop, which would make registering and
 * releasing N triggers in one session cost O(N²).
 */
import { createActor, type AnyActorRef, type AnyEventObject } from 'xstate'
import { errors } from '../protocol/errors.js'
import type { TriggerTypeEvent } from '../machines/contracts.js'
import { actorIds, actorsOf, type EngineSystem } from '../machines/system.js'
import { triggerMachine } from '../machines/trigger.machine.js'
import { Deadlines, type DeadlineEntry } from './deadlines.js'

/** One registration machine, and its link in the deadline list while it waits for the type's answer. */
interface Registration extends DeadlineEntry {
  trigger_id: string
  actor: AnyActorRef
  timeout_ms: number
}

/**
 * The registration machines of one type child, by trigger id, and the waits for the
 * type's answer (`registrationTimeoutMs` from each `trigger.activate`): one timer per
 * distinct timeout (actors/deadlines.ts), whose expiry sends `trigger.timedOut`.
 */
export class Registrations {
  readonly byId = new Map<string, Registration>()
  readonly waits = new Deadlines<Registration>(({ actor, trigger_id }) => actor.send({ type: 'trigger.timedOut', provider: this.providerOf?.(trigger_id) }))

  /**
   * @param providerOf whom a registration waits for, as error texts name a worker
   *   (`worker 'billing' (<id>)`): a worker-defined type's child says, so that a timeout
   *   or a provider lost names it.
   */
  constructor(readonly providerOf?: (trigger_id: string) => string | undefined) {}

  get(trigger_id: string): AnyActorRef | undefined {
    return this.byId.get(trigger_id)?.actor
  }

  values(): AnyActorRef[] {
    return [...this.byId.values()].map((r) => r.actor)
  }
}

const DONE = 'xstate.done.actor.'

/**
 * Handles the events about the child's registrations and returns true; returns false for
 * those the type's own logic handles. Provider changes reach the registrations first and
 * the type's logic too. `heldByEngine`: the child's type is the engine's own, so each
 * registration ends once active (machines/trigger.machine.ts `held`), and unregistering a
 * trigger that no registration machine holds any more is the type's logic's work.
 */
export function handleRegistrationEvent(
  registrations: Registrations,
  { worker_id, self, system, sendBack, heldByEngine }: { worker_id: string; self: AnyActorRef; system: EngineSystem; sendBack: (event: AnyEventObject) => void; heldByEngine?: boolean },
  event: TriggerTypeEvent | AnyEventObject,
): boolean {
  const e = event as TriggerTypeEvent
  switch (e.type) {
    case 'trigger.register': {
      const id = actorIds.trigger(e.input.worker_id, e.input.id)
      if (registrations.byId.has(e.input.id) || actorsOf(system).trigger(e.input.worker_id, e.input.id)) {
        // The session checks this first; should two registrations still cross, the second is answered, not dropped.
        const { id: trigger_id, trigger_type, function_id } = e.input
        sendBack({ type: 'trigger.settled', result: { type: 'triggerregistrationresult', id: trigger_id, trigger_type, function_id, error: errors.duplicateTriggerId(trigger_id) } })
        return true
      }
      const actor = createActor(triggerMachine, { parent: self, id, systemId: id, input: heldByEngine ? { ...e.input, heldByEngine } : e.input })
      registrations.byId.set(e.input.id, { trigger_id: e.input.id, actor, timeout_ms: e.input.registrationTimeoutMs, due: 0 })
      actor.start()
      return true
    }
    case 'trigger.activate': {
      // The registration waits for the type's answer from now (again, when it is re-sent); the type's own logic does the work.
      const registration = registrations.byId.get(e.trigger_id)
      if (registration) {
        registrations.waits.remove(registration)
        registrations.waits.add(registration, registration.timeout_ms, performance.now())
      }
      return false
    }
    case 'trigger.unregister': {
      const registration = registrations.get(e.trigger_id)
      if (!registration) return false
      registration.send({ type: 'trigger.unregister' })
      return true
    }
    case 'trigger.waited': {
      const registration = registrations.byId.get(e.trigger_id)
      if (registration) registrations.waits.remove(registration)
      return true
    }
    case 'trigger.settled':
    case 'session.log':
      sendBack(e)
      return true
    case 'provider.lost':
      // Each registration hears whom it lost (before the type's logic forgets it).
      for (const { actor, trigger_id } of registrations.byId.values()) {
        const provider = registrations.providerOf?.(trigger_id)
        actor.send(provider === undefined ? e : { ...e, provider })
      }
      return false
    case 'provider.available':
      for (const { actor } of registrations.byId.values()) actor.send(e)
      return false
  }
  const done = DONE + actorIds.trigger(worker_id, '')
  if (event.type.startsWith(done)) {
    // A registration ended (failed or removed); it has already left the system.
    const trigger_id = event.type.slice(done.length)
    const registration = registrations.byId.get(trigger_id)
    if (registration) registrations.waits.remove(registration)
    registrations.byId.delete(trigger_id)
    return true
  }
  return false
}

/** Ends every registration still held (the child is stopping with its session). */
export function releaseRegistrations(registrations: Registrations): void {
  const held = registrations.values()
  registrations.byId.clear()
  registrations.waits.clear()
  for (const actor of held) actor.send({ type: 'trigger.release' })
}
