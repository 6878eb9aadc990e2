/**
 * The session machine alone: no engine, no sockets, no providers. A small root machine
 * runs the real catalog and one session whose trigger-type slots are filled with stubs
 * that record what they are asked; the test sends the session the events its port would,
 * and reads the frames it writes. This is how a change to the session's decisions is
 * tested without starting an engine.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createActor, fromCallback, setup, spawnChild, type AnyActorRef } from 'xstate'
import { catalogLogic } from '../actors/catalog.js'
import { sessionMachine } from '../machines/session.machine.js'
import { actorIds, actorsOf, catalogOf, type SessionRef } from '../machines/system.js'
import type { SessionEvent, TriggerTypeEvent } from '../machines/contracts.js'
import type { Outbound } from '../protocol/messages.js'

interface Ctx {
  session: SessionRef
  root: AnyActorRef
  /** Frames the session wrote. */
  out: Outbound[]
  /** What the trigger-type stubs were asked, by type. */
  asked: Array<{ type: string; event: TriggerTypeEvent }>
  /** Events the session sent its parent (the engine). */
  toParent: Array<{ type: string }>
}

function start(): Ctx {
  const asked: Ctx['asked'] = []
  const toParent: Ctx['toParent'] = []
  const stub = fromCallback<TriggerTypeEvent, { worker_id: string; trigger_type: string }>(({ input, receive }) => {
    receive((event) => asked.push({ type: input.trigger_type, event }))
  })
  const session = sessionMachine.provide({ actors: { http: stub, cron: stub, queue: stub, remoteTriggerType: stub } })
  const root = setup({ actors: { catalog: catalogLogic, session } }).createMachine({
    invoke: { src: 'catalog', id: actorIds.catalog, systemId: actorIds.catalog, input: { builtins: { cron: 'clock', queue: 'queues' } } },
    entry: spawnChild('session', { id: actorIds.session('w1'), systemId: actorIds.session('w1'), input: { worker_id: 'w1', reattach_hash: 'x', registrationTimeoutMs: 1000 } }),
    on: { '*': { actions: ({ event }) => toParent.push(event) } },
  })
  const actor = createActor(root).start()
  const ref = actorsOf(actor.system).session('w1')!
  const out: Outbound[] = []
  ref.on('outbound', (e) => out.push(e.message))
  ref.send({ type: 'session.start', reattach_token: 'token' })
  return { session: ref, root: actor, out, asked, toParent }
}

const send = (ctx: Ctx, event: SessionEvent) => ctx.session.send(event)
const register = (id: string, trigger_type: string, function_id: string) =>
  ({ type: 'trigger.register', message: { type: 'registertrigger', id, trigger_type, function_id, config: {} } }) as const

const it = suite<Ctx>('the session machine, alone')
it.before.each((ctx) => {
  Object.assign(ctx, start())
})
it.after.each((ctx) => ctx.root.stop())

it('greets the worker and joins the catalog', (ctx) => {
  assert.equal(ctx.out, [{ type: 'workerregistered', worker_id: 'w1', reattach_token: 'token' }])
  assert.ok(catalogOf(ctx.root.system).workers.w1)
})

it("refuses a registertrigger by the reference page's checks, in order", (ctx) => {
  send(ctx, register('t1', 'nope', 'missing'))
  send(ctx, { type: 'function.register', message: { type: 'registerfunction', id: 'f' } })
  send(ctx, register('t2', 'cron', 'missing'))
  // A trigger id already held: the first check, whatever else is wrong.
  ctx.root.system.get(actorIds.catalog).send({ type: 'trigger.add', worker_id: 'w1', trigger: { id: 't3', trigger_type: 'cron', function_id: 'f', config: {}, state: 'active' } })
  send(ctx, register('t3', 'nope', 'missing'))
  const codes = ctx.out.filter((m) => m.type === 'triggerregistrationresult').map((m) => [m.id, (m as { error?: { code: string } }).error?.code])
  assert.equal(codes, [
    ['t1', 'trigger_type_not_found'],
    ['t2', 'function_not_found'],
    ['t3', 'duplicate_trigger_id'],
  ])
  assert.equal(ctx.asked, [], 'no type child was asked anything')
})

