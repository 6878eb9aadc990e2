#!/usr/bin/env node
/**
 * The signalbox command line: `serve` runs the engine as a server; `ls` and `invoke` talk
 * to a running one through its engine functions; `help` and `--version` say what it is.
 *
 * Every error is one line on standard error, `signalbox: <what was wrong>`, then one line
 * `hint: <what fixes it>`; the exit code is 2 for a command line or configuration that
 * makes no sense, 1 for a command that failed.
 */
import { readFileSync } from 'node:fs'
import { createEngine } from './adapters/engine.js'
import { ListenError } from './adapters/listen-error.js'
import { createLogger } from './adapters/logger.js'
import { closest } from './core/closest.js'
import { readArgs, type OptionSpecs } from './cli/args.js'
import { CliError } from './cli/cli-error.js'
import { COMMANDS, helpOf, overview, type Command } from './cli/help.js'
import { LISTS, workerLabel, type Row } from './cli/lists.js'
import { engineUrl, readConfigFile, resolveServeConfig, SERVE_SETTINGS, URL_ENV, type ServeConfig } from './cli/serve-config.js'
import { formatTable } from './cli/table.js'
import { connectWorker } from './client/ws-client.js'
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
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
}

/** The config `serve` runs with, from its flags, the environment and the config file. */
function serveConfig(argv: string[]): ServeConfig | undefined {
  const { rest, inspect } = takeInspect(argv)
  const { values, positionals } = readArgs('serve', rest, serveSpecs)
  if (values.help) return void print(helpOf('serve'))
  if (positionals.length > 0) throw new CliError(`serve takes no arguments, got '${positionals.join(' ')}'`, "options start with '--'; 'signalbox help serve' lists them")
  const flags: Record<string, string | true | undefined> = { '--inspect': inspect }
  for (const s of SERVE_SETTINGS) if (s.path !== 'inspect') flags[s.flag] = values[s.flag.slice(2)] as string | undefined
  const file = readConfigFile(values.config as string | undefined, env, process.cwd())
  return resolveServeConfig({ flags, env, file, cwd: process.cwd() })
}

async function serve(argv: string[]): Promise<void> {
  const config = serveConfig(argv)
  if (!config) return
  const logger = createLogger(config.options.logLevel)

  let bridge: { stop(): void } | undefined
  let inspector: { inspect: unknown; stop(): void } | undefined
  if (config.inspect) {
    // Loaded only when asked for: most starts need no inspector.
    const { createWebSocketInspector } = await import('@statelyai/inspect')
    if (!config.inspect.url) bridge = (await import('@statelyai/inspect/server')).createInspectorServer({ port: config.inspectPort, autoOpen: false })
    inspector = createWebSocketInspector({ url: config.inspect.url ?? `ws://localhost:${config.inspectPort}` })
  }
  let engine: Awaited<ReturnType<typeof createEngine>>
  try {
    engine = await createEngine({ ...config.options, logger, inspect: inspector?.inspect as never })
  } catch (err) {
    inspector?.stop()
    bridge?.stop()
    if (err instanceof ListenError) {
      // Name the setting as the person set it: the flag, the variable or the file's key.
      const origin = config.origins[err.option] ?? config.origins[err.option.replace(/^http\./, '')]
      throw new CliError(err.headline.replace(/^The /, 'the '), err.hint(origin?.key), 1)
    }
    throw err
  }

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'stopping')
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
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
  // Ready only once a signal would be handled: a supervisor may signal right after this line.
  print(`signalbox ready ${engine.url} ${engine.httpUrl}\n`)
  if (bridge) note(`inspector: open http://localhost:${config.inspectPort} in a browser`)
  else if (inspector) note(`inspector: sending to ${config.inspect!.url}`)
}

// ---------------------------------------------------------------------------------------
// ls and invoke: a worker for one request

const clientSpecs: OptionSpecs = { url: { type: 'string' }, help: { type: 'boolean', short: 'h' } }

