/**
 * The config of an `http` trigger: its schema, and the route pattern it normalises to.
 * Every refusal says which field (as the user spelled it: `path` or `api_path`, `method`
 * or `http_method`), what was expected and what came.
 */
import * as v from 'valibot'
import { shown } from '../protocol/values.js'
import { HTTP_METHODS, type HttpMethod, type HttpRoute } from '../protocol/http-route.js'

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

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
/** Name the router gives the trailing `*`; shown to functions as `path_params['*']`. */
export const REST_PARAM = 'rest__'
/** `.` / `..` segments (also percent-encoded): clients resolve them before sending, so such a route could never match. */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i
/** A `.` or `..` segment anywhere in a path (a path with neither `.` nor `%` has none: the regular expression is not run on it). */
const DOT_SEGMENT_IN_PATH = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i
/**
 * Whether a request path has a `.` or `..` segment, raw or percent-encoded (`/a/../b`,
 * `/a/%2e%2e/b`). No route has one, but a parameter or `*` would take it and hand a
 * function a path that climbs out of where it looks (`../etc/passwd`): such requests are
 * refused (400).
 */
export const hasDotSegment = (path: string): boolean => (path.includes('.') || path.includes('%')) && DOT_SEGMENT_IN_PATH.test(path)

function parsePath(field: string, path: string): Segment[] | string {
  if (path.length > 2048) return `'${field}' must be at most 2048 characters, got ${path.length}`
  if (/[?#\s]/.test(path)) return `'${field}' must not contain '?', '#' or spaces, got ${shown(path)}`
  // Characters the router would read as syntax (groups, escapes) or cannot hold; a client
  // sends them percent-encoded, so write them that way (e.g. '%28' for '(').
  if (/[()\\\x00-\x1f\x7f\uFFFD-\uFFFF]|[\uD800-\uDFFF]/u.test(path)) {
    return `'${field}' must not contain '(', ')', '\\' or control characters (percent-encode them), got ${shown(path)}`
  }
  const parts = path.split('/').slice(1)
  // A trailing slash names the same route as none: '/users/' is '/users'.
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop()
  const segments: Segment[] = []
  const seen = new Set<string>()
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]
    const last = i === parts.length - 1
    if (part === '*') {
      if (!last) return `'${field}' may use '*' only as its last segment, got ${shown(path)}`
      segments.push({ kind: 'rest' })
      continue
    }
    const name = part.startsWith(':') ? part.slice(1) : part.startsWith('{') && part.endsWith('}') ? part.slice(1, -1) : undefined
    if (name !== undefined) {
      if (!NAME.test(name)) return `'${field}' parameter ${shown(part)} must be named with letters, digits and '_', not starting with a digit (e.g. ':id' or '{id}')`
      if (seen.has(name)) return `'${field}' uses parameter '${name}' twice, got ${shown(path)}`
      seen.add(name)
      segments.push({ kind: 'param', name })
      continue
    }
    if (/[:{}*]/.test(part)) return `'${field}' segment ${shown(part)} mixes text with ':', '{', '}' or '*'; a parameter takes a whole segment (e.g. '/users/:id')`
    if (part === '' && !last) return `'${field}' must not contain empty segments ('//'), got ${shown(path)}`
    if (DOT_SEGMENT.test(part)) return `'${field}' must not contain '.' or '..' segments, got ${shown(path)}`
    segments.push({ kind: 'static', text: part })
  }
  return segments
}

/**
 * A path with exactly one leading slash, as iii serves it: `health`, `/health` and
 * `//health` are all `/health` (iii trims the leading slashes and adds one back).
 */
export const normalisePath = (path: string): string => '/' + path.replace(/^\/+/, '')

/** Whether `path` and its alias name the same route once normalised. */
const samePath = (a: unknown, b: unknown) => a === b || (typeof a === 'string' && typeof b === 'string' && a !== '' && b !== '' && normalisePath(a) === normalisePath(b))

/** Validates an http trigger's config; returns the route or the text of the refusal. */
export function parseHttpConfig(config: Record<string, unknown>): HttpRoute | string {
  const parsed = v.safeParse(HttpConfig, config)
  if (!parsed.success) return parsed.issues[0].message
  const c = parsed.output
  if (c.path !== undefined && c.api_path !== undefined && !samePath(c.path, c.api_path)) {
    return `give 'path' or its alias 'api_path', not both with different values, got ${shown(c.path)} and ${shown(c.api_path)}`
  }
  if (c.method !== undefined && c.http_method !== undefined && c.method !== c.http_method) {
    return `give 'method' or its alias 'http_method', not both with different values, got ${shown(c.method)} and ${shown(c.http_method)}`
  }
  const pathField = c.path !== undefined ? 'path' : 'api_path'
  const written = c.path ?? c.api_path
  if (written === undefined) return "'path' is required: a path such as '/webhooks/github', got nothing"
  if (typeof written !== 'string') return `'${pathField}' must be a string such as '/webhooks/github', got ${shown(written)}`
  if (written === '') return `'${pathField}' must not be empty; give '/' for the root`
  const path = normalisePath(written)
  const methodField = c.method !== undefined ? 'method' : 'http_method'
  const rawMethod = c.method ?? c.http_method ?? 'GET'
  const method = typeof rawMethod === 'string' ? rawMethod.toUpperCase() : undefined
  if (!method || !(HTTP_METHODS as readonly string[]).includes(method)) {
    return `'${methodField}' must be one of ${HTTP_METHODS.join(', ')} (any case), got ${shown(rawMethod)}`
  }
  const segments = parsePath(pathField, path)
  if (typeof segments === 'string') return segments
  const pattern = '/' + segments.map((s) => (s.kind === 'static' ? s.text : s.kind === 'param' ? `:${s.name}` : `**:${REST_PARAM}`)).join('/')
  const shape = '/' + segments.map((s) => (s.kind === 'static' ? s.text : s.kind === 'param' ? ':' : '*')).join('/')
  const params = segments.flatMap((s) => (s.kind === 'param' ? [s.name] : []))
  return { method: method as HttpMethod, path, pattern, shape, params, timeout_ms: c.timeout_ms }
}
