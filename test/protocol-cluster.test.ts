/**
 * protocol/cluster.ts alone: what engines of a cluster send each other and write in their
 * buckets is checked (anything may be published or written there), the hand-written check
 * of a call accepts exactly what its schema does, and subjects and keys are valid NATS
 * tokens whatever the names in them.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as v from 'valibot'
import {
  callSubject,
  clusterBuckets,
  cronClaimKey,
  engineOfRouteKey,
  isMemberInfo,
  isRemoteRoute,
  newEngineId,
  parseRemoteCall,
  parseRemoteTriggerType,
  parseTypeAnswer,
  parseTypeMessage,
  pingSubject,
  RemoteCall,
  replySubject,
  routeBucketKey,
  routeClaimKey,
  token,
  typeBucketKey,
  typeSubject,
  type MemberInfo,
} from '../protocol/cluster.js'

const it = suite('protocol: cluster')

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
  assert.is(routeClaimKey('GET /a/:'), token('GET /a/:'))
  assert.is(pingSubject('c1', 'e1-abc'), 'c1.ping.e1-abc')
  assert.equal(clusterBuckets('c1'), { engines: 'c1-engines', routes: 'c1-routes', routeClaims: 'c1-route-claims', triggerTypes: 'c1-trigger-types', cronClaims: 'c1-cron-claims' })
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

it('remote calls: the hand-written check accepts exactly what the RemoteCall schema accepts, and reads the same call', () => {
  const bodies: unknown[] = [
    null, 'text', 7, [1], {}, { data: 1 }, { from: '' }, { from: 1 }, { from: 'e1' }, { from: 'e1', data: { a: [1, 2] } },
    { from: 'e1', timeout_ms: 500 }, { from: 'e1', timeout_ms: 0.5 }, { from: 'e1', timeout_ms: 0 }, { from: 'e1', timeout_ms: -1 }, { from: 'e1', timeout_ms: 'soon' }, { from: 'e1', timeout_ms: Infinity }, { from: 'e1', timeout_ms: NaN },
    { from: 'e1', void: true }, { from: 'e1', void: 'yes' },
    ...['worker', 'http', 'cron', 'queue', 'pubsub', 'engine', 'mail', 3].map((source) => ({ from: 'e1', source })),
    { from: 'e1', metadata: { m: 1 } }, { from: 'e1', traceparent: 't', baggage: 'b' }, { from: 'e1', traceparent: 3 }, { from: 'e1', baggage: {} },
    { from: 'e1', function_id: 'another', data: null, extra: 1 },
  ]
  for (const body of bodies) {
    const byHand = parseRemoteCall('f', body)
    const bySchema = v.safeParse(RemoteCall, typeof body === 'object' && body !== null && !Array.isArray(body) ? { ...body, function_id: 'f' } : body)
    assert.is('call' in byHand, bySchema.success, JSON.stringify(body))
    if ('call' in byHand && bySchema.success) {
      // The schema leaves out what was absent; the hand-written check keeps `data` (undefined when absent).
      assert.equal(JSON.parse(JSON.stringify(byHand.call)), JSON.parse(JSON.stringify(bySchema.output)), JSON.stringify(body))
    }
  }
})

it('membership and route entries: only one of the right shape, under its own key, is read', () => {
  assert.ok(isMemberInfo('e1', member('e1', ['f'])))
  for (const value of [null, 'e1', 7, [], { engine_id: 'e1' }, { ...member('e1'), functions: 5 }, { ...member('e1'), functions: [1] }, member('e2')]) {
    assert.not.ok(isMemberInfo('e1', value), JSON.stringify(value))
  }
  const key = routeBucketKey('e1', 'GET /a')
  const route = { engine_id: 'e1', function_id: 'f', route: { method: 'GET', path: '/a', pattern: '/a', shape: '/a', params: [] }, holder: { trigger_id: 't', worker: 'w' } }
  assert.ok(isRemoteRoute(key, route))
  assert.ok(isRemoteRoute(key, { ...route, route: { ...route.route, timeout_ms: 500 }, metadata: { m: 1 } }))
  const partial = [{ method: 'GET', path: '/a' }, { ...route.route, method: 'FETCH' }, { ...route.route, params: 'a' }, { ...route.route, timeout_ms: '1s' }]
  for (const value of [null, 'x', { ...route, engine_id: 'e2' }, { ...route, function_id: 1 }, { ...route, route: null }, ...partial.map((r) => ({ ...route, route: r })), { ...route, holder: undefined }, { ...route, holder: { trigger_id: 't' } }]) {
    assert.not.ok(isRemoteRoute(key, value), JSON.stringify(value))
  }
})

it('the answer to a forwarded registration: accepted or an error; null, not JSON or another shape is no answer', () => {
  assert.equal(parseTypeAnswer({ accepted: true }), { accepted: true })
  assert.equal(parseTypeAnswer({ error: { code: 'provider_unavailable', message: 'x' } }), { error: { code: 'provider_unavailable', message: 'x' } })
  for (const stray of [null, undefined, 'yes', 42, [], {}, { accepted: 'true' }, { error: undefined }]) assert.is(parseTypeAnswer(stray), 'unknown', JSON.stringify(stray))
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

it('trigger types bucket: entries checked (shape, key)', () => {
  const entry = { trigger_type: 'webhook', engine_id: 'b', worker_id: 'w1', worker: "worker 'w1'" }
  assert.equal(parseRemoteTriggerType(typeBucketKey('webhook'), entry), { entry })
  assert.ok('why' in parseRemoteTriggerType(typeBucketKey('other'), entry), 'a key that is not its type')
  for (const bad of [null, 7, 'x', {}, { ...entry, engine_id: '' }, { ...entry, worker_id: 3 }, { ...entry, description: 1 }]) {
    assert.ok('why' in parseRemoteTriggerType(typeBucketKey('webhook'), bad), JSON.stringify(bad))
  }
  assert.match(typeBucketKey('a.b*>'), /^[A-Za-z0-9_-]{43}$/)
  assert.is(typeSubject('signalbox', 'e1-x'), 'signalbox.types.e1-x')
})

it.run()