/** Where the engine is, and the setting that said so (for the hint when it cannot be reached). */
function target(flag: string | undefined) {
  const file = flag === undefined && !env[URL_ENV] ? readConfigFile(undefined, env, process.cwd()) : undefined
  return engineUrl(flag, env, file)
}

/** Connects to a running engine as a worker for one request, with a clear error when it cannot. */
async function reach({ url, key }: { url: string; key: string }): Promise<WorkerClient> {
  if (!/^wss?:\/\/[^\s/]+/.test(url)) throw new CliError(`${key} must be a ws:// URL such as ws://127.0.0.1:49134, got '${url}'`, "the engine's worker endpoint is on the ready line of 'signalbox serve'")
  try {
    return await connectWorker(url, { reconnect: false, connectTimeoutMs: 0, logger: false })
  } catch (err) {
    const why = (err as Error).message.replace(/^Cannot reach the engine at \S+: /, '')
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
  const worker = await reach(target(values.url as string | undefined))
  try {
    const [answer, workers] = await Promise.all([
      worker.invoke<Record<string, Row[]>>(list.fn, list.input ?? {}),
      list.fn === LISTS.workers.fn ? undefined : worker.invoke<{ workers: Row[] }>(LISTS.workers.fn, {}),
    ])
    // This command's own connection is not one of the engine's workers.
    const rows = answer[list.key].filter((r) => list !== LISTS.workers || r.worker_id !== worker.workerId)
    if (values.json) return void print(JSON.stringify(rows, null, 2) + '\n')
    const label = workerLabel(new Map((workers?.workers ?? rows).map((w) => [w.worker_id as string, w.name as string | undefined])))
    print(formatTable(list.columns.map(([header]) => header), rows.map((r) => list.columns.map(([, cell]) => cell(r, { worker: label })))))
  } finally {
    worker.close()
  }
}

async function invoke(args: string[]): Promise<void> {
  const { values, positionals } = readArgs('invoke', args, { ...clientSpecs, 'timeout-ms': { type: 'string' } })
  if (values.help) return void print(helpOf('invoke'))
  const [function_id, json, ...more] = positionals
  const quoting = `give the input as one argument, quoted for the shell: signalbox invoke ${function_id ?? '<function_id>'} '{"name":"Ada"}'`
  if (function_id === undefined) throw new CliError('invoke needs a function id', "e.g. 'signalbox invoke engine::workers::list'; 'signalbox ls functions' lists them")
  if (more.length > 0) throw new CliError(`invoke takes a function id and one JSON argument, got ${positionals.length} arguments`, quoting)
  let data: unknown = {}
  if (json === undefined) note(`no input given: invoking ${function_id} with {}`)
  else {
    try {
      data = JSON.parse(json)
    } catch (err) {
      throw new CliError(`the input is not valid JSON: ${(err as Error).message}`, quoting)
    }
  }
  const rawTimeout = values['timeout-ms'] as string | undefined
  const timeout_ms = rawTimeout === undefined ? 30_000 : Number(rawTimeout)
  if (rawTimeout !== undefined && (!/^\d+$/.test(rawTimeout) || timeout_ms < 1 || timeout_ms > 2_147_483_647)) {
    throw new CliError(`--timeout-ms must be a whole number from 1 to 2147483647, got '${rawTimeout}'`, 'how long the call may take, in milliseconds')
  }
  const worker = await reach(target(values.url as string | undefined))
  try {
    const result = await worker.invoke(function_id, data, { timeout_ms })
    print(JSON.stringify(result ?? null, null, 2) + '\n')
  } catch (err) {
    if (!(err instanceof InvocationError)) throw err
    const hint =
      err.details ??
      (err.code === 'function_not_found' ? "'signalbox ls functions' lists the functions offered" : err.code === 'invocation_timeout' ? 'give it longer with --timeout-ms' : undefined)
    throw new CliError(`${function_id} failed: ${err.code}: ${err.message}`, hint, 1)
  } finally {
    worker.close()
  }
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
