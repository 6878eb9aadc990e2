/**
 * core/cluster.ts alone: the membership table (who is a member, who offers what, who is
 * gone after missed heartbeats, who provides each worker-defined type).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { typeBucketKey, type MemberInfo } from '../protocol/cluster.js'
import { Membership } from '../core/cluster.js'
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

it.run()
