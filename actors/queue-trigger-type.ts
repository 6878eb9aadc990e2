/**
 * A session's child for `queue` triggers: validates each config and registers a consumer
 * with `provider:queue`; it holds its session's consumers and stops them when a trigger is
 * unregistered or the session ends (their batches in flight return to the queue when
 * their lease ends).
 */
import { fromCallback, type AnyActorRef } from 'xstate'
import { parseQueueConfig } from './queue-config.js'
import type { TriggerTypeEvent, TriggerTypeInput } from './remote-trigger-type.js'
import { triggerActorId } from '../machines/trigger.machine.js'

export const queueTriggerTypeLogic = fromCallback<TriggerTypeEvent, TriggerTypeInput>(({ input, system, receive }) => {
  const { worker_id } = input
  const held = new Set<string>()
  const provider = () => system.get('provider:queue') as AnyActorRef | undefined
  receive((event) => {
    if (event.type === 'trigger.activate') {
      const config = parseQueueConfig(event.config)
      if (typeof config === 'string') {
        system.get(triggerActorId(worker_id, event.trigger_id))?.send({ type: 'trigger.rejected', error: { code: 'invalid_config', message: config } })
        return
      }
      held.add(event.trigger_id)
      provider()?.send({ type: 'queue.consume', worker_id, trigger_id: event.trigger_id, function_id: event.function_id, config })
    } else if (event.type === 'trigger.deactivate') {
      if (held.delete(event.trigger_id)) provider()?.send({ type: 'queue.stop', worker_id, trigger_id: event.trigger_id })
    }
  })
  return () => {
    for (const trigger_id of held) provider()?.send({ type: 'queue.stop', worker_id, trigger_id })
  }
})
