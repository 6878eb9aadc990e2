#!/usr/bin/env node
/**
 * The signalbox command line: `serve` runs the engine as a server; `ls` and `invoke` talk
 * to a running one through its engine functions.
 */
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createWebSocketInspector } from '@statelyai/inspect'
import { createInspectorServer } from '@statelyai/inspect/server'
import { createEngine } from './adapters/engine.js'
import { createLogger } from './adapters/logger.js'
import { defaultOf, OPTION_TABLE, resolveEngineOptions, type EngineOptions, type LogLevel } from './core/options.js'
import { formatTable } from './cli/table.js'
import { connectWorker } from './client/ws-client.js'
import { InvocationError, type WorkerClient } from './client/worker.js'

/** The `serve` flags with their defaults and meanings, from the table of engine options. */
const serveFlags = OPTION_TABLE.filter((o) => o.flag !== undefined)
const serveHelp = serveFlags
  .map((o) => {
    const head = `  ${o.flag} ${o.path === 'inspect' ? '[ws://…]' : '<value>'}`
    const fallback = o.serve === undefined ? '' : ` (default ${o.serve})`
    return `${head.padEnd(34)} ${o.meaning.replace(/`/g, '')}${fallback}`
  })
  .join('\n')

const usage = `Usage: signalbox <command> [options]

Commands:
  serve                              Run the engine: workers on WebSocket, http triggers on HTTP
  ls workers|functions|triggers|types  List what a running engine has
  invoke <function_id> [json]        Call a function and print its result

Options for ls and invoke:
  --url <ws://host:port>  The engine's worker endpoint (default ws://127.0.0.1:49134)
  --timeout-ms <number>   invoke: how long the call may take (default 30000)

Options for serve:
${serveHelp}
  --inspect-port <number>            With --inspect alone: the port of the local inspector bridge (default 8080)
  -h, --help                         Show this text
`

/** Thrown for a command line that makes no sense: usage, exit code 2. */
class UsageError extends Error {}

function integer(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got '${value}'`)
  }
  return Number(value)
}

/** Takes `--inspect [ws://…]` out of the arguments (its value is optional, which parseArgs cannot say). */
function takeInspect(args: string[]): { rest: string[]; inspect?: { url?: string } } {
  const rest: string[] = []
  let inspect: { url?: string } | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === '--inspect') {
      const next = args[i + 1]
      if (next !== undefined && /^wss?:\/\//.test(next)) (inspect = { url: next }), i++
      else inspect = {}
    } else if (a.startsWith('--inspect=')) {
      const url = a.slice('--inspect='.length)
      if (!/^wss?:\/\/\S+$/.test(url)) throw new UsageError(`--inspect takes a ws:// or wss:// URL, got '${url}'`)
      inspect = { url }
    } else rest.push(a)
  }
  return { rest, inspect }
}

/** The flag of an option path (`http.port` → `--http-port`). */
const flagOf = (path: string) => serveFlags.find((o) => o.path === path)?.flag

/** Engine options from `serve`'s flags: each flag's value, or the table's `serve` default. */
function serveOptions(values: Record<string, string | boolean | undefined>): EngineOptions {
  const given = (path: string) => values[flagOf(path)!.slice(2)] as string | undefined
  const text = (path: string) => given(path) ?? (defaultOf(path, 'serve') as string)
  // Text that is not a number goes to the schema as it came, which refuses it naming what it expects.
  const number = (path: string) => {
    const raw = given(path)
    if (raw === undefined) return defaultOf(path, 'serve') as number
    return (/^-?\d+$/.test(raw) ? Number(raw) : raw) as number
  }
  const store = text('store')
  if (store !== 'sqlite' && store !== 'memory') throw new UsageError(`--store must be sqlite or memory, got '${store}'`)
  const dataDir = text('dataDir')
  if (dataDir === '') throw new UsageError('--data-dir must not be empty')
  return {
    host: text('host'),
    port: number('port'),
    http: { port: number('http.port'), maxBodyBytes: number('http.maxBodyBytes'), timeoutMs: number('http.timeoutMs') },
    store: store === 'memory' ? 'memory' : { sqlite: join(resolve(dataDir), 'queues.sqlite') },
    deduplicationWindowSeconds: number('deduplicationWindowSeconds'),
    registrationTimeoutMs: number('registrationTimeoutMs'),
    invocationTimeoutMs: number('invocationTimeoutMs'),
    graceMs: number('graceMs'),
    heartbeatMs: number('heartbeatMs'),
    maxPayload: number('maxPayload'),
    logLevel: text('logLevel') as LogLevel,
  }
}

/** A createEngine refusal (`option 'http.port' must be …, got 70000`) said of the flag that caused it (`--http-port must be …, got '70000'`). */
function asFlagError(err: Error): UsageError {
  const message = err.message
    .replace(/^createEngine: /, '')
    .replace(/^option '([^']+)'/, (whole, path: string) => flagOf(path) ?? whole)
    .replace(/, got (-?\d+)$/, ", got '$1'")
  return new UsageError(message)
}

