/**
 * `provider:cron`: the engine's clock. Sessions' cron children add and remove schedules
 * with events; the schedules are a pure table (core/cron-table.ts), this actor's snapshot,
 * with ONE croner job per distinct schedule (pattern and time zone), which are this
 * actor's handles. A tick works out its `scheduled_time` once for the job, then starts one
 * invocation per subscribed trigger, each with its own `actual_time`, taken as that
 * trigger's invocation is started. A tick a trigger skips (its previous run is still in
 * flight) is logged to its session and counted as `invocation.skipped`. A job stops when
 * its last trigger leaves; stopping this actor stops every job.
 *
 * In a cluster, each run is claimed first (`cluster.claim`: a create-if-absent in a KV
 * bucket, keyed by the schedule, the function, its metadata and the scheduled time): of
 * the engines that hold the trigger, the one that claims the tick runs it. The others
 * keep it open until the schedule's next tick (at most a minute: core/cron-claim.ts), and
 * one of them runs it should its claimer be gone before it did.
 */
import { RandomText } from '../core/random-text.js'
import type { CronEvent } from '../protocol/trigger-payloads.js'

import { Cron } from 'croner'
import type { EventObject } from 'xstate'
import { CronTable, type Job, type Subscription } from '../core/cron-table.js'
import { cronClaimKey } from '../protocol/cluster.js'
import { tickWindowEnd } from '../core/cron-claim.js'
import type { CronProviderEvent, LogRecord } from '../machines/contracts.js'
import { actorsOf, tell } from '../machines/system.js'
import { fromTable, type TableScope } from './table-actor.js'

const SKIPPED = 'cron tick skipped: previous run still in flight'

/** A W3C `traceparent` for a new trace: version 00, a random trace id and parent id (sliced from pooled random hex), sampled. */
const traceHex = new RandomText('hex')
const newTraceparent = (): string => {
  const hex = traceHex.take(48)
  return `00-${hex.slice(0, 32)}-${hex.slice(32)}-01`
}

/** Canonical names of time zones seen (`america/new_york` → `America/New_York`), bounded. */
function zoneNames(): (zone: string) => string {
  const zones = new Map<string, string>()
  return (timezone) => {
    let zone = zones.get(timezone)
    if (zone === undefined) {
      if (zones.size >= 1000) zones.clear()
      zone = new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone
      zones.set(timezone, zone)
    }
    return zone
  }
}

type Scope = TableScope<CronTable, undefined, EventObject> & { handles: Map<string, Cron> }

/** Logs to the session that registered the trigger, while it lives. */
const log = (scope: Scope, sub: Subscription, level: LogRecord['level'], msg: string, data: Record<string, unknown>) =>
  tell(actorsOf(scope.system).session(sub.worker_id), { type: 'session.log', level, msg, data: { worker_id: sub.worker_id, ...data } })

/**
 * The tick a job's fire belongs to: the latest occurrence at or before now. croner never
 * fires early and strips milliseconds, so that is nearly always the current whole second;
 * otherwise (a late timer, a run moved by a DST gap) croner finds it.
 */
function scheduledTime(cron: Cron, now: number): number {
  const second = now - (now % 1000)
  if (cron.match(new Date(second))) return second
  return cron.previousRuns(1, new Date(second + 1000))[0]?.getTime() ?? now
}

