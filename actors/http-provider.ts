/**
 * `provider:http`: the engine's one HTTP listener, shared by every session's http triggers.
 * Sessions' http children add and remove routes with events; the routes are a pure table
 * (core/route-table.ts, inside core/http-routes.ts with what the listener holds of the
 * cluster: routes published and served for other engines, claims being made, conflicts),
 * which is this actor's snapshot. A request that matches a route becomes an invocation of
 * its function, and the answer becomes the response (actors/http-exchange.ts), or the
 * function streams it, and reads the request body, through the call's data channels
 * (actors/http-stream.ts). The listener is this actor's handle and closes with it.
 *
 * In a cluster, the routes its own triggers hold are published for the other engines
 * (through the cluster actor, in the routes bucket), and theirs are served here as well:
 * a request on another engine's route is a call of its function, which crosses the
 * cluster. A route bound to another function elsewhere is refused with the text of a
 * conflict on one engine: this engine's first trigger on a route is answered once the
 * route's claim across the cluster is made (`cluster.routeClaim`: two engines binding it
 * to different functions at once, one is refused), and its last lets the claim go.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { EventObject } from 'xstate'
import type { ErrorBody } from '../protocol/messages.js'
import { errors } from '../protocol/errors.js'
import type { RouteWaiter } from '../core/route-claim.js'
import { routeKeyOf, type Binding, type Holder } from '../core/route-table.js'
import { HttpRoutes } from '../core/http-routes.js'
import type { RemoteRoute } from '../protocol/cluster.js'
import type { HttpRoute } from '../protocol/http-route.js'
import type { Outcome } from '../core/call-table.js'
import type { HttpProviderEvent, HttpProviderInput } from '../machines/contracts.js'
import { describeWorker } from '../core/catalog.js'
import { actorsOf, catalogOf, tell, type EngineSystem } from '../machines/system.js'
import { HttpInput } from '../core/http-input.js'
import { BodyError, decodeBody, hasBody, isParsed, parseQuery, readBody, writeError, writeResult, type HttpRequestInput } from './http-exchange.js'
import { Exchanges, HTTP_CHANNEL_PREFIX } from './http-stream.js'
import { fromTable, type TableScope } from './table-actor.js'

/** A header's value, when it came once. */
const header = (value: string | string[] | undefined): string | undefined => (typeof value === 'string' ? value : undefined)

/** HTTP status for an error the engine itself gives a call (a Map: a worker's own code may be any string, `constructor` too). */
const statusFor = new Map<string, number>([
  ['function_not_found', 503],
  ['worker_disconnected', 503],
  ['invocation_timeout', 504],
  ['too_many_requests', 429],
])

/** Answers a client may retry carry `Retry-After` (seconds): no worker right now, or the engine at its limit. */
const RETRY_LATER: Record<number, Record<string, string>> = { 429: { 'retry-after': '1' }, 503: { 'retry-after': '1' } }

/** Path and query of a request target (origin form, or absolute form as proxies send it). */
function target(req: IncomingMessage): { path: string; search: string } | undefined {
  let url = req.url ?? '/'
  if (!url.startsWith('/')) {
    try {
      const parsed = new URL(url)
      url = parsed.pathname + parsed.search
    } catch {
      return undefined
    }
  }
  const q = url.indexOf('?')
  return q < 0 ? { path: url, search: '' } : { path: url.slice(0, q), search: url.slice(q + 1) }
}

/** The error body a failed call gives its HTTP client, and its status. */
function failure(outcome: Outcome, function_id: string): { status: number; error: ErrorBody } {
  const error = (typeof outcome.error === 'object' && outcome.error !== null ? outcome.error : { message: String(outcome.error) }) as Partial<ErrorBody>
  // The function's own code and text pass on as they came; what it left out, the engine fills in.
  const body = errors.functionError(function_id)
  if (typeof error.code === 'string') body.code = error.code
  if (typeof error.message === 'string') body.message = error.message
  return { status: statusFor.get(body.code) ?? 500, error: body }
}

/** A request whose body could not be read or decoded: 413, or 400. */
function refuse(res: ServerResponse, err: unknown): void {
  if (err instanceof BodyError) writeError(res, err.status, err.body, err.status === 413 ? { connection: 'close' } : {})
  else writeError(res, 400, errors.badRequest((err as Error).message))
}

