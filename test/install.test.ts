/**
 * What a newcomer does with the package, done for real: pack it (`npm pack`), install the
 * tarball into an empty folder (`npm install <tarball>`, with iii-sdk beside it for its
 * example), then, in that folder, `npx signalbox --version`, `npx signalbox help serve`,
 * `npx signalbox serve` with its defaults (SQLite under ./.signalbox), `npx signalbox ls`,
 * every example the package ships run against that engine, and the type fixtures
 * compiled against the installed package's declarations.
 *
 * The install takes the packages from npm's cache where it has them (`--prefer-offline`:
 * after `npm ci` it has them all) and runs no install scripts: the one dependency with a
 * native part, better-sqlite3, gets the module this checkout's own `npm ci` built for the
 * same version and the same Node.js, instead of building it again (a minute or more).
 */
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { limit } from './harness.js'
import { checkExamples, killAll, start } from './example-runs.js'
import { compileErrors, expectedErrors, FIXTURES, USER_OPTIONS } from './compile.js'

const run = promisify(execFile)
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx'
const version = (dir: string, name: string) => JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')).version as string

const it = suite<{ app: string; work: string }>('installed from the tarball')

it.before((ctx) => {
  ctx.work = mkdtempSync(join(tmpdir(), 'signalbox-install-'))
  ctx.app = join(ctx.work, 'app')
  mkdirSync(ctx.app)
})
it.after((ctx) => {
  killAll()
  rmSync(ctx.work, { recursive: true, force: true })
})

it('npm pack, npm install <tarball>, then the bin, serve, ls, the examples and the types work there', limit(async (ctx) => {
  const { app, work } = ctx
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIGNALBOX_') && !k.startsWith('npm_')))
  const packed = JSON.parse((await run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root, env })).stdout)
  const tarball = join(work, packed[0].filename)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'newcomer-app', private: true, type: 'module' }, null, 2))
  await run(npm, ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball, `iii-sdk@${version(root, 'iii-sdk')}`], { cwd: app, env, timeout: 120_000 })
  assert.is(version(app, 'signalbox'), JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version)
  assert.is(version(app, 'better-sqlite3'), version(root, 'better-sqlite3'), 'the native module is for the same version')
  const native = join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')
  mkdirSync(dirname(join(app, native)), { recursive: true })
  copyFileSync(join(root, native), join(app, native))

  // The bin, through npx, as the README says.
  const pkgVersion = version(app, 'signalbox')
  assert.is((await run(npx, ['signalbox', '--version'], { cwd: app, env })).stdout, `${pkgVersion}\n`)
  assert.match((await run(npx, ['signalbox', 'help', 'serve'], { cwd: app, env })).stdout, /^Usage: signalbox serve \[options\]/)

  // serve with its defaults but the ports: SQLite in ./.signalbox of the folder it runs in.
  const cli = join(app, 'node_modules', '.bin', 'signalbox')
  const engine = start([cli, 'serve', '--port', '0', '--http-port', '0', '--log-level', 'warn'], { cwd: app })
  try {
    const ready = await engine.line(/^signalbox ready /)
    const [, url, httpUrl] = /^signalbox ready (\S+) (\S+)$/.exec(ready)!
    assert.ok(existsSync(join(app, '.signalbox', 'queues.sqlite')), 'the SQLite store is in ./.signalbox')
    const ls = await run(npx, ['signalbox', 'ls', 'types', '--url', url], { cwd: app, env })
    assert.match(ls.stdout, /^ID\s+PROVIDER\s+DESCRIPTION\ncron\s+engine/, "trigger types sorted by id (engine::triggers::list)")
    await checkExamples(join(app, 'node_modules', 'signalbox', 'examples'), app, { url, httpUrl })
  } finally {
    assert.is(await engine.stop('SIGTERM'), 0, engine.err.join('\n'))
  }

  // The types a TypeScript user of the installed package gets.
  const options = { ...USER_OPTIONS, typeRoots: [join(root, 'node_modules', '@types')], skipLibCheck: false }
  for (const name of ['handlers.ts', 'typos.ts']) copyFileSync(join(FIXTURES, name), join(app, name))
  assert.equal(compileErrors(join(app, 'handlers.ts'), options), [])
  const typos = compileErrors(join(app, 'typos.ts'), options)
  assert.equal([...new Set(typos.map((e) => e.line))].sort((a, b) => a - b), [...expectedErrors(join(app, 'typos.ts')).keys()].sort((a, b) => a - b), JSON.stringify(typos))
}, 240_000))

it.run()
