/**
 * Authenticates an HTTP request (a worker's WebSocket upgrade, a telemetry upgrade, a
 * scrape of `/metrics`) from its `Authorization: Bearer` header, with the engine's tokens
 * or the user's auth function (core/auth.ts says what each may hold). Never logs or
 * returns the token: a reason that would quote it (an auth function's error) has it
 * replaced with `***`. An auth function that has not answered within
 * `AUTH_FUNCTION_TIMEOUT_MS` refuses the request.
 */
import type { IncomingMessage } from 'node:http'
import { bearerToken, findToken, scopeFrom, type Identity } from '../core/auth.js'
import type { ResolvedAuth } from '../core/options.js'
import { errors } from '../protocol/errors.js'
import type { ErrorBody } from '../protocol/messages.js'

/** Who the request is, or why it is refused: `reason` for the log (never the token), `error` for the 401 body. */
export type Authentication = { ok: true; identity: Identity } | { ok: false; reason: string; error: ErrorBody }

/** How long a custom auth function may take to answer (ms); then the request is refused. */
export const AUTH_FUNCTION_TIMEOUT_MS = 10_000

/** A refusal: `token_refused` when a token (or some Authorization header) came, `token_required` when none did. */
const refused = (req: IncomingMessage, reason: string): Authentication => ({
  ok: false,
  reason,
  error: req.headers.authorization ? errors.tokenRefused() : errors.tokenRequired(),
})

/** `text` with every occurrence of `secret` masked. */
const masked = (text: string, secret: string | undefined) => (secret ? text.split(secret).join('***') : text)

export type Authenticator = (req: IncomingMessage) => Promise<Authentication>

/** The name a connection accepted by a custom auth function carries in logs. */
const CUSTOM = 'auth function'

export function createAuthenticator(auth: ResolvedAuth): Authenticator {
  if (auth.kind === 'tokens') {
    const { table } = auth
    return async (req) => {
      const token = bearerToken(req.headers.authorization)
      if (token === undefined) return refused(req, req.headers.authorization ? 'the Authorization header is not "Bearer <token>"' : 'no token')
      const identity = findToken(table, token)
      return identity ? { ok: true, identity } : refused(req, 'unknown token')
    }
  }
  const { authenticate } = auth
  return async (req) => {
    const token = bearerToken(req.headers.authorization)
    let answer: unknown
    let timer: NodeJS.Timeout | undefined
    try {
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new AuthTimeout()), AUTH_FUNCTION_TIMEOUT_MS)
      })
      answer = await Promise.race([authenticate({ headers: { ...req.headers }, token, remote_address: req.socket.remoteAddress, url: req.url ?? '/' }), late])
    } catch (err) {
      if (err instanceof AuthTimeout) return refused(req, `the auth function did not answer within ${AUTH_FUNCTION_TIMEOUT_MS} ms`)
      return refused(req, `the auth function threw: ${masked(err instanceof Error ? err.message : String(err), token)}`)
    } finally {
      clearTimeout(timer)
    }
    if (answer === undefined || answer === null || answer === false) return refused(req, 'refused by the auth function')
    const scope = scopeFrom(answer)
    if ('problem' in scope) return refused(req, `the auth function answered something that is not a scope: ${masked(scope.problem, token)}`)
    return { ok: true, identity: { name: CUSTOM, scope: scope.scope } }
  }
}

class AuthTimeout extends Error {}
