/**
 * The shared queue suites (run by queue.test.ts on the memory and SQLite stores, and by
 * queue-jetstream.test.ts on the JetStream store, each file within the runner's time limit).
 * The built-in `queue` trigger type, end to end: one shared suite run against every queue
 * store (memory, SQLite in a fresh temp dir, JetStream on a real nats-server), with workers over real sockets (and the
 * cheap scenarios also in-process). It covers the reference page's queue registration,
 * every config refusal, sending (engine::queue::send, delay_seconds, the enqueue action),
 * batches and the message shape, acknowledgement, retries after an error or a timeout,
 * partial failures (failed_message_ids), late answers, dead letters (listing, redrive),
 * competing triggers, messages that wait for a consumer, consumers stopped by unregister
 * or disconnect (their batches in flight coming back after their timeout), and
 * concurrency.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Engine, EngineOptions } from '../adapters/engine.js'
import type { WorkerClient } from '../client/worker.js'
import { eachWithEngine, limit, sleep, startEngine, until, type EngineCtx } from './harness.js'
import { peersOver, transports, type RawPeer, type Transport } from './transports.js'
import { queueRegistration } from './fixtures/register-trigger.js'
import { createMemoryQueueStore } from '../adapters/memory-queue-store.js'
import { createSqliteQueueStore } from '../adapters/sqlite-queue-store.js'
import { createJetStreamQueueStore } from '../adapters/jetstream-queue-store.js'
import { suiteNats } from './nats-server.js'
import type { QueueStore } from '../core/queue-store.js'

/** A store's counts as plain objects (its records have no prototype, which deep equality minds). */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value))

type Message = { message_id: string; body: any; receive_count: number; enqueued_at: string }
type Batch = { queue_name: string; messages: Message[] }
type Delivery = { at: number; batch: Batch; trigger: string }
type Ctx = EngineCtx & { dir?: string }

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

interface StoreKind {
  name: string
  options(ctx: Ctx): EngineOptions
  /** A server the store needs, started before the suite and stopped after it. */
  server?: ReturnType<typeof suiteNats>
}
const nats = suiteNats()
const stores: StoreKind[] = [
  { name: 'memory', options: () => ({ store: 'memory' }) },
  {
    name: 'sqlite',
    options: (ctx) => {
      ctx.dir = mkdtempSync(join(tmpdir(), 'signalbox-queue-'))
      return { store: { sqlite: join(ctx.dir, 'queues.sqlite') } }
    },
  },
  // A real nats-server -js (test/nats-server.ts); without one installed these suites fail, saying so.
  { name: 'jetstream', options: () => ({ store: { jetstream: nats.url, name: nats.fresh() } }), server: nats },
]

const websocket = transports.find((t) => t.name === 'websocket')!
const inProcess = transports.find((t) => t.name === 'in-process')!

