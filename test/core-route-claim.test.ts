/**
 * core/route-claim.ts, alone: a route claims bucket entry's shape is checked
 * (protocol/cluster.ts `parseRouteClaim`); a route is refused by a claim of another function
 * (or other parameter names) with the text of a conflict on one engine; engines join and
 * leave a claim; where this engine's claims stand (`EngineRouteClaims`).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseHttpConfig } from '../core/http-config.js'
import { claimRefusal, EngineRouteClaims, settleWaiters, withEngine, withoutEngine } from '../core/route-claim.js'
import { RouteTable, routeKeyOf } from '../core/route-table.js'
import { parseRouteClaim, type RouteClaim } from '../protocol/cluster.js'
import type { HttpRoute } from '../protocol/http-route.js'

const it = suite('core/route-claim')

const route = (path: string, method = 'GET'): HttpRoute => {
  const parsed = parseHttpConfig({ path, method })
  if (typeof parsed === 'string') throw new Error(parsed)
  return parsed
}

const claim: RouteClaim = { function_id: 'hello::http', path: '/hello/:name', params: ['name'], holder: { trigger_id: 'hello', worker: "worker 'w1'" }, engines: ['e1'] }

it('parseRouteClaim: an entry of the right shape is read; anything else is refused with why', () => {
  assert.equal(parseRouteClaim({ ...claim, extra: 1 }), claim)
  for (const bad of [null, 'x', [], { ...claim, function_id: 1 }, { ...claim, params: 'name' }, { ...claim, holder: null }, { ...claim, holder: { trigger_id: 'x' } }, { ...claim, engines: [1] }]) {
    assert.ok('why' in parseRouteClaim(bad), JSON.stringify(bad))
  }
})

it('claimRefusal: the same text as a conflict in one engine\'s route table', () => {
  const table = new RouteTable()
  assert.is(table.add({ worker_id: 'w1', trigger_id: 'hello' }, 'hello::http', route('/hello/:name')), undefined)
  for (const [fn, r] of [['other::http', route('/hello/:name')], ['hello::http', route('/hello/:who')]] as const) {
    const local = table.add({ worker_id: 'w2', trigger_id: 'x' }, fn, r)
    assert.ok(local)
    assert.equal(claimRefusal(claim, fn, r), local)
  }
  assert.is(claimRefusal(claim, 'hello::http', route('/hello/:name')), undefined)
})

it('withEngine / withoutEngine: engines join once; the last to leave leaves nothing', () => {
  const two = withEngine(claim, 'e2')
  assert.equal(two.engines, ['e1', 'e2'])
  assert.is(withEngine(two, 'e2'), two)
  assert.equal(withoutEngine(two, 'e1')?.engines, ['e2'])
  assert.is(withoutEngine(claim, 'e1'), undefined)
  assert.equal(claim.engines, ['e1'], 'not changed in place')
})

it("settleWaiters: a trigger that came back on the route for another function while its claim was made is not answered by it, but claims anew", () => {
  const table = new RouteTable()
  const r = route('/hello/:name')
  const key = routeKeyOf(r)
  const t1 = { worker_id: 'w1', trigger_id: 't1' }
  const t2 = { worker_id: 'w1', trigger_id: 't2' }
  const t3 = { worker_id: 'w2', trigger_id: 't3' }
  // t1 (hello) claims the route; it goes, and t2 binds the route to another function meanwhile.
  assert.is(table.add(t1, 'hello::http', r), undefined)
  const waiting = [{ holder: t1, function_id: 'hello::http', route: r }]
  table.remove(t1)
  assert.is(table.add(t2, 'other::http', r), undefined)
  waiting.push({ holder: t2, function_id: 'other::http', route: r })
  const stillOn = (h: typeof t1) => table.heldBy(h) === key
  const settled = settleWaiters(waiting, 'hello::http', stillOn)
  assert.equal(settled.answered, [])
  assert.equal(settled.reclaim.map((w) => w.holder), [t2])
  // Triggers of the claimed function still there are answered by it; those gone, by nothing.
  assert.is(table.add(t3, 'other::http', r), undefined)
  const again = settleWaiters([...settled.reclaim, { holder: t3, function_id: 'other::http', route: r }, { holder: t1, function_id: 'other::http', route: r }], 'other::http', stillOn)
  assert.equal(again.answered.map((w) => w.holder), [t2, t3])
  assert.equal(again.reclaim, [])
})

it("EngineRouteClaims: this engine's claims as they are made, answered and let go", () => {
  const claims = new EngineRouteClaims()
  claims.claiming('GET /a', 'f')
  assert.equal(claims.get('GET /a'), { function_id: 'f', state: 'claiming' })
  claims.answered('GET /a', 'held')
  assert.equal(claims.get('GET /a'), { function_id: 'f', state: 'held' })
  // Refused: nothing held.
  claims.claiming('GET /b', 'g')
  claims.answered('GET /b', 'refused')
  assert.is(claims.get('GET /b'), undefined)
  // NATS could not answer: bound on this engine alone.
  claims.claiming('GET /c', 'h')
  claims.answered('GET /c', 'alone')
  assert.equal(claims.toJSON(), [
    { route: 'GET /a', function_id: 'f', state: 'held' },
    { route: 'GET /c', function_id: 'h', state: 'alone' },
  ])
  // Let go: releasing until NATS answers; left, it is gone.
  claims.releasing('GET /a')
  assert.equal(claims.get('GET /a'), { function_id: 'f', state: 'releasing' })
  claims.released('GET /a', true)
  assert.is(claims.get('GET /a'), undefined)
  // A release NATS could not make leaves the claim as it was.
  claims.releasing('GET /c')
  claims.released('GET /c', false)
  assert.equal(claims.get('GET /c'), { function_id: 'h', state: 'alone' })
  // Steps for a route this engine has no claim of change nothing.
  claims.answered('GET /x', 'held')
  claims.releasing('GET /x')
  claims.released('GET /x', true)
  assert.is(claims.size, 1)
})

it.run()
