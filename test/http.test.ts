/**
 * The built-in `http` trigger type, end to end: real HTTP requests against the engine's
 * real listener, over every worker transport. Config validation and its texts, routing
 * (static before `:param` before `*`, per method, 10,000 routes), what a function
 * receives and what its answer becomes, every failure answer, route conflicts and
 * sharing, routes appearing and vanishing with their triggers and sessions, a trigger
 * bound to another session's function, and an iii-sdk worker using iii's config names.
 * (The reference page's http examples are in registration.test.ts.)
 */
import { request as httpRequest } from 'node:http'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { registerWorker } from 'iii-sdk'
import type { Engine, EngineOptions } from '../adapters/engine.js'
import type { WorkerClient } from '../client/worker.js'
import { eachWithEngine, limit, startEngine, until, type EngineCtx, type TestEngine } from './harness.js'
import { peersOver, transports } from './transports.js'

type Ctx = EngineCtx
type Reply = { status: number; headers: Headers; text: string; json: any }

/** A request with fetch; the body is read as text and, when it parses, as JSON. */
async function call(base: string, method: string, path: string, init: { headers?: Record<string, string>; body?: BodyInit } = {}): Promise<Reply> {
  let res: Response
  try {
    res = await fetch(base + path, { method, headers: init.headers, body: init.body })
  } catch (err) {
    throw new Error(`${method} ${path}: ${(err as Error).message} (${String((err as Error).cause)})`)
  }
  const text = await res.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {}
  return { status: res.status, headers: res.headers, text, json }
}

/** A request with node:http, for what fetch cannot do (HEAD bodies, OPTIONS, oversized or chunked bodies). */
function raw(base: string, method: string, path: string, options: { headers?: Record<string, string | number>; chunks?: Buffer[] } = {}) {
  const url = new URL(path, base)
  return new Promise<{ status: number; headers: Record<string, any>; body: Buffer }>((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    // The engine may answer (413) and close before it has read everything we send.
    req.on('error', (err) => (/EPIPE|ECONNRESET/.test((err as NodeJS.ErrnoException).code ?? '') ? undefined : reject(err)))
    for (const c of options.chunks ?? []) req.write(c)
    req.end()
  })
}

const errorBody = (code: string, message: string) => ({ error: { code, message } })

