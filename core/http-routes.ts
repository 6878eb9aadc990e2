/**
 * `provider:http`'s table (actors/http-provider.ts), its snapshot: the route table
 * (core/route-table.ts) and, in a cluster, what the listener holds of the cluster beside
 * it: which of its routes it published for the other engines, which of theirs it serves,
 * the claims of its routes being made (with the triggers that wait for each), and the
 * routes of other engines a route of its own kept out. Pure data; the actor sends and
 * receives what the cluster actor says, and answers the triggers.
 */
import type { ErrorBody } from '../protocol/messages.js'
import type { RemoteRoute } from '../protocol/cluster.js'
import { settleWaiters, type RouteWaiter } from './route-claim.js'
import { RouteTable, type DescribeWorker, type Holder } from './route-table.js'

/** Another engine's route holds its place in the table under a holder of its own: `\u0001` and its key in the routes bucket (no worker id starts so). */
const REMOTE = '\u0001'

/** Whether a holder of the table is another engine's route. */
export const isRemoteHolder = (worker_id: string): boolean => worker_id.startsWith(REMOTE)

const byKey = <T>(a: [string, T], b: [string, T]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)

export class HttpRoutes {
  /** The routes every request is matched against: this engine's triggers' and, in a cluster, the other engines'. */
  readonly table = new RouteTable()
  /** The route keys (`METHOD shape`) of this engine's routes published for the other engines. */
  private readonly published = new Set<string>()
  /** The other engines' routes served here, by their key in the routes bucket: their holder in the table, their engine, and their first holder's worker as that engine named it. */
  private readonly remote = new Map<string, { holder: Holder; engine_id: string; worker: string }>()
  /** The claims being made, by route key: the function claimed, and the local triggers that wait for the claim (each with the function it binds). */
  private readonly claiming = new Map<string, { function_id: string; waiting: RouteWaiter<Holder>[] }>()
  /** Other engines' routes refused here (a route of this engine held the place), by their key in the routes bucket: tried again when this engine lets a route go. */
  private readonly conflicted = new Map<string, RemoteRoute>()

  /**
   * How refusals name a holder: a local worker as `local` says (the catalog), another
   * engine's route by what that engine said of its worker.
   */
  describer(local: DescribeWorker): DescribeWorker {
    return (worker_id) => (isRemoteHolder(worker_id) ? (this.remote.get(worker_id.slice(REMOTE.length))?.worker ?? 'another engine') : local(worker_id))
  }

  /** The local triggers holding the route of `route_key` (none when it is not bound, or only other engines hold it). */
  localHolders(route_key: string): Holder[] {
    return this.table.binding(route_key)?.holders.filter((h) => !isRemoteHolder(h.worker_id)) ?? []
  }

  isPublished(route_key: string): boolean {
    return this.published.has(route_key)
  }

  /** The route of `route_key` is published for the other engines (its claim made). */
  publish(route_key: string): void {
    this.published.add(route_key)
  }

  /** The route of `route_key` is published no more: returns whether it was. */
  unpublish(route_key: string): boolean {
    return this.published.delete(route_key)
  }

  /**
   * Another engine's route (`key` in the routes bucket) is served here (`entry`), in place
   * of what that key held before, or no more (no `entry`). Returns the refusal when a route
   * of this engine holds its place: it is kept among the conflicted, until `conflicts()`
   * are tried again.
   */
  serveRemote(key: string, entry: RemoteRoute | undefined, local: DescribeWorker): ErrorBody | undefined {
    this.conflicted.delete(key)
    const known = this.remote.get(key)
    if (known) {
      this.table.remove(known.holder)
      this.remote.delete(key)
    }
    if (!entry) return undefined
    const holder: Holder = { worker_id: `${REMOTE}${key}`, trigger_id: entry.holder.trigger_id }
    // Known before it is added: a refusal of its own names it by what its engine said.
    this.remote.set(key, { holder, engine_id: entry.engine_id, worker: entry.holder.worker })
    const refusal = this.table.add(holder, entry.function_id, entry.route, { metadata: entry.metadata, describeWorker: this.describer(local) })
    if (refusal) {
      this.remote.delete(key)
      this.conflicted.set(key, entry)
    }
    return refusal
  }

  /** The other engines' routes a route of this engine kept out, with their keys. */
  conflicts(): Array<[string, RemoteRoute]> {
    return [...this.conflicted]
  }

  /** The claim of `route_key` being made, if one is. */
  claimOf(route_key: string): { function_id: string; waiting: readonly RouteWaiter<Holder>[] } | undefined {
    return this.claiming.get(route_key)
  }

  /** A trigger joins the claim of its route being made: returns false when none is. */
  join(route_key: string, waiter: RouteWaiter<Holder>): boolean {
    const claim = this.claiming.get(route_key)
    if (!claim) return false
    claim.waiting.push(waiter)
    return true
  }

  /** The claim of `route_key` is made for its first waiting trigger's function, the others waiting with it. */
  startClaim(route_key: string, waiting: RouteWaiter<Holder>[]): void {
    this.claiming.set(route_key, { function_id: waiting[0].function_id, waiting })
  }

  /**
   * The claim of `route_key` was answered: it is made no more, and its waiting triggers are
   * sorted (`settleWaiters`): those still on the route binding the claimed function are
   * `answered` by it, those now binding another function `reclaim`. Undefined when no claim
   * of it was being made.
   */
  settleClaim(route_key: string): { function_id: string; answered: RouteWaiter<Holder>[]; reclaim: RouteWaiter<Holder>[] } | undefined {
    const claim = this.claiming.get(route_key)
    if (!claim) return undefined
    this.claiming.delete(route_key)
    return { function_id: claim.function_id, ...settleWaiters(claim.waiting, claim.function_id, (holder) => this.table.heldBy(holder) === route_key) }
  }

  /**
   * What the inspector shows: `routes` (the route table's, another engine's holder shown as
   * `{engine_id, trigger_id, worker}`), and in a cluster `published` (route keys),
   * `claiming` (each claim being made: its route key, function, and the triggers waiting,
   * each with the function it binds), `conflicted` (other engines' routes kept out here:
   * their engine, method, path, function and first holder); each sorted by route or key.
   */
  toJSON() {
    const routes = this.table.toJSON().routes.map((route) => ({
      ...route,
      holders: route.holders.map((h) => {
        if (!isRemoteHolder(h.worker_id)) return h
        const remote = this.remote.get(h.worker_id.slice(REMOTE.length))
        return { engine_id: remote?.engine_id ?? null, trigger_id: h.trigger_id, worker: remote?.worker ?? null }
      }),
    }))
    return {
      routes,
      published: [...this.published].sort(),
      claiming: [...this.claiming].sort(byKey).map(([route, { function_id, waiting }]) => ({
        route,
        function_id,
        waiting: waiting.map((w) => ({ worker_id: w.holder.worker_id, trigger_id: w.holder.trigger_id, function_id: w.function_id })),
      })),
      conflicted: [...this.conflicted].sort(byKey).map(([, entry]) => ({
        engine_id: entry.engine_id,
        method: entry.route.method,
        path: entry.route.path,
        function_id: entry.function_id,
        holder: entry.holder,
      })),
    }
  }
}
