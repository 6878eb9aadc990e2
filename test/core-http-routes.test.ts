/**
 * core/http-routes.ts alone: what `provider:http` holds of the cluster beside its route
 * table (claims being made and the triggers waiting for them, other engines' routes served
 * here or kept out by a route of this engine, routes published), and its snapshot's JSON.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseHttpConfig } from '../core/http-config.js'
import { HttpRoutes } from '../core/http-routes.js'
import { routeKeyOf } from '../core/route-table.js'
import { routeBucketKey, type RemoteRoute } from '../protocol/cluster.js'
import type { HttpRoute } from '../protocol/http-route.js'

const it = suite('core: HttpRoutes')

const route = (path: string, method = 'GET'): HttpRoute => {
  const parsed = parseHttpConfig({ path, method })
  if (typeof parsed === 'string') throw new Error(parsed)
  return parsed
}
const local = (worker_id: string) => `worker '${worker_id}'`
const remote = (engine_id: string, function_id: string, r: HttpRoute): [string, RemoteRoute] => [
  routeBucketKey(engine_id, routeKeyOf(r)),
  { engine_id, function_id, route: r, holder: { trigger_id: 'their-trigger', worker: "worker 'billing' (w9)" } },
]
const json = (routes: HttpRoutes) => JSON.parse(JSON.stringify(routes))

it('alone: the routes, and nothing of a cluster', () => {
  const routes = new HttpRoutes()
  assert.is(routes.table.add({ worker_id: 'w1', trigger_id: 't1' }, 'f', route('/a')), undefined)
  assert.equal(json(routes), {
    routes: [{ method: 'GET', path: '/a', function_id: 'f', holders: [{ worker_id: 'w1', trigger_id: 't1' }] }],
    published: [],
    claiming: [],
    conflicted: [],
  })
})

it('claims: the first trigger starts one, others join it; settled, those still binding its function are answered, those binding another claim anew', () => {
  const routes = new HttpRoutes()
  const r = route('/orders/:id', 'POST')
  const key = routeKeyOf(r)
  const t1 = { worker_id: 'w1', trigger_id: 't1' }
  const t2 = { worker_id: 'w2', trigger_id: 't2' }
  const t3 = { worker_id: 'w2', trigger_id: 't3' }
  assert.is(routes.join(key, { holder: t1, function_id: 'orders::get', route: r }), false, 'no claim to join yet')
  routes.table.add(t1, 'orders::get', r)
  routes.startClaim(key, [{ holder: t1, function_id: 'orders::get', route: r }])
  routes.table.add(t2, 'orders::get', r)
  assert.ok(routes.join(key, { holder: t2, function_id: 'orders::get', route: r }))
  assert.equal(json(routes).claiming, [
    {
      route: 'POST /orders/:',
      function_id: 'orders::get',
      waiting: [
        { worker_id: 'w1', trigger_id: 't1', function_id: 'orders::get' },
        { worker_id: 'w2', trigger_id: 't2', function_id: 'orders::get' },
      ],
    },
  ])
  // Meanwhile t1 and t2 go, and t3 binds the route to another function.
  routes.table.remove(t1)
  routes.table.remove(t2)
  routes.table.add(t3, 'orders::other', r)
  assert.ok(routes.join(key, { holder: t3, function_id: 'orders::other', route: r }))
  const settled = routes.settleClaim(key)!
  assert.is(settled.function_id, 'orders::get')
  assert.equal(settled.answered, [])
  assert.equal(settled.reclaim.map((w) => w.holder), [t3])
  assert.is(routes.claimOf(key), undefined)
  assert.equal(json(routes).claiming, [])
  assert.is(routes.settleClaim(key), undefined, 'settled once')
})

it("published: this engine's routes published for the others", () => {
  const routes = new HttpRoutes()
  routes.publish('GET /b')
  routes.publish('GET /a')
  assert.ok(routes.isPublished('GET /a'))
  assert.equal(json(routes).published, ['GET /a', 'GET /b'])
  assert.ok(routes.unpublish('GET /a'))
  assert.not.ok(routes.unpublish('GET /a'))
  assert.equal(json(routes).published, ['GET /b'])
})

it("other engines' routes: served under a holder of their own, named by their engine; replaced and withdrawn by key", () => {
  const routes = new HttpRoutes()
  const r = route('/hello/:name')
  const [key, entry] = remote('e2', 'hello::http', r)
  assert.is(routes.serveRemote(key, entry, local), undefined)
  const m = routes.table.match('GET', '/hello/ann')
  assert.is(m.kind === 'route' && m.binding.function_id, 'hello::http')
  assert.equal(routes.localHolders(routeKeyOf(r)), [], 'another engine holds it, not this one')
  assert.equal(json(routes).routes[0].holders, [{ engine_id: 'e2', trigger_id: 'their-trigger', worker: "worker 'billing' (w9)" }])
  // A local trigger on the same route and function shares it.
  routes.table.add({ worker_id: 'w1', trigger_id: 'mine' }, 'hello::http', r, { describeWorker: routes.describer(local) })
  assert.equal(routes.localHolders(routeKeyOf(r)), [{ worker_id: 'w1', trigger_id: 'mine' }])
  // A local trigger binding it to another function is refused, naming the other engine's holder as that engine named it.
  const refusal = routes.table.add({ worker_id: 'w1', trigger_id: 'other' }, 'other::fn', r, { describeWorker: routes.describer(local) })
  assert.match(refusal?.message ?? '', "by trigger 'their-trigger' of worker 'billing' (w9)")
  // Written again (another holder), then withdrawn.
  assert.is(routes.serveRemote(key, { ...entry, holder: { trigger_id: 'again', worker: "worker 'billing' (w9)" } }, local), undefined)
  assert.equal(json(routes).routes[0].holders.map((h: { trigger_id: string }) => h.trigger_id).sort(), ['again', 'mine'])
  routes.serveRemote(key, undefined, local)
  assert.equal(json(routes).routes[0].holders, [{ worker_id: 'w1', trigger_id: 'mine' }])
})

it("conflicts: another engine's route kept out by a route of this engine is kept among the conflicted, and served once the place is free", () => {
  const routes = new HttpRoutes()
  const r = route('/hello/:name')
  const mine = { worker_id: 'w1', trigger_id: 'mine' }
  routes.table.add(mine, 'hello::local', r)
  const [key, entry] = remote('e2', 'hello::remote', r)
  const refusal = routes.serveRemote(key, entry, local)
  assert.is(refusal?.code, 'invalid_config')
  assert.match(refusal?.message ?? '', "by trigger 'mine' of worker 'w1'")
  assert.equal(routes.conflicts(), [[key, entry]])
  assert.equal(json(routes).conflicted, [{ engine_id: 'e2', method: 'GET', path: '/hello/:name', function_id: 'hello::remote', holder: entry.holder }])
  const m = routes.table.match('GET', '/hello/ann')
  assert.is(m.kind === 'route' && m.binding.function_id, 'hello::local', 'this engine serves its own')
  // This engine lets the route go: tried again, it is served.
  routes.table.remove(mine)
  for (const [k, e] of routes.conflicts()) assert.is(routes.serveRemote(k, e, local), undefined)
  assert.equal(json(routes).conflicted, [])
  const after = routes.table.match('GET', '/hello/ann')
  assert.is(after.kind === 'route' && after.binding.function_id, 'hello::remote')
  // Withdrawn while kept out: no longer among the conflicted.
  routes.table.add(mine, 'hello::local', route('/other'))
  const [k2, e2] = remote('e3', 'x', route('/hello/:name'))
  assert.ok(routes.serveRemote(k2, e2, local))
  routes.serveRemote(k2, undefined, local)
  assert.equal(routes.conflicts(), [])
})

it.run()
