/**
 * What the inspector shows of a cluster: two engines of one cluster in this process, on a
 * real nats-server -js, one of them sending its snapshots to a stand-in for the Stately
 * inspector. The `cluster` actor's snapshot shows the members, who provides each
 * worker-defined type on which engine, the types this engine's workers provide as claimed,
 * its route claims and the calls in flight to other engines (with the engine that took
 * each); `invocations` counts those calls; `provider:http` shows a route's claim while it
 * is made, the routes published for the others and theirs served here, and another
 * engine's route kept out by one of its own.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { WebSocketServer } from 'ws'
import { createWebSocketInspector } from '@statelyai/inspect'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import type { EngineOptions } from '../adapters/engine.js'
import { connectWorker } from '../client/ws-client.js'
import type { WorkerClient } from '../client/worker.js'
import { clusterBuckets, routeBucketKey, type MemberInfo, type RemoteRoute } from '../protocol/cluster.js'
import { limit, startEngine, until, type TestEngine } from './harness.js'
import { suiteNats } from './nats-server.js'

type Json = Record<string, any>

const nats = suiteNats()
const it = suite('cluster: what the snapshots show')
it.before(() => nats.start())
it.after(() => nats.stop())

const engines: TestEngine[] = []
const workers: WorkerClient[] = []
const closers: Array<() => unknown> = []
it.after.each(async () => {
  for (const w of workers.splice(0)) w.close({ drainMs: 0 })
  for (const close of closers.splice(0)) await close()
  await Promise.all(engines.splice(0).map((e) => e.stop()))
})

/** A stand-in for the Stately inspector: every message it is sent, and the latest snapshot of an actor as the wire carried it. */
async function inspectorReceiver() {
  const receiver = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise((r) => receiver.once('listening', r))
  const received: Json[] = []
  receiver.on('connection', (ws) => ws.on('message', (data) => received.push(JSON.parse(data.toString()))))
  const inspector = createWebSocketInspector({ url: `ws://127.0.0.1:${(receiver.address() as { port: number }).port}` })
  closers.push(() => inspector.stop(), () => receiver.close())
  const sessionOf = (name: string) => received.find((m) => m.type === '@xstate.actor' && m.name === name)?.sessionId
  /** Every snapshot context of the actor named `name` the inspector was sent, in order. */
  const snapshots = (name: string): Json[] => {
    const session = sessionOf(name)
    return received.filter((m) => m.type === '@xstate.snapshot' && m.sessionId === session).map((m) => m.snapshot?.context)
  }
  const latest = (name: string): Json | undefined => snapshots(name).at(-1)
  return { inspector, snapshots, latest }
}

/** An engine of the cluster `name`. */
async function engineOf(name: string, inspect?: EngineOptions['inspect']) {
  const engine = await startEngine({ cluster: { nats: nats.url, name }, ...(inspect ? { inspect } : {}) })
  engines.push(engine)
  return engine
}

/** The snapshot context of actor `id` of `engine`, as JSON (read from the running actor). */
const contextOf = (engine: TestEngine, id: string): Json => JSON.parse(JSON.stringify(engine.actor.system.get(id)!.getSnapshot().context))

async function workerOf(engine: TestEngine): Promise<WorkerClient> {
  const w = await connectWorker(engine.url!, { reconnect: false, logger: false })
  workers.push(w)
  return w
}

