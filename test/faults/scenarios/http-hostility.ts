/**
 * Hostile HTTP clients against the HTTP listener of `signalbox serve`, spoken byte by byte
 * over TCP (raw-http.ts), while a control pair and an http route carry traffic beside them.
 * Proves that each is answered as docs/limits.md and docs/protocol.md say, and reaches no
 * function:
 * - a request head over `--http-max-header-bytes` (one huge header, or many): 431;
 * - a body over `--http-max-body`, declared or streamed: 413;
 * - a body that is not JSON though it says it is (made by fast-check): 400 `invalid_json`;
 * - a path parameter that is not valid percent-encoding (`/items/100%/view`): 400, while
 *   `/items/100%25/view` reaches the function as `100%`;
 * - path traversal (`/../`, `%2e%2e`, `..%2f` inside a parameter): 400;
 * - bytes that are not HTTP: 400;
 * - slowloris clients, trickling their headers or their body: cut off (408) once
 *   `--http-headers-timeout-ms` or `--http-request-timeout-ms` has passed;
 * and that meanwhile the control traffic never fails, the functions see only well-formed
 * requests, and the engine holds nothing more afterwards.
 */
import fc from 'fast-check'
import * as assert from 'uvu/assert'
import { connectWorker } from '../../../client/ws-client.js'
import type { WorkerClient } from '../../../client/worker.js'
import { until } from '../../harness.js'
import { startControlTraffic, type ControlTraffic } from '../control-traffic.js'
import { cleanUpEngines, startServe } from '../engine-process.js'
import { fmt, type Outcome } from '../outcome.js'
import { rawHttp, request, type RawAnswer } from '../raw-http.js'

export interface HttpSize {
  /** Rounds, each every kind of hostile request `perKind` times, beside `slowClients` slow ones. */
  rounds: number
  perKind: number
  slowClients: number
  seed: number
}

export const HTTP_SHORT: HttpSize = { rounds: 1, perKind: 6, slowClients: 40, seed: 31337 }
export const HTTP_LONG: HttpSize = { rounds: 10, perKind: 60, slowClients: 200, seed: 31337 }

const MAX_HEADER = 8192
const MAX_BODY = 65536
const HEADERS_TIMEOUT = 1000
const REQUEST_TIMEOUT = 2000
/** How late after its deadline a slow client may still be cut off (Node checks every quarter deadline; the machine may be loaded). */
const CUT_SLACK_MS = 2500

/** One hostile request: what to send, and what must come back. */
interface Hostile {
  kind: string
  send: (port: number) => Promise<RawAnswer>
  status: number
  /** The error code of the JSON answer, when there is one. */
  code?: string
  /** A text the answer's message must hold. */
  says?: RegExp
}

const BAD_ESCAPES = ['100%', '%', '%%', '%zz', '%E0%A4%A', '%C3', '%G1', 'a%2', '%u0041']
const TRAVERSALS = ['/files/../etc/passwd', '/files/%2e%2e/etc/passwd', '/files/%2E%2e/%2e%2E/etc', '/files/..%2fetc%2fpasswd', '/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/items/../view', '/items/%2e%2e/view', '/items/..%2f..%2fadmin/view', '/files/a/./b', '/../items/1/view', '/files/..']

/** JSON text spoiled so that it no longer parses: truncated, or a character replaced. */
const notJson = fc
  .tuple(fc.json({ maxDepth: 3 }), fc.nat(), fc.constantFrom('{', '}', '"', ',', ':', '\\', 'x', ']'))
  .map(([text, at, ch]) => (at % 2 === 0 ? text.slice(0, at % Math.max(1, text.length)) : text.slice(0, at % text.length) + ch + text.slice((at % text.length) + 1)))
  .filter((text) => {
    if (text.trim() === '') return false
    try {
      JSON.parse(text)
      return false
    } catch {
      return true
    }
  })
/** Bytes that are not HTTP: a NUL first, so that no parser reads a method. */
const garbage = fc.uint8Array({ minLength: 1, maxLength: 2048 }).map((b) => Buffer.concat([Buffer.from([0]), b]))

