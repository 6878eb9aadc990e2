#!/usr/bin/env -S node --min-semi-space-size=8
/**
 * The signalbox command line: `serve` runs the engine as a server; `ls` and `invoke` talk
 * to a running one through its engine functions; `help` and `--version` say what it is.
 *
 * Every error is one line on standard error, `signalbox: <what was wrong>`, then one line
 * `hint: <what fixes it>`; the exit code is 2 for a command line or configuration that
 * makes no sense, 1 for a command that failed.
 */
import { randomBytes } from 'node:crypto'
import { accessSync, constants, readFileSync } from 'node:fs'
// What a command does not need is not loaded: the engine (and with it XState, pino, the
// NATS client, SQLite) only for `serve`, the WebSocket client only for `ls` and `invoke`,
// so that `--version`, `help` and a refused command line answer at once.
import type { Engine } from './adapters/engine.js'
import { ListenError } from './adapters/listen-error.js'
import { ClusterOpenError, StoreOpenError } from './adapters/open-errors.js'
import { makeFolder } from './adapters/store-files.js'
import { tokenHash } from './core/auth.js'
import { closest } from './core/closest.js'
import { defaultOf } from './core/options.js'
import { readArgs, type OptionSpecs } from './cli/args.js'
import { CliError } from './cli/cli-error.js'
import { onParentGone, startedByNpm } from './cli/parent-watch.js'
import { COMMANDS, helpOf, overview, type Command } from './cli/help.js'
import { LISTS, workerLabel, type Row } from './cli/lists.js'
import { invokeHint, namesWorkers } from './cli/invoke-hint.js'
import { engineUrl, readConfigFile, resolveServeConfig, SERVE_SETTINGS, TOKEN_ENV, URL_ENV, type ServeConfig } from './cli/serve-config.js'
import { startInspectorBridge, type InspectorBridge } from './cli/inspector-bridge.js'
import { formatTable } from './cli/table.js'
import { InvocationError, type WorkerClient } from './client/worker.js'

const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version

const env = process.env as Record<string, string | undefined>
const print = (text: string) => process.stdout.write(text)
const note = (text: string) => process.stderr.write(`signalbox: ${text}\n`)

// ---------------------------------------------------------------------------------------
// serve

/** Takes `--inspect [ws://…]` out of the arguments (its value is optional, which parseArgs cannot say). */
function takeInspect(args: string[]): { rest: string[]; inspect?: string | true } {
  const rest: string[] = []
  let inspect: string | true | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === '--inspect') {
      const next = args[i + 1]
      if (next !== undefined && /^wss?:\/\//.test(next)) (inspect = next), i++
      else inspect = true
    } else if (a.startsWith('--inspect=')) inspect = a.slice('--inspect='.length)
    else rest.push(a)
  }
  return { rest, inspect }
}

