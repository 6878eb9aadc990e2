/**
 * The listings of a cluster beyond workers, functions and triggers: `engine::queue::list`
 * (the shared counts, each engine's consumers), the `::info` functions (found on whichever
 * engine has it, or the one-engine not-found errors), `/metrics` (every engine's series
 * labelled with its engine id; `?scope=engine`; an engine that does not answer in time
 * left out and said so), and `signalbox ls queues`. Two `signalbox serve --cluster`
 * child processes on one nats-server -js (test/cluster-harness.ts).
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import WebSocket from 'ws'
import * as assert from 'uvu/assert'
import { connect } from '@nats-io/transport-node'
import { InvocationError, type WorkerClient } from '../client/worker.js'
import { limit, until } from './harness.js'
import { cleanUp, nats, serve, whenServed, worker, type Server } from './cluster-harness.js'

const cli = fileURLToPath(new URL('../cli.js', import.meta.url))

const it = suite('cluster listings (signalbox serve --cluster)')
it.before(() => nats.start())
it.after(() => nats.stop())
it.after.each(cleanUp)

const httpOf = (server: Server) => server.url.replace(/^ws:/, 'http:')
const engineIdOf = async (server: Server) => ((await (await fetch(`${httpOf(server)}/healthz`)).json()) as { cluster: { engine_id: string } }).cluster.engine_id
/** Both engines hear of each other (their heartbeats), so a listing waits for both. */
const bothMembers = (server: Server) =>
  until(async () => ((await (await fetch(`${httpOf(server)}/healthz`)).json()) as { cluster: { engines: unknown[] } }).cluster.engines.length === 2, 10_000, 'both engines in /healthz')

/** The error a call fails with. */
const failure = (w: WorkerClient, function_id: string, data: unknown): Promise<{ code: string; message: string }> =>
  w.invoke(function_id, data).then(
    (r) => {
      throw new Error(`${function_id} answered ${JSON.stringify(r)}`)
    },
    (err: InvocationError) => ({ code: err.code, message: err.message }),
  )