it("spawns the type's child on first use, reuses it after, and passes it the registration", (ctx) => {
  send(ctx, { type: 'function.register', message: { type: 'registerfunction', id: 'f' } })
  send(ctx, register('a', 'cron', 'f'))
  send(ctx, register('b', 'cron', 'f'))
  send(ctx, register('c', 'queue', 'f'))
  assert.equal(
    ctx.asked.map((a) => [a.type, a.event.type, (a.event as Extract<TriggerTypeEvent, { type: 'trigger.register' }>).input.id]),
    [
      ['cron', 'trigger.register', 'a'],
      ['cron', 'trigger.register', 'b'],
      ['queue', 'trigger.register', 'c'],
    ],
  )
  assert.equal(Object.keys((ctx.session.getSnapshot() as { children?: object }).children ?? {}).sort(), [actorIds.typeChild('w1', 'cron'), actorIds.typeChild('w1', 'queue')])
  assert.equal(ctx.out.filter((m) => m.type === 'triggerregistrationresult'), [], 'the child answers, not the session')
})

it('a worker-provided type gets the remote child; its provider is announced to the engine', (ctx) => {
  send(ctx, { type: 'triggerType.register', message: { type: 'registertriggertype', id: 'webhook', description: 'hooks' } })
  send(ctx, { type: 'function.register', message: { type: 'registerfunction', id: 'f' } })
  send(ctx, register('h', 'webhook', 'f'))
  assert.equal(ctx.asked.map((a) => a.type), ['webhook'])
  assert.equal(catalogOf(ctx.root.system).triggerTypes.webhook, { worker_id: 'w1', description: 'hooks' })
  assert.ok(ctx.toParent.some((e) => e.type === 'triggerType.available'))
  // The same type again, by the same worker: refused with the holder named.
  send(ctx, { type: 'triggerType.register', message: { type: 'registertriggertype', id: 'webhook' } })
  send(ctx, { type: 'triggerType.register', message: { type: 'registertriggertype', id: 'cron' } })
  assert.equal(
    ctx.out.filter((m) => m.type === 'error').map((m) => (m as { error: { message: string } }).error.message),
    ["Trigger type 'webhook' is already provided by this worker", "Trigger type 'cron' is already provided by the engine"],
  )
})

it('engine function ids are reserved, and a function is registered once per worker', (ctx) => {
  send(ctx, { type: 'function.register', message: { type: 'registerfunction', id: 'engine::workers::list' } })
  send(ctx, { type: 'function.register', message: { type: 'registerfunction', id: 'f' } })
  send(ctx, { type: 'function.register', message: { type: 'registerfunction', id: 'f' } })
  send(ctx, { type: 'function.unregister', message: { type: 'unregisterfunction', id: 'g' } })
  assert.equal(
    ctx.out.filter((m) => m.type === 'error').map((m) => (m as { error: { code: string } }).error.code),
    ['duplicate_function_id', 'duplicate_function_id', 'function_not_found'],
  )
  assert.equal(catalogOf(ctx.root.system).functions.f, { workers: ['w1'] })
})

it('closing tells the engine which types it provided, leaves the catalog, and says why', (ctx) => {
  const ended: string[] = []
  ctx.session.on('ended', (e) => ended.push(e.reason))
  send(ctx, { type: 'triggerType.register', message: { type: 'registertriggertype', id: 'webhook' } })
  send(ctx, { type: 'session.close', reason: 'connection lost (1006)' })
  assert.equal(ended, ['connection lost (1006)'])
  assert.equal(ctx.toParent.filter((e) => e.type === 'session.ended'), [{ type: 'session.ended', worker_id: 'w1', trigger_types: ['webhook'] }])
  assert.is(catalogOf(ctx.root.system).workers.w1, undefined)
  assert.is(ctx.session.getSnapshot().status, 'active', 'a session never finishes on its own: the engine stops it')
})

it.run()
