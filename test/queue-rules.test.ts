/**
 * The queue rules at the store, the same checks against the memory, SQLite and JetStream stores,
 * at times the test chooses (an injected clock: no waiting): FIFO message groups, backoff,
 * deduplication within and past its window, dead-letter queues received like any queue,
 * the sender's trace context kept with each message, counts of dead letters and the oldest
 * message, and a file of the previous schema migrated with its messages as they were.
 * Also the pure rules beside the store: the backoff delays and the consumers' agreement
 * on a queue's own settings.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createMemoryQueueStore } from '../adapters/memory-queue-store.js'
import { createSqliteQueueStore } from '../adapters/sqlite-queue-store.js'
import { createJetStreamQueueStore } from '../adapters/jetstream-queue-store.js'
import { backoffDelay, parseQueueConfig, type QueueConsumerConfig } from '../core/queue-config.js'
import { QueueSchedule } from '../core/queue-schedule.js'
import type { Delivery, QueueStore, ReceiveOptions } from '../core/queue-store.js'
import { suiteNats } from './nats-server.js'

/** A store's counts as plain objects (its records have no prototype, which deep equality minds). */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value))

const nats = suiteNats()
const makers: Array<{ name: string; open(dir: string): QueueStore | Promise<QueueStore>; server?: typeof nats }> = [
  { name: 'memory', open: () => createMemoryQueueStore() },
  { name: 'sqlite', open: (dir) => createSqliteQueueStore(join(dir, 'q.sqlite')) },
  // A real nats-server -js (test/nats-server.ts); without one installed this suite fails, saying so.
  { name: 'jetstream', open: () => createJetStreamQueueStore({ servers: nats.url, name: nats.fresh() }), server: nats },
]

const rules = (now: number, extra: Partial<ReceiveOptions> = {}): ReceiveOptions => ({ max: 10, visibilityMs: 1000, maxReceiveCount: 3, deadLetterQueue: 'q.dlq', calls: false, now, ...extra })
const bodies = (ds: Delivery[]) => ds.map((d) => d.body)