it('queue::list and the ::info functions asked on A show B\'s part with B\'s engine id; nobody has it: the one-engine errors', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const [ea, eb] = await Promise.all([engineIdOf(a), engineIdOf(b)])
  const onA = await worker(a.url, 'alpha')
  const onB = await worker(b.url, 'beta')
  onA.registerFunction('a::jobs', () => null)
  onB.registerFunction('b::jobs', () => null)
  onB.registerFunction('b::fn', () => 'b')
  await whenServed(onA, 'b::fn')
  await bothMembers(a)
  for (const [w, request] of [
    [onA, { id: 'a-shared', trigger_type: 'queue', function_id: 'a::jobs', config: { queue_name: 'shared' } }],
    [onB, { id: 'b-shared', trigger_type: 'queue', function_id: 'b::jobs', config: { queue_name: 'shared' } }],
    [onB, { id: 'b-only', trigger_type: 'queue', function_id: 'b::jobs', config: { queue_name: 'b-only' } }],
    [onB, { id: 'b-cron', trigger_type: 'cron', function_id: 'b::fn', config: { schedule: '0 0 * * *' } }],
    // Bound on A to a function only B serves.
    [onA, { id: 'a-cron', trigger_type: 'cron', function_id: 'b::fn', config: { schedule: '0 1 * * *' } }],
  ] as const) {
    const result = await (w as WorkerClient).registerTrigger(request)
    assert.not.ok(result.error, JSON.stringify(result))
  }

  // Queues: the shared store's counts once, each engine's consumers with its engine id.
  type Queue = { queue_name: string; ready: number; consumers: Array<{ trigger_id: string; engine_id: string }> }
  const { queues } = await onA.invoke<{ queues: Queue[] }>('engine::queue::list')
  const byName = new Map(queues.map((q) => [q.queue_name, q]))
  assert.equal(byName.get('shared')?.consumers.map((c) => [c.trigger_id, c.engine_id]).sort(), [['a-shared', ea], ['b-shared', eb]].sort())
  assert.equal(byName.get('b-only')?.consumers.map((c) => [c.trigger_id, c.engine_id]), [['b-only', eb]])
  // A message sent on B, not consumed yet (no trigger on 'parked'): counted once, on A as on B.
  await onB.invoke('engine::queue::send', { queue_name: 'parked', body: 1 })
  const parked = await until(async () => (await onA.invoke<{ queues: Queue[] }>('engine::queue::list')).queues.find((q) => q.queue_name === 'parked' && q.ready === 1), 5000, 'parked on A')
  assert.equal(parked!.consumers, [])

  // workers::info: by name and by id, found on B.
  const beta = await onA.invoke<{ engine_id: string; worker: { worker_id: string; name: string }; functions: Array<{ function_id: string }> }>('engine::workers::info', { name: 'beta' })
  assert.is(beta.engine_id, eb)
  assert.is(beta.worker.worker_id, onB.workerId)
  assert.equal(beta.functions.map((f) => f.function_id).sort(), ['b::fn', 'b::jobs'])
  assert.is((await onA.invoke<{ engine_id: string }>('engine::workers::info', { worker_id: onB.workerId })).engine_id, eb)
  assert.is((await onA.invoke<{ engine_id: string }>('engine::workers::info', { name: 'alpha' })).engine_id, ea, "A's own")
  assert.equal(await failure(onA, 'engine::workers::info', { name: 'nobody' }), { code: 'not_found', message: "No worker named 'nobody' is connected" })

  // functions::info: served on B, bound on A and B, each trigger with its engine.
  const fn = await onA.invoke<{ engine_id: string; engines: string[]; workers: string[]; registered_triggers: Array<{ id: string; engine_id: string }> }>('engine::functions::info', { function_id: 'b::fn' })
  assert.is(fn.engine_id, eb)
  assert.equal(fn.engines, [eb])
  assert.equal(fn.workers, [onB.workerId])
  assert.equal(fn.registered_triggers.map((t) => [t.id, t.engine_id]).sort(), [['a-cron', ea], ['b-cron', eb]].sort())
  assert.equal(await failure(onA, 'engine::functions::info', { function_id: 'nobody::fn' }), { code: 'function_not_found', message: "No function registered with ID 'nobody::fn'" })

  // registered-triggers::info: B's trigger, asked on A.
  const trigger = await onA.invoke<{ id: string; engine_id: string; worker_id: string; next_run?: string }>('engine::registered-triggers::info', { id: 'b-cron' })
  assert.equal([trigger.id, trigger.engine_id, trigger.worker_id], ['b-cron', eb, onB.workerId])
  assert.type(trigger.next_run, 'string')
  assert.equal(await failure(onA, 'engine::registered-triggers::info', { id: 'nobody' }), { code: 'trigger_not_found', message: "No trigger with ID 'nobody' is registered" })
  // A malformed query is refused on the engine asked, as alone.
  assert.is((await failure(onA, 'engine::workers::info', {})).code, 'invalid_message')

  // `signalbox ls queues` on A: each consumer with its engine.
  const ls = spawnSync(process.execPath, [cli, 'ls', 'queues', '--url', a.url], { encoding: 'utf8', env: { ...process.env, SIGNALBOX_CONFIG: '' } })
  assert.is(ls.status, 0, ls.stderr)
  const line = ls.stdout.split('\n').find((l) => l.startsWith('b-only'))
  assert.ok(line?.includes(`b-only → b::jobs (beta (${onB.workerId!.slice(0, 8)}) on ${eb})`), ls.stdout)
}, 60_000))