it('calls in flight to another engine, members, who provides a type where, own types, route claims, routes published and served', limit(async () => {
  const name = nats.fresh()
  const { inspector, snapshots, latest } = await inspectorReceiver()
  const a = await engineOf(name, inspector.inspect)
  const b = await engineOf(name)
  await until(() => latest('cluster')?.members?.length === 2, 10_000, "both engines in a's cluster snapshot")
  const aId: string = latest('cluster')!.engine_id
  const bId: string = contextOf(b, 'cluster').engine_id
  assert.is.not(aId, bId)
  assert.equal(latest('cluster')!.members.map((m: MemberInfo) => m.engine_id).sort(), [aId, bId].sort())

  // On b: a function that answers when told, and a worker-defined type.
  const wb = await workerOf(b)
  let release!: () => void
  const held = new Promise<void>((r) => (release = r))
  wb.registerFunction('slow::work', () => held.then(() => 'done'))
  wb.registerTriggerType({ id: 'jobs', description: 'jobs on b' }, { registerTrigger: () => {}, unregisterTrigger: () => {} })
  await until(() => contextOf(b, 'cluster').own_types.some((t: Json) => t.trigger_type === 'jobs' && t.claim === 'held'), 10_000, "b's claim of its worker's type")
  assert.equal(contextOf(b, 'cluster').own_types.find((t: Json) => t.trigger_type === 'jobs').worker_id, wb.workerId)
  // a shows who provides it, on which engine.
  await until(() => latest('cluster')?.trigger_types?.some((t: Json) => t.trigger_type === 'jobs'), 10_000, "the type in a's cluster snapshot")
  assert.equal(latest('cluster')!.trigger_types.find((t: Json) => t.trigger_type === 'jobs'), {
    trigger_type: 'jobs',
    engine_id: bId,
    worker_id: wb.workerId,
    worker: `worker '${wb.workerId}'`,
    description: 'jobs on b',
    member: true,
  })
  assert.equal(latest('cluster')!.own_types, [], 'a provides no type itself')

  // On a: an http trigger on b's function (known from b's heartbeat); its route is claimed across the cluster.
  const wa = await workerOf(a)
  await until(() => latest('cluster')?.members?.find((m: MemberInfo) => m.engine_id === bId)?.functions.includes('slow::work'), 10_000, "b's function in its heartbeat")
  assert.is((await wa.registerTrigger({ id: 'orders', trigger_type: 'http', function_id: 'slow::work', config: { path: '/orders/:id', method: 'POST' } })).error, undefined)
  // While it was claimed, provider:http showed the claim and the trigger waiting for it.
  const claiming = snapshots('provider:http').find((c) => c?.claiming?.length > 0)?.claiming
  assert.equal(claiming, [{ route: 'POST /orders/:', function_id: 'slow::work', waiting: [{ worker_id: wa.workerId, trigger_id: 'orders', function_id: 'slow::work' }] }])
  await until(() => latest('provider:http')?.published?.includes('POST /orders/:'), 5000, 'the route published')
  assert.equal(latest('provider:http')!.claiming, [])
  await until(() => latest('cluster')?.route_claims?.length === 1, 5000, "the route's claim in a's cluster snapshot")
  assert.equal(latest('cluster')!.route_claims, [{ route: 'POST /orders/:', function_id: 'slow::work', state: 'held' }])
  // b serves a's route, under a's engine.
  await until(() => contextOf(b, 'provider:http').routes.length === 1, 5000, "a's route on b")
  assert.equal(contextOf(b, 'provider:http').routes[0].holders, [{ engine_id: aId, trigger_id: 'orders', worker: `worker '${wa.workerId}'` }])
  assert.equal(contextOf(b, 'provider:http').published, [])

  // A call from a's worker to b's function: in flight to b, in a's snapshots.
  const call = wa.invoke('slow::work', {}, { timeout_ms: 20_000 })
  // (Should the test fail before it is answered, the call fails as the worker closes: not an unhandled rejection.)
  call.catch(() => {})
  await until(() => latest('cluster')?.calls?.[0]?.engine_id === bId, 10_000, "the call, taken by b, in a's cluster snapshot")
  const [inFlight] = latest('cluster')!.calls
  assert.equal({ ...inFlight, age_ms: typeof inFlight.age_ms }, { call_no: inFlight.call_no, function_id: 'slow::work', source: 'worker', engine_id: bId, age_ms: 'number', timeout_ms: 20_000 })
  assert.is(latest('cluster')!.calls.length, 1)
  await until(() => latest('invocations')?.across === 1, 5000, "the call counted in a's invocations snapshot")
  assert.is(latest('invocations')!.in_flight, 0, 'not started on a')
  // On b, it is a call started there, for a worker of b.
  assert.equal(Object.values(contextOf(b, 'invocations').calls).map((c: any) => [c.function_id, c.worker_id]), [['slow::work', wb.workerId]])
  assert.equal(contextOf(b, 'cluster').calls, [], 'b sent nothing')
  release()
  assert.is(await call, 'done')
  // The answer came through NATS, not as an event of these actors: the cluster actor's next event (a heartbeat, every second) shows it.
  await until(() => latest('cluster')?.calls?.length === 0, 5000, "the call to leave a's cluster snapshot")
  assert.is(contextOf(a, 'invocations').across, 0)

  // The trigger goes: a lets go of the route and of its claim.
  wa.unregisterTrigger('orders', 'http')
  await until(() => contextOf(a, 'cluster').route_claims.length === 0, 5000, 'the claim let go')
  await until(() => contextOf(a, 'provider:http').published.length === 0, 5000, 'the route withdrawn')
}, 45_000))

