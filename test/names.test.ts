/**
 * Workers are named the way people know them, over every transport: the name a worker
 * gave (`connectWorker(url, { name })`, `engine.connect({ name })`) is in the engine's log
 * records about it (to the session's close), in the refusals that mention a worker (a
 * route held by another worker's trigger, a trigger type another worker provides), and
 * in the `signalbox_workers{name}` metric, whose names are capped.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { initialCatalog, applyCatalogEvent } from '../core/catalog.js'
import { workersByName } from '../adapters/metrics.js'
import { catalogOf } from '../machines/system.js'
import { eachWithEngine, limit, until, type EngineCtx } from './harness.js'
import { peersOver, transports } from './transports.js'

for (const transport of transports) {
  const it = suite<EngineCtx>(`worker names over ${transport.name}`)
  eachWithEngine(it, () => ({ registrationTimeoutMs: 300 }))
  const { worker } = peersOver(transport)

  it('log records about a worker carry its name, to the close of its session', limit(async (ctx) => {
    const w = await worker(ctx, { name: 'billing' })
    w.registerFunction('invoices::create', () => ({ status_code: 201 }))
    assert.is((await w.registerTrigger({ id: 'create', trigger_type: 'http', function_id: 'invoices::create', config: { path: '/invoices', method: 'POST' } })).error, undefined)
    await w.registerTrigger({ id: 'nightly', trigger_type: 'cron', function_id: 'invoices::create', config: { schedule: '@hourlly' } })
    const id = w.workerId!
    w.close()
    const records = ctx.engine.log.records
    await until(() => records.some((r) => r.msg === 'session closed' && r.worker_id === id), 3000, 'the close record')
    const about = (msg: string) => records.filter((r) => r.msg === msg && r.worker_id === id)
    assert.equal(about('trigger registered').map((r) => [r.trigger_id, r.worker]), [['create', 'billing']])
    assert.equal(about('trigger registration refused').map((r) => [r.trigger_id, r.worker]), [['nightly', 'billing']])
    assert.equal(about('session closed').map((r) => r.worker), ['billing'], 'the close record still names it')
  }))

  it('refusals that mention another worker name it', limit(async (ctx) => {
    const a = await worker(ctx, { name: 'billing' })
    a.registerFunction('f', () => 'f')
    a.registerTriggerType({ id: 'webhook', description: 'hooks' }, { registerTrigger: () => {}, unregisterTrigger: () => {} })
    assert.is((await a.registerTrigger({ id: 'holder', trigger_type: 'http', function_id: 'f', config: { path: '/pay' } })).error, undefined)
    const b = await worker(ctx, { name: 'mailer' })
    b.registerFunction('g', () => 'g')
    const refused = await b.registerTrigger({ id: 'taker', trigger_type: 'http', function_id: 'g', config: { path: '/pay' } })
    assert.equal(refused.error, { code: 'invalid_config', message: `Route GET /pay is already bound to function 'f' by trigger 'holder' of worker 'billing' (${a.workerId})` })
    const frames: unknown[] = []
    b.onError((error) => frames.push(error))
    b.registerTriggerType({ id: 'webhook', description: 'mine too' }, { registerTrigger: () => {}, unregisterTrigger: () => {} })
    await until(() => frames.length === 1, 3000, 'the refusal of the second provider')
    assert.equal(frames, [{ code: 'trigger_type_exists', message: `Trigger type 'webhook' is already provided by worker 'billing' (${a.workerId})` }])
  }))

  it("a worker naming itself is logged once, 'worker registered', with its name, runtime, version and pid", limit(async (ctx) => {
    const w = await worker(ctx, { name: 'billing' })
    const id = w.workerId!
    const records = ctx.engine.log.records
    const registered = await until(() => records.find((r) => r.msg === 'worker registered' && r.worker_id === id), 3000, "the 'worker registered' record")
    assert.equal(
      { worker: registered!.worker, runtime: registered!.runtime, version: registered!.version, pid: registered!.pid, level: registered!.level },
      { worker: 'billing', runtime: 'node', version: process.version, pid: process.pid, level: 'info' },
    )
    const opened = records.findIndex((r) => r.msg === 'session opened' && r.worker_id === id)
    assert.ok(opened >= 0 && opened < records.indexOf(registered!), "after 'session opened', which came before the name")
    // iii-sdk names itself the same way (engine::workers::register), with whatever it sends.
    await w.invoke('engine::workers::register', { name: 'billing-2', runtime: 'node', version: 'v0', pid: 7 })
    await until(() => records.some((r) => r.msg === 'worker registered' && r.worker_id === id && r.worker === 'billing-2' && r.pid === 7), 3000, 'the second record')
    assert.is(records.filter((r) => r.msg === 'worker registered' && r.worker_id === id).length, 2)
  }))

  it('a call whose serving worker leaves fails naming that worker', limit(async (ctx) => {
    const server = await worker(ctx, { name: 'slowpoke' })
    let entered!: () => void
    const inside = new Promise<void>((r) => (entered = r))
    server.registerFunction('slow::never', () => (entered(), new Promise(() => {})))
    const caller = await worker(ctx, { name: 'caller' })
    await until(async () => (await caller.invoke<{ functions: Array<{ function_id: string }> }>('engine::functions::list')).functions.some((f) => f.function_id === 'slow::never'), 3000, 'slow::never offered')
    const call = caller.invoke('slow::never').catch((e: { code: string; message: string }) => e)
    await inside
    const serverId = server.workerId
    await server.close({ drainMs: 0 })
    const err = (await call) as { code: string; message: string }
    assert.equal({ code: err.code, message: err.message }, {
      code: 'worker_disconnected',
      message: `The worker serving 'slow::never' disconnected before answering: worker 'slowpoke' (${serverId})`,
    })
  }))

  it("a worker-defined type's provider that times out or leaves is named in the registering worker's error", limit(async (ctx) => {
    const lazy = await worker(ctx, { name: 'lazy-provider' })
    lazy.registerTriggerType({ id: 'lazy' }, { registerTrigger: () => new Promise(() => {}), unregisterTrigger: () => {} })
    const flaky = await worker(ctx, { name: 'flaky-provider' })
    let forwarded!: () => void
    const reached = new Promise<void>((r) => (forwarded = r))
    flaky.registerTriggerType({ id: 'flaky' }, { registerTrigger: () => (forwarded(), new Promise(() => {})), unregisterTrigger: () => {} })
    const c = await worker(ctx, { name: 'consumer' })
    c.registerFunction('f', () => null)
    await until(() => ['lazy', 'flaky'].every((t) => catalogOf(ctx.engine.actor.system).triggerTypes[t] !== undefined), 3000, 'both types provided')
    const [lazyId, flakyId] = [lazy.workerId, flaky.workerId]
    const left = c.registerTrigger({ id: 'f1', trigger_type: 'flaky', function_id: 'f', config: {} })
    await reached
    await flaky.close({ drainMs: 0 })
    assert.equal((await left).error, { code: 'provider_unavailable', message: `The provider of trigger type 'flaky' disconnected before answering: worker 'flaky-provider' (${flakyId})` })
    const timedOut = await c.registerTrigger({ id: 'l1', trigger_type: 'lazy', function_id: 'f', config: {} })
    assert.equal(timedOut.error, { code: 'provider_timeout', message: `The provider of trigger type 'lazy' did not answer within 300 ms: worker 'lazy-provider' (${lazyId})` })
  }))

  it('signalbox_workers counts connected workers by name', limit(async (ctx) => {
    await worker(ctx, { name: 'billing' })
    await worker(ctx, { name: 'billing' })
    await worker(ctx)
    const text = await until(async () => {
      const t = await ctx.engine.metrics.render()
      return t.includes('signalbox_workers{name="billing"} 2') ? t : undefined
    }, 3000, 'two billing workers in the metrics')
    assert.ok(text!.includes('signalbox_workers{name="(unnamed)"} 1'), text)
  }))

  it.run()
}

const cap = suite('worker names: the metric keeps at most 100 names')

cap('the most common 99 names, and the rest as (other)', () => {
  const catalog = initialCatalog({})
  let n = 0
  const add = (name: string | undefined) => {
    const worker_id = `w${++n}`
    applyCatalogEvent(catalog, { type: 'worker.add', worker_id, connected_at: '' })
    if (name !== undefined) applyCatalogEvent(catalog, { type: 'worker.describe', worker_id, info: { name } })
  }
  for (let i = 0; i < 5; i++) add('api')
  add(undefined)
  const few = workersByName(catalog)
  assert.equal([...few], [['api', 5], ['(unnamed)', 1]])
  for (let i = 0; i < 150; i++) add(`job-${i}`)
  const many = workersByName(catalog)
  assert.is(many.size, 100)
  assert.is(many.get('api'), 5)
  assert.is([...many.values()].reduce((a, b) => a + b, 0), 156, 'every worker is counted once')
  assert.ok(many.get('(other)')! > 0)
})

cap.run()
