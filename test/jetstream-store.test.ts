/**
 * What only the JetStream queue store has to show: two stores of the same name on one
 * nats-server (two engines of a cluster) share their queues. Competing receives lease
 * each message once; one store's sends, acknowledgements and dead letters are seen by
 * the other; a deduplication id is one for both. And a store whose server is not there
 * is refused at once, saying where it looked. The rules every store shares are in the
 * shared suites (queue-rules, queue, queue-semantics, queue-durability).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { createJetStreamQueueStore, StoreOpenError } from '../adapters/jetstream-queue-store.js'
import type { QueueStore, ReceiveOptions } from '../core/queue-store.js'
import { until } from './harness.js'
import { suiteNats } from './nats-server.js'

const nats = suiteNats()
const it = suite<{ a: QueueStore; b: QueueStore; name: string }>('jetstream store: two engines on one name')
it.before(() => nats.start())
it.after(() => nats.stop())
it.before.each(async (ctx) => {
  // A fresh server per test would be slower; a fresh name is a store of its own.
  const name = (ctx.name = nats.fresh())
  ctx.a = await createJetStreamQueueStore({ servers: nats.url, name })
  ctx.b = await createJetStreamQueueStore({ servers: nats.url, name })
})
it.after.each(async (ctx) => {
  await ctx.a?.close()
  await ctx.b?.close()
})

const rules = (now: number, extra: Partial<ReceiveOptions> = {}): ReceiveOptions => ({ max: 5, visibilityMs: 60_000, maxReceiveCount: 3, deadLetterQueue: 'q.dlq', calls: false, now, ...extra })

it('competing receives from both lease every message once', async ({ a, b }) => {
  const sent = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).send('q', i, { now: 0 })))
  await until(async () => (await a.counts(1)).q?.ready === 60 && (await b.counts(1)).q?.ready === 60, 5000, 'both to see the 60 messages')
  const leased: string[] = []
  await Promise.all(
    [a, b, a, b].map(async (store) => {
      for (;;) {
        const batch = await store.receive('q', rules(1))
        if (batch.length === 0) return
        leased.push(...batch.map((d) => d.message_id))
      }
    }),
  )
  assert.is(leased.length, 60, 'no message leased twice')
  assert.equal(new Set(leased), new Set(sent.map((s) => s.message_id)))
})

it("one store's acknowledgement, failure and dead letter are the other's to see", async ({ a, b }) => {
  const { message_id } = await a.send('q', 'm', { now: 0 })
  await until(async () => (await b.receive('q', rules(1, { maxReceiveCount: 1 }))).length === 1, 5000, 'b to lease the message a sent')
  assert.equal(await a.receive('q', rules(2)), [], 'leased by b')
  const [lease] = (await b.list('q', 10)).filter((m) => m.message_id === message_id)
  await b.fail('q', [{ message_id, receipt: lease.receipt! }], { code: 'bad' }, { maxReceiveCount: 1, deadLetterQueue: 'q.dlq', now: 3 })
  await until(async () => (await a.list('q.dlq', 10)).length === 1, 5000, 'a to see the dead letter')
  assert.equal((await a.list('q.dlq', 10)).map((m) => [m.message_id, m.source_queue, m.last_error]), [[message_id, 'q', { code: 'bad' }]])
  assert.equal(await a.redrive('q.dlq', undefined, 4), { redriven: 1, queues: ['q'] })
  await until(async () => (await b.receive('q', rules(5))).length === 1, 5000, 'b to get the redriven message')
})

it('a deduplication id is one for both stores', async ({ a, b }) => {
  const window = { id: 'order-1', windowMs: 60_000 }
  const [x, y] = await Promise.all([a.send('q', 'x', { now: 0, deduplication: window }), b.send('q', 'y', { now: 0, deduplication: window })])
  assert.is(x.message_id, y.message_id, 'both answered with the same message')
  assert.equal([x.duplicate, y.duplicate].sort(), [false, true])
  await until(async () => (await b.counts(1)).q?.ready === 1 && (await a.counts(1)).q?.ready === 1, 5000, 'one message, seen by both')
})

it('what it keeps where (docs/cluster.md): one stream with a subject per queue, the state and the deduplication ids in KV buckets, and no JetStream consumer', async ({ a, name }) => {
  // A lease is the state entry's receipt and visible_at, on the caller's clock: nats-server
  // 2.9.10's redelivery (AckWait, nak with a delay) runs on the server's clock, one AckWait per
  // consumer, and cannot end a per-receive lease at the caller's `now`. So no consumer is made.
  await a.send('orders.eu', 'm', { now: 0, deduplication: { id: 'd-1', windowMs: 1000 } })
  await a.send('q', 'n', { now: 0 })
  const nc = await connect({ servers: nats.url })
  try {
    const jsm = await jetstreamManager(nc)
    const names: string[] = []
    for await (const info of jsm.streams.list()) names.push(info.config.name)
    assert.ok(names.includes(`${name}-queues`), names.join(', '))
    assert.ok(names.includes(`KV_${name}-queue-state`) && names.includes(`KV_${name}-queue-dedup`), names.join(', '))
    const info = await jsm.streams.info(`${name}-queues`, { subjects_filter: '>' })
    const subjects = Object.keys(info.state.subjects ?? {}).sort()
    assert.equal(subjects, [`${name}.queue.${Buffer.from('orders.eu').toString('base64url')}`, `${name}.queue.${Buffer.from('q').toString('base64url')}`])
    assert.is(info.state.consumer_count, 0)
  } finally {
    await nc.close()
  }
})

it.run()

const refusal = suite('jetstream store: a server that is not there')

refusal('is refused at once, naming where the store looked', async () => {
  const started = Date.now()
  const err = await createJetStreamQueueStore({ servers: 'nats://127.0.0.1:1' }).then(
    () => undefined,
    (e: unknown) => e,
  )
  assert.instance(err, StoreOpenError)
  assert.match((err as Error).message, /^cannot reach NATS at nats:\/\/127\.0\.0\.1:1: /)
  assert.ok(Date.now() - started < 10_000)
})

refusal.run()
