/**
 * A route's claim across a cluster, its pure part: one key per route (its method and
 * shape) in the route claims bucket, created by the first engine whose trigger binds it,
 * naming its function, its first holder, and every engine whose triggers hold it. An
 * engine whose trigger binds the route to another function is refused, with the text of
 * a conflict on one engine (core/route-table.ts `routeConflict`). The engine whose last
 * trigger on the route goes takes itself off the list, and deletes the key when it was the
 * last. A claim whose engines are all gone is stale and taken over. What the key holds is
 * protocol/cluster.ts's `RouteClaim`; the NATS side is adapters/cluster.ts;
 * actors/cluster-routes.ts does it, and keeps where each of this engine's claims stands
 * (`EngineRouteClaims`, in the cluster actor's snapshot); docs/cluster.md has the design.
 */
import type { ErrorBody } from '../protocol/messages.js'
import type { HttpRoute } from '../protocol/http-route.js'
import type { RouteClaim } from '../protocol/cluster.js'
import { routeConflict } from './route-table.js'

/** Why `route`, bound to `function_id`, is refused by the claim of its route: the one-engine text; undefined when it may join it. */
export const claimRefusal = (claim: RouteClaim, function_id: string, route: HttpRoute): ErrorBody | undefined =>
  routeConflict(claim, function_id, route, () => `trigger '${claim.holder.trigger_id}' of ${claim.holder.worker}`)

/** The claim with `engine_id` among its holders. */
export const withEngine = (claim: RouteClaim, engine_id: string): RouteClaim => (claim.engines.includes(engine_id) ? claim : { ...claim, engines: [...claim.engines, engine_id] })

/** The claim without `engine_id` among its holders (undefined when none is left: the key is deleted). */
export const withoutEngine = (claim: RouteClaim, engine_id: string): RouteClaim | undefined => {
  const engines = claim.engines.filter((e) => e !== engine_id)
  return engines.length === 0 ? undefined : { ...claim, engines }
}

/** A local trigger waiting for its route's claim to be answered, with the function it binds. */
export interface RouteWaiter<H> {
  holder: H
  function_id: string
  route: HttpRoute
}

/**
 * A route's claim for `function_id` was answered: of the triggers that waited for it, those
 * still on the route (`stillOn`) and binding that function are answered by it; those still
 * on the route but binding another function (the first were unregistered meanwhile, and
 * the route registered again for another) are not: they make a claim of their own. The
 * others (unregistered meanwhile) are dropped.
 */
export function settleWaiters<H>(waiting: readonly RouteWaiter<H>[], function_id: string, stillOn: (holder: H) => boolean): { answered: RouteWaiter<H>[]; reclaim: RouteWaiter<H>[] } {
  const answered: RouteWaiter<H>[] = []
  const reclaim: RouteWaiter<H>[] = []
  for (const waiter of waiting) {
    if (!stillOn(waiter.holder)) continue
    ;(waiter.function_id === function_id ? answered : reclaim).push(waiter)
  }
  return { answered, reclaim }
}

/**
 * Where one of this engine's route claims stands: `claiming` (its first trigger on the
 * route waits for the claim), `held` (the claim names this engine), `alone` (NATS could
 * not answer: the route is bound on this engine's table alone, with no claim), `releasing`
 * (its last trigger on the route went: this engine is leaving the claim).
 */
export type RouteClaimState = 'claiming' | 'held' | 'alone' | 'releasing'

/**
 * This engine's route claims, by route key (`METHOD shape`): the function each was claimed
 * for and where it stands. The cluster actor notes each step as its claims and releases run
 * (one after another per route), and shows them in its snapshot.
 */
export class EngineRouteClaims {
  private readonly claims = new Map<string, { function_id: string; state: RouteClaimState; was?: RouteClaimState }>()

  get size(): number {
    return this.claims.size
  }

  /** The claim of `route_key` for `function_id` is being made. */
  claiming(route_key: string, function_id: string): void {
    this.claims.set(route_key, { function_id, state: 'claiming' })
  }

  /** The claim of `route_key` was answered: made or joined (`held`), refused (`refused`: nothing held), or not answered by NATS (`alone`). */
  answered(route_key: string, outcome: 'held' | 'refused' | 'alone'): void {
    const claim = this.claims.get(route_key)
    if (!claim) return
    if (outcome === 'refused') this.claims.delete(route_key)
    else claim.state = outcome
  }

  /** This engine is leaving the claim of `route_key` (its last trigger there went). */
  releasing(route_key: string): void {
    const claim = this.claims.get(route_key)
    if (!claim || claim.state === 'releasing') return
    claim.was = claim.state
    claim.state = 'releasing'
  }

  /** The release of `route_key` ended: this engine left the claim (`left`), or NATS could not say, and the claim stays as it was. */
  released(route_key: string, left: boolean): void {
    const claim = this.claims.get(route_key)
    if (!claim || claim.state !== 'releasing') return
    if (left) this.claims.delete(route_key)
    else {
      claim.state = claim.was ?? 'held'
      claim.was = undefined
    }
  }

  /** Where the claim of `route_key` stands, and for which function; undefined when this engine has none. */
  get(route_key: string): { function_id: string; state: RouteClaimState } | undefined {
    const claim = this.claims.get(route_key)
    return claim && { function_id: claim.function_id, state: claim.state }
  }

  /** What the inspector shows: each claim's `route` (`METHOD shape`), `function_id` and `state`, sorted by route. */
  toJSON() {
    return [...this.claims]
      .map(([route, { function_id, state }]) => ({ route, function_id, state }))
      .sort((a, b) => (a.route < b.route ? -1 : a.route > b.route ? 1 : 0))
  }
}
