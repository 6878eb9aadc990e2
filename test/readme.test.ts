/**
 * The README, re-read against what its commands print. Every code block is accounted for:
 *
 * - `sh` blocks are commands. Each is run here as written, through `sh -c` in the root of
 *   the checkout (the quick start's `npm start` too), except `npm ci` and `npm test`,
 *   which are what CI runs (.ci/run), and the examples' `node examples/…` commands that
 *   test/examples.test.ts runs and checks. A command this test does not know fails it.
 * - `text` blocks marked `<!-- output of: <command> -->` must match what that command
 *   printed, line by line (`…` stands for anything, and runs of spaces for any spacing).
 * - `js` blocks are files of examples/ (test/generated-docs.test.ts keeps them equal).
 * - `json` blocks are config files, checked as `serve` checks one.
 * - the block without a language is the layout: every folder and file it names exists.
 *
 * So that it runs beside an engine someone already started on the usual ports, the test
 * gives every command the environment `SIGNALBOX_PORT`, `SIGNALBOX_HTTP_PORT`,
 * `SIGNALBOX_URL` and `SIGNALBOX_HTTP_URL` of free ports (and `SIGNALBOX_STORE=memory`),
 * and reads the usual ports 49134 and 3111 in commands and outputs as those. `curl <url>`
 * is done with fetch, so that the test needs no curl.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { checkConfigFile } from '../cli/serve-config.js'
import { limit, until } from './harness.js'
import { EXAMPLE_FILES } from './example-runs.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const readme = readFileSync(join(root, 'README.md'), 'utf8').replace(/\r\n/g, '\n')

interface Block {
  lang: string
  body: string
  /** The HTML comment just before the block, if any. */
  marker?: string
  line: number
}

/** The README's fenced code blocks, with the comment that precedes each. */
function blocks(text: string): Block[] {
  const lines = text.split('\n')
  const found: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)$/.exec(lines[i])
    if (!open) continue
    const end = lines.indexOf('```', i + 1)
    const before = lines[i - 1]?.startsWith('<!--') ? lines[i - 1] : undefined
    found.push({ lang: open[1], body: lines.slice(i + 1, end).join('\n'), marker: before, line: i + 1 })
    i = end
  }
  return found
}

/** The commands of an `sh` block: one per line, without its `# comment`. */
const commandsOf = (block: Block) =>
  block.body
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l.length > 0)

/** Whether `actual` is what `expected` shows: line by line, `…` for anything, spacing free. */
function shows(expected: string, actual: string, whole: boolean): string | undefined {
  const want = expected.split('\n')
  const got = actual.replace(/\n$/, '').split('\n')
  if (whole && want.length !== got.length) return `${want.length} lines shown, ${got.length} printed:\n${actual}`
  for (let i = 0; i < want.length; i++) {
    const pattern = new RegExp(
      '^' +
        want[i]
          .trim()
          .split(/\s+/)
          .map((word) => word.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*'))
          .join('\\s+') +
        '$',
    )
    if (!pattern.test((got[i] ?? '').trim())) return `line ${i + 1}: shown ${JSON.stringify(want[i])}, printed ${JSON.stringify(got[i])}\n${actual}`
  }
  return undefined
}

/** Two free ports, read as the usual ones. */
async function freePorts(): Promise<[number, number]> {
  const one = () =>
    new Promise<number>((done) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo
        s.close(() => done(port))
      })
    })
  return [await one(), await one()]
}

const it = suite('README')
const all = blocks(readme)

it('the quick start is two commands: npm ci && npm start, then npm test; CI runs what it says', () => {
  const quick = all.find((b) => b.lang === 'sh')!
  assert.equal(commandsOf(quick), ['npm ci && npm start', 'npm test'])
  const ci = readFileSync(join(root, '.ci', 'run'), 'utf8')
  assert.match(ci, /^npm ci\b/m)
  assert.match(ci, /^npm test$/m)
  const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts
  assert.is(scripts.prepare, 'npm run build', 'npm ci builds (prepare)')
  assert.match(scripts.build, /^tsc -b .* && chmod \+x dist\/cli\.js$/, 'the build marks the command executable (npx signalbox runs it)')
  assert.match(scripts.start, /^node scripts\/build-if-changed\.mjs && node (--[a-z-]+=\S+ )*dist\/cli\.js serve$/)
  assert.match(scripts.test, /node dist\/test\/run\.js$/)
})

