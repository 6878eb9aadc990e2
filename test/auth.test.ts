/**
 * Auth, end to end over real sockets (docs/security.md): an engine with tokens refuses an
 * upgrade without a valid one (401, logged once with the peer, never the token); a token
 * without scope may do everything; a scoped token is answered `forbidden` on the wire for
 * each thing its scope refuses (registering a function or trigger type, binding a type or
 * a function, calling a function or an engine function, a call that asked for no answer),
 * and may still do what it allows; `/metrics` follows the scope, `/healthz` stays open; a
 * custom auth function decides per connection; iii-sdk connects with its `headers` option;
 * and connectWorker reports a refused token instead of retrying.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { registerWorker } from 'iii-sdk'
import { connectWorker } from '../client/ws-client.js'
import { tokenHash } from '../core/auth.js'
import { limit, startEngine, until, type TestEngine } from './harness.js'
import { rawSocket } from './transports.js'

const ADMIN = 'admin-token-0123456789'
const BILLING = 'billing-token-0123456789'
const JOBS = 'jobs-token-0123456789'
const TOKENS = {
  tokens: [
    { name: 'admin', sha256: tokenHash(ADMIN) },
    {
      name: 'billing',
      token: BILLING,
      scope: { register: ['billing::*'], invoke: ['billing::*', 'email::send'], trigger_types: ['http', 'cron'] },
    },
    {
      name: 'jobs',
      token: JOBS,
      scope: { register: ['jobs::*'], invoke: ['jobs::*', 'engine::workers::list'], trigger_types: ['http', 'queue'], queues: ['jobs', 'jobs.*'] },
    },
  ],
}

/** The status and body of a refused upgrade. */
async function upgrade(url: string, headers?: Record<string, string>): Promise<{ status: number; body: string; authenticate?: string }> {
  const ws = new WebSocket(url, { headers })
  return new Promise((resolve, reject) => {
    ws.once('open', () => (ws.close(), resolve({ status: 101, body: '' })))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode!, body, authenticate: res.headers['www-authenticate'] as string | undefined }))
    })
    ws.once('error', (err) => (err.message.includes('Unexpected server response') ? undefined : reject(err)))
  })
}

const workerCount = (engine: TestEngine) => (engine.actor.system.get('catalog')!.getSnapshot().context as { workers: object }).workers

const it = suite<{ engine: TestEngine }>('auth: tokens and scopes')
it.before.each(async (ctx) => {
  ctx.engine = await startEngine({ auth: TOKENS })
})
it.after.each((ctx) => ctx.engine.stop())

it('no token or a wrong one: 401 with a JSON error, no session, logged once with the peer and never the token', limit(async (ctx) => {
  const none = await upgrade(ctx.engine.url!)
  assert.is(none.status, 401)
  assert.is(none.authenticate, 'Bearer')
  assert.is(JSON.parse(none.body).error.code, 'unauthorized')
  assert.match(JSON.parse(none.body).error.message, /Authorization: Bearer <token>/)
  const wrong = await upgrade(ctx.engine.url!, { authorization: 'Bearer not-the-token-at-all' })
  assert.is(wrong.status, 401)
  assert.is(JSON.parse(wrong.body).error.message, 'The token was not accepted')
  const malformed = await upgrade(ctx.engine.url!, { authorization: `Basic ${ADMIN}` })
  assert.is(malformed.status, 401)
  assert.equal(Object.keys(workerCount(ctx.engine)), [])
  const refusals = ctx.engine.log.records.filter((r) => r.msg === 'connection refused: not authenticated')
  assert.equal(refusals.map((r) => r.reason), ['no token', 'unknown token', 'the Authorization header is not "Bearer <token>"'])
  for (const r of refusals) assert.match(String(r.peer), /127\.0\.0\.1/)
  assert.not.ok(JSON.stringify(ctx.engine.log.records).includes('not-the-token-at-all'), 'the token is never logged')
  assert.not.ok(JSON.stringify(ctx.engine.log.records).includes(ADMIN))
}))