function defineSuite(store: StoreKind, transport: Transport, everything: boolean) {
  const it = suite<Ctx>(`queue (${store.name} store) over ${transport.name}`)
  if (store.server) {
    it.before(() => store.server!.start())
    it.after(() => store.server!.stop())
  }
  /** Scenarios that wait out visibility timeouts run over the WebSocket transport only. */
  const slow: (name: string, fn: (ctx: Ctx) => Promise<void>) => void = everything ? it : () => {}
  const cheap = it

  eachWithEngine(
    it,
    (ctx) => ((ctx.dir = undefined), store.options(ctx)),
    (ctx) => ctx.dir && rmSync(ctx.dir, { recursive: true, force: true }),
  )
  const peers = peersOver(transport)
  const worker = (ctx: Ctx) => peers.worker(ctx)
  const raw = peers.raw
  const send = async (w: WorkerClient, queue_name: string, body: unknown, delay_seconds?: number): Promise<string> => {
    const data: Record<string, unknown> = { queue_name, body }
    if (delay_seconds !== undefined) data.delay_seconds = delay_seconds
    const result = (await w.invoke('engine::queue::send', data)) as { message_id: string }
    assert.equal(Object.keys(result), ['message_id'])
    assert.type(result.message_id, 'string')
    return result.message_id
  }
  const dlq = (w: WorkerClient, data: Record<string, unknown>) => w.invoke<any>('engine::queue::dlq', data)
  /** Lists triggers; its answer also proves every earlier message of `w` was processed. */
  const triggers = async (w: WorkerClient) => ((await w.invoke('engine::registered-triggers::list', {})) as { registered_triggers: Array<Record<string, any>> }).registered_triggers

  /**
   * Registers function `fn:<id>` and a queue trigger `<id>` on it; every batch the function
   * receives is recorded in `seen` (in arrival order) before `handler` decides its answer.
   */
  const consume = async (
    w: WorkerClient,
    id: string,
    config: Record<string, unknown>,
    handler: (batch: Batch, n: number) => unknown = () => null,
    seen: Delivery[] = [],
  ) => {
    let n = 0
    w.registerFunction(`fn:${id}`, (batch: Batch) => {
      seen.push({ at: Date.now(), batch, trigger: id })
      return handler(batch, ++n)
    })
    const result = await w.registerTrigger({ id, trigger_type: 'queue', function_id: `fn:${id}`, config })
    assert.equal(result, { type: 'triggerregistrationresult', id, trigger_type: 'queue', function_id: `fn:${id}` }, JSON.stringify(result))
    return seen
  }
  const bodies = (seen: Delivery[]) => seen.flatMap((d) => d.batch.messages.map((m) => m.body))
  const never = () => new Promise(() => {})

  cheap('the reference page\'s queue registration, request and response to the letter', limit(async (ctx) => {
    const p = await raw(ctx)
    p.send({ type: 'registerfunction', id: 'send_email' })
    p.send(queueRegistration.request)
    const answer = await p.next((m) => m.type === 'triggerregistrationresult')
    assert.equal(answer, queueRegistration.response)
    assert.equal(JSON.stringify(answer), JSON.stringify(queueRegistration.response), 'same keys, same order, nothing else')
    // It consumes: a message sent to email_queue reaches send_email as a batch.
    const sender = await worker(ctx)
    const id = await send(sender, 'email_queue', { to: 'a@example.com' })
    const call = await p.next((m) => m.type === 'invokefunction')
    assert.is(call.function_id, 'send_email')
    assert.is(call.data.queue_name, 'email_queue')
    assert.equal(call.data.messages.map((m: Message) => [m.message_id, m.body]), [[id, { to: 'a@example.com' }]])
    p.send({ type: 'invocationresult', invocation_id: call.invocation_id, function_id: 'send_email', result: null })
  }))

  cheap('every bad config field is refused with invalid_config naming it; the limits themselves are accepted', limit(async (ctx) => {
    const w = await worker(ctx)
    w.registerFunction('job', () => null)
    const ok = { queue_name: 'q' }
    const cases: Array<[Record<string, unknown>, string]> = [
      [{}, 'queue_name'],
      [{ queue_name: '' }, 'queue_name'],
      [{ queue_name: 'x'.repeat(129) }, 'queue_name'],
      [{ queue_name: 'has space' }, 'queue_name'],
      [{ queue_name: 'slash/ed' }, 'queue_name'],
      [{ queue_name: 'émail' }, 'queue_name'],
      [{ queue_name: 'star*' }, 'queue_name'],
      [{ queue_name: 5 }, 'queue_name'],
      [{ queue_name: null }, 'queue_name'],
      [{ queue_name: ['q'] }, 'queue_name'],
      [{ ...ok, batch_size: 0 }, 'batch_size'],
      [{ ...ok, batch_size: 1001 }, 'batch_size'],
      [{ ...ok, batch_size: 1.5 }, 'batch_size'],
      [{ ...ok, batch_size: 'x' }, 'batch_size'],
      [{ ...ok, batch_size: '10' }, 'batch_size'],
      [{ ...ok, batch_size: -1 }, 'batch_size'],
      [{ ...ok, batch_size: null }, 'batch_size'],
      [{ ...ok, visibility_timeout: 0 }, 'visibility_timeout'],
      [{ ...ok, visibility_timeout: 43_201 }, 'visibility_timeout'],
      [{ ...ok, visibility_timeout: 0.5 }, 'visibility_timeout'],
      [{ ...ok, visibility_timeout: '30' }, 'visibility_timeout'],
      [{ ...ok, max_receive_count: 0 }, 'max_receive_count'],
      [{ ...ok, max_receive_count: 101 }, 'max_receive_count'],
      [{ ...ok, max_receive_count: 2.5 }, 'max_receive_count'],
      [{ ...ok, max_receive_count: true }, 'max_receive_count'],
      [{ ...ok, dead_letter_queue: '' }, 'dead_letter_queue'],
      [{ ...ok, dead_letter_queue: 'bad name' }, 'dead_letter_queue'],
      [{ ...ok, dead_letter_queue: 'y'.repeat(129) }, 'dead_letter_queue'],
      [{ ...ok, dead_letter_queue: 7 }, 'dead_letter_queue'],
      [{ ...ok, dead_letter_queue: 'q' }, 'dead_letter_queue'],
      [{ ...ok, concurrency: 0 }, 'concurrency'],
      [{ ...ok, concurrency: 101 }, 'concurrency'],
      [{ ...ok, concurrency: 1.5 }, 'concurrency'],
      [{ ...ok, concurrency: 'x' }, 'concurrency'],
    ]
    let n = 0
    for (const [config, field] of cases) {
      const id = `bad${++n}`
      const result = await w.registerTrigger({ id, trigger_type: 'queue', function_id: 'job', config })
      const what = `${JSON.stringify(config).slice(0, 80)} → ${JSON.stringify(result).slice(0, 300)}`
      assert.equal(Object.keys(result).sort(), ['error', 'function_id', 'id', 'trigger_type', 'type'], what)
      assert.equal([result.id, result.trigger_type, result.function_id], [id, 'queue', 'job'], what)
      const { code, message = "" } = result.error!
      assert.is(code, 'invalid_config', what)
      assert.ok(message.startsWith(`'${field}' `), `names '${field}' first: ${what}`)
      // Only the offending field is named (a dead-letter queue equal to the queue names both).
      const mentioned = field === 'dead_letter_queue' && config.dead_letter_queue === config.queue_name ? ['queue_name', field] : [field]
      for (const other of ['queue_name', 'batch_size', 'visibility_timeout', 'max_receive_count', 'dead_letter_queue', 'concurrency']) {
        if (!mentioned.includes(other)) assert.not.ok(message.includes(`'${other}'`), `names only '${field}': ${what}`)
      }
    }
    assert.equal(await triggers(w), [], 'no refused trigger is listed')

    const accepted: Array<Record<string, unknown>> = [
      { queue_name: 'A-z_0.9:x' },
      { queue_name: 'x'.repeat(128), dead_letter_queue: 'dead' },
      // Its default dead-letter queue, 'x…x.dlq', is longer than 128: still fine.
      { queue_name: 'z'.repeat(128) },
      { queue_name: 'q1', batch_size: 1, visibility_timeout: 1, max_receive_count: 1, concurrency: 1 },
      { queue_name: 'q2', batch_size: 1000, visibility_timeout: 43_200, max_receive_count: 100, concurrency: 100, dead_letter_queue: 'q2:dead' },
    ]
    for (const [i, config] of accepted.entries()) {
      const result = await w.registerTrigger({ id: `ok${i}`, trigger_type: 'queue', function_id: 'job', config })
      assert.equal(result, { type: 'triggerregistrationresult', id: `ok${i}`, trigger_type: 'queue', function_id: 'job' }, JSON.stringify(result))
    }
    const listed = await triggers(w)
    assert.equal(listed.map((t) => [t.id, t.state]), accepted.map((_, i) => [`ok${i}`, 'active']))
  }))

  cheap('engine::queue::send refuses bad queue names and delays, naming the field', limit(async (ctx) => {
    const w = await worker(ctx)
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ body: 1 }, 'queue_name'],
      [{ queue_name: 'bad name', body: 1 }, 'queue_name'],
      [{ queue_name: 'x'.repeat(129), body: 1 }, 'queue_name'],
      [{ queue_name: 'q', body: 1, delay_seconds: -1 }, 'delay_seconds'],
      [{ queue_name: 'q', body: 1, delay_seconds: 1.5 }, 'delay_seconds'],
      [{ queue_name: 'q', body: 1, delay_seconds: '5' }, 'delay_seconds'],
      [{ queue_name: 'q', body: 1, delay_seconds: 43_201 }, 'delay_seconds'],
    ]
    for (const [data, field] of cases) {
      const err = await w.invoke('engine::queue::send', data).then(
        () => undefined,
        (e) => e,
      )
      assert.ok(err, `refused: ${JSON.stringify(data).slice(0, 80)}`)
      assert.is(err.code, 'invalid_message')
      assert.ok(err.message.includes(`'${field}'`), err.message)
    }
  }))

  cheap('a delivered batch: {queue_name, messages: [{message_id, body, receive_count, enqueued_at}]}, nothing else', limit(async (ctx) => {
    const w = await worker(ctx)
    const before = Date.now()
    const payloads = [{ to: 'a@example.com', tags: ['x', { y: null }] }, 'plain text', 42, null, [1, 2, 3], true]
    const ids: string[] = []
    for (const body of payloads) ids.push(await send(w, 'shape', body))
    const after = Date.now()
    assert.is(new Set(ids).size, ids.length, 'every message id is new')
    const seen = await consume(w, 'shape-reader', { queue_name: 'shape', batch_size: 10 })
    await until(() => bodies(seen).length === payloads.length, 2000, 'the batch')
    assert.is(seen.length, 1, 'one batch, as all were waiting')
    const { batch } = seen[0]
    assert.equal(Object.keys(batch).sort(), ['messages', 'queue_name'])
    assert.is(batch.queue_name, 'shape')
    assert.equal(batch.messages.map((m) => m.message_id), ids, 'oldest first, with the ids send returned')
    assert.equal(batch.messages.map((m) => m.body), payloads, 'bodies unchanged')
    for (const m of batch.messages) {
      assert.equal(Object.keys(m).sort(), ['body', 'enqueued_at', 'message_id', 'receive_count'])
      assert.is(m.receive_count, 1)
      assert.match(m.enqueued_at, ISO)
      const t = Date.parse(m.enqueued_at)
      assert.ok(t >= before - 1 && t <= after + 1, `enqueued_at ${m.enqueued_at} is the time of sending`)
    }
  }))

  cheap('messages sent before any trigger exists wait, and go out in batches of up to batch_size, oldest first', limit(async (ctx) => {
    const w = await worker(ctx)
    for (let i = 0; i < 7; i++) await send(w, 'waiting', i)
    await sleep(150)
    const seen = await consume(w, 'waiter', { queue_name: 'waiting', batch_size: 3 })
    await until(() => bodies(seen).length === 7, 2000, 'all seven')
    assert.equal(seen.map((d) => d.batch.messages.map((m) => m.body)), [[0, 1, 2], [3, 4, 5], [6]])
  }))

  cheap('a batch goes out as soon as a message is there: no waiting to fill batch_size', limit(async (ctx) => {
    const w = await worker(ctx)
    const seen = await consume(w, 'eager', { queue_name: 'eager', batch_size: 100, visibility_timeout: 30 })
    const sentAt = Date.now()
    await send(w, 'eager', 'first')
    await until(() => seen.length === 1, 1000, 'the first message')
    assert.ok(seen[0].at - sentAt < 500, `delivered ${seen[0].at - sentAt} ms after sending`)
    assert.equal(bodies(seen), ['first'])
  }))

  cheap('the enqueue action stores a durable call, answered at once with its message id; the function runs with the data', limit(async (ctx) => {
    const w = await worker(ctx)
    const calls: unknown[] = []
    w.registerFunction('mail::send', (data) => (calls.push(data), { sent: true }))
    // A trigger on the same queue sees plain messages only, never the durable calls.
    const seen = await consume(w, 'plain', { queue_name: 'calls' })
    const p = await raw(ctx)
    p.send({ type: 'invokefunction', invocation_id: 'e1', function_id: 'mail::send', data: { to: 'b@example.com' }, action: { type: 'enqueue', queue: 'calls' } })
    const answer = await p.next((m) => m.type === 'invocationresult')
    assert.equal(Object.keys(answer).sort(), ['function_id', 'invocation_id', 'result', 'type'])
    assert.is(answer.invocation_id, 'e1')
    assert.is(answer.function_id, 'mail::send')
    assert.type(answer.result.message_id, 'string')
    assert.is(answer.result.messageReceiptId, answer.result.message_id, 'iii-sdk\'s name for the id, too')
    await until(() => calls.length === 1, 2000, 'the durable call to run')
    assert.equal(calls, [{ to: 'b@example.com' }])
    await send(w, 'calls', 'a plain message')
    await until(() => seen.length === 1, 2000, 'the plain message')
    assert.equal(bodies(seen), ['a plain message'])
    // A bad queue name in the action is refused, naming it.
    p.send({ type: 'invokefunction', invocation_id: 'e2', function_id: 'mail::send', data: {}, action: { type: 'enqueue', queue: 'no spaces' } })
    const refused = await p.next((m) => m.type === 'invocationresult' && m.invocation_id === 'e2')
    assert.is(refused.error.code, 'invalid_message')
    assert.ok(refused.error.message.includes("'action.queue'"), refused.error.message)
    await sleep(100)
    assert.is(calls.length, 1, 'no second call, and the first ran once')
  }))

  cheap('a durable call waits while no worker offers its function, and runs once one does', limit(async (ctx) => {
    const caller = await worker(ctx)
    const answer = await caller.invoke<{ message_id: string }>('later::fn', { n: 1 }, { action: { type: 'enqueue', queue: 'jobs' } } as any)
    assert.type(answer.message_id, 'string')
    await sleep(200)
    const runs: unknown[] = []
    const server = await worker(ctx)
    server.registerFunction('later::fn', (data) => (runs.push(data), null))
    await until(() => runs.length === 1, 1000, 'the call to run once its function is there')
    await sleep(100)
    assert.equal(runs, [{ n: 1 }])
    assert.equal(await dlq(caller, { queue_name: 'jobs' }), { messages: [] })
  }))

  cheap('a trigger whose function\'s worker left keeps its messages waiting, unspent, until the function is back', limit(async (ctx) => {
    const first = await worker(ctx)
    first.registerFunction('remote::handle', () => null)
    const owner = await worker(ctx)
    const result = await owner.registerTrigger({ id: 'remote', trigger_type: 'queue', function_id: 'remote::handle', config: { queue_name: 'remote', visibility_timeout: 1, max_receive_count: 1 } })
    assert.not.ok(result.error, JSON.stringify(result))
    first.close()
    await until(async () => ((await owner.invoke('engine::functions::list', {})) as any).functions.every((f: any) => f.function_id !== 'remote::handle'), 1000, 'the function to be gone')
    const id = await send(owner, 'remote', 'kept')
    await sleep(300)
    const seen: Batch[] = []
    const second = await worker(ctx)
    second.registerFunction('remote::handle', (b: Batch) => (seen.push(b), null))
    await until(() => seen.length === 1, 1000, 'the message once the function is back')
    assert.equal(seen[0].messages.map((m) => [m.message_id, m.receive_count]), [[id, 1]], 'first receive: nothing was spent meanwhile')
    assert.equal(await dlq(owner, { queue_name: 'remote' }), { messages: [] })
  }))

  slow('delay_seconds keeps a message invisible until then', limit(async (ctx) => {
    const w = await worker(ctx)
    const seen = await consume(w, 'later', { queue_name: 'later', batch_size: 10 })
    const sentAt = Date.now()
    await send(w, 'later', 'delayed', 1)
    await send(w, 'later', 'now', 0)
    await until(() => seen.length === 1, 1000, 'the undelayed message')
    assert.equal(bodies(seen), ['now'])
    await until(() => seen.length === 2, 2500, 'the delayed message')
    assert.equal(bodies(seen), ['now', 'delayed'])
    const waited = seen[1].at - sentAt
    assert.ok(waited >= 950, `delivered after ${waited} ms, not before 1 s`)
    assert.ok(waited < 1800, `delivered soon after 1 s (${waited} ms)`)
  }))

  slow('success deletes the batch: no redelivery after the timeout', limit(async (ctx) => {
    const w = await worker(ctx)
    const seen = await consume(w, 'ok', { queue_name: 'ok', batch_size: 5, visibility_timeout: 1 }, () => ({ done: true }))
    for (let i = 0; i < 3; i++) await send(w, 'ok', i)
    await until(() => bodies(seen).length === 3, 2000, 'three messages')
    await sleep(1400)
    assert.equal(bodies(seen).sort(), [0, 1, 2], 'each once')
    assert.ok(seen.every((d) => d.batch.messages.every((m) => m.receive_count === 1)))
  }))

  slow('an error makes the whole batch visible again once the timeout ends', limit(async (ctx) => {
    const w = await worker(ctx)
    for (let i = 0; i < 3; i++) await send(w, 'flaky', i)
    const seen = await consume(w, 'flaky', { queue_name: 'flaky', batch_size: 10, visibility_timeout: 1 }, (_b, n) => {
      if (n === 1) throw Object.assign(new Error('smtp down'), { code: 'smtp_down' })
      return null
    })
    await until(() => seen.length === 2, 3000, 'the redelivery')
    const [first, second] = seen
    assert.equal(second.batch.messages.map((m) => m.message_id), first.batch.messages.map((m) => m.message_id), 'the same batch')
    assert.ok(second.batch.messages.every((m) => m.receive_count === 2), 'receive_count 2')
    assert.equal(second.batch.messages.map((m) => m.enqueued_at), first.batch.messages.map((m) => m.enqueued_at), 'enqueued_at kept')
    const gap = second.at - first.at
    assert.ok(gap >= 900, `not before the timeout ended (${gap} ms)`)
    assert.ok(gap < 1800, `soon after it ended (${gap} ms)`)
    await sleep(1200)
    assert.is(seen.length, 2, 'the successful second delivery deleted them')
  }))

  slow('a worker that never answers sees its batch again after the timeout', limit(async (ctx) => {
    const w = await worker(ctx)
    const seen = await consume(w, 'silent', { queue_name: 'silent', visibility_timeout: 1 }, (_b, n) => (n === 1 ? never() : null))
    const id = await send(w, 'silent', 'hello')
    await until(() => seen.length === 2, 3000, 'the redelivery')
    assert.equal(seen.map((d) => d.batch.messages.map((m) => [m.message_id, m.receive_count])), [[[id, 1]], [[id, 2]]])
    const gap = seen[1].at - seen[0].at
    assert.ok(gap >= 900 && gap < 1800, `redelivered when the timeout ended (${gap} ms)`)
  }))

  slow('a worker that never answers: after the timeout a second worker gets the batch', limit(async (ctx) => {
    const a = await worker(ctx)
    const seen: Delivery[] = []
    await consume(a, 'a', { queue_name: 'handover', visibility_timeout: 1 }, never, seen)
    const id = await send(a, 'handover', 'job')
    await until(() => seen.length === 1, 1000, 'the first delivery')
    const b = await worker(ctx)
    await consume(b, 'b', { queue_name: 'handover', visibility_timeout: 1 }, () => null, seen)
    await until(() => seen.length === 2, 3000, 'the redelivery')
    assert.equal(seen.map((d) => [d.trigger, d.batch.messages[0].message_id, d.batch.messages[0].receive_count]), [['a', id, 1], ['b', id, 2]])
    const gap = seen[1].at - seen[0].at
    assert.ok(gap >= 900, `not before the timeout ended (${gap} ms)`)
    await sleep(1200)
    assert.is(seen.length, 2, 'b acknowledged it: no third delivery')
  }))

  slow('{failed_message_ids} retries only those messages', limit(async (ctx) => {
    const w = await worker(ctx)
    const ids: string[] = []
    for (let i = 0; i < 4; i++) ids.push(await send(w, 'partial', i))
    const seen = await consume(w, 'partial', { queue_name: 'partial', batch_size: 10, visibility_timeout: 1 }, (b, n) =>
      n === 1 ? { failed_message_ids: [b.messages[1].message_id, b.messages[3].message_id, 'not-in-this-batch'] } : { failed_message_ids: [] },
    )
    await until(() => seen.length === 2, 3000, 'the retry')
    assert.equal(seen[0].batch.messages.map((m) => m.message_id), ids)
    assert.equal(seen[1].batch.messages.map((m) => [m.message_id, m.body, m.receive_count]), [[ids[1], 1, 2], [ids[3], 3, 2]])
    assert.ok(seen[1].at - seen[0].at >= 900, 'after the timeout')
    await sleep(1200)
    assert.is(seen.length, 2, 'an empty failed_message_ids acknowledges all')
  }))

  slow('a late answer, after the timeout passed, changes nothing', limit(async (ctx) => {
    const w = await worker(ctx)
    let lateAnswered = false
    const id = await send(w, 'late', 'job')
    const seen = await consume(w, 'late', { queue_name: 'late', visibility_timeout: 1 }, async (_b, n) => {
      if (n === 1) {
        await sleep(1500)
        lateAnswered = true
        return { ok: 'too late' }
      }
      if (n === 2) {
        await until(() => lateAnswered, 2000, 'the late answer')
        await sleep(50)
        throw new Error('second attempt fails')
      }
      return null
    })
    await until(() => seen.length === 3, 5000, 'a third delivery')
    assert.equal(seen.map((d) => [d.batch.messages[0].message_id, d.batch.messages[0].receive_count]), [[id, 1], [id, 2], [id, 3]])
    assert.ok(seen[1].at < seen[0].at + 1500, 'the second delivery came before the late answer')
    // The late answer was refused as unknown, not taken as success of the current lease.
    assert.ok(
      ctx.engine.log.records.some((r: any) => r.msg === 'error frame' && r.error?.code === 'invalid_message' && /awaiting a result/.test(r.error.message)),
      'the late answer was refused',
    )
    await sleep(1200)
    assert.is(seen.length, 3)
  }))

  slow('past max_receive_count a message goes to the dead-letter queue with its last error; dlq lists and redrives it', limit(async (ctx) => {
    const w = await worker(ctx)
    let healthy = false
    const ids = [await send(w, 'dying', { n: 1 }), await send(w, 'dying', { n: 2 })]
    const seen = await consume(w, 'dying', { queue_name: 'dying', visibility_timeout: 1, max_receive_count: 2, batch_size: 10 }, (b) => {
      if (healthy) return null
      throw Object.assign(new Error(`cannot handle ${b.messages.length}`), { code: 'handler_failed' })
    })
    await until(() => seen.length === 2, 3000, 'two failed deliveries')
    assert.equal(seen.map((d) => d.batch.messages.map((m) => [m.message_id, m.receive_count])), [[[ids[0], 1], [ids[1], 1]], [[ids[0], 2], [ids[1], 2]]])
    // The second failure reached max_receive_count: dead at once, no third delivery.
    const listed = await until(async () => {
      const r = await dlq(w, { queue_name: 'dying' })
      return r.messages.length === 2 && r
    }, 1000, 'two dead letters')
    assert.equal(Object.keys(listed), ['messages'])
    assert.equal(listed.messages.map((m: any) => m.message_id), ids)
    for (const [i, m] of listed.messages.entries()) {
      assert.equal(Object.keys(m).sort(), ['body', 'enqueued_at', 'last_error', 'message_id', 'receive_count', 'source_queue'], JSON.stringify(m))
      assert.equal(m.body, { n: i + 1 })
      assert.is(m.receive_count, 2)
      assert.is(m.source_queue, 'dying')
      assert.match(m.enqueued_at, ISO)
      assert.equal(m.last_error, { code: 'handler_failed', message: 'cannot handle 2' })
    }
    assert.equal(await dlq(w, { dead_letter_queue: 'dying.dlq', limit: 1 }), { messages: [listed.messages[0]] }, 'by its own name, with a limit')
    await sleep(1200)
    assert.is(seen.length, 2, 'dead letters are not delivered again')

    // Redrive one by id, then the rest.
    healthy = true
    assert.equal(await dlq(w, { queue_name: 'dying', action: 'redrive', message_ids: [ids[1]] }), { redriven: 1 })
    await until(() => seen.length === 3, 1000, 'the redriven message')
    assert.equal(seen[2].batch.messages.map((m) => [m.message_id, m.receive_count]), [[ids[1], 1]], 'back with a fresh receive count')
    assert.equal((await dlq(w, { queue_name: 'dying' })).messages.map((m: any) => m.message_id), [ids[0]])
    assert.equal(await dlq(w, { dead_letter_queue: 'dying.dlq', action: 'redrive' }), { redriven: 1 })
    await until(() => seen.length === 4, 1000, 'the other one')
    assert.equal(seen[3].batch.messages.map((m) => m.message_id), [ids[0]])
    assert.equal(await dlq(w, { queue_name: 'dying' }), { messages: [] })
    assert.equal(await dlq(w, { queue_name: 'dying', action: 'redrive' }), { redriven: 0 })
  }))

  slow('dead letters: a named dead_letter_queue, timeouts and failed_message_ids as last errors', limit(async (ctx) => {
    const w = await worker(ctx)
    const rejected = await send(w, 'picky', 'reject')
    const fine = await send(w, 'picky', 'fine')
    const seen = await consume(w, 'picky', { queue_name: 'picky', visibility_timeout: 1, max_receive_count: 1, dead_letter_queue: 'picky:graveyard', batch_size: 10 }, (b) =>
      b.messages[0].body === 'hang' ? never() : { failed_message_ids: b.messages.filter((m) => m.body === 'reject').map((m) => m.message_id) },
    )
    await until(() => seen.length >= 1, 1000, 'the first batch')
    assert.equal(bodies(seen), ['reject', 'fine'])
    const hung = await send(w, 'picky', 'hang')
    await until(async () => (await dlq(w, { dead_letter_queue: 'picky:graveyard' })).messages.length === 2, 3000, 'both in the dead-letter queue')
    const dead = (await dlq(w, { dead_letter_queue: 'picky:graveyard' })).messages
    assert.equal(dead.map((m: any) => m.message_id), [rejected, hung])
    assert.equal(dead[0].last_error, { code: 'message_failed', message: 'The function reported this message as failed' })
    assert.is(dead[1].last_error.code, 'visibility_timeout')
    assert.equal(await dlq(w, { queue_name: 'picky' }), { messages: [] }, 'nothing in the default dead-letter queue')
    assert.ok(!dead.some((m: any) => m.message_id === fine))
    const err = await dlq(w, { queue_name: 'bad name' }).catch((e) => e)
    assert.is(err.code, 'invalid_message')
    const err2 = await dlq(w, { queue_name: 'picky', action: 'purge' }).catch((e) => e)
    assert.is(err2.code, 'invalid_message')
    assert.ok(err2.message.includes("'action'"), err2.message)
  }, 12_000))

  slow('several triggers on one queue compete: each message goes to exactly one of them', limit(async (ctx) => {
    const seen: Delivery[] = []
    const handler = async () => (await sleep(5), null)
    const a = await worker(ctx)
    await consume(a, 'a', { queue_name: 'shared', batch_size: 2, visibility_timeout: 5 }, handler, seen)
    const b = await worker(ctx)
    await consume(b, 'b', { queue_name: 'shared', batch_size: 2, visibility_timeout: 5 }, handler, seen)
    await consume(b, 'b2', { queue_name: 'shared', batch_size: 3, visibility_timeout: 5, concurrency: 2 }, handler, seen)
    const sender = await worker(ctx)
    const ids = await Promise.all(Array.from({ length: 60 }, (_, i) => send(sender, 'shared', i)))
    await until(() => bodies(seen).length >= 60, 4000, 'all sixty')
    await sleep(200)
    const all = seen.flatMap((d) => d.batch.messages.map((m) => m.message_id))
    assert.is(all.length, 60, 'no message twice')
    assert.equal(new Set(all), new Set(ids), 'every message')
    for (const t of ['a', 'b', 'b2']) assert.ok(seen.some((d) => d.trigger === t), `trigger ${t} had a share`)
    assert.ok(seen.every((d) => d.batch.messages.length <= (d.trigger === 'b2' ? 3 : 2)), 'each within its own batch_size')
  }))

  cheap('unregistering stops the consumer; messages wait for the next trigger', limit(async (ctx) => {
    const w = await worker(ctx)
    const seen = await consume(w, 'first', { queue_name: 'handoff' })
    await send(w, 'handoff', 'one')
    await until(() => seen.length === 1, 1000, 'the first message')
    w.unregisterTrigger('first', 'queue')
    assert.equal(await triggers(w), [])
    await send(w, 'handoff', 'two')
    await sleep(300)
    assert.equal(bodies(seen), ['one'], 'nothing after the unregistration')
    const later = await consume(w, 'second', { queue_name: 'handoff' })
    await until(() => later.length === 1, 1000, 'the waiting message')
    assert.equal(bodies(later), ['two'])
  }))

  slow('an unregistered trigger\'s batch in flight comes back after its timeout', limit(async (ctx) => {
    const w = await worker(ctx)
    const seen: Delivery[] = []
    await consume(w, 'leaving', { queue_name: 'orphan', visibility_timeout: 1 }, never, seen)
    const id = await send(w, 'orphan', 'in flight')
    await until(() => seen.length === 1, 1000, 'the delivery')
    w.unregisterTrigger('leaving')
    await triggers(w)
    const stoppedAt = Date.now()
    await consume(w, 'staying', { queue_name: 'orphan', visibility_timeout: 1 }, () => null, seen)
    await until(() => seen.length === 2, 3000, 'the batch to come back')
    assert.equal(seen.map((d) => [d.trigger, d.batch.messages[0].message_id, d.batch.messages[0].receive_count]), [['leaving', id, 1], ['staying', id, 2]])
    assert.ok(seen[1].at - seen[0].at >= 900, `only after its timeout (${seen[1].at - seen[0].at} ms)`)
    assert.ok(seen[1].at - stoppedAt < 1500)
  }))

  slow('a disconnect stops the session\'s consumers; their batches in flight come back after the timeout', limit(async (ctx) => {
    const seen: Delivery[] = []
    const sender = await worker(ctx)
    const a = await worker(ctx)
    for (let i = 0; i < 2; i++) await send(sender, 'dropped', i)
    await consume(a, 'a', { queue_name: 'dropped', visibility_timeout: 1, batch_size: 2 }, never, seen)
    await until(() => seen.length >= 1, 1000, 'the batch to a')
    assert.equal(bodies(seen), [0, 1])
    // Leaves at once, without letting the batch in hand finish.
    a.close({ drainMs: 0 })
    await until(async () => (await triggers(sender)).length === 0, 1000, 'a to be gone')
    await send(sender, 'dropped', 2)
    await sleep(150)
    assert.is(seen.length, 1, 'a\'s consumer is stopped')
    const b = await worker(ctx)
    await consume(b, 'b', { queue_name: 'dropped', visibility_timeout: 1, batch_size: 10 }, () => null, seen)
    await until(() => bodies(seen).includes(2), 1000, 'the new message to b at once')
    await until(() => bodies(seen).length === 5, 3000, 'a\'s batch to come back to b')
    const again = seen.slice(1).flatMap((d) => d.batch.messages.filter((m) => m.body !== 2).map((m) => [m.body, m.receive_count]))
    assert.equal(again, [[0, 2], [1, 2]])
    const back = seen.find((d, i) => i > 0 && d.batch.messages.some((m) => m.body === 0))!
    assert.ok(back.at - seen[0].at >= 900, `only after the timeout (${back.at - seen[0].at} ms)`)
  }))

  slow('concurrency N keeps N batches in flight at once, never more', limit(async (ctx) => {
    const w = await worker(ctx)
    let inFlight = 0
    let most = 0
    const releases: Array<() => void> = []
    const seen = await consume(w, 'wide', { queue_name: 'wide', batch_size: 2, concurrency: 3, visibility_timeout: 5 }, async () => {
      most = Math.max(most, ++inFlight)
      await new Promise<void>((r) => releases.push(r))
      inFlight--
      return null
    })
    for (let i = 0; i < 10; i++) await send(w, 'wide', i)
    await until(() => seen.length === 3, 1000, 'three batches in flight')
    await sleep(200)
    assert.is(seen.length, 3, 'no fourth while three are in flight')
    assert.is(most, 3)
    releases.shift()!()
    await until(() => seen.length === 4, 1000, 'a fourth once one ended')
    while (bodies(seen).length < 10 || releases.length > 0) {
      releases.shift()?.()
      await sleep(5)
    }
    assert.is(most, 3)
    assert.equal(bodies(seen).sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    // The default is one batch at a time.
    let single = 0
    let singleMost = 0
    const one = await consume(w, 'narrow', { queue_name: 'narrow', visibility_timeout: 5 }, async () => {
      singleMost = Math.max(singleMost, ++single)
      await sleep(30)
      single--
      return null
    })
    for (let i = 0; i < 4; i++) await send(w, 'narrow', i)
    await until(() => one.length === 4, 2000, 'four single batches')
    assert.is(singleMost, 1)
  }))

  cheap('queue.drain (for the engine to send when it stops): nothing new is leased, batches in flight still settle', limit(async (ctx) => {
    const w = await worker(ctx)
    const releases: Array<() => void> = []
    const seen = await consume(w, 'draining', { queue_name: 'draining', visibility_timeout: 30 }, () => new Promise<void>((r) => releases.push(r)).then(() => null))
    await send(w, 'draining', 'in flight')
    await until(() => releases.length === 1, 1000, 'the first delivery')
    const provider = ctx.engine.actor.system.get('provider:queue')
    provider.send({ type: 'queue.drain' })
    await send(w, 'draining', 'stored, not leased')
    releases[0]()
    await sleep(150)
    assert.equal(bodies(seen), ['in flight'], 'nothing leased after the drain')
    const counts = await new Promise((reply) => provider.send({ type: 'queue.counts', reply }))
    const { ready, in_flight, delayed } = (counts as Record<string, { ready: number; in_flight: number; delayed: number }>).draining
    assert.equal({ ready, in_flight, delayed }, { ready: 1, in_flight: 0, delayed: 0 }, 'the batch in flight was acknowledged; the new message waits')
  }))

  it.run()
}

