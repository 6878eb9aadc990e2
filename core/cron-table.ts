/**
 * The engine's schedule table: one job per distinct schedule (its normalised pattern and
 * time zone), and the triggers subscribed to each. Pure data: `provider:cron`
 * (actors/cron-provider.ts) runs one croner job per entry and asks this table, at each
 * tick, which triggers run and which skip. Its JSON form is that actor's snapshot.
 *
 * Per trigger, as with a job of its own: its first tick is the first one after it was
 * added; a tick while its previous run is in flight is skipped unless its config sets
 * `overlap`.
 *
 * Replicas: a trigger registered alike by several sessions (the same trigger id and
 * function, on the same schedule and zone: replicas of one worker, or a worker and the
 * session it is replacing) runs once per tick, on one of them in turn.
 */
import { normalisedPattern, type CronSchedule } from './cron-config.js'

/** One trigger subscribed to a job. */
export interface Subscription {
  worker_id: string
  trigger_id: string
  function_id: string
  /** The trigger's metadata, passed on with its runs. */
  metadata?: unknown
  /** The time zone as the trigger's config wrote it, passed on in its invocations. */
  timezone: string
  overlap: boolean
  /** When it was added (ms since the epoch): ticks scheduled at or before this are not its own. */
  since: number
  /** Its runs in flight. */
  running: number
}

export interface Job {
  key: string
  pattern: string
  /** The zone's canonical name. */
  timezone: string
  /** Subscriptions by holder key (`worker_id␀trigger_id`). */
  triggers: Map<string, Subscription>
}

const holderKey = (worker_id: string, trigger_id: string) => `${worker_id}\u0000${trigger_id}`

/** What makes subscriptions of one job replicas of one trigger. */
const replicaKey = (sub: Subscription) => `${sub.trigger_id}\u0000${sub.function_id}`

export class CronTable {
  private readonly jobs = new Map<string, Job>()
  /** Whose turn it is among a trigger's replicas, by job and replica key. */
  private readonly turns = new Map<string, number>()
  /** The job each subscription belongs to, by holder key. */
  private readonly held = new Map<string, Job>()

  /**
   * @param canonicalZone the canonical name of a time zone (`america/new_york` →
   *   `America/New_York`), so zones written differently share a job.
   */
  constructor(private readonly canonicalZone: (zone: string) => string) {}

  get size(): number {
    return this.jobs.size
  }

  job(key: string): Job | undefined {
    return this.jobs.get(key)
  }

  /**
   * Subscribes a trigger (replacing its earlier subscription); returns its job, whether the
   * job is new (its driver must start it), and the key of the job the earlier subscription
   * left empty, if any (its driver must stop that one first; it may have the same key).
   */
  subscribe(trigger: { worker_id: string; trigger_id: string; function_id: string; metadata?: unknown }, schedule: CronSchedule, now: number): { job: Job; created: boolean; emptied?: string } {
    const emptied = this.unsubscribe(trigger.worker_id, trigger.trigger_id)
    const pattern = normalisedPattern(schedule.schedule)
    const timezone = this.canonicalZone(schedule.timezone)
    const key = `${pattern}\u0000${timezone}`
    let job = this.jobs.get(key)
    const created = !job
    if (!job) {
      job = { key, pattern, timezone, triggers: new Map() }
      this.jobs.set(key, job)
    }
    const holder = holderKey(trigger.worker_id, trigger.trigger_id)
    job.triggers.set(holder, { ...trigger, timezone: schedule.timezone, overlap: schedule.overlap, since: now, running: 0 })
    this.held.set(holder, job)
    return { job, created, emptied }
  }

  /** Ends a subscription; returns the key of its job when that job has no trigger left. */
  unsubscribe(worker_id: string, trigger_id: string): string | undefined {
    const holder = holderKey(worker_id, trigger_id)
    const job = this.held.get(holder)
    if (!job) return undefined
    this.held.delete(holder)
    const sub = job.triggers.get(holder)
    job.triggers.delete(holder)
    if (sub && ![...job.triggers.values()].some((other) => replicaKey(other) === replicaKey(sub))) this.turns.delete(`${job.key}\u0000${replicaKey(sub)}`)
    if (job.triggers.size > 0) return undefined
    this.jobs.delete(job.key)
    return job.key
  }

  /**
   * A tick of `job` scheduled at `scheduled` (ms): the triggers that run now (counted as
   * running) and those that skip it. Replicas of one trigger count as one: it runs once, on
   * the next replica in turn whose subscription is older than the tick, and skips while
   * any replica's run is in flight (unless `overlap`).
   */
  tick(job: Job, scheduled: number): { run: Subscription[]; skip: Subscription[] } {
    const run: Subscription[] = []
    const skip: Subscription[] = []
    const replicas = new Map<string, Subscription[]>()
    for (const sub of job.triggers.values()) {
      const key = replicaKey(sub)
      const list = replicas.get(key)
      if (list) list.push(sub)
      else replicas.set(key, [sub])
    }
    for (const [key, subs] of replicas) {
      const eligible = subs.filter((sub) => sub.since < scheduled)
      if (eligible.length === 0) continue
      const turnKey = `${job.key}\u0000${key}`
      const turn = this.turns.get(turnKey) ?? 0
      const chosen = eligible[turn % eligible.length]
      if (subs.some((sub) => sub.running > 0) && !chosen.overlap) {
        skip.push(chosen)
        continue
      }
      this.turns.set(turnKey, turn + 1)
      chosen.running++
      run.push(chosen)
    }
    return { run, skip }
  }

  /** A run of `sub` ended. */
  finished(sub: Subscription): void {
    sub.running--
  }

  /** Every job, for listings. */
  list(): Array<{ pattern: string; timezone: string; triggers: number }> {
    return [...this.jobs.values()].map((j) => ({ pattern: j.pattern, timezone: j.timezone, triggers: j.triggers.size }))
  }

  /** What the inspector shows. */
  toJSON() {
    return {
      jobs: [...this.jobs.values()].map((j) => ({
        pattern: j.pattern,
        timezone: j.timezone,
        triggers: [...j.triggers.values()].map((s) => ({ worker_id: s.worker_id, trigger_id: s.trigger_id, function_id: s.function_id, running: s.running })),
      })),
    }
  }
}
