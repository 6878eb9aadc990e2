/**
 * Micro-measurements behind the explanations in BENCHMARKS.md, each of one library call
 * the engine makes on a hot or heavy path: what a croner job costs in memory and per fire,
 * and what the SQLite store's receive queries cost as the backlog grows (with SQLite's plan).
 * Run with --expose-gc.
 */
import Database from 'better-sqlite3'
import { Cron } from 'croner'
import { addRoute, createRouter, findRoute } from 'rou3'
import { serveTasks } from '../lib/rpc.js'
import { SCHEMA } from '../../adapters/sqlite-queue-store.js'
import { Counter, Histogram, Registry } from 'prom-client'
import { createEngine } from '../../index.js'
import { decodeText, decodeValueBySchema, encode } from '../../protocol/codec.js'
import { HttpInput } from '../../core/http-input.js'
import { DURATION_BUCKETS, LabelledHistogram } from '../../adapters/metrics.js'
import { decodeBody, parseQuery } from '../../actors/http-exchange.js'
import { Deadlines, type DeadlineEntry } from '../../actors/deadlines.js'
import { Exchanges } from '../../actors/http-stream.js'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Outcome } from '../../core/call-table.js'
import { RouteTable } from '../../core/route-table.js'
import { parseHttpConfig } from '../../core/http-config.js'
import type { HttpRoute } from '../../protocol/http-route.js'

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const heap = () => (gc(), gc(), process.memoryUsage().heapUsed)
const timeUs = (n: number, f: (i: number) => unknown) => {
  for (let i = 0; i < Math.min(n, 200); i++) f(i)
  const t = performance.now()
  for (let i = 0; i < n; i++) f(i)
  return ((performance.now() - t) * 1000) / n
}

function croner() {
  const N = 1000
  const keep: Cron[] = []
  const h0 = heap()
  for (let i = 0; i < N; i++) keep.push(new Cron(`0 ${i % 60} 3 1 1 *`, { timezone: 'UTC', paused: true }))
  const perJob = (heap() - h0) / N
  const yearSlots = ((keep[0] as any)._states?.pattern?.year as unknown[] | undefined)?.length
  keep.length = 0
  const job = new Cron('* * * * * *', { timezone: 'UTC', paused: true })
  return {
    heapPerJobBytes: perJob,
    yearSlots,
    previousRunsUs: timeUs(2000, () => job.previousRuns(1, new Date(Math.floor(Date.now() / 1000) * 1000 + 1000))),
    nextRunUs: timeUs(2000, () => job.nextRun()),
    newCronUs: timeUs(2000, () => new Cron('* * * * * *', { timezone: 'UTC', paused: true })),
  }
}

/**
 * The store's schema (imported) and its receive statements (copied from
 * adapters/sqlite-queue-store.ts: mark the due rows ready, then read the ready ones in
 * delivery order), timed against a backlog, with SQLite's plans.
 */
function sqlite() {
  const out: Array<{ backlog: number; messagesUs: number; callsUs: number }> = []
  let plan: string[] = []
  for (const backlog of [100, 1000, 5000]) {
    const db = new Database(':memory:')
    db.exec(SCHEMA)
    const insert = db.prepare('INSERT INTO messages (message_id, queue, body, function_id, enqueued_at, visible_at, ready) VALUES (?, ?, ?, ?, ?, ?, ?)')
    const now = Date.now()
    // Messages arrive over time, as they do under load: visible_at differs per message.
    db.transaction(() => {
      for (let i = 0; i < backlog; i++) insert.run(`m${i}`, 'q', '{"n":1}', null, now - backlog + i, now - backlog + i, 1)
    })()
    const markDue = db.prepare('UPDATE messages SET ready = 1 WHERE queue = ? AND ready = 0 AND function_id IS NULL AND visible_at <= ?')
    const markDueCalls = db.prepare('UPDATE messages SET ready = 1 WHERE queue = ? AND ready = 0 AND function_id IS NOT NULL AND visible_at <= ?')
    const selectReady = db.prepare(
      'SELECT seq, message_id, body, function_id, enqueued_at, receive_count, last_error FROM messages WHERE queue = ? AND ready = 1 AND function_id IS NULL AND visible_at <= ? AND seq > ? ORDER BY seq LIMIT ?',
    )
    const selectReadyCalls = db.prepare(
      'SELECT seq, message_id, body, function_id, enqueued_at, receive_count, last_error FROM messages WHERE queue = ? AND ready = 1 AND function_id IS NOT NULL AND source_queue IS NULL AND visible_at <= ? AND seq > ? ORDER BY seq LIMIT ?',
    )
    const explain = (s: Database.Statement, ...args: unknown[]) => (db.prepare(`EXPLAIN QUERY PLAN ${s.source}`).all(...args) as Array<{ detail: string }>).map((r) => r.detail).join('; ')
    plan = [explain(markDue, 'q', now), explain(selectReady, 'q', now, 0, 10), explain(markDueCalls, 'q', now), explain(selectReadyCalls, 'q', now, 0, 1)]
    const receive = (mark: Database.Statement, select: Database.Statement, max: number) => db.transaction(() => (mark.run('q', now), select.all('q', now, 0, max)))
    out.push({ backlog, messagesUs: timeUs(300, receive(markDue, selectReady, 10)), callsUs: timeUs(300, receive(markDueCalls, selectReadyCalls, 1)) })
    db.close()
  }
  return { byBacklog: out, plan }
}

