/**
 * The built-in `cron` trigger type, end to end over every worker transport: config
 * validation and its exact texts, real firing on second-level schedules and the input a
 * function receives, no overlap by default (skipped ticks logged) and `overlap: true`,
 * unregister and disconnect stopping a schedule at once, and the next run time in
 * `engine::registered-triggers::list`. Time zones and DST are checked through computed next runs.
 * (The reference page's cron examples are in registration.test.ts.)
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Engine } from '../adapters/engine.js'
import type { WorkerClient } from '../client/worker.js'
import { nextRun, parseCronConfig, type CronSchedule } from '../core/cron-config.js'
import { eachWithEngine, limit, sleep, startEngine, until, type EngineCtx } from './harness.js'
import { peersOver, transports } from './transports.js'

type Ctx = EngineCtx
type Fire = { trigger_id: string; scheduled_time: string; actual_time: string; timezone: string }

const SKIPPED = 'cron tick skipped: previous run still in flight'
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

for (const transport of transports) {
  const it = suite<Ctx>(`cron over ${transport.name}`)

  eachWithEngine(it)
  const { worker } = peersOver(transport)
  const register = async (w: WorkerClient, id: string, function_id: string, config: Record<string, unknown>) => {
    const result = await w.registerTrigger({ id, trigger_type: 'cron', function_id, config })
    assert.equal(result, { type: 'triggerregistrationresult', id, trigger_type: 'cron', function_id }, `registering ${id}: ${JSON.stringify(result)}`)
  }
  const refusal = async (w: WorkerClient, id: string, config: Record<string, unknown>, details?: string) => {
    const result = await w.registerTrigger({ id, trigger_type: 'cron', function_id: 'job', config })
    assert.equal(Object.keys(result).sort(), ['error', 'function_id', 'id', 'trigger_type', 'type'], JSON.stringify(result))
    assert.is(result.error!.code, 'invalid_config')
    if (details !== undefined) assert.is(result.error!.details, details, `details of ${JSON.stringify(config)}`)
    return result.error!.message
  }
  /** Lists triggers; its answer also proves every earlier message of `w` was processed. */
  const list = async (w: WorkerClient) => ((await w.invoke('engine::registered-triggers::list', {})) as { registered_triggers: Array<Record<string, any>> }).registered_triggers

  it('config refusals: the exact texts', limit(async (ctx) => {
    const w = await worker(ctx)
    w.registerFunction('job', () => null)
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ schedule: 'every monday' }, "Invalid cron expression: 'every monday'"],
      [{ schedule: '' }, "Invalid cron expression: ''"],
      [{ schedule: '* * * *' }, "Invalid cron expression: '* * * *'"],
      [{ schedule: '0 0 9 * * * 2030' }, "Invalid cron expression: '0 0 9 * * * 2030'"],
      [{ schedule: '61 * * * *' }, "Invalid cron expression: '61 * * * *'"],
      [{ schedule: '0 25 * * *' }, "Invalid cron expression: '0 25 * * *'"],
      [{ schedule: '0 9 * * 8' }, "Invalid cron expression: '0 9 * * 8'"],
      [{ schedule: '0 0 30 2 *' }, "Invalid cron expression: '0 0 30 2 *'"],
      [{ schedule: '@reboot' }, "Invalid cron expression: '@reboot'"],
      [{ schedule: '@every 5s' }, "Invalid cron expression: '@every 5s'"],
      [{ schedule: '@sometimes' }, "Invalid cron expression: '@sometimes'"],
      [{ expression: 'bad one' }, "Invalid cron expression: 'bad one'"],
      [{ schedule: 'bad', timezone: 'Nowhere/Atall' }, "Invalid cron expression: 'bad'"],
      [{ schedule: '0 9 * * *', timezone: 'Mars/Olympus_Mons' }, "Invalid timezone: 'Mars/Olympus_Mons'"],
      [{ schedule: '0 9 * * *', timezone: '' }, "Invalid timezone: ''"],
      [{ schedule: '0 9 * * *', timezone: 'EST5EDT6' }, "Invalid timezone: 'EST5EDT6'"],
      [{}, "'schedule' is required: a cron expression such as '0 9 * * *', '*/5 * * * * *' or '@hourly'"],
      [{ timezone: 'UTC' }, "'schedule' is required: a cron expression such as '0 9 * * *', '*/5 * * * * *' or '@hourly'"],
      [{ schedule: 9 }, "'schedule' must be a string, got a number"],
      [{ schedule: '0 9 * * *', timezone: 5 }, "'timezone' must be a string, got a number"],
      [{ schedule: '0 9 * * *', overlap: 'yes' }, "'overlap' must be true or false, got a string"],
      [{ schedule: '0 9 * * *', expression: '0 10 * * *' }, "give 'schedule' or its alias 'expression', not both"],
    ]
    let n = 0
    for (const [config, message] of cases) assert.is(await refusal(w, `bad${++n}`, config), message, JSON.stringify(config))
    assert.equal(await list(w), [], 'nothing was scheduled')
  }))

  it('an invalid expression: the exact text, and the reason in details', limit(async (ctx) => {
    const w = await worker(ctx)
    w.registerFunction('job', () => null)
    const FIVE = "give 5 fields (minute hour day-of-month month day-of-week, e.g. '0 9 * * MON-FRI'), 6 with seconds first, or a nickname such as '@hourly'"
    const NICKNAMES = '(nicknames: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)'
    const cases: Array<[string, string]> = [
      ['@hourlly', `'@hourlly' is not a nickname; did you mean '@hourly'? ${NICKNAMES}`],
      ['@sometimes', `'@sometimes' is not a nickname ${NICKNAMES}`],
      ['0 9 * * MONN', "'MONN' in the day-of-week field is not a day; did you mean 'MON'? (use 0–7 or SUN–SAT)"],
      ['0 9 * JNA *', "'JNA' in the month field is not a month; did you mean 'JAN'? (use 1–12 or JAN–DEC)"],
      ['0 0 9 * * * 2030', `it has 7 fields; ${FIVE}`],
      ['* * * *', `it has 4 fields; ${FIVE}`],
      ['', `the schedule is empty; ${FIVE}`],
      ['61 * * * *', '61 in the minute field is out of range (0–59)'],
      ['0 0 25 * * *', '25 in the hour field is out of range (0–23)'],
      ['0 9 * 13 *', '13 in the month field is out of range (1–12)'],
      ['*/0 * * * *', "the minute field steps by 0 ('*/0'); a step must be at least 1"],
      ['0 0 30 2 *', 'no date ever matches it, so it would never fire'],
    ]
    let n = 0
    for (const [schedule, why] of cases) assert.is(await refusal(w, `why${++n}`, { schedule }, why), `Invalid cron expression: '${schedule}'`)
  }))

  it('accepted: 5 and 6 fields, nicknames, the alias expression, IANA zones', limit(async (ctx) => {
    const w = await worker(ctx)
    w.registerFunction('job', () => null)
    const configs: Array<Record<string, unknown>> = [
      { schedule: '0 9 * * 1-5' },
      { schedule: '*/30 0 9 * * *', timezone: 'Asia/Kolkata' },
      { schedule: '0 9 * * MON', timezone: 'america/new_york' },
      { expression: '0 0 1 * *' },
      { schedule: '15 * * * *', expression: '15 * * * *', overlap: true },
      ...['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'].map((schedule) => ({ schedule, timezone: 'Europe/Berlin' })),
    ]
    let n = 0
    for (const config of configs) await register(w, `ok${++n}`, 'job', config)
    assert.is((await list(w)).length, configs.length)
  }))

  it('fires on a 6-field schedule with {trigger_id, scheduled_time, actual_time, timezone}', limit(async (ctx) => {
    const w = await worker(ctx)
    const fires: Fire[] = []
    w.registerFunction('tick', (input: Fire) => (fires.push(input), { ok: true }))
    await register(w, 'every-second', 'tick', { schedule: '* * * * * *', timezone: 'Europe/Berlin' })
    await register(w, 'utc-by-default', 'tick', { expression: '* * * * * *' })
    const of = (id: string) => fires.filter((f) => f.trigger_id === id)
    await until(() => of('every-second').length >= 2 && of('utc-by-default').length >= 1, 3500, 'two ticks')
    for (const f of fires) {
      assert.equal(Object.keys(f).sort(), ['actual_time', 'scheduled_time', 'timezone', 'trigger_id'])
      assert.match(f.scheduled_time, ISO)
      assert.match(f.actual_time, ISO)
      const scheduled = Date.parse(f.scheduled_time)
      const actual = Date.parse(f.actual_time)
      assert.is(scheduled % 1000, 0, `scheduled_time is a whole second: ${f.scheduled_time}`)
      assert.ok(actual >= scheduled, `actual ${f.actual_time} >= scheduled ${f.scheduled_time}`)
      assert.ok(actual - scheduled < 1000, `fired within its second: ${f.actual_time} for ${f.scheduled_time}`)
    }
    assert.ok(of('every-second').every((f) => f.timezone === 'Europe/Berlin'))
    assert.ok(of('utc-by-default').every((f) => f.timezone === 'UTC'))
    const [first, second] = of('every-second')
    const gap = Date.parse(second.scheduled_time) - Date.parse(first.scheduled_time)
    assert.ok(gap >= 1000 && gap % 1000 === 0, `ticks land on their own seconds (${first.scheduled_time}, ${second.scheduled_time})`)
  }))

  it('no overlap by default: a tick while the previous run is in flight is skipped and logged', limit(async (ctx) => {
    const w = await worker(ctx)
    const releases: Array<() => void> = []
    w.registerFunction('slow', () => new Promise<void>((r) => releases.push(r)))
    await register(w, 'slow-cron', 'slow', { schedule: '* * * * * *' })
    await until(() => releases.length === 1, 1500, 'the first run')
    const skipped = () => ctx.engine.log.records.filter((r) => r.msg === SKIPPED && r.trigger_id === 'slow-cron')
    await until(() => skipped().length >= 1, 1500, 'a skipped tick in the log')
    assert.is(releases.length, 1, 'no second run while the first is in flight')
    assert.equal(skipped()[0], { level: 'info', msg: SKIPPED, worker_id: w.workerId, trigger_id: 'slow-cron', function_id: 'slow' })
    // Once the run ends, the next tick runs again.
    releases[0]()
    await until(() => releases.length === 2, 1500, 'the next run after the first ended')
    w.unregisterTrigger('slow-cron')
    await list(w)
    releases[1]()
  }))

  it('overlap: true lets a run start while the previous one is in flight', limit(async (ctx) => {
    const w = await worker(ctx)
    const releases: Array<() => void> = []
    w.registerFunction('slow', () => new Promise<void>((r) => releases.push(r)))
    await register(w, 'overlapping', 'slow', { schedule: '* * * * * *', overlap: true })
    await until(() => releases.length >= 2, 2500, 'two runs in flight at once')
    w.unregisterTrigger('overlapping')
    await list(w)
    for (const release of releases) release()
    assert.equal(ctx.engine.log.records.filter((r) => r.msg === SKIPPED), [])
  }))

  it('unregistering stops the schedule at once', limit(async (ctx) => {
    const w = await worker(ctx)
    let fires = 0
    w.registerFunction('tick', () => void fires++)
    await register(w, 'stop-me', 'tick', { schedule: '* * * * * *' })
    await until(() => fires >= 1, 1500, 'a first tick')
    w.unregisterTrigger('stop-me', 'cron')
    assert.equal(await list(w), [])
    const seen = fires
    await sleep(1300)
    assert.is(fires, seen, 'no tick after the unregistration was processed')
    // The id can be used again, with a schedule of its own.
    await register(w, 'stop-me', 'tick', { schedule: '0 0 1 1 *' })
  }))

  it('a session that ends stops its schedules at once', limit(async (ctx) => {
    // The function lives in another session, so a tick after the owner left would show.
    const server = await worker(ctx)
    let fires = 0
    server.registerFunction('tick', () => void fires++)
    const owner = await worker(ctx)
    await register(owner, 'owned', 'tick', { schedule: '* * * * * *' })
    await until(() => fires >= 1, 1500, 'a first tick')
    owner.close()
    await until(async () => (await list(server)).length === 0, 1500, 'the owner to be gone')
    const seen = fires
    await sleep(1300)
    assert.is(fires, seen, 'no tick after the session ended')
  }))

  it('engine::registered-triggers::list shows a cron trigger\'s next run time as next_run', limit(async (ctx) => {
    const w = await worker(ctx)
    w.registerFunction('generate_report', () => null)
    const config = { schedule: '0 9 * * *', timezone: 'America/New_York' }
    await register(w, 'daily_report', 'generate_report', config)
    await register(w, 'yearly', 'generate_report', { schedule: '@yearly' })
    await w.registerTrigger({ id: 'web', trigger_type: 'http', function_id: 'generate_report', config: { path: '/report' } })
    const triggers = await list(w)
    const expected = (c: Record<string, unknown>) => nextRun(parseCronConfig(c) as CronSchedule)!.toISOString()
    const daily = triggers.find((t) => t.id === 'daily_report')!
    assert.equal(daily, {
      id: 'daily_report',
      trigger_type: 'cron',
      function_id: 'generate_report',
      worker_name: w.workerId,
      config,
      config_summary: JSON.stringify(config),
      worker_id: w.workerId,
      state: 'active',
      next_run: expected(config),
    })
    assert.match(daily.next_run, /T1[34]:00:00\.000Z$/, '09:00 in New York is 13:00 or 14:00 UTC')
    assert.is(triggers.find((t) => t.id === 'yearly')!.next_run, expected({ schedule: '@yearly' }))
    assert.not.ok('next_run' in triggers.find((t) => t.id === 'web')!, 'http triggers have no next run')
  }))

  it.run()
}