for (const maker of makers) {
  const it = suite<{ dir: string; store: QueueStore }>(`queue rules: ${maker.name} store`)
  if (maker.server) {
    it.before(() => maker.server!.start())
    it.after(() => maker.server!.stop())
  }
  it.before.each(async (ctx) => {
    ctx.dir = mkdtempSync(join(tmpdir(), 'signalbox-rules-'))
    ctx.store = await maker.open(ctx.dir)
  })
  it.after.each(async (ctx) => {
    await ctx.store?.close()
    rmSync(ctx.dir, { recursive: true, force: true })
  })

  it('FIFO: groups are taken by their oldest message, whatever their ids; a group of another queue, a durable call and a sent group are apart', async ({ store }) => {
    for (const [g, body] of [['zz', 'z1'], ['m', 'm1'], ['a', 'a1'], ['m', 'm2'], ['zz', 'z2']] as const) await store.send('q', body, { now: 0, message_group_id: g })
    await store.send('other', 'o1', { now: 0, message_group_id: 'a' })
    await store.send('q', { call: 1 }, { now: 0, function_id: 'f', message_group_id: 'a' })
    const fifo = (now: number) => store.receive('q', rules(now, { fifo: true }))
    assert.equal(bodies(await fifo(1)), ['z1', 'z2'], "zz's oldest message was sent first")
    assert.equal(bodies(await fifo(1)), ['m1', 'm2'])
    assert.equal(bodies(await fifo(1)), ['a1'], "the other queue's message and the call are not the group's")
    assert.equal(await fifo(1), [])
  })

  it('FIFO: one group per batch, in send order; a group waits while its oldest message is out; other groups go on', async ({ store }) => {
    for (const [g, n] of [['a', 1], ['b', 1], ['a', 2], ['b', 2], ['a', 3], ['c', 1]] as const) await store.send('q', `${g}${n}`, { now: 0, message_group_id: g })
    const fifo = (now: number, max = 10) => store.receive('q', rules(now, { fifo: true, max }))
    const a = await fifo(1)
    assert.equal(bodies(a), ['a1', 'a2', 'a3'], 'the first group, whole, in order')
    assert.equal(a.map((d) => d.message_group_id), ['a', 'a', 'a'])
    const b = await fifo(1, 1)
    assert.equal(bodies(b), ['b1'], 'then the next group; max 1')
    assert.equal(bodies(await fifo(1)), ['c1'], "b's oldest message is out: b waits, c goes")
    assert.equal(await fifo(1), [], 'every group has its oldest message out')
    await store.ack('q', b, 2)
    assert.equal(bodies(await fifo(2)), ['b2'])
    // a's batch fails: the whole group waits until its lease ends, then comes again from a1.
    await store.fail('q', a, { code: 'no' }, { maxReceiveCount: 3, deadLetterQueue: 'q.dlq', now: 3 })
    assert.equal(await fifo(500), [])
    assert.equal(bodies(await fifo(1001)), ['a1', 'a2', 'a3'])
  })

  it('FIFO: a failing message blocks only its group, until it is dead-lettered; then the group goes on', async ({ store }) => {
    await store.send('q', 'x1', { now: 0, message_group_id: 'x' })
    await store.send('q', 'x2', { now: 0, message_group_id: 'x' })
    await store.send('q', 'y1', { now: 0, message_group_id: 'y' })
    const dead: string[] = []
    const fifo = (now: number) => store.receive('q', rules(now, { fifo: true, max: 1, maxReceiveCount: 2, onDeadLetter: (q) => dead.push(q) }))
    let t = 0
    for (let i = 0; i < 2; i++) {
      const [x] = await fifo((t += 1000))
      assert.is(x.body, 'x1')
      await store.fail('q', [x], { code: 'bad' }, { maxReceiveCount: 2, deadLetterQueue: 'q.dlq', now: t, onDeadLetter: (q) => dead.push(q) })
      if (i === 0) {
        // While x1 waits to be tried again, group y is not held up.
        const [y] = await fifo(t)
        assert.is(y.body, 'y1')
        await store.ack('q', [y], t)
        assert.equal(await fifo(t), [], 'x waits for x1')
      }
    }
    assert.equal(dead, ['q.dlq'], 'x1 left on its second failure')
    assert.equal(bodies(await fifo(t + 1)), ['x2'], 'the group goes on with its next message')
    assert.equal((await store.list('q.dlq', 10)).map((m) => [m.body, m.message_group_id, m.last_error]), [['x1', 'x', { code: 'bad' }]])
  })

  it('FIFO: a message without a group is a group of its own kind; a delayed oldest message holds its group', async ({ store }) => {
    await store.send('q', 'later', { now: 0, delayMs: 5000, message_group_id: 'g' })
    await store.send('q', 'g2', { now: 0, message_group_id: 'g' })
    await store.send('q', 'n1', { now: 0 })
    await store.send('q', 'n2', { now: 0 })
    assert.equal(bodies(await store.receive('q', rules(1, { fifo: true }))), ['n1', 'n2'])
    assert.equal(await store.receive('q', rules(1, { fifo: true })), [], "g's oldest message is delayed")
    assert.equal(bodies(await store.receive('q', rules(5000, { fifo: true }))), ['later', 'g2'])
  })

  it('backoff: a failed message is visible again after its retry delay, not at the end of its lease', async ({ store }) => {
    await store.send('q', 'm', { now: 0 })
    const [first] = await store.receive('q', rules(0, { visibilityMs: 30_000 }))
    const asked: number[] = []
    await store.fail('q', [first], { code: 'e' }, { maxReceiveCount: 3, deadLetterQueue: 'q.dlq', now: 100, retryDelayMs: (n) => (asked.push(n), 250) })
    assert.equal(asked, [1], 'the delay is asked for the receive that failed')
    assert.is(await store.nextVisibleAt('q', false, 101), 350)
    assert.equal(await store.receive('q', rules(349)), [])
    assert.equal((await store.counts(200)).q.delayed, 1, 'waiting out a backoff counts as delayed')
    const [second] = await store.receive('q', rules(350))
    assert.equal([second.body, second.receive_count], ['m', 2])
    // Its last receive: dead at once, whatever the backoff.
    await store.fail('q', [second], { code: 'e2' }, { maxReceiveCount: 2, deadLetterQueue: 'q.dlq', now: 400, retryDelayMs: () => 250 })
    assert.equal((await store.list('q.dlq', 10)).map((m) => m.last_error), [{ code: 'e2' }])
  })

  it('deduplication: a second send within the window stores nothing and answers the first id; past it, a new message', async ({ store }) => {
    const window = { windowMs: 300_000 }
    const first = await store.send('q', 'one', { now: 0, deduplication: { id: 'order-7', ...window } })
    assert.equal(first.duplicate, false)
    const again = await store.send('q', 'two', { now: 299_999, deduplication: { id: 'order-7', ...window } })
    assert.equal(again, { message_id: first.message_id, duplicate: true })
    assert.equal(bodies(await store.receive('q', rules(1))), ['one'])
    const other = await store.send('other', 'three', { now: 1, deduplication: { id: 'order-7', ...window } })
    assert.equal(other.duplicate, false, 'ids are per queue')
    const past = await store.send('q', 'four', { now: 300_000, deduplication: { id: 'order-7', ...window } })
    assert.equal(past.duplicate, false)
    assert.is.not(past.message_id, first.message_id)
  })

  it('a dead-letter queue is a queue: its messages, dead durable calls too, are received with where they came from', async ({ store }) => {
    await store.send('q', 'plain', { now: 0, message_group_id: 'g', context: { traceparent: 'tp-1' } })
    await store.send('q', { n: 1 }, { now: 0, function_id: 'f' })
    const dlqs: string[] = []
    const [plain] = await store.receive('q', rules(0, { maxReceiveCount: 1 }))
    await store.fail('q', [plain], { code: 'first' }, { maxReceiveCount: 1, deadLetterQueue: 'q.dlq', now: 1, onDeadLetter: (q) => dlqs.push(q) })
    const [call] = await store.receive('q', rules(1, { calls: true, maxReceiveCount: 1 }))
    await store.fail('q', [call], { code: 'second' }, { maxReceiveCount: 1, deadLetterQueue: 'q.dlq', now: 2, onDeadLetter: (q) => dlqs.push(q) })
    assert.equal(dlqs, ['q.dlq', 'q.dlq'])
    const dead = await store.receive('q.dlq', rules(3, { deadLetterQueue: 'q.dlq.dlq' }))
    assert.equal(
      dead.map((d) => [d.body, d.receive_count, d.source_queue, d.source_receive_count, d.last_error, d.function_id ?? null, d.message_group_id ?? null, d.context ?? null]),
      [
        ['plain', 1, 'q', 1, { code: 'first' }, null, 'g', { traceparent: 'tp-1' }],
        [{ n: 1 }, 1, 'q', 1, { code: 'second' }, 'f', null, null],
      ],
    )
    assert.equal(await store.receive('q.dlq', rules(3, { calls: true })), [], 'a dead call does not run as a call')
    assert.equal((await store.counts(3)).q.dead_lettered, 2)
    assert.equal((await store.counts(3))['q.dlq'].in_flight, 2)
    // The dead-letter queue has rules of its own: failing there, they go on to its own dead letters.
    await store.fail('q.dlq', dead, { code: 'again' }, { maxReceiveCount: 1, deadLetterQueue: 'q.dlq.dlq', now: 4 })
    assert.equal((await store.list('q.dlq.dlq', 10)).map((m) => [m.source_queue, m.last_error]), [['q.dlq', { code: 'again' }], ['q.dlq', { code: 'again' }]])
    assert.equal((await store.counts(5))['q.dlq'].dead_lettered, 2)
  })

  it('durable calls: a queue whose calls all ended has none to run, and runs the next one sent or redriven', async ({ store }) => {
    await store.send('q', 'plain', { now: 0 })
    await store.send('q', 'c1', { now: 0, function_id: 'f' })
    const callRules = (now: number) => rules(now, { calls: true, maxReceiveCount: 1 })
    const [c1] = await store.receive('q', callRules(1))
    assert.is(c1.body, 'c1')
    assert.is(await store.nextVisibleAt('q', true, 1), 1001, "the leased call's lease ends then")
    await store.ack('q', [c1], 2)
    assert.is(await store.nextVisibleAt('q', true, 2), undefined)
    assert.equal(await store.receive('q', callRules(3)), [])
    await store.send('q', 'c2', { now: 4, function_id: 'f' })
    const [c2] = await store.receive('q', callRules(5))
    assert.is(c2?.body, 'c2', 'a call sent after the queue held none is run')
    await store.fail('q', [c2], { code: 'no' }, { maxReceiveCount: 1, deadLetterQueue: 'q.dlq', now: 6 })
    assert.is(await store.nextVisibleAt('q', true, 6), undefined)
    assert.equal(await store.receive('q', callRules(7)), [])
    assert.equal((await store.redrive('q.dlq', undefined, 8)).redriven, 1)
    assert.equal((await store.receive('q', callRules(9))).map((d) => d.body), ['c2'], 'a redriven call is run')
    assert.equal(bodies(await store.receive('q', rules(10))), ['plain'], 'the plain message was never a call')
  })

  it('an exhausted message found by a receive goes to its dead-letter queue, and says so', async ({ store }) => {
    await store.send('q', 'm', { now: 0 })
    await store.receive('q', rules(0, { maxReceiveCount: 1 }))
    const dlqs: string[] = []
    assert.equal(await store.receive('q', rules(2000, { maxReceiveCount: 1, onDeadLetter: (q) => dlqs.push(q) })), [])
    assert.equal(dlqs, ['q.dlq'])
    assert.equal((await store.list('q.dlq', 10)).map((m) => (m.last_error as { code: string }).code), ['visibility_timeout'])
  })

  it("each message keeps its sender's trace context and metadata, and its group", async ({ store }) => {
    const metadata = { tenant: 'acme', nested: { list: [1, 2] } }
    await store.send('q', 'a', { now: 0, context: { traceparent: '00-aa-bb-01', baggage: 'k=v', metadata } })
    await store.send('q', 'b', { now: 0, context: {} })
    const [a, b] = await store.receive('q', rules(1))
    assert.equal(a.context, { traceparent: '00-aa-bb-01', baggage: 'k=v', metadata })
    assert.is(b.context, undefined, 'no context, no field')
  })

  it('counts: ready, in flight, delayed, dead letters of each queue, and its oldest message', async ({ store }) => {
    await store.send('q', 'old', { now: 10 })
    await store.send('q', 'new', { now: 20 })
    await store.send('q', 'later', { now: 30, delayMs: 1000 })
    await store.receive('q', rules(40, { max: 1 }))
    assert.equal(plain(await store.counts(50)), { q: { ready: 1, in_flight: 1, delayed: 1, dead_lettered: 0, oldest_enqueued_at: 10 } })
  })

  it.run()
}

