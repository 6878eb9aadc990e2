/**
 * Who may connect, and what each connection may do: tokens and their scopes. Pure data and
 * pure checks; the WebSocket transport reads the token (adapters/ws-server.ts), sessions
 * and the invocations actor consult the scope. Modelled on iii's auth function (allowed
 * functions and trigger types per connection).
 *
 * The shape, the same in a tokens file (`signalbox serve --tokens-file`) and in
 * `createEngine({ auth })`:
 *
 *     { "tokens": [
 *         { "name": "billing", "sha256": "<64 hex digits>",
 *           "scope": { "register": ["billing::*"], "invoke": ["billing::*", "email::send"],
 *                      "trigger_types": ["http", "queue"], "queues": ["invoices"],
 *                      "provide_trigger_types": false, "engine": false } } ] }
 *
 * - A token is given as `sha256` (the hex SHA-256 of its UTF-8 text: `signalbox token hash`
 *   prints it, so files hold no secret) or, embedded, as `token` (the text itself).
 * - `scope` omitted: everything (as for `--token`). A scope given: each field it omits
 *   allows nothing (`[]`, `false`).
 * - Patterns are globs: `*` matches any run of characters (`::` included), everything else
 *   only itself; `["*"]` allows every id.
 * - `register`: function ids the connection may register. `invoke`: function ids it may
 *   call (and bind triggers to, besides its own functions). `trigger_types`: types it may
 *   bind triggers of. `queues`: queues it may consume (queue triggers, dead-letter queues
 *   included) and enqueue calls to. `provide_trigger_types`: whether it may register
 *   trigger types. `engine`: whether it may call `engine::*` functions, directly or
 *   through a trigger bound to one (every connection may call `engine::workers::register`
 *   to describe itself), and read `/metrics`.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import * as v from 'valibot'
import { isEngineFunction } from '../protocol/engine-functions.js'
import { shown } from '../protocol/values.js'

const patterns = (field: string) =>
  v.optional(
    v.array(
      v.pipe(v.string((i) => `'${field}' patterns must be strings, got ${shown(i.input)}`), v.nonEmpty(`'${field}' patterns must not be empty`)),
      (i) => `'${field}' must be a list of patterns such as ["billing::*"], got ${shown(i.input)}`,
    ),
    [],
  )
const flag = (field: string) => v.optional(v.boolean((i) => `'${field}' must be true or false, got ${shown(i.input)}`), false)

/** What a connection may do. Fields it omits allow nothing. */
export const ScopeSchema = v.strictObject(
  {
    register: patterns('register'),
    invoke: patterns('invoke'),
    trigger_types: patterns('trigger_types'),
    queues: patterns('queues'),
    provide_trigger_types: flag('provide_trigger_types'),
    engine: flag('engine'),
  },
  (i) => (i.expected === 'never' ? `unknown scope field '${String(i.input)}' (known: register, invoke, trigger_types, queues, provide_trigger_types, engine)` : `'scope' must be an object, got ${shown(i.input)}`),
)
export type Scope = v.InferOutput<typeof ScopeSchema>
export type ScopeInput = v.InferInput<typeof ScopeSchema>

/** The scope of a token given without one (`--token`, `SIGNALBOX_TOKEN`): everything. */
export const FULL_SCOPE: Scope = Object.freeze({ register: ['*'], invoke: ['*'], trigger_types: ['*'], queues: ['*'], provide_trigger_types: true, engine: true }) as Scope

const SHA256_HEX = /^[0-9a-f]{64}$/

const TokenSchema = v.pipe(
  v.strictObject(
    {
      name: v.pipe(v.string((i) => `a token's 'name' must be a string, got ${shown(i.input)}`), v.nonEmpty("a token's 'name' must not be empty")),
      token: v.optional(v.pipe(v.string((i) => `'token' must be a string, got ${shown(i.input)}`), v.minLength(8, "'token' must be at least 8 characters"))),
      sha256: v.optional(v.pipe(v.string((i) => `'sha256' must be a string, got ${shown(i.input)}`), v.toLowerCase(), v.regex(SHA256_HEX, "'sha256' must be 64 hex digits (signalbox token hash <token> prints them)"))),
      scope: v.optional(ScopeSchema),
    },
    (i) => (i.expected === 'never' ? `unknown token field '${String(i.input)}' (known: name, token, sha256, scope)` : `each token must be an object, got ${shown(i.input)}`),
  ),
  v.check((t) => (t.token === undefined) !== (t.sha256 === undefined), "each token needs exactly one of 'token' (its text) or 'sha256' (its hash)"),
)

