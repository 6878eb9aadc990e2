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
 * Replicas: a trigger registered alike by several sessions (the same function and
 * metadata on the same schedule and zone: replicas of one worker, or a worker and the
 * session it is replacing) runs once per tick, on one of them in turn. Calls go to any
 * worker offering a function, so such triggers would only run the same thing twice. Their
 * ids do not matter (iii-sdk gives every trigger a new random id); a session's triggers on
 * one function are paired with another session's in the order each registered them, and
 * triggers with the same id and function are replicas whatever their metadata.
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
  /** Its replica groups, worked out at the first tick after its triggers changed (undefined until then). */
  groups?: ReplicaGroup[]
}

/** The replicas of one trigger on a job, and whose turn it is. */
interface ReplicaGroup {
  /** Its first member's trigger id and function (stable while its first member stays). */
  key: string
  subs: Subscription[]
  /** Ticks it has run: its next run is on member `turn % eligible`. */
  turn: number
}

const holderKey = (worker_id: string, trigger_id: string) => `${worker_id}\u0000${trigger_id}`

/**
 * The subscriptions of a job, in groups of replicas of one trigger: subscriptions of other
 * sessions are replicas when they bind the same function and have the same trigger id, or
 * the same metadata (a session's subscriptions of one function paired with another's in
 * the order each made them). Each group with a key for its turns.
 */
function replicaGroups(job: Job): Array<{ key: string; subs: Subscription[] }> {
  const subs = [...job.triggers.values()]
  const parent = subs.map((_, i) => i)
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]]
    return i
  }
  const first = new Map<string, number>()
  const link = (key: string, i: number) => {
    const j = first.get(key)
    if (j === undefined) return void first.set(key, i)
    const [a, b] = [find(i), find(j)]
    if (a !== b) parent[Math.max(a, b)] = Math.min(a, b)
  }
  const nth = new Map<string, number>()
  subs.forEach((sub, i) => {
    link(`id\u0000${sub.trigger_id}\u0000${sub.function_id}`, i)
    const alike = `${sub.function_id}\u0000${sub.metadata === undefined ? '' : JSON.stringify(sub.metadata)}`
    const own = `${sub.worker_id}\u0000${alike}`
    const n = nth.get(own) ?? 0
    nth.set(own, n + 1)
    link(`alike\u0000${alike}\u0000${n}`, i)
  })
  const groups = new Map<number, Subscription[]>()
  subs.forEach((sub, i) => {
    const root = find(i)
    const group = groups.get(root)
    if (group) group.push(sub)
    else groups.set(root, [sub])
  })
  // The group's key: its first member's trigger id and function (stable while its first member stays).
  return [...groups.values()].map((group) => ({ key: `${group[0].trigger_id}\u0000${group[0].function_id}`, subs: group }))
}

/**
 * A job's replica groups, worked out again after its triggers changed (not at every tick:
 * that cost a millisecond per 1,000 triggers before the first of them ran). A group that
 * stays (by key) keeps its turn; only the groups of this job's triggers now are kept.
 */
function regroup(job: Job): ReplicaGroup[] {
  const turns = new Map<string, number>()
  for (const group of job.groups ?? []) turns.set(group.key, group.turn)
  return replicaGroups(job).map(({ key, subs }) => ({ key, subs, turn: turns.get(key) ?? 0 }))
}

/**
 * A subscription, written out field by field rather than spread from `trigger`: V8 gives
 * each copy made by a spread a hidden class of its own, which every subscription then
 * keeps (a map and its descriptors, about 0.3 KB); objects made by one literal share
 * theirs. `metadata` is there when the trigger has the key, as a spread would have it.
 */
function subscription(trigger: { worker_id: string; trigger_id: string; function_id: string; metadata?: unknown }, schedule: CronSchedule, since: number): Subscription {
  const { worker_id, trigger_id, function_id } = trigger
  const { timezone, overlap } = schedule
  return 'metadata' in trigger
    ? { worker_id, trigger_id, function_id, metadata: trigger.metadata, timezone, overlap, since, running: 0 }
    : { worker_id, trigger_id, function_id, timezone, overlap, since, running: 0 }
}

export class CronTable {
  private readonly jobs = new Map<string, Job>()
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
    job.triggers.set(holder, subscription(trigger, schedule, now))
    job.groups = undefined
    this.held.set(holder, job)
    return { job, created, emptied }
  }

  /** Ends a subscription; returns the key of its job when that job has no trigger left. */
  unsubscribe(worker_id: string, trigger_id: string): string | undefined {
    const holder = holderKey(worker_id, trigger_id)
    const job = this.held.get(holder)
    if (!job) return undefined
    this.held.delete(holder)
    job.triggers.delete(holder)
    job.groups = undefined
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
    for (const group of (job.groups ??= regroup(job))) {
      const { subs } = group
      // Nearly every group is one trigger: no list of the eligible to make.
      const eligible = subs.length === 1 ? (subs[0].since < scheduled ? subs : []) : subs.filter((sub) => sub.since < scheduled)
      if (eligible.length === 0) continue
      const chosen = eligible[group.turn % eligible.length]
      if (!chosen.overlap && (subs.length === 1 ? chosen.running > 0 : subs.some((sub) => sub.running > 0))) {
        skip.push(chosen)
        continue
      }
      group.turn++
      chosen.running++
      run.push(chosen)
    }
    return { run, skip }
  }

  /** A run of `sub` ended. */
  finished(sub: Subscription): void {
    sub.running--
  }

  /** Whether `sub` is still subscribed (not unsubscribed, nor replaced). */
  holds(sub: Subscription): boolean {
    return this.held.get(holderKey(sub.worker_id, sub.trigger_id))?.triggers.get(holderKey(sub.worker_id, sub.trigger_id)) === sub
  }

  /**
   * Whether `sub` may run one more time outside its ticks (a tick another engine of the
   * cluster claimed and could not run): it is still subscribed, and no run of it, nor of
   * any replica of it, is in flight, unless it allows `overlap` (as at a tick).
   */
  mayRerun(sub: Subscription): boolean {
    if (!this.holds(sub)) return false
    if (sub.overlap) return true
    if (sub.running > 0) return false
    const job = this.held.get(holderKey(sub.worker_id, sub.trigger_id))!
    const group = (job.groups ??= regroup(job)).find((g) => g.subs.includes(sub))
    return !group || group.subs.every((s) => s.running === 0)
  }

  /** One more run of `sub` starts outside its ticks (see `mayRerun`): counted as running, if it may. */
  rerun(sub: Subscription): boolean {
    if (!this.mayRerun(sub)) return false
    sub.running++
    return true
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
