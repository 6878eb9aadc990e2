/**
 * The config of an `http` trigger: its schema, and the route pattern it normalises to.
 * Every refusal says which field, what was expected and what came.
 */
import * as v from 'valibot'
import { describeValue } from '../adapters/messages.js'

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const
export type HttpMethod = (typeof HTTP_METHODS)[number]

const shown = (value: unknown) => (typeof value === 'string' ? `'${value.length > 200 ? value.slice(0, 200) + '…' : value}'` : describeValue(value))

/** What an http trigger's config may hold (iii's `api_path` / `http_method` are aliases). */
export const HttpConfig = v.object({
  path: v.optional(v.unknown()),
  api_path: v.optional(v.unknown()),
  method: v.optional(v.unknown()),
  http_method: v.optional(v.unknown()),
  timeout_ms: v.optional(
    v.pipe(
      v.number((i) => `'timeout_ms' must be a number of milliseconds, got ${shown(i.input)}`),
      v.integer((i) => `'timeout_ms' must be a whole number of milliseconds, got ${i.input}`),
      v.minValue(1, (i) => `'timeout_ms' must be at least 1, got ${i.input}`),
      v.maxValue(2_147_483_647, (i) => `'timeout_ms' must be at most 2147483647, got ${i.input}`),
    ),
  ),
})

/** One segment of a route: literal text, a named parameter, or the trailing rest. */
type Segment = { kind: 'static'; text: string } | { kind: 'param'; name: string } | { kind: 'rest' }

/** A validated http trigger. */
export interface HttpRoute {
  method: HttpMethod
  /** The path as the user wrote it. */
  path: string
  /** The pattern handed to the router (`:name`, `**:rest`). */
  pattern: string
  /** Identity of the route's shape: parameter names left out (`/users/:`). */
  shape: string
  /** Parameter names in order, for the conflict check. */
  params: string[]
  timeout_ms?: number
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
/** Name the router gives the trailing `*`; shown to functions as `path_params['*']`. */
export const REST_PARAM = 'rest__'

function parsePath(path: string): Segment[] | string {
  if (path.length > 2048) return `'path' must be at most 2048 characters, got ${path.length}`
  if (/[?#\s]/.test(path)) return `'path' must not contain '?', '#' or spaces, got ${shown(path)}`
  const parts = path.split('/').slice(1)
  const segments: Segment[] = []
  const seen = new Set<string>()
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]
    const last = i === parts.length - 1
    if (part === '*') {
      if (!last) return `'path' may use '*' only as its last segment, got ${shown(path)}`
      segments.push({ kind: 'rest' })
      continue
    }
    const name = part.startsWith(':') ? part.slice(1) : part.startsWith('{') && part.endsWith('}') ? part.slice(1, -1) : undefined
    if (name !== undefined) {
      if (!NAME.test(name)) return `'path' parameter ${shown(part)} must be named with letters, digits and '_' (e.g. ':id' or '{id}')`
      if (seen.has(name)) return `'path' uses parameter '${name}' twice`
      seen.add(name)
      segments.push({ kind: 'param', name })
      continue
    }
    if (/[:{}*]/.test(part)) return `'path' segment ${shown(part)} mixes text with ':', '{', '}' or '*'; parameters take a whole segment`
    if (part === '' && !last) return `'path' must not contain empty segments ('//'), got ${shown(path)}`
    segments.push({ kind: 'static', text: part })
  }
  return segments
}

/** Validates an http trigger's config; returns the route or the text of the refusal. */
export function parseHttpConfig(config: Record<string, unknown>): HttpRoute | string {
  const parsed = v.safeParse(HttpConfig, config)
  if (!parsed.success) return parsed.issues[0].message
  const c = parsed.output
  if (c.path !== undefined && c.api_path !== undefined && c.path !== c.api_path) return "give 'path' or its alias 'api_path', not both"
  if (c.method !== undefined && c.http_method !== undefined && c.method !== c.http_method) return "give 'method' or its alias 'http_method', not both"
  const path = c.path ?? c.api_path
  if (path === undefined) return "'path' is required: a string starting with '/', e.g. '/webhooks/github'"
  if (typeof path !== 'string' || !path.startsWith('/')) return `'path' must be a string starting with '/', got ${shown(path)}`
  const rawMethod = c.method ?? c.http_method ?? 'GET'
  const method = typeof rawMethod === 'string' ? rawMethod.toUpperCase() : undefined
  if (!method || !(HTTP_METHODS as readonly string[]).includes(method)) {
    return `'method' must be one of ${HTTP_METHODS.join(', ')}, got ${shown(rawMethod)}`
  }
  const segments = parsePath(path)
  if (typeof segments === 'string') return segments
  const pattern = '/' + segments.map((s) => (s.kind === 'static' ? s.text : s.kind === 'param' ? `:${s.name}` : `**:${REST_PARAM}`)).join('/')
  const shape = '/' + segments.map((s) => (s.kind === 'static' ? s.text : s.kind === 'param' ? ':' : '*')).join('/')
  const params = segments.flatMap((s) => (s.kind === 'param' ? [s.name] : []))
  return { method: method as HttpMethod, path, pattern, shape, params, timeout_ms: c.timeout_ms }
}
