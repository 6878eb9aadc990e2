/**
 * A session's child for `http` triggers: validates each config and asks `provider:http`
 * for the route; it holds the routes of its session's triggers and gives them back when a
 * trigger is unregistered or the session ends.
 */
import { parseHttpConfig } from '../core/http-config.js'
import { actorsOf } from '../machines/system.js'
import { providedTriggerType } from './provided-trigger-type.js'

export const httpTriggerTypeLogic = providedTriggerType({
  provider: (system) => actorsOf(system).httpProvider(),
  parse: parseHttpConfig,
  hold: (trigger, route) => ({ type: 'route.add' as const, ...trigger, route }),
  release: (trigger) => ({ type: 'route.remove' as const, ...trigger }),
  releaseAll: (worker_id, trigger_ids) => ({ type: 'route.removeAll' as const, worker_id, trigger_ids }),
})
