/**
 * The console's server side, over its own WebSocket and HTTP, without a browser: the page
 * and its assets with their headers, off with `console: false`; a console session's
 * hello, welcome and pushed sections (a worker appears and leaves without anyone asking;
 * a registration that fails is pushed among the recent failures);
 * invoking a function, and the feed seeing it; a failing message's dead letter listed
 * and redriven, then delivered; tokens: none, wrong, without `engine`, read-only (its
 * invoke and redrive refused, reading allowed), full, and an auth function; upgrades from
 * a page of another origin refused; messages that are not console messages end it.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { connectWorker } from '../client/ws-client.js'
import { createEngine } from '../adapters/engine.js'
import { resolveEngineOptions } from '../core/options.js'
import type { ConsoleSections } from '../protocol/console.js'
import { captureLogger, limit, startEngine, until, type TestEngine } from './harness.js'

type Message = Record<string, any>

/** Resolves with what `check` finds once it finds something; fails after `ms`. */
const found = <T>(check: () => T | undefined | false, ms: number, what: string): Promise<T> => until(check, ms, what) as Promise<T>

/** Asserts that `promise` rejects with an error matching `pattern`. */
async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const outcome = await promise.then(
    () => undefined,
    (err: Error) => err,
  )
  assert.ok(outcome, `expected a rejection matching ${pattern}`)
  assert.match(outcome!.message, pattern)
}

/** A console session: what it received, the sections as they stand, and how it ended. */
async function consoleSession(engine: { url: string | undefined }, hello: { token?: string } | false = {}, headers: Record<string, string> = {}) {
  const ws = new WebSocket(`${engine.url}/console/ws`, { headers })
  const received: Message[] = []
  let closed: { code: number; reason: string } | undefined
  ws.on('message', (data) => received.push(JSON.parse(String(data))))
  ws.on('close', (code, reason) => (closed = { code, reason: String(reason) }))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  if (hello) ws.send(JSON.stringify({ type: 'hello', ...hello }))
  let ids = 0
  const session = {
    ws,
    received,
    closed: () => closed,
    sections(): Partial<ConsoleSections> {
      const out: Partial<ConsoleSections> = {}
      for (const m of received) if (m.type === 'state') Object.assign(out, m.sections)
      return out
    },
    feed: () => received.filter((m) => m.type === 'feed').flatMap((m) => m.entries as Message[]),
    async ask(request: Message, ms = 10_000): Promise<Message> {
      const id = `t${++ids}`
      ws.send(JSON.stringify({ ...request, id }))
      return found(() => received.find((m) => m.type === 'result' && m.id === id), ms, `the answer to ${request.type}`)
    },
    close: () => ws.close(),
  }
  return session
}

const it = suite<{ engine: TestEngine; closers: Array<() => unknown> }>('console: server')

it.before.each((ctx) => {
  ctx.closers = []
})
it.after.each(async (ctx) => {
  for (const close of ctx.closers.reverse()) await close()
})

