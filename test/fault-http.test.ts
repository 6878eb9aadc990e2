/**
 * Hostile HTTP clients, short: one round of every kind beside 40 slow clients. What it
 * proves is in test/faults/scenarios/http-hostility.ts; `npm run soak` runs ten rounds of
 * ten times as many.
 */
import { suite } from 'uvu'
import { limit } from './harness.js'
import { cleanUpEngines } from './faults/engine-process.js'
import { HTTP_SHORT, httpHostility } from './faults/scenarios/http-hostility.js'

const it = suite('fault: hostile HTTP clients')

it.after(cleanUpEngines)

it('oversized heads and bodies, malformed JSON, escapes and traversal each answered and kept from the functions; slow clients cut off; control traffic untouched', limit(() => httpHostility(HTTP_SHORT), 120_000))

it.run()