function tick(scope: Scope, job: Job, cron: Cron): void {
  const invocations = actorsOf(scope.system).invocations()
  if (!invocations || scope.handles.get(job.key) !== cron) return
  const scheduled = scheduledTime(cron, Date.now())
  const scheduled_time = new Date(scheduled).toISOString()
  const { run, skip } = scope.context.tick(job, scheduled)
  for (const sub of skip) {
    log(scope, sub, 'info', SKIPPED, { trigger_id: sub.trigger_id, function_id: sub.function_id })
    invocations.send({ type: 'invocation.skipped', source: 'cron', function_id: sub.function_id })
  }
  const cluster = actorsOf(scope.system).cluster()
  // Triggers alike on this engine (the same function and metadata) are told apart by their order.
  const alike = cluster && new Map<string, number>()
  // A tick lost to an engine that dies before it runs it may be taken over until then.
  const until = cluster && run.length > 0 ? tickWindowEnd(scheduled, cron.nextRun(new Date(scheduled))?.getTime()) : 0
  for (const sub of run) {
    if (!cluster || !alike) {
      fire(scope, sub, scheduled_time)
      continue
    }
    const same = `${sub.function_id}\u0000${sub.metadata === undefined ? '' : JSON.stringify(sub.metadata)}`
    const nth = alike.get(same) ?? 0
    alike.set(same, nth + 1)
    // One of a cluster: the engine that claims the tick first runs it; the others let it go.
    cluster.send({
      type: 'cluster.claim',
      key: cronClaimKey(job.key, sub.function_id, sub.metadata, nth, scheduled),
      until,
      // Whether it ran here: a won tick of a trigger let go of meanwhile is released to the engines that follow it.
      then: (won) => {
        if (won && scope.handles.get(job.key) === cron) {
          fire(scope, sub, scheduled_time)
          return true
        }
        scope.context.finished(sub)
        return false
      },
      // Taken over only where it would run at a tick: still held, and not running unless it allows overlap.
      holds: () => scope.handles.get(job.key) === cron && scope.context.mayRerun(sub),
      takeOver: () => {
        if (scope.handles.get(job.key) !== cron || !scope.context.rerun(sub)) return
        fire(scope, sub, scheduled_time)
      },
    })
  }
}

/** Starts one run of a trigger. */
function fire(scope: Scope, sub: Subscription, scheduled_time: string): void {
  const invocations = actorsOf(scope.system).invocations()
  if (!invocations) return scope.context.finished(sub)
  invocations.send({
    type: 'invocation.start',
    source: 'cron',
    caller: {
      reply: (outcome) => {
        scope.context.finished(sub)
        if (outcome.error !== undefined) log(scope, sub, 'warn', 'cron run failed', { trigger_id: sub.trigger_id, function_id: sub.function_id, error: outcome.error })
      },
    },
    function_id: sub.function_id,
    data: { trigger_id: sub.trigger_id, scheduled_time, actual_time: new Date().toISOString(), timezone: sub.timezone } satisfies CronEvent,
    // Each run starts a trace of its own, and carries the trigger's metadata.
    traceparent: newTraceparent(),
    metadata: sub.metadata,
  })
}

function stopJob(scope: Scope, key: string | undefined): void {
  if (key === undefined) return
  scope.handles.get(key)?.stop()
  scope.handles.delete(key)
}

export const cronProviderLogic = fromTable<CronTable, CronProviderEvent, undefined, EventObject, Map<string, Cron>>({
  context: () => new CronTable(zoneNames()),
  open: () => new Map(),
  receive(scope, event) {
    const table = scope.context
    switch (event.type) {
      case 'cron.schedule': {
        // The config was checked by the session's cron child (core/cron-config.ts): the zone is valid.
        const { worker_id, trigger_id, function_id, metadata } = event
        const { job, created, emptied } = table.subscribe({ worker_id, trigger_id, function_id, metadata }, event.schedule, Date.now())
        stopJob(scope, emptied)
        if (created) {
          const { pattern, timezone } = job
          const cron: Cron = new Cron(
            pattern,
            { timezone, catch: (err) => scope.sendBack({ type: 'engine.log', level: 'warn', msg: 'cron tick failed', data: { pattern, timezone, err: String(err) } }) },
            () => tick(scope, job, cron),
          )
          scope.handles.set(job.key, cron)
        }
        tell(actorsOf(scope.system).trigger(worker_id, trigger_id), { type: 'trigger.activated' })
        return
      }
      case 'cron.unschedule':
        return stopJob(scope, table.unsubscribe(event.worker_id, event.trigger_id))
      case 'cron.jobs':
        return event.reply(table.list())
    }
  },
  close({ handles }) {
    for (const cron of handles.values()) cron.stop()
    handles.clear()
  },
})