it('serves the page and its assets with a strict content policy; other paths under /console are 404', limit(async (ctx) => {
  const engine = await startEngine()
  ctx.closers.push(() => engine.stop())
  assert.is(engine.consoleUrl, `${engine.url!.replace('ws:', 'http:')}/console`)
  const page = await fetch(engine.consoleUrl!)
  assert.is(page.status, 200)
  assert.match(page.headers.get('content-type')!, /^text\/html/)
  assert.match(page.headers.get('content-security-policy')!, /default-src 'none'; script-src 'self'/)
  assert.match(page.headers.get('content-security-policy')!, /frame-ancestors 'none'/)
  assert.is(page.headers.get('x-content-type-options'), 'nosniff')
  const html = await page.text()
  assert.match(html, /<script type="module" src="\/console\/app\.js"><\/script>/)
  assert.not.match(html, /https?:\/\//, 'nothing from elsewhere')
  for (const [path, type] of [['/console/', 'text/html'], ['/console/app.js', 'text/javascript'], ['/console/view.js', 'text/javascript'], ['/console/console.css', 'text/css']]) {
    const res = await fetch(engine.consoleUrl!.replace(/\/console$/, path))
    assert.is(res.status, 200, path)
    assert.match(res.headers.get('content-type')!, new RegExp(`^${type}`), path)
  }
  for (const path of ['/console/app.ts', '/console/../package.json', '/console/nope.js', '/console/app.js.map']) {
    assert.is((await fetch(engine.consoleUrl!.replace(/\/console$/, path))).status, 404, path)
  }
  assert.is((await fetch(engine.consoleUrl!, { method: 'HEAD' })).status, 200)
  assert.is((await fetch(engine.consoleUrl!, { method: 'POST' })).status, 404)
}))

it('console: false serves no console; the option is checked', limit(async (ctx) => {
  const engine = await startEngine({ console: false })
  ctx.closers.push(() => engine.stop())
  assert.is(engine.consoleUrl, undefined)
  assert.is((await fetch(`${engine.url!.replace('ws:', 'http:')}/console`)).status, 404)
  await rejects(consoleSession(engine), /404/)
  assert.is(resolveEngineOptions({}).console, true)
  assert.equal(resolveEngineOptions({ console: { inspectorUrl: 'http://localhost:8080' } }).console, { inspectorUrl: 'http://localhost:8080' })
  assert.throws(() => resolveEngineOptions({ console: 'yes' }), /option 'console' must be true, false or \{ inspectorUrl \}/)
  assert.throws(() => resolveEngineOptions({ console: { inspectorUrl: 'ftp://x' } }), /option 'console.inspectorUrl' must be an http\(s\) URL/)
  assert.throws(() => resolveEngineOptions({ console: { colour: 'red' } }), /unknown option 'console.colour'/)
  // Embedded without a port, there is no console either.
  const bare = await createEngine({ logger: captureLogger() })
  ctx.closers.push(() => bare.stop())
  assert.is(bare.consoleUrl, undefined)
}))

it('a console session sees a worker appear and leave, pushed; invokes a function; sees the feed', limit(async (ctx) => {
  const engine = await startEngine({ console: { inspectorUrl: 'http://localhost:9999' } })
  ctx.closers.push(() => engine.stop())
  const c = await consoleSession(engine)
  ctx.closers.push(() => c.close())
  const welcome = await found(() => c.received.find((m) => m.type === 'welcome'), 5000, 'welcome')
  assert.equal(welcome.rights, { invoke: ['*'], engine: true, redrive: true })
  assert.is(welcome.identity, undefined)
  assert.is(welcome.inspector_url, 'http://localhost:9999')
  assert.match(welcome.version, /^\d+\.\d+\.\d+/)
  assert.is(welcome.max_message_bytes, 16 * 1024 * 1024, 'what the page may send: 16 MiB (the engine takes 32 MiB frames from workers)')
  await found(() => c.sections().overview && c.sections().workers && c.sections().queues, 5000, 'every section')

  const worker = await connectWorker(engine.url!, { name: 'billing', logger: false, reconnect: false })
  worker.registerFunction('billing::charge', (data: { amount: number }) => ({ charged: data.amount }))
  await worker.registerTrigger({ id: 'nightly', trigger_type: 'cron', function_id: 'billing::charge', config: { schedule: '0 0 9 * * *', timezone: 'Asia/Tokyo' } })
  const row = await found(() => c.sections().workers?.find((w) => w.name === 'billing' && w.functions.includes('billing::charge')), 10_000, 'the worker in the pushed list')
  assert.match(row.address!, /^127\.0\.0\.1:\d+$/)
  assert.is(row.runtime, 'node')
  const cron = await found(() => c.sections().triggers?.find((t) => t.id === 'nightly' && t.next_runs), 10_000, 'the cron trigger with its next runs')
  assert.is(cron.timezone, 'Asia/Tokyo')
  assert.is(cron.next_runs!.length, 3)
  assert.match(cron.next_runs![0], /T00:00:00\.000Z$/, '09:00 in Tokyo is midnight UTC')
  // A registration that fails is pushed among the recent failures, with its error, and counted as failed.
  const bad = await worker.registerTrigger({ id: 'broken', trigger_type: 'cron', function_id: 'billing::charge', config: { schedule: 'every tuesday' } })
  assert.is(bad.error?.code, 'invalid_config')
  const failed = await found(() => c.sections().failed_triggers?.find((t) => t.id === 'broken'), 10_000, 'the failed registration pushed')
  assert.equal({ ...failed, failed_at: 'at' }, {
    seq: failed.seq,
    id: 'broken',
    trigger_type: 'cron',
    function_id: 'billing::charge',
    worker_id: row.worker_id,
    worker_name: 'billing',
    config: { schedule: 'every tuesday' },
    from: 'pending',
    error: { code: 'invalid_config', message: bad.error!.message ?? '' },
    failed_at: 'at',
  })
  assert.not.ok(c.sections().triggers?.some((t) => t.id === 'broken'), 'not among the registrations')
  await found(() => c.sections().overview?.triggers.cron?.failed === 1, 10_000, 'counted as failed in the overview')

  const r = await c.ask({ type: 'invoke', function_id: 'billing::charge', data: { amount: 7 } })
  assert.equal([r.ok, r.result], [true, { charged: 7 }])
  assert.ok(r.ms >= 0)
  const missing = await c.ask({ type: 'invoke', function_id: 'billing::nope', data: {} })
  assert.equal([missing.ok, missing.error.code], [false, 'function_not_found'])
  await found(() => c.feed().some((e) => e.function_id === 'billing::charge' && e.source === 'engine' && e.outcome === 'ok'), 5000, 'the call in the feed')
  await found(() => c.sections().functions?.find((f) => f.function_id === 'billing::charge' && f.calls === 1 && f.p50_ms !== undefined), 5000, 'its statistics')

  await worker.close()
  await found(() => c.sections().workers?.length === 0, 10_000, 'the worker gone from the pushed list')
  await found(() => !c.sections().triggers?.some((t) => t.id === 'nightly'), 10_000, 'its trigger gone')
}))

it('a failing message lands in the dead letters; a redrive delivers it', limit(async (ctx) => {
  const engine = await startEngine()
  ctx.closers.push(() => engine.stop())
  const worker = await connectWorker(engine.url!, { name: 'orders', logger: false, reconnect: false })
  ctx.closers.push(() => worker.close())
  let fixed = false
  const delivered: unknown[] = []
  worker.registerFunction('orders::process', (batch: { messages: Array<{ body: unknown }> }) => {
    if (!fixed) throw new Error('no stock')
    delivered.push(...batch.messages.map((m) => m.body))
    return null
  })
  await worker.registerTrigger({ id: 'orders', trigger_type: 'queue', function_id: 'orders::process', config: { queue_name: 'orders', max_receive_count: 1 } })
  const c = await consoleSession(engine)
  ctx.closers.push(() => c.close())
  await worker.invoke('engine::queue::send', { queue_name: 'orders', body: { order: 1 } })
  await found(() => c.sections().queues?.find((q) => q.queue_name === 'orders' && q.dead_lettered === 1), 10_000, 'the dead-lettered count')
  const list = await c.ask({ type: 'dead-letters', dead_letter_queue: 'orders.dlq' })
  assert.is(list.ok, true)
  assert.is(list.result.messages.length, 1)
  const [letter] = list.result.messages
  assert.equal(letter.body, { order: 1 })
  assert.is(letter.source_queue, 'orders')
  assert.is(letter.last_error.message, 'no stock')
  fixed = true
  const redrive = await c.ask({ type: 'redrive', dead_letter_queue: 'orders.dlq', message_ids: [letter.message_id] })
  assert.equal([redrive.ok, redrive.result], [true, { redriven: 1 }])
  await found(() => delivered.length === 1, 10_000, 'the redriven message delivered')
  await found(() => c.feed().some((e) => e.function_id === 'orders::process' && e.source === 'queue' && e.outcome === 'ok'), 10_000, 'the delivery in the feed')
  await found(() => c.sections().queues?.find((q) => q.queue_name === 'orders' && q.dead_lettered === 0 && q.ready === 0 && q.in_flight === 0), 10_000, 'the counts back to 0')
}))

it('with tokens: none, a wrong one and one without engine are refused; read-only reads but may not invoke or redrive; full may', limit(async (ctx) => {
  const engine = await startEngine({
    auth: {
      tokens: [
        { name: 'ops', token: 'ops-token-123' },
        { name: 'viewer', token: 'viewer-token-123', scope: { engine: true } },
        { name: 'worker', token: 'worker-token-123', scope: { invoke: ['*'], register: ['*'] } },
        { name: 'billing', token: 'billing-token-123', scope: { engine: true, invoke: ['billing::*'] } },
      ],
    },
    maxPayload: 4096,
  })
  ctx.closers.push(() => engine.stop())
  const refusedWith = async (hello: { token?: string }) => {
    const c = await consoleSession(engine, hello)
    await found(() => c.closed(), 5000, 'the session closed')
    assert.is(c.closed()!.code, 4001)
    return c.received.find((m) => m.type === 'refused')!.error
  }
  assert.equal(await refusedWith({}), { code: 'unauthorized', message: "This engine requires a token: send 'Authorization: Bearer <token>' with the WebSocket upgrade (connectWorker(url, { token }))" })
  assert.equal(await refusedWith({ token: 'wrong-token-123' }), { code: 'unauthorized', message: 'The token was not accepted' })
  const noEngine = await refusedWith({ token: 'worker-token-123' })
  assert.is(noEngine.code, 'forbidden')
  assert.match(noEngine.message, /Token 'worker' may not open the console \(its scope has no 'engine'/)
  assert.ok(engine.log.records.some((r) => r.msg === 'console session refused: not authenticated' && r.reason === 'unknown token'))
  assert.not.ok(JSON.stringify(engine.log.records).includes('wrong-token-123'), 'the token is never logged')

  const viewer = await consoleSession(engine, { token: 'viewer-token-123' })
  ctx.closers.push(() => viewer.close())
  const welcome = await found(() => viewer.received.find((m) => m.type === 'welcome'), 5000, 'welcome')
  assert.equal([welcome.identity, welcome.rights], ['viewer', { invoke: [], engine: true, redrive: false }])
  const redrive = await viewer.ask({ type: 'redrive', dead_letter_queue: 'orders.dlq' })
  assert.is(redrive.ok, false)
  assert.is(redrive.error.code, 'forbidden')
  assert.is(redrive.error.message, "Token 'viewer' may not redrive dead letters: its scope has no 'invoke' patterns: it is read-only (a console redrives with 'engine' and 'invoke' patterns that match 'engine::queue::dlq')")
  assert.is(welcome.max_message_bytes, 4096, "the engine's maxPayload when smaller than 16 MiB")
  const invoke = await viewer.ask({ type: 'invoke', function_id: 'engine::workers::list' })
  assert.equal([invoke.ok, invoke.error.code], [false, 'forbidden'])
  const read = await viewer.ask({ type: 'dead-letters', dead_letter_queue: 'orders.dlq' })
  assert.equal([read.ok, read.result], [true, { messages: [] }])

  // May invoke, not redrive: the refusal says what its scope lacks (it is not read-only).
  const billing = await consoleSession(engine, { token: 'billing-token-123' })
  ctx.closers.push(() => billing.close())
  assert.equal((await found(() => billing.received.find((m) => m.type === 'welcome'), 5000, 'welcome')).rights, { invoke: ['billing::*'], engine: true, redrive: false })
  const refused = await billing.ask({ type: 'redrive', dead_letter_queue: 'orders.dlq' })
  assert.equal([refused.ok, refused.error.code], [false, 'forbidden'])
  assert.is(refused.error.message, "Token 'billing' may not redrive dead letters: its scope's 'invoke' patterns (billing::*) do not match 'engine::queue::dlq' (a console redrives with 'engine' and 'invoke' patterns that match 'engine::queue::dlq')")

  const ops = await consoleSession(engine, { token: 'ops-token-123' })
  ctx.closers.push(() => ops.close())
  const full = await found(() => ops.received.find((m) => m.type === 'welcome'), 5000, 'welcome')
  assert.equal(full.rights, { invoke: ['*'], engine: true, redrive: true })
  const ok = await ops.ask({ type: 'redrive', dead_letter_queue: 'orders.dlq' })
  assert.equal([ok.ok, ok.result], [true, { redriven: 0 }])
  const listed = await ops.ask({ type: 'invoke', function_id: 'engine::workers::list' })
  assert.equal([listed.ok, listed.result], [true, { workers: [] }], 'a console session is no worker')
}))

it('an auth function decides for console sessions too, from the token of their hello', limit(async (ctx) => {
  const engine = await startEngine({ auth: ({ token }) => (token === 'let-me-in' ? { engine: true, invoke: ['*'] } : undefined) })
  ctx.closers.push(() => engine.stop())
  const c = await consoleSession(engine, { token: 'let-me-in' })
  ctx.closers.push(() => c.close())
  const welcome = await found(() => c.received.find((m) => m.type === 'welcome' || m.type === 'refused'), 5000, 'an answer')
  assert.equal([welcome.type, welcome.identity, welcome.rights.redrive], ['welcome', 'auth function', true])
  const no = await consoleSession(engine, { token: 'nope' })
  await found(() => no.closed(), 5000, 'refused')
  assert.is(no.closed()!.code, 4001)
}))

it('an upgrade from a page of another origin is refused; so are messages that are not console messages', limit(async (ctx) => {
  const engine = await startEngine()
  ctx.closers.push(() => engine.stop())
  await rejects(consoleSession(engine, {}, { origin: 'http://evil.example' }), /403/)
  const same = await consoleSession(engine, {}, { origin: engine.url!.replace('ws:', 'http:') })
  await found(() => same.received.some((m) => m.type === 'welcome'), 5000, 'welcome from the same origin')
  same.close()
  for (const bad of ['not json', JSON.stringify({ type: 'invoke', id: 'x', function_id: 'f' }), JSON.stringify({ type: 'hello', extra: 1 })]) {
    const c = await consoleSession(engine, false)
    c.ws.send(bad)
    await found(() => c.closed(), 5000, `closed after ${bad}`)
    assert.is(c.closed()!.code, 4002, bad)
  }
  const twice = await consoleSession(engine)
  await found(() => twice.received.some((m) => m.type === 'welcome'), 5000, 'welcome')
  twice.ws.send(JSON.stringify({ type: 'hello' }))
  await found(() => twice.closed(), 5000, 'closed after a second hello')
  assert.is(twice.closed()!.code, 4002)
}))

it('stopping the engine ends console sessions', limit(async () => {
  const engine = await startEngine()
  const c = await consoleSession(engine)
  await found(() => c.received.some((m) => m.type === 'welcome'), 5000, 'welcome')
  await engine.stop()
  await found(() => c.closed(), 5000, 'closed')
  assert.is(c.closed()!.code, 1001)
}))

it.run()
