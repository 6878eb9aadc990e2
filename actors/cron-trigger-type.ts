/**
 * A session's child for `cron` triggers: validates each config and subscribes the trigger
 * to its schedule in `provider:cron` (the engine's clock, which runs one job per distinct
 * schedule); it holds its session's schedules and releases them when a trigger is
 * unregistered or the session ends, so no tick of theirs fires after that.
 */
import { checkCronConfig } from '../core/cron-config.js'
import { actorsOf } from '../machines/system.js'
import { providedTriggerType } from './provided-trigger-type.js'

export const cronTriggerTypeLogic = providedTriggerType({
  provider: (system) => actorsOf(system).cronProvider(),
  parse: checkCronConfig,
  hold: (trigger, schedule) => ({ type: 'cron.schedule' as const, ...trigger, schedule }),
  release: (trigger) => ({ type: 'cron.unschedule' as const, ...trigger }),
})