/** Writes a call's outcome as the response: its value, or its failure. */
function respond(res: ServerResponse, outcome: Outcome, function_id: string): void {
  if (outcome.error === undefined) return writeResult(res, outcome.result, function_id)
  const { status, error } = failure(outcome, function_id)
  writeError(res, status, error, RETRY_LATER[status])
}

/** How the exchanges write what is not streamed (actors/http-stream.ts). */
const writes = { respond, fail: (res: ServerResponse, status: number, error: ErrorBody) => writeError(res, status, error, RETRY_LATER[status]) }

/**
 * A request on a bound route, its body read (or, past the limit, `streamed`: what was read
 * of it): it becomes a call of the route's function, whose outcome becomes the response,
 * unless the function streams it (actors/http-stream.ts).
 */
function start(system: EngineSystem, input: HttpProviderInput, exchanges: Exchanges, req: IncomingMessage, res: ServerResponse, method: string, path: string, search: string, binding: Binding, path_params: Record<string, string>, raw: Buffer | undefined, streamed: Buffer[] | undefined): void {
  // Nothing this throws may escape the request's callback.
  try {
    const body = decodeBody(raw, req.headers['content-type'])
    const calls = actorsOf(system).invocations()
    if (!calls) return writeError(res, 503, errors.engineStopping(), RETRY_LATER[503])
    const timeout_ms = binding.timeout_ms ?? input.timeoutMs
    // The call's caller is its exchange, which holds its data channels (iii's streams: the request body to read, the response to write).
    const exchange = exchanges.open(req, res, binding.function_id, timeout_ms, raw, streamed)
    // The headers object is the request's own (Node builds it once, on first read): the
    // call carries it as it is, with nothing copied. Query and body are parsed here,
    // whether or not the function reads them: a worker gets the input as one JSON value.
    const data = new HttpInput(method, path, path_params, parseQuery(search), req.headers as HttpRequestInput['headers'], body, exchange.channel_id, exchange.key)
    calls.send({
      type: 'invocation.start',
      source: 'http',
      caller: exchange,
      function_id: binding.function_id,
      data,
      timeout_ms,
      // The request's W3C trace context goes on with the call; so does the trigger's metadata.
      traceparent: header(req.headers.traceparent),
      baggage: header(req.headers.baggage),
      metadata: binding.metadata,
    })
  } catch (err) {
    refuse(res, err)
  }
}

interface Handles {
  clustered(): boolean
  close(): void
}

type Scope = TableScope<HttpRoutes, HttpProviderInput, EventObject> & { handles: Handles }

/** A local worker as refusals name it: by the catalog. */
const localWorker = (scope: Scope) => (worker_id: string) => describeWorker(catalogOf(scope.system), worker_id)

/** A holder as refusals name it: a local worker by the catalog, another engine's by what that engine said of it. */
const describer = (scope: Scope) => scope.context.describer(localWorker(scope))

/**
 * In a cluster: publishes the route of `route_key` for the other engines while this
 * engine's own triggers hold it, and withdraws it once none does (actors/cluster.ts
 * writes the routes bucket).
 */
function publish(scope: Scope, route_key: string): void {
  const cluster = actorsOf(scope.system).cluster()
  if (!cluster) return
  const routes = scope.context
  // Published once its claim is made (`route.claimed`).
  if (routes.claimOf(route_key)) return
  const binding = routes.table.binding(route_key)
  const local = routes.localHolders(route_key)
  if (binding && local.length > 0) {
    routes.publish(route_key)
    const { method, path, pattern, params, timeout_ms, function_id, metadata } = binding
    const route = { method: method as HttpRoute['method'], path, pattern, shape: route_key.slice(method.length + 1), params, ...(timeout_ms === undefined ? {} : { timeout_ms }) }
    cluster.send({ type: 'cluster.route', route_key, entry: { function_id, route, metadata, holder: { trigger_id: local[0].trigger_id, worker: describer(scope)(local[0].worker_id) } } })
  } else if (routes.unpublish(route_key)) {
    cluster.send({ type: 'cluster.route', route_key })
    cluster.send({ type: 'cluster.routeRelease', route_key })
    retryConflicted(scope)
  }
}

