/**
 * The SQLite queue store (better-sqlite3, WAL mode): messages survive a crash of the
 * engine. A message leased when the process died becomes visible again when its lease
 * ends, so every message is delivered at least once. The rules are those of
 * core/queue-store.ts.
 */
import { randomUUID } from 'node:crypto'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { record } from '../core/catalog.js'
import { startCheckpointer } from './sqlite-checkpointer.js'
import { makeFolder } from './store-files.js'
import { contextOf, expiredLease, type Delivery, type FailOptions, type QueueCounts, type QueueStore, type ReceiveOptions, type StoredMessage } from '../core/queue-store.js'

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
  source_receive_count: number | null
  message_group_id: string | null
  context: string | null
}

/** The columns a receive reads. */
type ReceivedRow = Omit<Row, 'queue' | 'receipt'>
const RECEIVED = 'seq, message_id, body, function_id, enqueued_at, visible_at, receive_count, last_error, source_queue, source_receive_count, message_group_id, context'

const toMessage = (r: Row): StoredMessage => {
  const m: StoredMessage = {
    message_id: r.message_id,
    queue: r.queue,
    body: JSON.parse(r.body),
    enqueued_at: r.enqueued_at,
    visible_at: r.visible_at,
    receive_count: r.receive_count,
  }
  if (r.function_id !== null) m.function_id = r.function_id
  if (r.receipt !== null) m.receipt = r.receipt
  if (r.last_error !== null) m.last_error = JSON.parse(r.last_error)
  if (r.source_queue !== null) m.source_queue = r.source_queue
  if (r.source_receive_count !== null) m.source_receive_count = r.source_receive_count
  if (r.message_group_id !== null) m.message_group_id = r.message_group_id
  if (r.context !== null) m.context = JSON.parse(r.context)
  return m
}

/**
 * The log size (pages) at which the store's own connection checkpoints, a backstop behind
 * the checkpointing thread (adapters/sqlite-checkpointer.ts): 40 MB of 4 KB pages. The
 * thread copies the log back as it grows, but the log starts again from its beginning only
 * after a commit finds all of it copied, which a steady stream of commits may never let
 * happen; a checkpoint on the store's connection then copies what is left (little) and
 * lets the next commit start the log again. SQLite's default, 1,000 pages, ran that
 * checkpoint (and its two syncs) on the event loop every 4 MB of log.
 */
const CHECKPOINT_BACKSTOP_PAGES = 10_000

/** The schema version this store writes (`PRAGMA user_version`); older files are migrated when opened. */
const VERSION = 3

/**
 * The messages table's columns. `message_id` is not indexed: every lookup of one message
 * goes by `seq` (a lease's receipt carries it), and an index of random ids made each
 * send and acknowledgement write about one page of it per message (version 3 dropped it).
 */
const MESSAGES_COLUMNS = `
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    function_id TEXT,
    call INTEGER NOT NULL DEFAULT 0,
    enqueued_at INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    last_error TEXT,
    source_queue TEXT,
    source_receive_count INTEGER,
    message_group_id TEXT,
    context TEXT,
    ready INTEGER NOT NULL DEFAULT 0`

/**
 * The schema. `call` marks live durable calls (a dead one is a message of its dead-letter
 * queue). `ready` marks rows already found visible (sent without delay, dead, redriven, or
 * due at an earlier receive), so plain receives read partial indexes in send order (`seq`)
 * and never sort the backlog; rows that wait (leased, failed, delayed) sit in partial
 * indexes by `visible_at` until a receive finds them due and marks them. FIFO receives
 * read the oldest message of each group through `messages_groups`.
 */
