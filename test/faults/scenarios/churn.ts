/**
 * Churn: hundreds of sessions at once, each connecting, registering functions and a
 * trigger of every built-in type (an http route, a cron schedule firing every second, a
 * queue consumer), calling its own function, sending a queue message, calling its route,
 * and leaving, over and over. Proves that nothing is lost on the way (every call and
 * request answered right, every acknowledged message delivered) and that once the last
 * session has gone the engine holds nothing it did not hold at the start: no extra actor,
 * socket, timer or XState scheduled event, no route, schedule, queue consumer or lease, no
 * call in flight (counted through the engine: the actors' snapshots, /healthz, /metrics
 * and its engine functions), and a heap within 10 % of the start (the program's objects,
 * read from heap snapshots through the Node inspector; with compiled code, reported).
 */
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { connectWorker } from '../../../client/ws-client.js'
import type { WorkerClient } from '../../../client/worker.js'
import { until } from '../../harness.js'
import { Child } from '../child.js'
import { metricValue, procMemory, tempDataDir, cleanUpEngines } from '../engine-process.js'
import { httpRequest } from '../http-get.js'
import { connectInspector } from '../inspector-probe.js'
import { fmt, type Outcome } from '../outcome.js'

export interface ChurnSize {
  /** Sessions at once, each in its own loop. */
  sessions: number
  /** How long the loops run. */
  seconds: number
}

export const CHURN_SHORT: ChurnSize = { sessions: 500, seconds: 2 }
export const CHURN_LONG: ChurnSize = { sessions: 500, seconds: 60 }

/** Queues the sessions spread their messages over. */
const QUEUES = 8

type HostInfo = { url: string; httpUrl: string; controlUrl: string; pid: number; inspector: string }
type Census = Record<string, any>

interface Tally {
  cycles: number
  calls: number
  requests: number
  sent: Set<string>
  received: Set<string>
  ticks: number
  failures: string[]
}

/** One session's life: connect, register, use, leave. */
async function cycle(info: HostInfo, slot: number, n: number, tally: Tally): Promise<void> {
  let w: WorkerClient | undefined
  try {
    w = await connectWorker(info.url, { name: `churn-${slot % 10}`, reconnect: false, logger: false, connectTimeoutMs: 30_000 })
    const own = `churn::own-${slot}`
    const queue_name = `churn-${slot % QUEUES}`
    w.registerFunction(own, (data: { path_params?: unknown }) => (data?.path_params ? { status_code: 200, body: { slot, n } } : { slot, n }))
    w.registerFunction('churn::queue', (batch: { messages: Array<{ body: { id: string } }> }) => void batch.messages.forEach((m) => tally.received.add(m.body.id)))
    w.registerFunction('churn::tick', () => void tally.ticks++)
    const path = `/churn/${slot}/${n}`
    const results = await Promise.all([
      w.registerTrigger({ id: `http-${slot}-${n}`, trigger_type: 'http', function_id: own, config: { path, method: 'GET' } }),
      w.registerTrigger({ id: `cron-${slot}-${n}`, trigger_type: 'cron', function_id: 'churn::tick', config: { schedule: '* * * * * *' } }),
      w.registerTrigger({ id: `queue-${slot}-${n}`, trigger_type: 'queue', function_id: 'churn::queue', config: { queue_name, batch_size: 5, visibility_timeout: 1, max_receive_count: 100 } }),
    ])
    for (const r of results) if (r.error) tally.failures.push(`slot ${slot} cycle ${n}: ${r.id} refused: ${JSON.stringify(r.error)}`)
    const answer = await w.invoke<{ slot: number; n: number }>(own, {})
    if (answer?.slot !== slot || answer.n !== n) tally.failures.push(`slot ${slot} cycle ${n}: its own call answered ${JSON.stringify(answer)}`)
    else tally.calls++
    const id = `${slot}-${n}`
    await w.invoke('engine::queue::send', { queue_name, body: { id } })
    tally.sent.add(id)
    const res = await httpRequest(`${info.httpUrl}${path}`)
    if (res.status !== 200 || res.body !== JSON.stringify({ slot, n })) tally.failures.push(`slot ${slot} cycle ${n}: GET ${path} → ${res.status} ${res.body.slice(0, 200)}`)
    else tally.requests++
    tally.cycles++
  } catch (err) {
    tally.failures.push(`slot ${slot} cycle ${n}: ${(err as Error).message}`)
  } finally {
    w?.close()
  }
}

