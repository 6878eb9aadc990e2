/**
 * Reattach tokens: the worker gets the token, the session keeps only its SHA-256, and a
 * `reattach` is honoured when the hashes match (compared in constant time).
 */
import { createHash, timingSafeEqual } from 'node:crypto'

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex')

export const sameHash = (a: string, b: string): boolean =>
  a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
