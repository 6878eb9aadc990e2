/**
 * Trigger registration, over every transport: the reference page's examples to the letter,
 * the order of the checks, worker-defined trigger types (forwarding, verdicts, timeouts,
 * providers that leave), and registration of functions and trigger types.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Engine } from '../adapters/engine.js'
import { limit, startEngine, until } from './harness.js'
import { catalogOf } from '../machines/system.js'
import { transports, type RawPeer } from './transports.js'
import * as page from './fixtures/register-trigger.js'

type Msg = Record<string, any>

for (const transport of transports) {
  const it = suite<{ engine: Engine & { log: any }; peers: RawPeer[] }>(`registration over ${transport.name}`)

  it.before.each(async (ctx) => {
    ctx.engine = await startEngine({ registrationTimeoutMs: 300 })
    ctx.peers = []
  })
  it.after.each(async (ctx) => {
    for (const p of ctx.peers) await p.close().catch(() => {})
    await ctx.engine.stop()
  })

  const peer = async (ctx: { engine: Engine; peers: RawPeer[] }) => {
    const p = await transport.raw(ctx.engine)
    ctx.peers.push(p)
    return p
  }

  /** A peer that provides `type` and answers each forwarded registration with `answer`; named `name` first when given. */
  const provider = async (
    ctx: { engine: Engine; peers: RawPeer[] },
    type: string,
    answer: (m: Msg) => Msg | undefined | 'silent' = (m) => ({ type: 'triggerregistrationresult', id: m.id, trigger_type: m.trigger_type, function_id: m.function_id }),
    name?: string,
  ) => {
    const p = await peer(ctx)
    if (name !== undefined) p.send({ type: 'invokefunction', function_id: 'engine::workers::register', data: { name }, action: { type: 'void' } })
    p.send({ type: 'registertriggertype', id: type, description: `${type} provider` })
    const seen: Msg[] = []
    const loop = async () => {
      for (;;) {
        const m = await p.next((x) => x.type === 'registertrigger', 60_000).catch(() => undefined)
        if (!m) return
        seen.push(m)
        const reply = answer(m)
        if (reply && reply !== 'silent') p.send(reply)
      }
    }
    void loop()
    return Object.assign(p, { seen })
  }

  /** A peer offering `functions`, used as the registering worker. */
  const consumer = async (ctx: { engine: Engine; peers: RawPeer[] }, ...functions: string[]) => {
    const p = await peer(ctx)
    for (const id of functions) p.send({ type: 'registerfunction', id })
    return p
  }

  const register = async (p: RawPeer, request: Msg) => {
    p.send(request)
    return p.next((m) => m.type === 'triggerregistrationresult' && m.id === request.id)
  }

  it('success is exactly {type, id, trigger_type, function_id}, after the provider accepted', limit(async (ctx) => {
    const prov = await provider(ctx, 'webhook')
    const c = await consumer(ctx, 'process_webhook')
    const result = await register(c, { type: 'registertrigger', id: 'hook', trigger_type: 'webhook', function_id: 'process_webhook', config: { path: '/x' }, metadata: { a: 1 } })
    assert.equal(result, { type: 'triggerregistrationresult', id: 'hook', trigger_type: 'webhook', function_id: 'process_webhook' })
    assert.is(prov.seen.length, 1)
    // The provider sees the worker's own trigger id, unchanged, as iii forwards it.
    assert.equal(prov.seen[0], { type: 'registertrigger', id: 'hook', trigger_type: 'webhook', function_id: 'process_webhook', config: { path: '/x' }, metadata: { a: 1 } })
  }))

  it('two sessions binding the same id to the same type: the second is told apart as <id>@<worker id>; verdicts and withdrawals reach the right one', limit(async (ctx) => {
    const answers = new Map<string, Msg>()
    const prov = await provider(ctx, 'webhook', (m) => answers.get(m.id) ?? { type: 'triggerregistrationresult', id: m.id, trigger_type: m.trigger_type, function_id: m.function_id })
    const a = await consumer(ctx, 'f')
    const b = await consumer(ctx, 'g')
    assert.equal(await register(a, { type: 'registertrigger', id: 'hook', trigger_type: 'webhook', function_id: 'f', config: { n: 'a' } }), { type: 'triggerregistrationresult', id: 'hook', trigger_type: 'webhook', function_id: 'f' })
    // The provider refuses b's by the id it was given: b gets the refusal, a's stays.
    answers.set(`hook@${b.worker_id}`, { type: 'triggerregistrationresult', id: `hook@${b.worker_id}`, trigger_type: 'webhook', error: { code: 'nope', message: 'not for b' } })
    assert.equal((await register(b, { type: 'registertrigger', id: 'hook', trigger_type: 'webhook', function_id: 'g', config: { n: 'b' } })).error, { code: 'nope', message: 'not for b' })
    assert.equal(prov.seen.map((m) => [m.id, m.config.n]), [['hook', 'a'], [`hook@${b.worker_id}`, 'b']])
    // Accepted the next time (a verdict without trigger_type finds it under the provider's types).
    answers.set(`hook@${b.worker_id}`, { type: 'triggerregistrationresult', id: `hook@${b.worker_id}` })
    assert.equal((await register(b, { type: 'registertrigger', id: 'hook', trigger_type: 'webhook', function_id: 'g', config: { n: 'b2' } })).error, undefined)
    assert.equal(prov.seen.map((m) => m.id), ['hook', `hook@${b.worker_id}`, `hook@${b.worker_id}`])
    // Each one's unregistertrigger carries the id its provider knows.
    b.send({ type: 'unregistertrigger', id: 'hook' })
    assert.equal(await prov.next((m) => m.type === 'unregistertrigger'), { type: 'unregistertrigger', id: `hook@${b.worker_id}`, trigger_type: 'webhook', function_id: 'g', config: { n: 'b2' } })
    await a.close()
    assert.equal(await prov.next((m) => m.type === 'unregistertrigger'), { type: 'unregistertrigger', id: 'hook', trigger_type: 'webhook', function_id: 'f', config: { n: 'a' } })
    // Both gone: the id is free again, and the next binding gets it unchanged.
    assert.equal((await register(b, { type: 'registertrigger', id: 'hook', trigger_type: 'webhook', function_id: 'g', config: { n: 'b3' } })).error, undefined)
    assert.equal(prov.seen.at(-1)!.id, 'hook')
  }))

  it('reference page: trigger type not found', limit(async (ctx) => {
    const c = await consumer(ctx, 'my_function')
    assert.equal(await register(c, page.triggerTypeNotFound.request), page.triggerTypeNotFound.response)
  }))

  it('reference page: HTTP trigger registration', limit(async (ctx) => {
    const c = await consumer(ctx, 'process_webhook')
    assert.equal(await register(c, page.httpRegistration.request), page.httpRegistration.response)
  }))

  it('reference page: cron trigger registration', limit(async (ctx) => {
    const c = await consumer(ctx, 'generate_report')
    assert.equal(await register(c, page.cronRegistration.request), page.cronRegistration.response)
  }))

  it('a built-in type\'s registration machine ends once its trigger is held; the type\'s actor holds it and unregisters it (route gone, catalog clear, id free)', limit(async (ctx) => {
    const c = await consumer(ctx, 'f')
    const http = { type: 'registertrigger', id: 'route', trigger_type: 'http', function_id: 'f', config: { api_path: '/held/:x', http_method: 'GET' } }
    assert.equal(await register(c, http), { type: 'triggerregistrationresult', id: 'route', trigger_type: 'http', function_id: 'f' })
    const system = ctx.engine.actor.system
    const worker_id = (await until(() => Object.keys(catalogOf(system).workers).find((w) => catalogOf(system).workers[w].functions.f))) as string
    await until(() => system.get(`trigger:${worker_id}:route`) === undefined, 3000, 'the registration machine to end')
    const child = system.get(`session:${worker_id}:http`)!.getSnapshot().context.toJSON()
    assert.equal(child, { trigger_type: 'http', held: ['route'] })
    assert.is(catalogOf(system).workers[worker_id].triggers.route.state, 'active')
    const routes = () => (system.get('provider:http')!.getSnapshot().context.toJSON().routes as Array<{ path: string }>).map((r) => r.path)
    assert.ok(routes().includes('/held/:x'), 'the provider holds the route')
    const url = `${ctx.engine.httpUrl}/held/1`
    c.send({ type: 'unregistertrigger', id: 'route' })
    await until(async () => (await fetch(url)).status === 404, 3000, 'the route to go')
    await until(() => catalogOf(system).workers[worker_id].triggers.route === undefined, 3000, 'the catalog to drop it')
    assert.equal(system.get(`session:${worker_id}:http`)!.getSnapshot().context.toJSON(), { trigger_type: 'http', held: [] })
    assert.equal(await register(c, http), { type: 'triggerregistrationresult', id: 'route', trigger_type: 'http', function_id: 'f' }, 'the id is free again')
  }))

  it('reference page: function not found', limit(async (ctx) => {
    const c = await consumer(ctx)
    assert.equal(await register(c, page.functionNotFound.request), page.functionNotFound.response)
  }))

  it('reference page: invalid configuration (the page\'s text, and why in details)', limit(async (ctx) => {
    const c = await consumer(ctx, 'my_function')
    const { response } = page.invalidConfiguration
    assert.equal(await register(c, page.invalidConfiguration.request), {
      ...response,
      error: { ...response.error, details: "it has 3 fields; give 5 fields (minute hour day-of-month month day-of-week, e.g. '0 9 * * MON-FRI'), 6 with seconds first, or a nickname such as '@hourly'" },
    })
  }))

  it('a mistyped trigger type or function id: the page\'s text, and what it probably meant in details', limit(async (ctx) => {
    await provider(ctx, 'webhook')
    const c = await consumer(ctx, 'reports::generate')
    const request = { type: 'registertrigger', id: 't1', trigger_type: 'webhok', function_id: 'reports::generate', config: {} }
    assert.equal((await register(c, request)).error, { code: 'trigger_type_not_found', message: "No trigger type registered with ID 'webhok'", details: "Did you mean 'webhook'?" })
    assert.equal((await register(c, { ...request, id: 't2', trigger_type: 'CRON' })).error, { code: 'trigger_type_not_found', message: "No trigger type registered with ID 'CRON'", details: "Did you mean 'cron'?" })
    assert.equal((await register(c, { ...request, id: 't3', trigger_type: 'cron', function_id: 'reports::generat' })).error, {
      code: 'function_not_found',
      message: "No function registered with ID 'reports::generat'",
      details: "Did you mean 'reports::generate'?",
    })
    assert.equal((await register(c, { ...request, id: 't4', trigger_type: 'zzzzzz' })).error, { code: 'trigger_type_not_found', message: "No trigger type registered with ID 'zzzzzz'" }, 'nothing close: no details')
  }))

  it('reference page: duplicate trigger id', limit(async (ctx) => {
    const c = await consumer(ctx, 'my_function')
    const first = await register(c, page.duplicateTriggerId.request)
    assert.equal(first.error, undefined)
    assert.equal(await register(c, page.duplicateTriggerId.request), page.duplicateTriggerId.response)
  }))

  it('checks run in order: invalid_message, duplicate, type, function, config', limit(async (ctx) => {
    const prov = await provider(ctx, 'webhook')
    const c = await consumer(ctx, 'f')
    assert.is((await register(c, { type: 'registertrigger', id: 't', trigger_type: 'webhook', function_id: 'f', config: {} })).error, undefined)
    // duplicate beats unknown type and unknown function
    let r = await register(c, { type: 'registertrigger', id: 't', trigger_type: 'nope', function_id: 'nope', config: {} })
    assert.is(r.error.code, 'duplicate_trigger_id')
    // unknown type beats unknown function
    r = await register(c, { type: 'registertrigger', id: 't2', trigger_type: 'nope', function_id: 'nope', config: {} })
    assert.is(r.error.code, 'trigger_type_not_found')
    // a malformed message is answered before anything else, naming the field
    r = await register(c, { type: 'registertrigger', id: 't', trigger_type: 'nope', function_id: 'nope' })
    assert.equal(r, {
      type: 'triggerregistrationresult',
      id: 't',
      trigger_type: 'nope',
      function_id: 'nope',
      error: { code: 'invalid_message', message: "registertrigger: 'config' must be an object, got nothing" },
    })
    r = await register(c, { type: 'registertrigger', id: 't3', trigger_type: 'webhook', function_id: 42, config: {} })
    assert.is(r.error.code, 'invalid_message')
    assert.match(r.error.message, "'function_id' must be a non-empty string")
    assert.is(r.function_id, '')
    r = await register(c, { type: 'registertrigger', id: 't3', trigger_type: 'webhook', function_id: 'f', config: [1] })
    assert.match(r.error.message, "'config' must be an object, got an array")
    assert.is(prov.seen.length, 1, 'refused registrations never reach the provider')
  }))

  it('a registertrigger whose id is unusable gets an error frame', limit(async (ctx) => {
    const c = await consumer(ctx, 'f')
    c.send({ type: 'registertrigger', trigger_type: 'webhook', function_id: 'f', config: {} })
    const frame = await c.next((m) => m.type === 'error')
    assert.equal(frame, { type: 'error', error: { code: 'invalid_message', message: "registertrigger: 'id' must be a non-empty string of at most 1024 characters, got nothing" }, ref: { type: 'registertrigger' } })
    c.send({ type: 'registertrigger', id: '', trigger_type: 'webhook', function_id: 'f', config: {} })
    assert.is((await c.next((m) => m.type === 'error')).error.code, 'invalid_message')
  }))

  it('two sessions may use the same trigger id', limit(async (ctx) => {
    await provider(ctx, 'webhook')
    const a = await consumer(ctx, 'f')
    const b = await consumer(ctx)
    const request = { type: 'registertrigger', id: 'daily_report', trigger_type: 'webhook', function_id: 'f', config: {} }
    assert.is((await register(a, request)).error, undefined)
    assert.is((await register(b, request)).error, undefined)
    const list = await invokeEngine(a, 'engine::registered-triggers::list')
    assert.is(list.result.registered_triggers.filter((t: Msg) => t.id === 'daily_report').length, 2)
  }))

  it('an id is free again once its registration failed or it was unregistered', limit(async (ctx) => {
    await provider(ctx, 'webhook')
    const c = await consumer(ctx, 'f')
    assert.is((await register(c, { type: 'registertrigger', id: 't', trigger_type: 'webhook', function_id: 'missing', config: {} })).error.code, 'function_not_found')
    assert.is((await register(c, { type: 'registertrigger', id: 't', trigger_type: 'webhook', function_id: 'f', config: {} })).error, undefined)
    c.send({ type: 'unregistertrigger', id: 't' })
    assert.is((await register(c, { type: 'registertrigger', id: 't', trigger_type: 'webhook', function_id: 'f', config: {} })).error, undefined)
  }))

  it('a provider that answers within the timeout, but late, is waited for', limit(async (ctx) => {
    const prov = await provider(ctx, 'slow', () => 'silent')
    const c = await consumer(ctx, 'f')
    c.send({ type: 'registertrigger', id: 't', trigger_type: 'slow', function_id: 'f', config: {} })
    await until(() => prov.seen.length === 1)
    await new Promise((r) => setTimeout(r, 150))
    prov.send({ type: 'triggerregistrationresult', id: prov.seen[0].id })
    assert.equal(await c.next((m) => m.type === 'triggerregistrationresult'), { type: 'triggerregistrationresult', id: 't', trigger_type: 'slow', function_id: 'f' })
  }))

  it('a provider that never answers: provider_timeout naming the provider, and the registration is withdrawn from it', limit(async (ctx) => {
    const prov = await provider(ctx, 'mute', () => 'silent', 'mute-provider')
    const c = await consumer(ctx, 'f')
    const result = await register(c, { type: 'registertrigger', id: 't', trigger_type: 'mute', function_id: 'f', config: { k: 1 } })
    assert.equal(result, {
      type: 'triggerregistrationresult',
      id: 't',
      trigger_type: 'mute',
      function_id: 'f',
      error: { code: 'provider_timeout', message: `The provider of trigger type 'mute' did not answer within 300 ms: worker 'mute-provider' (${prov.worker_id})` },
    })
    const withdrawn = await prov.next((m) => m.type === 'unregistertrigger')
    assert.equal(withdrawn, { type: 'unregistertrigger', id: prov.seen[0].id, trigger_type: 'mute', function_id: 'f', config: { k: 1 } })
    // its late verdict changes nothing, and is answered with an error frame
    prov.send({ type: 'triggerregistrationresult', id: prov.seen[0].id })
    assert.is((await prov.next((m) => m.type === 'error')).error.code, 'invalid_message')
    assert.is((await register(c, { type: 'registertrigger', id: 't', trigger_type: 'nope', function_id: 'f', config: {} })).error.code, 'trigger_type_not_found')
  }))

  it('registrations waiting for a silent provider hold no XState delayed event (stopping N of them would scan every one N times), and all leave with their session', limit(async (ctx) => {
    const prov = await provider(ctx, 'mute', () => 'silent')
    const c = await consumer(ctx, 'f')
    const scheduled = () => Object.keys((ctx.engine.actor.system as unknown as { _snapshot: { _scheduledEvents: object } })._snapshot._scheduledEvents).length
    const before = scheduled()
    for (let i = 0; i < 200; i++) c.send({ type: 'registertrigger', id: `t${i}`, trigger_type: 'mute', function_id: 'f', config: {} })
    await until(() => prov.seen.length === 200, 5000, 'every registration forwarded')
    assert.is(scheduled(), before, 'no delayed event per waiting registration')
    const workerId = Object.keys(catalogOf(ctx.engine.actor.system).workers).find((w) => Object.keys(catalogOf(ctx.engine.actor.system).workers[w].triggers).length === 200)!
    c.close()
    await until(() => catalogOf(ctx.engine.actor.system).workers[workerId] === undefined, 5000, 'the session and its registrations gone')
  }))

  it('a provider that rejects: its error is passed on unchanged', limit(async (ctx) => {
    await provider(ctx, 'picky', (m) => ({ type: 'triggerregistrationresult', id: m.id, trigger_type: 'picky', function_id: m.function_id, error: { code: 'quota_exceeded', message: 'Only 3 hooks per account' } }))
    const c = await consumer(ctx, 'f')
    const result = await register(c, { type: 'registertrigger', id: 't', trigger_type: 'picky', function_id: 'f', config: {} })
    assert.equal(result.error, { code: 'quota_exceeded', message: 'Only 3 hooks per account' })
  }))

  it('a provider that disconnects mid-registration: provider_unavailable naming the provider (by its id when it gave no name)', limit(async (ctx) => {
    const prov = await provider(ctx, 'flaky', () => 'silent')
    const c = await consumer(ctx, 'f')
    c.send({ type: 'registertrigger', id: 't', trigger_type: 'flaky', function_id: 'f', config: {} })
    await until(() => prov.seen.length === 1)
    await prov.close()
    const result = await c.next((m) => m.type === 'triggerregistrationresult')
    assert.equal(result.error, { code: 'provider_unavailable', message: `The provider of trigger type 'flaky' disconnected before answering: worker '${prov.worker_id}'` })
  }))

  it('when a provider leaves, its triggers are parked and re-sent to the next provider', limit(async (ctx) => {
    const first = await provider(ctx, 'webhook')
    const c = await consumer(ctx, 'f')
    assert.is((await register(c, { type: 'registertrigger', id: 't', trigger_type: 'webhook', function_id: 'f', config: { n: 1 } })).error, undefined)
    await first.close()
    await until(async () => (await invokeEngine(c, 'engine::registered-triggers::list')).result.registered_triggers[0]?.state === 'parked', 3000, 'parked')
    // the type is gone: new registrations of it are refused meanwhile
    assert.is((await register(c, { type: 'registertrigger', id: 'u', trigger_type: 'webhook', function_id: 'f', config: {} })).error.code, 'trigger_type_not_found')
    const second = await provider(ctx, 'webhook')
    await until(() => second.seen.length === 1, 3000, 're-sent registration')
    assert.equal(second.seen[0].config, { n: 1 })
    // The re-send carries exactly the id the previous provider saw.
    assert.is(first.seen[0].id, 't')
    assert.is(second.seen[0].id, 't')
    await until(async () => (await invokeEngine(c, 'engine::registered-triggers::list')).result.registered_triggers[0]?.state === 'active', 3000, 'active again')
    assert.is(c.received.filter((m) => m.type === 'triggerregistrationresult' && m.id === 't').length, 1, 'the worker is answered once')
  }))

  it('unregistering a trigger whose registration is pending answers it: trigger_unregistered', limit(async (ctx) => {
    const prov = await provider(ctx, 'slow', () => 'silent')
    const c = await consumer(ctx, 'f')
    c.send({ type: 'registertrigger', id: 't', trigger_type: 'slow', function_id: 'f', config: {} })
    await until(() => prov.seen.length === 1)
    c.send({ type: 'unregistertrigger', id: 't' })
    assert.equal(await c.next((m) => m.type === 'triggerregistrationresult'), {
      type: 'triggerregistrationresult',
      id: 't',
      trigger_type: 'slow',
      function_id: 'f',
      error: { code: 'trigger_unregistered', message: "Trigger 't' was unregistered before its registration completed" },
    })
    assert.is((await prov.next((m) => m.type === 'unregistertrigger')).id, prov.seen[0].id)
  }))

  it('a re-send that the new provider never answers is logged, not answered twice', limit(async (ctx) => {
    const first = await provider(ctx, 'webhook')
    const c = await consumer(ctx, 'f')
    assert.is((await register(c, { type: 'registertrigger', id: 't', trigger_type: 'webhook', function_id: 'f', config: {} })).error, undefined)
    await first.close()
    const second = await provider(ctx, 'webhook', () => 'silent')
    await until(() => second.seen.length === 1, 3000, 're-send')
    await until(() => ctx.engine.log.records.some((r: Msg) => r.msg === 'parked trigger could not be re-sent to the new provider' && r.error?.code === 'provider_timeout'), 3000, 'the log record')
    assert.is(c.received.filter((m) => m.type === 'triggerregistrationresult').length, 1)
    // The catalog keeps it among the recent failures, failed from resending.
    const failed = (await until(() => catalogOf(ctx.engine.actor.system).failed.find((f) => f.id === 't'), 3000, 'the failure kept'))!
    assert.equal([failed.trigger_type, failed.function_id, failed.from, failed.error.code], ['webhook', 'f', 'resending', 'provider_timeout'])
    assert.is(catalogOf(ctx.engine.actor.system).workers[failed.worker_id].triggers.t, undefined)
  }))

  it('a provider that unregisters its type parks the triggers, and is told to drop them', limit(async (ctx) => {
    const prov = await provider(ctx, 'webhook')
    const c = await consumer(ctx, 'f')
    await register(c, { type: 'registertrigger', id: 't', trigger_type: 'webhook', function_id: 'f', config: {} })
    prov.send({ type: 'unregistertriggertype', id: 'webhook' })
    await until(async () => (await invokeEngine(c, 'engine::registered-triggers::list')).result.registered_triggers[0]?.state === 'parked', 3000, 'parked')
    assert.is((await prov.next((m) => m.type === 'unregistertrigger')).id, prov.seen[0].id)
    prov.send({ type: 'registertriggertype', id: 'webhook', description: 'back' })
    await until(() => prov.seen.length === 2, 3000, 're-sent')
    assert.equal(prov.seen.map((m) => m.id), ['t', 't'])
    // Withdrawn again after the re-send: under the same id.
    c.send({ type: 'unregistertrigger', id: 't' })
    assert.is((await prov.next((m) => m.type === 'unregistertrigger')).id, 't')
  }))

  it('unregistertrigger reaches the provider with what it registered; unknown ids get trigger_not_found', limit(async (ctx) => {
    const prov = await provider(ctx, 'webhook')
    const c = await consumer(ctx, 'f')
    await register(c, { type: 'registertrigger', id: 't', trigger_type: 'webhook', function_id: 'f', config: { p: 2 } })
    c.send({ type: 'unregistertrigger', id: 't', trigger_type: 'webhook' })
    assert.equal(await prov.next((m) => m.type === 'unregistertrigger'), { type: 'unregistertrigger', id: prov.seen[0].id, trigger_type: 'webhook', function_id: 'f', config: { p: 2 } })
    c.send({ type: 'unregistertrigger', id: 't' })
    assert.equal(await c.next((m) => m.type === 'error'), {
      type: 'error',
      error: { code: 'trigger_not_found', message: "No trigger with ID 't' is registered by this worker" },
      ref: { type: 'unregistertrigger', id: 't' },
    })
  }))

  it('a worker-provided type verdict is passed on as it came (invalid_config)', limit(async (ctx) => {
    await provider(ctx, 'schedule', (m) => ({
      type: 'triggerregistrationresult',
      id: m.id,
      error: { code: 'invalid_config', message: `Invalid cron expression: '${m.config.schedule}'` },
    }))
    const c = await consumer(ctx, 'my_function')
    const r = await register(c, { ...page.invalidConfiguration.request, trigger_type: 'schedule' })
    assert.equal(r, { ...page.invalidConfiguration.response, trigger_type: 'schedule' })
    // Gone from the worker's triggers; kept among the recent failures with the provider's error.
    const system = ctx.engine.actor.system
    const failed = catalogOf(system).failed.find((f) => f.id === r.id)
    assert.ok(failed, 'the failure kept')
    assert.equal({ ...failed, at: 'at', worker_id: 'w' }, {
      seq: failed.seq,
      id: r.id,
      trigger_type: 'schedule',
      function_id: r.function_id,
      worker_id: 'w',
      config: page.invalidConfiguration.request.config,
      from: 'pending',
      error: r.error,
      at: 'at',
    })
    assert.ok(Math.abs(Date.parse(failed.at) - Date.now()) < 60_000, 'when it failed')
    assert.is(catalogOf(system).workers[failed.worker_id].triggers[r.id], undefined)
  }))

  it('built-in types cannot be registered by workers', limit(async (ctx) => {
    const p = await peer(ctx)
    for (const id of ['http', 'cron', 'queue', 'subscribe', 'durable:subscriber']) {
      p.send({ type: 'registertriggertype', id, description: 'mine' })
      assert.equal((await p.next((m) => m.type === 'error' && m.ref.id === id)).error, { code: 'trigger_type_exists', message: `Trigger type '${id}' is already provided by the engine` })
    }
  }))

  it('trigger types: one provider per id; unregistering one not provided is an error', limit(async (ctx) => {
    const a = await provider(ctx, 'webhook')
    const b = await peer(ctx)
    b.send({ type: 'registertriggertype', id: 'webhook', description: 'again' })
    const frame = await b.next((m) => m.type === 'error')
    assert.is(frame.error.code, 'trigger_type_exists')
    assert.match(frame.error.message, `Trigger type 'webhook' is already provided by worker '${a.worker_id}'`)
    b.send({ type: 'unregistertriggertype', id: 'webhook' })
    assert.is((await b.next((m) => m.type === 'error')).error.code, 'trigger_type_not_found')
    const types = await invokeEngine(b, 'engine::trigger-types::list')
    assert.equal(types.result.trigger_types.filter((t: Msg) => t.worker_id !== 'engine'), [{ id: 'webhook', description: 'webhook provider', worker_id: a.worker_id }])
    assert.equal(types.result.trigger_types.filter((t: Msg) => t.worker_id === 'engine').map((t: Msg) => t.id).sort(), ['cron', 'durable:subscriber', 'http', 'queue', 'subscribe'])
  }))

  it('functions: duplicates in one session and unknown unregistrations are errors; replicas are fine', limit(async (ctx) => {
    const a = await consumer(ctx, 'f')
    a.send({ type: 'registerfunction', id: 'f' })
    assert.equal(await a.next((m) => m.type === 'error'), {
      type: 'error',
      error: { code: 'duplicate_function_id', message: "Function 'f' is already registered by this worker" },
      ref: { type: 'registerfunction', id: 'f' },
    })
    a.send({ type: 'unregisterfunction', id: 'g' })
    assert.is((await a.next((m) => m.type === 'error' && m.ref.type === 'unregisterfunction')).error.code, 'function_not_found')
    a.send({ type: 'registerfunction', id: 'engine::workers::list' })
    assert.is((await a.next((m) => m.type === 'error' && m.ref.id === 'engine::workers::list')).error.code, 'duplicate_function_id')
    const b = await consumer(ctx, 'f')
    const list = await invokeEngine(b, 'engine::functions::list')
    const f = list.result.functions.find((x: Msg) => x.function_id === 'f')
    assert.equal(f.workers.sort(), [a.worker_id, b.worker_id].sort())
  }))

  it('the worker API: registerTrigger resolves to the result and never throws', limit(async (ctx) => {
    const w = await transport.worker(ctx.engine)
    w.registerFunction('f', () => 1)
    w.registerTriggerType({ id: 'webhook', description: 'd' }, { registerTrigger: (t) => { if (t.config.bad) throw new Error('bad: config.bad is set') }, unregisterTrigger: () => {} })
    assert.equal(await w.registerTrigger({ id: 'ok', trigger_type: 'webhook', function_id: 'f', config: {} }), { type: 'triggerregistrationresult', id: 'ok', trigger_type: 'webhook', function_id: 'f' })
    const bad = await w.registerTrigger({ id: 'bad', trigger_type: 'webhook', function_id: 'f', config: { bad: true } })
    assert.equal(bad.error, { code: 'invalid_config', message: 'bad: config.bad is set' })
    assert.is((await w.registerTrigger({ id: 'ok', trigger_type: 'webhook', function_id: 'f', config: {} })).error?.code, 'duplicate_trigger_id')
    assert.is((await w.registerTrigger({ id: 'x', trigger_type: 'webhook', function_id: 'f', config: 'nope' as never })).error?.code, 'invalid_message')
    assert.is((await w.registerTrigger({ id: undefined as never, trigger_type: 'webhook', function_id: 'f', config: {} })).error?.code, 'invalid_message')
    w.close()
  }))

  it.run()
}

let calls = 0
/** Calls an engine function from a raw peer and returns the invocationresult. */
async function invokeEngine(p: RawPeer, function_id: string, data: unknown = {}) {
  const invocation_id = `engine-call-${++calls}`
  p.send({ type: 'invokefunction', invocation_id, function_id, data })
  return p.next((m) => m.type === 'invocationresult' && m.invocation_id === invocation_id)
}




