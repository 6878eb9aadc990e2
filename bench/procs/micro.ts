/**
 * Micro-measurements behind the explanations in BENCHMARKS.md, each of one library call
 * the engine makes on a hot or heavy path: what a croner job costs in memory and per fire,
 * and what the SQLite store's receive queries cost as the backlog grows (with SQLite's plan).
 * Run with --expose-gc.
 */
import Database from 'better-sqlite3'
import { Cron } from 'croner'
import { addRoute, createRouter, findRoute } from 'rou3'
import { serveTasks } from '../lib/rpc.js'
import { SCHEMA } from '../../adapters/sqlite-queue-store.js'

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const heap = () => (gc(), gc(), process.memoryUsage().heapUsed)
const timeUs = (n: number, f: (i: number) => unknown) => {
  for (let i = 0; i < Math.min(n, 200); i++) f(i)
  const t = performance.now()
  for (let i = 0; i < n; i++) f(i)
  return ((performance.now() - t) * 1000) / n
}

function croner() {
  const N = 1000
  const keep: Cron[] = []
  const h0 = heap()
  for (let i = 0; i < N; i++) keep.push(new Cron(`0 ${i % 60} 3 1 1 *`, { timezone: 'UTC', paused: true }))
  const perJob = (heap() - h0) / N
  const yearSlots = ((keep[0] as any)._states?.pattern?.year as unknown[] | undefined)?.length
  keep.length = 0
  const job = new Cron('* * * * * *', { timezone: 'UTC', paused: true })
  return {
    heapPerJobBytes: perJob,
    yearSlots,
    previousRunsUs: timeUs(2000, () => job.previousRuns(1, new Date(Math.floor(Date.now() / 1000) * 1000 + 1000))),
    nextRunUs: timeUs(2000, () => job.nextRun()),
    newCronUs: timeUs(2000, () => new Cron('* * * * * *', { timezone: 'UTC', paused: true })),
  }
}

/**
 * The store's schema (imported) and its receive statements (copied from
 * adapters/sqlite-queue-store.ts: mark the due rows ready, then read the ready ones in
 * delivery order), timed against a backlog, with SQLite's plans.
 */
function sqlite() {
  const out: Array<{ backlog: number; messagesUs: number; callsUs: number }> = []
  let plan: string[] = []
  for (const backlog of [100, 1000, 5000]) {
    const db = new Database(':memory:')
    db.exec(SCHEMA)
    const insert = db.prepare('INSERT INTO messages (message_id, queue, body, function_id, enqueued_at, visible_at, ready) VALUES (?, ?, ?, ?, ?, ?, ?)')
    const now = Date.now()
    // Messages arrive over time, as they do under load: visible_at differs per message.
    db.transaction(() => {
      for (let i = 0; i < backlog; i++) insert.run(`m${i}`, 'q', '{"n":1}', null, now - backlog + i, now - backlog + i, 1)
    })()
    const markDue = db.prepare('UPDATE messages SET ready = 1 WHERE queue = ? AND ready = 0 AND function_id IS NULL AND visible_at <= ?')
    const markDueCalls = db.prepare('UPDATE messages SET ready = 1 WHERE queue = ? AND ready = 0 AND function_id IS NOT NULL AND visible_at <= ?')
    const selectReady = db.prepare(
      'SELECT seq, message_id, body, function_id, enqueued_at, receive_count, last_error FROM messages WHERE queue = ? AND ready = 1 AND function_id IS NULL AND visible_at <= ? AND seq > ? ORDER BY seq LIMIT ?',
    )
    const selectReadyCalls = db.prepare(
      'SELECT seq, message_id, body, function_id, enqueued_at, receive_count, last_error FROM messages WHERE queue = ? AND ready = 1 AND function_id IS NOT NULL AND source_queue IS NULL AND visible_at <= ? AND seq > ? ORDER BY seq LIMIT ?',
    )
    const explain = (s: Database.Statement, ...args: unknown[]) => (db.prepare(`EXPLAIN QUERY PLAN ${s.source}`).all(...args) as Array<{ detail: string }>).map((r) => r.detail).join('; ')
    plan = [explain(markDue, 'q', now), explain(selectReady, 'q', now, 0, 10), explain(markDueCalls, 'q', now), explain(selectReadyCalls, 'q', now, 0, 1)]
    const receive = (mark: Database.Statement, select: Database.Statement, max: number) => db.transaction(() => (mark.run('q', now), select.all('q', now, 0, max)))
    out.push({ backlog, messagesUs: timeUs(300, receive(markDue, selectReady, 10)), callsUs: timeUs(300, receive(markDueCalls, selectReadyCalls, 1)) })
    db.close()
  }
  return { byBacklog: out, plan }
}

/** rou3 lookups as the http provider makes them, with 1, 1,000 and 10,000 param routes (the routes scenario's shapes). */
function router() {
  const out: Array<{ routes: number; lookupUs: number }> = []
  for (const [sessions, per] of [[1, 1], [2, 500], [20, 500]]) {
    const r = createRouter<{ s: number; i: number }>()
    for (let s = 0; s < sessions; s++) for (let i = 0; i < per; i++) addRoute(r, 'GET', `/rt${s}/r${i}/:id`, { s, i })
    const paths = Array.from({ length: 1000 }, (_, k) => `/rt${Math.floor(Math.random() * sessions)}/r${Math.floor(Math.random() * per)}/${k}`)
    out.push({ routes: sessions * per, lookupUs: timeUs(20_000, (k) => findRoute(r, 'GET', paths[k % paths.length])) })
  }
  return out
}

serveTasks({ run: () => ({ croner: croner(), sqlite: sqlite(), router: router() }) })