/** The other engines' routes that a route of this engine kept out, tried again (this engine let a route go). */
function retryConflicted(scope: Scope): void {
  for (const [key, entry] of scope.context.conflicts()) remoteRoute(scope, key, entry, true)
}

/**
 * In a cluster, the first trigger of this engine on a route (added to the table already):
 * answered once the route's claim across the cluster is made, with the triggers that join
 * it meanwhile. Returns false when the trigger is answered at once (alone, or the route is
 * this engine's already).
 */
function claim(scope: Scope, holder: Holder, function_id: string, route: HttpRoute): boolean {
  const cluster = actorsOf(scope.system).cluster()
  if (!cluster) return false
  const route_key = routeKeyOf(route)
  // Joined: answered by that claim if it binds the same function, else claimed anew once it is answered (`claimed`).
  if (scope.context.join(route_key, { holder, function_id, route })) return true
  if (scope.context.isPublished(route_key)) return false
  sendClaim(scope, route_key, [{ holder, function_id, route }])
  return true
}

/** Makes the claim of a route for its first waiting trigger's function, the others waiting with it. */
function sendClaim(scope: Scope, route_key: string, waiting: RouteWaiter<Holder>[]): void {
  const cluster = actorsOf(scope.system).cluster()
  const [{ holder, function_id, route }] = waiting
  scope.context.startClaim(route_key, waiting)
  if (!cluster) return scope.self.send({ type: 'route.claimed', route_key, refusal: undefined })
  const self = scope.self
  cluster.send({
    type: 'cluster.routeClaim',
    route_key,
    function_id,
    route,
    holder: { trigger_id: holder.trigger_id, worker: describer(scope)(holder.worker_id) },
    reply: (refusal) => self.send({ type: 'route.claimed', route_key, refusal }),
  })
}

/** A route's claim was made (its waiting triggers hold it) or refused (they are refused, with its text). */
function claimed(scope: Scope, route_key: string, refusal: ErrorBody | undefined): void {
  // Those unregistered meanwhile: nothing to answer. Those now binding another function: not answered by this claim.
  const settled = scope.context.settleClaim(route_key)
  if (!settled) return
  const { answered, reclaim } = settled
  for (const { holder } of answered) {
    if (refusal) scope.context.table.remove(holder)
    tell(actorsOf(scope.system).trigger(holder.worker_id, holder.trigger_id), refusal ? { type: 'trigger.rejected', error: refusal } : { type: 'trigger.activated' })
  }
  if (refusal) retryConflicted(scope)
  // Its triggers all went while it was claimed (another function's may have come): let go at once.
  else if (answered.length === 0) actorsOf(scope.system).cluster()?.send({ type: 'cluster.routeRelease', route_key })
  // The route registered again for another function meanwhile: claimed for it (after the release, on the cluster actor's chain for the route).
  if (reclaim.length > 0) return sendClaim(scope, route_key, reclaim)
  if (refusal || answered.length === 0) return
  publish(scope, route_key)
}

/** Another engine's route is served here (a request becomes a call of its function, across the cluster), or no more. */
function remoteRoute(scope: Scope, key: string, entry: RemoteRoute | undefined, again = false): void {
  const refusal = scope.context.serveRemote(key, entry, localWorker(scope))
  if (refusal && entry && !again) scope.sendBack({ type: 'engine.log', level: 'warn', msg: 'cluster: a route of another engine conflicts with one here; this engine serves its own', data: { engine_id: entry.engine_id, error: refusal } })
}

