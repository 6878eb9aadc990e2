/**
 * `provider:http`: the engine's one HTTP listener and its radix-tree router (rou3), shared
 * by every session's http triggers. Sessions' http children add and remove routes with
 * events; a route lives while any trigger holding it does. A request that matches becomes
 * an invocation of the route's function; its answer becomes the response. The listener
 * and router live in this actor and close with it.
 */
import { createServer } from 'node:http'
import { addRoute, createRouter, findRoute, removeRoute } from 'rou3'
import { fromCallback, type AnyActorRef } from 'xstate'
import type { ErrorBody } from '../adapters/messages.js'
import { BodyError, decodeBody, parseQuery, readBody, writeError, writeResult, type HttpRequestInput } from '../adapters/http-exchange.js'
import { REST_PARAM, type HttpRoute } from './http-config.js'
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
  function_id: string
  timeout_ms?: number
  /** `worker_id␀trigger_id` of every trigger holding the route; the first is its owner of record. */
  holders: string[]
}
interface PathEntry {
  pattern: string
  params: string[]
  methods: Map<string, Binding>
}

const holderKey = (worker_id: string, trigger_id: string) => `${worker_id}\u0000${trigger_id}`
const describeHolder = (key: string) => {
  const [worker_id, trigger_id] = key.split('\u0000')
  return `trigger '${trigger_id}' of worker '${worker_id}'`
}

/** HTTP status for an error the engine itself gives a call. */
const statusFor: Record<string, number> = { function_not_found: 503, worker_disconnected: 503, invocation_timeout: 504 }

/** The `provider:http` actor logic. */
export const httpProviderLogic = fromCallback<HttpProviderEvent, HttpProviderInput>(({ input, system, receive, sendBack }) => {
  const router = createRouter<PathEntry>()
  const paths = new Map<string, PathEntry>()
  const held = new Map<string, { shape: string; method: string }>()
  const invocations = () => system.get('invocations') as AnyActorRef
  const answer = (worker_id: string, trigger_id: string, error?: ErrorBody) =>
    system.get(triggerActorId(worker_id, trigger_id))?.send(error ? { type: 'trigger.rejected', error } : { type: 'trigger.activated' })

  const server = createServer((req, res) => {
    const method = (req.method ?? 'GET').toUpperCase()
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    const match = findRoute(router, '', path)
    if (!match) return writeError(res, 404, 'route_not_found', `No route for ${method} ${path}`)
    const entry = match.data
    const binding = entry.methods.get(method) ?? (method === 'HEAD' ? entry.methods.get('GET') : undefined)
    if (!binding) {
      const allow = [...entry.methods.keys()].join(', ')
      if (method === 'OPTIONS') return void res.writeHead(204, { allow }).end()
      return writeError(res, 405, 'method_not_allowed', `${method} is not allowed on ${entry.pattern.replace(`**:${REST_PARAM}`, '*')}; allowed: ${allow}`, { allow })
    }
    const path_params: Record<string, string> = Object.create(null)
    for (const [name, value] of Object.entries(match.params ?? {})) {
      let decoded = value
      try {
        decoded = decodeURIComponent(value)
      } catch {}
      path_params[name === REST_PARAM ? '*' : name] = decoded
    }
    readBody(req, input.maxBodyBytes)
      .then((raw) => {
        const data: HttpRequestInput = {
          method,
          path,
          path_params,
          query_params: parseQuery(q < 0 ? '' : url.slice(q + 1)),
          headers: req.headers,
          body: decodeBody(raw, req.headers['content-type']),
        }
        invocations().send({
          type: 'invocation.start',
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
  server.on('clientError', (_err, socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'))
  server.once('error', (err) => sendBack({ type: 'provider.failed', provider: 'http', message: `HTTP listener: ${err.message}` }))
  server.listen(input.port, input.host, () => {
    const address = server.address()
    sendBack({ type: 'provider.listening', provider: 'http', host: input.host, port: typeof address === 'object' && address ? address.port : input.port })
  })

  const add = (event: Extract<HttpProviderEvent, { type: 'route.add' }>) => {
    const { worker_id, trigger_id, function_id, route } = event
    const key = holderKey(worker_id, trigger_id)
    let entry = paths.get(route.shape)
    if (entry && entry.params.join('/') !== route.params.join('/')) {
      const holder = [...entry.methods.values()][0].holders[0]
      return answer(worker_id, trigger_id, {
        code: 'invalid_config',
        message: `Route '${route.path}' has the same shape as '${entry.pattern}' held by ${describeHolder(holder)}, with other parameter names; use the same names`,
      })
    }
    const bound = entry?.methods.get(route.method)
    if (bound && bound.function_id !== function_id) {
      return answer(worker_id, trigger_id, {
        code: 'invalid_config',
        message: `Route ${route.method} ${route.path} is already bound to function '${bound.function_id}' by ${describeHolder(bound.holders[0])}`,
      })
    }
    if (!entry) {
      entry = { pattern: route.pattern, params: route.params, methods: new Map() }
      paths.set(route.shape, entry)
      addRoute(router, '', route.pattern, entry)
    }
    if (bound) bound.holders.push(key)
    else entry.methods.set(route.method, { function_id, timeout_ms: route.timeout_ms, holders: [key] })
    held.set(key, { shape: route.shape, method: route.method })
    answer(worker_id, trigger_id)
  }

  const remove = (worker_id: string, trigger_id: string) => {
    const key = holderKey(worker_id, trigger_id)
    const at = held.get(key)
    if (!at) return
    held.delete(key)
    const entry = paths.get(at.shape)
    const binding = entry?.methods.get(at.method)
    if (!entry || !binding) return
    binding.holders.splice(binding.holders.indexOf(key), 1)
    if (binding.holders.length > 0) return
    entry.methods.delete(at.method)
    if (entry.methods.size > 0) return
    paths.delete(at.shape)
    removeRoute(router, '', entry.pattern)
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