/** Defines the end-to-end suites for the stores named (memory, sqlite, jetstream); the store suites follow (`storeSuites`). */
export function queueSuites(names: string[]): void {
  for (const store of stores.filter((s) => names.includes(s.name))) {
    defineSuite(store, websocket, true)
    defineSuite(store, inProcess, false)
  }
}

/**
 * The store interface itself, the same checks against every implementation: the rules the
 * provider relies on, at times the test chooses (no waiting for real timeouts).
 */

/** The JetStream store of each test's folder: reopened under the same name, it is the same store. */
const jetstreamNames = new Map<string, string>()
const jetstreamOf = (dir: string) => createJetStreamQueueStore({ servers: nats.url, name: jetstreamNames.get(dir) ?? jetstreamNames.set(dir, nats.fresh()).get(dir)! })

const storeMakers: Array<{ name: string; open(dir: string): QueueStore | Promise<QueueStore>; reopen?: (dir: string) => QueueStore | Promise<QueueStore>; server?: typeof nats; file?: boolean }> = [
  { name: 'memory', open: () => createMemoryQueueStore() },
  { name: 'sqlite', open: (dir) => createSqliteQueueStore(join(dir, 'q.sqlite')), reopen: (dir) => createSqliteQueueStore(join(dir, 'q.sqlite')), file: true },
  { name: 'jetstream', open: jetstreamOf, reopen: jetstreamOf, server: nats },
]