// ---------------------------------------------------------------- computed next runs

const at = suite('cron next runs: time zones and DST')
const next = (config: Record<string, unknown>, from: string) => {
  const schedule = parseCronConfig(config)
  if (typeof schedule === 'string') throw new Error(schedule)
  return nextRun(schedule, new Date(from))?.toISOString()
}

at('parsed config: defaults and the alias', limit(() => {
  assert.equal(parseCronConfig({ schedule: '0 9 * * *' }), { schedule: '0 9 * * *', timezone: 'UTC', overlap: false })
  assert.equal(parseCronConfig({ expression: '0 9 * * *', timezone: 'America/New_York', overlap: true }), { schedule: '0 9 * * *', timezone: 'America/New_York', overlap: true })
}))

at('0 9 * * * in America/New_York: 13:00 UTC in summer, 14:00 UTC in winter', limit(() => {
  const ny = { schedule: '0 9 * * *', timezone: 'America/New_York' }
  assert.is(next(ny, '2024-07-01T00:00:00Z'), '2024-07-01T13:00:00.000Z')
  assert.is(next(ny, '2024-01-15T00:00:00Z'), '2024-01-15T14:00:00.000Z')
  // Across the spring-forward night (10 March 2024) and the fall-back night (3 November 2024).
  assert.is(next(ny, '2024-03-09T15:00:00Z'), '2024-03-10T13:00:00.000Z')
  assert.is(next(ny, '2024-11-02T14:00:00Z'), '2024-11-03T14:00:00.000Z')
  // Strictly after `from`.
  assert.is(next(ny, '2024-07-01T13:00:00.000Z'), '2024-07-02T13:00:00.000Z')
  assert.is(next(ny, '2024-07-01T12:59:59.999Z'), '2024-07-01T13:00:00.000Z')
}))

