/**
 * What `npm pack` ships: the library (its JavaScript and type declarations), the CLI,
 * the README and docs/, and nothing else: no tests, benchmarks, generators or sources.
 * Every module a shipped file imports is shipped too.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join, posix, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { importsOf } from './imports.js'
import { SERVE_NODE_FLAGS } from '../cli/node-flags.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

const it = suite('package')

// `npm start` passing them is held by test/startup.test.ts, which checks the whole script.
it("the CLI's shebang runs node with the serve flags (cli/node-flags.ts), and node takes them", () => {
  assert.is(readFileSync(join(root, 'dist', 'cli.js'), 'utf8').split('\n')[0], `#!/usr/bin/env -S node ${SERVE_NODE_FLAGS.join(' ')}`)
  assert.is(execFileSync(process.execPath, [...SERVE_NODE_FLAGS, '-e', 'process.stdout.write("ok")'], { encoding: 'utf8' }), 'ok')
})

it('npm pack ships the library, the CLI and the docs, and no tests, benchmarks or sources', () => {
  const out = execFileSync(npm, ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const files: string[] = JSON.parse(out)[0].files.map((f: { path: string }) => f.path)
  for (const needed of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'dist/adapters/engine.js', 'dist/client/ws-client.js', 'docs/errors.md', 'dist/console/app.js', 'dist/console/view.js', 'console/index.html', 'console/console.css']) {
    assert.ok(files.includes(needed), `${needed} is shipped`)
  }
  const unwanted = files.filter((f) => /^(dist\/)?(test|bench|diagrams)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts') || f.endsWith('.map') || f.startsWith('node_modules/'))
  assert.equal(unwanted, [])

  const shipped = new Set(files)
  const dangling: string[] = []
  for (const file of files.filter((f) => f.endsWith('.js'))) {
    for (const spec of importsOf(readFileSync(join(root, file), 'utf8'))) {
      const target = posix.normalize(posix.join(posix.dirname(file), spec))
      if (!shipped.has(target)) dangling.push(`${file} imports ${spec}`)
    }
  }
  assert.equal(dangling, [], 'every import of a shipped file is shipped')
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  assert.ok(shipped.has(pkg.bin.signalbox.replace(/^\.\//, '')), 'the bin is shipped')
  assert.ok(shipped.has(pkg.exports['.'].types.replace(/^\.\//, '')), 'the types are shipped')
})

it.run()
