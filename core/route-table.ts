/**
 * The route table of the HTTP listener: which function each route (one method of one path)
 * calls, and which triggers hold it. Pure data over rou3's radix tree; `provider:http`
 * (actors/http-provider.ts) owns the listener and drives this table, and its JSON form is
 * that actor's snapshot.
 *
 * Rules (docs/protocol.md, http triggers):
 * - Routes are kept per method, so a request finds the most specific path bound for its
 *   own method (static before `:param` before `*`). HEAD falls back to GET.
 * - A path bound only for other methods is 405 with `Allow` (OPTIONS: 204 with `Allow`);
 *   no path at all, 404.
 * - The same method and path bound to another function is refused (`invalid_config`,
 *   naming the holder); bound again to the same function, the route is shared and lives
 *   while any holder does. Two routes of the same shape must name their parameters alike.
 */
import { addRoute, createRouter, findRoute, removeRoute } from 'rou3'
import type { ErrorBody } from '../protocol/messages.js'
import { errors } from '../protocol/errors.js'
import { HTTP_METHODS, type HttpRoute } from '../protocol/http-route.js'
import { REST_PARAM, hasDotSegment } from './http-config.js'

/** One route: the function it calls and the triggers holding it. */
export interface Binding {
  method: string
  pattern: string
  /** The path as its first holder wrote it, for messages. */
  path: string
  params: string[]
  function_id: string
  timeout_ms?: number
  /** The metadata of the trigger that first bound the route, passed on with its calls. */
  metadata?: unknown
  /** Holder keys (`worker_id␀trigger_id`) of every trigger holding the route; the first is its owner of record. */
  holders: string[]
}

/** What a request finds. */
export type RouteMatch =
  | { kind: 'route'; binding: Binding; path_params: Record<string, string> }
  /** A path parameter is not valid percent-encoding (`/items/100%/view`): the request is refused, never passed on raw. */
  | { kind: 'bad-path'; param: string; value: string }
  /**
   * The path has a `.` or `..` segment (`/files/../etc`, `/files/%2e%2e/etc`), or a path
   * parameter has one once decoded (`..%2f..%2fetc`, `param` names it): refused, so that no
   * function is handed a path that climbs out of where it looks.
   */
  | { kind: 'dot-segment'; param?: string; value: string }
  /** The path is routed, but not for this method: `allow` lists the methods that are. */
  | { kind: 'method-not-allowed'; allow: string }
  | { kind: 'not-found' }

export interface Holder {
  worker_id: string
  trigger_id: string
}

const holderKey = ({ worker_id, trigger_id }: Holder) => `${worker_id}\u0000${trigger_id}`

/** A route's key in the table: its method and shape (`GET /users/:`). */
export const routeKeyOf = (route: Pick<HttpRoute, 'method' | 'shape'>): string => `${route.method} ${route.shape}`
/** A worker as refusals name it (`worker 'billing' (<id>)`); by default by its id. */
export type DescribeWorker = (worker_id: string) => string
const byId: DescribeWorker = (worker_id) => `worker '${worker_id}'`
const describeHolder = (key: string, describeWorker: DescribeWorker) => {
  const [worker_id, trigger_id] = key.split('\u0000')
  return `trigger '${trigger_id}' of ${describeWorker(worker_id)}`
}

/**
 * Why `route`, bound to `function_id`, may not join the route `bound` (of the same method
 * and shape), held first by the trigger `holder()` names (`trigger 'x' of worker '…'`):
 * another function, or other parameter names; undefined when it may. The one text of a
 * conflict, on one engine (`RouteTable.add`) and across a cluster (core/route-claim.ts).
 */
export function routeConflict(bound: Pick<Binding, 'function_id' | 'path' | 'params'>, function_id: string, route: HttpRoute, holder: () => string): ErrorBody | undefined {
  if (bound.function_id !== function_id) return errors.invalidConfig(`Route ${route.method} ${route.path} is already bound to function '${bound.function_id}' by ${holder()}`)
  if (bound.params.join('/') !== route.params.join('/')) {
    return errors.invalidConfig(`Route ${route.method} ${route.path} is the route ${route.method} ${bound.path} held by ${holder()} with other parameter names; use the same names`)
  }
  return undefined
}

/** Up to this many routes let go at once are removed from the router one by one. */
const REMOVE_ONE_BY_ONE = 64

export class RouteTable {
  private router = createRouter<Binding>()
  /** Bindings by `METHOD shape`. */
  private readonly bindings = new Map<string, Binding>()
  /** The binding key each holder holds. */
  private readonly held = new Map<string, string>()

  /** Number of routes. */
  get size(): number {
    return this.bindings.size
  }