for (const transport of transports) {
  const it = suite<Ctx>(`http over ${transport.name}`)

  eachWithEngine(it)
  const peers = peersOver(transport)
  const worker = (ctx: Ctx, engine: Engine = ctx.engine) => peers.worker(ctx, {}, engine)
  const otherEngine = async (ctx: Ctx, options: EngineOptions) => {
    const e = (await startEngine(options)) as TestEngine
    ctx.closers.push(() => e.stop())
    return e
  }
  /** Registers an http trigger that must succeed. */
  const route = async (w: WorkerClient, id: string, function_id: string, config: Record<string, unknown>) => {
    const result = await w.registerTrigger({ id, trigger_type: 'http', function_id, config })
    assert.equal(result, { type: 'triggerregistrationresult', id, trigger_type: 'http', function_id }, `registering ${id}: ${JSON.stringify(result)}`)
  }
  /** Registers an http trigger that must be refused with invalid_config; returns the message. */
  const refused = async (w: WorkerClient, id: string, function_id: string, config: Record<string, unknown>) => {
    const result = await w.registerTrigger({ id, trigger_type: 'http', function_id, config })
    assert.is(result.error?.code, 'invalid_config', `${id}: ${JSON.stringify(result)}`)
    assert.equal(Object.keys(result).sort(), ['error', 'function_id', 'id', 'trigger_type', 'type'])
    return result.error!.message as string
  }
  /** Waits until every message this worker sent before has been processed by the engine; answers the trigger registrations. */
  const barrier = async (w: WorkerClient) => ({ triggers: (await w.invoke<{ registered_triggers: unknown[] }>('engine::registered-triggers::list', {})).registered_triggers })
  const get = (ctx: Ctx, path: string, init?: Parameters<typeof call>[3]) => call(ctx.engine.httpUrl!, 'GET', path, init)
  const echoWorker = async (ctx: Ctx, id = 'echo') => {
    const w = await worker(ctx)
    w.registerFunction(id, (input) => ({ status_code: 200, body: { fn: id, input } }))
    return w
  }

  // ---------------------------------------------------------------- config validation

  it('config refusals name the field, what was expected and what came', limit(async (ctx) => {
    const w = await echoWorker(ctx)
    const cases: Array<[Record<string, unknown>, string]> = [
      [{}, "'path' is required: a path such as '/webhooks/github', got nothing"],
      [{ method: 'POST' }, "'path' is required: a path such as '/webhooks/github', got nothing"],
      [{ path: '' }, "'path' must not be empty; give '/' for the root"],
      [{ api_path: '' }, "'api_path' must not be empty; give '/' for the root"],
      [{ path: 42 }, "'path' must be a string such as '/webhooks/github', got 42"],
      [{ path: ['/a'] }, "'path' must be a string such as '/webhooks/github', got an array"],
      [{ api_path: null }, "'api_path' must be a string such as '/webhooks/github', got null"],
      [{ path: 'a//b' }, "'path' must not contain empty segments ('//'), got '/a//b'"],
      [{ api_path: 'a b' }, "'api_path' must not contain '?', '#' or spaces, got '/a b'"],
      [{ path: 'x', api_path: 'y' }, "give 'path' or its alias 'api_path', not both with different values, got 'x' and 'y'"],
      [{ path: '/users/:1id' }, "'path' parameter ':1id' must be named with letters, digits and '_', not starting with a digit (e.g. ':id' or '{id}')"],
      [{ path: '/users/:' }, "'path' parameter ':' must be named with letters, digits and '_', not starting with a digit (e.g. ':id' or '{id}')"],
      [{ path: '/users/:user-id' }, "'path' parameter ':user-id' must be named with letters, digits and '_', not starting with a digit (e.g. ':id' or '{id}')"],
      [{ path: '/users/{}' }, "'path' parameter '{}' must be named with letters, digits and '_', not starting with a digit (e.g. ':id' or '{id}')"],
      [{ path: '/users/:id/posts/{id}' }, "'path' uses parameter 'id' twice, got '/users/:id/posts/{id}'"],
      [{ path: '/users/id:x' }, "'path' segment 'id:x' mixes text with ':', '{', '}' or '*'; a parameter takes a whole segment (e.g. '/users/:id')"],
      [{ path: '/files*' }, "'path' segment 'files*' mixes text with ':', '{', '}' or '*'; a parameter takes a whole segment (e.g. '/users/:id')"],
      [{ path: '/files/*/x' }, "'path' may use '*' only as its last segment, got '/files/*/x'"],
      [{ path: '/a//b' }, "'path' must not contain empty segments ('//'), got '/a//b'"],
      [{ path: '/a?b=1' }, "'path' must not contain '?', '#' or spaces, got '/a?b=1'"],
      [{ path: '/a b' }, "'path' must not contain '?', '#' or spaces, got '/a b'"],
      [{ path: '/a/(b)' }, "'path' must not contain '(', ')', '\\' or control characters (percent-encode them), got '/a/(b)'"],
      // Router syntax the router would choke on (an unclosed group) or read as a pattern.
      [{ path: '/a/(b' }, "'path' must not contain '(', ')', '\\' or control characters (percent-encode them), got '/a/(b'"],
      [{ path: '/a/\\d' }, "'path' must not contain '(', ')', '\\' or control characters (percent-encode them), got '/a/\\d'"],
      [{ path: '/a/../b' }, "'path' must not contain '.' or '..' segments, got '/a/../b'"],
      [{ path: '/files/:name/..' }, "'path' must not contain '.' or '..' segments, got '/files/:name/..'"],
      [{ path: '/files/%2E' }, "'path' must not contain '.' or '..' segments, got '/files/%2E'"],
      [{ path: '/x', method: 'FETCH' }, "'method' must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (any case), got 'FETCH'"],
      [{ path: '/x', method: 7 }, "'method' must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (any case), got 7"],
      [{ path: '/x', method: '' }, "'method' must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (any case), got ''"],
      [{ path: '/x', http_method: 'TRACE' }, "'http_method' must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (any case), got 'TRACE'"],
      [{ path: '/x', api_path: '/y' }, "give 'path' or its alias 'api_path', not both with different values, got '/x' and '/y'"],
      [{ path: '/x', method: 'GET', http_method: 'POST' }, "give 'method' or its alias 'http_method', not both with different values, got 'GET' and 'POST'"],
      [{ path: '/x', timeout_ms: 0 }, "'timeout_ms' must be at least 1, got 0"],
      [{ path: '/x', timeout_ms: 'fast' }, "'timeout_ms' must be a number of milliseconds, got 'fast'"],
      [{ path: '/x', timeout_ms: 1.5 }, "'timeout_ms' must be a whole number of milliseconds, got 1.5"],
    ]
    let n = 0
    for (const [config, message] of cases) assert.is(await refused(w, `bad${++n}`, 'echo', config), message, JSON.stringify(config))
    // Nothing was routed by any of them, every id is free again, and the listener serves on.
    assert.is((await get(ctx, '/x')).status, 404)
    await route(w, 'bad1', 'echo', { path: '/x' })
    assert.is((await get(ctx, '/x')).status, 200)
    assert.equal(ctx.engine.log.records.filter((r) => r.level === 'error'), [])
  }))

  it('accepted forms: {name} params, trailing *, any-case methods, default GET, iii aliases', limit(async (ctx) => {
    const w = await echoWorker(ctx)
    await route(w, 'braces', 'echo', { path: '/orgs/{org}/repos/{repo}' })
    await route(w, 'rest', 'echo', { path: '/files/*', method: 'get' })
    await route(w, 'lower', 'echo', { path: '/lower', method: 'pAtCh' })
    await route(w, 'default', 'echo', { path: '/default' })
    await route(w, 'iii', 'echo', { api_path: '/iii/:id', http_method: 'put' })
    await route(w, 'same', 'echo', { path: '/same', api_path: '/same', method: 'POST', http_method: 'POST' })
    await route(w, 'root', 'echo', { path: '/' })
    // iii writes paths without the leading slash: one is added (and extra ones dropped).
    await route(w, 'bare', 'echo', { api_path: 'health', http_method: 'GET' })
    await route(w, 'bareParams', 'echo', { path: 'bare/:id/*' })
    await route(w, 'slashes', 'echo', { path: '//slashes' })
    await route(w, 'mixed', 'echo', { path: 'mixed', api_path: '/mixed' })

    const braces = await get(ctx, '/orgs/acme/repos/rocket')
    assert.equal(braces.json.input.path_params, { org: 'acme', repo: 'rocket' })
    const rest = await get(ctx, '/files/a/b/c.txt')
    assert.equal(rest.json.input.path_params, { '*': 'a/b/c.txt' })
    assert.is((await call(ctx.engine.httpUrl!, 'PATCH', '/lower')).status, 200)
    assert.is((await get(ctx, '/lower')).status, 405)
    assert.is((await get(ctx, '/default')).json.input.method, 'GET')
    assert.is((await call(ctx.engine.httpUrl!, 'POST', '/default')).status, 405)
    const iii = await call(ctx.engine.httpUrl!, 'PUT', '/iii/7')
    assert.equal(iii.json.input.path_params, { id: '7' })
    assert.is((await call(ctx.engine.httpUrl!, 'POST', '/same')).status, 200)
    assert.is((await get(ctx, '/')).json.input.path, '/')
    assert.is((await get(ctx, '/health')).json.input.path, '/health')
    assert.equal((await get(ctx, '/bare/7/a/b')).json.input.path_params, { id: '7', '*': 'a/b' })
    assert.is((await get(ctx, '/slashes')).status, 200)
    assert.is((await get(ctx, '/mixed')).status, 200)
    // The same route written both ways is one route, shared by the same function.
    await route(w, 'healthAgain', 'echo', { path: '/health' })
  }))

  // ---------------------------------------------------------------- routing

  it('static beats :param beats *, per method; path params are decoded', limit(async (ctx) => {
    const w = await worker(ctx)
    for (const id of ['static', 'param', 'rest', 'post_static']) w.registerFunction(id, (input) => ({ fn: id, params: input.path_params, path: input.path }))
    await route(w, 'r1', 'rest', { path: '/users/*' })
    await route(w, 'r2', 'param', { path: '/users/:id' })
    await route(w, 'r3', 'static', { path: '/users/me' })
    await route(w, 'r4', 'post_static', { path: '/items/special', method: 'POST' })
    await route(w, 'r5', 'param', { path: '/items/:id' })

    assert.equal((await get(ctx, '/users/me')).json, { fn: 'static', params: {}, path: '/users/me' })
    assert.equal((await get(ctx, '/users/42')).json, { fn: 'param', params: { id: '42' }, path: '/users/42' })
    assert.equal((await get(ctx, '/users/42/posts/7')).json, { fn: 'rest', params: { '*': '42/posts/7' }, path: '/users/42/posts/7' })
    assert.equal((await get(ctx, '/users/me/posts')).json, { fn: 'rest', params: { '*': 'me/posts' }, path: '/users/me/posts' })
    // A trailing slash names the same route.
    assert.equal((await get(ctx, '/users/me/')).json.fn, 'static')
    // Decoding: percent-escapes, an encoded '/', UTF-8; `path` stays as it came.
    assert.equal((await get(ctx, '/users/a%20b%2Fc')).json, { fn: 'param', params: { id: 'a b/c' }, path: '/users/a%20b%2Fc' })
    assert.equal((await get(ctx, '/users/caf%C3%A9')).json.params, { id: 'café' })
    assert.equal((await get(ctx, '/users/x/%E2%9C%93')).json.params, { '*': 'x/✓' })
    // Non-ASCII in a route's own text matches the percent-encoded form clients send.
    await route(w, 'r6', 'param', { path: '/städte/:name' })
    assert.equal((await get(ctx, '/städte/köln')).json, { fn: 'param', params: { name: 'köln' }, path: '/st%C3%A4dte/k%C3%B6ln' })
    // A malformed escape is refused: `100%` must not reach the function as `100%25` does.
    const malformed = await get(ctx, '/users/100%')
    assert.is(malformed.status, 400)
    assert.equal(malformed.json, { error: { code: 'bad_request', message: `Path parameter 'id' is not valid percent-encoding: "100%" (write '%' as '%25')` } })
    assert.equal((await get(ctx, '/users/100%25')).json.params, { id: '100%' })
    // Path traversal is refused: no function is handed a path that climbs out of where it looks.
    const traversal = await get(ctx, '/users/..%2f..%2fetc/posts')
    assert.is(traversal.status, 400)
    assert.equal(traversal.json, { error: { code: 'bad_request', message: `Path parameter '*' has a '.' or '..' segment once decoded: "..%2f..%2fetc/posts"; such paths are refused` } })
    // The most specific path bound for the request's own method wins: GET falls through
    // the POST-only static route to the GET :param route.
    assert.equal((await get(ctx, '/items/special')).json, { fn: 'param', params: { id: 'special' }, path: '/items/special' })
    assert.equal((await call(ctx.engine.httpUrl!, 'POST', '/items/special')).json.fn, 'post_static')
  }))

  // ---------------------------------------------------------------- the function's input

  it('input: method, path, query params (repeated keys as arrays), headers', limit(async (ctx) => {
    const w = await worker(ctx)
    let seen: any
    w.registerFunction('look', (input) => ((seen = input), null))
    await route(w, 'look', 'look', { path: '/look/:id', method: 'DELETE' })
    const res = await call(ctx.engine.httpUrl!, 'DELETE', '/look/9?a=1&b=two&a=3&a=4&empty=&sp=x%20y&plus=a+b&u=%C3%A9&flag', { headers: { 'X-Token': 'abc', 'X-Multi': 'v1' } })
    assert.is(res.status, 204)
    assert.equal(Object.keys(seen).sort(), ['body', 'headers', 'method', 'path', 'path_params', 'query_params', 'request_body', 'response'])
    // iii's streams: refs to the two ends the function holds.
    assert.equal([seen.request_body.direction, seen.response.direction], ['read', 'write'])
    assert.is(seen.method, 'DELETE')
    assert.is(seen.path, '/look/9')
    assert.equal(seen.path_params, { id: '9' })
    assert.equal(seen.query_params, { a: ['1', '3', '4'], b: 'two', empty: '', sp: 'x y', plus: 'a b', u: 'é', flag: '' })
    assert.is(seen.headers['x-token'], 'abc')
    assert.is(seen.headers['x-multi'], 'v1')
    assert.is(seen.headers.host, new URL(ctx.engine.httpUrl!).host)
    assert.is(seen.body, null)
    // No query at all: an empty object; a query key named __proto__ is just a key.
    assert.is((await call(ctx.engine.httpUrl!, 'DELETE', '/look/1')).status, 204)
    assert.equal(seen.query_params, {})
    await call(ctx.engine.httpUrl!, 'DELETE', '/look/1?__proto__=x&constructor=y')
    assert.is(Object.getPrototypeOf(seen.query_params), Object.prototype, 'a plain object, as over every transport')
    assert.equal(Object.entries(seen.query_params), [['__proto__', 'x'], ['constructor', 'y']])
  }))

  it('input bodies: JSON parsed, forms as objects, text as strings, the rest base64 with a marker', limit(async (ctx) => {
    const w = await worker(ctx)
    const bodies: unknown[] = []
    w.registerFunction('sink', (input) => (bodies.push(input.body), 'ok'))
    await route(w, 'sink', 'sink', { path: '/sink', method: 'POST' })
    const post = (body: BodyInit, type?: string) => call(ctx.engine.httpUrl!, 'POST', '/sink', { body, headers: type ? { 'content-type': type } : {} })
    assert.is((await post('{"a":[1,2,{"b":null}],"s":"é"}', 'application/json')).status, 200)
    await post('{"data":{"id":"1"}}', 'application/vnd.api+json; charset=utf-8')
    await post('a=1&b=x+y&a=2&c=%C3%A9', 'application/x-www-form-urlencoded')
    await post('héllo wörld', 'text/plain; charset=utf-8')
    await post('<a>1</a>', 'application/xml')
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255])
    await post(bytes, 'application/octet-stream')
    await post(bytes, 'image/png')
    await post('', 'application/json')
    assert.equal(bodies, [
      { a: [1, 2, { b: null }], s: 'é' },
      { data: { id: '1' } },
      { a: ['1', '2'], b: 'x y', c: 'é' },
      'héllo wörld',
      '<a>1</a>',
      { $binary: bytes.toString('base64'), content_type: 'application/octet-stream' },
      { $binary: bytes.toString('base64'), content_type: 'image/png' },
      null,
    ])
    // A body without a content type is read as text.
    await raw(ctx.engine.httpUrl!, 'POST', '/sink', { headers: { 'content-length': 5 }, chunks: [Buffer.from('plain')] })
    assert.is(bodies.at(-1), 'plain')
  }))

  // ---------------------------------------------------------------- what the answer becomes

  it('answers: objects as JSON, strings as text, status codes, headers as a map or a list', limit(async (ctx) => {
    const w = await worker(ctx)
    const answers: Record<string, unknown> = {
      object: { status_code: 201, body: { created: true, n: [1, 2] } },
      text: { body: 'plain words' },
      map: { status_code: 202, headers: { 'X-One': '1', 'Set-Cookie': ['a=1', 'b=2'], 'Cache-Control': 'no-store' }, body: 'with headers' },
      list: { headers: ['X-Two: 2', 'Content-Type: text/csv; charset=utf-8', 'X-Colon: a: b'], body: 'a,b\n1,2' },
      typed: { headers: { 'content-type': 'application/json' }, body: '{"raw":true}' },
      empty: { status_code: 204 },
      dropped: { status_code: 204, body: { never: 'sent' } },
      nothing: { status_code: 200 },
      redirect: { status_code: 302, headers: { Location: '/elsewhere' } },
      teapot: { status_code: 418, body: { short: 'and stout' } },
      binary: { body: { $binary: Buffer.from([137, 80, 78, 71]).toString('base64'), content_type: 'image/png' } },
      frame: { headers: { 'Content-Length': '999' }, body: 'sized by the engine' },
    }
    w.registerFunction('answer', (input) => answers[input.path_params.kind])
    await route(w, 'answer', 'answer', { path: '/answer/:kind' })
    const at = (kind: string) => get(ctx, `/answer/${kind}`)

    let r = await at('object')
    assert.is(r.status, 201)
    assert.is(r.headers.get('content-type'), 'application/json; charset=utf-8')
    assert.equal(r.json, { created: true, n: [1, 2] })

    r = await at('text')
    assert.is(r.status, 200)
    assert.is(r.headers.get('content-type'), 'text/plain; charset=utf-8')
    assert.is(r.text, 'plain words')

    r = await at('map')
    assert.is(r.status, 202)
    assert.is(r.headers.get('x-one'), '1')
    assert.equal(r.headers.getSetCookie(), ['a=1', 'b=2'])
    assert.is(r.headers.get('cache-control'), 'no-store')
    assert.is(r.text, 'with headers')

    r = await at('list')
    assert.is(r.headers.get('x-two'), '2')
    assert.is(r.headers.get('x-colon'), 'a: b')
    assert.is(r.headers.get('content-type'), 'text/csv; charset=utf-8')
    assert.is(r.text, 'a,b\n1,2')

    r = await at('typed')
    assert.is(r.headers.get('content-type'), 'application/json')
    assert.is(r.text, '{"raw":true}', 'a string body is sent as it is')

    r = await at('empty')
    assert.is(r.status, 204)
    assert.is(r.text, '')
    r = await at('dropped')
    assert.is(r.status, 204)
    assert.is(r.text, '', 'a 204 carries no body, whatever the function returned')
    assert.is(r.headers.get('content-length'), null)
    r = await at('nothing')
    assert.is(r.status, 200)
    assert.is(r.text, '')

    const redirect = await raw(ctx.engine.httpUrl!, 'GET', '/answer/redirect')
    assert.is(redirect.status, 302)
    assert.is(redirect.headers.location, '/elsewhere')

    r = await at('teapot')
    assert.is(r.status, 418)
    assert.equal(r.json, { short: 'and stout' })

    const png = await raw(ctx.engine.httpUrl!, 'GET', '/answer/binary')
    assert.is(png.headers['content-type'], 'image/png')
    assert.equal([...png.body], [137, 80, 78, 71])

    r = await at('frame')
    assert.is(r.text, 'sized by the engine')
    assert.is(r.headers.get('content-length'), String('sized by the engine'.length))
  }))

  it('answers: a plain value that is not a response is the body of a 200', limit(async (ctx) => {
    const w = await worker(ctx)
    const values: Record<string, unknown> = { obj: { hello: 'world' }, arr: [1, 'two'], num: 42, bool: false, str: 'just text', nul: null, zero: 0 }
    w.registerFunction('plain', (input) => values[input.path_params.kind])
    await route(w, 'plain', 'plain', { path: '/plain/:kind' })
    const at = (kind: string) => get(ctx, `/plain/${kind}`)
    let r = await at('obj')
    assert.is(r.status, 200)
    assert.is(r.headers.get('content-type'), 'application/json; charset=utf-8')
    assert.equal(r.json, { hello: 'world' })
    assert.equal((await at('arr')).json, [1, 'two'])
    r = await at('num')
    assert.is(r.text, '42')
    assert.is(r.headers.get('content-type'), 'application/json; charset=utf-8')
    assert.is((await at('bool')).text, 'false')
    assert.is((await at('zero')).text, '0')
    r = await at('str')
    assert.is(r.text, 'just text')
    assert.is(r.headers.get('content-type'), 'text/plain; charset=utf-8')
    r = await at('nul')
    assert.is(r.status, 204)
    assert.is(r.text, '')
  }))

  it('answers a function cannot make are a 500 that says why', limit(async (ctx) => {
    const w = await worker(ctx)
    const answers: Record<string, unknown> = {
      status: { status_code: 42, body: 'x' },
      status_text: { status_code: '200', body: 'x' },
      header_line: { headers: ['no colon here'], body: 'x' },
      header_type: { headers: 'x-a: 1', body: 'x' },
      header_value: { headers: { 'x-bad': 'line\nbreak' }, body: 'x' },
    }
    w.registerFunction('broken', (input) => answers[input.path_params.kind])
    await route(w, 'broken', 'broken', { path: '/broken/:kind' })
    const expect: Record<string, string> = {
      status: "Function 'broken' returned status_code 42; expected a whole number from 200 to 599",
      status_text: 'Function \'broken\' returned status_code "200"; expected a whole number from 200 to 599',
      header_line: 'Function \'broken\' returned bad headers: header "no colon here" is not of the form \'Name: value\'',
      header_type: "Function 'broken' returned bad headers: 'headers' must be a map or a list of 'Name: value' strings",
    }
    for (const kind of Object.keys(answers)) {
      const r = await get(ctx, `/broken/${kind}`)
      assert.is(r.status, 500, kind)
      assert.is(r.json.error.code, 'invalid_response', kind)
      if (expect[kind]) assert.is(r.json.error.message, expect[kind])
      else assert.match(r.json.error.message, /^Function 'broken' returned headers Node cannot send: /)
    }
  }))

  it('HEAD is served by the GET route without a body; OPTIONS lists what is allowed', limit(async (ctx) => {
    const w = await worker(ctx)
    const methods: string[] = []
    w.registerFunction('doc', (input) => (methods.push(input.method), { headers: { 'x-doc': '1' }, body: 'document body' }))
    w.registerFunction('opts', () => ({ status_code: 200, headers: { 'x-opts': 'mine' } }))
    await route(w, 'doc-get', 'doc', { path: '/doc' })
    await route(w, 'doc-post', 'doc', { path: '/doc', method: 'POST' })
    await route(w, 'own-options', 'opts', { path: '/own', method: 'OPTIONS' })
    await route(w, 'own-get', 'doc', { path: '/own' })

    const head = await raw(ctx.engine.httpUrl!, 'HEAD', '/doc')
    assert.is(head.status, 200)
    assert.is(head.body.length, 0)
    assert.is(head.headers['x-doc'], '1')
    assert.is(head.headers['content-length'], String('document body'.length))
    assert.equal(methods, ['HEAD'])

    const options = await raw(ctx.engine.httpUrl!, 'OPTIONS', '/doc')
    assert.is(options.status, 204)
    assert.is(options.headers.allow, 'GET, POST, HEAD, OPTIONS')
    // A route bound to OPTIONS answers it itself.
    const own = await raw(ctx.engine.httpUrl!, 'OPTIONS', '/own')
    assert.is(own.status, 200)
    assert.is(own.headers['x-opts'], 'mine')
    // OPTIONS on a path nobody routes is a 404 like any other method.
    assert.is((await raw(ctx.engine.httpUrl!, 'OPTIONS', '/nowhere')).status, 404)
  }))

  // ---------------------------------------------------------------- failure answers

  it('failure answers: 404 no route, 405 with Allow, 400 unparseable JSON', limit(async (ctx) => {
    const w = await worker(ctx)
    let calls = 0
    w.registerFunction('f', () => (calls++, 'ok'))
    await route(w, 'get', 'f', { path: '/things/:id' })
    await route(w, 'put', 'f', { path: '/things/:id', method: 'PUT' })
    await route(w, 'post', 'f', { path: '/json', method: 'POST' })

    let r = await get(ctx, '/nothing/here?x=1')
    assert.is(r.status, 404)
    assert.is(r.headers.get('content-type'), 'application/json; charset=utf-8')
    assert.equal(r.json, errorBody('route_not_found', 'No route for GET /nothing/here'))
    assert.is((await get(ctx, '/things')).status, 404)

    r = await call(ctx.engine.httpUrl!, 'DELETE', '/things/1')
    assert.is(r.status, 405)
    assert.is(r.headers.get('allow'), 'GET, PUT, HEAD, OPTIONS')
    assert.equal(r.json, errorBody('method_not_allowed', 'DELETE is not allowed on /things/1; allowed: GET, PUT, HEAD, OPTIONS'))
    assert.is((await raw(ctx.engine.httpUrl!, 'PROPFIND', '/things/1')).status, 405)

    r = await call(ctx.engine.httpUrl!, 'POST', '/json', { headers: { 'content-type': 'application/json' }, body: '{"a": 1,' })
    assert.is(r.status, 400)
    assert.is(r.json.error.code, 'invalid_json')
    assert.match(r.json.error.message, /^Request body is not valid JSON: /)
    assert.is(calls, 0, 'the function was not called for any of them')
    assert.is((await call(ctx.engine.httpUrl!, 'POST', '/json', { headers: { 'content-type': 'application/json' }, body: '{"a": 1}' })).text, 'ok')
  }))

  it('failure answers: 413 for a body over the limit, declared or streamed', limit(async (ctx) => {
    const engine = await otherEngine(ctx, { http: { port: 0, maxBodyBytes: 1024 } })
    const w = await worker(ctx, engine)
    const sizes: number[] = []
    w.registerFunction('upload', (input) => (sizes.push(input.body.length), 'stored'))
    await route(w, 'upload', 'upload', { path: '/upload', method: 'POST' })
    const base = engine.httpUrl!
    const text = { 'content-type': 'text/plain' }

    const atLimit = await raw(base, 'POST', '/upload', { headers: { ...text, 'content-length': 1024 }, chunks: [Buffer.alloc(1024, 'a')] })
    assert.is(atLimit.status, 200)
    assert.is(atLimit.body.toString(), 'stored')

    const declared = await raw(base, 'POST', '/upload', { headers: { ...text, 'content-length': 1025 }, chunks: [Buffer.alloc(1025, 'a')] })
    assert.is(declared.status, 413)
    assert.equal(JSON.parse(declared.body.toString()), errorBody('payload_too_large', 'Request body of 1025 bytes exceeds the limit of 1024 bytes'))

    const streamed = await raw(base, 'POST', '/upload', { headers: text, chunks: [Buffer.alloc(600, 'a'), Buffer.alloc(600, 'b')] })
    assert.is(streamed.status, 413)
    assert.equal(JSON.parse(streamed.body.toString()), errorBody('payload_too_large', 'Request body exceeds the limit of 1024 bytes'))

    assert.equal(sizes, [1024], 'the function saw only the body within the limit')
    // The listener goes on serving.
    assert.is((await call(base, 'POST', '/upload', { headers: text, body: 'small' })).text, 'stored')
  }))

  it('failure answers: 500 function error, 504 timeout (config timeout_ms)', limit(async (ctx) => {
    const w = await worker(ctx)
    w.registerFunction('fails', () => {
      throw Object.assign(new Error('the database is on fire'), { code: 'db_down' })
    })
    w.registerFunction('throws', () => {
      throw new Error('plain failure')
    })
    let release!: () => void
    w.registerFunction('slow', () => new Promise<string>((r) => (release = () => r('late'))))
    await route(w, 'fails', 'fails', { path: '/fails' })
    await route(w, 'throws', 'throws', { path: '/throws' })
    await route(w, 'slow', 'slow', { path: '/slow', timeout_ms: 150 })

    let r = await get(ctx, '/fails')
    assert.is(r.status, 500)
    assert.equal(r.json, errorBody('db_down', 'the database is on fire'))
    r = await get(ctx, '/throws')
    assert.is(r.status, 500)
    assert.equal(r.json, errorBody('invocation_failed', 'plain failure'))

    const started = Date.now()
    r = await get(ctx, '/slow')
    assert.is(r.status, 504)
    assert.equal(r.json, errorBody('invocation_timeout', "Function 'slow' did not answer within 150 ms"))
    assert.ok(Date.now() - started >= 140, 'not before the deadline')
    release()
  }))

  it('failure answers: 503 when no live worker serves the function, or it leaves mid-call (naming that worker)', limit(async (ctx) => {
    const server = await peers.worker(ctx, { name: 'hang-server' })
    server.registerFunction('remote', () => 'served')
    let entered!: () => void
    const inside = new Promise<void>((r) => (entered = r))
    server.registerFunction('hang', () => (entered(), new Promise(() => {})))
    const owner = await worker(ctx)
    await route(owner, 'remote', 'remote', { path: '/remote' })
    await route(owner, 'hang', 'hang', { path: '/hang' })
    assert.is((await get(ctx, '/remote')).text, 'served')

    const pending = get(ctx, '/hang')
    await inside
    // Without waiting for its call in hand (close drains for up to 10 s by default).
    server.close({ drainMs: 0 })
    let r = await pending
    assert.is(r.status, 503)
    assert.equal(r.json, errorBody('worker_disconnected', `The worker serving 'hang' disconnected before answering: worker 'hang-server' (${server.workerId})`))

    // The route is the owner's and stays; its function has no live worker now.
    await until(async () => (await get(ctx, '/remote')).status === 503, 2000, 'the server to be gone')
    r = await get(ctx, '/remote')
    assert.equal(r.json, errorBody('function_not_found', "No function registered with ID 'remote'"))
    // A new worker for the function serves the same route again.
    const again = await worker(ctx)
    again.registerFunction('remote', () => 'served again')
    await barrier(again)
    assert.is((await get(ctx, '/remote')).text, 'served again')
  }))

  // ---------------------------------------------------------------- conflicts and sharing

  it('the same method and path for another function is refused, naming the trigger that holds it', limit(async (ctx) => {
    const a = await worker(ctx)
    a.registerFunction('f', () => 'f')
    const b = await worker(ctx)
    b.registerFunction('g', () => 'g')
    await route(a, 'holder', 'f', { path: '/c/:id', method: 'POST' })

    const aId = a.workerId!
    for (const [w, id] of [[b, 'taker'], [a, 'own-taker']] as const) {
      assert.is(
        await refused(w, id, 'g', { path: '/c/:id', method: 'post' }),
        `Route POST /c/:id is already bound to function 'f' by trigger 'holder' of worker '${aId}'`,
      )
      // Other parameter names, {name} syntax, a trailing slash: still the same route.
      assert.is(
        await refused(w, id, 'g', { path: '/c/{key}/', method: 'POST' }),
        `Route POST /c/{key}/ is already bound to function 'f' by trigger 'holder' of worker '${aId}'`,
      )
    }
    // The same function under other parameter names would see other names: refused too.
    assert.is(
      await refused(b, 'renamed', 'f', { path: '/c/:key', method: 'POST' }),
      `Route POST /c/:key is the route POST /c/:id held by trigger 'holder' of worker '${aId}' with other parameter names; use the same names`,
    )
    // Another method on the same path is another route.
    await route(b, 'get-c', 'g', { path: '/c/:key' })
    assert.is((await call(ctx.engine.httpUrl!, 'POST', '/c/1')).text, 'f')
    assert.is((await get(ctx, '/c/1')).text, 'g')
    // Once the holder lets go, the route is free for another function.
    a.unregisterTrigger('holder')
    await barrier(a)
    await route(b, 'taker', 'g', { path: '/c/:id', method: 'POST' })
    assert.is((await call(ctx.engine.httpUrl!, 'POST', '/c/1')).text, 'g')
  }))

  it('bound again to the same function (a replica, a second trigger) the route is shared while any holder lives', limit(async (ctx) => {
    const one = await worker(ctx)
    one.registerFunction('shared', () => 'one')
    const two = await worker(ctx)
    two.registerFunction('shared', () => 'two')
    await route(one, 'hook', 'shared', { path: '/shared', method: 'POST' })
    await route(two, 'hook', 'shared', { path: '/shared', method: 'POST' })
    await route(two, 'hook-again', 'shared', { path: '/shared/', method: 'post' })
    const post = () => call(ctx.engine.httpUrl!, 'POST', '/shared')
    const served = new Set([(await post()).text, (await post()).text])
    assert.equal([...served].sort(), ['one', 'two'], 'replicas share the calls')

    one.unregisterTrigger('hook')
    await barrier(one)
    assert.is((await post()).status, 200)
    two.unregisterTrigger('hook')
    await barrier(two)
    assert.is((await post()).status, 200, 'the second trigger of the same session still holds it')
    two.unregisterTrigger('hook-again')
    await barrier(two)
    assert.is((await post()).status, 404, 'the last holder is gone')
  }))

  // ---------------------------------------------------------------- routes come and go

  it('a route exists the moment its registration succeeds and is gone the moment it is unregistered', limit(async (ctx) => {
    const w = await echoWorker(ctx)
    assert.is((await get(ctx, '/moment')).status, 404)
    await route(w, 'moment', 'echo', { path: '/moment' })
    assert.is((await get(ctx, '/moment')).status, 200)
    w.unregisterTrigger('moment', 'http')
    await barrier(w)
    assert.is((await get(ctx, '/moment')).status, 404)
    // A refused registration leaves nothing behind.
    await refused(w, 'bad', 'echo', { path: '/moment', method: 'NOPE' })
    assert.is((await get(ctx, '/moment')).status, 404)
    const { triggers } = (await barrier(w)) as { triggers: Array<Record<string, unknown>> }
    assert.equal(triggers, [])
  }))

  it('a session that ends takes its routes with it', limit(async (ctx) => {
    const server = await worker(ctx)
    server.registerFunction('f', () => 'f')
    const owner = await worker(ctx)
    await route(owner, 'a', 'f', { path: '/gone/a' })
    await route(owner, 'b', 'f', { path: '/gone/:x', method: 'PUT' })
    const keeper = await worker(ctx)
    await route(keeper, 'kept', 'f', { path: '/kept' })
    assert.is((await get(ctx, '/gone/a')).text, 'f')
    owner.close()
    await until(async () => (await get(ctx, '/gone/a')).status === 404, 2000, 'the routes to vanish')
    assert.is((await call(ctx.engine.httpUrl!, 'PUT', '/gone/1')).status, 404)
    assert.is((await get(ctx, '/kept')).text, 'f', "other sessions' routes stay")
    // Its routes are free for anyone now.
    await route(keeper, 'a', 'f', { path: '/gone/a' })
  }))

  it('an http trigger registered by one session for a function served by another', limit(async (ctx) => {
    const server = await worker(ctx)
    let seen: any
    server.registerFunction('orders::create', (input) => ((seen = input), { status_code: 201, body: { id: 'o-1', item: input.body.item } }))
    const owner = await worker(ctx)
    await route(owner, 'orders', 'orders::create', { path: '/orders', method: 'POST' })
    const r = await call(ctx.engine.httpUrl!, 'POST', '/orders?src=web', { headers: { 'content-type': 'application/json' }, body: '{"item":"book"}' })
    assert.is(r.status, 201)
    assert.equal(r.json, { id: 'o-1', item: 'book' })
    assert.equal(seen.query_params, { src: 'web' })
    const { triggers } = (await barrier(server)) as { triggers: Array<Record<string, any>> }
    assert.equal(
      triggers.map(({ id, trigger_type, function_id, worker_id, state, config }) => ({ id, trigger_type, function_id, worker_id, state, config })),
      [{ id: 'orders', trigger_type: 'http', function_id: 'orders::create', worker_id: owner.workerId, state: 'active', config: { path: '/orders', method: 'POST' } }],
    )
    // The route is the owner's: it goes with the owner, not with the server.
    owner.close()
    await until(async () => (await call(ctx.engine.httpUrl!, 'POST', '/orders')).status === 404, 2000, 'the route to vanish')
  }))

  it.run()
}