export const SCHEMA = `
  CREATE TABLE IF NOT EXISTS messages (${MESSAGES_COLUMNS}
  );
  CREATE INDEX IF NOT EXISTS messages_queue ON messages (queue, seq);
  CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, seq) WHERE ready = 1 AND call = 0;
  CREATE INDEX IF NOT EXISTS messages_ready_calls ON messages (queue, seq) WHERE ready = 1 AND call = 1;
  CREATE INDEX IF NOT EXISTS messages_waiting ON messages (queue, visible_at) WHERE ready = 0 AND call = 0;
  CREATE INDEX IF NOT EXISTS messages_waiting_calls ON messages (queue, visible_at) WHERE ready = 0 AND call = 1;
  CREATE INDEX IF NOT EXISTS messages_groups ON messages (queue, message_group_id, seq) WHERE call = 0 AND message_group_id IS NOT NULL;
  CREATE INDEX IF NOT EXISTS messages_sources ON messages (source_queue) WHERE source_queue IS NOT NULL;
  CREATE TABLE IF NOT EXISTS deduplication (
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (queue, id)
  ) WITHOUT ROWID;
`

/** Brings a file written by an earlier version to this schema, keeping its messages as they were. */
function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number
  const columns = db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('messages') as string[]
  if (columns.length > 0 && version < 2) {
    // Before `ready`: rows start as waiting; the first receive of each queue marks those due.
    if (!columns.includes('ready')) db.exec('ALTER TABLE messages ADD COLUMN ready INTEGER NOT NULL DEFAULT 0')
    for (const [name, type] of [['call', 'INTEGER NOT NULL DEFAULT 0'], ['source_receive_count', 'INTEGER'], ['message_group_id', 'TEXT'], ['context', 'TEXT']]) {
      if (!columns.includes(name)) db.exec(`ALTER TABLE messages ADD COLUMN ${name} ${type}`)
    }
    db.exec('UPDATE messages SET call = 1 WHERE function_id IS NOT NULL AND source_queue IS NULL')
    // Dead letters of earlier versions kept their receives; in their dead-letter queue they start again from 0.
    db.exec('UPDATE messages SET source_receive_count = receive_count, receive_count = 0 WHERE source_queue IS NOT NULL AND source_receive_count IS NULL')
    // The partial indexes of earlier versions tell calls from messages by function_id.
    for (const index of ['messages_visible', 'messages_ready', 'messages_ready_calls', 'messages_waiting', 'messages_waiting_calls']) db.exec(`DROP INDEX IF EXISTS ${index}`)
  }
  if (columns.length > 0 && version < 3) {
    // `message_id` was UNIQUE, an index SQLite keeps with the table: the table is copied to
    // one without it, every row and its seq as they were, and the sequence carried over.
    const sequence = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").pluck().get() as number | undefined
    const names = MESSAGES_COLUMNS.trim().split(/,\s*/).map((c) => c.trim().split(' ')[0]).join(', ')
    db.exec(`CREATE TABLE messages_v3 (${MESSAGES_COLUMNS});
      INSERT INTO messages_v3 (${names}) SELECT ${names} FROM messages;
      DROP TABLE messages;
      ALTER TABLE messages_v3 RENAME TO messages;`)
    if (sequence !== undefined) {
      db.prepare("DELETE FROM sqlite_sequence WHERE name = 'messages'").run()
      db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)").run(sequence)
    }
  }
  db.exec(SCHEMA)
  db.pragma(`user_version = ${VERSION}`)
}

/**
 * A lease's receipt: the message's `seq` (how the store finds it again) and a random part
 * (which lease of it this is). Opaque to everyone else.
 */
const receiptFor = (seq: number) => `${seq}.${randomUUID()}`
/** The `seq` a receipt names, or -1 for one written before version 3 (or not by this store). */
const seqOf = (receipt: string) => {
  const n = Number(receipt.slice(0, receipt.indexOf('.')))
  return Number.isSafeInteger(n) && n > 0 ? n : -1
}

