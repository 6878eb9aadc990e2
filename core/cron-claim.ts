/**
 * A cron tick's claim across a cluster, its pure part: how long a tick stays open for the
 * engines that lost its claim (its window), and what such an engine does at each look at
 * its key. What the key holds is protocol/cluster.ts's `CronClaim`; the NATS side is
 * adapters/cluster.ts; the engine that follows the ticks it lost is actors/cluster-cron.ts;
 * docs/cluster.md ("Cron once per tick") has the design.
 *
 * The claimer creates the key (`claimed`), runs the tick, then marks it `done` with a
 * compare-and-set on the revision it created. An engine that lost the claim keeps the tick
 * open until its window ends: should the claimer be taken for gone before the key is
 * `done`, it takes the tick over with a compare-and-set on the revision it read (of the
 * survivors, one succeeds), runs it, and marks it `done`.
 */
import type { CronClaim } from '../protocol/cluster.js'

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
