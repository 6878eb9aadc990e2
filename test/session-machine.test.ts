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
import type { SessionEvent, SessionInput, TriggerTypeEvent } from '../machines/contracts.js'
import { hashToken } from '../core/reattach-token.js'
import { until } from './harness.js'
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

const INPUT: SessionInput = {
  worker_id: 'w1',
  reattach_hash: 'x',
  registrationTimeoutMs: 1000,
  reconnectGraceMs: 0,
  limits: { functionsPerSession: 100, triggersPerSession: 100, triggerTypesPerSession: 100 },
}

function start(input: Partial<SessionInput> = {}): Ctx {
  const asked: Ctx['asked'] = []
  const toParent: Ctx['toParent'] = []
  const stub = fromCallback<TriggerTypeEvent, { worker_id: string; trigger_type: string }>(({ input, receive }) => {
    receive((event) => asked.push({ type: input.trigger_type, event }))
  })
  const session = sessionMachine.provide({ actors: { http: stub, cron: stub, queue: stub, remoteTriggerType: stub } })
  const root = setup({ actors: { catalog: catalogLogic, session } }).createMachine({
    invoke: { src: 'catalog', id: actorIds.catalog, systemId: actorIds.catalog, input: { builtins: { cron: 'clock', queue: 'queues' } } },
    entry: spawnChild('session', { id: actorIds.session('w1'), systemId: actorIds.session('w1'), input: { ...INPUT, ...input } }),
    on: { '*': { actions: ({ event }) => toParent.push(event) } },
  })
  const actor = createActor(root).start()
  const ref = actorsOf(actor.system).session('w1')!
  const out: Outbound[] = []
  ref.on('outbound', (e) => out.push(e.message))
  ref.send({ type: 'session.start' })
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

it('joins the catalog on start, writing nothing (the port greets the worker: no event carries its reattach token)', (ctx) => {
  assert.equal(ctx.out, [])
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
  assert.equal(catalogOf(ctx.root.system).functions.f, { workers: ['w1'], held: [] })
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


const errorsOut = (ctx: Ctx) => ctx.out.filter((m) => m.type === 'error').map((m) => (m as { error: { code: string; message: string } }).error)
const results = (ctx: Ctx) => ctx.out.filter((m) => m.type === 'triggerregistrationresult').map((m) => [m.id, (m as { error?: { code: string } }).error?.code])

it('limits: a function, trigger type or trigger past the session limit is refused too_many_requests, naming the option', (ctx) => {
  ctx.root.stop()
  Object.assign(ctx, start({ limits: { functionsPerSession: 1, triggersPerSession: 1, triggerTypesPerSession: 1 } }))
  send(ctx, { type: 'function.register', message: { type: 'registerfunction', id: 'f' } })
  send(ctx, { type: 'function.register', message: { type: 'registerfunction', id: 'g' } })
  send(ctx, { type: 'triggerType.register', message: { type: 'registertriggertype', id: 'a' } })
  send(ctx, { type: 'triggerType.register', message: { type: 'registertriggertype', id: 'b' } })
  send(ctx, register('t1', 'cron', 'f'))
  // The child lists its registration in the catalog at once; the stub does not, so the test does.
  ctx.root.system.get(actorIds.catalog).send({ type: 'trigger.add', worker_id: 'w1', trigger: { id: 't1', trigger_type: 'cron', function_id: 'f', config: {}, state: 'active' } })
  send(ctx, register('t2', 'cron', 'f'))
  assert.equal(
    errorsOut(ctx).map((e) => [e.code, e.message]),
    [
      ['too_many_requests', 'This worker already has 1 functions, the most allowed (option limits.functionsPerSession)'],
      ['too_many_requests', 'This worker already has 1 trigger types, the most allowed (option limits.triggerTypesPerSession)'],
    ],
  )
  assert.equal(results(ctx), [['t2', 'too_many_requests']])
  // Removing one makes room again.
  send(ctx, { type: 'function.unregister', message: { type: 'unregisterfunction', id: 'f' } })
  send(ctx, { type: 'function.register', message: { type: 'registerfunction', id: 'g' } })
  assert.equal(Object.keys(catalogOf(ctx.root.system).workers.w1.functions), ['g'])
})

it('scope: what the token does not allow is refused forbidden, before the reference checks; its own functions may be bound', (ctx) => {
  ctx.root.stop()
  const scope = { register: ['billing::*'], invoke: ['email::send'], trigger_types: ['cron'], queues: [], provide_trigger_types: false, engine: false }
  Object.assign(ctx, start({ identity: { name: 'billing', scope } }))
  send(ctx, { type: 'function.register', message: { type: 'registerfunction', id: 'admin::reset' } })
  send(ctx, { type: 'function.register', message: { type: 'registerfunction', id: 'billing::charge' } })
  send(ctx, { type: 'triggerType.register', message: { type: 'registertriggertype', id: 'webhook' } })
  assert.equal(
    errorsOut(ctx).map((e) => [e.code, e.message]),
    [
      ['forbidden', "Token 'billing' may not register function 'admin::reset' (its scope's 'register' patterns do not match)"],
      ['forbidden', "Token 'billing' may not provide trigger type 'webhook' (its scope has no 'provide_trigger_types')"],
    ],
  )
  send(ctx, register('q', 'queue', 'billing::charge'))
  // Not registered by this worker and not invokable: forbidden, whether it exists or not.
  send(ctx, register('x', 'cron', 'admin::reset'))
  send(ctx, register('y', 'cron', 'billing::refund'))
  // Invokable but unknown: the reference page's answer.
  send(ctx, register('z', 'cron', 'email::send'))
  send(ctx, register('ok', 'cron', 'billing::charge'))
  assert.equal(results(ctx), [
    ['q', 'forbidden'],
    ['x', 'forbidden'],
    ['y', 'forbidden'],
    ['z', 'function_not_found'],
  ])
  assert.equal(ctx.asked.map((a) => [a.type, (a.event as Extract<TriggerTypeEvent, { type: 'trigger.register' }>).input.id]), [['cron', 'ok']])
})

it('a lost connection, with a grace period: held (functions held, types released, calls ended), then closed when it ends', async (ctx) => {
  ctx.root.stop()
  Object.assign(ctx, start({ reconnectGraceMs: 50 }))
  const ended: string[] = []
  ctx.session.on('ended', (e) => ended.push(e.reason))
  send(ctx, { type: 'function.register', message: { type: 'registerfunction', id: 'f' } })
  send(ctx, { type: 'triggerType.register', message: { type: 'registertriggertype', id: 'webhook' } })
  send(ctx, { type: 'session.close', reason: 'connection lost (1006)', lost: true })
  const catalog = catalogOf(ctx.root.system)
  assert.equal(catalog.functions.f, { workers: [], held: ['w1'] })
  assert.is(catalog.triggerTypes.webhook, undefined, 'its types are free for the worker that replaces it')
  assert.ok(catalog.workers.w1.held_until)
  assert.equal(ctx.toParent.filter((e) => e.type === 'session.held'), [{ type: 'session.held', worker_id: 'w1', trigger_types: ['webhook'] }])
  assert.equal(ended, [], 'not ended yet')
  await until(() => ended.length > 0, 5000, 'the hold to end')
  assert.equal(ended, ['held 50 ms after its connection was lost; no reattach'])
  assert.is(catalogOf(ctx.root.system).workers.w1, undefined)
  assert.is(catalogOf(ctx.root.system).functions.f, undefined)
})

it('a lost connection without a grace period, or a clean close, closes at once', (ctx) => {
  send(ctx, { type: 'session.close', reason: 'connection lost (1006)', lost: true })
  assert.equal(ctx.toParent.filter((e) => e.type === 'session.held'), [])
  assert.ok(ctx.toParent.some((e) => e.type === 'session.ended'))
  ctx.root.stop()
  Object.assign(ctx, start({ reconnectGraceMs: 60_000 }))
  send(ctx, { type: 'session.close', reason: 'connection closed' })
  assert.ok(ctx.toParent.some((e) => e.type === 'session.ended'))
})

/** Puts `events` into the catalog the session reads. */
const catalogSays = (ctx: Ctx, ...events: Array<Record<string, unknown> & { type: string }>) => {
  for (const e of events) ctx.root.system.get(actorIds.catalog).send(e)
}
const ended = (ctx: Ctx) => ctx.toParent.filter((e) => e.type === 'session.ended').length

it('a held session is retired at once by a reattach with its token from a session that holds all it held, and refuses one without', (ctx) => {
  ctx.root.stop()
  Object.assign(ctx, start({ reconnectGraceMs: 60_000, reattach_hash: hashToken('right') }))
  send(ctx, { type: 'function.register', message: { type: 'registerfunction', id: 'f' } })
  send(ctx, { type: 'session.close', reason: 'connection lost (1006)', lost: true })
  // The session that comes back registered it all before its reattach (as the bundled client does).
  catalogSays(ctx, { type: 'worker.add', worker_id: 'w2', connected_at: '2024-01-01T00:00:00.000Z' }, { type: 'function.add', worker_id: 'w2', function_id: 'f', info: {} })
  send(ctx, { type: 'session.retire', by: 'w2', reattach_token: 'wrong' })
  assert.is(ended(ctx), 0)
  send(ctx, { type: 'session.retire', by: 'w2', reattach_token: 'right' })
  assert.is(ended(ctx), 1)
})

it('a held session named by a reattach sent before the registrations (as iii-sdk sends it) waits until its successor holds all it held', (ctx) => {
  ctx.root.stop()
  Object.assign(ctx, start({ reconnectGraceMs: 60_000, reattach_hash: hashToken('right') }))
  send(ctx, { type: 'function.register', message: { type: 'registerfunction', id: 'f' } })
  catalogSays(ctx, { type: 'trigger.add', worker_id: 'w1', trigger: { id: 'route', trigger_type: 'http', function_id: 'f', config: {}, state: 'active' } })
  send(ctx, { type: 'session.close', reason: 'connection lost (1006)', lost: true })
  catalogSays(ctx, { type: 'worker.add', worker_id: 'w2', connected_at: '2024-01-01T00:00:00.000Z' })
  send(ctx, { type: 'session.retire', by: 'w2', reattach_token: 'right' })
  assert.is(ended(ctx), 0, 'the successor holds nothing yet')
  catalogSays(ctx, { type: 'function.add', worker_id: 'w2', function_id: 'f', info: {} })
  send(ctx, { type: 'successor.progress' })
  assert.is(ended(ctx), 0, 'the function, not the trigger')
  catalogSays(ctx, { type: 'trigger.add', worker_id: 'w2', trigger: { id: 'route', trigger_type: 'http', function_id: 'f', config: {}, state: 'pending' } })
  send(ctx, { type: 'successor.progress' })
  assert.is(ended(ctx), 0, 'the trigger still pending')
  catalogSays(ctx, { type: 'trigger.state', worker_id: 'w2', id: 'route', state: 'active' })
  send(ctx, { type: 'successor.progress' })
  assert.is(ended(ctx), 1, 'replaced')
})

it('a session whose reattach named a held one tells it as it registers; the held one ends once it holds all it held', (ctx) => {
  ctx.root.stop()
  const stub = fromCallback(() => {})
  const session = sessionMachine.provide({ actors: { http: stub, cron: stub, queue: stub, remoteTriggerType: stub } })
  const ends: string[] = []
  const root = createActor(
    setup({ actors: { catalog: catalogLogic, session } }).createMachine({
      invoke: { src: 'catalog', id: actorIds.catalog, systemId: actorIds.catalog, input: { builtins: {} } },
      entry: [
        spawnChild('session', { id: actorIds.session('w0'), systemId: actorIds.session('w0'), input: { ...INPUT, worker_id: 'w0', reconnectGraceMs: 60_000, reattach_hash: hashToken('t') } }),
        spawnChild('session', { id: actorIds.session('w1'), systemId: actorIds.session('w1'), input: INPUT }),
      ],
      on: { 'session.ended': { actions: ({ event }) => void ends.push((event as unknown as { worker_id: string }).worker_id) } },
    }),
  ).start()
  const [w0, w1] = [actorsOf(root.system).session('w0')!, actorsOf(root.system).session('w1')!]
  for (const w of [w0, w1]) w.send({ type: 'session.start' })
  w0.send({ type: 'function.register', message: { type: 'registerfunction', id: 'f' } })
  w0.send({ type: 'function.register', message: { type: 'registerfunction', id: 'g' } })
  w0.send({ type: 'session.close', reason: 'connection lost (1006)', lost: true })
  w1.send({ type: 'session.reattach', message: { type: 'reattach', previous_worker_id: 'w0', reattach_token: 't' } })
  assert.equal(ends, [], 'w1 holds nothing yet')
  w1.send({ type: 'function.register', message: { type: 'registerfunction', id: 'f' } })
  assert.equal(ends, [], 'w1 offers f, not g')
  w1.send({ type: 'function.register', message: { type: 'registerfunction', id: 'g' } })
  assert.equal(ends, ['w0'], 'replaced once w1 offers both')
  root.stop()
})

it.run()