it('connectWorker: a refused token rejects at once with what to do, instead of retrying', limit(async (ctx) => {
  const started = Date.now()
  const err = await connectWorker(ctx.engine.url!, { logger: false }).then(
    () => undefined,
    (e: Error) => e,
  )
  assert.ok(err, 'connectWorker rejected')
  assert.match(err!.message, /requires a token \(HTTP 401\): pass connectWorker\(url, \{ token \}\)/)
  const wrong = await connectWorker(ctx.engine.url!, { logger: false, token: 'wrong-token-000' }).then(
    () => undefined,
    (e: Error) => e,
  )
  assert.match(wrong!.message, /did not accept the token \(HTTP 401\)/)
  assert.ok(Date.now() - started < 5000, 'no retries with backoff')
}))

it('a token without scope may do everything', limit(async (ctx) => {
  const w = await connectWorker(ctx.engine.url!, { logger: false, token: ADMIN, reconnect: false })
  try {
    w.registerFunction('anything::at-all', () => 'yes')
    await w.registerTriggerType({ id: 'webhook' }, { registerTrigger: () => {}, unregisterTrigger: () => {} })
    await w.registerTrigger({ id: 't', trigger_type: 'webhook', function_id: 'anything::at-all', config: {} })
    assert.is(await w.invoke('anything::at-all', {}), 'yes')
    const listed = (await w.invoke('engine::workers::list', {})) as { workers: unknown[] }
    assert.is(listed.workers.length, 1)
    assert.ok(ctx.engine.log.records.some((r) => r.msg === 'session opened' && r.token === 'admin'))
  } finally {
    await w.close()
  }
}))

it('a scoped token: every refusal is forbidden on the wire, naming the token; what it allows works', limit(async (ctx) => {
  const admin = await rawSocket(ctx.engine.url!, { token: ADMIN })
  admin.send({ type: 'registerfunction', id: 'admin::reset' })
  const p = await rawSocket(ctx.engine.url!, { token: BILLING })
  try {
    await until(() => (ctx.engine.actor.system.get('catalog')!.getSnapshot().context as { functions: object }).functions['admin::reset' as never])
    p.send({ type: 'registerfunction', id: 'admin::backdoor' })
    const refused = await p.next((m) => m.type === 'error')
    assert.equal(refused.error.code, 'forbidden')
    assert.is(refused.error.message, "Token 'billing' may not register function 'admin::backdoor' (its scope's 'register' patterns do not match)")
    assert.equal(refused.ref, { type: 'registerfunction', id: 'admin::backdoor' })
    p.send({ type: 'registertriggertype', id: 'webhook' })
    assert.is((await p.next((m) => m.type === 'error')).error.code, 'forbidden')
    p.send({ type: 'registerfunction', id: 'billing::charge' })
    // A type outside trigger_types; a function of another worker outside invoke; then allowed ones.
    p.send({ type: 'registertrigger', id: 'q', trigger_type: 'queue', function_id: 'billing::charge', config: { queue_name: 'q' } })
    p.send({ type: 'registertrigger', id: 'r', trigger_type: 'http', function_id: 'admin::reset', config: { path: '/reset' } })
    p.send({ type: 'registertrigger', id: 'ok', trigger_type: 'http', function_id: 'billing::charge', config: { path: '/charge' } })
    const results = await Promise.all(['q', 'r', 'ok'].map((id) => p.next((m) => m.type === 'triggerregistrationresult' && m.id === id)))
    assert.equal(results.map((m) => m.error?.code), ['forbidden', 'forbidden', undefined])
    assert.is(results[1].error.message, "Token 'billing' may not bind a trigger to function 'admin::reset' (not registered by this worker, and its scope's 'invoke' patterns do not match)")
    // Calls: outside invoke, an engine function, then one that asked for no answer.
    p.send({ type: 'invokefunction', invocation_id: 'c1', function_id: 'admin::reset', data: {} })
    p.send({ type: 'invokefunction', invocation_id: 'c2', function_id: 'engine::workers::list', data: {} })
    p.send({ type: 'invokefunction', invocation_id: 'c3', function_id: 'engine::workers::register', data: { name: 'billing' } })
    const [c1, c2, c3] = await Promise.all(['c1', 'c2', 'c3'].map((id) => p.next((m) => m.type === 'invocationresult' && m.invocation_id === id)))
    assert.is(c1.error.code, 'forbidden')
    assert.is(c1.error.message, "Token 'billing' may not call function 'admin::reset' (its scope's 'invoke' patterns do not match)")
    assert.is(c2.error.code, 'forbidden')
    assert.is(c2.error.message, "Token 'billing' may not call engine function 'engine::workers::list' (its scope has no 'engine')")
    assert.equal(c3.result, { worker_id: p.worker_id }, 'every session may describe itself')
    p.send({ type: 'invokefunction', function_id: 'admin::reset', data: {}, action: { type: 'void' } })
    const dropped = await p.next((m) => m.type === 'error' && m.ref?.type === 'invokefunction')
    assert.is(dropped.error.code, 'forbidden')
    p.send({ type: 'invokefunction', invocation_id: 'e1', function_id: 'admin::reset', data: {}, action: { type: 'enqueue', queue: 'jobs' } })
    assert.is((await p.next((m) => m.type === 'invocationresult' && m.invocation_id === 'e1')).error.code, 'forbidden')
    assert.not.ok(admin.received.some((m) => m.type === 'invokefunction'), 'nothing reached the admin worker')
    // What it may do works: its own route answers.
    const served = p.next((m) => m.type === 'invokefunction')
    const res = fetch(`${ctx.engine.httpUrl}/charge`)
    const call = await served
    p.send({ type: 'invocationresult', invocation_id: call.invocation_id, function_id: call.function_id, result: { body: 'charged' } })
    assert.is(await (await res).text(), 'charged')
  } finally {
    await p.close()
    await admin.close()
  }
}))

