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
import { eachWithEngine, limit, until, type EngineCtx } from './harness.js'
import { peersOver, transports } from './transports.js'

for (const transport of transports) {
  const it = suite<EngineCtx>(`worker names over ${transport.name}`)
  eachWithEngine(it)
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