/** A set of tokens, as a tokens file or `createEngine({ auth })` gives them. */
export const TokensSchema = v.strictObject(
  {
    tokens: v.pipe(
      v.array(TokenSchema, (i) => `'tokens' must be a list, got ${shown(i.input)}`),
      // An empty list would let no connection in: a mistake, never a setting.
      v.minLength(1, "'tokens' is empty: no connection could ever be let in; list at least one { name, token or sha256, scope? }"),
    ),
  },
  (i) =>
    i.expected === 'never'
      ? `unknown field '${String(i.input)}' (known: tokens)`
      : i.received === 'undefined' && i.path?.length
        ? "'tokens' is required: a list of { name, token or sha256, scope? }"
        : `must be an object with 'tokens', got ${shown(i.input)}`,
)
export type Tokens = v.InferInput<typeof TokensSchema>

/** What a custom auth function is given: the WebSocket upgrade request. */
export interface AuthRequest {
  /** The request's headers, names in lower case. */
  headers: Record<string, string | string[] | undefined>
  /** The bearer token, when the request carries one. */
  token?: string
  remote_address?: string
  url: string
}

/** A custom auth function: the connection's scope, or undefined to refuse it (HTTP 401). */
export type AuthFunction = (request: AuthRequest) => ScopeInput | undefined | Promise<ScopeInput | undefined>

/** Who a connection is once authenticated: a name for logs, and its scope. */
export interface Identity {
  name: string
  scope: Scope
}

/** The hex SHA-256 of a token, as tokens files hold it. */
export const tokenHash = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex')

/** The token of an `Authorization: Bearer <token>` header, if it is one. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)
  return match?.[1]
}

/** Parsed tokens, ready to look up by hash. */
export interface TokenTable {
  readonly entries: ReadonlyArray<{ name: string; hash: Buffer; scope: Scope }>
}

/** Why a tokens object was refused: where (`tokens[0].sha256`, empty for the whole) and what is wrong. */
export class TokensError extends TypeError {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(path ? `${path}: ${reason}` : reason)
  }
}

/** Checks a tokens object; throws a `TokensError` naming what is wrong. */
export function parseTokens(value: unknown): TokenTable {
  const parsed = v.safeParse(TokensSchema, value, { abortEarly: true })
  if (!parsed.success) {
    const issue = parsed.issues[0]
    const path = (issue.path ?? [])
      .map((p) => (typeof p.key === 'number' ? `[${p.key}]` : `.${String(p.key)}`))
      .join('')
      .replace(/^\./, '')
    throw new TokensError(path, issue.message)
  }
  return {
    entries: parsed.output.tokens.map((t) => ({
      name: t.name,
      hash: Buffer.from(t.sha256 ?? tokenHash(t.token!), 'hex'),
      scope: t.scope ?? FULL_SCOPE,
    })),
  }
}

/** The entry a token belongs to, compared in constant time against every entry. */
export function findToken(table: TokenTable, token: string | undefined): Identity | undefined {
  if (token === undefined) return undefined
  const hash = Buffer.from(tokenHash(token), 'hex')
  let found: Identity | undefined
  for (const entry of table.entries) if (timingSafeEqual(entry.hash, hash) && !found) found = { name: entry.name, scope: entry.scope }
  return found
}

/** A custom function's answer as a scope, or the reason it is not one. */
export function scopeFrom(value: unknown): { scope: Scope } | { problem: string } {
  const parsed = v.safeParse(ScopeSchema, value, { abortEarly: true })
  return parsed.success ? { scope: parsed.output } : { problem: parsed.issues[0].message }
}

/** Whether `text` matches the glob `pattern` (`*`: any run of characters). */
export function globMatch(pattern: string, text: string): boolean {
  if (pattern === '*') return true
  const parts = pattern.split('*')
  if (parts.length === 1) return pattern === text
  if (!text.startsWith(parts[0])) return false
  let at = parts[0].length
  for (let i = 1; i < parts.length - 1; i++) {
    const found = text.indexOf(parts[i], at)
    if (found < 0) return false
    at = found + parts[i].length
  }
  const last = parts[parts.length - 1]
  return text.length - last.length >= at && text.endsWith(last)
}

/** Whether any of `patterns` matches `id`. */
export const allows = (patterns: readonly string[], id: string): boolean => patterns.some((p) => globMatch(p, id))

/** The function every connection may call, to describe itself. */
const SELF_DESCRIPTION = 'engine::workers::register'

/**
 * Whether `scope` may have `function_id` run, by calling it or by binding a trigger to it:
 * an `engine::*` function needs `engine` (but `engine::workers::register`), any other
 * one a matching `invoke` pattern.
 */
export function mayCall(scope: Scope, function_id: string): boolean {
  if (isEngineFunction(function_id)) return scope.engine || function_id === SELF_DESCRIPTION
  return allows(scope.invoke, function_id)
}
