/**
 * core/cluster.ts alone: the membership table (who is a member, who offers what, who is
 * gone after missed heartbeats, who provides each worker-defined type), and what the
 * cluster actor's snapshot shows of it and of the rest of its table.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { typeBucketKey, type MemberInfo } from '../protocol/cluster.js'
import { CallsAcross, ClusterTable, Membership, ownTypeClaim, type CallAcross } from '../core/cluster.js'
import { applyCatalogEvent, forwardedIdForRemote, forwardedOrigin, initialCatalog } from '../core/catalog.js'

const it = suite('core: cluster')

const member = (engine_id: string, functions: string[] = [], started_at = '2026-01-01T00:00:00.000Z'): MemberInfo => ({ engine_id, started_at, host: 'h', pid: 1, workers: 0, functions })

it('membership: the offered functions\' version changes only when the set of functions offered does', () => {
  const m = new Membership('self', 3500)
  const v0 = m.offeredVersion
  m.beat(member('b', ['f']), 0)
  const v1 = m.offeredVersion
  assert.ok(v1 > v0, 'f offered now')
  // Heartbeats with the same functions: no change.
  m.beat(member('b', ['f']), 1000)
  m.beat(member('self', []), 1000)
  assert.is(m.offeredVersion, v1)
  // Another engine offers f too: still offered, no change.
  m.beat(member('c', ['f']), 1000)
  assert.is(m.offeredVersion, v1)
  m.leave('c')
  assert.is(m.offeredVersion, v1)
  m.beat(member('b', ['f', 'g']), 2000)
  assert.ok(m.offeredVersion > v1, 'g offered now')
  const v2 = m.offeredVersion
  m.leave('b')
  assert.ok(m.offeredVersion > v2, 'f and g offered no more')
})

it('membership: beats, leaving, functions offered by the others, members unheard of for too long', () => {
  const m = new Membership('self', 3500)
  assert.ok(m.beat(member('self', ['mine', 'both']), 0), 'new')
  assert.not.ok(m.beat(member('self', ['mine', 'both']), 500), 'known')
  assert.ok(m.beat(member('b', ['both', 'theirs'], '2025-01-01T00:00:00.000Z'), 100))
  assert.equal(m.list().map((i) => i.engine_id), ['b', 'self'], 'oldest first')
  assert.not.ok(m.offers('mine'), 'only this engine offers it')
  assert.ok(m.offers('both'))
  assert.ok(m.offers('theirs'))
  assert.not.ok(m.offers('nobody'))
  // b's next entry no longer lists 'theirs'.
  m.beat(member('b', ['both'], '2025-01-01T00:00:00.000Z'), 1000)
  assert.not.ok(m.offers('theirs'))
  // Unheard of for more than 3.5 s: gone; this engine never is.
  assert.equal(m.expire(4000), [])
  assert.equal(m.expire(4501), ['b'])
  assert.not.ok(m.has('b'))
  assert.not.ok(m.offers('both'))
  assert.ok(m.has('self'))
  m.beat(member('c', ['x']), 5000)
  assert.ok(m.leave('c'))
  assert.not.ok(m.leave('c'), 'already gone')
  assert.not.ok(m.offers('x'))
})

it('trigger types bucket: the holder seen only while its engine is a member and not this engine', () => {
  const entry = { trigger_type: 'webhook', engine_id: 'b', worker_id: 'w1', worker: "worker 'w1'" }
  const m = new Membership('a', 3500)
  assert.is(m.setType(typeBucketKey('webhook'), entry), undefined)
  assert.is(m.typeHolder('webhook'), undefined, 'its engine is not a member yet')
  m.beat(member('b'), 0)
  assert.equal(m.typeHolder('webhook'), entry)
  assert.equal(m.remoteTypes(), ['webhook'])
  assert.equal(m.typesOf('b'), [[typeBucketKey('webhook'), entry]])
  m.leave('b')
  assert.is(m.typeHolder('webhook'), undefined, 'its engine gone')
  // This engine's own entries: the catalog says those.
  m.beat(member('a'), 0)
  m.setType(typeBucketKey('mine'), { ...entry, trigger_type: 'mine', engine_id: 'a' })
  assert.is(m.typeHolder('mine'), undefined)
  assert.equal(m.setType(typeBucketKey('webhook'), undefined), entry, 'a deletion returns what it held')
  assert.equal(m.remoteTypes(), [])
})

it("forwarded ids of other engines' registrations: the wanted one when free, told apart otherwise; bound and unbound in the catalog", () => {
  let state = initialCatalog({})
  const origin = { engine_id: 'b', worker_id: 'w1', trigger_id: 'daily' }
  assert.is(forwardedIdForRemote(state, 't', 'daily', origin), 'daily')
  state = applyCatalogEvent(state, { type: 'forwarded.bind', trigger_type: 't', forwarded_id: 'daily', entry: origin })
  assert.is(forwardedIdForRemote(state, 't', 'daily', origin), 'daily', 'its own id')
  assert.is(forwardedIdForRemote(state, 't', 'daily', { ...origin, engine_id: 'c', worker_id: 'w2' }), 'daily@w2', 'taken by another engine')
  assert.equal(forwardedOrigin(state, 'daily', 't', 'p'), { ...origin, trigger_type: 't' })
  state = applyCatalogEvent(state, { type: 'forwarded.bind', trigger_type: 't', forwarded_id: 'daily@w2', entry: { ...origin, engine_id: 'c', worker_id: 'w2' } })
  assert.is(forwardedIdForRemote(state, 't', 'daily', { ...origin, engine_id: 'c', worker_id: 'w2' }), 'daily@w2')
  state = applyCatalogEvent(state, { type: 'forwarded.unbind', trigger_type: 't', forwarded_id: 'daily' })
  assert.is(forwardedOrigin(state, 'daily', 't', 'p'), undefined)
  state = applyCatalogEvent(state, { type: 'forwarded.unbind', trigger_type: 't', forwarded_id: 'daily@w2' })
  assert.equal(Object.keys(state.forwarded), [], 'the type has no forwarded ids left')
})

it('calls across: numbered as sent, the engine that took each, the engines holding calls, closed once', () => {
  const calls = new CallsAcross()
  const call = (function_id: string, started: number): CallAcross => ({ function_id, source: 'worker', started, timeout_ms: 30_000 })
  const a = calls.open(call('math::add', 1000))
  const b = calls.open(call('report::build', 1500))
  const c = calls.open({ ...call('mail::send', 1800), source: 'http' })
  assert.equal([a, b, c], [1, 2, 3])
  assert.equal([...calls.holders()], [], 'nobody took any yet')
  calls.get(a)!.taken_by = 'e2'
  calls.get(c)!.taken_by = 'e2'
  calls.get(b)!.taken_by = 'e3'
  assert.equal([...calls.holders()].sort(), ['e2', 'e3'])
  assert.equal(calls.takenBy('e2'), [a, c])
  assert.equal(calls.view(2000), [
    { call_no: 1, function_id: 'math::add', source: 'worker', engine_id: 'e2', age_ms: 1000, timeout_ms: 30_000 },
    { call_no: 2, function_id: 'report::build', source: 'worker', engine_id: 'e3', age_ms: 500, timeout_ms: 30_000 },
    { call_no: 3, function_id: 'mail::send', source: 'http', engine_id: 'e2', age_ms: 200, timeout_ms: 30_000 },
  ])
  assert.is(calls.close(a)?.function_id, 'math::add')
  assert.is(calls.close(a), undefined, 'closed once')
  assert.equal(calls.numbers(), [b, c])
  assert.is(calls.size, 2)
  assert.is(calls.open(call('f', 0)), 4, 'numbers are not used twice')
})

it("ownTypeClaim: where a local worker's type's claim stands", () => {
  assert.is(ownTypeClaim({ worker_id: 'w', claiming: true }), 'claiming')
  assert.is(ownTypeClaim({ worker_id: 'w', claiming: true, revision: 3 }), 'claiming', 'claimed again (its key was deleted by another engine)')
  assert.is(ownTypeClaim({ worker_id: 'w', claiming: false, revision: 3 }), 'held')
  assert.is(ownTypeClaim({ worker_id: 'w', claiming: false, revision: 3, releasing: true }), 'releasing')
  assert.is(ownTypeClaim({ worker_id: 'w', claiming: false }), 'unclaimed', 'NATS could not answer: made again at the next heartbeat')
})

it("the cluster table's JSON: members, who provides each type on which engine, own types, calls across, route claims, cron ticks followed", () => {
  const t = new ClusterTable('a', 3500)
  t.membership.beat(member('a', ['mine'], '2026-01-01T00:00:00.000Z'), 0)
  t.membership.beat(member('b', ['theirs'], '2026-01-01T00:00:01.000Z'), 0)
  t.membership.setType(typeBucketKey('webhook'), { trigger_type: 'webhook', engine_id: 'b', worker_id: 'w1', worker: "worker 'w1'" })
  t.membership.setType(typeBucketKey('jobs'), { trigger_type: 'jobs', engine_id: 'a', worker_id: 'w2', worker: "worker 'w2'", description: 'jobs' })
  t.membership.setType(typeBucketKey('ghost'), { trigger_type: 'ghost', engine_id: 'z', worker_id: 'w3', worker: "worker 'w3'" })
  t.ownTypes.set('jobs', { worker_id: 'w2', claiming: false, revision: 7 })
  t.ownTypes.set('mail', { worker_id: 'w2', claiming: true })
  const n = t.calls.open({ function_id: 'theirs', source: 'cron', started: 100, timeout_ms: 5000 })
  t.calls.get(n)!.taken_by = 'b'
  t.calls.open({ function_id: 'theirs', source: 'worker', started: 400, timeout_ms: 5000 })
  t.routeClaims.claiming('GET /orders/:', 'orders::get')
  t.routeClaims.answered('GET /orders/:', 'held')
  t.routeClaims.claiming('POST /orders', 'orders::create')
  t.cronTicks.set('digest.1700000000000', 1_700_000_060_000)
  // As the inspector gets it: plain JSON.
  const json = JSON.parse(JSON.stringify(t.view(600)))
  assert.equal(json, {
    engine_id: 'a',
    members: [member('a', ['mine'], '2026-01-01T00:00:00.000Z'), member('b', ['theirs'], '2026-01-01T00:00:01.000Z')],
    trigger_types: [
      { trigger_type: 'ghost', engine_id: 'z', worker_id: 'w3', worker: "worker 'w3'", member: false },
      { trigger_type: 'jobs', engine_id: 'a', worker_id: 'w2', worker: "worker 'w2'", description: 'jobs', member: true },
      { trigger_type: 'webhook', engine_id: 'b', worker_id: 'w1', worker: "worker 'w1'", member: true },
    ],
    own_types: [
      { trigger_type: 'jobs', worker_id: 'w2', claim: 'held', revision: 7 },
      { trigger_type: 'mail', worker_id: 'w2', claim: 'claiming' },
    ],
    calls: [
      { call_no: 1, function_id: 'theirs', source: 'cron', engine_id: 'b', age_ms: 500, timeout_ms: 5000 },
      { call_no: 2, function_id: 'theirs', source: 'worker', engine_id: null, age_ms: 200, timeout_ms: 5000 },
    ],
    route_claims: [
      { route: 'GET /orders/:', function_id: 'orders::get', state: 'held' },
      { route: 'POST /orders', function_id: 'orders::create', state: 'claiming' },
    ],
    cron_ticks: [{ key: 'digest.1700000000000', until: '2023-11-14T22:14:20.000Z' }],
  })
  // toJSON is the view now.
  assert.equal(Object.keys(JSON.parse(JSON.stringify(t))), Object.keys(json))
})

it.run()
