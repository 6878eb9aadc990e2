/**
 * The SQLite queue store (better-sqlite3, WAL mode): messages survive a crash of the
 * engine. A message leased when the process died becomes visible again when its lease
 * ends, so every message is delivered at least once.
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { expiredLease, type Delivery, type QueueCounts, type QueueStore, type StoredMessage } from '../core/queue-store.js'

interface Row {
  seq: number
  message_id: string
  queue: string
  body: string
  function_id: string | null
  enqueued_at: number
  visible_at: number
  receive_count: number
  receipt: string | null
  last_error: string | null
  source_queue: string | null
}

/** The columns a receive reads. */
type ReadyRow = Pick<Row, 'seq' | 'message_id' | 'body' | 'function_id' | 'enqueued_at' | 'receive_count' | 'last_error'>

const toMessage = (r: Row): StoredMessage => ({
  message_id: r.message_id,
  queue: r.queue,
  body: JSON.parse(r.body),
  function_id: r.function_id ?? undefined,
  enqueued_at: r.enqueued_at,
  visible_at: r.visible_at,
  receive_count: r.receive_count,
  receipt: r.receipt ?? undefined,
  last_error: r.last_error === null ? undefined : JSON.parse(r.last_error),
  source_queue: r.source_queue ?? undefined,
})

/**
 * The schema. `ready` marks rows already found visible (sent without delay, dead, redriven,
 * or due at an earlier receive), so receives read partial indexes in delivery order (`seq`)
 * and never sort the backlog. Rows that wait (leased, failed, delayed) sit in partial
 * indexes by `visible_at` until a receive finds them due and marks them. Each row is in one
 * of the four partial indexes at a time (a dead durable call in none).
 */
export const SCHEMA = `
  CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    function_id TEXT,
    enqueued_at INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    last_error TEXT,
    source_queue TEXT,
    ready INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX IF NOT EXISTS messages_queue ON messages (queue, seq);
  CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, seq) WHERE ready = 1 AND function_id IS NULL;
  CREATE INDEX IF NOT EXISTS messages_ready_calls ON messages (queue, seq) WHERE ready = 1 AND function_id IS NOT NULL AND source_queue IS NULL;
  CREATE INDEX IF NOT EXISTS messages_waiting ON messages (queue, visible_at) WHERE ready = 0 AND function_id IS NULL;
  CREATE INDEX IF NOT EXISTS messages_waiting_calls ON messages (queue, visible_at) WHERE ready = 0 AND function_id IS NOT NULL;
`

