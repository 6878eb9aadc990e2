/**
 * A session's child for `cron` triggers: validates each config and subscribes the trigger
 * to its schedule in `provider:cron` (the engine's clock, which runs one job per distinct
 * schedule); it holds its session's schedules and releases them when a trigger is
 * unregistered or the session ends, so no tick of theirs fires after that.
 */
import { parseCronConfig } from './cron-config.js'
import { providedTriggerType } from './provider-trigger-type.js'

export const cronTriggerTypeLogic = providedTriggerType({
  provider: 'provider:cron',
  parse: parseCronConfig,
  hold: (trigger, schedule) => ({ type: 'cron.schedule', ...trigger, schedule }),
  release: (trigger) => ({ type: 'cron.unschedule', ...trigger }),
})
