/**
 * The queue semantics that teams moving from SQS and BullMQ rely on, end to end over real
 * sockets, on the memory, SQLite and JetStream stores alike: dead-letter queues consumed by
 * triggers, the sender's trace context on every path that runs a function, FIFO message
 * groups under concurrency, backoff, deduplication, delays (per send, per enqueue, as a
 * queue default), the queue listing and the refusals of queues whose triggers disagree.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { EngineOptions } from '../adapters/engine.js'
import type { WorkerClient } from '../client/worker.js'
import { eachWithEngine, limit, until, type EngineCtx } from './harness.js'
import { peersOver, transports } from './transports.js'
import { suiteNats } from './nats-server.js'

type Ctx = EngineCtx & { dir?: string }
type Message = Record<string, any> & { message_id: string; body: any; receive_count: number }
type Batch = { queue_name: string; messages: Message[] }

const nats = suiteNats()
const stores: Array<{ name: string; options(ctx: Ctx): EngineOptions; server?: typeof nats }> = [
  { name: 'memory', options: () => ({ store: 'memory' }) },
  {
    name: 'sqlite',
    options: (ctx) => {
      ctx.dir = mkdtempSync(join(tmpdir(), 'signalbox-semantics-'))
      return { store: { sqlite: join(ctx.dir, 'queues.sqlite') } }
    },
  },
  // A real nats-server -js (test/nats-server.ts); without one installed this suite fails, saying so.
  { name: 'jetstream', options: () => ({ store: { jetstream: nats.url, name: nats.fresh() } }), server: nats },
]
const websocket = transports.find((t) => t.name === 'websocket')!
const W3C = /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/

for (const store of stores) {
  const it = suite<Ctx>(`queue semantics (${store.name} store)`)
  if (store.server) {
    it.before(() => store.server!.start())
    it.after(() => store.server!.stop())
  }
  eachWithEngine(
    it,
    (ctx) => ((ctx.dir = undefined), store.options(ctx)),
    (ctx) => ctx.dir && rmSync(ctx.dir, { recursive: true, force: true }),
  )
  const peers = peersOver(websocket)
  const send = async (w: WorkerClient, data: Record<string, unknown>) => ((await w.invoke('engine::queue::send', data)) as { message_id: string }).message_id
  const trigger = async (w: WorkerClient, id: string, function_id: string, config: Record<string, unknown>) => {
    const result = await w.registerTrigger({ id, trigger_type: 'queue', function_id, config })
    assert.is(result.error, undefined, JSON.stringify(result))
  }

  it('a dead-letter queue is a queue: a trigger bound to it receives the dead letters, with where they came from', limit(async (ctx) => {
    const w = await peers.worker(ctx)
    const poisoned: Message[] = []
    w.registerFunction('resize', (batch: Batch) => {
      poisoned.push(...batch.messages)
      throw Object.assign(new Error('cannot resize'), { code: 'resize_failed' })
    })
    await trigger(w, 'poison', 'resize', { queue_name: 'poison', visibility_timeout: 1, max_receive_count: 2 })
    const dead: Message[] = []
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    w.registerFunction('inspect', async (batch: Batch) => {
      dead.push(...batch.messages)
      await held
      return null
    })
    await trigger(w, 'poison-dlq', 'inspect', { queue_name: 'poison.dlq' })
    const id = await send(w, { queue_name: 'poison', body: { image: 7 } })
    await until(() => dead.length === 1, 8000, 'the dead letter at the trigger on poison.dlq')
    assert.equal(poisoned.map((m) => m.receive_count), [1, 2])
    const [d] = dead
    assert.equal(
      { id: d.message_id, body: d.body, receive_count: d.receive_count, source_queue: d.source_queue, source_receive_count: d.source_receive_count, code: d.last_error?.code },
      { id, body: { image: 7 }, receive_count: 1, source_queue: 'poison', source_receive_count: 2, code: 'resize_failed' },
    )
    // Still listed (in flight on its own queue), counted under the dead-letter queue's own name.
    const listed = (await w.invoke('engine::queue::dlq', { queue_name: 'poison' })) as { messages: Message[] }
    assert.equal(listed.messages.map((m) => [m.message_id, m.source_queue]), [[id, 'poison']])
    const metrics = await ctx.engine.metrics.render()
    assert.match(metrics, /signalbox_queue_messages\{queue="poison\.dlq",state="in_flight"\} 1/)
    assert.match(metrics, /signalbox_queue_messages\{queue="poison",state="dead_lettered"\} 1/)
    release()
    await until(async () => ((await w.invoke('engine::queue::dlq', { queue_name: 'poison' })) as { messages: unknown[] }).messages.length === 0, 3000, 'the dead letter acknowledged')
  }))

  it("the caller's trace context and metadata reach the function on every path: direct, void, enqueue, http, cron, queue", limit(async (ctx) => {
    const server = await peers.raw(ctx)
    for (const id of ['direct', 'void', 'enqueued', 'http', 'cron', 'queued']) server.send({ type: 'registerfunction', id })
    const caller = await peers.raw(ctx)
    const ctxOf = (name: string) => ({ traceparent: `00-${name.padEnd(32, '0').slice(0, 32).replace(/[^0-9a-f]/g, 'a')}-00f067aa0ba902b7-01`, baggage: `path=${name}`, metadata: { path: name } })
    const answerAll = () => {
      for (const m of server.received) {
        if (m.type === 'invokefunction' && m.invocation_id && !m.answered) {
          m.answered = true
          server.send({ type: 'invocationresult', invocation_id: m.invocation_id, function_id: m.function_id, result: { status_code: 200 } })
        }
      }
    }
    const seen = async (function_id: string) => {
      const m = await server.next((m) => m.type === 'invokefunction' && m.function_id === function_id, 8000)
      answerAll()
      return m
    }
    caller.send({ type: 'invokefunction', invocation_id: 'c1', function_id: 'direct', data: {}, ...ctxOf('direct') })
    const direct = await seen('direct')
    caller.send({ type: 'invokefunction', function_id: 'void', data: {}, action: { type: 'void' }, ...ctxOf('void') })
    const fired = await seen('void')
    caller.send({ type: 'invokefunction', invocation_id: 'c2', function_id: 'enqueued', data: { n: 1 }, action: { type: 'enqueue', queue: 'jobs' }, ...ctxOf('enqueued') })
    const enqueued = await seen('enqueued')
    for (const [name, m] of [['direct', direct], ['void', fired], ['enqueued', enqueued]] as const) {
      assert.equal({ traceparent: m.traceparent, baggage: m.baggage, metadata: m.metadata }, ctxOf(name), name)
    }

    // http: the request's trace headers, and the trigger's metadata.
    server.send({ type: 'registertrigger', id: 'h', trigger_type: 'http', function_id: 'http', config: { path: '/traced' }, metadata: { path: 'http-trigger' } })
    await server.next((m) => m.type === 'triggerregistrationresult' && m.id === 'h')
    const response = fetch(ctx.engine.httpUrl + '/traced', { headers: { traceparent: ctxOf('http').traceparent, baggage: 'path=http' } })
    const http = await seen('http')
    assert.is((await response).status, 200)
    assert.equal({ traceparent: http.traceparent, baggage: http.baggage, metadata: http.metadata }, { traceparent: ctxOf('http').traceparent, baggage: 'path=http', metadata: { path: 'http-trigger' } })

    // cron: each run starts a trace of its own and carries the trigger's metadata.
    server.send({ type: 'registertrigger', id: 'c', trigger_type: 'cron', function_id: 'cron', config: { schedule: '* * * * * *' }, metadata: { path: 'cron-trigger' } })
    const cron = await seen('cron')
    assert.match(cron.traceparent, W3C)
    assert.equal(cron.metadata, { path: 'cron-trigger' })
    server.send({ type: 'unregistertrigger', id: 'c' })

    // queue: what the sender of the message had; the batch's call carries its first message's.
    server.send({ type: 'registertrigger', id: 'q', trigger_type: 'queue', function_id: 'queued', config: { queue_name: 'traced' } })
    await server.next((m) => m.type === 'triggerregistrationresult' && m.id === 'q')
    caller.send({ type: 'invokefunction', invocation_id: 'c3', function_id: 'engine::queue::send', data: { queue_name: 'traced', body: 'b' }, ...ctxOf('queued') })
    const queued = await seen('queued')
    assert.equal({ traceparent: queued.traceparent, baggage: queued.baggage, metadata: queued.metadata }, ctxOf('queued'))
    const [message] = queued.data.messages
    assert.equal({ traceparent: message.traceparent, baggage: message.baggage, metadata: message.metadata }, ctxOf('queued'))
  }, 15_000))

  it('FIFO: each group in send order, one batch per group in flight, groups in parallel; a failing message holds only its group', limit(async (ctx) => {
    const w = await peers.worker(ctx)
    const order = new Map<string, number[]>()
    const inFlight = new Map<string, number>()
    let overlap = 0
    let parallel = 0
    let failedOnce = false
    w.registerFunction('ordered', async (batch: Batch) => {
      const group = batch.messages[0].message_group_id
      assert.ok(batch.messages.every((m) => m.message_group_id === group), 'a batch holds one group')
      if ((inFlight.get(group) ?? 0) > 0) overlap++
      inFlight.set(group, (inFlight.get(group) ?? 0) + 1)
      parallel = Math.max(parallel, [...inFlight.values()].filter((n) => n > 0).length)
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 15))
      inFlight.set(group, inFlight.get(group)! - 1)
      if (group === 'g1' && batch.messages.some((m) => m.body === 3) && !failedOnce) {
        failedOnce = true
        throw new Error('once')
      }
      for (const m of batch.messages) (order.get(group) ?? order.set(group, []).get(group)!).push(m.body)
      return null
    })
    await trigger(w, 'ordered', 'ordered', { queue_name: 'orders', fifo: true, concurrency: 4, batch_size: 3, backoff: { type: 'fixed', delay_ms: 100 } })
    for (let n = 0; n < 12; n++) for (const g of ['g0', 'g1', 'g2']) await send(w, { queue_name: 'orders', body: n, message_group_id: g })
    await until(() => [...order.values()].reduce((a, l) => a + l.length, 0) === 36, 15_000, 'every message handled')
    for (const g of ['g0', 'g1', 'g2']) assert.equal(order.get(g), Array.from({ length: 12 }, (_, n) => n), `group ${g} in send order`)
    assert.is(overlap, 0, 'never two batches of one group at once')
    assert.ok(parallel >= 2, `groups ran in parallel (${parallel} at most)`)
    assert.ok(failedOnce, 'the batch holding g1\'s message 3 failed once, and came back')
  }, 20_000))

  it('backoff: a failed message comes back after its delay, not after its visibility timeout', limit(async (ctx) => {
    const w = await peers.worker(ctx)
    const at: number[] = []
    w.registerFunction('flaky', () => {
      at.push(Date.now())
      if (at.length < 3) throw new Error('not yet')
      return null
    })
    await trigger(w, 'flaky', 'flaky', { queue_name: 'flaky', visibility_timeout: 60, backoff: { type: 'exponential', delay_ms: 200, max_delay_ms: 2000 } })
    await send(w, { queue_name: 'flaky', body: 'x' })
    await until(() => at.length === 3, 8000, 'three deliveries, well before the 60 s visibility timeout')
    // Exponential with equal jitter: 100–200 ms after the first failure, 200–400 ms after the second.
    assert.ok(at[1] - at[0] >= 100, `first retry after ${at[1] - at[0]} ms`)
    assert.ok(at[2] - at[1] >= 200, `second retry after ${at[2] - at[1]} ms`)
  }))

  it('deduplication: a second send with the same id is answered with the first id and delivered once; enqueue too', limit(async (ctx) => {
    const w = await peers.worker(ctx)
    const got: unknown[] = []
    w.registerFunction('once', (batch: Batch) => void got.push(...batch.messages.map((m) => m.body)))
    await trigger(w, 'once', 'once', { queue_name: 'once' })
    const a = await send(w, { queue_name: 'once', body: 1, deduplication_id: 'order-1' })
    const b = await send(w, { queue_name: 'once', body: 2, deduplication_id: 'order-1' })
    const c = await send(w, { queue_name: 'once', body: 3, deduplication_id: 'order-2' })
    assert.is(b, a)
    assert.is.not(c, a)
    const calls: number[] = []
    w.registerFunction('job', (data: { n: number }) => void calls.push(data.n))
    const raw = await peers.raw(ctx)
    for (const [id, n] of [['e1', 1], ['e2', 2]] as const) {
      raw.send({ type: 'invokefunction', invocation_id: id, function_id: 'job', data: { n }, action: { type: 'enqueue', queue: 'jobs', deduplication_id: 'job-1' } })
    }
    const [r1, r2] = [await raw.next((m) => m.invocation_id === 'e1'), await raw.next((m) => m.invocation_id === 'e2')]
    assert.is(r2.result.message_id, r1.result.message_id)
    await until(() => got.length === 2 && calls.length === 1, 3000, 'one delivery per distinct id')
    assert.equal(got, [1, 3])
    assert.equal(calls, [1])
  }))

  it('delays: per send, per enqueue, and the queue trigger\'s default; nothing is delivered early', limit(async (ctx) => {
    const w = await peers.worker(ctx)
    const arrived = new Map<unknown, number>()
    w.registerFunction('timed', (batch: Batch) => void batch.messages.forEach((m) => arrived.set(m.body, Date.now())))
    await trigger(w, 'timed', 'timed', { queue_name: 'timed', delay_seconds: 1 })
    const start = Date.now()
    await send(w, { queue_name: 'timed', body: 'default' })
    await send(w, { queue_name: 'timed', body: 'now', delay_seconds: 0 })
    const ran: number[] = []
    w.registerFunction('later', () => void ran.push(Date.now()))
    const raw = await peers.raw(ctx)
    raw.send({ type: 'invokefunction', invocation_id: 'd', function_id: 'later', data: {}, action: { type: 'enqueue', queue: 'later', delay_seconds: 1 } })
    assert.ok((await raw.next((m) => m.invocation_id === 'd')).result.message_id)
    await until(() => arrived.size === 2 && ran.length === 1, 5000, 'every message')
    assert.ok(arrived.get('now')! - start < 900, 'an explicit 0 overrides the default')
    assert.ok(arrived.get('default')! - start >= 1000, `the queue's default delay held it ${arrived.get('default')! - start} ms`)
    assert.ok(ran[0] - start >= 1000, `the enqueued call waited ${ran[0] - start} ms`)
    const bad = (await w.invoke('engine::queue::send', { queue_name: 'timed', body: 1, delay_seconds: 43_201 }).catch((e: Error) => e)) as Error
    assert.is(bad.message, "engine::queue::send: 'delay_seconds' must be a whole number from 0 to 43200, got 43201")
  }))

  it('engine::queue::list: every queue with its counts, oldest message and consumers', limit(async (ctx) => {
    const w = await peers.worker(ctx)
    w.registerFunction('hold', () => new Promise(() => {}))
    await trigger(w, 'busy', 'hold', { queue_name: 'busy', fifo: true })
    await send(w, { queue_name: 'busy', body: 1, message_group_id: 'a' })
    await send(w, { queue_name: 'idle', body: 2 })
    await send(w, { queue_name: 'idle', body: 3, delay_seconds: 60 })
    const { queues } = (await until(async () => {
      const answer = (await w.invoke('engine::queue::list', {})) as { queues: Array<Record<string, any>> }
      return answer.queues.find((q) => q.queue_name === 'busy')?.in_flight === 1 && answer
    }, 3000, 'the batch in flight')) as { queues: Array<Record<string, any>> }
    assert.equal(queues.map((q) => q.queue_name), ['busy', 'idle'])
    const [busy, idle] = queues
    assert.equal({ ...busy, oldest_message_age_seconds: typeof busy.oldest_message_age_seconds }, {
      queue_name: 'busy', ready: 0, in_flight: 1, delayed: 0, dead_lettered: 0, oldest_message_age_seconds: 'number', fifo: true,
      consumers: [{ worker_id: w.workerId, trigger_id: 'busy', function_id: 'hold', in_flight: 1 }],
    })
    assert.equal({ ready: idle.ready, delayed: idle.delayed, fifo: idle.fifo, consumers: idle.consumers }, { ready: 1, delayed: 1, fifo: false, consumers: [] })
  }))

  it("triggers on one queue must agree on what is the queue's own: the second is refused, naming the first", limit(async (ctx) => {
    const w = await peers.worker(ctx)
    w.registerFunction('f', () => null)
    await trigger(w, 'first', 'f', { queue_name: 'shared', fifo: true })
    const second = await w.registerTrigger({ id: 'second', trigger_type: 'queue', function_id: 'f', config: { queue_name: 'shared' } })
    assert.equal(second.error, { code: 'invalid_config', message: `queue 'shared' is FIFO for trigger 'first' of worker '${w.workerId}'; every trigger on a queue must give the same 'fifo'` })
    const third = await w.registerTrigger({ id: 'third', trigger_type: 'queue', function_id: 'f', config: { queue_name: 'shared', fifo: true, batch_size: 5 } })
    assert.is(third.error, undefined)
    const bad = (await w.invoke('engine::queue::send', { queue_name: 'shared', body: 1, message_group_id: '' }).catch((e: Error) => e)) as Error
    assert.is(bad.message, "engine::queue::send: 'message_group_id' must be 1 to 128 printable characters, got ''")
  }))

  it.run()
}
