/**
 * `provider:http`: the engine's one HTTP listener and its radix-tree router (rou3), shared
 * by every session's http triggers. Sessions' http children add and remove routes with
 * events; a route (one method of one path) lives while any trigger holding it does. A
 * request that matches becomes an invocation of the route's function; its answer becomes
 * the response. The listener and router live in this actor and close with it.
 *
 * Routes are kept per method, so a request finds the most specific path bound for its
 * own method (static before `:param` before `*`); a path bound only for other methods
 * gets 405 with `Allow`, no path at all 404.
 */
import { createServer, type IncomingMessage } from 'node:http'
import { addRoute, createRouter, findRoute, removeRoute } from 'rou3'
import { fromCallback, type AnyActorRef } from 'xstate'
import type { ErrorBody } from '../adapters/messages.js'
import { BodyError, decodeBody, parseQuery, readBody, writeError, writeResult, type HttpRequestInput } from '../adapters/http-exchange.js'
import { HTTP_METHODS, REST_PARAM, type HttpRoute } from './http-config.js'
import type { Outcome } from './invocations.js'
import { triggerActorId } from '../machines/trigger.machine.js'

export interface HttpProviderInput {
  host: string
  port: number
  /** Largest request body accepted; larger gets 413. */
  maxBodyBytes: number
  /** Answer deadline for a route whose config sets no `timeout_ms`; past it, 504. */
  timeoutMs: number
}

export type HttpProviderEvent =
  | { type: 'route.add'; worker_id: string; trigger_id: string; function_id: string; route: HttpRoute }
  | { type: 'route.remove'; worker_id: string; trigger_id: string }

/** One method of one path: the function it calls and the triggers holding it. */
interface Binding {
  method: string
  pattern: string
  /** The path as its first holder wrote it, for messages. */
  path: string
  params: string[]
  function_id: string
  timeout_ms?: number
  /** `worker_id␀trigger_id` of every trigger holding the route; the first is its owner of record. */
  holders: string[]
}

const holderKey = (worker_id: string, trigger_id: string) => `${worker_id}\u0000${trigger_id}`
const describeHolder = (key: string) => {
  const [worker_id, trigger_id] = key.split('\u0000')
  return `trigger '${trigger_id}' of worker '${worker_id}'`
}

/** HTTP status for an error the engine itself gives a call. */
const statusFor: Record<string, number> = { function_not_found: 503, worker_disconnected: 503, invocation_timeout: 504 }

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