// ---------------------------------------------------------------- 10,000 routes

// Routing does not depend on the transport, so this runs once, in-process.
const scale = suite<Ctx>('http router with 10,000 routes')
eachWithEngine(scale)

scale('10,000 routes registered still route correctly', limit(async (ctx) => {
  // One router holds them all; they come from 50 sessions of 200 triggers each (what a
  // session costs grows with its own number of triggers, not with the router's).
  const N = 10_000
  const SESSIONS = 50
  const workers: WorkerClient[] = []
  for (let s = 0; s < SESSIONS; s++) {
    const w = ctx.engine.connect()
    await w.ready()
    ctx.closers.push(() => w.close())
    w.registerFunction('bulk', (input) => ({ path: input.path, params: input.path_params }))
    workers.push(w)
  }
  workers[0].registerFunction('bulk_static', () => 'static')
  const owner = (i: number) => workers[i % SESSIONS]
  const results = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      owner(i).registerTrigger({ id: `bulk${i}`, trigger_type: 'http', function_id: 'bulk', config: i % 2 ? { path: `/bulk/${i}/item/:id` } : { path: `/bulk/${i}`, method: 'POST' } }),
    ),
  )
  assert.equal(results.filter((r) => r.error), [])
  assert.equal(
    await workers[0].registerTrigger({ id: 'bulk-static', trigger_type: 'http', function_id: 'bulk_static', config: { path: '/bulk/9999/item/special' } }),
    { type: 'triggerregistrationresult', id: 'bulk-static', trigger_type: 'http', function_id: 'bulk_static' },
  )
  const base = ctx.engine.httpUrl!
  for (const i of [0, 1, 2, 4999, 5000, 7777, 9998, 9999]) {
    if (i % 2) assert.equal((await call(base, 'GET', `/bulk/${i}/item/x${i}`)).json, { path: `/bulk/${i}/item/x${i}`, params: { id: `x${i}` } })
    else assert.equal((await call(base, 'POST', `/bulk/${i}`)).json, { path: `/bulk/${i}`, params: {} })
  }
  assert.is((await call(base, 'GET', '/bulk/9999/item/special')).text, 'static', 'static still beats :param')
  assert.is((await call(base, 'GET', '/bulk/10000/item/x')).status, 404)
  assert.is((await call(base, 'GET', '/bulk/4000')).status, 405)
  // Removing the POST half leaves the other half intact.
  for (let i = 0; i < N; i += 2) owner(i).unregisterTrigger(`bulk${i}`)
  for (const w of workers) await w.invoke('engine::registered-triggers::list', {})
  assert.is((await call(base, 'POST', '/bulk/4000')).status, 404)
  assert.is((await call(base, 'POST', '/bulk/0')).status, 404)
  assert.is((await call(base, 'GET', '/bulk/4001/item/y')).json.params.id, 'y')
}, 60_000))

