/**
 * The command line as a person meets it, in real processes: the version, help for each
 * command, one line and a hint for every error (usage errors exit 2) with "did you mean",
 * a port in use naming the listener and the setting, settings from flags, environment
 * variables and a config file in that order; and `serve`: the ready line, and shutting
 * down on SIGTERM / SIGINT while letting calls in flight finish within the grace period,
 * and, started by npm, when npm ends (npm's SIGTERM stops at the shell it started).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connectWorker } from '../client/ws-client.js'
import { InvocationError, type WorkerClient } from '../client/worker.js'
import { createEngine } from '../adapters/engine.js'
import { StoreOpenError } from '../adapters/open-errors.js'
import { limit, until } from './harness.js'

const cli = fileURLToPath(new URL('../cli.js', import.meta.url))

interface Run {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Parsed JSON lines from stderr (the engine's log). */
  log: Array<{ level: string; msg: string } & Record<string, unknown>>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
}

/** Every child started here, so `after` can make sure none outlives the tests. */
const children = new Set<ChildProcess>()

/** The environment without any SIGNALBOX_ variable of the machine running the tests. */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIGNALBOX_')))

/** A word for the shell, quoted. */
const shellWord = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`

/** Runs the CLI with `args`; with `npm`, as npm runs it (`npm exec --call`: npm, its shell, then node, as under `npm start` and `npx`). */
function run(args: string[], options: { env?: Record<string, string>; cwd?: string; npm?: boolean } = {}): Run {
  const [file, argv] = options.npm ? ['npm', ['exec', '--call', [process.execPath, cli, ...args].map(shellWord).join(' ')]] : [process.execPath, [cli, ...args]]
  // npm in a process group of its own, so that its shell and the engine can be ended with it (`endGroup`).
  const env = { ...cleanEnv, ...(options.npm ? { NPM_CONFIG_UPDATE_NOTIFIER: 'false' } : {}), ...options.env }
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], env, cwd: options.cwd, detached: options.npm === true })
  children.add(child)
  let out = ''
  let err = ''
  // A spawn that fails (its folder gone after a failed test) is that test's failure, not the run's.
  child.on('error', (e) => (err += `spawn failed: ${e.message}\n`))
  const log: Run['log'] = []
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8')
  createInterface({ input: child.stderr! }).on('line', (line) => {
    err += line + '\n'
    try {
      log.push(JSON.parse(line))
    } catch {
      /* usage text */
    }
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('close', (code, signal) => (children.delete(child), resolve({ code, signal, at: Date.now() }))),
  )
  return { child, stdout: () => out, stderr: () => err, log, exited }
}

/** Starts `signalbox serve` on a free port; resolves once it printed its ready line. */
async function serve(extra: string[] = [], options: { env?: Record<string, string>; cwd?: string; ports?: string[]; npm?: boolean } = {}): Promise<Run & { url: string; port: number }> {
  const r = run(['serve', ...(options.ports ?? ['--host', '127.0.0.1', '--port', '0', '--http-port', '0']), ...extra], options)
  const url: string = await Promise.race([
    until(() => /^signalbox ready (ws:\/\/\S+) http:\/\/\S+\n/.exec(r.stdout())?.[1], 10_000, 'the ready line') as Promise<string>,
    r.exited.then(({ code }) => {
      throw new Error(`serve exited (${code}) before it was ready: ${r.stderr()}`)
    }),
  ])
  return Object.assign(r, { url, port: Number(new URL(url).port) })
}

/** Runs `fn` over `items`, `width` at a time (the machine may have two cores). */
async function inBatches<T>(items: T[], fn: (item: T) => Promise<void>, width = 4): Promise<void> {
  const queue = [...items]
  await Promise.all(Array.from({ length: width }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item)
  }))
}

/** Resolves with the exit, or fails if the process is still running after `ms`. */
async function exitWithin(r: Run, ms: number) {
  return Promise.race([
    r.exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still running ${ms} ms later; stderr: ${r.stderr()}`)), ms).unref()),
  ])
}

/** Ends `pid`'s process group (npm, its shell and the engine), if any of it is left. */
function endGroup(pid: number | undefined): void {
  try {
    if (pid !== undefined) process.kill(-pid, 'SIGKILL')
  } catch {
    /* gone */
  }
}

const C = suite('cli')

C.after(async () => {
  for (const child of children) (child.kill('SIGKILL'), endGroup(child.pid))
})

C(
  'serve prints exactly one ready line with the real port, and accepts workers there',
  limit(async () => {
    let httpPort = 0
    const s = await serve(['--log-level', 'silent'])
    try {
      const m = /^signalbox ready ws:\/\/127\.0\.0\.1:(\d+) http:\/\/127\.0\.0\.1:(\d+)\n$/.exec(s.stdout())
      assert.ok(m, `ready line: ${JSON.stringify(s.stdout())}`)
      const port = Number(m![1])
      httpPort = Number(m![2])
      assert.ok(httpPort > 0 && httpPort !== port && httpPort !== 3111, `http port ${httpPort}`)
      assert.ok(port > 0 && port < 65536 && port !== 49134, `port ${port}`)
      assert.is(s.url, `ws://127.0.0.1:${port}`)
      const w = await connectWorker(s.url, { name: 'ready-check', reconnect: false })
      try {
        const { workers } = await w.invoke<{ workers: Array<{ name?: string }> }>('engine::workers::list', {})
        assert.ok(workers.some((x) => x.name === 'ready-check'))
      } finally {
        w.close()
      }
    } finally {
      s.child.kill('SIGTERM')
      assert.is((await exitWithin(s, 20_000)).code, 0)
    }
    assert.is(s.stdout(), `signalbox ready ws://127.0.0.1:${s.port} http://127.0.0.1:${httpPort}\n`, 'nothing else on stdout')
    assert.is(s.stderr(), '', '--log-level silent writes nothing')
  }, 90_000),
)

