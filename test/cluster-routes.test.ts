/**
 * Route conflicts are atomic across the cluster: two engines whose triggers bind the same
 * method and path to different functions at the same moment, one is refused, with the text
 * of a conflict on one engine; the route's claim goes with its last trigger anywhere, and
 * a claim left by a killed engine does not keep the route from being bound again.
 */
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { limit, until } from './harness.js'
import { cleanUp, nats, serve, whenServed, worker, type Server } from './cluster-harness.js'
import { routeClaimKey } from '../protocol/cluster.js'

const it = suite('cluster: route claims')
it.before(() => nats.start())
it.after(() => nats.stop())
it.after.each(cleanUp)

const page = (from: string) => () => ({ status_code: 200, body: from })
const bodyAt = async (url: string) => {
  const res = await fetch(url)
  return res.status === 200 ? await res.text() : `${res.status}`
}

it('two engines bind one route to different functions at once: one is refused, with the one-engine text; the route goes with its last trigger', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const onA = await worker(a.url)
  const onB = await worker(b.url)
  for (const [w, from] of [[onA, 'a'], [onB, 'b']] as const) {
    w.registerFunction(`${from}::race`, page(from))
    w.registerFunction(`${from}::other`, page(`${from}-other`))
  }
  await whenServed(onA, 'b::race')
  await whenServed(onB, 'a::race')
  for (let i = 0; i < 6; i++) {
    const path = `/race/${i}`
    const config = { path, method: 'GET' }
    const [ra, rb] = await Promise.all([
      onA.registerTrigger({ id: `r${i}`, trigger_type: 'http', function_id: 'a::race', config }),
      onB.registerTrigger({ id: `r${i}`, trigger_type: 'http', function_id: 'b::race', config }),
    ])
    assert.ok(!ra.error !== !rb.error, `exactly one accepted: ${JSON.stringify([ra, rb])}`)
    const [winner, loser, from] = ra.error ? [onB, ra, 'b'] : [onA, rb, 'a']
    assert.is(loser.error?.code, 'invalid_config')
    // The same route bound to another function on the winner's own engine: refused by its table, the one-engine text.
    const local = await winner.registerTrigger({ id: `clash${i}`, trigger_type: 'http', function_id: `${from}::other`, config })
    assert.is(local.error?.code, 'invalid_config')
    assert.is(loser.error?.message, local.error?.message)
    assert.match(loser.error?.message ?? '', `Route GET ${path} is already bound to function '${from}::race' by trigger 'r${i}' of worker`)
    // Both listeners serve the winner's function.
    for (const server of [a, b]) assert.is(await until(async () => ((await bodyAt(`${server.httpUrl}${path}`)) === from ? from : undefined), 5000, `${path} on both listeners`), from)
  }
  // The winner of /race/0 lets it go: the other engine's function may bind it now.
  const first = await until(async () => ((await bodyAt(`${a.httpUrl}/race/0`)) as string) || undefined, 5000, '/race/0')
  const [winner, other, otherFn] = first === 'a' ? [onA, onB, 'b::race'] : [onB, onA, 'a::race']
  winner.unregisterTrigger('r0', 'http')
  await until(async () => {
    const r = await other.registerTrigger({ id: 'again', trigger_type: 'http', function_id: otherFn, config: { path: '/race/0', method: 'GET' } })
    return r.error ? (other.unregisterTrigger('again', 'http'), undefined) : true
  }, 10_000, 'the route bound to the other function once let go')
  const expected = otherFn.slice(0, 1)
  for (const server of [a, b]) await until(async () => (await bodyAt(`${server.httpUrl}/race/0`)) === expected, 5000, `/race/0 served by ${otherFn}`)
}, 90_000))

it("a route's claim left by an engine killed (SIGKILL) does not keep another function from binding the route", limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const onA = await worker(a.url)
  onA.registerFunction('a::page', page('a'))
  assert.not.ok((await onA.registerTrigger({ id: 'p', trigger_type: 'http', function_id: 'a::page', config: { path: '/taken', method: 'GET' } })).error)
  const onB = await worker(b.url)
  onB.registerFunction('b::page', page('b'))
  await until(async () => (await bodyAt(`${b.httpUrl}/taken`)) === 'a', 5000, "A's route on B")
  assert.is((await onB.registerTrigger({ id: 'p', trigger_type: 'http', function_id: 'b::page', config: { path: '/taken', method: 'GET' } })).error?.code, 'invalid_config')
  a.child.kill('SIGKILL')
  await a.exited
  const t0 = Date.now()
  await until(async () => {
    const r = await onB.registerTrigger({ id: 'p2', trigger_type: 'http', function_id: 'b::page', config: { path: '/taken', method: 'GET' } })
    return r.error ? (onB.unregisterTrigger('p2', 'http'), undefined) : true
  }, 10_000, 'the route bound on B once A is gone')
  console.log(`bound ${Date.now() - t0} ms after the kill`)
  assert.is(await bodyAt(`${b.httpUrl}/taken`), 'b')
}, 60_000))

it("an engine joining a route's claim drops the engines that are gone from it, and the last to leave deletes it", limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const engineId = async (server: Server) => ((await (await fetch(`${server.url.replace(/^ws:/, 'http:')}/healthz`)).json()) as { cluster: { engine_id: string } }).cluster.engine_id
  const nc = await connect({ servers: nats.url })
  try {
    const claims = await new Kvm(nc).open('signalbox-route-claims')
    const engines = async () => {
      const entry = await claims.get(routeClaimKey('GET /shared'))
      return entry?.operation === 'PUT' ? (entry.json() as { engines: string[] }).engines : undefined
    }
    const [idA, idB] = await Promise.all([engineId(a), engineId(b)])
    const onA = await worker(a.url)
    onA.registerFunction('shared::page', page('shared'))
    assert.not.ok((await onA.registerTrigger({ id: 's', trigger_type: 'http', function_id: 'shared::page', config: { path: '/shared', method: 'GET' } })).error)
    assert.equal(await engines(), [idA])
    a.child.kill('SIGKILL')
    await a.exited
    const onB = await worker(b.url)
    onB.registerFunction('shared::page', page('shared'))
    // Once A's routes have left B (A taken for gone), B's trigger joins the claim without A.
    await until(async () => (await bodyAt(`${b.httpUrl}/shared`)) === '404', 10_000, "A's route to leave B")
    assert.not.ok((await onB.registerTrigger({ id: 's', trigger_type: 'http', function_id: 'shared::page', config: { path: '/shared', method: 'GET' } })).error)
    assert.equal(await engines(), [idB])
    onB.unregisterTrigger('s', 'http')
    await until(async () => (await engines()) === undefined, 5000, 'the claim deleted with its last trigger')
  } finally {
    await nc.close()
  }
}, 60_000))

it.run()
