/**
 * The trigger types the engine provides itself, by id: each is the actor logic of a
 * session's child for that type, answering the same events as a worker-provided type
 * (`trigger.activate`, `trigger.deactivate`) and releasing what it holds when stopped.
 * A built-in type is registered (in the catalog, as provided by `engine`) only when the
 * engine runs what it needs: `http` with an HTTP listener, `cron` and `queue` always.
 */
import { cronTriggerTypeLogic } from './cron-trigger-type.js'
import { httpTriggerTypeLogic } from './http-trigger-type.js'
import { queueTriggerTypeLogic } from './queue-trigger-type.js'

/** The catalog's provider name for built-in trigger types. */
export const ENGINE_PROVIDER = 'engine'

export const builtinTriggerTypes = {
  http: httpTriggerTypeLogic,
  cron: cronTriggerTypeLogic,
  queue: queueTriggerTypeLogic,
}

export type BuiltinTriggerType = keyof typeof builtinTriggerTypes

/** What `engine::trigger-types::list` says of each built-in type. */
export const builtinDescriptions: Record<BuiltinTriggerType, string> = {
  http: 'HTTP routes on the engine\'s HTTP listener',
  cron: 'Cron schedules (5 or 6 fields, nicknames, IANA time zones)',
  queue: 'Durable queues: batches, visibility timeouts, dead letters',
}

export const isBuiltin = (trigger_type: string): trigger_type is BuiltinTriggerType => Object.hasOwn(builtinTriggerTypes, trigger_type)
