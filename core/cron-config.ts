/**
 * The config of a `cron` trigger: `schedule` (alias `expression`): 5 fields, 6 with
 * seconds, or a nickname such as `@hourly`; `timezone` (IANA, default UTC); `overlap`
 * (default false: a tick while the previous run is in flight is skipped).
 */
import { Cron } from 'croner'
import { describeValue } from '../protocol/values.js'

export interface CronSchedule {
  schedule: string
  timezone: string
  overlap: boolean
}

const validZone = (zone: string) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return true
  } catch {
    return false
  }
}

const validPattern = (schedule: string) => {
  const fields = schedule.trim().split(/\s+/).length
  if (!schedule.trim().startsWith('@') && fields !== 5 && fields !== 6) return false
  try {
    // A schedule that can never fire (e.g. '0 0 30 2 *', February 30th) is a mistake too.
    return new Cron(schedule, { paused: true }).nextRun() !== null
  } catch {
    return false
  }
}

/**
 * Verdicts already reached on patterns and zones. Both checks are pure and costly (croner
 * parses into about 80 KB, Intl looks the zone up), and most triggers share a few
 * schedules, so each is made once. Only short texts are kept, and the memo is dropped
 * whole when it grows large.
 */
const verdicts = new Map<string, boolean>()
const checked = (key: string, check: () => boolean): boolean => {
  if (key.length > 200) return check()
  let ok = verdicts.get(key)
  if (ok === undefined) {
    if (verdicts.size >= 1000) verdicts.clear()
    ok = check()
    verdicts.set(key, ok)
  }
  return ok
}

/** Validates a cron trigger's config; returns the schedule or the text of the refusal. */
export function parseCronConfig(config: Record<string, unknown>): CronSchedule | string {
  if (config.schedule !== undefined && config.expression !== undefined && config.schedule !== config.expression) {
    return "give 'schedule' or its alias 'expression', not both"
  }
  const schedule = config.schedule ?? config.expression
  if (schedule === undefined) return "'schedule' is required: a cron expression such as '0 9 * * *', '*/5 * * * * *' or '@hourly'"
  if (typeof schedule !== 'string') return `'schedule' must be a string, got ${describeValue(schedule)}`
  const timezone = config.timezone ?? 'UTC'
  if (typeof timezone !== 'string') return `'timezone' must be a string, got ${describeValue(timezone)}`
  if (config.overlap !== undefined && typeof config.overlap !== 'boolean') return `'overlap' must be true or false, got ${describeValue(config.overlap)}`
  if (!checked(`pattern ${schedule}`, () => validPattern(schedule))) return `Invalid cron expression: '${schedule}'`
  if (!checked(`zone ${timezone}`, () => validZone(timezone))) return `Invalid timezone: '${timezone}'`
  return { schedule, timezone, overlap: config.overlap === true }
}

/**
 * A schedule's pattern written one way, so schedules that fire alike share one job:
 * fields separated by single spaces, 5 fields given their seconds (`0 9 * * *` is
 * `0 0 9 * * *`, as croner reads it), nicknames in lower case.
 */
export function normalisedPattern(schedule: string): string {
  const fields = schedule.trim().split(/\s+/)
  if (fields.length === 1 && fields[0].startsWith('@')) return fields[0].toLowerCase()
  if (fields.length === 5) fields.unshift('0')
  return fields.join(' ')
}

/** The next time `schedule` fires after `from` (default now). */
export function nextRun(schedule: CronSchedule, from?: Date): Date | null {
  return new Cron(schedule.schedule, { timezone: schedule.timezone, paused: true }).nextRun(from)
}
