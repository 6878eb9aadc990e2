/**
 * One engine of three killed with SIGKILL under load: calls from engine A to a function
 * served on B and C keep being answered (those C held fail, none hangs), routes are
 * still answered by the survivors' listeners, no queue message is lost, and no cron tick
 * runs twice.
 */
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { InvocationError } from '../client/worker.js'
import { limit, until } from './harness.js'
import { cleanUp, nats, serve, whenServed, worker } from './cluster-harness.js'

const it = suite('cluster: an engine killed under load')
it.before(() => nats.start())
it.after(() => nats.stop())
it.after.each(cleanUp)

it('SIGKILL of engine C under load: calls, routes, queue messages and cron ticks carry on with A and B', limit(async () => {
  const [a, b, c] = await Promise.all([serve(), serve(), serve()])
  const consumed = new Map<number, number>()
  const ticks = new Map<string, number>()
  await Promise.all(
    [a, b, c].map(async (engine, i) => {
      const w = await worker(engine.url)
      // B and C serve the calls; every engine serves the route, the queue and the cron trigger.
      if (i > 0) w.registerFunction('work::bc', (d: { n: number }) => ({ n: d.n, by: i }))
      w.registerFunction('work::page', () => ({ status_code: 200, body: { by: i } }))
      w.registerFunction('work::consume', (batch: { messages: Array<{ body: { n: number } }> }) => {
        for (const m of batch.messages) consumed.set(m.body.n, (consumed.get(m.body.n) ?? 0) + 1)
      })
      w.registerFunction('work::tick', (d: { scheduled_time: string }) => void ticks.set(d.scheduled_time, (ticks.get(d.scheduled_time) ?? 0) + 1))
      for (const [id, trigger_type, function_id, config] of [
        ['page', 'http', 'work::page', { path: '/work', method: 'GET' }],
        ['load', 'queue', 'work::consume', { queue_name: 'load', batch_size: 10, visibility_timeout: 2 }],
        ['tick', 'cron', 'work::tick', { schedule: '* * * * * *' }],
      ] as const) {
        const result = await w.registerTrigger({ id, trigger_type, function_id, config })
        assert.not.ok(result.error, JSON.stringify(result))
      }
    }),
  )
  const caller = await worker(a.url)
  await whenServed(caller, 'work::bc', { n: -1 })

  // Load: 16 calls at a time from A, each answered by B or C; messages sent all along.
  const outcomes: Array<{ at: number; code: string }> = []
  let n = 0
  let running = true
  const loop = async () => {
    while (running) {
      const i = n++
      const code = await caller.invoke('work::bc', { n: i }, { timeout_ms: 4000 }).then(
        () => 'ok',
        (err: InvocationError) => err.code,
      )
      outcomes.push({ at: Date.now(), code })
    }
  }
  const loops = Array.from({ length: 16 }, loop)
  const sent: number[] = []
  const sender = (async () => {
    for (let i = 0; i < 300 && running; i++) {
      await caller.invoke('engine::queue::send', { queue_name: 'load', body: { n: i } })
      sent.push(i)
      if (i % 20 === 19) await new Promise((r) => setImmediate(r))
    }
  })()
  await until(() => outcomes.length > 500 && consumed.size > 50, 20_000, 'load on every engine')

  c.child.kill('SIGKILL')
  const killedAt = Date.now()
  assert.equal(await c.exited, { code: null, signal: 'SIGKILL' })
  // The survivors answer again: a run of 500 calls in a row all answered.
  await until(() => {
    const tail = outcomes.slice(-500)
    return tail.length === 500 && tail[0].at > killedAt && tail.every((o) => o.code === 'ok')
  }, 20_000, '500 calls in a row answered after the kill')
  running = false
  await Promise.all([...loops, sender])
  const failed = outcomes.filter((o) => o.code !== 'ok')
  // Only calls C held fail: worker_disconnected for those it had taken up, invocation_timeout
  // for those still unread in its socket when it died (nobody knows they went to C).
  for (const o of failed) assert.ok(['worker_disconnected', 'invocation_timeout'].includes(o.code), o.code)
  assert.ok(failed.every((o) => o.at >= killedAt), 'no call failed before the kill')
  console.log(`${outcomes.length} calls, ${failed.length} failed by the kill (${[...new Set(failed.map((o) => o.code))].join(', ') || 'none'}); last failure ${failed.length ? Math.max(...failed.map((o) => o.at)) - killedAt : 0} ms after it`)

  // Routes: still answered by A's and B's listeners.
  for (const engine of [a, b]) assert.is((await fetch(`${engine.httpUrl}/work`)).status, 200)
  // Queue: every message sent is consumed, those C held once their lease ended.
  await until(() => sent.every((i) => consumed.has(i)), 20_000, 'every queue message consumed')
  // Cron: no tick ran twice (a tick C had claimed and not run when it died is run by A or B, once).
  for (const [tick, runs] of ticks) assert.is(runs, 1, `${tick} ran ${runs} times`)
}, 90_000))

it('routes left in the bucket by an engine killed while alone are never served, and deleted once a new engine has run 15 s', limit(async () => {
  const b = await serve()
  const onB = await worker(b.url)
  onB.registerFunction('gone::page', () => ({ status_code: 200, body: 'b' }))
  assert.not.ok((await onB.registerTrigger({ id: 'p', trigger_type: 'http', function_id: 'gone::page', config: { path: '/gone', method: 'GET' } })).error)
  const nc = await connect({ servers: nats.url })
  try {
    const routes = await new Kvm(nc).open('signalbox-routes')
    const keys = async (kv: Awaited<ReturnType<Kvm['open']>>) => {
      const found: string[] = []
      for await (const key of await kv.keys()) found.push(key)
      return found
    }
    await until(async () => (await keys(routes)).length === 1, 5000, "B's route in the bucket")
    b.child.kill('SIGKILL')
    await b.exited
    // B's membership entry outlives it by its TTL (10 s): an engine started before then hears of B, takes it for gone, and deletes its routes itself.
    const members = await new Kvm(nc).open('signalbox-engines')
    await until(async () => (await keys(members)).length === 0, 20_000, "B's membership entry to expire")
    const a = await serve()
    const started = Date.now()
    assert.is((await fetch(`${a.httpUrl}/gone`)).status, 404)
    await until(async () => (await keys(routes)).length === 0, 30_000, "the dead engine's route to be deleted")
    const after = Date.now() - started
    assert.ok(after >= 14_000, `deleted ${after} ms after A started`)
    assert.is((await fetch(`${a.httpUrl}/gone`)).status, 404)
  } finally {
    await nc.close()
  }
}, 80_000))

it.run()
