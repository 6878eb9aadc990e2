/**
 * core/cron-table.ts, alone: triggers share one job per normalised pattern and canonical
 * time zone; subscribe / unsubscribe report the jobs their driver must start and stop;
 * a tick runs the triggers subscribed before it, and skips those still running unless
 * they allow overlap; replicas of one trigger run once per tick, in turn; list() and the
 * inspector's JSON.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { CronSchedule } from '../core/cron-config.js'
import { CronTable } from '../core/cron-table.js'

/** Canonical zone names, as Intl would give them; the table only calls this function. */
const CANONICAL: Record<string, string> = { utc: 'UTC', 'america/new_york': 'America/New_York', 'europe/paris': 'Europe/Paris' }
const canonicalZone = (zone: string) => CANONICAL[zone.toLowerCase()] ?? zone

const trig = (worker_id: string, trigger_id: string, function_id = 'f') => ({ worker_id, trigger_id, function_id })
const sched = (schedule: string, timezone = 'UTC', overlap = false): CronSchedule => ({ schedule, timezone, overlap })
/** Trigger ids of a tick's subscriptions, sorted. */
const ids = (subs: Array<{ trigger_id: string }>) => subs.map((s) => s.trigger_id).sort()

const it = suite('core: CronTable')

it('subscribe: the first subscription creates a job keyed by pattern and canonical zone', () => {
  const t = new CronTable(canonicalZone)
  assert.is(t.size, 0)
  const r = t.subscribe(trig('w', 'a'), sched('0 9 * * *', 'america/new_york'), 1000)
  assert.is(r.created, true)
  assert.is(r.emptied, undefined)
  assert.is(r.job.pattern, '0 0 9 * * *')
  assert.is(r.job.timezone, 'America/New_York')
  assert.is(r.job.key, '0 0 9 * * *\u0000America/New_York')
  assert.is(t.job(r.job.key), r.job)
  assert.is(t.job('nope'), undefined)
  assert.is(t.size, 1)
  // The subscription keeps the zone as its config wrote it.
  const sub = r.job.triggers.get('w\u0000a')
  assert.equal(sub, { worker_id: 'w', trigger_id: 'a', function_id: 'f', timezone: 'america/new_york', overlap: false, since: 1000, running: 0 })
})

it('subscribe: schedules that fire alike share one job', () => {
  const t = new CronTable(canonicalZone)
  const a = t.subscribe(trig('w1', 'a'), sched('0 9 * * *', 'UTC'), 1)
  const b = t.subscribe(trig('w2', 'b'), sched('  0   0 9 * * * ', 'utc'), 2)
  assert.is(b.created, false)
  assert.is(b.emptied, undefined)
  assert.is(b.job, a.job)
  assert.is(t.size, 1)
  assert.is(a.job.triggers.size, 2)
  // Nicknames are compared in lower case.
  const c = t.subscribe(trig('w1', 'c'), sched('@Hourly'), 3)
  const d = t.subscribe(trig('w1', 'd'), sched('@hourly'), 4)
  assert.is(c.created, true)
  assert.is(d.created, false)
  assert.is(d.job, c.job)
  assert.is(t.size, 2)
})

it('subscribe: another zone or another pattern is another job', () => {
  const t = new CronTable(canonicalZone)
  const a = t.subscribe(trig('w', 'a'), sched('0 9 * * *', 'UTC'), 1)
  const b = t.subscribe(trig('w', 'b'), sched('0 9 * * *', 'Europe/Paris'), 1)
  const c = t.subscribe(trig('w', 'c'), sched('0 10 * * *', 'UTC'), 1)
  assert.is(b.created, true)
  assert.is(c.created, true)
  assert.is.not(a.job, b.job)
  assert.is.not(a.job, c.job)
  assert.is(t.size, 3)
})

