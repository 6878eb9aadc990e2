/**
 * WAL checkpoints of the SQLite queue store, run on a thread of their own.
 *
 * A checkpoint copies the write-ahead log back into the database file and syncs both
 * (`fsync`, twice). SQLite runs one by itself in whichever commit finds the log past
 * `wal_autocheckpoint` pages, on the thread that commits: the engine's event loop, which
 * then waits for the disk. On this project's shared, busy bench machine those syncs took
 * 4.2 ms each on average (strace, 2026-11-30): 24 µs per message of the queue benchmark,
 * about a third of the 74 µs a message may take at 13,500 messages/s.
 *
 * Here a worker thread holds a second connection to the file and runs passive checkpoints
 * (they never block the engine's writes, nor wait for them): the store calls `written()`
 * after its commits, the worker wakes, lets the log gather for `delayMs` (100 ms: about as
 * much log as SQLite's default of 1,000 pages at the queue benchmark's rate; at 10 ms the
 * thread copied the same hot pages ten times as often and cost more CPU than it saved), and
 * checkpoints.
 * Idle, it sleeps on an `Atomics.wait` and costs nothing. The store's own connection keeps
 * SQLite's automatic checkpoint as a backstop, at a larger size (adapters/sqlite-queue-
 * store.ts): the log starts again from its beginning only when a commit finds all of it
 * copied, which a steady stream of commits may not allow; the backstop's checkpoint then
 * has little left to copy. Durability is unchanged: commits are not synced (`synchronous =
 * NORMAL`), and a checkpoint syncs the same files on whichever thread runs it. Each store
 * on a file costs one more thread (a V8 isolate, a few MB) and one more connection.
 */
import { isMainThread, Worker, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'

const IDLE = 0
const WRITTEN = 1
const STOP = 2

interface CheckpointerData {
  signalboxCheckpointer: { path: string; state: SharedArrayBuffer; delayMs: number }
}

export interface Checkpointer {
  /** The store committed: a checkpoint is due soon. Cheap: an atomic wake-up only when the worker sleeps. */
  written(): void
  /** Ends the worker (and its connection); resolves once it has exited. */
  stop(): Promise<void>
}

/** Starts the checkpointing thread for the SQLite file at `path` (in WAL mode). */
export function startCheckpointer(path: string, options: { delayMs?: number } = {}): Checkpointer {
  const state = new Int32Array(new SharedArrayBuffer(4))
  const data: CheckpointerData = { signalboxCheckpointer: { path, state: state.buffer as SharedArrayBuffer, delayMs: options.delayMs ?? 100 } }
  const worker = new Worker(new URL(import.meta.url), { workerData: data })
  worker.unref()
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  // A worker that fails (its connection could not open) leaves checkpoints to the store's own backstop.
  worker.on('error', () => {})
  return {
    written() {
      if (Atomics.compareExchange(state, 0, IDLE, WRITTEN) === IDLE) Atomics.notify(state, 0)
    },
    stop() {
      // Held by the worker until it exits, so that a caller awaiting this is not left with an empty event loop.
      worker.ref()
      Atomics.store(state, 0, STOP)
      Atomics.notify(state, 0)
      return exited
    },
  }
}

/** The worker: sleeps until told of a commit, waits `delayMs` for more, checkpoints; until told to stop. */
function run({ path, state: buffer, delayMs }: CheckpointerData['signalboxCheckpointer']): void {
  const state = new Int32Array(buffer)
  const db = new Database(path, { fileMustExist: true })
  try {
    for (;;) {
      Atomics.wait(state, 0, IDLE)
      if (Atomics.load(state, 0) === STOP) break
      Atomics.wait(state, 0, WRITTEN, delayMs)
      if (Atomics.compareExchange(state, 0, WRITTEN, IDLE) === STOP) break
      try {
        db.pragma('wal_checkpoint(PASSIVE)')
      } catch {
        // Busy or failing now: the next commit wakes this again, and the backstop remains.
      }
    }
  } finally {
    db.close()
  }
}

if (!isMainThread && (workerData as Partial<CheckpointerData> | null)?.signalboxCheckpointer) run((workerData as CheckpointerData).signalboxCheckpointer)
