/**
 * The cluster actor's cron claims (actors/cluster.ts hands each `cluster.claim` here), kept
 * apart from the rest of that actor. The rules are core/cron-claim.ts's; the design is in
 * docs/cluster.md ("Cron once per tick"):
 *
 * - this engine creates the tick's key (`claimed`); if it did, the tick runs here at once
 *   (`then(true)`), and only then is the key marked `done` (a compare-and-set on the
 *   revision it created, off the fire path); if it did not run it after all (the trigger
 *   was let go of meanwhile: `then` says so), the key is marked `released` instead, and
 *   the engines that follow the tick take it over;
 * - if another engine did, this one lets the tick go (`then(false)`) but keeps it open
 *   until its window ends, looking at the key every `FOLLOW_MS`: once it is `done`, it stops;
 *   should its claimer be taken for gone first (no member, or NATS says its connection
 *   ended), it takes the tick over with a compare-and-set on the revision it read (of the
 *   survivors, one succeeds), runs it (`takeOver()`), and marks it `done`.
 *
 * What it holds (the timers of the ticks it follows) is released by `closeCronClaims`,
 * when the cluster actor stops. The ticks it follows, each with the end of its window, are
 * in the actor's table (`deps.cronTicks`), which its snapshot shows.
 */
import { parseCronClaim, type CronClaim } from '../protocol/cluster.js'
import { CLAIM_FRESH_MS, claimerGone, followStep } from '../core/cron-claim.js'
import type { EngineRouteClaims } from '../core/route-claim.js'
import type { ClusterEvent, ClusterLink } from '../machines/contracts.js'

type ClaimEvent = Extract<ClusterEvent, { type: 'cluster.claim' }>

/** How often an engine looks at a tick it lost while the tick is open (ms). */
const FOLLOW_MS = 250

/** The cron claims' handles in the cluster actor. */
export interface CronClaims {
  /** The ticks this engine lost and follows, by key: the timer of the next look. */
  open: Map<string, NodeJS.Timeout>
  /** Pings in flight, by engine: one at a time per engine, however many ticks it claimed. */
  pings: Map<string, Promise<'alive' | 'gone' | 'unknown'>>
  closed: boolean
}

/** What the cron and route claims (actors/cluster-routes.ts) need of the cluster actor. */
export interface ClaimDeps {
  link: ClusterLink
  /** Whether an engine is a member now (the actor's membership). */
  isMember: (engine_id: string) => boolean
  log: (level: 'info' | 'warn', msg: string, data: Record<string, unknown>) => void
  /** The ticks this engine follows, by claim key: the end of each one's window (ms since the epoch). In the actor's table, its snapshot. */
  cronTicks: Map<string, number>
  /** Where this engine's route claims stand. In the actor's table, its snapshot. */
  routeClaims: EngineRouteClaims
}

export const openCronClaims = (): CronClaims => ({ open: new Map(), pings: new Map(), closed: false })

/** Stops following every tick (the cluster actor stops). */
export function closeCronClaims(state: CronClaims): void {
  state.closed = true
  for (const timer of state.open.values()) clearTimeout(timer)
  state.open.clear()
}

/** Claims a tick: run here if this engine claims it, else followed until its window ends. */
export function claimTick(state: CronClaims, deps: ClaimDeps, event: ClaimEvent): void {
  const { link } = deps
  const started = performance.now()
  link.claim(event.key, { engine_id: link.engine_id, at: Date.now(), state: 'claimed' }).then(
    (revision) => {
      if (revision === false) {
        event.then(false)
        return follow(state, deps, event)
      }
      if (performance.now() - started <= CLAIM_FRESH_MS) {
        // The run is started first; the key is marked done after, off the fire path.
        if (event.then(true)) return markDone(deps, event.key, revision)
        return markReleased(deps, event.key, revision)
      }
      // Paused between its claim and now (longer than a survivor could wait): the tick may
      // have been taken over meanwhile, so it is marked done first, and runs only if that holds.
      link.updateClaim(event.key, { engine_id: link.engine_id, at: Date.now(), state: 'done' }, revision).then(
        (written) => {
          if (written === false) {
            deps.log('warn', 'cluster: a cron tick claimed late had been taken over; not run here', { key: event.key })
            event.then(false)
            return
          }
          // Marked done, but not run here after all: released to the engines that follow it.
          if (!event.then(true)) markReleased(deps, event.key, written)
        },
        // NATS cannot say: run rather than lose the tick.
        () => event.then(true),
      )
    },
    // NATS cannot say (unreachable, or no answer in time): run rather than lose the tick.
    () => event.then(true),
  )
}