/** The hostile requests of one round: `perKind` of each kind, the same for the same seed and round. */
function hostileRequests(size: HttpSize, round: number): Hostile[] {
  const seed = size.seed + round
  const n = size.perKind
  const out: Hostile[] = []
  const sizes = fc.sample(fc.integer({ min: MAX_HEADER + 1, max: 64 * 1024 }), { seed, numRuns: n })
  for (const bytes of sizes) out.push({ kind: 'header too large', status: 431, send: (port) => request(port, 'GET', '/items/1/view', { 'X-Big': 'a'.repeat(bytes) }) })
  for (let i = 0; i < n; i++) {
    const headers = Object.fromEntries(Array.from({ length: 300 + i }, (_, h) => [`X-H${h}`, 'v'.repeat(30)]))
    out.push({ kind: 'too many headers', status: 431, send: (port) => request(port, 'GET', '/items/1/view', headers) })
  }
  for (const bytes of fc.sample(fc.integer({ min: MAX_BODY + 1, max: 64 * 1024 * 1024 }), { seed, numRuns: n })) {
    out.push({ kind: 'body too large (declared)', status: 413, code: 'payload_too_large', send: (port) => request(port, 'POST', '/items', { 'Content-Type': 'application/json', 'Content-Length': String(bytes) }, '{"a":') })
  }
  for (const chunks of fc.sample(fc.integer({ min: 2, max: 12 }), { seed, numRuns: n })) {
    const piece = `${(16 * 1024).toString(16)}\r\n${'7'.repeat(16 * 1024)}\r\n`
    const body = piece.repeat(Math.ceil(MAX_BODY / (16 * 1024)) + chunks) + '0\r\n\r\n'
    out.push({ kind: 'body too large (streamed)', status: 413, code: 'payload_too_large', send: (port) => request(port, 'POST', '/items', { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }, body) })
  }
  for (const text of fc.sample(notJson, { seed, numRuns: n })) {
    out.push({ kind: 'malformed JSON', status: 400, code: 'invalid_json', send: (port) => request(port, 'POST', '/items', { 'Content-Type': 'application/json' }, text) })
  }
  for (let i = 0; i < n; i++) {
    const id = BAD_ESCAPES[(i + round) % BAD_ESCAPES.length]
    out.push({ kind: 'malformed percent-escape', status: 400, code: 'bad_request', says: /not valid percent-encoding/, send: (port) => request(port, 'GET', `/items/${id}/view`) })
  }
  for (let i = 0; i < n; i++) {
    const path = TRAVERSALS[(i + round) % TRAVERSALS.length]
    out.push({ kind: 'path traversal', status: 400, code: 'bad_request', says: /'\.' or '\.\.' segment/, send: (port) => request(port, 'GET', path) })
  }
  for (const bytes of fc.sample(garbage, { seed, numRuns: n })) out.push({ kind: 'not HTTP', status: 400, send: (port) => rawHttp(port, { head: bytes }) })
  return out
}

/** A slow client: its headers (or, every other one, its body) trickled a few bytes every 200 ms. */
function slowClient(port: number, i: number): Promise<RawAnswer & { deadline: number; kind: string }> {
  if (i % 2 === 0) {
    return rawHttp(port, { head: 'GET /items/1/view HTTP/1.1\r\nHost: 127.0.0.1\r\n', trickle: { piece: 'X-Slow: a\r\n', intervalMs: 200, max: 500 }, timeoutMs: 30_000 }).then((a) => ({ ...a, deadline: HEADERS_TIMEOUT, kind: 'headers' }))
  }
  return rawHttp(port, {
    head: 'POST /items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n',
    trickle: { piece: ' ', intervalMs: 200, max: 500 },
    timeoutMs: 30_000,
  }).then((a) => ({ ...a, deadline: REQUEST_TIMEOUT, kind: 'body' }))
}

/** Runs `tasks` with at most `width` at once. */
async function pool<T>(tasks: Array<() => Promise<T>>, width: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(width, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++
        out[i] = await tasks[i]()
      }
    }),
  )
  return out
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