C(
  '--version, help and each command\'s own help, on stdout, exit 0',
  limit(async () => {
    const version = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')).version
    const outputs = new Map<string, string>()
    const cases: Array<[string[], RegExp]> = [
      [['--version'], new RegExp(`^${version.replace(/\./g, '\\.')}\n$`)],
      [['-v'], new RegExp(`^${version.replace(/\./g, '\\.')}\n$`)],
      [['--help'], /^signalbox \S+: a trigger engine[\s\S]*Usage: signalbox <command> \[options\][\s\S]*Commands:[\s\S]*serve[\s\S]*-v, --version/],
      [['help'], /^signalbox \S+: a trigger engine/],
      [['-h'], /^signalbox \S+: a trigger engine/],
      [['help', 'serve'], /^Usage: signalbox serve \[options\][\s\S]*--http-port <number>[\s\S]*SIGNALBOX_HTTP_PORT[\s\S]*--config <file>[\s\S]*Examples:\n  signalbox serve/],
      [['serve', '--help'], /^Usage: signalbox serve \[options\]/],
      [['help', 'ls'], /^Usage: signalbox ls <list> \[--json\][\s\S]*workers[\s\S]*triggers[\s\S]*Examples:\n  signalbox ls workers/],
      [['ls', '--help'], /^Usage: signalbox ls <list>/],
      [['ls', 'workers', '-h'], /^Usage: signalbox ls <list>/],
      [['help', 'invoke'], /^Usage: signalbox invoke <function_id> \[json\][\s\S]*without one, \{\} is sent[\s\S]*Examples:\n  signalbox invoke/],
      [['invoke', '--help'], /^Usage: signalbox invoke <function_id>/],
      [['help', 'help'], /^Usage: signalbox help \[command\]/],
    ]
    await inBatches(
      cases, async ([args, expected]) => {
        const r = run(args)
        const { code } = await exitWithin(r, 20_000)
        assert.is(code, 0, args.join(' '))
        assert.match(r.stdout(), expected, args.join(' '))
        assert.is(r.stderr(), '', args.join(' '))
        outputs.set(args.join(' '), r.stdout())
      },
    )
    assert.is(outputs.get('serve --help'), outputs.get('help serve'))
    assert.is(outputs.get('ls --help'), outputs.get('help ls'))
    assert.is.not(outputs.get('ls --help'), outputs.get('serve --help'), 'each command has its own page')
    assert.is.not(outputs.get('invoke --help'), outputs.get('--help'))
  }, 90_000),
)

C(
  'nonsense on the command line: one line saying what, one line with the hint, exit 2, nothing started',
  limit(async () => {
    const cases: Array<[string[], string, string]> = [
      [['serve', '--bogus'], "serve has no option '--bogus'", "'signalbox help serve' lists its options"],
      [['serve', '--htp-port', '1'], "serve has no option '--htp-port'", "did you mean '--http-port'? 'signalbox help serve' lists its options"],
      [['serve', '--port', 'abc'], "--port must be a whole number from 0 to 65535, got 'abc'", '--port: WebSocket port'],
      [['serve', '--port', '70000'], "--port must be a whole number from 0 to 65535, got '70000'", '--port: WebSocket port'],
      [['serve', '--port', '-1'], '--port needs a value', "to give one that starts with '-', write --port=-1"],
      [['serve', '--port=-1'], "--port must be a whole number from 0 to 65535, got '-1'", '--port: WebSocket port'],
      [['serve', '--port'], '--port needs a value', "'signalbox help serve' lists its options"],
      [['serve', '--grace-ms', 'soon'], "--grace-ms must be a whole number from 0 to 3600000, got 'soon'", '--grace-ms: On stop'],
      [['serve', '--log-level', 'loud'], "--log-level must be one of debug, info, warn, error, silent, got 'loud'", '--log-level: Level of the built-in logger'],
      [['serve', '--store', 'disk'], "--store must be sqlite, memory or jetstream, got 'disk'", '--store: Where queued messages live'],
      [['serve', '--inspect=http://x'], "--inspect must be true, false or a ws:// URL, got 'http://x'", '--inspect: An XState inspection observer'],
      [['serve', 'extra'], "serve takes no arguments, got 'extra'", "options start with '--'; 'signalbox help serve' lists them"],
      [['serve', '--help=yes'], "--help takes no value, got 'yes'", "'signalbox help serve' lists its options"],
      [['sevre'], "unknown command 'sevre'", "did you mean 'serve'? 'signalbox help' lists the commands"],
      [['frobnicate'], "unknown command 'frobnicate'", "'signalbox help' lists the commands"],
      [['--verison'], "unknown option '--verison'", "did you mean '--version'? 'signalbox help' lists the commands"],
      [['help', 'lss'], "there is no command 'lss'", "did you mean 'signalbox help ls'? the commands are serve, ls, invoke, token, help"],
      [['ls'], 'ls needs a list to show', "one of workers, functions, triggers, types, queues, e.g. 'signalbox ls workers'"],
      [['ls', 'wrokers'], "there is no list 'wrokers'", "did you mean 'workers'? the lists are workers, functions, triggers, types, queues"],
      [['ls', 'workers', '--jsn'], "ls has no option '--jsn'", "did you mean '--json'? 'signalbox help ls' lists its options"],
      [['ls', 'workers', '--url', 'http://x'], "--url must be a ws:// URL such as ws://127.0.0.1:49134, got 'http://x'", "the engine's worker endpoint is on the ready line of 'signalbox serve'"],
      [['invoke'], 'invoke needs a function id', "e.g. 'signalbox invoke engine::workers::list'; 'signalbox ls functions' lists them"],
      [['invoke', 'f', '{"a":', '1}'], 'invoke takes a function id and one JSON argument, got 3 arguments', `give the input as one argument, quoted for the shell: signalbox invoke f '{"name":"Ada"}'`],
      [['invoke', 'f', '{a}'], 'the input is not valid JSON: ', `give the input as one argument, quoted for the shell: signalbox invoke f '{"name":"Ada"}'`],
      [['invoke', 'f', '{}', '--timeout-ms', '0'], "--timeout-ms must be a whole number from 1 to 2147483647, got '0'", 'how long the call may take, in milliseconds'],
      // No input, and an option that is wrong: the option is refused before the note about the input.
      [['invoke', 'f', '--timeout-ms', 'abc'], "--timeout-ms must be a whole number from 1 to 2147483647, got 'abc'", 'how long the call may take, in milliseconds'],
      [['invoke', 'f', '--url', 'http://x'], "--url must be a ws:// URL such as ws://127.0.0.1:49134, got 'http://x'", "the engine's worker endpoint is on the ready line of 'signalbox serve'"],
      [[], 'missing command', "e.g. 'signalbox serve'; 'signalbox help' lists the commands"],
    ]
    await inBatches(
      cases, async ([args, what, hint]) => {
        const r = run(args)
        const { code } = await exitWithin(r, 20_000)
        const command = `signalbox ${args.join(' ')}`
        assert.is(code, 2, `${command}: exit code; stderr: ${r.stderr()}`)
        const lines = r.stderr().split('\n')
        assert.is(lines.length, 3, `${command}: one line, the hint, nothing else: ${JSON.stringify(r.stderr())}`)
        assert.ok(lines[0].startsWith(`signalbox: ${what}`), `${command}: ${lines[0]}`)
        assert.ok(lines[1].startsWith(`hint: ${hint}`), `${command}: ${lines[1]}`)
        assert.is(r.stdout(), '', `${command}: nothing on stdout`)
      },
    )
  }, 90_000),
)

