/**
 * A session's child for `http` triggers: validates each config and asks `provider:http`
 * for the route; it holds the routes of its session's triggers and gives them back when a
 * trigger is unregistered or the session ends.
 */
import { parseHttpConfig } from './http-config.js'
import { providedTriggerType } from './provider-trigger-type.js'

export const httpTriggerTypeLogic = providedTriggerType({
  provider: 'provider:http',
  parse: parseHttpConfig,
  hold: (trigger, route) => ({ type: 'route.add', ...trigger, route }),
  release: (trigger) => ({ type: 'route.remove', ...trigger }),
})
