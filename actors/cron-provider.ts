/**
 * `provider:cron`: the engine's clock. Sessions' cron children add and remove schedules
 * with events; this actor keeps ONE croner job per distinct schedule (its normalised
 * pattern and time zone) and the triggers subscribed to it. A tick works out its
 * `scheduled_time` once for the job, then starts one invocation per subscribed trigger,
 * each with its own `actual_time`, taken as that trigger's invocation is started.
 *
 * Per trigger, as with a job of its own: its first tick is the first one after it was
 * added; a tick while its previous run is in flight is skipped (logged to its session,
 * counted as `invocation.skipped`) unless its config sets `overlap`. A job stops when its
 * last trigger leaves; stopping this actor stops every job.
 */
import { Cron } from 'croner'
import { fromCallback, type AnyActorRef } from 'xstate'
import { normalisedPattern, type CronSchedule } from './cron-config.js'
import type { Caller, Outcome } from './invocations.js'
import { triggerActorId } from '../machines/trigger.machine.js'

/** What `cron.jobs` answers: each job the provider runs, and how many triggers it serves. */
export interface CronJobInfo {
  pattern: string
  timezone: string
  triggers: number
}

export type CronProviderEvent =
  | { type: 'cron.schedule'; worker_id: string; trigger_id: string; function_id: string; schedule: CronSchedule }
  | { type: 'cron.unschedule'; worker_id: string; trigger_id: string }
  /** The jobs running now (for tests and inspection). */
  | { type: 'cron.jobs'; reply: (jobs: CronJobInfo[]) => void }

/** One trigger subscribed to a job. */
interface Subscription {
  worker_id: string
  trigger_id: string
  function_id: string
  /** The time zone as the trigger's config wrote it, passed on in its invocations. */
  timezone: string
  overlap: boolean
  /** When it was added (ms): ticks scheduled at or before this are not its own. */
  since: number
  /** Its runs in flight. */
  running: number
  /** Answers its runs; one per subscription, so a run of a replaced trigger counts against the old one. */
  caller: Caller
}

interface Job {
  key: string
  pattern: string
  timezone: string
  cron: Cron
  /** Subscriptions by `worker_id␀trigger_id`. */
  triggers: Map<string, Subscription>
}

const SKIPPED = 'cron tick skipped: previous run still in flight'
const holderKey = (worker_id: string, trigger_id: string) => `${worker_id}\u0000${trigger_id}`

/** The `provider:cron` actor logic. */
export const cronProviderLogic = fromCallback<CronProviderEvent>(({ system, receive, sendBack }) => {
  const jobs = new Map<string, Job>()
  /** The job each subscription belongs to, by `worker_id␀trigger_id`. */
  const held = new Map<string, Job>()
  /** Canonical names of the time zones seen (`america/new_york` → `America/New_York`). */
  const zones = new Map<string, string>()

  const zoneOf = (timezone: string) => {
    let zone = zones.get(timezone)
    if (zone === undefined) {
      if (zones.size >= 1000) zones.clear()
      zone = new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone
      zones.set(timezone, zone)
    }
    return zone
  }
  /** Logs to the session that registered the trigger, while it lives. */
  const log = (sub: Subscription, level: 'info' | 'warn', msg: string, data: Record<string, unknown>) =>
    (system.get(`session:${sub.worker_id}`) as AnyActorRef | undefined)?.send({ type: 'session.log', level, msg, data: { worker_id: sub.worker_id, ...data } })

  /**
   * The tick a job's fire belongs to: the latest occurrence at or before now. croner never
   * fires early and strips milliseconds, so that is nearly always the current whole second;
   * otherwise (a late timer, a run moved by a DST gap) croner finds it.
   */
  const scheduledTime = (job: Job, now: number): number => {
    const second = now - (now % 1000)
    if (job.cron.match(new Date(second))) return second
    return job.cron.previousRuns(1, new Date(second + 1000))[0]?.getTime() ?? now
  }

  const tick = (job: Job) => {
    const invocations = system.get('invocations') as AnyActorRef | undefined
    if (!invocations || jobs.get(job.key) !== job) return
    const scheduled = scheduledTime(job, Date.now())
    const scheduled_time = new Date(scheduled).toISOString()
    for (const sub of job.triggers.values()) {
      if (sub.since >= scheduled) continue
      if (sub.running > 0 && !sub.overlap) {
        log(sub, 'info', SKIPPED, { trigger_id: sub.trigger_id, function_id: sub.function_id })
        invocations.send({ type: 'invocation.skipped', source: 'cron', function_id: sub.function_id })
        continue
      }
      sub.running++
      invocations.send({
        type: 'invocation.start',
        source: 'cron',
        caller: sub.caller,
        function_id: sub.function_id,
        data: { trigger_id: sub.trigger_id, scheduled_time, actual_time: new Date().toISOString(), timezone: sub.timezone },
      })
    }
  }

  const startJob = (key: string, pattern: string, timezone: string): Job => {
    const job: Job = {
      key,
      pattern,
      timezone,
      triggers: new Map(),
      cron: new Cron(pattern, { timezone, catch: (err) => sendBack({ type: 'engine.log', level: 'warn', msg: 'cron tick failed', data: { pattern, timezone, err: String(err) } }) }, () => tick(job)),
    }
    jobs.set(key, job)
    return job
  }

  const unschedule = (worker_id: string, trigger_id: string) => {
    const key = holderKey(worker_id, trigger_id)
    const job = held.get(key)
    if (!job) return
    held.delete(key)
    job.triggers.delete(key)
    if (job.triggers.size > 0) return
    job.cron.stop()
    jobs.delete(job.key)
  }

  const schedule = ({ worker_id, trigger_id, function_id, schedule }: Extract<CronProviderEvent, { type: 'cron.schedule' }>) => {
    const since = Date.now()
    unschedule(worker_id, trigger_id)
    // The config was checked by the session's cron child (parseCronConfig): the zone is valid.
    const pattern = normalisedPattern(schedule.schedule)
    const timezone = zoneOf(schedule.timezone)
    const key = `${pattern}\u0000${timezone}`
    const job = jobs.get(key) ?? startJob(key, pattern, timezone)
    const sub: Subscription = {
      worker_id,
      trigger_id,
      function_id,
      timezone: schedule.timezone,
      overlap: schedule.overlap,
      since,
      running: 0,
      caller: {
        reply: (outcome: Outcome) => {
          sub.running--
          if (outcome.error !== undefined) log(sub, 'warn', 'cron run failed', { trigger_id, function_id, error: outcome.error })
        },
      },
    }
    const holder = holderKey(worker_id, trigger_id)
    job.triggers.set(holder, sub)
    held.set(holder, job)
    ;(system.get(triggerActorId(worker_id, trigger_id)) as AnyActorRef | undefined)?.send({ type: 'trigger.activated' })
  }

  receive((event) => {
    if (event.type === 'cron.schedule') schedule(event)
    else if (event.type === 'cron.unschedule') unschedule(event.worker_id, event.trigger_id)
    else if (event.type === 'cron.jobs') event.reply([...jobs.values()].map((j) => ({ pattern: j.pattern, timezone: j.timezone, triggers: j.triggers.size })))
  })

  return () => {
    for (const job of jobs.values()) job.cron.stop()
    jobs.clear()
    held.clear()
  }
})