/** Ports nothing listens on (listened on, then closed). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<Server>((resolve) => {
      const s = createServer()
      s.listen(0, '127.0.0.1', () => resolve(s))
    })),
  )
  const ports = servers.map((s) => (s.address() as AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  return ports
}

C(
  'a port in use: one line naming the listener that clashed and the address, and the hint naming the setting as it was given',
  limit(async () => {
    const s = await serve(['--log-level', 'silent', '--store', 'memory'])
    const dir = mkdtempSync(join(tmpdir(), 'signalbox-cli-'))
    try {
      const httpPort = Number(/http:\/\/127\.0\.0\.1:(\d+)/.exec(s.stdout())![1])
      writeFileSync(join(dir, 'signalbox.config.json'), JSON.stringify({ http: { port: httpPort } }))
      const clashes: Array<[string[], Record<string, string>, string, string]> = [
        [['--port', String(s.port), '--http-port', '0'], {}, `the WebSocket port for workers cannot listen on 127.0.0.1:${s.port}`, 'stop what holds it, or give --port another port (0 picks a free one)'],
        [['--port', '0', '--http-port', String(httpPort)], {}, `the HTTP listener for http triggers cannot listen on 127.0.0.1:${httpPort}`, 'stop what holds it, or give --http-port another port (0 picks a free one)'],
        [['--port', '0'], { SIGNALBOX_HTTP_PORT: String(httpPort) }, `the HTTP listener for http triggers cannot listen on 127.0.0.1:${httpPort}`, 'stop what holds it, or give SIGNALBOX_HTTP_PORT another port'],
        [['--port', '0', '--config', join(dir, 'signalbox.config.json')], {}, `the HTTP listener for http triggers cannot listen on 127.0.0.1:${httpPort}`, `stop what holds it, or give 'http.port' in ${join(dir, 'signalbox.config.json')} another port`],
        [['--port', '0', '--http-port', '0', '--host', '10.255.255.1', '--insecure'], {}, 'the HTTP listener for http triggers cannot listen on 10.255.255.1:0', 'give --host an address of this machine'],
      ]
      await inBatches(
        clashes, async ([args, env, what, hint]) => {
          const r = run(['serve', '--store', 'memory', ...args], { env })
          const { code } = await exitWithin(r, 20_000)
          assert.is(code, 1, `${args.join(' ')}: ${r.stderr()}`)
          const lines = r.stderr().split('\n')
          assert.is(lines.length, 3, JSON.stringify(r.stderr()))
          assert.ok(lines[0].startsWith(`signalbox: ${what}: `), lines[0])
          if (!args.includes('--host')) assert.match(lines[0], 'the port is already in use')
          assert.ok(lines[1].startsWith(`hint: ${hint}`), lines[1])
          assert.is(r.stdout(), '')
        },
      )
    } finally {
      s.child.kill('SIGTERM')
      await exitWithin(s, 20_000)
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000),
)

C(
  'settings from flags, the environment and a config file: a flag wins over a variable, a variable over the file, the file over the default',
  limit(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signalbox-cli-'))
    try {
      const [fromFile, fromEnv, fromFlag, wsFile] = await freePorts(4)
      writeFileSync(join(dir, 'signalbox.config.json'), JSON.stringify({ port: wsFile, http: { port: fromFile }, dataDir: 'state', logLevel: 'silent' }))
      const readyPorts = (r: Run) => /^signalbox ready ws:\/\/127\.0\.0\.1:(\d+) http:\/\/127\.0\.0\.1:(\d+)\n$/.exec(r.stdout())!.slice(1).map(Number)
      const cases: Array<[string[], Record<string, string>, number]> = [
        [[], {}, fromFile],
        [[], { SIGNALBOX_HTTP_PORT: String(fromEnv) }, fromEnv],
        [['--http-port', String(fromFlag)], { SIGNALBOX_HTTP_PORT: String(fromEnv) }, fromFlag],
      ]
      for (const [args, env, http] of cases) {
        const s = await serve(args, { env, cwd: dir, ports: [] })
        try {
          assert.equal(readyPorts(s), [wsFile, http], `${args.join(' ')} ${JSON.stringify(env)}`)
          assert.is(s.stderr(), '', "logLevel 'silent' from the file")
        } finally {
          s.child.kill('SIGTERM')
          assert.is((await exitWithin(s, 20_000)).code, 0)
        }
      }
      assert.ok(existsSync(join(dir, 'state', 'queues.sqlite')), "the file's dataDir is the file's folder's state/")
      // The file named by --config or SIGNALBOX_CONFIG, and a variable for every flag.
      const other = join(dir, 'other.json')
      writeFileSync(other, JSON.stringify({ store: 'memory', http: { port: 0 }, port: 0 }))
      const s = await serve([], { env: { SIGNALBOX_CONFIG: other, SIGNALBOX_LOG_LEVEL: 'silent', SIGNALBOX_DATA_DIR: join(dir, 'unused') }, cwd: dir, ports: [] })
      try {
        const [ws, http] = readyPorts(s)
        assert.ok(ws > 0 && http > 0 && ws !== wsFile)
        assert.is(s.stderr(), '')
      } finally {
        s.child.kill('SIGTERM')
        await exitWithin(s, 20_000)
      }
      assert.not.ok(existsSync(join(dir, 'unused')), 'store memory from the file: no SQLite file')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000),
)

C(
  'bad settings name the key as it was given: the variable, or the key in the file',
  limit(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signalbox-cli-'))
    try {
      const file = (name: string, text: string) => (writeFileSync(join(dir, name), text), name)
      const cases: Array<[string[], Record<string, string>, string, string]> = [
        [[], { SIGNALBOX_PORT: '70000' }, "SIGNALBOX_PORT must be a whole number from 0 to 65535, got '70000'", 'SIGNALBOX_PORT: WebSocket port'],
        [[], { SIGNALBOX_LOG_LEVEL: 'chatty' }, "SIGNALBOX_LOG_LEVEL must be one of debug, info, warn, error, silent, got 'chatty'", 'SIGNALBOX_LOG_LEVEL: Level'],
        [['--config', file('a.json', '{"http": {"prot": 3000}}')], {}, "unknown key 'http.prot' in a.json", "did you mean 'http.port'? the keys are 'http.port', 'http.maxBodyBytes', 'http.timeoutMs'"],
        [['--config', file('b.json', '{"htpp": {}}')], {}, "unknown key 'htpp' in b.json", "did you mean 'http'? the keys are 'host', 'port', 'http'"],
        [['--config', file('c.json', '{"port": "abc"}')], {}, "'port' in c.json must be a whole number from 0 to 65535, got 'abc'", "'port' in c.json: WebSocket port"],
        [['--config', file('d.json', '{"http": {"timeoutMs": 0}}')], {}, "'http.timeoutMs' in d.json must be a whole number from 1 to 2147483647, got 0", "'http.timeoutMs' in d.json: How long an http trigger waits"],
        [['--config', file('e.json', '{"port": 1,}')], {}, 'e.json is not valid JSON: ', 'the config file holds one JSON object'],
        [['--config', file('f.json', '[1]')], {}, 'f.json must hold one JSON object, got an array', 'e.g. {"port": 49134'],
        [['--config', 'missing.json'], {}, 'cannot read the config file missing.json (--config): no such file', 'give --config the path of a JSON file'],
        [[], { SIGNALBOX_CONFIG: 'gone.json' }, 'cannot read the config file gone.json (SIGNALBOX_CONFIG): no such file', 'give SIGNALBOX_CONFIG the path of a JSON file'],
      ]
      await inBatches(
        cases, async ([args, env, what, hint]) => {
          const r = run(['serve', ...args], { env, cwd: dir })
          const { code } = await exitWithin(r, 20_000)
          const label = `${args.join(' ')} ${JSON.stringify(env)}`
          assert.is(code, 2, `${label}: ${r.stderr()}`)
          const lines = r.stderr().split('\n')
          assert.is(lines.length, 3, `${label}: ${JSON.stringify(r.stderr())}`)
          assert.ok(lines[0].startsWith(`signalbox: ${what}`), `${label}: ${lines[0]}`)
          assert.ok(lines[1].startsWith(`hint: ${hint}`), `${label}: ${lines[1]}`)
        },
      )
      // A data folder that cannot be one: said before anything starts.
      const blocker = file('not-a-folder', 'x')
      const noDir = run(['serve', '--port', '0', '--http-port', '0', '--data-dir', blocker], { cwd: dir })
      assert.is((await exitWithin(noDir, 5000)).code, 1)
      assert.is(noDir.stderr(), `signalbox: cannot keep queues in ${join(dir, blocker)}: it is a file, not a folder\nhint: give --data-dir a folder this user may write to, or keep queues in memory with --store memory\n`)
      assert.is(noDir.stdout(), '')
      // ls and invoke find the engine where serve would listen with the same settings.
      const [port] = await freePorts(1)
      file('signalbox.config.json', JSON.stringify({ port, http: { port: 0 }, store: 'memory', logLevel: 'silent' }))
      const s = await serve([], { cwd: dir, ports: [] })
      try {
        const ls = run(['ls', 'types'], { cwd: dir })
        assert.is((await exitWithin(ls, 20_000)).code, 0, ls.stderr())
        assert.match(ls.stdout(), /^ID\s+PROVIDER/)
        const elsewhere = run(['ls', 'types'], { cwd: dir, env: { SIGNALBOX_URL: `ws://127.0.0.1:${s.port === port ? 1 : port}` } })
        assert.is((await exitWithin(elsewhere, 20_000)).code, 1, 'SIGNALBOX_URL wins over the file')
        assert.match(elsewhere.stderr(), 'or point SIGNALBOX_URL at it')
      } finally {
        s.child.kill('SIGTERM')
        await exitWithin(s, 20_000)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000),
)

C(
  'SIGTERM with a call in flight: stops accepting, the call still gets its result, exit 0',
  limit(async () => {
    const s = await serve(['--grace-ms', '5000', '--log-level', 'info'])
    const workers: WorkerClient[] = []
    try {
      const server = await connectWorker(s.url, { name: 'slow-server', reconnect: false })
      workers.push(server)
      let started = 0
      let answeredAt = 0
      server.registerFunction('slow::work', async (data: { n: number }) => {
        started += 1
        await new Promise((r) => setTimeout(r, 300))
        answeredAt = Date.now()
        return { done: data.n }
      })
      const caller = await connectWorker(s.url, { name: 'caller', reconnect: false })
      workers.push(caller)
      await until(async () => (await caller.invoke<{ functions: Array<{ function_id: string }> }>('engine::functions::list', {})).functions.some((f) => f.function_id === 'slow::work'), 3000, 'slow::work registered')

      let resolvedAt = 0
      const call = caller.invoke('slow::work', { n: 7 }).then((v) => ((resolvedAt = Date.now()), v))
      await until(() => started === 1, 3000, 'the call to reach the serving worker')
      s.child.kill('SIGTERM')
      await until(() => s.log.some((l) => l.msg === 'stopping' && l.signal === 'SIGTERM'), 3000, "the engine's 'stopping' log line")

      // No new connections once stopping.
      let refused: unknown
      await connectWorker(s.url, { name: 'latecomer', reconnect: false, connectTimeoutMs: 0, logger: false }).then(
        (w) => (workers.push(w), undefined),
        (err) => (refused = err),
      )
      assert.ok(refused instanceof Error, 'a new worker is refused while the engine stops')

      assert.equal(await call, { done: 7 })
      const { code, signal, at } = await exitWithin(s, 20_000)
      assert.is(signal, null)
      assert.is(code, 0)
      assert.ok(answeredAt > 0 && resolvedAt >= answeredAt && at >= resolvedAt, 'the process exits after the call was answered')
      assert.equal(s.log.filter((l) => l.level === 'error'), [])
    } finally {
      for (const w of workers) w.close()
      s.child.kill('SIGKILL')
    }
  }, 90_000),
)

C(
  'SIGTERM with a call that never ends: exit 0 once --grace-ms 200 has passed; the caller is not left hanging',
  limit(async () => {
    const s = await serve(['--grace-ms', '200', '--log-level', 'info'])
    const workers: WorkerClient[] = []
    try {
      const server = await connectWorker(s.url, { name: 'stuck-server', reconnect: false })
      workers.push(server)
      let started = 0
      server.registerFunction('stuck::forever', () => {
        started += 1
        return new Promise(() => {})
      })
      const caller = await connectWorker(s.url, { name: 'caller', reconnect: false })
      workers.push(caller)
      await until(async () => (await caller.invoke<{ functions: Array<{ function_id: string }> }>('engine::functions::list', {})).functions.some((f) => f.function_id === 'stuck::forever'), 3000, 'stuck::forever registered')

      let outcome: unknown
      const call = caller.invoke('stuck::forever', {}, { timeout_ms: 60_000 }).then(
        (v) => (outcome = { resolved: v }),
        (err) => (outcome = err),
      )
      await until(() => started === 1, 3000, 'the call to reach the serving worker')
      const signalledAt = Date.now()
      s.child.kill('SIGTERM')
      const { code, signal, at } = await exitWithin(s, 20_000)
      assert.is(signal, null)
      assert.is(code, 0)
      assert.ok(at - signalledAt >= 150, `waited for the grace period (exited after ${at - signalledAt} ms)`)
      assert.ok(at - signalledAt < 3000, `exited within a few seconds (${at - signalledAt} ms)`)
      await until(() => outcome !== undefined, 3000, 'the caller to hear the call ended')
      await call
      // The engine answers it before it closes the connection.
      assert.instance(outcome, InvocationError, `the call rejects: ${String(outcome)}`)
      assert.is((outcome as InvocationError).code, 'worker_disconnected')
      assert.match((outcome as InvocationError).message, 'The engine stopped before')
    } finally {
      for (const w of workers) w.close()
      s.child.kill('SIGKILL')
    }
  }, 90_000),
)

/** A process's state letter and parent, from /proc (after the command's name: state, then parent pid). */
function procStat(pid: number | string): { state: string; parent: number } {
  const [state, parent] = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return { state, parent: Number(parent) }
}

