/**
 * A route's claim across a cluster, its pure part: one key per route (its method and
 * shape) in the route claims bucket, created by the first engine whose trigger binds it,
 * naming its function, its first holder, and every engine whose triggers hold it. An
 * engine whose trigger binds the route to another function is refused, with the text of
 * a conflict on one engine (core/route-table.ts `routeConflict`). The engine whose last
 * trigger on the route goes takes itself off the list, and deletes the key when it was the
 * last. A claim whose engines are all gone is stale and taken over. What the key holds is
 * protocol/cluster.ts's `RouteClaim`; the NATS side is adapters/cluster.ts;
 * actors/cluster-routes.ts does it; docs/cluster.md has the design.
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
