/**
 * The trigger types the engine provides itself, by id: each is the actor logic of a
 * session's child for that type, answering the same events as a worker-provided type
 * (`trigger.activate`, `trigger.deactivate`) and releasing what it holds when stopped.
 */
import type { AnyActorLogic } from 'xstate'

export const builtinTriggerTypes: Record<string, AnyActorLogic> = Object.create(null)