at('other zones: UTC by default, half-hour offsets, the southern hemisphere, Europe', limit(() => {
  assert.is(next({ schedule: '0 9 * * *' }, '2024-07-01T00:00:00Z'), '2024-07-01T09:00:00.000Z')
  assert.is(next({ schedule: '0 9 * * *', timezone: 'Asia/Kolkata' }, '2024-07-01T00:00:00Z'), '2024-07-01T03:30:00.000Z')
  assert.is(next({ schedule: '0 9 * * *', timezone: 'Australia/Sydney' }, '2024-01-15T00:00:00Z'), '2024-01-15T22:00:00.000Z')
  assert.is(next({ schedule: '0 9 * * *', timezone: 'Australia/Sydney' }, '2024-07-15T00:00:00Z'), '2024-07-15T23:00:00.000Z')
  assert.is(next({ schedule: '0 9 * * *', timezone: 'Europe/London' }, '2024-07-01T00:00:00Z'), '2024-07-01T08:00:00.000Z')
  assert.is(next({ schedule: '0 9 * * *', timezone: 'Europe/London' }, '2024-12-01T00:00:00Z'), '2024-12-01T09:00:00.000Z')
}))

at('seconds and nicknames', limit(() => {
  assert.is(next({ schedule: '30 15 10 * * *' }, '2024-07-01T00:00:00Z'), '2024-07-01T10:15:30.000Z')
  assert.is(next({ schedule: '*/15 * * * * *' }, '2024-07-01T00:00:07.500Z'), '2024-07-01T00:00:15.000Z')
  assert.is(next({ schedule: '@hourly' }, '2024-07-01T10:15:30Z'), '2024-07-01T11:00:00.000Z')
  assert.is(next({ schedule: '@daily', timezone: 'America/New_York' }, '2024-07-01T12:00:00Z'), '2024-07-02T04:00:00.000Z')
  assert.is(next({ schedule: '@midnight' }, '2024-07-01T12:00:00Z'), '2024-07-02T00:00:00.000Z')
  assert.is(next({ schedule: '@weekly' }, '2024-07-01T12:00:00Z'), '2024-07-07T00:00:00.000Z')
  assert.is(next({ schedule: '@monthly' }, '2024-07-01T12:00:00Z'), '2024-08-01T00:00:00.000Z')
  assert.is(next({ schedule: '@yearly' }, '2024-07-01T12:00:00Z'), '2025-01-01T00:00:00.000Z')
  assert.is(next({ schedule: '@annually' }, '2024-07-01T12:00:00Z'), '2025-01-01T00:00:00.000Z')
}))

at.run()