async function churnFor(info: HostInfo, sessions: number, ms: number, tally: Tally): Promise<void> {
  const end = Date.now() + ms
  await Promise.all(
    Array.from({ length: sessions }, async (_, slot) => {
      for (let n = 0; Date.now() < end; n++) await cycle(info, slot, n, tally)
    }),
  )
}

/** Consumes every queue until each message sent has been seen; then leaves. */
async function drain(info: HostInfo, tally: Tally): Promise<void> {
  const w = await connectWorker(info.url, { name: 'churn-drain', reconnect: false, logger: false })
  try {
    w.registerFunction('drain::queue', (batch: { messages: Array<{ body: { id: string } }> }) => void batch.messages.forEach((m) => tally.received.add(m.body.id)))
    for (let q = 0; q < QUEUES; q++) {
      const r = await w.registerTrigger({ id: `drain-${q}`, trigger_type: 'queue', function_id: 'drain::queue', config: { queue_name: `churn-${q}`, batch_size: 50, visibility_timeout: 1 } })
      assert.not.ok(r.error, JSON.stringify(r))
    }
    const missing = () => [...tally.sent].filter((id) => !tally.received.has(id))
    await until(() => missing().length === 0, 30_000, `every acknowledged message delivered (missing: ${missing().slice(0, 10)})`)
    const { queues } = await w.invoke<{ queues: Array<{ queue_name: string; ready: number; in_flight: number; delayed: number; dead_lettered: number }> }>('engine::queue::list')
    for (const q of queues) assert.equal([q.queue_name, q.dead_lettered], [q.queue_name, 0], 'nothing dead-lettered')
  } finally {
    w.close()
  }
}

/** What must be back to where it was before anyone connected, and what must be empty, once every session has gone. */
function leftovers(start: Census, now: Census): string[] {
  const wrong: string[] = []
  for (const key of ['actors', 'engineChildren', 'timers', 'sockets', 'scheduledEvents']) if (now[key] !== start[key]) wrong.push(`${key}: ${start[key]} at the start, ${now[key]} now`)
  for (const key of ['catalogWorkers', 'catalogFunctions', 'routes', 'cronJobs', 'queueConsumers', 'queueBatchesInFlight', 'callsInFlight']) if (now[key] !== 0) wrong.push(`${key}: ${now[key]}`)
  return wrong
}

/** The same counts through what the engine serves: /healthz, /metrics and its engine functions. */
async function servedCounts(info: HostInfo): Promise<string[]> {
  const wrong: string[] = []
  const health = JSON.parse((await httpRequest(`${info.controlUrl}/healthz`)).body)
  if (health.sessions !== 0 || health.functions !== 0 || Object.keys(health.triggers).length !== 0) wrong.push(`/healthz: ${JSON.stringify(health)}`)
  const metrics = (await httpRequest(`${info.controlUrl}/metrics`)).body
  for (const name of ['signalbox_sessions', 'signalbox_functions', 'signalbox_triggers']) if (metricValue(metrics, name) !== 0) wrong.push(`${name} ${metricValue(metrics, name)}`)
  const w = await connectWorker(info.url, { reconnect: false, logger: false })
  try {
    const { workers } = await w.invoke<{ workers: Array<{ worker_id: string }> }>('engine::workers::list')
    if (workers.length !== 1 || workers[0].worker_id !== w.workerId) wrong.push(`engine::workers::list: ${workers.length} workers besides the one asking`)
    const { registered_triggers: triggers } = await w.invoke<{ registered_triggers: unknown[] }>('engine::registered-triggers::list')
    if (triggers.length !== 0) wrong.push(`engine::registered-triggers::list: ${triggers.length} triggers`)
    const { functions } = await w.invoke<{ functions: Array<{ engine?: boolean }> }>('engine::functions::list')
    if (functions.some((f) => !f.engine)) wrong.push(`engine::functions::list: ${functions.filter((f) => !f.engine).length} functions of workers`)
    const { queues } = await w.invoke<{ queues: Array<{ queue_name: string; ready: number; in_flight: number; consumers: unknown[] }> }>('engine::queue::list')
    for (const q of queues) if (q.ready || q.in_flight || q.consumers.length) wrong.push(`engine::queue::list: ${JSON.stringify(q)}`)
  } finally {
    w.close()
  }
  return wrong
}

