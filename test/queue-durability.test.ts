/**
 * Queue durability with the real program: `signalbox serve` with the SQLite store (and
 * with the JetStream store, on a nats-server -js that outlives the engine) runs as a child
 * process; 1,000 messages are sent, a worker consumes part of them, the engine is killed
 * with SIGKILL and restarted on the same store, and every message is shown
 * delivered at least once, none lost, and none that was acknowledged before the crash
 * delivered again. Durable calls waiting for their function survive the crash too. And
 * visibility: a worker that never answers sees its batch go to a second worker after the
 * timeout.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connectWorker } from '../client/ws-client.js'
import type { WorkerClient } from '../client/worker.js'
import { limit, sleep, until } from './harness.js'
import { suiteNats } from './nats-server.js'
import { startServe, type ServeProcess } from './serve-process.js'

type Message = { message_id: string; body: any; receive_count: number; enqueued_at: string }
type Batch = { queue_name: string; messages: Message[] }

type Server = ServeProcess

const children = new Set<ChildProcess>()
const workers = new Set<WorkerClient>()
const dirs = new Set<string>()

/** Starts `signalbox serve` with the store `store` names (its flags) on free ports; resolves once it printed its ready line. */
const serve = (store: string[]): Promise<Server> => startServe(store, children)

async function worker(url: string): Promise<WorkerClient> {
  const w = await connectWorker(url, { reconnect: false })
  workers.add(w)
  return w
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'signalbox-durable-'))
  dirs.add(dir)
  return dir
}

/** Sends `bodies` to `queue_name` through engine::queue::send, a few hundred calls at a time. */
async function sendAll(w: WorkerClient, queue_name: string, bodies: unknown[]): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < bodies.length; i += 250) {
    const chunk = bodies.slice(i, i + 250)
    const answers = await Promise.all(chunk.map((body) => w.invoke<{ message_id: string }>('engine::queue::send', { queue_name, body })))
    ids.push(...answers.map((a) => a.message_id))
  }
  return ids
}

const nats = suiteNats()
/** Where each run keeps its queues: a data dir of its own, or a nats-server -js of its own (test/nats-server.ts). */
const stores: Array<{ name: string; place(): string[]; server?: typeof nats }> = [
  { name: 'sqlite', place: () => ['--store', 'sqlite', '--data-dir', tempDir()] },
  { name: 'jetstream', place: () => ['--store', 'jetstream', '--nats', nats.url], server: nats },
]