/** Defines the store interface suites for the stores named. */
export function storeSuites(names: string[]): void {
  for (const maker of storeMakers.filter((m) => names.includes(m.name))) {
    const st = suite<{ dir: string; store: QueueStore }>(`queue store: ${maker.name}`)
    if (maker.server) {
      st.before(() => maker.server!.start())
      st.after(() => maker.server!.stop())
    }
    st.before.each(async (ctx) => {
      ctx.dir = mkdtempSync(join(tmpdir(), 'signalbox-store-'))
      ctx.store = await maker.open(ctx.dir)
    })
    st.after.each(async (ctx) => {
      try {
        await ctx.store?.close()
      } catch {
        /* closed by the test */
      }
      rmSync(ctx.dir, { recursive: true, force: true })
    })
    const rules = (now: number, extra: Partial<Parameters<QueueStore['receive']>[1]> = {}) => ({ max: 10, visibilityMs: 1000, maxReceiveCount: 2, deadLetterQueue: 'q.dlq', calls: false, now, ...extra })

    st('leases oldest first, once: a second receive within the lease gets nothing; stale receipts change nothing', async ({ store }) => {
      const ids = await Promise.all([0, 1, 2].map(async (i) => (await store.send('q', { i }, { now: 1000 + i })).message_id))
      const first = await store.receive('q', rules(2000, { max: 2 }))
      assert.equal(first.map((d) => [d.message_id, d.body, d.receive_count, d.enqueued_at]), [[ids[0], { i: 0 }, 1, 1000], [ids[1], { i: 1 }, 1, 1001]])
      const second = await store.receive('q', rules(2000))
      assert.equal(second.map((d) => d.message_id), [ids[2]])
      assert.equal(await store.receive('q', rules(2999)), [], 'all leased')
      assert.is(await store.ack('q', [{ message_id: ids[0], receipt: 'wrong' }], 2001), 0)
      assert.is(await store.ack('q', [{ message_id: ids[0], receipt: first[0].receipt }], 3000), 0, 'the lease ended at 3000')
      assert.is(await store.ack('q', [{ message_id: ids[2], receipt: second[0].receipt }], 2500), 1)
      const again = await store.receive('q', rules(3000))
      assert.equal(again.map((d) => [d.message_id, d.receive_count]), [[ids[0], 2], [ids[1], 2]])
      assert.is(await store.ack('q', [{ message_id: ids[0], receipt: first[0].receipt }], 3001), 0, 'the old receipt is stale now')
      assert.is(await store.ack('q', again, 3001), 2)
      assert.equal(plain(await store.counts(3001)), {})
    })

    st('fail keeps the lease, records the error; at max_receive_count the message is dead at once, or on its next receive with the timeout as its last error', async ({ store }) => {
      const a = (await store.send('q', 'a', { now: 0 })).message_id
      const b = (await store.send('q', 'b', { now: 0 })).message_id
      const [la, lb] = await store.receive('q', rules(10))
      await store.fail('q', [la, lb], { code: 'e1' }, { maxReceiveCount: 2, deadLetterQueue: 'q.dlq', now: 20 })
      assert.equal(await store.receive('q', rules(500)), [], 'invisible until the lease ends')
      assert.is(await store.nextVisibleAt('q', false, 500), 1010)
      const [la2] = await store.receive('q', rules(1010, { max: 1 }))
      assert.is(la2.message_id, a)
      await store.fail('q', [la2], { code: 'e2' }, { maxReceiveCount: 2, deadLetterQueue: 'q.dlq', now: 1020 })
      // b timed out twice without an answer: its next receive sends it to the dead letters.
      const [lb2] = await store.receive('q', rules(1010))
      assert.is(lb2.message_id, b)
      assert.equal(await store.receive('q', rules(5000)), [])
      // In its dead-letter queue a message's receives start again from 0; those in its source queue are kept.
      const dead = await store.list('q.dlq', 10)
      assert.equal(dead.map((m) => [m.message_id, m.source_queue, m.receive_count, m.source_receive_count, m.last_error]), [
        [a, 'q', 0, 2, { code: 'e2' }],
        [b, 'q', 0, 2, { code: 'visibility_timeout', message: 'Not acknowledged within its visibility timeout after 2 receives' }],
      ])
      assert.equal(await store.redrive('q.dlq', [b], 6000), { redriven: 1, queues: ['q'] })
      assert.equal((await store.receive('q', rules(6000))).map((d) => [d.message_id, d.receive_count]), [[b, 1]])
      assert.equal(await store.redrive('q.dlq', undefined, 6000), { redriven: 1, queues: ['q'] })
      assert.equal(await store.redrive('q.dlq', undefined, 6000), { redriven: 0, queues: [] })
    })

    st('durable calls and plain messages never mix; refused calls stay untouched; dead calls never run', async ({ store }) => {
      const plain = (await store.send('mixed', 'plain', { now: 0 })).message_id
      const c1 = (await store.send('mixed', { n: 1 }, { now: 0, function_id: 'missing' })).message_id
      const c2 = (await store.send('mixed', { n: 2 }, { now: 0, function_id: 'present' })).message_id
      assert.equal(await store.callQueues(), ['mixed'])
      const callRules = (now: number) => rules(now, { max: 5, calls: true, maxReceiveCount: 1, deadLetterQueue: 'mixed.dlq', accept: (f: string) => f === 'present' })
      assert.equal((await store.receive('mixed', callRules(1))).map((d) => [d.message_id, d.function_id]), [[c2, 'present']])
      assert.equal((await store.receive('mixed', rules(1))).map((d) => d.message_id), [plain])
      // The refused call was neither leased nor counted: accepted later, it is on its first receive.
      const [late] = await store.receive('mixed', rules(2, { calls: true, maxReceiveCount: 1, deadLetterQueue: 'mixed.dlq' }))
      assert.equal([late.message_id, late.receive_count], [c1, 1])
      await store.fail('mixed', [late], { code: 'boom' }, { maxReceiveCount: 1, deadLetterQueue: 'mixed.dlq', now: 3 })
      assert.equal((await store.list('mixed.dlq', 10)).map((m) => [m.message_id, m.function_id]), [[c1, 'missing']])
      assert.equal(await store.receive('mixed.dlq', rules(4, { calls: true })), [], 'a dead call does not run from its dead-letter queue')
      assert.equal(await store.callQueues(), ['mixed'], 'c2 is still in flight on mixed')
      assert.equal(await store.redrive('mixed.dlq', undefined, 5), { redriven: 1, queues: ['mixed'] })
    })

    st('delays, counts and the next visible time', async ({ store }) => {
      await store.send('d', 'later', { now: 0, delayMs: 5000 })
      await store.send('d', 'now', { now: 0 })
      assert.equal(plain(await store.counts(1)), { d: { ready: 1, in_flight: 0, delayed: 1, dead_lettered: 0, oldest_enqueued_at: 0 } })
      const leased = await store.receive('d', rules(1))
      assert.equal(leased.map((d) => d.body), ['now'])
      assert.equal(plain(await store.counts(2)), { d: { ready: 0, in_flight: 1, delayed: 1, dead_lettered: 0, oldest_enqueued_at: 0 } })
      assert.is(await store.nextVisibleAt('d', false, 2), 1001)
      assert.is(await store.nextVisibleAt('d', true, 2), undefined)
      assert.is(await store.ack('d', leased, 3), 1)
      assert.is(await store.nextVisibleAt('d', false, 3), 5000)
      assert.equal(await store.receive('d', rules(4999)), [])
      assert.equal((await store.receive('d', rules(5000))).map((d) => d.body), ['later'])
    })

    if (maker.reopen) {
      st(`everything survives closing and reopening the ${maker.file ? 'file' : 'store'}`, async (ctx) => {
        const a = (await ctx.store.send('p', { keep: true }, { now: 0 })).message_id
        const b = (await ctx.store.send('p', 'leased', { now: 1 })).message_id
        const [lease] = await ctx.store.receive('p', rules(10, { max: 1 }))
        assert.is(lease.message_id, a)
        await ctx.store?.close()
        ctx.store = await maker.reopen!(ctx.dir)
        assert.equal((await ctx.store.receive('p', rules(20))).map((d) => [d.message_id, d.receive_count]), [[b, 1]], 'the lease survived too')
        assert.equal((await ctx.store.receive('p', rules(1010))).map((d) => [d.message_id, d.body, d.receive_count]), [[a, { keep: true }, 2]])
      })

    }
    if (maker.file) {
      st('a file written before the ready column opens with its messages as they were', async (ctx) => {
        ctx.store.close()
        const file = join(ctx.dir, 'old.sqlite')
        const db = new Database(file)
        db.exec(`
          CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, queue TEXT NOT NULL, body TEXT NOT NULL,
            function_id TEXT, enqueued_at INTEGER NOT NULL, visible_at INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0,
            receipt TEXT, last_error TEXT, source_queue TEXT);
          CREATE INDEX messages_visible ON messages (queue, visible_at, seq);
          INSERT INTO messages (message_id, queue, body, function_id, enqueued_at, visible_at, receive_count, receipt, last_error, source_queue) VALUES
            ('leased', 'o', '"l"', NULL, 0, 1010, 1, 'r1', NULL, NULL),
            ('ready', 'o', '"r"', NULL, 1, 1, 0, NULL, NULL, NULL),
            ('call', 'o', '{"n":1}', 'f', 2, 2, 0, NULL, NULL, NULL),
            ('dead', 'o.dlq', '"d"', NULL, 3, 0, 2, NULL, '{"code":"x"}', 'o');`)
        db.close()
        ctx.store = createSqliteQueueStore(file)
        assert.equal(await ctx.store.callQueues(), ['o'])
        assert.is(await ctx.store.nextVisibleAt('o', false, 20), 1010)
        assert.equal((await ctx.store.receive('o', rules(20))).map((d) => [d.message_id, d.receive_count]), [['ready', 1]])
        assert.equal((await ctx.store.receive('o', rules(20, { calls: true }))).map((d) => [d.message_id, d.function_id]), [['call', 'f']])
        assert.is(await ctx.store.ack('o', [{ message_id: 'leased', receipt: 'r1' }], 30), 1, 'the old lease is still current')
        assert.equal((await ctx.store.list('o.dlq', 10)).map((m) => [m.message_id, m.last_error]), [['dead', { code: 'x' }]])
        assert.equal(await ctx.store.redrive('o.dlq', undefined, 40), { redriven: 1, queues: ['o'] })
        assert.equal((await ctx.store.receive('o', rules(40))).map((d) => d.message_id), ['dead'])
      })
    }

    st('oldest first among the visible messages, whenever each became visible; an earlier time sees only what is visible then', async ({ store }) => {
      const ids = await Promise.all([0, 1, 2, 3].map(async (i) => (await store.send('o', i, { now: 100, delayMs: i === 1 ? 50 : 0 })).message_id))
      assert.is(await store.nextVisibleAt('o', false, 100), 150)
      const [first] = await store.receive('o', rules(100, { max: 1 }))
      assert.is(first.message_id, ids[0])
      await store.fail('o', [first], { code: 'e' }, { maxReceiveCount: 5, deadLetterQueue: 'q.dlq', now: 100 })
      // At 1100 the failed message and the delayed one are visible again: all four in send order.
      const all = await store.receive('o', rules(1100, { max: 4, maxReceiveCount: 5 }))
      assert.equal(all.map((d) => d.message_id), ids)
      assert.is(await store.ack('o', all, 1101), 4)
      const later = (await store.send('o', 'later', { now: 5000 })).message_id
      assert.equal(await store.receive('o', rules(4000)), [], 'not visible at 4000')
      assert.is(await store.nextVisibleAt('o', false, 4000), 5000)
      assert.equal((await store.receive('o', rules(5000))).map((d) => d.message_id), [later])
    })

    st.run()
  }
}