export async function httpHostility(size: HttpSize): Promise<Outcome> {
  const started = Date.now()
  let control: ControlTraffic | undefined
  let target: WorkerClient | undefined
  try {
    const engine = await startServe({
      memoryStore: true,
      flags: ['--http-max-header-bytes', String(MAX_HEADER), '--http-max-body', String(MAX_BODY), '--http-headers-timeout-ms', String(HEADERS_TIMEOUT), '--http-request-timeout-ms', String(REQUEST_TIMEOUT)],
    })
    const port = Number(new URL(engine.httpUrl).port)
    // The functions behind the routes the hostile requests aim at: each records what reached it.
    const reached: Array<{ fn: string; path: string; params: Record<string, string>; body?: unknown }> = []
    target = await connectWorker(engine.url, { name: 'http-target', reconnect: false, logger: false })
    const record = (fn: string) => (req: { path: string; path_params: Record<string, string>; body?: unknown }) => {
      reached.push({ fn, path: req.path, params: req.path_params, body: req.body })
      return { status_code: 200, body: { fn, params: req.path_params } }
    }
    target.registerFunction('h::item', record('item'))
    target.registerFunction('h::post', record('post'))
    target.registerFunction('h::files', record('files'))
    for (const [id, function_id, path, method] of [
      ['item', 'h::item', '/items/:id/view', 'GET'],
      ['post', 'h::post', '/items', 'POST'],
      ['files', 'h::files', '/files/*', 'GET'],
    ]) {
      const r = await target.registerTrigger({ id, trigger_type: 'http', function_id, config: { path, method } })
      assert.not.ok(r.error, JSON.stringify(r))
    }
    const traffic = (control = await startControlTraffic(engine))
    await until(() => traffic.progress().requests > 10, 10_000, 'control traffic to flow')
    const quietMs = traffic.requestMs()

    const counts = new Map<string, number>()
    let slowCut = 0
    let slowestCut = 0
    let escapesPassed = 0
    for (let round = 0; round < size.rounds; round++) {
      const slow = Array.from({ length: size.slowClients }, (_, i) => slowClient(port, i))
      const hostile = hostileRequests(size, round)
      const answers = await pool(hostile.map((h) => () => h.send(port)), 16)
      for (const [i, h] of hostile.entries()) {
        const a = answers[i]
        let code: string | undefined
        let message = ''
        try {
          const body = JSON.parse(a.body)
          code = body?.error?.code
          message = body?.error?.message ?? ''
        } catch {
          /* no JSON body */
        }
        assert.is(a.status, h.status, `round ${round}, ${h.kind} #${i}: answered ${h.status} (got ${a.status} ${a.body.slice(0, 200)})`)
        if (h.code) assert.is(code, h.code, `round ${round}, ${h.kind} #${i}: code ${h.code} (got ${a.body.slice(0, 200)})`)
        if (h.says) assert.match(message, h.says, `round ${round}, ${h.kind} #${i}`)
        assert.ok(a.closedByServer, `round ${round}, ${h.kind} #${i}: the engine closed the connection after answering`)
        counts.set(h.kind, (counts.get(h.kind) ?? 0) + 1)
      }
      // A well-formed escape of '%' reaches the function as '%'.
      for (let i = 0; i < size.perKind; i++) {
        const a = await request(port, 'GET', '/items/100%25/view')
        assert.equal([a.status, JSON.parse(a.body).params], [200, { id: '100%' }], `round ${round}: /items/100%25/view reaches the function as 100%`)
        escapesPassed++
      }
      for (const [i, s] of (await Promise.all(slow)).entries()) {
        assert.ok(s.closedByServer, `round ${round}: slow client ${i} (${s.kind}) was cut off by the engine (open ${s.closedAfterMs} ms)`)
        assert.ok(s.status === undefined || s.status === 408, `round ${round}: slow client ${i} (${s.kind}) got 408 or nothing (got ${s.status})`)
        assert.ok(s.closedAfterMs <= s.deadline + CUT_SLACK_MS, `round ${round}: slow client ${i} (${s.kind}) was cut off within ${s.deadline} ms + ${CUT_SLACK_MS} ms (${s.closedAfterMs} ms)`)
        slowestCut = Math.max(slowestCut, s.closedAfterMs - s.deadline)
        slowCut++
      }
    }

    // What reached the functions: only well-formed requests.
    const bad = reached.filter((r) => Object.values(r.params).some((v) => /(^|\/)\.\.?(\/|$)/.test(v)) || (r.fn === 'item' && r.params.id !== '100%' && !/^\d+$/.test(r.params.id)) || r.fn === 'post' || r.fn === 'files')
    assert.equal(bad.slice(0, 5), [], `no hostile request reached a function (${bad.length} did)`)
    assert.is(reached.filter((r) => r.fn === 'item' && r.params.id === '100%').length, escapesPassed)

    const duringMs = traffic.requestMs().slice(quietMs.length)
    const totals = await traffic.stop()
    assert.equal(totals.failures, [], 'the control traffic never failed')
    assert.ok(duringMs.length > 0, 'the control traffic kept moving')
    target.close()
    await until(async () => (await engine.health()).body.sessions === 0, 10_000, 'every session to be gone')
    assert.ok(engine.alive(), 'the engine is still running')
    const { peakRss } = engine.memory()
    const hostileTotal = [...counts.values()].reduce((a, b) => a + b, 0)
    return {
      title: 'Hostile HTTP clients',
      load: `control calls and http requests in loops; per round ${size.perKind} of each hostile kind (16 at once) and ${size.slowClients} slow clients; ${size.rounds} round${size.rounds > 1 ? 's' : ''}`,
      faults: `slowloris clients trickling headers (cut at ${HEADERS_TIMEOUT} ms) or bodies (cut at ${REQUEST_TIMEOUT} ms)`,
      badInputs: `heads over ${MAX_HEADER} bytes (431), bodies over ${MAX_BODY} bytes declared or chunked (413), malformed JSON (fast-check), malformed percent-escapes (\`/items/100%/view\`), path traversal (\`/../\`, \`%2e%2e\`, \`..%2f\`), bytes that are not HTTP; seed ${size.seed}`,
      lost: 'nothing: every hostile request answered with its status and reaching no function, every slow client cut off, no control failure',
      figures: [
        ['hostile requests answered', fmt.int(hostileTotal)],
        ['slow clients cut off', `${fmt.int(slowCut)} (at most ${fmt.ms(slowestCut)} past the deadline)`],
        ['control requests survived', fmt.int(totals.requests)],
        ['control calls survived', fmt.int(totals.calls)],
        ['control request p50 / p99, quiet', `${fmt.ms(percentile(quietMs, 50))} / ${fmt.ms(percentile(quietMs, 99))}`],
        ['control request p50 / p99, under attack', `${fmt.ms(percentile(duringMs, 50))} / ${fmt.ms(percentile(duringMs, 99))}`],
      ],
      memory: { peakRss },
      seconds: (Date.now() - started) / 1000,
    }
  } finally {
    target?.close()
    await control?.stop()
    await cleanUpEngines()
  }
}
