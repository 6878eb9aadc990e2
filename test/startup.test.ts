/**
 * What `npm start` and the command line do before the ready line, in real processes:
 *
 * - `scripts/build-if-changed.mjs` (what `npm start` runs first) builds when there is no
 *   build, leaves the build alone when nothing changed, and builds again when a source is
 *   newer, or a file is added; a build that fails stops `npm start` before the server;
 * - each command loads only what it needs: `--version` neither the engine nor the
 *   WebSocket client, `serve --store memory` neither SQLite, the NATS client nor the
 *   Stately inspector, `serve` with SQLite no NATS client. The modules a process loads are
 *   recorded by a resolve hook (`node --import`).
 */
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { limit, until } from './harness.js'
import { SERVE_NODE_FLAGS } from '../cli/node-flags.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const cli = join(root, 'dist', 'cli.js')
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIGNALBOX_')))

const it = suite<{ work: string }>('start-up')

it.before((ctx) => {
  ctx.work = mkdtempSync(join(tmpdir(), 'signalbox-startup-'))
})
it.after((ctx) => rmSync(ctx.work, { recursive: true, force: true }))

/** A project laid out as this one is, small: the script, two tsconfigs, a cli.ts and a folder. */
function project(dir: string): { build: () => { status: number | null; output: string }; later: (path: string, text: string) => void } {
  mkdirSync(join(dir, 'scripts'), { recursive: true })
  mkdirSync(join(dir, 'lib'))
  copyFileSync(join(root, 'scripts', 'build-if-changed.mjs'), join(dir, 'scripts', 'build-if-changed.mjs'))
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'p', private: true, type: 'module' }))
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'dist', rootDir: '.', types: [] }, include: ['cli.ts', 'lib'] }))
  writeFileSync(join(dir, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json', include: ['cli.ts', 'lib'] }))
  writeFileSync(join(dir, 'lib', 'word.ts'), "export const word: string = 'one'\n")
  writeFileSync(join(dir, 'cli.ts'), "import { word } from './lib/word.js'\nconsole.log(word)\n")
  return {
    build: () => {
      const r = spawnSync(process.execPath, ['scripts/build-if-changed.mjs'], { cwd: dir, encoding: 'utf8' })
      return { status: r.status, output: r.stdout + r.stderr }
    },
    /** Writes a file dated a minute from now: newer than any build, whatever the file system's clock resolution. */
    later: (path, text) => {
      writeFileSync(join(dir, path), text)
      const t = new Date(Date.now() + 60_000)
      utimesSync(join(dir, path), t, t)
    },
  }
}

const runBuilt = (dir: string) => spawnSync(process.execPath, [join(dir, 'dist', 'cli.js')], { encoding: 'utf8' }).stdout

it(
  "npm start's build step: builds when there is no build, not when nothing changed, again when a source is newer or a file was added; a failed build fails",
  limit(async ({ work }) => {
    const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts
    assert.is(scripts.start, `node scripts/build-if-changed.mjs && node ${SERVE_NODE_FLAGS.join(' ')} dist/cli.js serve`)
    const dir = join(work, 'project')
    const p = project(dir)

    assert.is(p.build().status, 0)
    assert.is(runBuilt(dir), 'one\n', 'no build yet: built')

    const built = statSync(join(dir, 'dist', 'cli.js')).mtimeMs
    const record = statSync(join(dir, 'dist', 'tsconfig.build.tsbuildinfo')).mtimeMs
    assert.is(p.build().status, 0)
    assert.is(statSync(join(dir, 'dist', 'cli.js')).mtimeMs, built, 'nothing changed: the build is left alone')
    assert.is(statSync(join(dir, 'dist', 'tsconfig.build.tsbuildinfo')).mtimeMs, record, 'nor its record')

    p.later('lib/word.ts', "export const word: string = 'two'\n")
    assert.is(p.build().status, 0)
    assert.is(runBuilt(dir), 'two\n', 'an edited source is built')

    // A file moved in keeps its old time; its folder's time says it came.
    writeFileSync(join(dir, 'lib', 'other.ts'), "export const other: string = 'three'\n")
    const old = new Date(Date.now() - 3_600_000)
    utimesSync(join(dir, 'lib', 'other.ts'), old, old)
    const later = new Date(Date.now() + 120_000)
    utimesSync(join(dir, 'lib'), later, later)
    assert.is(p.build().status, 0)
    assert.is(readFileSync(join(dir, 'dist', 'lib', 'other.js'), 'utf8').includes("'three'"), true, 'an added file is built')

    p.later('lib/word.ts', 'export const word: number = "not a number"\n')
    const failed = p.build()
    assert.is.not(failed.status, 0, 'a build that fails fails the step, so the server does not start')
    assert.match(failed.output, /error TS2322/)
  }, 120_000),
)

/** Runs the command line with a resolve hook that writes every module it loads to a file; returns the URLs. */
async function loads(work: string, args: string[], until_?: RegExp): Promise<string[]> {
  const hooks = join(work, 'hooks.mjs')
  writeFileSync(
    hooks,
    "import { appendFileSync } from 'node:fs'\nlet log\nexport function initialize(data) { log = data.log }\nexport async function resolve(spec, context, next) { const r = await next(spec, context); appendFileSync(log, r.url + '\\n'); return r }\n",
  )
  const log = join(work, `loaded-${Math.random().toString(36).slice(2)}.txt`)
  writeFileSync(log, '')
  const register = `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register(${JSON.stringify(new URL(`file://${hooks}`).href)}, { data: { log: ${JSON.stringify(log)} } })`)}`
  const child = spawn(process.execPath, ['--import', register, cli, ...args], { cwd: work, env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
  const closed = new Promise<number | null>((r) => child.once('close', r))
  try {
    if (until_) await Promise.race([until(() => until_.test(out), 60_000, `${args.join(' ')}: ${until_}`), closed.then((code) => Promise.reject(new Error(`exited ${code}: ${err}`)))])
    else assert.is(await closed, 0, err)
  } finally {
    child.kill('SIGTERM')
    await closed
  }
  return readFileSync(log, 'utf8').split('\n').filter(Boolean)
}

const pkg = (urls: string[], name: string) => urls.some((u) => u.includes(`/node_modules/${name}/`))

it(
  'each command loads only what it needs: --version no engine, serve --store memory no SQLite, NATS or inspector, serve with SQLite no NATS',
  limit(async ({ work }) => {
    const version = await loads(work, ['--version'])
    assert.ok(version.some((u) => u.endsWith('/dist/cli.js')), 'the hook saw the command line load')
    for (const name of ['xstate', 'ws', 'pino', '@nats-io/transport-node', '@statelyai/inspect', 'better-sqlite3']) assert.not.ok(pkg(version, name), `--version loads ${name}`)
    assert.not.ok(version.some((u) => u.includes('/dist/adapters/engine.js')), '--version loads the engine')

    const ready = /^signalbox ready /m
    const memory = await loads(work, ['serve', '--host', '127.0.0.1', '--port', '0', '--http-port', '0', '--store', 'memory', '--log-level', 'silent'], ready)
    assert.ok(pkg(memory, 'xstate'), 'serve loads the engine')
    for (const name of ['@nats-io/transport-node', '@nats-io/jetstream', '@nats-io/kv', '@statelyai/inspect', 'better-sqlite3']) assert.not.ok(pkg(memory, name), `serve --store memory loads ${name}`)

    const sqlite = await loads(work, ['serve', '--host', '127.0.0.1', '--port', '0', '--http-port', '0', '--data-dir', join(work, 'data'), '--log-level', 'silent'], ready)
    assert.ok(pkg(sqlite, 'better-sqlite3'), 'serve with SQLite loads it')
    for (const name of ['@nats-io/transport-node', '@statelyai/inspect']) assert.not.ok(pkg(sqlite, name), `serve with SQLite loads ${name}`)
  }, 120_000),
)

it.run()