/** rou3 lookups as the http provider makes them, with 1, 1,000 and 10,000 param routes (the routes scenario's shapes). */
function router() {
  const out: Array<{ routes: number; lookupUs: number }> = []
  for (const [sessions, per] of [[1, 1], [2, 500], [20, 500]]) {
    const r = createRouter<{ s: number; i: number }>()
    for (let s = 0; s < sessions; s++) for (let i = 0; i < per; i++) addRoute(r, 'GET', `/rt${s}/r${i}/:id`, { s, i })
    const paths = Array.from({ length: 1000 }, (_, k) => `/rt${Math.floor(Math.random() * sessions)}/r${Math.floor(Math.random() * per)}/${k}`)
    out.push({ routes: sessions * per, lookupUs: timeUs(20_000, (k) => findRoute(r, 'GET', paths[k % paths.length])) })
  }
  return out
}

/** Best of `rounds` timings of `n` runs of `f`, in nanoseconds: on a shared machine the least disturbed one. */
const bestNs = (n: number, f: (i: number) => unknown, rounds = 7) => {
  let best = Infinity
  for (let r = 0; r < rounds; r++) best = Math.min(best, timeUs(n, f) * 1000)
  return best
}

/**
 * What each piece of per-request work on the HTTP and call paths costs alone (best of
 * several rounds, ns), the old way beside the new where issue 15 changed it: what was
 * removed from the hot path, and the price of what stays.
 */
function hotPath() {
  const headers = { host: '127.0.0.1:3111', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0', accept: 'application/json', 'accept-language': 'en-US,en;q=0.5', 'accept-encoding': 'gzip, deflate, br', connection: 'keep-alive', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'x-request-id': 'f3b9c2d4' }
  const registry = new Registry()
  const counter = new Counter({ name: 'c_total', help: 'c', labelNames: ['source', 'outcome'], registers: [registry] })
  const histogram = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['source'], buckets: DURATION_BUCKETS, registers: [registry] })
  const ours = new LabelledHistogram({ name: 'l_seconds', help: 'l', label: 'source', buckets: DURATION_BUCKETS, registers: [registry] })
  const counts = new Map<string, Map<string, { n: number }>>([['http', new Map([['ok', { n: 0 }]])]])
  const answer = JSON.stringify({ type: 'invocationresult', invocation_id: 'k3j9x-1f', function_id: 'bench::http', result: { status_code: 200, body: 'hello' } })
  const call = JSON.stringify({ type: 'invokefunction', invocation_id: 'c12', function_id: 'bench::echo', data: { text: 'hello', n: 1 } })
  const routes = new RouteTable()
  routes.add({ worker_id: 'w', trigger_id: 't' }, 'f', parseHttpConfig({ path: '/hello', method: 'GET' }) as HttpRoute)
  routes.add({ worker_id: 'w', trigger_id: 'u' }, 'f', parseHttpConfig({ path: '/users/:id/orders/:order', method: 'GET' }) as HttpRoute)
  const json = Buffer.from(JSON.stringify({ name: 'Ada', tags: ['a', 'b', 'c'], address: { city: 'London', zip: 'N1' }, n: 42, ok: true }))
  const deadlines = new Deadlines<DeadlineEntry>(() => {})
  const entry: DeadlineEntry = { due: 0 }
  // An http call's caller, answered with a value: a plain object with its reply closure, or
  // its exchange (actors/http-stream.ts: made with its key and map entry, its two refs read
  // for the input, answered, released). Writing the response is left out of both.
  const req = {} as IncomingMessage
  const res = {} as ServerResponse
  let written = 0
  const respond = (_res: ServerResponse, _outcome: Outcome, _function_id: string) => void written++
  const exchanges = new Exchanges({ respond, fail: () => {} })
  const ok: Outcome = { result: { status_code: 200, body: 'hello' } }
  let sinkBody: unknown
  let sinkResponse: unknown
  const key = 'Kx3c9Zq0vB7nM2pL5rT8wY'
  const N = 100_000
  return {
    headersCopy: bestNs(N, () => ({ ...headers })),
    queryEmpty: bestNs(N, () => parseQuery('')),
    queryTwo: bestNs(N, () => parseQuery('page=2&sort=name')),
    bodyJson: bestNs(N, () => decodeBody(json, 'application/json')),
    routeStatic: bestNs(N, () => routes.match('GET', '/hello')),
    routeParams: bestNs(N, () => routes.match('GET', '/users/42/orders/7')),
    promCounterAndHistogram: bestNs(N, (i) => (counter.inc({ source: 'http', outcome: 'ok' }), histogram.observe({ source: 'http' }, (i % 100) * 0.0001))),
    ownCounterAndHistogram: bestNs(N, (i) => (counts.get('http')!.get('ok')!.n++, ours.observe('http', (i % 100) * 0.0001))),
    setTimeoutAndClear: bestNs(N, () => clearTimeout(setTimeout(() => {}, 30_000))),
    deadlineAddAndRemove: bestNs(N, () => (deadlines.add(entry, 30_000, performance.now()), deadlines.remove(entry))),
    decodeAnswerValibot: bestNs(N, () => decodeValueBySchema(JSON.parse(answer))),
    decodeAnswer: bestNs(N, () => decodeText(answer)),
    decodeCallValibot: bestNs(N, () => decodeValueBySchema(JSON.parse(call))),
    decodeCall: bestNs(N, () => decodeText(call)),
    jsonParseAnswer: bestNs(N, () => JSON.parse(answer)),
    httpReplyClosure: bestNs(N, () => {
      const caller = { reply: (outcome: Outcome) => respond(res, outcome, 'bench::http') }
      caller.reply(ok)
    }),
    // An http call's frame: its input a plain object with both refs, through JSON.stringify (before); an HttpInput writing its own JSON (now).
    encodeHttpCallPlain: bestNs(N, (i) => {
      const ref = { channel_id: `http:${i}`, access_key: key }
      const data = { method: 'GET', path: '/hello', path_params: {}, query_params: {}, headers, body: null, request_body: { ...ref, direction: 'read' }, response: { ...ref, direction: 'write' } }
      sinkBody = encode({ type: 'invokefunction', function_id: 'bench::http', data, invocation_id: `k3j9x-${i}` })
    }),
    encodeHttpCall: bestNs(N, (i) => {
      const data = new HttpInput('GET', '/hello', {}, {}, headers, null, `http:${i}`, key)
      sinkBody = encode({ type: 'invokefunction', function_id: 'bench::http', data, invocation_id: `k3j9x-${i}` })
    }),
    httpExchange: bestNs(N, () => {
      const exchange = exchanges.open(req, res, 'bench::http', 30_000, undefined)
      sinkBody = exchange.channel_id
      sinkResponse = exchange.key
      exchange.reply(ok)
    }),
  }
}