/** Marks a tick this engine runs `done`: the engines following it stop. */
function markDone(deps: ClaimDeps, key: string, revision: number, took_over_from?: string): void {
  const value: CronClaim = { engine_id: deps.link.engine_id, at: Date.now(), state: 'done' }
  if (took_over_from !== undefined) value.took_over_from = took_over_from
  deps.link.updateClaim(key, value, revision).then(
    (written) => {
      // Taken for gone while it ran the tick (its connection ended, or it was unheard of): another engine may run it too.
      if (written === false) deps.log('warn', 'cluster: a cron tick run here was taken over by another engine', { key })
    },
    (err: Error) => deps.log('warn', 'cluster: a cron tick could not be marked done', { key, err: err?.message ?? String(err) }),
  )
}

/**
 * Marks a tick this engine won but did not run (its trigger was let go of meanwhile)
 * `released`: the engines following it take it over rather than stop.
 */
function markReleased(deps: ClaimDeps, key: string, revision: number): void {
  const value: CronClaim = { engine_id: deps.link.engine_id, at: Date.now(), state: 'released' }
  deps.link.updateClaim(key, value, revision).then(
    (written) => {
      if (written === false) deps.log('warn', 'cluster: a cron tick not run here had been taken over meanwhile', { key })
    },
    (err: Error) => deps.log('warn', 'cluster: a cron tick not run here could not be released', { key, err: err?.message ?? String(err) }),
  )
}

/** Follows a tick this engine lost until it is done, taken over, or its window ends. */
function follow(state: CronClaims, deps: ClaimDeps, event: ClaimEvent): void {
  if (state.closed || state.open.has(event.key) || Date.now() >= event.until) return
  let told = false
  const look = async () => {
    let step: 'stop' | 'wait'
    try {
      step = await lookAt(state, deps, event)
    } catch (err) {
      // NATS cannot say now: looked at again (and told once per tick).
      step = 'wait'
      if (!told) deps.log('warn', 'cluster: a cron claim could not be read', { key: event.key, err: (err as Error)?.message ?? String(err) })
      told = true
    }
    if (state.closed) return
    if (step === 'wait' && Date.now() < event.until) state.open.set(event.key, later(look))
    else {
      state.open.delete(event.key)
      deps.cronTicks.delete(event.key)
    }
  }
  state.open.set(event.key, later(look))
  deps.cronTicks.set(event.key, event.until)
}

const later = (look: () => Promise<void>): NodeJS.Timeout => {
  const timer = setTimeout(() => void look(), FOLLOW_MS)
  timer.unref()
  return timer
}

/** One look at a tick this engine lost: stop following it, or wait for the next look. */
async function lookAt(state: CronClaims, deps: ClaimDeps, event: ClaimEvent): Promise<'stop' | 'wait'> {
  const { link } = deps
  const self = link.engine_id
  const read = await link.readClaim(event.key)
  if (state.closed || !read) return 'stop'
  const claim = parseCronClaim(read.value)
  if ('why' in claim) {
    deps.log('warn', 'cluster: a malformed cron claim was refused', { key: event.key, why: claim.why })
    return 'stop'
  }
  let step = followStep(claim, self, Date.now(), event.until, false)
  if (step === 'stop') return 'stop'
  // Not released by its claimer: taken over only if the claimer is taken for gone.
  if (step === 'wait') {
    const gone = claimerGone(deps.isMember(claim.engine_id), await ping(state, link, claim.engine_id))
    if (state.closed) return 'stop'
    step = followStep(claim, self, Date.now(), event.until, gone)
    if (step !== 'take') return step
  }
  if (!event.holds()) return 'stop'
  // Of the engines that follow the tick, the one whose compare-and-set lands takes it over.
  const revision = await link.updateClaim(event.key, { engine_id: self, at: Date.now(), state: 'claimed', took_over_from: claim.engine_id }, read.revision)
  // Another took it over first: its claim is followed as the first one was.
  if (revision === false) return 'wait'
  deps.log('info', claim.state === 'released' ? 'cluster: took over a cron tick its claimer released' : 'cluster: took over a cron tick whose claimer is gone', { key: event.key, claimer: claim.engine_id })
  event.takeOver()
  markDone(deps, event.key, revision, claim.engine_id)
  return 'stop'
}

/** Asks whether an engine is there: one request in flight per engine. */
function ping(state: CronClaims, link: ClusterLink, engine_id: string): Promise<'alive' | 'gone' | 'unknown'> {
  let answer = state.pings.get(engine_id)
  if (!answer) {
    answer = link.ping(engine_id).finally(() => state.pings.delete(engine_id))
    state.pings.set(engine_id, answer)
  }
  return answer
}