export async function churn(size: ChurnSize): Promise<Outcome> {
  const started = Date.now()
  const host = new Child<HostInfo>('churn engine', 'engine-host', [join(tempDataDir(), 'queues.sqlite')], { execArgv: ['--inspect=127.0.0.1:0'] })
  try {
    const info = await host.ready
    const probe = await connectInspector(info.inspector)
    const census = (): Promise<Census> => host.call('census')
    /** The engine before anyone connected: what it must come back to. */
    const idle = await census()
    const settled = async (what: string) => {
      let wrong: string[] = []
      await until(async () => (wrong = leftovers(idle, await census())).length === 0, 15_000, what).catch(() => {})
      assert.equal(wrong, [], `${what}: nothing left over`)
    }

    // A first, small round, so that what is measured after is not first-use allocation.
    const warm: Tally = { cycles: 0, calls: 0, requests: 0, sent: new Set(), received: new Set(), ticks: 0, failures: [] }
    await churnFor(info, 50, 500, warm)
    await drain(info, warm)
    assert.equal(warm.failures, [], 'the warm-up round had no failure')
    await settled('after the warm-up round')
    const heapStart = await probe.heapSplit()

    const tally: Tally = { cycles: 0, calls: 0, requests: 0, sent: new Set(), received: new Set(), ticks: 0, failures: [] }
    await churnFor(info, size.sessions, size.seconds * 1000, tally)
    assert.equal(tally.failures.slice(0, 20), [], `no call, request, registration or send failed (${tally.failures.length} failures)`)
    assert.ok(tally.cycles >= size.sessions, `every session went round at least once (${tally.cycles} cycles)`)
    await drain(info, tally)

    // Once the last closes are handled (and idle HTTP connections timed out), everything is as before anyone came.
    await settled('after the churn')
    assert.equal(await servedCounts(info), [], 'nothing left over, as the engine serves its counts')
    const end = await census()
    const heapEnd = await probe.heapSplit()
    probe.close()
    const growth = heapEnd.program / heapStart.program - 1
    const totalGrowth = heapEnd.total / heapStart.total - 1
    assert.ok(growth <= 0.1, `the heap came back to within 10 % of the start: ${fmt.mb(heapStart.program)} → ${fmt.mb(heapEnd.program)} (${fmt.pct(growth)}) of the program's objects; ${fmt.mb(heapStart.total)} → ${fmt.mb(heapEnd.total)} in all`)
    const { peakRss, rss } = procMemory(host.pid)
    return {
      title: 'Churn',
      load: `${size.sessions} sessions at once for ${size.seconds} s, each connecting, registering 3 functions and an http, a cron (every second) and a queue trigger, calling, sending, requesting, leaving; then again`,
      faults: '-',
      badInputs: '-',
      lost: `nothing: ${fmt.int(tally.calls)} calls, ${fmt.int(tally.requests)} requests, ${fmt.int(tally.sent.size)} messages all delivered; afterwards ${end.actors} actors, ${end.timers} timers, ${end.sockets} sockets as at the start, no route, schedule, consumer, lease or call left`,
      figures: [
        ['sessions opened and closed', fmt.int(tally.cycles)],
        ['calls survived', fmt.int(tally.calls)],
        ['http requests survived', fmt.int(tally.requests)],
        ['messages sent and delivered', fmt.int(tally.sent.size)],
        ['cron runs', fmt.int(tally.ticks)],
        ['heap growth, program objects', fmt.pct(growth)],
        ['heap growth, with compiled code', fmt.pct(totalGrowth)],
      ],
      memory: { heapStart: heapStart.total, heapEnd: heapEnd.total, peakRss, rssEnd: rss },
      seconds: (Date.now() - started) / 1000,
    }
  } finally {
    await host.kill('SIGKILL')
    await cleanUpEngines()
  }
}