it("a trigger bound to an engine function needs engine; queues outside 'queues' are refused to consumers, dead letters and enqueues", limit(async (ctx) => {
  const p = await rawSocket(ctx.engine.url!, { token: JOBS })
  try {
    p.send({ type: 'registerfunction', id: 'jobs::work' })
    const bind = (id: string, trigger_type: string, function_id: string, config: object) => {
      p.send({ type: 'registertrigger', id, trigger_type, function_id, config })
      return p.next((m) => m.type === 'triggerregistrationresult' && m.id === id)
    }
    // An 'invoke' pattern does not stand in for 'engine': a public route must not publish an engine listing.
    const leak = await bind('leak', 'http', 'engine::workers::list', { api_path: '/leak' })
    assert.is(leak.error?.message, "Token 'jobs' may not bind a trigger to engine function 'engine::workers::list' (its scope has no 'engine')")
    assert.is((await fetch(`${ctx.engine.httpUrl}/leak`)).status, 404)
    p.send({ type: 'invokefunction', invocation_id: 'l', function_id: 'engine::workers::list', data: {} })
    assert.is((await p.next((m) => m.type === 'invocationresult' && m.invocation_id === 'l')).error.code, 'forbidden')
    const other = await bind('steal', 'queue', 'jobs::work', { queue_name: 'invoices' })
    assert.equal(other.error, { code: 'forbidden', message: "Token 'jobs' may not use queue 'invoices' (its scope's 'queues' patterns do not match)" })
    const dead = await bind('dead', 'queue', 'jobs::work', { queue_name: 'jobs', dead_letter_queue: 'invoices' })
    assert.is(dead.error?.message, "Token 'jobs' may not use queue 'invoices' (its scope's 'queues' patterns do not match)")
    assert.is((await bind('mine', 'queue', 'jobs::work', { queue_name: 'jobs', dead_letter_queue: 'jobs.dead' })).error, undefined)
    p.send({ type: 'invokefunction', invocation_id: 'e1', function_id: 'jobs::work', data: {}, action: { type: 'enqueue', queue: 'invoices' } })
    p.send({ type: 'invokefunction', invocation_id: 'e2', function_id: 'jobs::work', data: {}, action: { type: 'enqueue', queue: 'jobs' } })
    const e1 = await p.next((m) => m.type === 'invocationresult' && m.invocation_id === 'e1')
    assert.is(e1.error.message, "Token 'jobs' may not use queue 'invoices' (its scope's 'queues' patterns do not match)")
    assert.ok((await p.next((m) => m.type === 'invocationresult' && m.invocation_id === 'e2')).result.message_id)
  } finally {
    await p.close()
  }
}))

it('the telemetry socket (/otel) needs a token like the worker port', limit(async (ctx) => {
  assert.is((await upgrade(`${ctx.engine.url!}/otel`)).status, 401)
  assert.is((await upgrade(`${ctx.engine.url!}/otel`, { authorization: `Bearer ${BILLING}x` })).status, 401)
  assert.is((await upgrade(`${ctx.engine.url!}/otel`, { authorization: `Bearer ${ADMIN}` })).status, 101)
}))

