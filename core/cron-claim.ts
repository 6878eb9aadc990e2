/**
 * A cron tick's claim across a cluster, its pure part: what a key of the claims bucket
 * holds, how long a tick stays open for the engines that lost its claim (its window), and
 * what such an engine does at each look at the key. The NATS side is adapters/cluster.ts;
 * the engine that follows the ticks it lost is actors/cluster-cron.ts; docs/cluster.md
 * ("Cron once per tick") has the design.
 *
 * The claimer creates the key (`claimed`), runs the tick, then marks it `done` with a
 * compare-and-set on the revision it created. An engine that lost the claim keeps the tick
 * open until its window ends: should the claimer be taken for gone before the key is
 * `done`, it takes the tick over with a compare-and-set on the revision it read (of the
 * survivors, one succeeds), runs it, and marks it `done`.
 */

/** What a key of the claims bucket holds. */
export interface CronClaim {
  /** The engine that runs the tick (its claimer, or the engine that took it over). */
  engine_id: string
  /** When it claimed (or took over) the tick, ms since the epoch. */
  at: number
  /**
   * `claimed` until its run was started; `done` after; `released` when its claimer won it
   * but did not run it (the trigger was let go of meanwhile): the engines that follow it
   * take it over. An entry without it (an older engine's) is `claimed`.
   */
  state: 'claimed' | 'done' | 'released'
  /** The engine it was taken over from, when it was. */
  took_over_from?: string
}

/** A claims bucket entry read back: its shape checked (anything may be written there); why it is refused otherwise. */
export function parseCronClaim(value: unknown): CronClaim | { why: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { why: 'a claim must be an object' }
  const v = value as Record<string, unknown>
  if (typeof v.engine_id !== 'string' || v.engine_id === '') return { why: "a claim's 'engine_id' must be an engine id" }
  if (typeof v.at !== 'number' || !Number.isFinite(v.at)) return { why: "a claim's 'at' must be a time in ms" }
  if (v.state !== undefined && v.state !== 'claimed' && v.state !== 'done' && v.state !== 'released') return { why: "a claim's 'state' must be 'claimed', 'done' or 'released'" }
  if (v.took_over_from !== undefined && typeof v.took_over_from !== 'string') return { why: "a claim's 'took_over_from' must be an engine id" }
  const claim: CronClaim = { engine_id: v.engine_id, at: v.at, state: v.state === 'done' || v.state === 'released' ? v.state : 'claimed' }
  if (v.took_over_from !== undefined) claim.took_over_from = v.took_over_from as string
  return claim
}

/** The longest a tick stays open for the engines that lost its claim (ms): a tick is never taken over later than this after its scheduled time. */
export const TICK_WINDOW_MAX_MS = 60_000

/**
 * The end of a tick's window (ms since the epoch): the schedule's next tick, or
 * `TICK_WINDOW_MAX_MS` after this one, whichever is first (a schedule with no next tick
 * has the longest window).
 */
export const tickWindowEnd = (scheduled: number, next: number | undefined, max = TICK_WINDOW_MAX_MS): number =>
  next === undefined || next <= scheduled ? scheduled + max : Math.min(next, scheduled + max)

/**
 * How long after winning a claim its engine may start the run without looking again (ms):
 * no survivor takes an engine for gone while its connection lasts and it beats (it is
 * unheard of after 3.5 s), so a run started within this is started by the only engine
 * that may run it. Later (the engine was paused), it first marks the key `done` with a
 * compare-and-set, and runs the tick only if that succeeds.
 */
export const CLAIM_FRESH_MS = 1000

/**
 * What an engine that lost a tick's claim does at a look at its key: `stop` following it
 * (the key is gone, done, this engine's own, or the window is over), `take` it over (its
 * claimer released it without running it, or is taken for gone), or `wait` for the next look.
 */
export function followStep(claim: CronClaim | undefined, self: string, now: number, until: number, claimerGone: boolean): 'stop' | 'take' | 'wait' {
  if (claim === undefined || claim.state === 'done' || claim.engine_id === self || now >= until) return 'stop'
  return claimerGone || claim.state === 'released' ? 'take' : 'wait'
}

/**
 * Whether an engine that claimed a tick is taken for gone: NATS says nobody subscribes to
 * its ping subject (its connection ended), or it is no member (its entry deleted, or
 * unheard of for 3.5 s) and did not answer the ping.
 */
export const claimerGone = (member: boolean, ping: 'alive' | 'gone' | 'unknown'): boolean => ping === 'gone' || (!member && ping !== 'alive')