const migration = suite('queue rules: a SQLite file of the previous schema')

/** Runs `body` with a fresh temporary folder, removed after. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'signalbox-migrate-'))
  try {
    await body(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

migration('opens with its messages as they were: live calls stay calls, dead ones become messages of their dead-letter queue', () =>
  inTempDir(async (dir) => {
    const file = join(dir, 'v1.sqlite')
    const db = new Database(file)
    db.exec(`
      CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, queue TEXT NOT NULL, body TEXT NOT NULL,
        function_id TEXT, enqueued_at INTEGER NOT NULL, visible_at INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0,
        receipt TEXT, last_error TEXT, source_queue TEXT, ready INTEGER NOT NULL DEFAULT 0);
      CREATE INDEX messages_ready ON messages (queue, seq) WHERE ready = 1 AND function_id IS NULL;
      CREATE INDEX messages_ready_calls ON messages (queue, seq) WHERE ready = 1 AND function_id IS NOT NULL AND source_queue IS NULL;
      INSERT INTO messages (message_id, queue, body, function_id, enqueued_at, visible_at, receive_count, receipt, last_error, source_queue, ready) VALUES
        ('plain', 'o', '"p"', NULL, 0, 0, 0, NULL, NULL, NULL, 1),
        ('call', 'o', '{"n":1}', 'f', 1, 1, 0, NULL, NULL, NULL, 1),
        ('deadcall', 'o.dlq', '{"n":2}', 'f', 2, 0, 5, NULL, '{"code":"x"}', 'o', 1);`)
    db.close()
    const store = createSqliteQueueStore(file)
    try {
      assert.equal(await store.callQueues(), ['o'])
      assert.equal((await store.receive('o', rules(10, { calls: true }))).map((d) => d.message_id), ['call'])
      const [plainOne] = await store.receive('o', rules(10))
      assert.is(plainOne.message_id, 'plain')
      assert.equal((await store.receive('o.dlq', rules(10))).map((d) => [d.message_id, d.function_id, d.source_queue]), [['deadcall', 'f', 'o']])
      assert.is(await store.ack('o', [plainOne], 11), 1, 'a message of the old file is acknowledged by its lease')
    } finally {
      await store.close()
    }
    const reopened = new Database(file)
    assert.is(reopened.pragma('user_version', { simple: true }), 3)
    assert.equal(reopened.prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'messages' AND name LIKE 'sqlite_autoindex%'").all(), [], 'no index of message ids')
    reopened.close()
  }),
)

migration('a version 2 file: its table is copied without the message id index, rows, seqs and sequence kept', () =>
  inTempDir(async (dir) => {
    const file = join(dir, 'v2.sqlite')
    const db = new Database(file)
    db.exec(`
      CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, queue TEXT NOT NULL, body TEXT NOT NULL,
        function_id TEXT, call INTEGER NOT NULL DEFAULT 0, enqueued_at INTEGER NOT NULL, visible_at INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0,
        receipt TEXT, last_error TEXT, source_queue TEXT, source_receive_count INTEGER, message_group_id TEXT, context TEXT, ready INTEGER NOT NULL DEFAULT 0);
      INSERT INTO messages (seq, message_id, queue, body, enqueued_at, visible_at, receive_count, receipt, ready, message_group_id, context) VALUES
        (7, 'leased', 'o', '"l"', 0, 5000, 1, 'old-receipt', 0, NULL, NULL),
        (9, 'grouped', 'o', '"g"', 1, 0, 0, NULL, 1, 'g1', '{"traceparent":"tp"}');
      UPDATE sqlite_sequence SET seq = 40 WHERE name = 'messages';
      PRAGMA user_version = 2;`)
    db.close()
    const store = createSqliteQueueStore(file)
    try {
      assert.is(await store.ack('o', [{ message_id: 'leased', receipt: 'wrong' }], 10), 0, 'a receipt of no lease')
      const { message_id } = await store.send('o', 'new', { now: 10 })
      assert.equal((await store.list('o', 10)).map((m) => [m.message_id, m.receipt ?? null, m.message_group_id ?? null, m.context ?? null]), [
        ['leased', 'old-receipt', null, null],
        ['grouped', null, 'g1', { traceparent: 'tp' }],
        [message_id, null, null, null],
      ])
      const got = await store.receive('o', rules(6000))
      assert.equal(got.map((d) => d.body), ['l', 'g', 'new'], 'the lease ran out; send order kept')
      assert.is(await store.ack('o', got, 6001), 3)
    } finally {
      await store.close()
    }
    const reopened = new Database(file)
    assert.is(reopened.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").pluck().get(), 41, 'the sequence went on from where it was')
    assert.is(reopened.pragma('user_version', { simple: true }), 3)
    reopened.close()
  }),
)

migration.run()

const pure = suite('queue rules: backoff delays and a queue\'s own settings')

pure('fixed backoff: the same delay after every failure', () => {
  const b = { type: 'fixed' as const, delay_ms: 500, max_delay_ms: 900_000 }
  assert.equal([1, 2, 5].map((n) => backoffDelay(b, n, () => 0.99)), [500, 500, 500])
})

pure('exponential backoff: doubles per receive, capped, with equal jitter (half fixed, half at random)', () => {
  const b = { type: 'exponential' as const, delay_ms: 100, max_delay_ms: 1000 }
  assert.equal([1, 2, 3, 4, 5, 9].map((n) => backoffDelay(b, n, () => 0)), [50, 100, 200, 400, 500, 500])
  assert.equal([1, 2, 3, 4, 5, 9].map((n) => backoffDelay(b, n, () => 1)), [100, 200, 400, 800, 1000, 1000])
})

pure('backoff config: defaults, and refusals that name the field', () => {
  const base = { queue_name: 'q' }
  assert.equal((parseQueueConfig({ ...base, backoff: { type: 'exponential', delay_ms: 200 } }) as QueueConsumerConfig).backoff, { type: 'exponential', delay_ms: 200, max_delay_ms: 900_000 })
  assert.is((parseQueueConfig(base) as QueueConsumerConfig).backoff, undefined)
  assert.equal(parseQueueConfig({ ...base, backoff: 5 }), "'backoff' must be an object such as { type: 'exponential', delay_ms: 1000 }, got 5")
  assert.equal(parseQueueConfig({ ...base, backoff: { type: 'linear', delay_ms: 1 } }), "'backoff.type' must be 'fixed' or 'exponential', got 'linear'")
  assert.equal(parseQueueConfig({ ...base, backoff: { type: 'fixed' } }), "'backoff.delay_ms' is required: the delay in milliseconds, e.g. 1000")
  assert.equal(parseQueueConfig({ ...base, backoff: { type: 'fixed', delay_ms: 0 } }), "'backoff.delay_ms' must be a whole number from 1 to 43200000, got 0")
  assert.equal(parseQueueConfig({ ...base, backoff: { type: 'exponential', delay_ms: 1000, max_delay_ms: 10 } }), "'backoff.max_delay_ms' must be a whole number from 1000 to 43200000, got 10")
  assert.equal(parseQueueConfig({ ...base, backoff: { type: 'fixed', delay_ms: 1, jitter: true } }), "'backoff' takes type, delay_ms and max_delay_ms, got 'jitter'")
  assert.equal(parseQueueConfig({ ...base, fifo: 'yes' }), "'fifo' must be true or false, got 'yes'")
  assert.equal(parseQueueConfig({ ...base, delay_seconds: 43_201 }), "'delay_seconds' must be a whole number from 0 to 43200, got 43201")
})

pure('the consumers of a queue must agree on whether it is FIFO and on its default delay', () => {
  const s = new QueueSchedule()
  const config = (extra: Partial<QueueConsumerConfig>) => ({ ...(parseQueueConfig({ queue_name: 'q' }) as QueueConsumerConfig), ...extra })
  assert.is(s.conflict(config({ fifo: true })), undefined, 'the first one sets them')
  s.addConsumer('w1', 'first', 'f', config({ fifo: true, delay_seconds: 5 }))
  assert.equal(s.attributes('q'), { fifo: true, delay_seconds: 5 })
  assert.is(s.conflict(config({ fifo: false, delay_seconds: 5 })), "queue 'q' is FIFO for trigger 'first' of worker 'w1'; every trigger on a queue must give the same 'fifo'")
  assert.is(s.conflict(config({ fifo: true, delay_seconds: 0 })), "queue 'q' has 'delay_seconds' 5 for trigger 'first' of worker 'w1'; every trigger on a queue must give the same 'delay_seconds'")
  assert.is(s.conflict(config({ fifo: true, delay_seconds: 5, batch_size: 50 })), undefined, 'what belongs to a trigger may differ')
  s.removeConsumer('w1', 'first')
  assert.equal(s.attributes('q'), { fifo: false, delay_seconds: 0 })
})

pure.run()