it('every code block is of a kind this test checks; the layout names what exists; config examples are valid', () => {
  for (const b of all) {
    const where = `README.md:${b.line}`
    if (b.lang === 'js') assert.match(b.marker ?? '', /^<!-- example: examples\/\S+\.mjs -->$/, `${where}: a js block is a file of examples/`)
    else if (b.lang === 'text') assert.match(b.marker ?? '', /^<!-- output of: .+ -->$/, `${where}: a text block shows a command's output`)
    else if (b.lang === 'json') checkConfigFile(JSON.parse(b.body), where)
    else if (b.lang === '') {
      const named = b.body.split('\n').flatMap((l) => [...l.matchAll(/(?:^|\s{2,})([\w.-]+(?:\/|\.ts))(?=\s)/g)].map((m) => m[1]))
      assert.ok(named.length > 10, `${where}: the layout`)
      for (const path of named) assert.ok(existsSync(join(root, path)), `${where}: the layout names ${path}, which does not exist`)
    } else assert.ok(['sh', 'mermaid'].includes(b.lang), `${where}: a ${b.lang || 'plain'} block`)
  }
})

it('every command runs as written and prints what the README shows', limit(async () => {
  const [port, httpPort] = await freePorts()
  const env: Record<string, string> = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIGNALBOX_') && !k.startsWith('npm_'))),
    SIGNALBOX_PORT: String(port),
    SIGNALBOX_HTTP_PORT: String(httpPort),
    SIGNALBOX_URL: `ws://127.0.0.1:${port}`,
    SIGNALBOX_HTTP_URL: `http://127.0.0.1:${httpPort}`,
    SIGNALBOX_STORE: 'memory',
    // npm's own notices (a newer npm) would be printed among the outputs.
    NPM_CONFIG_UPDATE_NOTIFIER: 'false',
  }
  const local = (text: string) => text.replace(/\b49134\b/g, String(port)).replace(/\b3111\b/g, String(httpPort))

  /** Outputs the README shows, by command. */
  const outputs = new Map(all.filter((b) => b.lang === 'text').map((b) => [/^<!-- output of: (.+) -->$/.exec(b.marker!)![1], b.body]))
  const checked = new Set<string>()
  const compare = (command: string, printed: string, whole: boolean) => {
    const shown = outputs.get(command)
    if (shown === undefined) return
    const wrong = shows(local(shown), printed, whole)
    assert.is(wrong, undefined, `the README's output of '${command}': ${wrong}`)
    checked.add(command)
  }

  const running: Array<{ stop(signal?: NodeJS.Signals): Promise<unknown> }> = []
  /** Starts a command that keeps running; resolves once its stdout has a line matching `ready`. */
  const daemon = async (command: string, ready: RegExp) => {
    const child = spawn('sh', ['-c', local(command)], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    const exited = new Promise<number | null>((done) => child.once('close', (code) => done(code)))
    const handle = {
      out: () => out,
      err: () => err,
      stop: async (signal: NodeJS.Signals = 'SIGINT') => {
        try {
          process.kill(-child.pid!, signal)
        } catch {
          /* gone */
        }
        return exited
      },
    }
    running.push(handle)
    await Promise.race([
      // `npm start` compiles what changed first: on a loaded machine with nothing built, well over 30 s.
      until(() => out.split('\n').some((l) => ready.test(l)), 120_000, `'${command}' to print ${ready}; stdout: ${out}; stderr: ${err}`),
      exited.then((code) => {
        throw new Error(`'${command}' exited (${code}) before it printed ${ready}: ${err}`)
      }),
    ])
    return handle
  }
  /** Runs a command to its end. */
  const once = (command: string) =>
    new Promise<{ code: number | null; out: string; err: string }>((done) => {
      const child = spawn('sh', ['-c', local(command)], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
      child.once('close', (code) => done({ code, out, err }))
    })

  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version
  let worker: Awaited<ReturnType<typeof daemon>> | undefined
  /** What this test does with each command of the README. */
  const checks: Record<string, () => Promise<void>> = {
    // The quick start: CI runs `npm ci` and `npm test` (see above); `npm start` is the engine of what follows.
    'npm ci && npm start': async () => {
      await daemon('npm start', new RegExp(`^signalbox ready ws://127\\.0\\.0\\.1:${port} http://127\\.0\\.0\\.1:${httpPort}$`))
    },
    'npm test': async () => {},
    'node examples/worker.mjs': async () => {
      worker = await daemon('node examples/worker.mjs', /^cron: tick 1,/)
      compare('node examples/worker.mjs', worker.out(), false)
    },
    'curl http://127.0.0.1:3111/hello/you': async () => {
      const res = await fetch(local('http://127.0.0.1:3111/hello/you'))
      assert.is(res.status, 200)
      assert.equal(await res.json(), { greeting: 'Hello, you!' })
    },
    'npx signalbox ls triggers': async () => {
      const r = await once('npx signalbox ls triggers')
      assert.is(r.code, 0, r.err)
      compare('npx signalbox ls triggers', r.out, true)
    },
    'npx signalbox invoke engine::queue::send \'{"queue_name":"orders","body":{"id":3,"item":"pie"}}\'': async () => {
      const r = await once('npx signalbox invoke engine::queue::send \'{"queue_name":"orders","body":{"id":3,"item":"pie"}}\'')
      assert.is(r.code, 0, r.err)
      assert.match(JSON.parse(r.out).message_id, /^[0-9a-f-]{36}$/)
      await until(() => worker!.out().includes('queue: order 3: pie'), 10_000, 'the worker to get order 3')
    },
    'node examples/embedded.mjs': async () => {
      const r = await once('node examples/embedded.mjs')
      assert.is(r.code, 0, r.err)
      compare('node examples/embedded.mjs', r.out, true)
    },
    'npx signalbox --version': async () => {
      const r = await once('npx signalbox --version')
      assert.equal([r.code, r.out], [0, `${version}\n`])
    },
    'npx signalbox help serve': async () => {
      const r = await once('npx signalbox help serve')
      assert.is(r.code, 0)
      assert.match(r.out, /^Usage: signalbox serve \[options\]\n/)
    },
    'npx signalbox ls workers': async () => {
      const r = await once('npx signalbox ls workers')
      assert.is(r.code, 0, r.err)
      assert.match(r.out, /^NAME\s+WORKER_ID\s+RUNTIME\s+PID\s+FUNCTIONS\s+TRIGGERS\s+CONNECTED_AT\nexample-worker\s/)
    },
    'npx signalbox invoke engine::workers::list': async () => {
      const r = await once('npx signalbox invoke engine::workers::list')
      assert.is(r.code, 0, r.err)
      assert.ok(JSON.parse(r.out).workers.some((w: { name?: string }) => w.name === 'example-worker'), r.out)
      assert.is(r.err, 'signalbox: no input given: invoking engine::workers::list with {}\n')
    },
    'npx signalbox serve --port 0 --http-port 0 --store memory': async () => {
      const s = await daemon('npx signalbox serve --port 0 --http-port 0 --store memory', /^signalbox ready ws:\/\/127\.0\.0\.1:\d+ http:\/\/127\.0\.0\.1:\d+$/)
      // (Stopping with a signal is test/cli.test.ts's; here the whole process group goes.)
      await s.stop('SIGTERM')
    },
    'SIGNALBOX_LOG_LEVEL=warn npx signalbox serve --port 0 --http-port 0 --store memory': async () => {
      const s = await daemon('SIGNALBOX_LOG_LEVEL=warn npx signalbox serve --port 0 --http-port 0 --store memory', /^signalbox ready /)
      assert.is(s.err(), '', 'no info record (engine running), as SIGNALBOX_LOG_LEVEL asked')
      await s.stop('SIGTERM')
    },
  }
  // Outputs of commands shown only as outputs.
  const shownOnly: Record<string, () => Promise<void>> = {
    'npx signalbox help': async () => {
      const r = await once('npx signalbox help')
      assert.is(r.code, 0)
      compare('npx signalbox help', r.out, true)
    },
    'npx signalbox sevre': async () => {
      const r = await once('npx signalbox sevre')
      assert.is(r.code, 2)
      assert.is(r.out, '')
      compare('npx signalbox sevre', r.err, true)
    },
  }

  const commands = all.filter((b) => b.lang === 'sh').flatMap(commandsOf)
  try {
    for (const command of commands) {
      const example = /^node examples\/(\S+)$/.exec(command)?.[1]
      if (checks[command]) await checks[command]()
      else if (example && (EXAMPLE_FILES as readonly string[]).includes(example)) continue // test/examples.test.ts
      else assert.unreachable(`the README shows a command this test does not run: ${command}`)
    }
    for (const [command, check] of Object.entries(shownOnly)) await check()
    for (const command of outputs.keys()) assert.ok(checked.has(command), `the README shows the output of '${command}', which was not compared`)
    for (const command of Object.keys(checks)) assert.ok(commands.includes(command), `this test checks '${command}', which the README no longer shows`)
    // Every example the README's table names is one test/examples.test.ts runs.
    for (const m of readme.matchAll(/`node examples\/(\S+?)`/g)) assert.ok((EXAMPLE_FILES as readonly string[]).includes(m[1]), `examples/${m[1]} is run by test/examples.test.ts`)
  } finally {
    for (const r of running.reverse()) await r.stop('SIGTERM')
  }
}, 240_000))

it.run()