/** Opens (creating if needed) the store in the SQLite file at `path`. */
export function createSqliteQueueStore(path: string): QueueStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('busy_timeout = 5000')
  db.transaction(() => {
    // A file from before the `ready` column: its rows start as waiting, and the first receive
    // of each queue marks those that are due. Its index by visible time is not used any more.
    const columns = db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('messages')
    if (columns.length > 0 && !columns.includes('ready')) db.exec('ALTER TABLE messages ADD COLUMN ready INTEGER NOT NULL DEFAULT 0')
    db.exec('DROP INDEX IF EXISTS messages_visible')
    db.exec(SCHEMA)
  }).immediate()

  const insert = db.prepare(
    'INSERT INTO messages (message_id, queue, body, function_id, enqueued_at, visible_at, ready) VALUES (?, ?, ?, ?, ?, ?, ?)',
  )
  /** What a receive needs of the ready rows visible now, oldest first (`visible_at` is checked for a clock set back). */
  const selectReady = db.prepare(
    'SELECT seq, message_id, body, function_id, enqueued_at, receive_count, last_error FROM messages WHERE queue = ? AND ready = 1 AND function_id IS NULL AND visible_at <= ? AND seq > ? ORDER BY seq LIMIT ?',
  )
  const selectReadyCalls = db.prepare(
    'SELECT seq, message_id, body, function_id, enqueued_at, receive_count, last_error FROM messages WHERE queue = ? AND ready = 1 AND function_id IS NOT NULL AND source_queue IS NULL AND visible_at <= ? AND seq > ? ORDER BY seq LIMIT ?',
  )
  const markDue = db.prepare('UPDATE messages SET ready = 1 WHERE queue = ? AND ready = 0 AND function_id IS NULL AND visible_at <= ?')
  const markDueCalls = db.prepare('UPDATE messages SET ready = 1 WHERE queue = ? AND ready = 0 AND function_id IS NOT NULL AND visible_at <= ?')
  const unmarkNotDue = db.prepare('UPDATE messages SET ready = 0 WHERE ready = 1 AND visible_at > ?')
  const nextWaiting = db.prepare('SELECT visible_at FROM messages WHERE queue = ? AND ready = 0 AND function_id IS NULL AND visible_at > ? ORDER BY visible_at LIMIT 1').pluck()
  const nextWaitingCall = db.prepare('SELECT visible_at FROM messages WHERE queue = ? AND ready = 0 AND function_id IS NOT NULL AND visible_at > ? ORDER BY visible_at LIMIT 1').pluck()
  const callQueues = db.prepare('SELECT DISTINCT queue FROM messages WHERE function_id IS NOT NULL AND source_queue IS NULL').pluck()
  const lease = db.prepare('UPDATE messages SET receive_count = receive_count + 1, receipt = ?, visible_at = ?, last_error = NULL, ready = 0 WHERE seq = ?')
  const toDeadLetters = db.prepare(
    'UPDATE messages SET queue = ?, source_queue = queue, last_error = ?, receipt = NULL, visible_at = 0, ready = 1 WHERE seq = ?',
  )
  const byLease = db.prepare('SELECT * FROM messages WHERE queue = ? AND message_id = ? AND receipt = ? AND visible_at > ?')
  const removeLeased = db.prepare('DELETE FROM messages WHERE message_id = ? AND queue = ? AND receipt = ? AND visible_at > ?')
  const recordError = db.prepare('UPDATE messages SET last_error = ? WHERE seq = ?')
  const listQueue = db.prepare('SELECT * FROM messages WHERE queue = ? ORDER BY seq LIMIT ?')
  const allOf = db.prepare('SELECT * FROM messages WHERE queue = ? ORDER BY seq')
  const redriveOne = db.prepare(
    'UPDATE messages SET queue = COALESCE(source_queue, queue), source_queue = NULL, receive_count = 0, receipt = NULL, visible_at = ?, ready = 1 WHERE seq = ?',
  )
  const countAll = db.prepare(
    `SELECT queue,
       SUM(visible_at <= @now) AS ready,
       SUM(visible_at > @now AND receipt IS NOT NULL) AS in_flight,
       SUM(visible_at > @now AND receipt IS NULL) AS delayed
     FROM messages GROUP BY queue`,
  )

  /**
   * Every row marked ready has `visible_at <= readyUpTo`. Receives need no more: they mark
   * the due rows, then read the ready ones that are visible at their `now`. For the next
   * visible time, rows visible after `now` must all be waiting: a `now` before `readyUpTo`
   * (a clock set back, or a file marked by an earlier run, unknown at first) unmarks the
   * ready rows not visible then, once.
   */
  let readyUpTo = Number.POSITIVE_INFINITY
  const markedReady = (at: number) => {
    if (at > readyUpTo) readyUpTo = at
  }
  const readyNotAfter = (now: number) => {
    if (now < readyUpTo) unmarkNotDue.run(now)
    readyUpTo = now
  }

  const receive = db.transaction((queue: string, o: Parameters<QueueStore['receive']>[1]): Delivery[] => {
    const out: Delivery[] = []
    ;(o.calls ? markDueCalls : markDue).run(queue, o.now)
    markedReady(o.now)
    const select = o.calls ? selectReadyCalls : selectReady
    // Rows already looked at are passed by seq: refused calls stay where they are.
    let after = 0
    while (out.length < o.max) {
      const rows = select.all(queue, o.now, after, o.max - out.length) as ReadyRow[]
      if (rows.length === 0) break
      for (const r of rows) {
        after = r.seq
        if (o.calls && o.accept && !o.accept(r.function_id!)) continue
        if (r.receive_count >= o.maxReceiveCount) {
          const error = r.last_error ?? JSON.stringify(expiredLease(r.receive_count))
          toDeadLetters.run(o.deadLetterQueue, error, r.seq)
          continue
        }
        // The last error is that of the last receive: none recorded by its end means it timed out.
        const receipt = randomUUID()
        lease.run(receipt, o.now + o.visibilityMs, r.seq)
        out.push({ message_id: r.message_id, body: JSON.parse(r.body), function_id: r.function_id ?? undefined, receive_count: r.receive_count + 1, enqueued_at: r.enqueued_at, receipt })
      }
    }
    return out
  })
  const ack = db.transaction((queue: string, leases: Array<{ message_id: string; receipt: string }>, now: number) => {
    let n = 0
    for (const l of leases) n += removeLeased.run(l.message_id, queue, l.receipt, now).changes
    return n
  })
  const fail = db.transaction((queue: string, leases: Array<{ message_id: string; receipt: string }>, error: unknown, o: { maxReceiveCount: number; deadLetterQueue: string; now: number }) => {
    const text = JSON.stringify(error ?? null)
    for (const l of leases) {
      const row = byLease.get(queue, l.message_id, l.receipt, o.now) as Row | undefined
      if (!row) continue
      if (row.receive_count >= o.maxReceiveCount) toDeadLetters.run(o.deadLetterQueue, text, row.seq)
      else recordError.run(text, row.seq)
    }
  })
  const redrive = db.transaction((dlq: string, ids: string[] | undefined, now: number) => {
    let n = 0
    const targets = new Set<string>()
    for (const r of allOf.all(dlq) as Row[]) {
      if (ids && !ids.includes(r.message_id)) continue
      redriveOne.run(now, r.seq)
      markedReady(now)
      targets.add(r.source_queue ?? dlq)
      n++
    }
    return { redriven: n, queues: [...targets] }
  })

  return {
    kind: 'sqlite',
    send(queue, body, { now, delayMs = 0, function_id }) {
      const message_id = randomUUID()
      const ready = delayMs <= 0
      insert.run(message_id, queue, JSON.stringify(body ?? null), function_id ?? null, now, now + delayMs, ready ? 1 : 0)
      if (ready) markedReady(now + delayMs)
      return message_id
    },
    receive: (queue, o) => receive(queue, o),
    ack: (queue, leases, now) => ack(queue, leases, now),
    fail: (queue, leases, error, o) => fail(queue, leases, error, o),
    nextVisibleAt(queue, calls, now) {
      readyNotAfter(now)
      return ((calls ? nextWaitingCall : nextWaiting).get(queue, now) as number | undefined) ?? undefined
    },
    list: (queue, limit) => (listQueue.all(queue, limit) as Row[]).map(toMessage),
    redrive: (dlq, ids, now) => redrive(dlq, ids, now),
    callQueues: () => callQueues.all() as string[],
    counts(now) {
      const out: Record<string, QueueCounts> = {}
      for (const r of countAll.all({ now }) as Array<QueueCounts & { queue: string }>) {
        out[r.queue] = { ready: r.ready, in_flight: r.in_flight, delayed: r.delayed }
      }
      return out
    },
    close() {
      db.close()
    },
  }
}
