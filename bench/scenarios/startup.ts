/**
 * How long a person waits for `npm start` to print its ready line. The command is timed
 * from its spawn to the line `signalbox ready …` on its standard output, in the checkout:
 *
 * - `npm start` when nothing changed since the last build: scripts/build-if-changed.mjs
 *   finds no source newer than the build and the server starts (the target: under 3 s);
 * - `npm start` after a source file's time changed (the script runs `tsc -b`, which checks
 *   the project again);
 * - the server alone, `node dist/cli.js serve`;
 * - what `npm start` did before: a whole `tsc -p tsconfig.build.json` build, then the server.
 *
 * Each start uses free ports and in-memory queues, and is stopped (its whole process group)
 * once ready. The runs of each are interleaved.
 */
import { spawn } from 'node:child_process'
import { utimesSync } from 'node:fs'
import { join } from 'node:path'
import { fmt, repoRoot, table, type Ctx, type Section } from '../lib/common.js'
import { median } from '../lib/stats.js'

const FLAGS = ['--port', '0', '--http-port', '0', '--store', 'memory', '--log-level', 'warn']
const TSC = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc')
const LIMIT_MS = 120_000

/** Runs `command` in its own process group; resolves with the ms until it printed its ready line, then ends the group. */
function timeToReady(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(command, args, { cwd: repoRoot, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    const end = () => {
      clearTimeout(timer)
      try {
        process.kill(-child.pid!, 'SIGTERM')
      } catch {
        /* already gone */
      }
    }
    const timer = setTimeout(() => (end(), reject(new Error(`${command} ${args.join(' ')}: no ready line within ${LIMIT_MS} ms; stderr: ${err}`))), LIMIT_MS)
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (/^signalbox ready /m.test(out)) {
        const ms = performance.now() - t0
        end()
        child.once('close', () => resolve(ms))
      }
    })
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.once('close', (code) => {
      if (!/^signalbox ready /m.test(out)) (clearTimeout(timer), reject(new Error(`${command} ${args.join(' ')} exited ${code} before it was ready: ${err}`)))
    })
  })
}

export async function startup(ctx: Ctx): Promise<Section> {
  const runs = ctx.runs
  const ways = [
    { key: 'npm', label: '`npm start`, nothing changed since the last build', run: () => timeToReady('npm', ['start', '--', ...FLAGS]) },
    {
      key: 'touched',
      label: '`npm start` after a source file was touched (`tsc -b` checks the project again)',
      run: () => {
        const now = new Date()
        utimesSync(join(repoRoot, 'index.ts'), now, now)
        return timeToReady('npm', ['start', '--', ...FLAGS])
      },
    },
    { key: 'server', label: 'the server alone: `node dist/cli.js serve`', run: () => timeToReady(process.execPath, [join(repoRoot, 'dist', 'cli.js'), 'serve', ...FLAGS]) },
    {
      key: 'before',
      label: 'before: a whole build, then the server (`tsc -p tsconfig.build.json && node dist/cli.js serve`)',
      run: () => timeToReady('sh', ['-c', `"${process.execPath}" "${TSC}" -p tsconfig.build.json && "${process.execPath}" dist/cli.js serve ${FLAGS.join(' ')}`]),
    },
  ]
  // One start first, so that the build is up to date and the files are in the page cache.
  await timeToReady('npm', ['start', '--', ...FLAGS])
  const times: Record<string, number[]> = Object.fromEntries(ways.map((w) => [w.key, []]))
  for (let i = 0; i < runs; i++) {
    for (const way of ways) {
      const ms = await way.run()
      times[way.key].push(ms)
      ctx.log(`  run ${i + 1}: ${way.key} ${fmt.ms(ms)}`)
    }
  }
  // The touched file is built again, so that the next `npm start` finds the build up to date.
  await timeToReady('npm', ['start', '--', ...FLAGS])
  const med = (key: string) => median(times[key])
  const npm = med('npm')
  const details = [
    'From spawning the command in the checkout to the line `signalbox ready ws://… http://…` on its standard output (free ports, queues in memory, `--log-level warn`); each start is stopped once ready. `npm start` is `node scripts/build-if-changed.mjs && node dist/cli.js serve`: the build runs once at install (`prepare`); afterwards the script compares the times of the sources with that of the build and runs `tsc -b tsconfig.build.json` only when a source is newer. The runs of the four ways are interleaved.',
    '',
    table(
      ['start', 'median', ...Array.from({ length: runs }, (_, i) => `run ${i + 1}`)],
      ways.map((w) => [w.label, `**${fmt.s(med(w.key) / 1000)}**`, ...times[w.key].map((ms) => fmt.s(ms / 1000))]),
    ),
  ].join('\n')
  return {
    id: 'startup',
    title: 'Start-up: `npm start` to the ready line',
    rows: [
      { scenario: 'start-up', figure: '`npm start` to ready, nothing changed', value: fmt.s(npm / 1000), baseline: `${fmt.s(med('before') / 1000)} (build each time)`, ratio: fmt.x(med('before') / npm), target: '< 3 s', pass: npm < 3000 },
      { scenario: 'start-up', figure: 'the server alone to ready', value: fmt.s(med('server') / 1000), target: '', pass: null },
      { scenario: 'start-up', figure: '`npm start` to ready, a source touched', value: fmt.s(med('touched') / 1000), target: '', pass: null },
    ],
    details,
  }
}