it("another engine's route kept out by a route of this one is shown as conflicted, and served once the place is free", limit(async () => {
  const name = nats.fresh()
  const a = await engineOf(name)
  const wa = await workerOf(a)
  wa.registerFunction('hello::here', () => 'here')
  assert.is((await wa.registerTrigger({ id: 'hello', trigger_type: 'http', function_id: 'hello::here', config: { path: '/hello' } })).error, undefined)
  await until(() => contextOf(a, 'provider:http').published.includes('GET /hello'), 5000, 'the route published')

  // Another engine of the cluster (written by hand, as an engine would) binds the same route to another function.
  const nc = await connect({ servers: nats.url })
  closers.push(() => nc.close())
  const kvm = new Kvm(nc)
  const buckets = clusterBuckets(name)
  const members = await kvm.open(buckets.engines)
  const routes = await kvm.open(buckets.routes)
  const other = 'eother-1'
  const info: MemberInfo = { engine_id: other, started_at: new Date().toISOString(), host: 'elsewhere', pid: 1, workers: 1, functions: ['hello::there'] }
  const beat = () => members.put(other, JSON.stringify(info)).then(() => {}, () => {})
  await beat()
  const beating = setInterval(beat, 500)
  closers.push(() => clearInterval(beating))
  const entry: RemoteRoute = {
    engine_id: other,
    function_id: 'hello::there',
    route: { method: 'GET', path: '/hello', pattern: '/hello', shape: '/hello', params: [] },
    holder: { trigger_id: 'theirs', worker: "worker 'far' (w-far)" },
  }
  await routes.put(routeBucketKey(other, 'GET /hello'), JSON.stringify(entry))

  await until(() => contextOf(a, 'provider:http').conflicted.length === 1, 10_000, 'the conflict in the snapshot')
  assert.equal(contextOf(a, 'provider:http').conflicted, [{ engine_id: other, method: 'GET', path: '/hello', function_id: 'hello::there', holder: entry.holder }])
  assert.equal(contextOf(a, 'provider:http').routes.map((r: Json) => [r.path, r.function_id]), [['/hello', 'hello::here']], 'this engine serves its own')

  // This engine's trigger goes: the other engine's route takes the place.
  wa.unregisterTrigger('hello', 'http')
  await until(() => contextOf(a, 'provider:http').conflicted.length === 0, 5000, 'the conflict gone')
  assert.equal(contextOf(a, 'provider:http').routes, [{ method: 'GET', path: '/hello', function_id: 'hello::there', holders: [{ engine_id: other, trigger_id: 'theirs', worker: "worker 'far' (w-far)" }] }])
}, 30_000))

it.run()
