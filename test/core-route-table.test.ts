/**
 * core/route-table.ts, alone: adding and removing routes (holders share a route of the
 * same function; refusals for another function or other parameter names), and what a
 * request finds: static before `:param` before `*`, HEAD falling back to GET, 405 with
 * its allow list, 404, decoded path parameters, and the inspector's JSON.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseHttpConfig } from '../core/http-config.js'
import type { HttpRoute } from '../protocol/http-route.js'
import { RouteTable } from '../core/route-table.js'

/** A validated route, as `provider:http` gets it from a trigger's config. */
const route = (method: string, path: string, timeout_ms?: number): HttpRoute => {
  const r = parseHttpConfig({ method, path, ...(timeout_ms === undefined ? {} : { timeout_ms }) })
  if (typeof r === 'string') throw new Error(`bad test route ${method} ${path}: ${r}`)
  return r
}
const h = (worker_id: string, trigger_id: string) => ({ worker_id, trigger_id })

/** The function a request reaches, or the kind of answer it gets. */
const reaches = (t: RouteTable, method: string, path: string): string => {
  const m = t.match(method, path)
  return m.kind === 'route' ? m.binding.function_id : m.kind
}
const params = (t: RouteTable, method: string, path: string): Record<string, string> => {
  const m = t.match(method, path)
  if (m.kind !== 'route') throw new Error(`${method} ${path} found ${m.kind}`)
  return m.path_params
}

const it = suite('core: RouteTable')

it('add: binds a route; match finds it with its binding', () => {
  const t = new RouteTable()
  assert.is(t.add(h('w1', 't1'), 'orders::create', route('POST', '/orders', 1500)), undefined)
  assert.is(t.size, 1)
  const m = t.match('POST', '/orders')
  assert.is(m.kind, 'route')
  if (m.kind !== 'route') return
  assert.is(m.binding.function_id, 'orders::create')
  assert.is(m.binding.method, 'POST')
  assert.is(m.binding.path, '/orders')
  assert.is(m.binding.timeout_ms, 1500)
  assert.equal(m.binding.holders, ['w1\u0000t1'])
  assert.equal(m.path_params, {})
})

it('add: the same route for the same function is shared by its holders', () => {
  const t = new RouteTable()
  assert.is(t.add(h('w1', 't1'), 'f', route('GET', '/a/:id')), undefined)
  assert.is(t.add(h('w2', 't2'), 'f', route('GET', '/a/:id')), undefined)
  // The same holder again is not counted twice.
  assert.is(t.add(h('w2', 't2'), 'f', route('GET', '/a/:id')), undefined)
  assert.is(t.size, 1)
  assert.equal(t.toJSON().routes[0].holders, [h('w1', 't1'), h('w2', 't2')])
})

it('add: the same route for another function is refused, naming the holder', () => {
  const t = new RouteTable()
  t.add(h('w1', 't1'), 'f', route('GET', '/a'))
  const refusal = t.add(h('w2', 't2'), 'g', route('GET', '/a/'))
  assert.equal(refusal, { code: 'invalid_config', message: "Route GET /a/ is already bound to function 'f' by trigger 't1' of worker 'w1'" })
  assert.is(t.size, 1)
  assert.is(reaches(t, 'GET', '/a'), 'f')
  // The refused holder holds nothing: removing it leaves the route.
  t.remove(h('w2', 't2'))
  assert.is(reaches(t, 'GET', '/a'), 'f')
})

it('add: the same shape with other parameter names is refused', () => {
  const t = new RouteTable()
  t.add(h('w1', 't1'), 'f', route('GET', '/users/:id'))
  const refusal = t.add(h('w2', 't2'), 'f', route('GET', '/users/{user_id}'))
  assert.equal(refusal, {
    code: 'invalid_config',
    message: "Route GET /users/{user_id} is the route GET /users/:id held by trigger 't1' of worker 'w1' with other parameter names; use the same names",
  })
  assert.equal(t.toJSON().routes[0].holders, [h('w1', 't1')])
  // Same names, other spelling (`{id}`): shared.
  assert.is(t.add(h('w3', 't3'), 'f', route('GET', '/users/{id}')), undefined)
  assert.is(t.toJSON().routes[0].holders.length, 2)
})

it('add: the same path for another method is another route', () => {
  const t = new RouteTable()
  assert.is(t.add(h('w', 'get'), 'reader', route('GET', '/items')), undefined)
  assert.is(t.add(h('w', 'post'), 'writer', route('POST', '/items')), undefined)
  assert.is(t.size, 2)
  assert.is(reaches(t, 'GET', '/items'), 'reader')
  assert.is(reaches(t, 'POST', '/items'), 'writer')
})

