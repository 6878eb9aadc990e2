/**
 * The SQLite store's checkpointing thread (adapters/sqlite-checkpointer.ts): told of
 * commits, it copies the write-ahead log back into the database file on its own
 * connection, and once stopped it holds the file no longer.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { startCheckpointer } from '../adapters/sqlite-checkpointer.js'

const test = suite('sqlite checkpointer')

/** Waits until `done()` holds, checking every 10 ms; fails after `limitMs` (a bound for a loaded machine, not a timing claim). */
async function until(done: () => boolean, what: string, limitMs = 20_000): Promise<void> {
  const end = Date.now() + limitMs
  while (!done()) {
    if (Date.now() > end) throw new Error(`still not ${what} after ${limitMs} ms`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

test('copies the log into the database file while the writer never checkpoints, and lets go of the file when stopped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'signalbox-checkpointer-'))
  try {
    const file = join(dir, 'q.sqlite')
    const db = new Database(file)
    db.pragma('journal_mode = WAL')
    db.pragma('wal_autocheckpoint = 0')
    db.exec('CREATE TABLE t (n INTEGER PRIMARY KEY, body TEXT NOT NULL)')
    const checkpointer = startCheckpointer(file)
    const before = statSync(file).size
    const insert = db.prepare('INSERT INTO t (body) VALUES (?)')
    db.transaction(() => {
      for (let i = 0; i < 2000; i++) insert.run('x'.repeat(200))
    })()
    assert.is(statSync(file).size, before, 'the rows are in the log only')
    checkpointer.written()
    await until(() => statSync(file).size > before, 'copied into the database file')
    await checkpointer.stop()
    await checkpointer.stop()
    db.close()
    // The writer's connection was the last one open: closing it removed the log.
    assert.not.ok(existsSync(`${file}-wal`), 'no connection of the thread is left')
    const reopened = new Database(file, { readonly: true })
    assert.is((reopened.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n, 2000)
    reopened.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('stopping a thread that was never told of a commit ends it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'signalbox-checkpointer-'))
  try {
    const file = join(dir, 'q.sqlite')
    const db = new Database(file)
    db.pragma('journal_mode = WAL')
    await startCheckpointer(file).stop()
    db.close()
    assert.not.ok(existsSync(`${file}-wal`))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