async function serve(argv: string[]): Promise<void> {
  const { rest: args, inspect } = takeInspect(argv)
  let values
  try {
    ;({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(serveFlags.filter((o) => o.path !== 'inspect').map((o) => [o.flag!.slice(2), { type: 'string' as const }])),
        'inspect-port': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.help) {
    process.stdout.write(usage)
    return
  }
  const options = serveOptions(values)
  try {
    resolveEngineOptions(options)
  } catch (err) {
    if (err instanceof TypeError || err instanceof RangeError) throw asFlagError(err)
    throw err
  }
  const inspectPort = integer('inspect-port', values['inspect-port'] as string | undefined, 8080, 1, 65535)
  const logger = createLogger(options.logLevel)

  let bridge: { stop(): void } | undefined
  let inspector: ReturnType<typeof createWebSocketInspector> | undefined
  if (inspect) {
    if (!inspect.url) bridge = createInspectorServer({ port: inspectPort, autoOpen: false })
    inspector = createWebSocketInspector({ url: inspect.url ?? `ws://localhost:${inspectPort}` })
  }
  const engine = await createEngine({ ...options, logger, inspect: inspector?.inspect })

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
  process.stdout.write(`signalbox ready ${engine.url} ${engine.httpUrl}\n`)
  if (bridge) process.stderr.write(`signalbox: inspector: open http://localhost:${inspectPort} in a browser\n`)
  else if (inspector) process.stderr.write(`signalbox: inspector: sending to ${inspect!.url}\n`)
}

/** Connects to a running engine as a worker for one request, with a clear error when it cannot. */
async function reach(url: string): Promise<WorkerClient> {
  try {
    return await connectWorker(url, { reconnect: false })
  } catch (err) {
    throw new Error(`cannot reach the engine at ${url}: ${(err as Error).message.replace(/^Cannot reach the engine at \S+: /, '')}`)
  }
}

function clientArgs(args: string[], extra: Record<string, { type: 'string' }> = {}) {
  try {
    return parseArgs({ args, strict: true, allowPositionals: true, options: { url: { type: 'string', default: 'ws://127.0.0.1:49134' }, help: { type: 'boolean', short: 'h' }, ...extra } })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

type Row = Record<string, any>
const lists = {
  workers: { fn: 'engine::workers::list', key: 'workers', headers: ['WORKER_ID', 'NAME', 'RUNTIME', 'PID', 'FUNCTIONS', 'TRIGGERS', 'CONNECTED_AT'], row: (w: Row) => [w.worker_id, w.name, w.runtime, w.pid, w.functions?.length, w.triggers, w.connected_at] },
  functions: { fn: 'engine::functions::list', key: 'functions', headers: ['FUNCTION_ID', 'WORKERS', 'DESCRIPTION'], row: (f: Row) => [f.function_id, f.engine ? 'engine' : f.workers?.length, f.description] },
  triggers: { fn: 'engine::triggers::list', key: 'triggers', headers: ['ID', 'TYPE', 'FUNCTION_ID', 'STATE', 'WORKER_ID', 'NEXT_RUN'], row: (t: Row) => [t.id, t.trigger_type, t.function_id, t.state, t.worker_id, t.next_run] },
  types: { fn: 'engine::trigger-types::list', key: 'trigger_types', headers: ['ID', 'PROVIDER', 'DESCRIPTION'], row: (t: Row) => [t.id, t.worker_id, t.description] },
} as const

async function ls(args: string[]): Promise<void> {
  const { values, positionals } = clientArgs(args)
  if (values.help) return void process.stdout.write(usage)
  const what = positionals[0] as keyof typeof lists | undefined
  if (positionals.length !== 1 || !what || !Object.hasOwn(lists, what)) {
    throw new UsageError(`ls takes one of ${Object.keys(lists).join(', ')}${positionals.length ? `, got '${positionals.join(' ')}'` : ''}`)
  }
  const list = lists[what]
  const worker = await reach(values.url!)
  try {
    const answer = await worker.invoke<Record<string, Row[]>>(list.fn, {})
    const rows = answer[list.key].filter((r) => what !== 'workers' || r.worker_id !== worker.workerId)
    process.stdout.write(formatTable([...list.headers], rows.map((r) => (list.row as (r: Row) => unknown[])(r))))
  } finally {
    worker.close()
  }
}

async function invoke(args: string[]): Promise<void> {
  const { values, positionals } = clientArgs(args, { 'timeout-ms': { type: 'string' } })
  if (values.help) return void process.stdout.write(usage)
  const [function_id, json, ...more] = positionals
  if (!function_id || more.length > 0) throw new UsageError('invoke takes a function id and, optionally, its input as one JSON argument')
  let data: unknown = {}
  if (json !== undefined) {
    try {
      data = JSON.parse(json)
    } catch (err) {
      throw new UsageError(`the input is not valid JSON: ${(err as Error).message}`)
    }
  }
  const timeout_ms = integer('timeout-ms', (values as Record<string, unknown>)['timeout-ms'] as string | undefined, 30_000, 1, 2_147_483_647)
  const worker = await reach(values.url!)
  try {
    const result = await worker.invoke(function_id, data, { timeout_ms })
    process.stdout.write(JSON.stringify(result ?? null, null, 2) + '\n')
  } catch (err) {
    if (err instanceof InvocationError) throw new Error(`${function_id} failed: ${err.code}: ${err.message}`)
    throw err
  } finally {
    worker.close()
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(usage)
    return
  }
  if (command === 'serve') return serve(rest)
  if (command === 'ls') return ls(rest)
  if (command === 'invoke') return invoke(rest)
  throw new UsageError(command === undefined ? 'missing command' : `unknown command '${command}'`)
}

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof UsageError) {
    process.stderr.write(`signalbox: ${err.message}\n\n${usage}`)
    process.exit(2)
  }
  process.stderr.write(`signalbox: ${(err as Error).message}\n`)
  process.exit(1)
})