/**
 * The engine's own CPU per call, with no socket: two in-process sessions, one calling a
 * function the other serves, 1 or 64 calls in flight; each frame goes in as text, as a
 * WebSocket delivers it (the test's own JSON.stringify of each frame is included).
 */
async function callLoop() {
  const engine = await createEngine({ logLevel: 'silent' })
  let onAnswer: (m: { type: string }) => void = () => {}
  const caller = engine.openSession({ out: (m) => onAnswer(m), end() {} })!
  const server = engine.openSession({
    out: (m) => {
      if (m.type === 'invokefunction') server.receiveText(JSON.stringify({ type: 'invocationresult', invocation_id: m.invocation_id, function_id: m.function_id, result: m.data }))
    },
    end() {},
  })!
  server.receiveText(JSON.stringify({ type: 'registerfunction', id: 'echo' }))
  await new Promise((r) => setTimeout(r, 50))
  const data = { text: 'hello', n: 1 }
  let seq = 0
  const run = (n: number, inflight: number) =>
    new Promise<void>((resolve) => {
      let left = n
      let sent = 0
      const fire = () => (sent++, caller.receiveText(JSON.stringify({ type: 'invokefunction', invocation_id: `c${++seq}`, function_id: 'echo', data })))
      onAnswer = (m) => {
        if (m.type !== 'invocationresult') return
        if (--left === 0) return resolve()
        if (sent < n) fire()
      }
      for (let k = 0; k < inflight; k++) fire()
    })
  const out: Record<string, number> = {}
  for (const inflight of [1, 64]) {
    await run(20_000, inflight)
    let best = Infinity
    for (let r = 0; r < 9; r++) {
      const c0 = process.cpuUsage()
      await run(10_000, inflight)
      const c = process.cpuUsage(c0)
      best = Math.min(best, (c.user + c.system) / 10_000)
    }
    out[`inflight${inflight}`] = best
  }
  await engine.stop()
  return out
}

serveTasks({ run: async () => ({ croner: croner(), sqlite: sqlite(), router: router(), hotPath: hotPath(), callLoop: await callLoop() }) })
