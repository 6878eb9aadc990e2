/**
 * The trigger types the engine provides itself, by id: each is the actor logic of a
 * session's child for that type, answering the same events as a worker-provided type
 * (`trigger.activate`, `trigger.deactivate`) and releasing what it holds when stopped.
 * A built-in type is in the catalog (provided by `engine`) only when the engine runs what
 * it needs: `http` with an HTTP listener, the others always.
 */
import { BUILTIN_TRIGGER_TYPES } from '../core/catalog.js'
import { cronTriggerTypeLogic } from './cron-trigger-type.js'
import { httpTriggerTypeLogic } from './http-trigger-type.js'
import { queueTriggerTypeLogic } from './queue-trigger-type.js'
import { durableSubscriberTriggerTypeLogic, subscribeTriggerTypeLogic } from './subscribe-trigger-type.js'

export const builtinTriggerTypes = {
  http: httpTriggerTypeLogic,
  cron: cronTriggerTypeLogic,
  queue: queueTriggerTypeLogic,
  subscribe: subscribeTriggerTypeLogic,
  'durable:subscriber': durableSubscriberTriggerTypeLogic,
} satisfies Record<keyof typeof BUILTIN_TRIGGER_TYPES, unknown>