/** A process's arguments (none once it is gone). */
function argvOf(pid: number | undefined): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1)
  } catch {
    return []
  }
}

/** Whether `pid` is node running this CLI. */
const isCli = (pid: number | undefined) => argvOf(pid)[1] === cli

/** The processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (procStat(name).parent === pid) out.push(Number(name))
    } catch {
      /* ended meanwhile */
    }
  }
  return out
}

C(
  "started by npm (as `npm start` and `npx` run it): SIGTERM to npm stops the engine, though npm's shell does not pass it on",
  limit(async () => {
    const s = await serve(['--log-level', 'info', '--store', 'memory'], { npm: true })
    try {
      // npm, the shell npm started, then the engine: npm's SIGTERM reaches the shell only.
      // (Where sh is bash, which replaces itself with the command, the engine is npm's child and gets it.)
      const [below, ...more] = childrenOf(s.child.pid!)
      assert.is(more.length, 0, `npm has one child (${[below, ...more]})`)
      const throughShell = !isCli(below)
      const engine = throughShell ? childrenOf(below)[0] : below
      assert.ok(isCli(engine), `the engine is found below npm (${below}: ${argvOf(below).join(' ')})`)
      s.child.kill('SIGTERM')
      const why = throughShell ? { reason: 'parent exited' } : { signal: 'SIGTERM' }
      await until(() => s.log.some((l) => l.msg === 'stopping' && Object.entries(why).every(([k, v]) => l[k] === v)), 10_000, `the engine's 'stopping' log line with ${JSON.stringify(why)}`)
      // npm's pipes close once the engine, which holds them too, has exited.
      await exitWithin(s, 20_000)
      // Gone, or a zombie until whatever adopted it reaps it.
      let state = 'gone'
      try {
        state = procStat(engine).state
      } catch {
        /* reaped */
      }
      assert.ok(state === 'gone' || state === 'Z', `the engine process has exited (state ${state})`)
      const refused = await fetch(`http://127.0.0.1:${s.port}/healthz`).then(() => false, () => true)
      assert.ok(refused, 'its port is free')
    } finally {
      // Should it outlive npm, it is ended here, not left holding ports for the tests after this one.
      endGroup(s.child.pid)
    }
  }, 90_000),
)

