/**
 * The config of a `cron` trigger: `schedule` (alias `expression`): 5 fields, 6 with
 * seconds, or a nickname such as `@hourly`; `timezone` (IANA, default UTC); `overlap`
 * (default false: a tick while the previous run is in flight is skipped).
 */
import { Cron } from 'croner'
import type { ErrorBody } from '../protocol/messages.js'
import { errors } from '../protocol/errors.js'
import { describeValue } from '../protocol/values.js'
import { closest } from './closest.js'

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

/** The nicknames croner reads, as a schedule may give them. */
export const CRON_NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'] as const

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC']
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT']

/** The fields of a schedule of 6 fields, with their ranges and the words each takes; 5 fields leave out the seconds. */
const FIELDS = [
  { name: 'second', min: 0, max: 59, words: [] as string[] },
  { name: 'minute', min: 0, max: 59, words: [] as string[] },
  { name: 'hour', min: 0, max: 23, words: [] as string[] },
  { name: 'day-of-month', min: 1, max: 31, words: ['L', 'W', 'LW'] },
  { name: 'month', min: 1, max: 12, words: MONTHS },
  { name: 'day-of-week', min: 0, max: 7, words: [...DAYS, 'L'] },
]

const FIELD_COUNT_HINT = "give 5 fields (minute hour day-of-month month day-of-week, e.g. '0 9 * * MON-FRI'), 6 with seconds first, or a nickname such as '@hourly'"

/**
 * Why `schedule` is not a cron expression signalbox runs, in words a person can act on, or
 * undefined when it is one: a nickname that is not one, the wrong number of fields, a
 * month or day name that is not one, a number out of its field's range, or a schedule no
 * date ever matches (`0 0 30 2 *`).
 */
export function cronProblem(schedule: string): string | undefined {
  const text = schedule.trim()
  if (text === '') return `the schedule is empty; ${FIELD_COUNT_HINT}`
  const fields = text.split(/\s+/)
  if (text.startsWith('@')) {
    const nickname = text.toLowerCase()
    if (fields.length !== 1 || !(CRON_NICKNAMES as readonly string[]).includes(nickname)) {
      const guess = fields.length === 1 ? closest(nickname, CRON_NICKNAMES) : undefined
      return `'${text}' is not a nickname${guess ? `; did you mean '${guess}'?` : ''} (nicknames: ${CRON_NICKNAMES.join(', ')})`
    }
  } else {
    if (fields.length !== 5 && fields.length !== 6) return `it has ${fields.length} field${fields.length === 1 ? '' : 's'}; ${FIELD_COUNT_HINT}`
    const named = fields.length === 6 ? FIELDS : FIELDS.slice(1)
    for (let i = 0; i < fields.length; i++) {
      const problem = fieldProblem(fields[i], named[i])
      if (problem) return problem
    }
  }
  let cron: Cron
  try {
    cron = new Cron(text, { paused: true })
  } catch (err) {
    return (err as Error).message.replace(/^CronPattern:\s*/, '')
  }
  // A schedule that can never fire (e.g. '0 0 30 2 *', February 30th) is a mistake too.
  if (cron.nextRun() === null) return 'no date ever matches it, so it would never fire'
  return undefined
}

/** What is wrong with one field: a word it does not take, or a number out of its range. */
function fieldProblem(field: string, spec: (typeof FIELDS)[number]): string | undefined {
  for (const word of field.match(/[A-Za-z]+/g) ?? []) {
    if (spec.words.includes(word.toUpperCase())) continue
    const kind = spec.name === 'month' ? 'a month' : spec.name === 'day-of-week' ? 'a day' : undefined
    const names = spec.name === 'month' ? 'JAN–DEC' : spec.name === 'day-of-week' ? 'SUN–SAT' : undefined
    const guess = spec.words.length > 0 ? closest(word.toUpperCase(), spec.words) : undefined
    const instead = names ? `use ${spec.min}–${spec.max} or ${names}` : `use numbers ${spec.min}–${spec.max}, '*', ranges (1-5), lists (1,15) and steps (*/10)`
    return `'${word}' in the ${spec.name} field is not ${kind ?? 'allowed there'}${guess ? `; did you mean '${guess}'?` : ''} (${instead})`
  }
  for (const m of field.matchAll(/\/(\d+)/g)) if (Number(m[1]) === 0) return `the ${spec.name} field steps by 0 ('${field}'); a step must be at least 1`
  // Numbers that are values (not the step after '/', nor the nth after '#').
  for (const m of field.matchAll(/(^|[^/#\d])(\d+)/g)) {
    const n = Number(m[2])
    if (n < spec.min || n > spec.max) return `${m[2]} in the ${spec.name} field is out of range (${spec.min}–${spec.max})`
  }
  return undefined
}

const validPattern = (schedule: string) => cronProblem(schedule) === undefined

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

/**
 * Validates a cron trigger's config; returns the schedule, or the refusal (`invalid_config`):
 * for an invalid expression, the reference page's text (`Invalid cron expression: '…'`)
 * with the reason in `details`.
 */
export function checkCronConfig(config: Record<string, unknown>): CronSchedule | { refused: ErrorBody } {
  const parsed = parseCronConfig(config)
  if (typeof parsed !== 'string') return parsed
  const schedule = config.schedule ?? config.expression
  if (typeof schedule === 'string' && parsed === errors.invalidCronExpression(schedule).message) {
    return { refused: errors.invalidCronExpression(schedule, cronProblem(schedule)) }
  }
  return { refused: errors.invalidConfig(parsed) }
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
  if (!checked(`pattern ${schedule}`, () => validPattern(schedule))) return errors.invalidCronExpression(schedule).message!
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
