/**
 * A session's child for `queue` triggers: validates each config and registers a consumer
 * with `provider:queue`; it holds its session's consumers and stops them when a trigger is
 * unregistered or the session ends (their batches in flight return to the queue when
 * their lease ends).
 */
import { parseQueueConfig } from '../core/queue-config.js'
import { actorsOf } from '../machines/system.js'
import { providedTriggerType } from './provided-trigger-type.js'

export const queueTriggerTypeLogic = providedTriggerType({
  provider: (system) => actorsOf(system).queueProvider(),
  parse: parseQueueConfig,
  hold: (trigger, config) => ({ type: 'queue.consume' as const, ...trigger, config }),
  release: (trigger) => ({ type: 'queue.stop' as const, ...trigger }),
})