it('/healthz is open; /metrics needs a token whose scope has engine', limit(async (ctx) => {
  const base = ctx.engine.url!.replace('ws:', 'http:')
  assert.is((await fetch(`${base}/healthz`)).status, 200)
  const none = await fetch(`${base}/metrics`)
  assert.is(none.status, 401)
  assert.is(((await none.json()) as { error: { code: string } }).error.code, 'unauthorized')
  const billing = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${BILLING}` } })
  assert.is(billing.status, 403)
  assert.is(((await billing.json()) as { error: { code: string } }).error.code, 'forbidden')
  const admin = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })
  assert.is(admin.status, 200)
  assert.match(await admin.text(), /signalbox_sessions_held/)
}))

it('iii-sdk connects with its headers option', limit(async (ctx) => {
  const sdk = registerWorker(ctx.engine.url!, { workerName: 'sdk', headers: { Authorization: `Bearer ${ADMIN}` }, otel: { enabled: false }, enableMetricsReporting: false })
  try {
    sdk.registerFunction('sdk::ping', async () => 'pong')
    await until(() => (ctx.engine.actor.system.get('catalog')!.getSnapshot().context as { functions: Record<string, unknown> }).functions['sdk::ping'], 5000, 'the sdk function')
    const w = await connectWorker(ctx.engine.url!, { logger: false, token: ADMIN, reconnect: false })
    assert.is(await w.invoke('sdk::ping', {}), 'pong')
    await w.close()
  } finally {
    await sdk.shutdown()
  }
}))

const custom = suite('auth: a custom auth function')

custom('decides per connection from the request; a throw or a non-scope refuses, and says why in the log', limit(async () => {
  const engine = await startEngine({
    auth: (request) => {
      if (request.headers['x-team'] === 'ops') return { invoke: ['*'], engine: true }
      if (request.headers['x-team'] === 'broken') throw new Error(`directory down for ${request.token}`)
      if (request.headers['x-team'] === 'odd') return { invoke: 'everything' } as never
      return undefined
    },
  })
  try {
    assert.is((await upgrade(engine.url!)).status, 401)
    assert.is((await upgrade(engine.url!, { 'x-team': 'broken', authorization: 'Bearer leaked-token-123' })).status, 401)
    assert.is((await upgrade(engine.url!, { 'x-team': 'odd' })).status, 401)
    assert.equal(
      engine.log.records.filter((r) => r.msg === 'connection refused: not authenticated').map((r) => String(r.reason).split(':')[0]),
      ['refused by the auth function', 'the auth function threw', 'the auth function answered something that is not a scope'],
    )
    assert.not.match(JSON.stringify(engine.log.records), 'leaked-token-123', 'the token never reaches the log')
    const p = new WebSocket(engine.url!, { headers: { 'x-team': 'ops' } })
    const hello = await new Promise<{ type: string }>((resolve) => p.once('message', (d) => resolve(JSON.parse(String(d)))))
    assert.is(hello.type, 'workerregistered')
    // Its scope lists no 'register': registering is refused.
    p.send(JSON.stringify({ type: 'registerfunction', id: 'f' }))
    const refused = await new Promise<{ error: { code: string; message: string } }>((resolve) => p.once('message', (d) => resolve(JSON.parse(String(d)))))
    assert.is(refused.error.code, 'forbidden')
    assert.match(refused.error.message, /Token 'auth function' may not register/)
    p.close()
  } finally {
    await engine.stop()
  }
}))

custom('an auth function that never answers: upgrades wait, and the engine still stops at once, closing them', limit(async () => {
  let asked = 0
  const engine = await startEngine({ auth: () => (asked++, new Promise(() => {})) })
  const waiting = Array.from({ length: 5 }, () => upgrade(engine.url!).catch((e: Error) => e))
  await until(() => asked === 5, 5000, 'the five upgrades to reach the auth function')
  const before = Date.now()
  await engine.stop()
  assert.ok(Date.now() - before < 2000, `stopped in ${Date.now() - before} ms`)
  const outcomes = await Promise.all(waiting)
  assert.ok(outcomes.every((o) => o instanceof Error || o.status !== 101), JSON.stringify(outcomes))
}))

it.run()
custom.run()