/** The `provider:http` actor logic. */
export const httpProviderLogic = fromCallback<HttpProviderEvent, HttpProviderInput>(({ input, system, receive, sendBack }) => {
  const router = createRouter<Binding>()
  /** Bindings by `METHOD shape`. */
  const bindings = new Map<string, Binding>()
  /** The binding key each trigger holds. */
  const held = new Map<string, string>()
  const invocations = () => system.get('invocations') as AnyActorRef | undefined
  const answer = (worker_id: string, trigger_id: string, error?: ErrorBody) =>
    system.get(triggerActorId(worker_id, trigger_id))?.send(error ? { type: 'trigger.rejected', error } : { type: 'trigger.activated' })

  const server = createServer((req, res) => {
    const method = (req.method ?? 'GET').toUpperCase()
    const at = target(req)
    if (!at) return writeError(res, 400, 'bad_request', `Cannot read the request target ${JSON.stringify(req.url)}`)
    const { path, search } = at
    const match = findRoute(router, method, path) ?? (method === 'HEAD' ? findRoute(router, 'GET', path) : undefined)
    if (!match) {
      const bound = HTTP_METHODS.filter((m) => findRoute(router, m, path))
      if (bound.length === 0) return writeError(res, 404, 'route_not_found', `No route for ${method} ${path}`)
      const allow = HTTP_METHODS.filter((m) => bound.includes(m) || (m === 'HEAD' && bound.includes('GET')) || m === 'OPTIONS').join(', ')
      if (method === 'OPTIONS') return void res.writeHead(204, { allow }).end()
      return writeError(res, 405, 'method_not_allowed', `${method} is not allowed on ${path}; allowed: ${allow}`, { allow })
    }
    const binding = match.data
    const path_params: Record<string, string> = Object.fromEntries(
      Object.entries(match.params ?? {}).map(([name, value]) => {
        let decoded = value
        try {
          decoded = decodeURIComponent(value)
        } catch {}
        return [name === REST_PARAM ? '*' : name, decoded]
      }),
    )
    readBody(req, input.maxBodyBytes)
      .then((raw) => {
        const data: HttpRequestInput = {
          method,
          path,
          path_params,
          query_params: parseQuery(search),
          headers: { ...req.headers },
          body: decodeBody(raw, req.headers['content-type']),
        }
        const calls = invocations()
        if (!calls) return writeError(res, 503, 'engine_stopping', 'The engine is stopping')
        calls.send({
          type: 'invocation.start',
          source: 'http',
          caller: {
            reply: (outcome: Outcome) => {
              if (outcome.error === undefined) return writeResult(res, outcome.result, binding.function_id)
              const error = (typeof outcome.error === 'object' && outcome.error !== null ? outcome.error : { message: String(outcome.error) }) as Partial<ErrorBody>
              const code = typeof error.code === 'string' ? error.code : 'function_error'
              writeError(res, statusFor[code] ?? 500, code, typeof error.message === 'string' ? error.message : `Function '${binding.function_id}' failed`)
            },
          },
          function_id: binding.function_id,
          data,
          timeout_ms: binding.timeout_ms ?? input.timeoutMs,
        })
      })
      .catch((err: unknown) => {
        if (err instanceof BodyError) {
          writeError(res, err.status, err.code, err.message, err.status === 413 ? { connection: 'close' } : {})
        } else writeError(res, 400, 'bad_request', `Could not read the request: ${(err as Error).message}`)
      })
  })
  server.keepAliveTimeout = 5000
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
    else socket.destroy()
  })
  server.once('error', (err) => sendBack({ type: 'provider.failed', provider: 'http', message: `HTTP listener: ${err.message}` }))
  server.listen(input.port, input.host, () => {
    const address = server.address()
    sendBack({ type: 'provider.listening', provider: 'http', host: input.host, port: typeof address === 'object' && address ? address.port : input.port })
  })

  const add = (event: Extract<HttpProviderEvent, { type: 'route.add' }>) => {
    const { worker_id, trigger_id, function_id, route } = event
    const holder = holderKey(worker_id, trigger_id)
    const key = `${route.method} ${route.shape}`
    const bound = bindings.get(key)
    if (bound && bound.function_id !== function_id) {
      return answer(worker_id, trigger_id, {
        code: 'invalid_config',
        message: `Route ${route.method} ${route.path} is already bound to function '${bound.function_id}' by ${describeHolder(bound.holders[0])}`,
      })
    }
    if (bound && bound.params.join('/') !== route.params.join('/')) {
      return answer(worker_id, trigger_id, {
        code: 'invalid_config',
        message: `Route ${route.method} ${route.path} is the route ${route.method} ${bound.path} held by ${describeHolder(bound.holders[0])} with other parameter names; use the same names`,
      })
    }
    if (bound) {
      if (!bound.holders.includes(holder)) bound.holders.push(holder)
    } else {
      const binding: Binding = { method: route.method, pattern: route.pattern, path: route.path, params: route.params, function_id, timeout_ms: route.timeout_ms, holders: [holder] }
      try {
        addRoute(router, route.method, route.pattern, binding)
      } catch (err) {
        return answer(worker_id, trigger_id, { code: 'invalid_config', message: `'path' ${JSON.stringify(route.path)} cannot be routed: ${(err as Error).message}` })
      }
      bindings.set(key, binding)
    }
    held.set(holder, key)
    answer(worker_id, trigger_id)
  }

  const remove = (worker_id: string, trigger_id: string) => {
    const holder = holderKey(worker_id, trigger_id)
    const key = held.get(holder)
    if (key === undefined) return
    held.delete(holder)
    const binding = bindings.get(key)
    if (!binding) return
    binding.holders.splice(binding.holders.indexOf(holder), 1)
    if (binding.holders.length > 0) return
    bindings.delete(key)
    removeRoute(router, binding.method, binding.pattern)
  }

  receive((event) => {
    if (event.type === 'route.add') add(event)
    else remove(event.worker_id, event.trigger_id)
  })

  return () => {
    server.close()
    server.closeAllConnections()
  }
})
