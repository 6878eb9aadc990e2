/** The machine and software a run measured: CPU, cores, memory, Node, package versions, commit. */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, release, totalmem, type } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from './common.js'

const version = (pkg: string) => {
  try {
    return JSON.parse(readFileSync(join(repoRoot, 'node_modules', pkg, 'package.json'), 'utf8')).version as string
  } catch {
    return 'n/a'
  }
}

const git = (args: string[]) => {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return ''
  }
}

export function machineInfo() {
  const own = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
  const dirty = git(['status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench', ':!BENCHMARKS.md', ':!package.json', ':!package-lock.json'])
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    os: `${type()} ${release()}`,
    node: process.version,
    signalbox: own.version,
    commit: (git(['rev-parse', '--short', 'HEAD']) || 'unknown') + (dirty ? ' (engine sources modified in the work tree)' : ''),
    packages: Object.fromEntries(['xstate', 'ws', 'rou3', 'croner', 'better-sqlite3', 'valibot', 'autocannon', 'typescript'].map((p) => [p, version(p)])),
  }
}
