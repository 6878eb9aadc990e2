/**
 * A session's child for `cron` triggers. It owns one croner job per trigger: a fire
 * invokes the trigger's function with `{trigger_id, scheduled_time, actual_time,
 * timezone}`; by default a tick that comes while the previous run is still in flight is
 * skipped and logged. Unregistering stops the job; stopping this actor stops them all.
 */
import { Cron } from 'croner'
import { fromCallback, type AnyActorRef } from 'xstate'
import { parseCronConfig } from './cron-config.js'
import type { TriggerTypeEvent, TriggerTypeInput } from './remote-trigger-type.js'
import { triggerActorId } from '../machines/trigger.machine.js'
import { triggerRegistrations } from './trigger-registrations.js'

export const cronTriggerTypeLogic = fromCallback<TriggerTypeEvent, TriggerTypeInput>(({ input, system, self, receive, sendBack }) => {
  const { worker_id } = input
  const registrations = triggerRegistrations({ worker_id, self, system, sendBack })
  const jobs = new Map<string, Cron>()
  let stopped = false
  // Runs still in flight when the session ends answer later; their outcome is not logged then.
  const log = (level: 'info' | 'warn', msg: string, data: Record<string, unknown>) =>
    stopped || sendBack({ type: 'session.log', level, msg, data: { worker_id, ...data } })

  const stop = (trigger_id: string) => {
    jobs.get(trigger_id)?.stop()
    jobs.delete(trigger_id)
  }

  receive((event) => {
    if (registrations.handle(event)) return
    if (event.type === 'trigger.activate') {
      const { trigger_id, function_id } = event
      const schedule = parseCronConfig(event.config)
      const trigger = system.get(triggerActorId(worker_id, trigger_id))
      if (typeof schedule === 'string') return trigger?.send({ type: 'trigger.rejected', error: { code: 'invalid_config', message: schedule } })
      stop(trigger_id)
      const fire = (job: Cron) =>
        new Promise<void>((resolve) => {
          const actual = new Date()
          // The tick this run belongs to: the latest occurrence at or before now (croner
          // never fires early; it strips milliseconds).
          const scheduled = job.previousRuns(1, new Date(Math.floor(actual.getTime() / 1000) * 1000 + 1000))[0] ?? actual
          const invocations = system.get('invocations') as AnyActorRef | undefined
          if (!invocations || jobs.get(trigger_id) !== job) return resolve()
          invocations.send({
            type: 'invocation.start',
            source: 'cron',
            caller: {
              reply: (outcome: { error?: unknown }) => {
                if (outcome.error !== undefined) log('warn', 'cron run failed', { trigger_id, function_id, error: outcome.error })
                resolve()
              },
            },
            function_id,
            data: { trigger_id, scheduled_time: scheduled.toISOString(), actual_time: actual.toISOString(), timezone: schedule.timezone },
          })
        })
      const job: Cron = new Cron(
        schedule.schedule,
        {
          timezone: schedule.timezone,
          protect: schedule.overlap
            ? false
            : () => {
                if (jobs.get(trigger_id) !== job) return
                log('info', 'cron tick skipped: previous run still in flight', { trigger_id, function_id })
                ;(system.get('invocations') as AnyActorRef | undefined)?.send({ type: 'invocation.skipped', source: 'cron', function_id })
              },
        },
        fire,
      )
      jobs.set(trigger_id, job)
      trigger?.send({ type: 'trigger.activated' })
    } else if (event.type === 'trigger.deactivate') {
      stop(event.trigger_id)
    }
  })

  return () => {
    stopped = true
    registrations.stop()
    for (const trigger_id of [...jobs.keys()]) stop(trigger_id)
  }
})