it('match: static beats :param beats trailing *', () => {
  const t = new RouteTable()
  t.add(h('w', 'rest'), 'any', route('GET', '/u/*'))
  t.add(h('w', 'param'), 'one', route('GET', '/u/:id'))
  t.add(h('w', 'static'), 'me', route('GET', '/u/me'))
  assert.is(reaches(t, 'GET', '/u/me'), 'me')
  assert.is(reaches(t, 'GET', '/u/42'), 'one')
  assert.is(reaches(t, 'GET', '/u/42/orders'), 'any')
  assert.equal(params(t, 'GET', '/u/42'), { id: '42' })
  assert.equal(params(t, 'GET', '/u/42/orders/7'), { '*': '42/orders/7' })
})

it('match: named parameters and a trailing * together, in path order', () => {
  const t = new RouteTable()
  t.add(h('w', 'files'), 'files', route('GET', '/files/:bucket/:version/*'))
  const p = params(t, 'GET', '/files/b%201/v2/a/b%2Fc.txt')
  assert.equal(p, { bucket: 'b 1', version: 'v2', '*': 'a/b/c.txt' })
  assert.equal(Object.keys(p), ['bucket', 'version', '*'])
})

it('match: HEAD falls back to GET, but a HEAD route wins', () => {
  const t = new RouteTable()
  t.add(h('w', 'g'), 'getter', route('GET', '/doc'))
  assert.is(reaches(t, 'HEAD', '/doc'), 'getter')
  t.add(h('w', 'h'), 'header', route('HEAD', '/doc'))
  assert.is(reaches(t, 'HEAD', '/doc'), 'header')
  assert.is(reaches(t, 'GET', '/doc'), 'getter')
  // No fallback the other way, nor for other methods.
  const t2 = new RouteTable()
  t2.add(h('w', 'h'), 'header', route('HEAD', '/doc'))
  assert.is(reaches(t2, 'GET', '/doc'), 'method-not-allowed')
  assert.is(reaches(t2, 'POST', '/doc'), 'method-not-allowed')
})

it('match: a path routed only for other methods is 405 with the allow list', () => {
  const t = new RouteTable()
  t.add(h('w', 'g'), 'f', route('GET', '/x'))
  assert.equal(t.match('POST', '/x'), { kind: 'method-not-allowed', allow: 'GET, HEAD, OPTIONS' })
  t.add(h('w', 'd'), 'f', route('DELETE', '/x'))
  t.add(h('w', 'p'), 'f', route('PUT', '/x'))
  // In HTTP_METHODS order, whatever the order of adding.
  assert.equal(t.match('PATCH', '/x'), { kind: 'method-not-allowed', allow: 'GET, PUT, DELETE, HEAD, OPTIONS' })
  // Without GET there is no HEAD in the list; OPTIONS is always there.
  const t2 = new RouteTable()
  t2.add(h('w', 'p'), 'f', route('POST', '/y'))
  assert.equal(t2.match('GET', '/y'), { kind: 'method-not-allowed', allow: 'POST, OPTIONS' })
  assert.equal(t2.match('OPTIONS', '/y'), { kind: 'method-not-allowed', allow: 'POST, OPTIONS' })
})

it('match: a path with no route for any method is not found', () => {
  const t = new RouteTable()
  assert.equal(t.match('GET', '/'), { kind: 'not-found' })
  t.add(h('w', 'g'), 'f', route('GET', '/x'))
  assert.equal(t.match('GET', '/y'), { kind: 'not-found' })
  assert.equal(t.match('POST', '/x/deeper'), { kind: 'not-found' })
})

it('match: path parameters are percent-decoded', () => {
  const t = new RouteTable()
  t.add(h('w', 'g'), 'f', route('GET', '/files/:name'))
  t.add(h('w', 'r'), 'f', route('GET', '/tree/*'))
  assert.equal(params(t, 'GET', '/files/a%20b'), { name: 'a b' })
  assert.equal(params(t, 'GET', '/files/caf%C3%A9'), { name: 'café' })
  assert.equal(params(t, 'GET', '/files/a%2Fb'), { name: 'a/b' })
  assert.equal(params(t, 'GET', '/tree/x%20y/z'), { '*': 'x y/z' })
})