scale.run()

// ---------------------------------------------------------------- iii-sdk

const sdk = suite<{ engine: TestEngine }>('http with an iii-sdk worker')
const consoleBackup = { ...console }
sdk.before(async (ctx) => {
  // The SDK is chatty on the console.
  for (const level of ['debug', 'log', 'info', 'warn', 'error'] as const) console[level] = () => {}
  ctx.engine = (await startEngine()) as TestEngine
})
sdk.after(async (ctx) => {
  await ctx.engine.stop()
  Object.assign(console, consoleBackup)
})

sdk('an iii-sdk worker serves a route registered with api_path and http_method', limit(async (ctx) => {
  const client = registerWorker(ctx.engine.url!, { workerName: 'sdk-http', otel: { enabled: false }, enableMetricsReporting: false })
  try {
    client.registerFunction('sdk::greet', async (req: any) => ({
      status_code: 200,
      headers: { 'x-served-by': 'iii-sdk' },
      body: { hello: req.path_params.name, q: req.query_params, got: req.body, method: req.method },
    }))
    client.registerTrigger({ type: 'http', function_id: 'sdk::greet', config: { api_path: '/sdk/greet/:name', http_method: 'POST' } })
    const post = () => call(ctx.engine.httpUrl!, 'POST', '/sdk/greet/ada?lang=en', { headers: { 'content-type': 'application/json' }, body: '{"x":1}' })
    await until(async () => (await post()).status === 200, 5000, 'the SDK route')
    const r = await post()
    assert.is(r.headers.get('x-served-by'), 'iii-sdk')
    assert.equal(r.json, { hello: 'ada', q: { lang: 'en' }, got: { x: 1 }, method: 'POST' })
    assert.equal(ctx.engine.log.records.filter((l) => l.msg === 'error frame' || l.msg === 'trigger registration refused'), [])
  } finally {
    await client.shutdown()
  }
}))

sdk.run()