const serveSpecs: OptionSpecs = {
  ...Object.fromEntries(SERVE_SETTINGS.filter((s) => s.path !== 'inspect').map((s) => [s.flag.slice(2), { type: 'string' as const }])),
  token: { type: 'string', multiple: true },
  insecure: { type: 'boolean' },
  // Taken out by takeInspect before parsing; named here for "did you mean".
  inspect: { type: 'boolean' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
}

/** The config `serve` runs with, from its flags, the environment and the config file. */
function serveConfig(argv: string[]): ServeConfig | undefined {
  const { rest, inspect } = takeInspect(argv)
  const { values, positionals } = readArgs('serve', rest, serveSpecs)
  if (values.help) return void print(helpOf('serve'))
  if (positionals.length > 0) throw new CliError(`serve takes no arguments, got '${positionals.join(' ')}'`, "options start with '--'; 'signalbox help serve' lists them")
  const flags: Record<string, string | string[] | true | undefined> = { '--inspect': inspect }
  for (const s of SERVE_SETTINGS) if (s.path !== 'inspect') flags[s.flag] = values[s.flag.slice(2)] as string | string[] | true | undefined
  const file = readConfigFile(values.config as string | undefined, env, process.cwd())
  return resolveServeConfig({ flags, env, file, cwd: process.cwd() })
}

/** The data folder, made if it is not there; a CliError naming the setting when it cannot be used. */
function prepareDataDir(config: ServeConfig): void {
  try {
    // Not Node's recursive mkdir: on /proc and its like it never returns.
    makeFolder(config.dataDir)
    accessSync(config.dataDir, constants.W_OK)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const why =
      e.code === 'EEXIST' || e.code === 'ENOTDIR'
        ? 'it is a file, not a folder'
        : e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS'
          ? 'it is not writable'
          : e.code === 'ENOENT'
            ? 'the folder cannot be made there'
            : e.message
    const key = config.origins.dataDir.key
    throw new CliError(`cannot keep queues in ${config.dataDir}: ${why}`, `give ${key} a folder this user may write to, or keep queues in memory with --store memory`, 1)
  }
}

async function serve(argv: string[]): Promise<void> {
  const config = serveConfig(argv)
  if (!config) return
  if (typeof config.options.store === 'object' && 'sqlite' in config.options.store) prepareDataDir(config)
  const [{ createEngine }, { createLogger }] = await Promise.all([import('./adapters/engine.js'), import('./adapters/logger.js')])
  const logger = createLogger(config.options.logLevel)

  let bridge: InspectorBridge | undefined
  let inspector: { inspect: unknown; stop(): void } | undefined
  let engine: Engine
  try {
    if (config.inspect) {
      // Loaded only when asked for: most starts need no inspector.
      const { createWebSocketInspector } = await import('@statelyai/inspect')
      const host = config.options.host ?? (defaultOf('host', 'serve') as string)
      if (!config.inspect.url) bridge = await startInspectorBridge(host, config.inspectPort)
      const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
      inspector = createWebSocketInspector({ url: config.inspect.url ?? `ws://${reachable}:${config.inspectPort}` })
    }
    // The console links to the local inspector's page (an inspector elsewhere has a page the engine cannot know).
    engine = await createEngine({ ...config.options, logger, inspect: inspector?.inspect as never, ...(bridge ? { console: { inspectorUrl: bridge.url } } : {}) })
  } catch (err) {
    inspector?.stop()
    bridge?.stop()
    if (err instanceof StoreOpenError || err instanceof ClusterOpenError) throw new CliError(err.message, err.hint, 1)
    if (err instanceof ListenError) {
      // Name the setting as the person set it: the flag, the variable or the file's key.
      const origin = config.origins[err.option] ?? config.origins[err.option.replace(/^http\./, '')]
      throw new CliError(err.headline.replace(/^The /, 'the '), err.hint(origin?.key), 1)
    }
    throw err
  }

  let stopping = false
  /** Stops the engine, then exits; `why` goes into the 'stopping' log line. */
  const stop = (why: { signal: NodeJS.Signals } | { reason: string }) => {
    if (stopping) return
    stopping = true
    logger.info(why, 'stopping')
    engine.stop().then(
      () => {
        inspector?.stop()
        bridge?.stop()
        process.exit(0)
      },
      (err) => {
        logger.error({ err: String(err) }, 'stop failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => stop({ signal: 'SIGINT' }))
  process.on('SIGTERM', () => stop({ signal: 'SIGTERM' }))
  // Under npm, npm's SIGTERM reaches the shell between it and this process, not this process
  // (cli/parent-watch.ts); a shell gone while the engine started is found at once.
  if (startedByNpm()) onParentGone(() => stop({ reason: 'parent exited' }))
  // Ready only once a signal would be handled: a supervisor may signal right after this line.
  print(`signalbox ready ${engine.url} ${engine.httpUrl}\n`)
  if (engine.consoleUrl) logger.info({ url: engine.consoleUrl }, 'operator console')
  if (bridge) note(`inspector: open ${bridge.url} in a browser`)
  else if (inspector) note(`inspector: sending to ${config.inspect!.url}`)
}

// ---------------------------------------------------------------------------------------
// ls and invoke: a worker for one request

const clientSpecs: OptionSpecs = { url: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' } }

/** The token for the engine: `--token`, else `SIGNALBOX_TOKEN`. */
const tokenOf = (flag: unknown): { token?: string; key: string } =>
  typeof flag === 'string' ? { token: flag, key: '--token' } : env[TOKEN_ENV] ? { token: env[TOKEN_ENV], key: TOKEN_ENV } : { key: '--token' }

/** Where the engine is, and the setting that said so (for the hint when it cannot be reached); a CliError when it is not a ws:// URL. */
function target(flag: string | undefined) {
  const file = flag === undefined && !env[URL_ENV] ? readConfigFile(undefined, env, process.cwd()) : undefined
  const { url, key } = engineUrl(flag, env, file)
  if (!/^wss?:\/\/[^\s/]+/.test(url)) throw new CliError(`${key} must be a ws:// URL such as ws://127.0.0.1:49134, got '${url}'`, "the engine's worker endpoint is on the ready line of 'signalbox serve'")
  return { url, key }
}

/** Connects to a running engine as a worker for one request, with a clear error when it cannot. */
async function reach({ url, key }: { url: string; key: string }, auth: { token?: string; key: string }): Promise<WorkerClient> {
  const { connectWorker } = await import('./client/ws-client.js')
  try {
    return await connectWorker(url, { reconnect: false, connectTimeoutMs: 0, logger: false, token: auth.token })
  } catch (err) {
    if (/HTTP 401/.test((err as Error).message)) {
      if (auth.token === undefined) throw new CliError(`the engine at ${url} requires a token (HTTP 401)`, `pass --token <token> or set ${TOKEN_ENV}`, 1)
      throw new CliError(`the engine at ${url} did not accept the token from ${auth.key} (HTTP 401)`, `check it against the engine's --token or tokens file ('signalbox token hash <token>' prints the sha256 a tokens file holds)`, 1)
    }
    const why = (err as Error).message.replace(/^Cannot (reach|connect to) the engine at \S+: /, '').replace(/; gave up after \d+ ms and \d+ attempts?$/, '')
    const refused = /ECONNREFUSED/.test(why)
    throw new CliError(
      `cannot reach the engine at ${url}: ${refused ? 'nothing is listening there' : why}`,
      `is it running? Start one with 'npx signalbox serve' (or 'npm start' in a clone), or point ${key === URL_ENV ? URL_ENV : '--url'} at it`,
      1,
    )
  }
}

async function ls(args: string[]): Promise<void> {
  const { values, positionals } = readArgs('ls', args, { ...clientSpecs, json: { type: 'boolean' } })
  if (values.help) return void print(helpOf('ls'))
  const names = Object.keys(LISTS)
  const what = positionals[0]
  if (what === undefined) throw new CliError('ls needs a list to show', `one of ${names.join(', ')}, e.g. 'signalbox ls workers'`)
  if (!Object.hasOwn(LISTS, what)) {
    const guess = closest(what, names)
    throw new CliError(`there is no list '${what}'`, `${guess ? `did you mean '${guess}'? ` : ''}the lists are ${names.join(', ')}`)
  }
  if (positionals.length > 1) throw new CliError(`ls shows one list, got '${positionals.join(' ')}'`, `e.g. 'signalbox ls ${what}'`)
  const list = LISTS[what]
  const engine = target(values.url as string | undefined)
  const worker = await reach(engine, tokenOf(values.token))
  try {
    const [answer, workers] = await Promise.all([
      worker.invoke<Record<string, Row[]>>(list.fn, list.input ?? {}),
      list.fn === LISTS.workers.fn ? undefined : worker.invoke<{ workers: Row[] }>(LISTS.workers.fn, {}),
    ])
    // This command's own connection is not one of the engine's workers.
    const rows = answer[list.key].filter((r) => list !== LISTS.workers || r.worker_id !== worker.workerId)
    if (values.json) return void print(JSON.stringify(rows, null, 2) + '\n')
    if (rows.length === 0) note(`the engine at ${engine.url} has no ${what} yet`)
    const label = workerLabel(new Map((workers?.workers ?? rows).map((w) => [w.worker_id as string, w.name as string | undefined])))
    // One of a cluster: each row says which engine it lives on.
    const columns = rows.some((r) => r.engine_id !== undefined) ? [...list.columns, ['ENGINE', (r: Row) => r.engine_id] as const] : list.columns
    print(formatTable(columns.map(([header]) => header), rows.map((r) => columns.map(([, cell]) => cell(r, { worker: label })))))
  } finally {
    worker.close()
  }
}

/** The workers serving `function_id`, as the lists name them; undefined when the engine cannot say. */
async function servingWorkers(worker: WorkerClient, function_id: string): Promise<string[] | undefined> {
  try {
    const [{ functions }, { workers }] = await Promise.all([
      worker.invoke<{ functions: Row[] }>(LISTS.functions.fn, {}, { timeout_ms: 5000 }),
      worker.invoke<{ workers: Row[] }>(LISTS.workers.fn, {}, { timeout_ms: 5000 }),
    ])
    const label = workerLabel(new Map(workers.map((w) => [w.worker_id as string, w.name as string | undefined])))
    return ((functions.find((f) => f.function_id === function_id)?.workers ?? []) as string[]).map(label)
  } catch {
    return undefined
  }
}

async function invoke(args: string[]): Promise<void> {
  const { values, positionals } = readArgs('invoke', args, { ...clientSpecs, 'timeout-ms': { type: 'string' } })
  if (values.help) return void print(helpOf('invoke'))
  const [function_id, json, ...more] = positionals
  const quoting = `give the input as one argument, quoted for the shell: signalbox invoke ${function_id ?? '<function_id>'} '{"name":"Ada"}'`
  if (function_id === undefined) throw new CliError('invoke needs a function id', "e.g. 'signalbox invoke engine::workers::list'; 'signalbox ls functions' lists them")
  if (more.length > 0) throw new CliError(`invoke takes a function id and one JSON argument, got ${positionals.length} arguments`, quoting)
  // Everything on the command line is checked before anything is said or sent.
  const rawTimeout = values['timeout-ms'] as string | undefined
  const timeout_ms = rawTimeout === undefined ? 30_000 : Number(rawTimeout)
  if (rawTimeout !== undefined && (!/^\d+$/.test(rawTimeout) || timeout_ms < 1 || timeout_ms > 2_147_483_647)) {
    throw new CliError(`--timeout-ms must be a whole number from 1 to 2147483647, got '${rawTimeout}'`, 'how long the call may take, in milliseconds')
  }
  let data: unknown = {}
  if (json !== undefined) {
    try {
      data = JSON.parse(json)
    } catch (err) {
      throw new CliError(`the input is not valid JSON: ${(err as Error).message}`, quoting)
    }
  }
  const engine = target(values.url as string | undefined)
  if (json === undefined) note(`no input given: invoking ${function_id} with {}`)
  const worker = await reach(engine, tokenOf(values.token))
  try {
    const result = await worker.invoke(function_id, data, { timeout_ms })
    print(JSON.stringify(result ?? null, null, 2) + '\n')
  } catch (err) {
    if (!(err instanceof InvocationError)) throw err
    const servedBy = namesWorkers(function_id, err) ? await servingWorkers(worker, function_id) : undefined
    throw new CliError(`${function_id} failed: ${err.code}: ${err.message}`, invokeHint(function_id, err, servedBy), 1)
  } finally {
    worker.close()
  }
}

// ---------------------------------------------------------------------------------------
// token

function token(args: string[]): void {
  const { values, positionals } = readArgs('token', args, { help: { type: 'boolean', short: 'h' } })
  if (values.help) return void print(helpOf('token'))
  const [what, text, ...more] = positionals
  if (what === 'new' && text === undefined) {
    const made = randomBytes(32).toString('base64url')
    return void print(`token:  ${made}\nsha256: ${tokenHash(made)}\n`)
  }
  if (what === 'hash' && text !== undefined && more.length === 0) return void print(`${tokenHash(text)}\n`)
  if (what === 'hash') throw new CliError(text === undefined ? 'token hash needs the token to hash' : `token hash takes one token, got ${positionals.length - 1}`, 'e.g. signalbox token hash "$SIGNALBOX_TOKEN"')
  if (what === undefined) throw new CliError('token needs new or hash', "'signalbox token new' makes one; 'signalbox token hash <token>' hashes one")
  const guess = closest(what, ['new', 'hash'])
  throw new CliError(`token has no '${positionals.join(' ')}'`, `${guess ? `did you mean 'signalbox token ${guess}'? ` : ''}it takes new, or hash <token>`)
}

// ---------------------------------------------------------------------------------------

const isCommand = (word: string): word is Command => (COMMANDS as readonly string[]).includes(word)

function help(args: string[]): void {
  const [command, ...more] = args
  if (command === undefined) return void print(overview(VERSION))
  if (!isCommand(command) || more.length > 0) {
    const guess = closest(command, COMMANDS)
    throw new CliError(`there is no command '${args.join(' ')}'`, `${guess ? `did you mean 'signalbox help ${guess}'? ` : ''}the commands are ${COMMANDS.join(', ')}`)
  }
  print(helpOf(command))
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === undefined) throw new CliError('missing command', "e.g. 'signalbox serve'; 'signalbox help' lists the commands")
  if (command === '-h' || command === '--help') return help(rest.length === 0 ? [] : rest)
  if (command === '-v' || command === '--version' || command === 'version') return void print(`${VERSION}\n`)
  if (command === 'help') return help(rest)
  if (command === 'serve') return serve(rest)
  if (command === 'ls') return ls(rest)
  if (command === 'invoke') return invoke(rest)
  if (command === 'token') return token(rest)
  const option = command.startsWith('-')
  const guess = option ? closest(command, ['--help', '--version']) : closest(command, COMMANDS)
  const what = option ? `unknown option '${command}'` : `unknown command '${command}'`
  throw new CliError(what, `${guess ? `did you mean '${guess}'? ` : ''}'signalbox help' lists the commands`)
}

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof CliError) {
    process.stderr.write(err.render())
    process.exit(err.exitCode)
  }
  process.stderr.write(`signalbox: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
