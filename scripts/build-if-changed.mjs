#!/usr/bin/env node
/**
 * What `npm start` runs before the server: the build (`tsc -b tsconfig.build.json`), but
 * only when a source is newer than it. `tsc -b` itself decides that too, but loading the
 * compiler and reading the project costs most of a second; comparing times costs a few
 * milliseconds.
 *
 * The build is older than the sources when any file or folder under tsconfig.build.json's
 * `include` (a folder's time changes when a file in it is added, removed or renamed), or
 * either tsconfig, is newer than the build's record (`dist/tsconfig.build.tsbuildinfo`), or
 * when there is no record or no `dist/cli.js`. Then `tsc -b` runs, and the record's time is
 * set to when this check began, so that a file saved during the build is built next time.
 *
 * Plain JavaScript with no imports of ours: it runs before anything is compiled.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync, utimesSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const CONFIG = 'tsconfig.build.json'
const began = Date.now()

const config = JSON.parse(readFileSync(join(root, CONFIG), 'utf8'))
const base = JSON.parse(readFileSync(join(root, config.extends ?? 'tsconfig.json'), 'utf8'))
const outDir = join(root, config.compilerOptions?.outDir ?? base.compilerOptions?.outDir ?? '.')
const record = join(outDir, CONFIG.replace(/\.json$/, '.tsbuildinfo'))

/** The newest time (ms) of `path` and, for a folder, of everything in it that tsc compiles. */
function newest(path) {
  let stat
  try {
    stat = statSync(path)
  } catch {
    return 0
  }
  let time = stat.mtimeMs
  if (stat.isDirectory()) {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue
      if (entry.isDirectory() || /\.(ts|tsx|mts|cts)$/.test(entry.name)) time = Math.max(time, newest(join(path, entry.name)))
    }
  }
  return time
}

/** Why the build must run, or undefined when it is up to date. */
function reason() {
  if (!existsSync(join(outDir, 'cli.js'))) return 'no build yet'
  let built
  try {
    built = statSync(record).mtimeMs
  } catch {
    return 'no record of the last build'
  }
  const sources = [CONFIG, config.extends ?? 'tsconfig.json', ...(config.include ?? base.include ?? [])]
  return sources.some((p) => newest(join(root, p)) > built) ? 'a source changed' : undefined
}

const why = reason()
if (why !== undefined) {
  const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc')
  const run = spawnSync(process.execPath, [tsc, '-b', CONFIG], { cwd: root, stdio: 'inherit' })
  if (run.status !== 0) process.exit(run.status ?? 1)
  // tsc -b leaves the record as it was when it found only times changed.
  const at = Math.max(began, statSync(record).mtimeMs) / 1000
  utimesSync(record, at, at)
}