  /**
   * Binds `route` to `function_id` for `holder`; returns the refusal, or undefined when it
   * holds the route. A holder holds one route: what it held before is let go first. A
   * refusal names the trigger that holds the route and its worker, as `describeWorker` says.
   */
  add(holder: Holder, function_id: string, route: HttpRoute, options: { metadata?: unknown; describeWorker?: DescribeWorker } = {}): ErrorBody | undefined {
    const { metadata, describeWorker = byId } = options
    this.remove(holder)
    const key = holderKey(holder)
    const routeKey = routeKeyOf(route)
    const bound = this.bindings.get(routeKey)
    const conflict = bound && routeConflict(bound, function_id, route, () => describeHolder(bound.holders[0], describeWorker))
    if (conflict) return conflict
    if (bound) {
      if (!bound.holders.includes(key)) bound.holders.push(key)
    } else {
      const binding: Binding = { method: route.method, pattern: route.pattern, path: route.path, params: route.params, function_id, timeout_ms: route.timeout_ms, metadata, holders: [key] }
      try {
        addRoute(this.router, route.method, route.pattern, binding)
      } catch (err) {
        return errors.invalidConfig(`'path' ${JSON.stringify(route.path)} cannot be routed: ${(err as Error).message}`)
      }
      this.bindings.set(routeKey, binding)
    }
    this.held.set(key, routeKey)
    return undefined
  }

  /** The key of the route `holder` holds, if it holds one. */
  heldBy(holder: Holder): string | undefined {
    return this.held.get(holderKey(holder))
  }

  /** The route of `route_key` and its holders (as `worker_id`, `trigger_id`), if it is bound. */
  binding(route_key: string): (Omit<Binding, 'holders'> & { holders: Holder[] }) | undefined {
    const b = this.bindings.get(route_key)
    if (!b) return undefined
    return {
      ...b,
      holders: b.holders.map((h) => {
        const [worker_id, trigger_id] = h.split('\u0000')
        return { worker_id, trigger_id }
      }),
    }
  }

  /** Lets go of what `holder` holds; a route nobody holds any more is removed. */
  remove(holder: Holder): void {
    const binding = this.letGo(holder)
    if (binding) removeRoute(this.router, binding.method, binding.pattern)
  }

  /**
   * Lets go of what each of `holders` holds (a session's triggers, as it ends), as `remove`
   * does one by one. When that removes at least as many routes as stay, the router is made
   * again from the routes that stay, in the order they were bound: rou3 counts a node's
   * static children on every removal, so removing one by one N routes under one path
   * (`/reg/1` … `/reg/N`) cost O(N²).
   */
  removeAll(holders: Iterable<Holder>): void {
    const gone: Binding[] = []
    for (const holder of holders) {
      const binding = this.letGo(holder)
      if (binding) gone.push(binding)
    }
    if (gone.length > REMOVE_ONE_BY_ONE && gone.length >= this.bindings.size) {
      this.router = createRouter<Binding>()
      for (const binding of this.bindings.values()) addRoute(this.router, binding.method, binding.pattern, binding)
    } else {
      for (const binding of gone) removeRoute(this.router, binding.method, binding.pattern)
    }
  }

  /** `holder` lets go of its route; returns the route if nobody holds it any more (it has left `bindings`, not yet the router). */
  private letGo(holder: Holder): Binding | undefined {
    const key = holderKey(holder)
    const routeKey = this.held.get(key)
    if (routeKey === undefined) return undefined
    this.held.delete(key)
    const binding = this.bindings.get(routeKey)
    if (!binding) return undefined
    binding.holders.splice(binding.holders.indexOf(key), 1)
    if (binding.holders.length > 0) return undefined
    this.bindings.delete(routeKey)
    return binding
  }

  /** What a request for `method` (upper case) and `path` (as it came, still encoded) finds. */
  match(method: string, path: string): RouteMatch {
    if (hasDotSegment(path)) return { kind: 'dot-segment', value: path }
    const found = findRoute(this.router, method, path) ?? (method === 'HEAD' ? findRoute(this.router, 'GET', path) : undefined)
    if (found) {
      const path_params: Record<string, string> = {}
      const params = found.params
      if (params) {
        // The route's own names, in path order, then the trailing rest if it has one.
        const names = found.data.params
        for (let i = 0; i <= names.length; i++) {
          const name = i < names.length ? names[i] : REST_PARAM
          const value = params[name]
          if (value === undefined) continue
          const key = name === REST_PARAM ? '*' : name
          let decoded = value
          if (value.includes('%')) {
            try {
              decoded = decodeURIComponent(value)
            } catch {
              // `100%` would reach the function as `100%25` does: a different request made the same.
              return { kind: 'bad-path', param: key, value }
            }
            // An encoded '/' may hide one: `..%2f..%2fetc` is `../../etc` once decoded.
            if (hasDotSegment(decoded)) return { kind: 'dot-segment', param: key, value }
          }
          // A parameter named `__proto__` is an own key like any other, not the object's prototype.
          if (key === '__proto__') Object.defineProperty(path_params, key, { value: decoded, enumerable: true, writable: true, configurable: true })
          else path_params[key] = decoded
        }
      }
      return { kind: 'route', binding: found.data, path_params }
    }
    const bound = HTTP_METHODS.filter((m) => findRoute(this.router, m, path))
    if (bound.length === 0) return { kind: 'not-found' }
    const allow = HTTP_METHODS.filter((m) => bound.includes(m) || (m === 'HEAD' && bound.includes('GET')) || m === 'OPTIONS').join(', ')
    return { kind: 'method-not-allowed', allow }
  }

  /** What the inspector shows: every route with its function and holders. */
  toJSON() {
    return {
      routes: [...this.bindings.values()].map((b) => ({
        method: b.method,
        path: b.path,
        function_id: b.function_id,
        holders: b.holders.map((h) => {
          const [worker_id, trigger_id] = h.split('\u0000')
          return { worker_id, trigger_id }
        }),
      })),
    }
  }
}
