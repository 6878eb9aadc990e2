/**
 * A session's child for `http` triggers: validates each config and asks `provider:http`
 * for the route; it holds the routes of its session's triggers and gives them back when a
 * trigger is unregistered or the session ends.
 */
import { fromCallback, type AnyActorRef } from 'xstate'
import { parseHttpConfig } from './http-config.js'
import type { TriggerTypeEvent, TriggerTypeInput } from './remote-trigger-type.js'
import { triggerActorId } from '../machines/trigger.machine.js'

export const httpTriggerTypeLogic = fromCallback<TriggerTypeEvent, TriggerTypeInput>(({ input, system, receive }) => {
  const { worker_id } = input
  const routes = new Set<string>()
  const provider = () => system.get('provider:http') as AnyActorRef | undefined
  receive((event) => {
    if (event.type === 'trigger.activate') {
      const route = parseHttpConfig(event.config)
      if (typeof route === 'string') {
        system.get(triggerActorId(worker_id, event.trigger_id))?.send({ type: 'trigger.rejected', error: { code: 'invalid_config', message: route } })
        return
      }
      routes.add(event.trigger_id)
      provider()?.send({ type: 'route.add', worker_id, trigger_id: event.trigger_id, function_id: event.function_id, route })
    } else if (event.type === 'trigger.deactivate') {
      if (routes.delete(event.trigger_id)) provider()?.send({ type: 'route.remove', worker_id, trigger_id: event.trigger_id })
    }
  })
  return () => {
    for (const trigger_id of routes) provider()?.send({ type: 'route.remove', worker_id, trigger_id })
  }
})