it('subscribe: the same trigger on another schedule leaves its old job (emptied when it was alone)', () => {
  const t = new CronTable(canonicalZone)
  const first = t.subscribe(trig('w', 'a'), sched('0 9 * * *'), 1)
  const moved = t.subscribe(trig('w', 'a'), sched('0 10 * * *'), 2)
  assert.is(moved.created, true)
  assert.is(moved.emptied, first.job.key)
  assert.is(t.size, 1)
  assert.is(t.job(first.job.key), undefined)
  assert.is(first.job.triggers.size, 0)
  assert.is(moved.job.triggers.get('w\u0000a')?.since, 2)
})

it('subscribe: moving away from a shared job empties nothing', () => {
  const t = new CronTable(canonicalZone)
  const shared = t.subscribe(trig('w', 'a'), sched('0 9 * * *'), 1)
  t.subscribe(trig('w', 'b'), sched('0 9 * * *'), 1)
  const moved = t.subscribe(trig('w', 'a'), sched('0 10 * * *'), 2)
  assert.is(moved.emptied, undefined)
  assert.is(t.job(shared.job.key), shared.job)
  assert.equal([...shared.job.triggers.keys()], ['w\u0000b'])
  // Moving onto the job another trigger already has: not created.
  const back = t.subscribe(trig('w', 'a'), sched('0 9 * * *'), 3)
  assert.is(back.created, false)
  assert.is(back.emptied, moved.job.key)
  assert.is(t.size, 1)
})

it('subscribe: the same trigger again on the same schedule, alone: emptied and created with the same key', () => {
  const t = new CronTable(canonicalZone)
  const first = t.subscribe(trig('w', 'a'), sched('0 9 * * *'), 1)
  const again = t.subscribe(trig('w', 'a', 'g'), sched('0 9 * * *', 'UTC', true), 5)
  assert.is(again.emptied, first.job.key)
  assert.is(again.created, true)
  assert.is(again.job.key, first.job.key)
  assert.is(t.size, 1)
  // The new subscription replaces the old one.
  const sub = again.job.triggers.get('w\u0000a')
  assert.is(sub?.function_id, 'g')
  assert.is(sub?.overlap, true)
  assert.is(sub?.since, 5)
  assert.is(again.job.triggers.size, 1)
})

it('subscribe: the same trigger again on a shared schedule neither creates nor empties', () => {
  const t = new CronTable(canonicalZone)
  t.subscribe(trig('w', 'a'), sched('0 9 * * *'), 1)
  t.subscribe(trig('w', 'b'), sched('0 9 * * *'), 1)
  const again = t.subscribe(trig('w', 'a'), sched('0 9 * * *'), 7)
  assert.is(again.created, false)
  assert.is(again.emptied, undefined)
  assert.is(again.job.triggers.size, 2)
  assert.is(again.job.triggers.get('w\u0000a')?.since, 7)
})

it('unsubscribe: returns the key of a job left empty, only then', () => {
  const t = new CronTable(canonicalZone)
  const { job } = t.subscribe(trig('w1', 'a'), sched('0 9 * * *'), 1)
  t.subscribe(trig('w2', 'a'), sched('0 9 * * *'), 1)
  assert.is(t.unsubscribe('w1', 'a'), undefined)
  assert.is(t.size, 1)
  assert.is(t.unsubscribe('w1', 'a'), undefined)
  assert.is(t.unsubscribe('nobody', 'a'), undefined)
  assert.is(t.unsubscribe('w2', 'a'), job.key)
  assert.is(t.size, 0)
  assert.is(t.job(job.key), undefined)
  assert.is(t.unsubscribe('w2', 'a'), undefined)
})

it('tick: ticks at or before a subscription are not its own', () => {
  const t = new CronTable(canonicalZone)
  const { job } = t.subscribe(trig('w', 'old'), sched('* * * * * *'), 1000)
  t.subscribe(trig('w', 'new'), sched('* * * * * *'), 2000)
  const early = t.tick(job, 1000)
  assert.equal(early, { run: [], skip: [] })
  const between = t.tick(job, 2000)
  assert.equal(ids(between.run), ['old'])
  assert.equal(between.skip, [])
  t.finished(between.run[0])
  const later = t.tick(job, 2001)
  assert.equal(ids(later.run), ['new', 'old'])
})

