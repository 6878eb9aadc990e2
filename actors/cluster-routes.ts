/**
 * The cluster actor's route claims (actors/cluster.ts hands `cluster.routeClaim` and
 * `cluster.routeRelease` here), kept apart from the rest of that actor. The rules are
 * core/route-claim.ts's; the design is in docs/cluster.md ("One HTTP surface"):
 *
 * - the first trigger of this engine on a route claims it: the key of its method and shape
 *   is created in the route claims bucket (naming its function, its first holder, and this
 *   engine), or, when it is there with the same function, this engine is added to its
 *   engines (compare-and-set); with another function, the trigger is refused with the
 *   one-engine text, unless every engine the claim names is gone, when it is taken over;
 * - the last trigger of this engine on a route lets it go: this engine leaves the claim's
 *   engines (compare-and-set), and deletes the key (compare-and-set) when it was the last.
 *
 * Claims and releases of one route run one after another (a chain per route), so that a
 * trigger unregistered and registered again leaves the claim as it should be. NATS that
 * cannot answer (unreachable, or no answer within 2 s) accepts the route, as a cluster did
 * before claims: the conflict is then seen by the routes watch only, and logged.
 *
 * Where each claim stands (claiming, held, alone, releasing) is noted as it runs in the
 * actor's table (`deps.routeClaims`, core/route-claim.ts `EngineRouteClaims`), which its
 * snapshot shows.
 */
import type { ErrorBody } from '../protocol/messages.js'
import { parseRouteClaim, routeClaimKey, type RouteClaim } from '../protocol/cluster.js'
import { claimerGone } from '../core/cron-claim.js'
import { claimRefusal, withEngine, withoutEngine } from '../core/route-claim.js'
import type { ClusterEvent } from '../machines/contracts.js'
import type { ClaimDeps } from './cluster-cron.js'

/** How many compare-and-sets one claim or release tries before it gives up (each lost to another engine's change). */
const TRIES = 20

export interface RouteClaims {
  /** The claim or release of each route in progress: the next waits for it. */
  chains: Map<string, Promise<void>>
  closed: boolean
}

export const openRouteClaims = (): RouteClaims => ({ chains: new Map(), closed: false })

export function closeRouteClaims(state: RouteClaims): void {
  state.closed = true
}

/** Runs `op` after whatever runs for the same route. */
function chained(state: RouteClaims, route_key: string, op: () => Promise<void>): void {
  const next = (state.chains.get(route_key) ?? Promise.resolve()).then(op).catch(() => {})
  state.chains.set(route_key, next)
  void next.then(() => {
    if (state.chains.get(route_key) === next) state.chains.delete(route_key)
  })
}

/** Whether any of `engines` is there: this one, or one not taken for gone. */
async function anyAlive(deps: ClaimDeps, engines: string[]): Promise<boolean> {
  const answers = await Promise.all(
    engines.map(async (e) => e === deps.link.engine_id || !claimerGone(deps.isMember(e), await deps.link.ping(e))),
  )
  return answers.some(Boolean)
}

/**
 * `engines` without those that are gone: no member, and no answer to a ping (members are
 * kept without asking). So that engines restarted under new ids do not pile up in a claim.
 */
async function stillThere(deps: ClaimDeps, engines: string[]): Promise<string[]> {
  const kept = await Promise.all(
    engines.map(async (e) => e === deps.link.engine_id || deps.isMember(e) || (await deps.link.ping(e)) === 'alive'),
  )
  return engines.filter((_, i) => kept[i])
}

/** Claims a route for this engine's first trigger on it: `reply` gets why it is refused, if it is. */
export function claimRoute(state: RouteClaims, deps: ClaimDeps, event: Extract<ClusterEvent, { type: 'cluster.routeClaim' }>): void {
  const { link } = deps
  const self = link.engine_id
  const key = routeClaimKey(event.route_key)
  const mine: RouteClaim = { function_id: event.function_id, path: event.route.path, params: event.route.params, holder: event.holder, engines: [self] }
  chained(state, event.route_key, async () => {
    deps.routeClaims.claiming(event.route_key, event.function_id)
    let refusal: ErrorBody | undefined
    let alone = false
    try {
      refusal = await (async () => {
        for (let i = 0; i < TRIES && !state.closed; i++) {
          const read = await link.readRouteClaim(key)
          if (!read) {
            if ((await link.writeRouteClaim(key, mine, undefined)) !== false) return undefined
            continue
          }
          const claim = parseRouteClaim(read.value)
          if ('why' in claim) deps.log('warn', 'cluster: a malformed route claim was refused; claimed anew', { route: event.route_key, why: claim.why })
          else {
            const conflict = claimRefusal(claim, event.function_id, event.route)
            if (conflict && (await anyAlive(deps, claim.engines))) return conflict
            if (!conflict) {
              const engines = await stillThere(deps, claim.engines)
              if (engines.includes(self) && engines.length === claim.engines.length) return undefined
              if ((await link.writeRouteClaim(key, withEngine({ ...claim, engines }, self), read.revision)) !== false) return undefined
              continue
            }
            deps.log('info', 'cluster: the claim of a route whose engines are all gone was taken over', { route: event.route_key, engines: claim.engines })
          }
          if ((await link.writeRouteClaim(key, mine, read.revision)) !== false) return undefined
        }
        throw new Error(`no claim made after ${TRIES} tries`)
      })()
    } catch (err) {
      refusal = undefined
      alone = true
      deps.log('warn', 'cluster: a route could not be claimed across the cluster; bound here alone', { route: event.route_key, err: (err as Error)?.message ?? String(err) })
    }
    deps.routeClaims.answered(event.route_key, refusal ? 'refused' : alone ? 'alone' : 'held')
    event.reply(refusal)
  })
}

/** This engine's last trigger on a route let go of it: it leaves the route's claim, deleted when it was the last engine there. */
export function releaseRoute(state: RouteClaims, deps: ClaimDeps, route_key: string): void {
  const { link } = deps
  const self = link.engine_id
  const key = routeClaimKey(route_key)
  chained(state, route_key, async () => {
    deps.routeClaims.releasing(route_key)
    let left = false
    try {
      for (let i = 0; i < TRIES && !left; i++) {
        const read = await link.readRouteClaim(key)
        const claim = read && parseRouteClaim(read.value)
        if (!read || !claim || 'why' in claim || !claim.engines.includes(self)) left = true
        else {
          const rest = withoutEngine({ ...claim, engines: await stillThere(deps, claim.engines) }, self)
          left = rest ? (await link.writeRouteClaim(key, rest, read.revision)) !== false : await link.deleteRouteClaim(key, read.revision)
        }
      }
    } catch (err) {
      // Left naming this engine: refused to others while it runs (logged), taken over once it is gone.
      deps.log('warn', 'cluster: a route claim could not be let go', { route: route_key, err: (err as Error)?.message ?? String(err) })
    }
    deps.routeClaims.released(route_key, left)
  })
}