export const httpProviderLogic = fromTable<HttpRoutes, HttpProviderEvent, HttpProviderInput, EventObject, Handles>({
  context: () => new HttpRoutes(),
  open({ context: { table: routes }, input, system, sendBack }) {
    // The data channels of the calls in flight (actors/http-stream.ts), their ids delegated to this actor.
    const exchanges = new Exchanges(writes)
    tell(actorsOf(system).channels(), { type: 'channel.delegate', prefix: HTTP_CHANNEL_PREFIX, owner: exchanges })
    // Slow clients are cut off: Node checks the header and request deadlines every
    // `connectionsCheckingInterval`, so that interval follows the shortest deadline.
    const server = createServer({
      headersTimeout: input.headersTimeoutMs,
      requestTimeout: input.requestTimeoutMs,
      keepAliveTimeout: input.keepAliveTimeoutMs,
      maxHeaderSize: input.maxHeaderBytes,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(Math.min(input.headersTimeoutMs, input.requestTimeoutMs) / 4))),
    }, (req, res) => {
      const method = (req.method ?? 'GET').toUpperCase()
      const at = target(req)
      if (!at) return writeError(res, 400, errors.badRequestTarget(req.url))
      const match = routes.match(method, at.path)
      if (match.kind === 'not-found') return writeError(res, 404, errors.routeNotFound(method, at.path))
      if (match.kind === 'bad-path') return writeError(res, 400, errors.badPathParam(match.param, match.value))
      if (match.kind === 'dot-segment') return writeError(res, 400, errors.dotSegment(match.value, match.param))
      if (match.kind === 'method-not-allowed') {
        if (method === 'OPTIONS') return void res.writeHead(204, { allow: match.allow }).end()
        return writeError(res, 405, errors.methodNotAllowed(method, at.path, match.allow), { allow: match.allow })
      }
      const { binding, path_params } = match
      // A bodiless request becomes its call here, in the callback that read it.
      if (!hasBody(req)) return start(system, input, exchanges, req, res, method, at.path, at.search, binding, path_params, undefined, undefined)
      // A body of a type the engine does not parse may be larger than the limit: it is streamed (actors/http-stream.ts).
      readBody(
        req,
        input.maxBodyBytes,
        (raw, streamed) => start(system, input, exchanges, req, res, method, at.path, at.search, binding, path_params, raw, streamed),
        (err) => refuse(res, err),
        !isParsed(req.headers['content-type']),
      )
    })
    server.maxConnections = input.maxConnections
    // A request Node could not read: a head too large (431), a client too slow (408), or bytes that are not HTTP (400).
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request'
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
      else socket.destroy()
    })
    server.once('error', (err: NodeJS.ErrnoException) => sendBack({ type: 'provider.failed', provider: 'http', message: `HTTP listener: ${err.message}`, reason: err.code }))
    server.listen(input.port, input.host, () => {
      const address = server.address()
      sendBack({ type: 'provider.listening', provider: 'http', host: input.host, port: typeof address === 'object' && address ? address.port : input.port })
    })
    return {
      clustered: () => actorsOf(system).cluster() !== undefined,
      close() {
        exchanges.releaseAll()
        server.close()
        server.closeAllConnections()
      },
    }
  },
  receive(scope, event) {
    const { system } = scope
    const routes = scope.context.table
    switch (event.type) {
      case 'route.remote':
        return remoteRoute(scope, event.key, event.entry)
      case 'route.claimed':
        return claimed(scope, event.route_key, event.refusal)
      case 'route.removeAll': {
        const holders = event.trigger_ids.map((trigger_id) => ({ worker_id: event.worker_id, trigger_id }))
        const keys = scope.handles.clustered() ? holders.map((holder) => routes.heldBy(holder)) : []
        routes.removeAll(holders)
        for (const key of new Set(keys)) if (key !== undefined) publish(scope, key)
        return
      }
      case 'route.remove': {
        const holder: Holder = { worker_id: event.worker_id, trigger_id: event.trigger_id }
        const key = routes.heldBy(holder)
        routes.remove(holder)
        if (key !== undefined) publish(scope, key)
        return
      }
      case 'route.add': {
        const holder: Holder = { worker_id: event.worker_id, trigger_id: event.trigger_id }
        const before = routes.heldBy(holder)
        const refusal = routes.add(holder, event.function_id, event.route, { metadata: event.metadata, describeWorker: describer(scope) })
        // In a cluster, the first trigger here on a route waits for its claim across the cluster.
        const waits = !refusal && claim(scope, holder, event.function_id, event.route)
        if (!waits) tell(actorsOf(system).trigger(event.worker_id, event.trigger_id), refusal ? { type: 'trigger.rejected', error: refusal } : { type: 'trigger.activated' })
        if (before !== undefined) publish(scope, before)
        if (!refusal) publish(scope, routeKeyOf(event.route))
        return
      }
    }
  },
  close({ handles }) {
    handles.close()
  },
})
