/**
 * The programs of examples/, run as the README says (`node examples/<file>.mjs`, from the
 * root of the checkout, where `signalbox` resolves to this package) against a real
 * `signalbox serve` process, each checked for what it prints and stopped with Ctrl-C.
 * And a worker started before its engine: it waits, says so, then works.
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { limit, until } from './harness.js'
import { checkExamples, EXAMPLE_FILES, killAll, start, startEngine } from './example-runs.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const cli = join(root, 'dist', 'cli.js')

const it = suite('examples')

it.after(() => killAll())

it('every program in examples/ is one the checks run', () => {
  const files = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.mjs') || f.endsWith('.js'))
  assert.equal(files.sort(), [...EXAMPLE_FILES].sort())
})

it('every example runs against a real engine and prints what it says it does', limit(async () => {
  const engine = await startEngine(cli, root)
  try {
    await checkExamples(join(root, 'examples'), root, engine)
  } finally {
    assert.is(await engine.stop('SIGTERM'), 0)
  }
}, 120_000))

it('a worker started before its engine waits for it, saying so on each attempt, then works', limit(async () => {
  const ports = await Promise.all(
    [0, 0].map(
      () =>
        new Promise<number>((done) => {
          const s = createServer().listen(0, '127.0.0.1', () => {
            const { port } = s.address() as AddressInfo
            s.close(() => done(port))
          })
        }),
    ),
  )
  const [port, httpPort] = ports
  const worker = start([join(root, 'examples', 'worker.mjs')], {
    cwd: root,
    env: { SIGNALBOX_URL: `ws://127.0.0.1:${port}`, SIGNALBOX_HTTP_URL: `http://127.0.0.1:${httpPort}` },
  })
  const attempt = new RegExp(`^signalbox worker 'example-worker': cannot reach the engine at ws://127\\.0\\.0\\.1:${port}: nothing is listening there \\(ECONNREFUSED\\); trying again in \\d+ ms \\(attempt (\\d+)\\)$`)
  await until(() => worker.err.filter((l) => attempt.test(l)).length >= 2, 10_000, `two attempts logged; stderr:\n${worker.err.join('\n')}`)
  assert.equal(worker.out, [], 'nothing done before the engine is up')
  const engine = start([cli, 'serve', '--port', String(port), '--http-port', String(httpPort), '--store', 'memory', '--log-level', 'warn'], { cwd: root })
  try {
    await engine.line(/^signalbox ready /)
    await worker.line(/^http: GET \/hello\/Ada → 200 \{"greeting":"Hello, Ada!"\}$/, 20_000)
    await worker.line(/^queue: order 2: cake$/)
    assert.is(await worker.stop(), 0)
  } finally {
    assert.is(await engine.stop('SIGTERM'), 0)
  }
}, 60_000))

it('the iii-sdk example without iii-sdk installed says how to install it, in one line, and exits 1', limit(async () => {
  // A copy where no node_modules is found above it: `iii-sdk` does not resolve.
  const dir = mkdtempSync(join(tmpdir(), 'signalbox-iii-'))
  try {
    copyFileSync(join(root, 'examples', 'iii-sdk-worker.mjs'), join(dir, 'iii-sdk-worker.mjs'))
    const run = start([join(dir, 'iii-sdk-worker.mjs')], { cwd: dir, env: { SIGNALBOX_URL: 'ws://127.0.0.1:9' } })
    assert.is(await run.exited, 1)
    assert.equal(run.err, ["This example needs the iii-sdk package, which is not installed here: run 'npm install iii-sdk' (in a clone of signalbox, 'npm ci' installs it)."])
    assert.equal(run.out, [])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}))

it.run()