it('match: a malformed escape is refused, never passed on as the escape it would be mistaken for', () => {
  const t = new RouteTable()
  t.add(h('w', 'g'), 'f', route('GET', '/files/:name'))
  assert.equal(t.match('GET', '/files/%E0%A4%A'), { kind: 'bad-path', param: 'name', value: '%E0%A4%A' })
  assert.equal(t.match('GET', '/files/100%'), { kind: 'bad-path', param: 'name', value: '100%' })
  assert.equal(params(t, 'GET', '/files/100%25'), { name: '100%' }, 'the escape itself is decoded')
})

it('match: a path with a . or .. segment is refused, raw, encoded, or hidden behind an encoded /', () => {
  const t = new RouteTable()
  t.add(h('w', 'g'), 'f', route('GET', '/files/*'))
  t.add(h('w', 'i'), 'f', route('GET', '/items/:id/view'))
  for (const path of ['/files/../etc/passwd', '/files/%2e%2e/etc/passwd', '/files/%2E./x', '/files/a/./b', '/files/..', '/items/../view', '/../files/x', '/files/.']) {
    assert.equal(t.match('GET', path), { kind: 'dot-segment', value: path }, path)
  }
  assert.equal(t.match('GET', '/files/..%2fetc%2fpasswd'), { kind: 'dot-segment', param: '*', value: '..%2fetc%2fpasswd' })
  assert.equal(t.match('GET', '/items/%2E%2E%2F%2E%2E%2Fx/view'), { kind: 'dot-segment', param: 'id', value: '%2E%2E%2F%2E%2E%2Fx' })
  // Dots that are not whole segments are ordinary characters.
  assert.equal(params(t, 'GET', '/files/a..b/.hidden/c.'), { '*': 'a..b/.hidden/c.' })
  assert.equal(params(t, 'GET', '/items/v1.2/view'), { id: 'v1.2' })
  assert.equal(params(t, 'GET', '/items/...%2f.x/view'), { id: '.../.x' })
})

it('match: a parameter named __proto__ is an own key', () => {
  const t = new RouteTable()
  assert.is(t.add(h('w', 'g'), 'f', route('GET', '/p/:__proto__')), undefined)
  const p = params(t, 'GET', '/p/polluted')
  assert.ok(Object.hasOwn(p, '__proto__'))
  assert.is(Object.getOwnPropertyDescriptor(p, '__proto__')?.value, 'polluted')
  assert.is(Object.getPrototypeOf(p), Object.prototype)
  assert.equal(Object.keys(p), ['__proto__'])
})

it('match: a trailing slash names the same route', () => {
  const t = new RouteTable()
  t.add(h('w', 'a'), 'f', route('GET', '/hooks/'))
  assert.is(reaches(t, 'GET', '/hooks'), 'f')
  assert.is(reaches(t, 'GET', '/hooks/'), 'f')
  // Added without the slash by another holder: the same route, shared.
  assert.is(t.add(h('w', 'b'), 'f', route('GET', '/hooks')), undefined)
  assert.is(t.size, 1)
})

it('remove: a route lives while any holder does', () => {
  const t = new RouteTable()
  t.add(h('w1', 't1'), 'f', route('GET', '/a'))
  t.add(h('w2', 't2'), 'f', route('GET', '/a'))
  t.remove(h('w1', 't1'))
  assert.is(t.size, 1)
  assert.is(reaches(t, 'GET', '/a'), 'f')
  assert.equal(t.toJSON().routes[0].holders, [h('w2', 't2')])
  // Removing one that holds nothing changes nothing.
  t.remove(h('w1', 't1'))
  t.remove(h('nobody', 'x'))
  assert.is(t.size, 1)
  t.remove(h('w2', 't2'))
  assert.is(t.size, 0)
  assert.equal(t.match('GET', '/a'), { kind: 'not-found' })
  // Now another function may take it.
  assert.is(t.add(h('w3', 't3'), 'g', route('GET', '/a')), undefined)
  assert.is(reaches(t, 'GET', '/a'), 'g')
})

it('remove: the first holder leaving makes the next the owner of record', () => {
  const t = new RouteTable()
  t.add(h('w1', 't1'), 'f', route('GET', '/a'))
  t.add(h('w2', 't2'), 'f', route('GET', '/a'))
  t.remove(h('w1', 't1'))
  const refusal = t.add(h('w3', 't3'), 'g', route('GET', '/a'))
  assert.is(refusal?.message, "Route GET /a is already bound to function 'f' by trigger 't2' of worker 'w2'")
})

