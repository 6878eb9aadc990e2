/**
 * core/cluster.ts alone: subjects and keys from any function id, and the membership table
 * (who is a member, who offers what, who is gone after missed heartbeats).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { callSubject, cronClaimKey, isMemberInfo, isRemoteRoute, Membership, newEngineId, parseRemoteCall, parseRemoteTriggerType, parseTypeMessage, parseTypeAnswer, replySubject, routeBucketKey, engineOfRouteKey, token, typeBucketKey, typeSubject, type MemberInfo } from '../core/cluster.js'
import { applyCatalogEvent, forwardedIdForRemote, forwardedOrigin, initialCatalog } from '../core/catalog.js'

const it = suite('core: cluster')

const member = (engine_id: string, functions: string[] = [], started_at = '2026-01-01T00:00:00.000Z'): MemberInfo => ({ engine_id, started_at, host: 'h', pid: 1, workers: 0, functions })

it('subjects and keys: any function id becomes one valid token of fixed length, distinct for distinct ids', () => {
  const ids = ['math::add', 'a.b.c', 'wild*card>', 'with space', 'é', '', '€'.repeat(1000), '🚀'.repeat(500), '🚀'.repeat(499) + '🚁']
  const tokens = new Set<string>()
  for (const id of ids) {
    const subject = callSubject('signalbox', id)
    assert.match(subject, /^signalbox\.call\.[A-Za-z0-9_-]{43}$/, subject)
    tokens.add(subject)
  }
  assert.is(tokens.size, ids.length, 'one subject per id')
  assert.is(callSubject('signalbox', 'math::add'), callSubject('signalbox', 'math::add'), 'the same id, the same subject on every engine')
  assert.is(replySubject('c1', 'e1-abc', 7), 'c1.reply.e1-abc.7')
  assert.is(replySubject('c1', 'e1-abc'), 'c1.reply.e1-abc.*')
  const key = cronClaimKey('* * * * * *\u0000UTC', 'report::hourly', { region: 'eu' }, 0, 1_700_000_000_000)
  assert.match(key, /^[A-Za-z0-9_-]{43}\.1700000000000$/)
  assert.is.not(key, cronClaimKey('* * * * * *\u0000UTC', 'report::hourly', { region: 'us' }, 0, 1_700_000_000_000), 'other metadata, another trigger')
  assert.is.not(key, cronClaimKey('* * * * * *\u0000UTC', 'report::hourly', { region: 'eu' }, 1, 1_700_000_000_000), 'the second alike trigger of an engine')
  assert.is.not(key, cronClaimKey('* * * * * *\u0000UTC', 'report::daily', { region: 'eu' }, 0, 1_700_000_000_000), 'another function')
  assert.is(key, cronClaimKey('* * * * * *\u0000UTC', 'report::hourly', { region: 'eu' }, 0, 1_700_000_000_000), 'the same tick on another engine')
  // Metadata of kilobytes: a key of the same length.
  const big = cronClaimKey('* * * * * *\u0000UTC', 'report::hourly', { blob: 'x'.repeat(3500) }, 0, 1_700_000_000_000)
  assert.is(big.length, key.length)
  assert.is.not(big, cronClaimKey('* * * * * *\u0000UTC', 'report::hourly', { blob: 'x'.repeat(3499) + 'y' }, 0, 1_700_000_000_000))
  const route = routeBucketKey('e1-abc', 'GET /' + 'a/'.repeat(2000))
  assert.match(route, /^e1-abc\.[A-Za-z0-9_-]{43}$/)
  assert.is(engineOfRouteKey(route), 'e1-abc')
  assert.is.not(route, routeBucketKey('e1-abc', 'POST /' + 'a/'.repeat(2000)))
  assert.match(newEngineId(12345, 'a1B2-c3d4e5f6'), /^e[0-9a-z]+-[A-Za-z0-9]{1,8}$/)
  assert.is(token('x').length, 43)
  assert.is.not(token('x'), token('y'))
})

it('remote calls: the shape is checked, the function id is the subscription\'s', () => {
  const ok = parseRemoteCall('math::add', { function_id: 'other::fn', data: { a: 1 }, from: 'e1-abc', timeout_ms: 500, void: false, source: 'cron', metadata: { m: 1 }, traceparent: 't', baggage: 'b' })
  assert.equal(ok, { call: { function_id: 'math::add', data: { a: 1 }, from: 'e1-abc', timeout_ms: 500, void: false, source: 'cron', metadata: { m: 1 }, traceparent: 't', baggage: 'b' } })
  assert.equal(parseRemoteCall('f', { from: 'e1' }), { call: { function_id: 'f', data: undefined, from: 'e1' } }, 'no data: undefined (JSON drops it)')
  const refused = (body: unknown) => {
    const parsed = parseRemoteCall('f', body)
    assert.ok('why' in parsed, JSON.stringify(body))
    return (parsed as { why: string }).why
  }
  assert.is(refused(null), 'a call must be an object, got null')
  assert.is(refused('text'), 'a call must be an object, got string')
  assert.is(refused([1]), 'a call must be an object, got an array')
  assert.is(refused(7), 'a call must be an object, got number')
  assert.match(refused({ data: 1 }), "'from'")
  assert.match(refused({ from: 1 }), "'from'")
  assert.match(refused({ from: 'e1', timeout_ms: 'soon' }), "'timeout_ms'")
  assert.match(refused({ from: 'e1', timeout_ms: -1 }), "'timeout_ms'")
  assert.match(refused({ from: 'e1', void: 'yes' }), "'void'")
  assert.match(refused({ from: 'e1', source: 'mail' }), "'source'")
  assert.match(refused({ from: 'e1', traceparent: 3 }), "'traceparent'")
  assert.match(refused({ from: 'e1', baggage: {} }), "'baggage'")
})

it('membership and route entries: only one of the right shape, under its own key, is read', () => {
  assert.ok(isMemberInfo('e1', member('e1', ['f'])))
  for (const value of [null, 'e1', 7, [], { engine_id: 'e1' }, { ...member('e1'), functions: 5 }, { ...member('e1'), functions: [1] }, member('e2')]) {
    assert.not.ok(isMemberInfo('e1', value), JSON.stringify(value))
  }
  const key = routeBucketKey('e1', 'GET /a')
  const route = { engine_id: 'e1', function_id: 'f', route: { method: 'GET', path: '/a' }, holder: { trigger_id: 't', worker: 'w' } }
  assert.ok(isRemoteRoute(key, route))
  for (const value of [null, 'x', { ...route, engine_id: 'e2' }, { ...route, function_id: 1 }, { ...route, route: null }, { ...route, holder: undefined }]) {
    assert.not.ok(isRemoteRoute(key, value), JSON.stringify(value))
  }
})

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

it('the answer to a forwarded registration: accepted or an error; null, not JSON or another shape is no answer', () => {
  assert.equal(parseTypeAnswer({ accepted: true }), { accepted: true })
  assert.equal(parseTypeAnswer({ error: { code: 'provider_unavailable', message: 'x' } }), { error: { code: 'provider_unavailable', message: 'x' } })
  for (const stray of [null, undefined, 'yes', 42, [], {}, { accepted: 'true' }, { error: undefined }]) assert.is(parseTypeAnswer(stray), 'unknown', JSON.stringify(stray))
})

it('trigger types bucket: entries checked (shape, key), the holder seen only while its engine is a member and not this engine', () => {
  const entry = { trigger_type: 'webhook', engine_id: 'b', worker_id: 'w1', worker: "worker 'w1'" }
  assert.equal(parseRemoteTriggerType(typeBucketKey('webhook'), entry), { entry })
  assert.ok('why' in parseRemoteTriggerType(typeBucketKey('other'), entry), 'a key that is not its type')
  for (const bad of [null, 7, 'x', {}, { ...entry, engine_id: '' }, { ...entry, worker_id: 3 }, { ...entry, description: 1 }]) {
    assert.ok('why' in parseRemoteTriggerType(typeBucketKey('webhook'), bad), JSON.stringify(bad))
  }
  assert.match(typeBucketKey('a.b*>'), /^[A-Za-z0-9_-]{43}$/)
  assert.is(typeSubject('signalbox', 'e1-x'), 'signalbox.types.e1-x')

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

it('types messages: register, unregister, verdict checked; anything else refused with why', () => {
  const register = { op: 'register', from: 'b', trigger_type: 't', worker_id: 'w', trigger_id: 'x', function_id: 'f', config: { a: 1 }, metadata: { m: 1 } }
  assert.equal(parseTypeMessage(register), { message: register })
  assert.equal(parseTypeMessage({ op: 'unregister', from: 'b', trigger_type: 't', worker_id: 'w', trigger_id: 'x' }), { message: { op: 'unregister', from: 'b', trigger_type: 't', worker_id: 'w', trigger_id: 'x' } })
  const adopt = { op: 'adopt', from: 'b', trigger_type: 't', worker_id: 'w2', trigger_id: 'x', previous_worker_id: 'w1' }
  assert.equal(parseTypeMessage(adopt), { message: adopt })
  assert.ok('why' in parseTypeMessage({ ...adopt, previous_worker_id: undefined }))
  const verdict = { op: 'verdict', from: 'a', trigger_type: 't', worker_id: 'w', trigger_id: 'x', forwarded_id: 'x', error: { code: 'invalid_config', message: 'no' } }
  assert.equal(parseTypeMessage(verdict), { message: verdict })
  for (const bad of [null, [], 'x', {}, { op: 'nope', from: 'b' }, { ...register, config: [] }, { ...register, from: '' }, { ...register, function_id: 3 }, { ...verdict, forwarded_id: undefined }]) {
    assert.ok('why' in parseTypeMessage(bad), JSON.stringify(bad))
  }
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