it('tick: a trigger still running skips the tick, unless it allows overlap', () => {
  const t = new CronTable(canonicalZone)
  const { job } = t.subscribe(trig('w', 'strict'), sched('* * * * * *'), 0)
  t.subscribe(trig('w', 'loose'), sched('* * * * * *', 'UTC', true), 0)
  const first = t.tick(job, 1000)
  assert.equal(ids(first.run), ['loose', 'strict'])
  assert.equal(first.run.map((s) => s.running), [1, 1])
  const second = t.tick(job, 2000)
  assert.equal(ids(second.run), ['loose'])
  assert.equal(ids(second.skip), ['strict'])
  const loose = job.triggers.get('w\u0000loose')!
  const strict = job.triggers.get('w\u0000strict')!
  assert.is(loose.running, 2)
  assert.is(strict.running, 1)
  // Once its run ends, the strict trigger runs again.
  t.finished(strict)
  assert.is(strict.running, 0)
  const third = t.tick(job, 3000)
  assert.equal(ids(third.run), ['loose', 'strict'])
  assert.equal(third.skip, [])
  assert.is(loose.running, 3)
})

it('tick: returns the subscriptions themselves, so finished() counts down the right one', () => {
  const t = new CronTable(canonicalZone)
  const { job } = t.subscribe(trig('w', 'a'), sched('* * * * * *'), 0)
  const { run } = t.tick(job, 1)
  assert.is(run[0], job.triggers.get('w\u0000a'))
  t.finished(run[0])
  assert.is(job.triggers.get('w\u0000a')?.running, 0)
})

it('tick: replicas of one trigger (same trigger id and function, other sessions) run once per tick, in turn', () => {
  const t = new CronTable(canonicalZone)
  const { job } = t.subscribe(trig('w1', 'nightly', 'f'), sched('* * * * * *'), 0)
  t.subscribe(trig('w2', 'nightly', 'f'), sched('* * * * * *'), 0)
  // Another function under the same trigger id is not a replica.
  t.subscribe(trig('w3', 'nightly', 'g'), sched('* * * * * *'), 0)
  const workers: string[] = []
  for (let tick = 1; tick <= 4; tick++) {
    const { run, skip } = t.tick(job, tick * 1000)
    assert.equal(skip, [])
    assert.equal(run.map((s) => s.function_id).sort(), ['f', 'g'])
    const f = run.find((s) => s.function_id === 'f')!
    workers.push(f.worker_id)
    for (const sub of run) t.finished(sub)
  }
  assert.equal(workers, ['w1', 'w2', 'w1', 'w2'])
  // While one replica's run is in flight, the trigger skips the tick on every replica.
  const busy = t.tick(job, 5000).run.find((s) => s.function_id === 'f')!
  const next = t.tick(job, 6000)
  assert.equal(next.run.map((s) => s.function_id), [])
  assert.equal(next.skip.map((s) => s.function_id).sort(), ['f', 'g'])
  t.finished(busy)
  // A replica added after a tick is not eligible for it; once the others leave it runs alone.
  t.subscribe(trig('w4', 'nightly', 'f'), sched('* * * * * *'), 7000)
  t.unsubscribe('w1', 'nightly')
  t.unsubscribe('w2', 'nightly')
  assert.equal(t.tick(job, 7000).run.filter((s) => s.function_id === 'f'), [])
  assert.equal(t.tick(job, 8000).run.filter((s) => s.function_id === 'f').map((s) => s.worker_id), ['w4'])
})

