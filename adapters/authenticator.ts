/**
 * Authenticates an HTTP request (a worker's WebSocket upgrade, a scrape of `/metrics`)
 * from its `Authorization: Bearer` header, with the engine's tokens or the user's auth
 * function (core/auth.ts says what each may hold). Never logs or returns the token.
 */
import type { IncomingMessage } from 'node:http'
import { bearerToken, findToken, scopeFrom, type Identity } from '../core/auth.js'
import type { ResolvedAuth } from '../core/options.js'

/** Who the request is, or why it is refused (for the log: never the token). */
export type Authentication = { ok: true; identity: Identity } | { ok: false; reason: string }

export type Authenticator = (req: IncomingMessage) => Promise<Authentication>

/** The name a connection accepted by a custom auth function carries in logs. */
const CUSTOM = 'auth function'

export function createAuthenticator(auth: ResolvedAuth): Authenticator {
  if (auth.kind === 'tokens') {
    const { table } = auth
    return async (req) => {
      const token = bearerToken(req.headers.authorization)
      if (token === undefined) return { ok: false, reason: req.headers.authorization ? 'the Authorization header is not "Bearer <token>"' : 'no token' }
      const identity = findToken(table, token)
      return identity ? { ok: true, identity } : { ok: false, reason: 'unknown token' }
    }
  }
  const { authenticate } = auth
  return async (req) => {
    let answer: unknown
    try {
      answer = await authenticate({ headers: { ...req.headers }, token: bearerToken(req.headers.authorization), remote_address: req.socket.remoteAddress, url: req.url ?? '/' })
    } catch (err) {
      return { ok: false, reason: `the auth function threw: ${err instanceof Error ? err.message : String(err)}` }
    }
    if (answer === undefined || answer === null || answer === false) return { ok: false, reason: 'refused by the auth function' }
    const scope = scopeFrom(answer)
    if ('problem' in scope) return { ok: false, reason: `the auth function answered something that is not a scope: ${scope.problem}` }
    return { ok: true, identity: { name: CUSTOM, scope: scope.scope } }
  }
}