for (const store of stores) {
  const it = suite(`queue durability (signalbox serve, ${store.name} store)`)

  if (store.server) {
    it.before.each(() => store.server!.start())
    it.after.each(() => store.server!.stop())
  }

  it.after.each(async () => {
    for (const w of workers) w.close()
    workers.clear()
    for (const child of children) child.kill('SIGKILL')
    await until(() => children.size === 0, 5000, 'the engines to exit')
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
    dirs.clear()
  })

  it('1,000 messages, SIGKILL mid-way, restart on the same store: every message delivered at least once, none lost', limit(async () => {
    const place = store.place()
    const N = 1000
    const first = await serve(place)
    const sender = await worker(first.url)
    const ids = await sendAll(sender, 'orders', Array.from({ length: N }, (_, i) => i))
    assert.is(new Set(ids).size, N)

    // Durable calls to a function nobody offers yet: they wait, through the crash.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => sender.invoke('late::work', { call: i }, { action: { type: 'enqueue', queue: 'later' } } as any)),
    )

    // The first run: a slow consumer, two batches of 10 in flight at a time.
    const run1 = new Map<number, number>()
    /** When the function answered for each message of the first run (its ack was sent then). */
    const answeredAt = new Map<number, number>()
    const slow = await worker(first.url)
    slow.registerFunction('orders::handle', async (batch: Batch) => {
      for (const m of batch.messages) run1.set(m.body, (run1.get(m.body) ?? 0) + 1)
      await sleep(60)
      const now = Date.now()
      for (const m of batch.messages) answeredAt.set(m.body, now)
      return null
    })
    const config = { queue_name: 'orders', batch_size: 10, visibility_timeout: 2, concurrency: 2 }
    const registered = await slow.registerTrigger({ id: 'orders', trigger_type: 'queue', function_id: 'orders::handle', config })
    assert.not.ok(registered.error, JSON.stringify(registered))
    await until(() => run1.size >= 400, 10_000, 'part of the messages to be consumed')

    first.child.kill('SIGKILL')
    const killedAt = Date.now()
    assert.equal(await first.exited, { code: null, signal: 'SIGKILL' })
    const consumedBefore = run1.size
    assert.ok(consumedBefore < N, `the kill came mid-way (${consumedBefore} of ${N} delivered)`)
    // Messages whose answer went out well before the kill were acknowledged for good.
    const settled = [...answeredAt].filter(([, at]) => at < killedAt - 500).map(([body]) => body)
    assert.ok(settled.length >= 50, `many acknowledged before the crash (${settled.length})`)
    for (const w of workers) w.close()
    workers.clear()

    // The second run: same store, new ports, a new worker.
    const second = await serve(place)
    const run2 = new Map<number, number>()
    const redelivered: Message[] = []
    const fast = await worker(second.url)
    fast.registerFunction('orders::handle', (batch: Batch) => {
      for (const m of batch.messages) {
        run2.set(m.body, (run2.get(m.body) ?? 0) + 1)
        if (run1.has(m.body)) redelivered.push(m)
      }
      return null
    })
    const calls: unknown[] = []
    fast.registerFunction('late::work', (data) => (calls.push(data), null))
    const again = await fast.registerTrigger({ id: 'orders', trigger_type: 'queue', function_id: 'orders::handle', config: { ...config, batch_size: 50 } })
    assert.not.ok(again.error, JSON.stringify(again))

    // A message counts as handled when a run's function answered it while that engine lived:
    // every message of the second run; in the first, those answered before the kill.
    const handled = () => new Set([...[...answeredAt].filter(([, at]) => at < killedAt).map(([body]) => body), ...run2.keys()])
    await until(() => handled().size === N, 15_000, `all ${N} messages handled (so far ${handled().size})`)
    const missing = Array.from({ length: N }, (_, i) => i).filter((i) => !handled().has(i))
    assert.equal(missing, [], 'none lost')
    // Those in flight at the crash (answered only after it, to a dead engine) came again once their lease ended...
    const inFlightAtCrash = [...run1.keys()].filter((body) => !(answeredAt.get(body)! < killedAt))
    assert.ok(inFlightAtCrash.length >= 1, 'the crash caught batches in flight')
    assert.ok(inFlightAtCrash.every((body) => run2.has(body)), `every message in flight at the crash was delivered again: ${inFlightAtCrash}`)
    for (const m of redelivered) assert.is(m.receive_count, 2, `message ${m.body} came on its second receive`)
    // ...and nothing acknowledged well before the crash was delivered again.
    const acknowledged = new Set(settled)
    assert.equal([...run2.keys()].filter((body) => acknowledged.has(body)), [], 'nothing acknowledged before the crash was delivered again')
    assert.ok(redelivered.length <= 40, `only what was in flight came again: ${redelivered.length}`)
    assert.ok([...run2.values()].every((n) => n === 1), 'each delivered once in the second run')

    await until(() => calls.length === 20, 5000, 'the durable calls from before the crash')
    assert.equal(new Set(calls.map((c: any) => c.call)).size, 20)

    // And the store is empty: a while later nothing more arrives, nothing is dead.
    const total = [...run2.values()].reduce((a, b) => a + b, 0)
    await sleep(300)
    assert.is([...run2.values()].reduce((a, b) => a + b, 0), total)
    assert.equal(await fast.invoke('engine::queue::dlq', { queue_name: 'orders' }), { messages: [] })
    assert.equal(await fast.invoke('engine::queue::dlq', { queue_name: 'later' }), { messages: [] })
    second.child.kill('SIGTERM')
    assert.is((await second.exited).code, 0)
  }, 60_000))

  it('a worker that never answers sees its batch redelivered after the timeout; a second worker gets it', limit(async () => {
    const server = await serve(store.place())
    const deliveries: Array<{ who: string; at: number; messages: Array<[unknown, number]> }> = []
    const record = (who: string) => (batch: Batch) => {
      deliveries.push({ who, at: Date.now(), messages: batch.messages.map((m) => [m.body, m.receive_count]) })
    }

    const silent = await worker(server.url)
    await sendAll(silent, 'tasks', ['a', 'b'])
    silent.registerFunction('silent::handle', (batch: Batch) => (record('silent')(batch), new Promise(() => {})))
    const r1 = await silent.registerTrigger({ id: 'silent', trigger_type: 'queue', function_id: 'silent::handle', config: { queue_name: 'tasks', visibility_timeout: 1, batch_size: 5 } })
    assert.not.ok(r1.error, JSON.stringify(r1))
    await until(() => deliveries.length >= 1, 2000, 'the first delivery')

    // Alone, it sees the batch again once the timeout ends.
    await until(() => deliveries.length >= 2, 3000, 'a redelivery to the silent worker')
    assert.equal(deliveries.map((d) => [d.who, d.messages]), [
      ['silent', [['a', 1], ['b', 1]]],
      ['silent', [['a', 2], ['b', 2]]],
    ])
    const redelivery = deliveries[1]
    assert.ok(redelivery.at - deliveries[0].at >= 900, `not before the timeout (${redelivery.at - deliveries[0].at} ms)`)

    // A second worker joins: the next time the batch comes back, it goes to the second worker.
    const helper = await worker(server.url)
    helper.registerFunction('helper::handle', (batch: Batch) => (record('helper')(batch), null))
    const r2 = await helper.registerTrigger({ id: 'helper', trigger_type: 'queue', function_id: 'helper::handle', config: { queue_name: 'tasks', visibility_timeout: 1, batch_size: 5 } })
    assert.not.ok(r2.error, JSON.stringify(r2))
    await until(() => deliveries.length >= 3, 3000, 'the batch to come back a second time')
    assert.equal(deliveries.map((d) => [d.who, d.messages]).slice(2), [['helper', [['a', 3], ['b', 3]]]], 'the second worker got it')
    assert.ok(deliveries[2].at - redelivery.at >= 900, `after the timeout again (${deliveries[2].at - redelivery.at} ms)`)
    // The helper acknowledged them: nothing comes back.
    const count = deliveries.length
    await sleep(1300)
    assert.is(deliveries.length, count)
  }, 15_000))

  it('delays survive SIGKILL: delayed messages, FIFO groups and deduplication ids are as they were after a restart', limit(async () => {
    const place = store.place()
    const first = await serve(place)
    const sender = await worker(first.url)
    const sentAt = Date.now()
    const delayed = await sender.invoke<{ message_id: string }>('engine::queue::send', { queue_name: 'later', body: 'due in 2 s', delay_seconds: 2 })
    const dedup = await sender.invoke<{ message_id: string }>('engine::queue::send', { queue_name: 'later', body: 'once', deduplication_id: 'k-1' })
    const enqueued = await sender.invoke<{ message_id: string }>('later::call', { n: 1 }, { action: { type: 'enqueue', queue: 'calls', delay_seconds: 2 } } as any)
    first.child.kill('SIGKILL')
    assert.equal(await first.exited, { code: null, signal: 'SIGKILL' })

    const second = await serve(place)
    const w = await worker(second.url)
    const got: Array<[unknown, number]> = []
    w.registerFunction('later::handle', (batch: Batch) => void batch.messages.forEach((m) => got.push([m.body, Date.now()])))
    const calls: number[] = []
    w.registerFunction('later::call', () => void calls.push(Date.now()))
    const r = await w.registerTrigger({ id: 'later', trigger_type: 'queue', function_id: 'later::handle', config: { queue_name: 'later' } })
    assert.not.ok(r.error, JSON.stringify(r))
    // The deduplication id is remembered across the crash.
    const again = await w.invoke<{ message_id: string }>('engine::queue::send', { queue_name: 'later', body: 'twice', deduplication_id: 'k-1' })
    assert.is(again.message_id, dedup.message_id)
    await until(() => got.length === 2 && calls.length === 1, 8000, 'the delayed message and call once due')
    const due = got.find(([body]) => body === 'due in 2 s')!
    assert.ok(due[1] - sentAt >= 2000, `not before it was due (${due[1] - sentAt} ms after the send)`)
    assert.ok(calls[0] - sentAt >= 2000, `the delayed durable call waited too (${calls[0] - sentAt} ms)`)
    assert.equal(got.map(([body]) => body).sort(), ['due in 2 s', 'once'])
    assert.ok(delayed.message_id && enqueued.message_id)
  }, 20_000))

  it.run()
}
