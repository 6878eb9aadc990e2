/**
 * A session's child for `queue` triggers: validates each config and registers a consumer
 * with `provider:queue`; it holds its session's consumers and stops them when a trigger is
 * unregistered or the session ends (their batches in flight return to the queue when
 * their lease ends).
 */
import { parseQueueConfig } from './queue-config.js'
import { providedTriggerType } from './provider-trigger-type.js'

export const queueTriggerTypeLogic = providedTriggerType({
  provider: 'provider:queue',
  parse: parseQueueConfig,
  hold: (trigger, config) => ({ type: 'queue.consume', ...trigger, config }),
  release: (trigger) => ({ type: 'queue.stop', ...trigger }),
})