it('tick: triggers of other sessions on the same function and metadata are replicas whatever their ids (iii-sdk names each trigger anew), paired in the order each session made them', () => {
  const t = new CronTable(canonicalZone)
  const { job } = t.subscribe(trig('a1', 'uuid-1', 'f'), sched('* * * * * *'), 0)
  t.subscribe(trig('a1', 'uuid-2', 'f'), sched('* * * * * *'), 0)
  t.subscribe(trig('a2', 'uuid-3', 'f'), sched('* * * * * *'), 0)
  t.subscribe(trig('a2', 'uuid-4', 'f'), sched('* * * * * *'), 0)
  // Other metadata, or another function: not replicas of those.
  t.subscribe({ ...trig('b', 'uuid-5', 'f'), metadata: { region: 'eu' } }, sched('* * * * * *'), 0)
  t.subscribe(trig('c', 'uuid-6', 'g'), sched('* * * * * *'), 0)
  const ran: string[][] = []
  for (let tick = 1; tick <= 2; tick++) {
    const { run, skip } = t.tick(job, tick * 1000)
    assert.equal(skip, [])
    ran.push(run.map((s) => `${s.worker_id}/${s.trigger_id}`).sort())
    for (const sub of run) t.finished(sub)
  }
  // Each session's two triggers of f run twice a tick between them, in turn; the others each once.
  assert.equal(ran, [
    ['a1/uuid-1', 'a1/uuid-2', 'b/uuid-5', 'c/uuid-6'],
    ['a2/uuid-3', 'a2/uuid-4', 'b/uuid-5', 'c/uuid-6'],
  ])
})

it('list: every job with its pattern, zone and number of triggers', () => {
  const t = new CronTable(canonicalZone)
  assert.equal(t.list(), [])
  t.subscribe(trig('w', 'a'), sched('0 9 * * *', 'utc'), 0)
  t.subscribe(trig('w', 'b'), sched('0 9 * * *'), 0)
  t.subscribe(trig('w', 'c'), sched('@daily', 'europe/paris'), 0)
  assert.equal(t.list(), [
    { pattern: '0 0 9 * * *', timezone: 'UTC', triggers: 2 },
    { pattern: '@daily', timezone: 'Europe/Paris', triggers: 1 },
  ])
})

it('toJSON: jobs with their triggers and runs in flight', () => {
  const t = new CronTable(canonicalZone)
  assert.equal(t.toJSON(), { jobs: [] })
  const { job } = t.subscribe(trig('w1', 'a', 'f1'), sched('*/5 * * * * *'), 0)
  t.subscribe(trig('w2', 'b', 'f2'), sched('*/5 * * * * *'), 10)
  t.tick(job, 5)
  assert.equal(t.toJSON(), {
    jobs: [
      {
        pattern: '*/5 * * * * *',
        timezone: 'UTC',
        triggers: [
          { worker_id: 'w1', trigger_id: 'a', function_id: 'f1', running: 1 },
          { worker_id: 'w2', trigger_id: 'b', function_id: 'f2', running: 0 },
        ],
      },
    ],
  })
})

it('mayRerun / rerun: a takeover waits while any replica of the trigger runs (as a tick skips), unless it allows overlap', () => {
  const t = new CronTable(canonicalZone)
  const { job } = t.subscribe(trig('w1', 'nightly', 'f'), sched('* * * * * *'), 0)
  t.subscribe(trig('w2', 'nightly', 'f'), sched('* * * * * *'), 0)
  const busy = t.tick(job, 1000).run[0]
  const other = [...job.triggers.values()].find((s) => s !== busy)!
  assert.is(other.running, 0)
  assert.not.ok(t.mayRerun(other), 'a replica runs')
  assert.not.ok(t.rerun(other))
  assert.is(other.running, 0)
  t.finished(busy)
  assert.ok(t.mayRerun(other))
  assert.ok(t.rerun(other))
  // Replicas that allow overlap run alongside.
  const o = new CronTable(canonicalZone)
  const oj = o.subscribe(trig('w1', 'n', 'f'), sched('* * * * * *', 'UTC', true), 0).job
  o.subscribe(trig('w2', 'n', 'f'), sched('* * * * * *', 'UTC', true), 0)
  const obusy = o.tick(oj, 1000).run[0]
  assert.ok(o.mayRerun([...oj.triggers.values()].find((s) => s !== obusy)!))
})

it.run()