/** Opens (creating if needed) the store in the SQLite file at `path`. */
export function createSqliteQueueStore(path: string): QueueStore {
  if (path !== ':memory:' && path !== '') makeFolder(dirname(path))
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('busy_timeout = 5000')
  db.transaction(() => migrate(db)).immediate()
  // Checkpoints run on a thread of their own; the store's connection keeps a backstop.
  const checkpointer = path === ':memory:' || path === '' ? undefined : startCheckpointer(path)
  if (checkpointer) db.pragma(`wal_autocheckpoint = ${CHECKPOINT_BACKSTOP_PAGES}`)

  const insert = db.prepare(
    'INSERT INTO messages (message_id, queue, body, function_id, call, enqueued_at, visible_at, ready, message_group_id, context) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  )
  /** What a receive needs of the ready rows visible now, oldest first (`visible_at` is checked for a clock set back). */
  const selectReady = db.prepare(`SELECT ${RECEIVED} FROM messages WHERE queue = ? AND ready = 1 AND call = 0 AND visible_at <= ? AND seq > ? ORDER BY seq LIMIT ?`)
  const selectReadyCalls = db.prepare(`SELECT ${RECEIVED} FROM messages WHERE queue = ? AND ready = 1 AND call = 1 AND visible_at <= ? AND seq > ? ORDER BY seq LIMIT ?`)
  const markDue = db.prepare('UPDATE messages SET ready = 1 WHERE queue = ? AND ready = 0 AND call = 0 AND visible_at <= ?')
  const markDueCalls = db.prepare('UPDATE messages SET ready = 1 WHERE queue = ? AND ready = 0 AND call = 1 AND visible_at <= ?')
  const unmarkNotDue = db.prepare('UPDATE messages SET ready = 0 WHERE ready = 1 AND visible_at > ?')
  /**
   * The oldest message of every group of a queue. The groups are walked one index seek each
   * (the next group id after the last, then its first message by seq), so the cost grows
   * with the number of groups, not with the messages waiting in them: a GROUP BY read every
   * grouped message of the queue on each FIFO receive.
   */
  const groupHeads = db.prepare(`WITH RECURSIVE g(id) AS (
      SELECT (SELECT message_group_id FROM messages WHERE queue = @queue AND call = 0 AND message_group_id IS NOT NULL ORDER BY message_group_id LIMIT 1)
      UNION ALL
      SELECT (SELECT message_group_id FROM messages WHERE queue = @queue AND call = 0 AND message_group_id > g.id ORDER BY message_group_id LIMIT 1) FROM g WHERE g.id IS NOT NULL
    )
    SELECT ${RECEIVED.split(', ').map((c) => `m.${c}`).join(', ')} FROM g JOIN messages m
      ON m.seq = (SELECT seq FROM messages WHERE queue = @queue AND call = 0 AND message_group_id = g.id ORDER BY seq LIMIT 1)`)
  /** The oldest message without a group: in a FIFO queue, those form one group together. */
  const ungroupedHead = db.prepare(`SELECT ${RECEIVED} FROM messages WHERE queue = ? AND call = 0 AND message_group_id IS NULL ORDER BY seq LIMIT 1`)
  /**
   * A group's messages from `seq` on, in send order. `message_group_id = ?` (not `IS ?`) lets
   * SQLite read `messages_groups`, whose rows are the group's own; the ungrouped messages
   * (NULL) are read through `messages_queue`.
   */
  const groupFrom = db.prepare(`SELECT ${RECEIVED} FROM messages WHERE queue = ? AND call = 0 AND message_group_id = ? AND seq >= ? ORDER BY seq LIMIT ?`)
  const ungroupedFrom = db.prepare(`SELECT ${RECEIVED} FROM messages WHERE queue = ? AND call = 0 AND message_group_id IS NULL AND seq >= ? ORDER BY seq LIMIT ?`)
  const nextWaiting = db.prepare('SELECT visible_at FROM messages WHERE queue = ? AND ready = 0 AND call = 0 AND visible_at > ? ORDER BY visible_at LIMIT 1').pluck()
  const nextWaitingCall = db.prepare('SELECT visible_at FROM messages WHERE queue = ? AND ready = 0 AND call = 1 AND visible_at > ? ORDER BY visible_at LIMIT 1').pluck()
  const callQueues = db.prepare('SELECT DISTINCT queue FROM messages WHERE call = 1').pluck()
  /** Whether `queue` holds a live durable call: one seek in each of the calls' partial indexes. */
  const holdsCall = db.prepare(
    'SELECT EXISTS (SELECT 1 FROM messages WHERE queue = @queue AND ready = 1 AND call = 1) OR EXISTS (SELECT 1 FROM messages WHERE queue = @queue AND ready = 0 AND call = 1)',
  ).pluck()
  /**
   * Queues that may hold live durable calls: every queue holding one is here (its send, or
   * a redrive, adds it). Most queues hold none, and their receives of calls, run after every
   * batch, then cost no statement. A queue leaves when a look for its next call finds no
   * row at all: none waiting, leased or ready.
   */
  const mayHoldCalls = new Set(callQueues.all() as string[])
  // The last error is that of the last receive: none recorded by its end means it timed out.
  // A dead letter keeps the error that sent it here until it fails here itself.
  const lease = db.prepare(
    'UPDATE messages SET receive_count = receive_count + 1, receipt = ?, visible_at = ?, last_error = CASE WHEN source_queue IS NULL THEN NULL ELSE last_error END, ready = 0 WHERE seq = ?',
  )
  const toDeadLetters = db.prepare(
    'UPDATE messages SET queue = ?, source_queue = queue, source_receive_count = receive_count, receive_count = 0, last_error = ?, receipt = NULL, visible_at = 0, ready = 1, call = 0 WHERE seq = ?',
  )
  const byLease = db.prepare('SELECT * FROM messages WHERE seq = ? AND queue = ? AND message_id = ? AND receipt = ? AND visible_at > ?')
  const removeLeased = db.prepare('DELETE FROM messages WHERE seq = ? AND queue = ? AND message_id = ? AND receipt = ? AND visible_at > ?')
  // A receipt written before version 3 names no seq: its message is looked for among its queue's.
  const byOldLease = db.prepare('SELECT * FROM messages WHERE queue = ? AND message_id = ? AND receipt = ? AND visible_at > ?')
  const removeOldLease = db.prepare('DELETE FROM messages WHERE queue = ? AND message_id = ? AND receipt = ? AND visible_at > ?')
  const recordError = db.prepare('UPDATE messages SET last_error = ? WHERE seq = ?')
  const retryLater = db.prepare('UPDATE messages SET last_error = ?, visible_at = ?, receipt = NULL, ready = 0 WHERE seq = ?')
  const listQueue = db.prepare('SELECT * FROM messages WHERE queue = ? ORDER BY seq LIMIT ?')
  const allOf = db.prepare('SELECT * FROM messages WHERE queue = ? ORDER BY seq')
  const redriveOne = db.prepare(
    'UPDATE messages SET queue = COALESCE(source_queue, queue), source_queue = NULL, source_receive_count = NULL, receive_count = 0, receipt = NULL, visible_at = ?, ready = 1, call = (function_id IS NOT NULL) WHERE seq = ?',
  )
  const countAll = db.prepare(
    `SELECT queue,
       SUM(visible_at <= @now) AS ready,
       SUM(visible_at > @now AND receipt IS NOT NULL) AS in_flight,
       SUM(visible_at > @now AND receipt IS NULL) AS delayed,
       MIN(enqueued_at) AS oldest
     FROM messages GROUP BY queue`,
  )
  const countDead = db.prepare('SELECT source_queue AS queue, COUNT(*) AS n FROM messages WHERE source_queue IS NOT NULL GROUP BY source_queue')
  const seenId = db.prepare('SELECT message_id FROM deduplication WHERE queue = ? AND id = ? AND expires_at > ?').pluck()
  const rememberId = db.prepare('INSERT OR REPLACE INTO deduplication (queue, id, message_id, expires_at) VALUES (?, ?, ?, ?)')
  const forgetExpired = db.prepare('DELETE FROM deduplication WHERE expires_at <= ?')
  /** Sends with a deduplication id since expired ids were last swept. */
  let sinceSweep = 0

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

  /** Moves `r` to the dead-letter queue if it is exhausted; true when it did. */
  const exhausted = (r: ReceivedRow, o: ReceiveOptions) => {
    if (r.receive_count < o.maxReceiveCount) return false
    toDeadLetters.run(o.deadLetterQueue, r.last_error ?? JSON.stringify(expiredLease(r.receive_count)), r.seq)
    allGrouped.delete(o.deadLetterQueue)
    o.onDeadLetter?.(o.deadLetterQueue)
    return true
  }
  const leased = (r: ReceivedRow, o: ReceiveOptions): Delivery => {
    const receipt = receiptFor(r.seq)
    lease.run(receipt, o.now + o.visibilityMs, r.seq)
    const d: Delivery = { message_id: r.message_id, body: JSON.parse(r.body), receive_count: r.receive_count + 1, enqueued_at: r.enqueued_at, receipt }
    if (r.function_id !== null) d.function_id = r.function_id
    if (r.message_group_id !== null) d.message_group_id = r.message_group_id
    if (r.source_queue !== null) {
      d.source_queue = r.source_queue
      if (r.source_receive_count !== null) d.source_receive_count = r.source_receive_count
      if (r.last_error !== null) d.last_error = JSON.parse(r.last_error)
    }
    if (r.context !== null) d.context = JSON.parse(r.context)
    return d
  }

  const receivePlain = (queue: string, o: ReceiveOptions): Delivery[] => {
    const out: Delivery[] = []
    ;(o.calls ? markDueCalls : markDue).run(queue, o.now)
    markedReady(o.now)
    const select = o.calls ? selectReadyCalls : selectReady
    // Rows already looked at are passed by seq: refused calls stay where they are.
    let after = 0
    while (out.length < o.max) {
      const rows = select.all(queue, o.now, after, o.max - out.length) as ReceivedRow[]
      if (rows.length === 0) break
      for (const r of rows) {
        after = r.seq
        if (o.calls && o.accept && !o.accept(r.function_id!)) continue
        if (exhausted(r, o)) continue
        out.push(leased(r, o))
      }
    }
    return out
  }

  /**
   * Queues that hold no message without a group, as far as this store knows: their FIFO
   * receives skip looking for one (which would read the whole queue). A send without a
   * group, a dead letter or a redrive forgets it.
   */
  const allGrouped = new Set<string>()
  const heads = (queue: string): ReceivedRow[] => {
    const found = groupHeads.all({ queue }) as ReceivedRow[]
    if (!allGrouped.has(queue)) {
      const ungrouped = ungroupedHead.get(queue) as ReceivedRow | undefined
      if (ungrouped) found.push(ungrouped)
      else allGrouped.add(queue)
    }
    return found.sort((a, b) => a.seq - b.seq)
  }

  /** The first group (by its oldest message) whose oldest message is visible, as many of its messages as are visible in a row. */
  const receiveFifo = (queue: string, o: ReceiveOptions): Delivery[] => {
    const out: Delivery[] = []
    for (const head of heads(queue)) {
      if (head.visible_at > o.now) continue
      let from = head.seq
      // Exhausted messages at the head of the group leave for the dead letters, and the next one is its head.
      for (;;) {
        const limit = o.max - out.length + 1
        const rows = (head.message_group_id === null ? ungroupedFrom.all(queue, from, limit) : groupFrom.all(queue, head.message_group_id, from, limit)) as ReceivedRow[]
        let stopped = rows.length === 0
        for (const r of rows) {
          from = r.seq + 1
          if (out.length >= o.max || r.visible_at > o.now) {
            stopped = true
            break
          }
          if (!exhausted(r, o)) out.push(leased(r, o))
        }
        if (stopped || out.length >= o.max) break
      }
      if (out.length > 0) return out
    }
    return out
  }

  const receive = db.transaction((queue: string, o: ReceiveOptions): Delivery[] => (o.fifo && !o.calls ? receiveFifo(queue, o) : receivePlain(queue, o)))
  /**
   * Acknowledgements are answered to no one, so each need not be a commit of its own. An
   * ack's deletes run at once, in a write transaction held open until the first of: an
   * operation whose writes must be durable before its result is used (a receive, before its
   * messages go out; grouped sends, before they are answered; a failure; a redrive), which
   * commits the held deletes with its own writes; or the end of the turn (`setImmediate`).
   * A consumer's answer, its ack and the next receive are then one commit, not two. Every
   * operation sees the deletes at once (one connection). A crash before that commit loses
   * them: the messages are delivered again, as after a crash just before the ack.
   */
  const beginHeld = db.prepare('BEGIN')
  const commitHeld = db.prepare('COMMIT')
  let held = false
  const hold = () => {
    if (held) return
    beginHeld.run()
    held = true
    setImmediate(releaseAtTurnEnd)
  }
  /** Commits the held transaction, if any; if the commit fails, what it held is rolled back. */
  const release = () => {
    if (!held) return
    held = false
    try {
      commitHeld.run()
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK')
      throw err
    }
    checkpointer?.written()
  }
  /** At the end of the turn no one awaits the commit: if it fails, the deletes are lost and their messages are delivered again. */
  const releaseAtTurnEnd = () => {
    try {
      release()
    } catch {
      // Rolled back by release(); the leases run out and the messages become visible again.
    }
  }
  /** Runs `write` (inside the held transaction, if one is open: a savepoint), then commits: its writes are durable when it returns. */
  const durable = <T>(write: () => T): T => {
    let out: T
    try {
      out = write()
    } catch (err) {
      release()
      throw err
    }
    release()
    checkpointer?.written()
    return out
  }
  const ack = db.transaction((queue: string, leases: Array<{ message_id: string; receipt: string }>, now: number) => {
    let n = 0
    for (const l of leases) {
      const seq = seqOf(l.receipt)
      n += (seq > 0 ? removeLeased.run(seq, queue, l.message_id, l.receipt, now) : removeOldLease.run(queue, l.message_id, l.receipt, now)).changes
    }
    return n
  })
  const fail = db.transaction((queue: string, leases: Array<{ message_id: string; receipt: string }>, error: unknown, o: FailOptions) => {
    const text = JSON.stringify(error ?? null)
    for (const l of leases) {
      const seq = seqOf(l.receipt)
      const row = (seq > 0 ? byLease.get(seq, queue, l.message_id, l.receipt, o.now) : byOldLease.get(queue, l.message_id, l.receipt, o.now)) as Row | undefined
      if (!row) continue
      if (row.receive_count >= o.maxReceiveCount) {
        toDeadLetters.run(o.deadLetterQueue, text, row.seq)
        allGrouped.delete(o.deadLetterQueue)
        o.onDeadLetter?.(o.deadLetterQueue)
      } else if (o.retryDelayMs) retryLater.run(text, o.now + o.retryDelayMs(row.receive_count), row.seq)
      else recordError.run(text, row.seq)
    }
  })
  const store = (queue: string, body: unknown, o: Parameters<QueueStore['send']>[2]) => {
    if (o.deduplication) {
      const first = seenId.get(queue, o.deduplication.id, o.now) as string | undefined
      if (first !== undefined) return { message_id: first, duplicate: true }
      if (++sinceSweep >= 1000) {
        sinceSweep = 0
        forgetExpired.run(o.now)
      }
    }
    const message_id = randomUUID()
    const delayMs = o.delayMs ?? 0
    const ready = delayMs <= 0
    const context = contextOf(o.context)
    insert.run(
      message_id,
      queue,
      JSON.stringify(body ?? null),
      o.function_id ?? null,
      o.function_id !== undefined ? 1 : 0,
      o.now,
      o.now + delayMs,
      ready ? 1 : 0,
      o.message_group_id ?? null,
      context ? JSON.stringify(context) : null,
    )
    if (ready) markedReady(o.now + delayMs)
    if (o.message_group_id === undefined) allGrouped.delete(queue)
    if (o.function_id !== undefined) mayHoldCalls.add(queue)
    if (o.deduplication) rememberId.run(queue, o.deduplication.id, message_id, o.now + o.deduplication.windowMs)
    return { message_id, duplicate: false }
  }
  /**
   * Group commit: the sends made in one turn of the event loop are written in one
   * transaction (SQLite's cost is per commit, not per row), in the order they were made,
   * and each send resolves once its transaction has committed, so a send that was
   * answered is durable.
   */
  type Pending = { queue: string; body: unknown; o: Parameters<QueueStore['send']>[2]; resolve: (r: { message_id: string; duplicate: boolean }) => void; reject: (err: unknown) => void }
  let pending: Pending[] = []
  const commit = db.transaction((batch: Pending[]) => batch.map((p) => store(p.queue, p.body, p.o)))
  const flush = () => {
    const batch = pending
    pending = []
    let results: Array<{ message_id: string; duplicate: boolean }>
    try {
      results = durable(() => commit(batch))
    } catch (err) {
      for (const p of batch) p.reject(err)
      return
    }
    batch.forEach((p, i) => p.resolve(results[i]))
  }
  const send = (queue: string, body: unknown, o: Parameters<QueueStore['send']>[2]) =>
    new Promise<{ message_id: string; duplicate: boolean }>((resolve, reject) => {
      if (pending.length === 0) setImmediate(flush)
      pending.push({ queue, body, o, resolve, reject })
    })
  const redrive = db.transaction((dlq: string, ids: string[] | undefined, now: number) => {
    let n = 0
    const targets = new Set<string>()
    for (const r of allOf.all(dlq) as Row[]) {
      if (ids && !ids.includes(r.message_id)) continue
      redriveOne.run(now, r.seq)
      markedReady(now)
      targets.add(r.source_queue ?? dlq)
      if (r.function_id !== null) mayHoldCalls.add(r.source_queue ?? dlq)
      allGrouped.delete(r.source_queue ?? dlq)
      n++
    }
    return { redriven: n, queues: [...targets] }
  })

  return {
    kind: 'sqlite',
    send,
    receive: async (queue, o) => (o.calls && !mayHoldCalls.has(queue) ? [] : durable(() => receive(queue, o))),
    ack: async (queue, leases, now) => {
      hold()
      return ack(queue, leases, now)
    },
    fail: async (queue, leases, error, o) => durable(() => fail(queue, leases, error, o)),
    async nextVisibleAt(queue, calls, now) {
      if (calls && !mayHoldCalls.has(queue)) return undefined
      readyNotAfter(now)
      const next = ((calls ? nextWaitingCall : nextWaiting).get(queue, now) as number | undefined) ?? undefined
      // Not while acknowledgements are held uncommitted: if their commit failed, the calls they deleted would be back.
      if (calls && next === undefined && !db.inTransaction && !holdsCall.get({ queue })) mayHoldCalls.delete(queue)
      return next
    },
    list: async (queue, limit) => (listQueue.all(queue, limit) as Row[]).map(toMessage),
    redrive: async (dlq, ids, now) => durable(() => redrive(dlq, ids, now)),
    callQueues: async () => callQueues.all() as string[],
    async counts(now) {
      // By queue name: any name, `__proto__` included, is an own key.
      const out = record<QueueCounts>()
      for (const r of countAll.all({ now }) as Array<{ queue: string; ready: number; in_flight: number; delayed: number; oldest: number }>) {
        out[r.queue] = { ready: r.ready, in_flight: r.in_flight, delayed: r.delayed, dead_lettered: 0, oldest_enqueued_at: r.oldest }
      }
      for (const r of countDead.all() as Array<{ queue: string; n: number }>) {
        ;(out[r.queue] ??= { ready: 0, in_flight: 0, delayed: 0, dead_lettered: 0 }).dead_lettered = r.n
      }
      return out
    },
    async close() {
      if (pending.length > 0) flush()
      release()
      await checkpointer?.stop()
      db.close()
    },
  }
}
