/**
 * core/http-config.ts, alone: paths written the iii way (without a leading slash, or with
 * several) are normalised to one leading slash, for `path` and `api_path` alike; what
 * cannot be a path is still refused; and a route conflict names the normalised path.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { normalisePath, parseHttpConfig } from '../core/http-config.js'
import type { HttpRoute } from '../protocol/http-route.js'
import { RouteTable } from '../core/route-table.js'

const parsed = (config: Record<string, unknown>): HttpRoute => {
  const r = parseHttpConfig(config)
  if (typeof r === 'string') throw new Error(`refused ${JSON.stringify(config)}: ${r}`)
  return r
}

const it = suite('core: http config')

it('normalisePath: exactly one leading slash', () => {
  assert.is(normalisePath('health'), '/health')
  assert.is(normalisePath('/health'), '/health')
  assert.is(normalisePath('///health'), '/health')
  assert.is(normalisePath('/'), '/')
  assert.is(normalisePath('//'), '/')
  assert.is(normalisePath('users/:id/*'), '/users/:id/*')
})

it('a path without its leading slash routes like the one with it, for path and api_path', () => {
  for (const config of [{ path: 'health' }, { api_path: 'health' }, { path: '/health' }, { api_path: '//health' }, { path: 'health', api_path: '/health' }]) {
    const r = parsed(config)
    assert.is(r.path, '/health', JSON.stringify(config))
    assert.is(r.pattern, '/health')
    assert.is(r.shape, '/health')
  }
  const params = parsed({ api_path: 'users/:id/files/*', http_method: 'post' })
  assert.equal([params.method, params.path, params.pattern, params.params], ['POST', '/users/:id/files/*', '/users/:id/files/**:rest__', ['id']])
  assert.is(parsed({ path: '{org}/repos' }).pattern, '/:org/repos')
})

it('what cannot be a path is still refused, naming the field as written', () => {
  assert.is(parseHttpConfig({}), "'path' is required: a path such as '/webhooks/github', got nothing")
  assert.is(parseHttpConfig({ path: '' }), "'path' must not be empty; give '/' for the root")
  assert.is(parseHttpConfig({ api_path: 7 }), "'api_path' must be a string such as '/webhooks/github', got 7")
  assert.is(parseHttpConfig({ api_path: 'a?b' }), "'api_path' must not contain '?', '#' or spaces, got '/a?b'")
  assert.is(parseHttpConfig({ path: 'a//b' }), "'path' must not contain empty segments ('//'), got '/a//b'")
  assert.is(parseHttpConfig({ path: '../x' }), "'path' must not contain '.' or '..' segments, got '/../x'")
  assert.is(parseHttpConfig({ path: 'x', api_path: 'y' }), "give 'path' or its alias 'api_path', not both with different values, got 'x' and 'y'")
})

it('one route however it is written: the same function shares it, another is refused with the normalised path', () => {
  const t = new RouteTable()
  assert.is(t.add({ worker_id: 'w1', trigger_id: 'a' }, 'f', parsed({ api_path: 'health' })), undefined)
  assert.is(t.add({ worker_id: 'w2', trigger_id: 'b' }, 'f', parsed({ path: '/health' })), undefined)
  assert.is(t.size, 1)
  const refused = t.add({ worker_id: 'w3', trigger_id: 'c' }, 'g', parsed({ path: '//health' }))
  assert.is(refused?.code, 'invalid_config')
  assert.is(refused?.message, "Route GET /health is already bound to function 'f' by trigger 'a' of worker 'w1'")
  const m = t.match('GET', '/health')
  assert.is(m.kind, 'route')
})

it.run()