it('/metrics on A: every engine\'s series labelled engine_id; ?scope=engine A\'s alone; B not answering in time is left out and said', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const [ea, eb] = await Promise.all([engineIdOf(a), engineIdOf(b)])
  const onA = await worker(a.url)
  const onB = await worker(b.url)
  await worker(b.url)
  onB.registerFunction('b::fn', () => 'b')
  await whenServed(onA, 'b::fn')
  await bothMembers(a)
  const scrape = async (query = '') => {
    const res = await fetch(`${httpOf(a)}/metrics${query}`)
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() }
  }
  // Through the same listener, as Prometheus scrapes it.
  const all = await until(async () => {
    const m = await scrape()
    // B's sessions as B counts them: its two workers.
    return m.text.includes(`signalbox_sessions{engine_id="${eb}"} 2`) ? m : undefined
  }, 5000, "B's sessions in A's /metrics")
  assert.is(all!.status, 200)
  assert.match(all!.type!, /^text\/plain/)
  const lines = all!.text.split('\n')
  assert.ok(lines.includes(`signalbox_sessions{engine_id="${ea}"} 1`), all!.text)
  assert.is(lines.filter((l) => l === '# TYPE signalbox_sessions gauge').length, 1, 'one TYPE per family')
  assert.ok(lines.includes(`signalbox_cluster_engine_up{engine_id="${ea}"} 1`))
  assert.ok(lines.includes(`signalbox_cluster_engine_up{engine_id="${eb}"} 1`))
  // The calls B served for A, counted on B.
  assert.ok(lines.some((l) => l.startsWith('signalbox_invocations_total{') && l.includes(`engine_id="${eb}"`)), all!.text)
  // Every sample says its engine.
  assert.ok(lines.filter((l) => l && !l.startsWith('#')).every((l) => /engine_id="e[^"]+"/.test(l)))

  const own = await scrape('?scope=engine')
  assert.is(own.status, 200)
  assert.ok(own.text.includes(`signalbox_sessions{engine_id="${ea}"} 1`))
  assert.not.ok(own.text.includes(eb), "A's alone")
  assert.is((await scrape('?scope=everything')).status, 400)

  // Garbage answered on the listing subject by something that is not an engine: refused, and A scrapes on.
  const nc = await connect({ servers: nats.url })
  try {
    const sub = nc.subscribe('signalbox.listing', { callback: (_err, msg) => void msg.respond(new TextEncoder().encode('{"engine_id":"e1-fake","result":"# HELP x\\nnot a sample"}')) })
    const withGarbage = await scrape()
    assert.is(withGarbage.status, 200)
    assert.not.ok(withGarbage.text.includes('e1-fake'))
    // It does not take B's place: B's series are there.
    assert.ok(withGarbage.text.includes(`signalbox_sessions{engine_id="${eb}"} 2`), withGarbage.text)
    assert.ok(withGarbage.text.includes(`signalbox_cluster_engine_up{engine_id="${eb}"} 1`))
    const { workers } = await onA.invoke<{ workers: Array<{ engine_id: string }> }>('engine::workers::list')
    assert.equal([...new Set(workers.map((w) => w.engine_id))].sort(), [ea, eb].sort())
    sub.unsubscribe()
  } finally {
    await nc.close()
  }

  // B stopped (SIGSTOP): still a member for 3.5 s, but it answers nothing; A's scrape ends after a second without it.
  b.child.kill('SIGSTOP')
  try {
    const t0 = Date.now()
    const without = await scrape()
    const took = Date.now() - t0
    assert.is(without.status, 200)
    assert.ok(took < 3000, `the scrape took ${took} ms`)
    const rows = without.text.split('\n')
    assert.ok(rows.includes(`signalbox_cluster_engine_up{engine_id="${eb}"} 0`), without.text)
    assert.ok(rows.some((l) => l.startsWith(`# signalbox: engine ${eb} did not answer`)))
    assert.not.ok(rows.some((l) => !l.startsWith('#') && l.includes(`engine_id="${eb}"`) && !l.startsWith('signalbox_cluster_engine_up')), 'none of B\'s series')
    assert.ok(rows.includes(`signalbox_sessions{engine_id="${ea}"} 1`))
  } finally {
    b.child.kill('SIGCONT')
  }
}, 60_000))

it("the console's data feed on A (its WebSocket) lists both engines in the overview; B's workers counted", limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const [ea, eb] = await Promise.all([engineIdOf(a), engineIdOf(b)])
  await worker(b.url, 'beta')
  const ws = new WebSocket(`${a.url}/console/ws`)
  const overviews: Array<Record<string, any>> = []
  ws.on('message', (data) => {
    const m = JSON.parse(String(data))
    if (m.type === 'state' && m.sections.overview) overviews.push(m.sections.overview)
  })
  try {
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)))
    ws.send(JSON.stringify({ type: 'hello' }))
    type Engine = { engine_id: string; host: string; url?: string; workers: number; functions: number; started_at: string }
    const cluster = await until(() => {
      const c = overviews.at(-1)?.cluster as { engine_id: string; engines: Engine[] } | undefined
      return c && c.engines.length === 2 && c.engines.find((e) => e.engine_id === eb)?.workers === 1 ? c : undefined
    }, 15_000, 'both engines, B with its worker, in the overview')
    assert.is(cluster!.engine_id, ea)
    assert.equal(cluster!.engines.map((e) => e.engine_id).sort(), [ea, eb].sort())
    const onB = cluster!.engines.find((e) => e.engine_id === eb)!
    assert.is(onB.url, b.url)
    assert.ok(onB.host.length > 0 && !Number.isNaN(Date.parse(onB.started_at)))
  } finally {
    ws.terminate()
  }
}, 60_000))

it.run()