C(
  'not started by npm: a server whose parent exits (as under `nohup … &`) goes on serving',
  limit(async () => {
    const env = Object.fromEntries(Object.entries(cleanEnv).filter(([k]) => !k.startsWith('npm_')))
    const command = [process.execPath, cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--http-port', '0', '--store', 'memory'].map(shellWord).join(' ')
    // The shell waits for a line (or the end of its input) before it exits: it is the server's parent until the server is ready.
    // In a process group of its own, which the server (started with `&`, no job control) stays in.
    const shell = spawn('sh', ['-c', `${command} & echo $!; read line`], { stdio: ['pipe', 'pipe', 'ignore'], env, detached: true })
    children.add(shell)
    let out = ''
    shell.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
    try {
      const engine = Number(await until(() => /^(\d+)\n/.exec(out)?.[1], 10_000, "the server's pid"))
      const url = await until(() => /signalbox ready ws:\/\/(\S+)/.exec(out)?.[1], 10_000, 'the ready line')
      assert.is(procStat(engine).parent, shell.pid)
      shell.stdin!.end()
      // The shell has exited: the server is another's child now, and still answers a while after.
      await until(() => procStat(engine).parent !== shell.pid, 10_000, 'the server to outlive its shell')
      await new Promise((r) => setTimeout(r, 1500))
      const health = await fetch(`http://${url}/healthz`)
      assert.is(health.status, 200)
    } finally {
      endGroup(shell.pid)
    }
  }, 90_000),
)


C(
  'SIGINT exits 0',
  limit(async () => {
    const s = await serve(['--log-level', 'info'])
    s.child.kill('SIGINT')
    const { code, signal } = await exitWithin(s, 20_000)
    assert.is(signal, null)
    assert.is(code, 0)
    assert.ok(s.log.some((l) => l.msg === 'stopping' && l.signal === 'SIGINT'), s.stderr())
  }, 90_000),
)

C(
  'SIGTERM with workers connected but idle exits 0 at once',
  limit(async () => {
    const s = await serve(['--grace-ms', '5000', '--log-level', 'silent'])
    const w = await connectWorker(s.url, { name: 'idle', reconnect: false })
    try {
      w.registerFunction('idle::fn', () => 1)
      const signalledAt = Date.now()
      s.child.kill('SIGTERM')
      const { code, at } = await exitWithin(s, 20_000)
      assert.is(code, 0)
      assert.ok(at - signalledAt < 2000, `no waiting for the grace period without calls in flight (${at - signalledAt} ms)`)
    } finally {
      w.close()
    }
  }, 90_000),
)

C(
  "a failed call's hint says where the error came from: an engine function's input is described in docs/protocol.md; a function's own error names the worker serving it",
  limit(async () => {
    const s = await serve(['--log-level', 'warn', '--store', 'memory'])
    const w = await connectWorker(s.url, { name: 'thrower', reconnect: false })
    try {
      w.registerFunction('boom::fail', () => {
        throw new Error('out of ink')
      })
      await until(async () => (await w.invoke<{ functions: Array<{ function_id: string }> }>('engine::functions::list', {})).functions.some((f) => f.function_id === 'boom::fail'), 5000, 'boom::fail to be offered')
      const url = ['--url', s.url]
      let r = await outcome(['invoke', 'engine::queue::send', '{}', ...url])
      assert.is(r.code, 1)
      assert.equal(r.lines, [
        "signalbox: engine::queue::send failed: invalid_message: engine::queue::send: 'queue_name' must be 1 to 128 letters, digits or '_', '.', ':', '-', got nothing",
        "hint: docs/protocol.md, section 10 (Engine functions) says what engine::queue::send takes; give it as one JSON argument, quoted for the shell ('signalbox help invoke')",
      ])
      r = await outcome(['invoke', 'engine::workers::info', '{"worker_id":"nobody"}', ...url])
      assert.is(r.code, 1)
      assert.match(r.lines[0], 'signalbox: engine::workers::info failed: not_found: ')
      assert.is(r.lines[1], "hint: 'signalbox ls workers' lists the workers connected")
      r = await outcome(['invoke', 'boom::fail', '{}', ...url])
      assert.is(r.code, 1)
      assert.equal(r.lines, [
        'signalbox: boom::fail failed: invocation_failed: out of ink',
        `hint: the error is boom::fail's own, from the worker serving it (thrower (${w.workerId!.slice(0, 8)})): its handler threw it or answered with it; that worker's log says more`,
      ])
    } finally {
      w.close()
      s.child.kill('SIGTERM')
      await exitWithin(s, 20_000)
    }
  }, 90_000),
)

C(
  'a data folder that cannot be made (/proc/nope) is one line and a hint, at once; one SQLite file is one engine: a second is refused naming it, a lock left by a killed engine is taken over',
  limit(async () => {
    if (existsSync('/proc/self')) {
      const r = await outcome(['serve', '--data-dir', '/proc/nope', '--port', '0', '--http-port', '0'])
      assert.is(r.code, 1)
      assert.equal(r.lines, ['signalbox: cannot keep queues in /proc/nope: the folder cannot be made there', 'hint: give --data-dir a folder this user may write to, or keep queues in memory with --store memory'])
    }
    const dir = mkdtempSync(join(tmpdir(), 'signalbox-lock-'))
    const file = join(dir, 'data', 'queues.sqlite')
    try {
      const first = await serve(['--log-level', 'warn', '--data-dir', join(dir, 'data')])
      assert.is(readFileSync(`${file}.lock`, 'utf8'), `${first.child.pid}\n`, 'the lock holds the pid')
      const r = await outcome(['serve', '--data-dir', join(dir, 'data'), '--host', '127.0.0.1', '--port', '0', '--http-port', '0'])
      assert.is(r.code, 1)
      assert.equal(r.lines, [
        `signalbox: the queue store ${file} is in use by another engine (pid ${first.child.pid}; its lock is ${file}.lock)`,
        "hint: give each engine its own store: signalbox serve --data-dir <folder> (createEngine: store: { sqlite: '<file>' }), or keep its queues in memory with --store memory",
      ])
      // Killed, the first engine leaves its lock behind; the next one takes it over.
      first.child.kill('SIGKILL')
      await exitWithin(first, 20_000)
      assert.ok(existsSync(`${file}.lock`))
      const next = await serve(['--log-level', 'warn', '--data-dir', join(dir, 'data')])
      assert.is(readFileSync(`${file}.lock`, 'utf8'), `${next.child.pid}\n`)
      next.child.kill('SIGTERM')
      assert.is((await exitWithin(next, 20_000)).code, 0)
      assert.not.ok(existsSync(`${file}.lock`), 'stopped, the engine removes its lock')

      // The library: createEngine with the same file twice.
      const a = await createEngine({ store: { sqlite: file }, logLevel: 'silent' })
      try {
        const refused = await createEngine({ store: { sqlite: file }, logLevel: 'silent' }).catch((e: Error) => e)
        assert.instance(refused, StoreOpenError)
        assert.is((refused as Error).message, `the queue store ${file} is in use by another engine of this process`)
      } finally {
        await a.stop()
      }
      const b = await createEngine({ store: { sqlite: file }, logLevel: 'silent' })
      await b.stop()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000),
)

C(
  "the config file takes createEngine's shapes of store and cluster: {\"store\": {\"sqlite\": file}} keeps the queues in that file; a wrong key inside is named",
  limit(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signalbox-shapes-'))
    try {
      writeFileSync(join(dir, 'signalbox.config.json'), JSON.stringify({ store: { sqlite: 'state/jobs.sqlite' } }))
      const s = await serve(['--log-level', 'warn'], { cwd: dir })
      try {
        assert.ok(existsSync(join(dir, 'state', 'jobs.sqlite')), 'the queues are in the file the config names')
        assert.ok(existsSync(join(dir, 'state', 'jobs.sqlite.lock')))
      } finally {
        s.child.kill('SIGTERM')
        assert.is((await exitWithin(s, 20_000)).code, 0)
      }
      writeFileSync(join(dir, 'bad.json'), JSON.stringify({ cluster: { nats: 'nats://127.0.0.1:4222', nmae: 'eu' } }))
      const r = await outcome(['serve', '--config', join(dir, 'bad.json')])
      assert.is(r.code, 2)
      assert.equal(r.lines, [`signalbox: unknown key 'cluster.nmae' in ${join(dir, 'bad.json')}`, "hint: did you mean 'cluster.name'? the keys are 'cluster.nats', 'cluster.name'"])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000),
)

// ---------------------------------------------------------------- auth

/** The lines a command wrote to stderr, and its exit code. */
async function outcome(args: string[], env: Record<string, string> = {}) {
  const r = run(args, { env })
  const { code } = await exitWithin(r, 20_000)
  return { code, lines: r.stderr().split('\n').filter(Boolean), stdout: r.stdout() }
}

C(
  'serve with tokens: --token, SIGNALBOX_TOKEN and a tokens file of hashes and scopes; ls and invoke send --token or SIGNALBOX_TOKEN; no token or a wrong one is one line and a hint',
  limit(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signalbox-auth-'))
    const hash = (t: string) => createHash('sha256').update(t).digest('hex')
    writeFileSync(join(dir, 'tokens.json'), JSON.stringify({ tokens: [{ name: 'reader', sha256: hash('reader-token-1'), scope: { engine: true } }] }))
    const s = await serve(['--log-level', 'warn', '--store', 'memory', '--token', 'admin-token-1', '--tokens-file', join(dir, 'tokens.json')])
    try {
      const url = ['--url', s.url]
      let r = await outcome(['ls', 'workers', ...url])
      assert.is(r.code, 1)
      assert.equal(r.lines, [`signalbox: the engine at ${s.url} requires a token (HTTP 401)`, 'hint: pass --token <token> or set SIGNALBOX_TOKEN'])
      r = await outcome(['ls', 'workers', ...url, '--token', 'not-the-token'])
      assert.is(r.code, 1)
      assert.is(r.lines[0], `signalbox: the engine at ${s.url} did not accept the token from --token (HTTP 401)`)
      assert.match(r.lines[1], 'signalbox token hash')
      r = await outcome(['ls', 'workers', ...url], { SIGNALBOX_TOKEN: 'still-not-it' })
      assert.is(r.lines[0], `signalbox: the engine at ${s.url} did not accept the token from SIGNALBOX_TOKEN (HTTP 401)`)
      // The full token, by flag; the scoped one from the file, by variable.
      r = await outcome(['ls', 'functions', ...url, '--token', 'admin-token-1', '--json'])
      assert.is(r.code, 0, r.lines.join('\n'))
      assert.ok(Array.isArray(JSON.parse(r.stdout)))
      r = await outcome(['invoke', 'engine::workers::list', ...url], { SIGNALBOX_TOKEN: 'reader-token-1' })
      assert.is(r.code, 0, r.lines.join('\n'))
      assert.ok(Array.isArray(JSON.parse(r.stdout).workers))
      // The reader may call engine functions only.
      const w = await connectWorker(s.url, { name: 'greeter', reconnect: false, token: 'admin-token-1' })
      try {
        w.registerFunction('greet', () => 'hello')
        await until(async () => (await w.invoke<{ functions: Array<{ function_id: string }> }>('engine::functions::list', {})).functions.some((f) => f.function_id === 'greet'), 5000, 'greet to be offered')
        r = await outcome(['invoke', 'greet', ...url], { SIGNALBOX_TOKEN: 'reader-token-1' })
        assert.is(r.code, 1)
        assert.match(r.lines[1], 'signalbox: greet failed: forbidden: ')
        assert.is(r.lines[2], "hint: the token's scope does not allow it (docs/security.md)")
        r = await outcome(['invoke', 'greet', ...url, '--token', 'admin-token-1'])
        assert.is(r.code, 0, r.lines.join('\n'))
        assert.is(JSON.parse(r.stdout), 'hello')
      } finally {
        w.close()
      }
      // No token: the worker client does not retry a refusal.
      const refused = await connectWorker(s.url, { reconnect: false, connectTimeoutMs: 5000, logger: false }).catch((e: Error) => e)
      assert.instance(refused, Error)
      assert.match((refused as Error).message, 'HTTP 401')
      // The log names the peer, never the token.
      assert.not.match(s.stderr(), 'not-the-token')
      assert.not.match(s.stderr(), 'still-not-it')
    } finally {
      s.child.kill('SIGTERM')
      await exitWithin(s, 20_000)
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000),
)

C(
  'serve refuses a host open to the network without auth, and says what to pass; --insecure or a token lets it listen',
  limit(async () => {
    const ports = ['--port', '0', '--http-port', '0', '--store', 'memory', '--log-level', 'silent']
    let r = await outcome(['serve', '--host', '0.0.0.0', ...ports])
    assert.is(r.code, 2)
    assert.is(r.lines[0], 'signalbox: refusing to listen on 0.0.0.0 (--host) without auth: anyone who reaches the worker port could register functions, bind routes and call every function')
    assert.match(r.lines[1], 'hint: give workers a token with --token <token>')
    assert.match(r.lines[1], '--insecure')
    r = await outcome(['serve', ...ports], { SIGNALBOX_HOST: '::' })
    assert.is(r.lines[0], 'signalbox: refusing to listen on :: (SIGNALBOX_HOST) without auth: anyone who reaches the worker port could register functions, bind routes and call every function')
    // The inspector bridge has no auth: not on such a host, token or not, unless --insecure.
    r = await outcome(['serve', '--host', '0.0.0.0', ...ports, '--inspect', '--inspect-port', '1'], { SIGNALBOX_TOKEN: 'some-long-token' })
    assert.is(r.code, 2)
    assert.is(r.lines[0], "signalbox: refusing to start the inspector bridge on 0.0.0.0 (--host): it has no auth and relays every actor's events, call data included, to anyone who connects")
    for (const [extra, env] of [[['--insecure'], {}], [[], { SIGNALBOX_TOKEN: 'some-long-token' }], [[], { SIGNALBOX_INSECURE: 'true' }]] as const) {
      const s = await serve([...ports, ...extra], { env, ports: ['--host', '0.0.0.0'] })
      s.child.kill('SIGTERM')
      assert.is((await exitWithin(s, 20_000)).code, 0)
    }
    // Loopback needs nothing.
    const s = await serve([...ports], { ports: ['--host', '127.0.0.1'] })
    s.child.kill('SIGTERM')
    assert.is((await exitWithin(s, 20_000)).code, 0)
  }, 90_000),
)

C(
  'bad token settings are refused naming the file and the field, or the flag',
  limit(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signalbox-auth-'))
    try {
      const file = join(dir, 'tokens.json')
      const cases: Array<[unknown, string]> = [
        [{ tokens: [{ name: 'a', sha256: 'abc' }] }, `tokens[0].sha256: 'sha256' must be 64 hex digits (signalbox token hash <token> prints them)`],
        [{ tokens: [{ name: 'a', token: 'long-enough-token', scope: { invoke: 'billing::*' } }] }, `tokens[0].scope.invoke: 'invoke' must be a list of patterns such as ["billing::*"], got 'billing::*'`],
        [{ tokens: [{ name: 'a', sha256: 'a'.repeat(64), scope: { admin: true } }] }, "tokens[0].scope.admin: unknown scope field 'admin' (known: register, invoke, trigger_types, queues, provide_trigger_types, engine)"],
        [{ token: [] }, "tokens: 'tokens' is required: a list of { name, token or sha256, scope? }"],
        [{ tokens: [{ name: 'a', token: 'a-long-enough-token' }], extra: 1 }, "extra: unknown field 'extra' (known: tokens)"],
        [{ tokens: [] }, "tokens: 'tokens' is empty: no connection could ever be let in; list at least one { name, token or sha256, scope? }"],
      ]
      for (const [content, why] of cases) {
        writeFileSync(file, JSON.stringify(content))
        const r = await outcome(['serve', '--port', '0', '--http-port', '0', '--store', 'memory', '--tokens-file', file])
        assert.is(r.code, 2)
        assert.is(r.lines[0], `signalbox: the tokens file ${file} (--tokens-file) is refused: ${why}`)
        assert.match(r.lines[1], 'hint: a tokens file holds')
      }
      writeFileSync(file, '{"tokens": [')
      let r = await outcome(['serve', '--store', 'memory'], { SIGNALBOX_TOKENS_FILE: file })
      assert.match(r.lines[0], `signalbox: cannot read the tokens file ${file} (SIGNALBOX_TOKENS_FILE): not valid JSON`)
      r = await outcome(['serve', '--store', 'memory', '--token', 'short'])
      assert.is(r.lines[0], 'signalbox: --token must be a token of at least 8 characters without spaces, got 5 characters')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000),
)

C(
  'token hash prints the SHA-256 a tokens file holds; token new prints a fresh token and its hash',
  limit(async () => {
    let r = await outcome(['token', 'hash', 'correct horse'])
    assert.is(r.code, 0)
    assert.is(r.stdout, createHash('sha256').update('correct horse').digest('hex') + '\n')
    r = await outcome(['token', 'new'])
    const m = /^token: {2}(\S+)\nsha256: ([0-9a-f]{64})\n$/.exec(r.stdout)
    assert.ok(m, r.stdout)
    assert.ok(m![1].length >= 40)
    assert.is(m![2], createHash('sha256').update(m![1]).digest('hex'))
    assert.is.not((await outcome(['token', 'new'])).stdout, r.stdout)
    r = await outcome(['token', 'hsah', 'x'])
    assert.is(r.code, 2)
    assert.equal(r.lines, ["signalbox: token has no 'hsah x'", "hint: did you mean 'signalbox token hash'? it takes new, or hash <token>"])
  }, 60_000),
)

C(
  'the inspector bridge listens on the engine host only, and a port in use is one line naming the setting',
  limit(async () => {
    const holder = createServer()
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r))
    const taken = (holder.address() as AddressInfo).port
    try {
      const r = await outcome(['serve', '--port', '0', '--http-port', '0', '--store', 'memory', '--inspect', '--inspect-port', String(taken)])
      assert.is(r.code, 1)
      assert.equal(r.lines, [
        `signalbox: the inspector bridge cannot listen on 127.0.0.1:${taken}: the port is already in use (is another signalbox running?)`,
        'hint: stop what holds it, or give --inspect-port another port',
      ])
    } finally {
      holder.close()
    }
    const [free] = await freePorts(1)
    const s = await serve(['--store', 'memory', '--log-level', 'silent', '--inspect', '--inspect-port', String(free)])
    try {
      await until(() => s.stderr().includes(`inspector: open http://localhost:${free} in a browser`), 10_000, 'the inspector line')
      const page = await fetch(`http://127.0.0.1:${free}/`)
      assert.is(page.status, 200)
      // Not on this machine's other addresses.
      const other = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)
      if (other) {
        const err = await fetch(`http://${other.address}:${free}/`).then(() => undefined, (e: Error & { cause?: { code?: string } }) => e.cause?.code)
        assert.is(err, 'ECONNREFUSED', `the bridge answered on ${other.address}`)
      }
    } finally {
      s.child.kill('SIGTERM')
      await exitWithin(s, 20_000)
    }
  }, 90_000),
)

C.run()
