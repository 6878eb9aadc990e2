/**
 * Sessions' children for pub/sub triggers, iii's `subscribe` and `durable:subscriber`:
 * validate the config (`{topic}`, and a durable subscriber's `queue_config`) and subscribe
 * the trigger's function to the topic in `provider:pubsub`; the subscription ends when the
 * trigger is unregistered or the session ends.
 */
import { forSubscriber, parseDurableConfig, parseTopicConfig } from '../core/pubsub-config.js'
import { actorsOf } from '../machines/system.js'
import { providedTriggerType } from './provided-trigger-type.js'

const release = (trigger: { worker_id: string; trigger_id: string }) => ({ type: 'topic.unsubscribe' as const, ...trigger })

export const subscribeTriggerTypeLogic = providedTriggerType({
  provider: (system) => actorsOf(system).pubsubProvider(),
  parse: parseTopicConfig,
  hold: (trigger, { topic }) => ({ type: 'topic.subscribe' as const, ...trigger, topic }),
  release,
})

/** A durable subscriber's function gets its own queue, `durable:<topic>:<function_id>` (core/pubsub-config.ts). */
export const durableSubscriberTriggerTypeLogic = providedTriggerType({
  provider: (system) => actorsOf(system).pubsubProvider(),
  parse: parseDurableConfig,
  hold: (trigger, { topic, queue }) => ({ type: 'topic.subscribe' as const, ...trigger, topic, queue: forSubscriber(topic, trigger.function_id, queue) }),
  release,
})
