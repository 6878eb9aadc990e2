/**
 * The files of the SQLite store beside the database: its folder, made without Node's
 * recursive `mkdirSync` (which on some file systems, `/proc` for one, never returns), and
 * the lock that keeps two engines from sharing one database file.
 *
 * The lock is `<file>.lock`, made exclusively (`wx`) and holding the pid of the engine's
 * process; it is removed when the engine stops. One whose pid is no longer running (an
 * engine killed before it could remove it) is taken over. Within one process, a file is
 * locked once too: two `createEngine` with the same file are refused like two processes.
 */
import { existsSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync, closeSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { StoreOpenError } from './open-errors.js'

/**
 * Makes `dir` and the folders above it that are missing, one at a time from the nearest
 * one that exists. Throws the file system's error (with its `code`): `EEXIST` or `ENOTDIR`
 * when a file is in the way, `ENOENT` or `EACCES` when a folder cannot be made there.
 */
export function makeFolder(dir: string): void {
  const missing: string[] = []
  let at = resolve(dir)
  while (!existsSync(at)) {
    missing.unshift(at)
    const up = dirname(at)
    if (up === at) break
    at = up
  }
  // A file where the folder should be: mkdir says so (EEXIST), as it does for a file above it (ENOTDIR).
  if (missing.length === 0 && !statSync(at).isDirectory()) mkdirSync(at)
  for (const folder of missing) mkdirSync(folder)
}

/** The files locked by this process, by their lock's path. */
const held = new Set<string>()

/** Whether a process with this pid is running (one of another user's counts: EPERM). */
const running = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** What fixes a store file in use, for `serve` and for `createEngine`. */
export const IN_USE_HINT = "give each engine its own store: signalbox serve --data-dir <folder> (createEngine: store: { sqlite: '<file>' }), or keep its queues in memory with --store memory"

/**
 * Locks the SQLite store at `path` for this engine; `release()` unlocks it. Throws a
 * `StoreOpenError` naming the file, and the pid holding it, when another engine (of this
 * process or another one that is running) has it.
 */
export function lockStoreFile(path: string): { release(): void } {
  const lock = `${resolve(path)}.lock`
  try {
    makeFolder(dirname(lock))
  } catch (err) {
    throw new StoreOpenError(`cannot make the folder of the queue store ${path}: ${(err as Error).message}`, 'give the store a file in a folder this user may write to')
  }
  if (held.has(lock)) throw new StoreOpenError(`the queue store ${path} is in use by another engine of this process`, IN_USE_HINT)
  for (let attempt = 0; ; attempt++) {
    let fd: number
    try {
      fd = openSync(lock, 'wx')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw lockError(path, lock, err)
      let pid = NaN
      try {
        pid = Number.parseInt(readFileSync(lock, 'utf8'), 10)
      } catch {
        /* removed meanwhile: try again */
      }
      if (Number.isInteger(pid) && pid > 0 && running(pid)) {
        throw new StoreOpenError(`the queue store ${path} is in use by another engine (pid ${pid}; its lock is ${lock})`, IN_USE_HINT)
      }
      // Left by a process that is gone (or unreadable): take it over.
      try {
        unlinkSync(lock)
      } catch {
        /* another engine took it over first: the next attempt says so */
      }
      continue
    }
    writeSync(fd, `${process.pid}\n`)
    closeSync(fd)
    held.add(lock)
    return {
      release() {
        if (!held.delete(lock)) return
        try {
          if (Number.parseInt(readFileSync(lock, 'utf8'), 10) === process.pid) unlinkSync(lock)
        } catch {
          /* already gone */
        }
      },
    }
  }
}

function lockError(path: string, lock: string, err: unknown): StoreOpenError {
  const e = err as NodeJS.ErrnoException
  if (e.code === 'EEXIST') return new StoreOpenError(`the queue store ${path} is in use by another engine (its lock ${lock} was taken at the same moment)`, IN_USE_HINT)
  return new StoreOpenError(`cannot lock the queue store ${path}: ${e.message}`, 'the folder of the store must be writable by this user')
}