it('remove: other routes stay', () => {
  const t = new RouteTable()
  t.add(h('w', 'a'), 'f', route('GET', '/a/:id'))
  t.add(h('w', 'b'), 'g', route('GET', '/a/me'))
  t.remove(h('w', 'b'))
  assert.is(reaches(t, 'GET', '/a/me'), 'f')
  t.remove(h('w', 'a'))
  assert.is(reaches(t, 'GET', '/a/me'), 'not-found')
})

it('add: a holder holds one route; adding another lets the first go', () => {
  const t = new RouteTable()
  assert.is(t.add(h('w1', 't1'), 'f', route('GET', '/a')), undefined)
  assert.is(t.add(h('w1', 't1'), 'f', route('GET', '/b')), undefined)
  assert.is(reaches(t, 'GET', '/a'), 'not-found')
  assert.is(reaches(t, 'GET', '/b'), 'f')
  t.remove(h('w1', 't1'))
  assert.is(t.size, 0)
})

it('removeAll: what a session\'s routes leave is what removing them one by one leaves, whether the router is made again (many) or not (few)', () => {
  // w1 binds many routes (one shared with w2); w2 and w3 bind a few, static, :param and *.
  const bind = (t: RouteTable, n: number) => {
    for (let i = 0; i < n; i++) t.add(h('w1', `r${i}`), 'f', route('GET', `/reg/${i}`))
    t.add(h('w1', 'param'), 'f', route('GET', '/items/:id'))
    t.add(h('w1', 'shared'), 'g', route('POST', '/shared'))
    t.add(h('w2', 'shared'), 'g', route('POST', '/shared'))
    t.add(h('w2', 'one'), 'h', route('GET', '/reg/one'))
    t.add(h('w3', 'rest'), 'k', route('GET', '/reg/*'))
    t.add(h('w3', 'item'), 'k', route('PUT', '/items/:id'))
    t.add(h('w3', 'static'), 'k', route('GET', '/items/special'))
  }
  const w1 = (n: number) => [...Array.from({ length: n }, (_, i) => h('w1', `r${i}`)), h('w1', 'param'), h('w1', 'shared'), h('w1', 'unknown')]
  const requests = [['GET', '/reg/0'], ['GET', '/reg/5'], ['GET', '/reg/one'], ['GET', '/reg/x/y'], ['GET', '/items/7'], ['PUT', '/items/7'], ['GET', '/items/special'], ['HEAD', '/items/special'], ['POST', '/shared'], ['GET', '/shared'], ['DELETE', '/reg/0'], ['GET', '/nothing']]
  for (const n of [3, 200]) {
    const together = new RouteTable()
    const oneByOne = new RouteTable()
    bind(together, n)
    bind(oneByOne, n)
    together.removeAll(w1(n))
    for (const holder of w1(n)) oneByOne.remove(holder)
    assert.is(together.size, oneByOne.size)
    assert.equal(together.toJSON(), oneByOne.toJSON())
    for (const [method, path] of requests) assert.equal(together.match(method, path), oneByOne.match(method, path), `${method} ${path} (${n} routes let go)`)
    assert.is(reaches(together, 'GET', '/reg/0'), 'k')
    assert.is(reaches(together, 'POST', '/shared'), 'g')
    // The table goes on as before: routes bound again, and let go.
    assert.is(together.add(h('w4', 'again'), 'm', route('GET', '/reg/0')), undefined)
    assert.is(reaches(together, 'GET', '/reg/0'), 'm')
    together.removeAll([h('w2', 'shared'), h('w2', 'one'), h('w3', 'rest'), h('w3', 'item'), h('w3', 'static'), h('w4', 'again')])
    assert.is(together.size, 0)
    assert.is(reaches(together, 'GET', '/reg/0'), 'not-found')
  }
})

it('toJSON: every route with its method, path as written, function and holders', () => {
  const t = new RouteTable()
  assert.equal(t.toJSON(), { routes: [] })
  t.add(h('w1', 't1'), 'f', route('get', '/users/{id}/'))
  t.add(h('w2', 't2'), 'f', route('GET', '/users/:id'))
  t.add(h('w1', 't3'), 'g', route('POST', '/users'))
  assert.equal(t.toJSON(), {
    routes: [
      { method: 'GET', path: '/users/{id}/', function_id: 'f', holders: [h('w1', 't1'), h('w2', 't2')] },
      { method: 'POST', path: '/users', function_id: 'g', holders: [h('w1', 't3')] },
    ],
  })
})

it.run()
