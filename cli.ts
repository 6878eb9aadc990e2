#!/usr/bin/env node
/**
 * The signalbox command line. `signalbox serve` runs the engine as a WebSocket server.
 */
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createEngine } from './adapters/engine.js'
import { createLogger, type LogLevel } from './adapters/logger.js'

const usage = `Usage: signalbox <command> [options]

Commands:
  serve     Run the engine as a WebSocket server for workers

Options for serve:
  --host <address>       Interface to listen on (default 127.0.0.1)
  --port <number>        Worker WebSocket port, 0 for a free one (default 49134)
  --http-port <number>   HTTP port for http triggers, 0 for a free one (default 3111)
  --http-max-body <n>    Largest HTTP request body in bytes (default 1048576)
  --store <kind>         Queue store: sqlite (durable, default) or memory
  --data-dir <path>      Where the sqlite store keeps its file (default ./.signalbox)
  --grace-ms <number>    On SIGINT/SIGTERM, how long calls in flight may finish (default 10000)
  --log-level <level>    debug, info, warn, error or silent (default info)
  -h, --help             Show this text
`

/** Thrown for a command line that makes no sense: usage, exit code 2. */
class UsageError extends Error {}

const levels: LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent']

function integer(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got '${value}'`)
  }
  return Number(value)
}

async function serve(args: string[]): Promise<void> {
  let values
  try {
    ;({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string' },
        'http-port': { type: 'string' },
        'http-max-body': { type: 'string' },
        store: { type: 'string', default: 'sqlite' },
        'data-dir': { type: 'string', default: './.signalbox' },
        'grace-ms': { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
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
  const port = integer('port', values.port, 49134, 0, 65535)
  const httpPort = integer('http-port', values['http-port'], 3111, 0, 65535)
  const maxBodyBytes = integer('http-max-body', values['http-max-body'], 1024 * 1024, 0, 2 ** 31 - 1)
  const graceMs = integer('grace-ms', values['grace-ms'], 10_000, 0, 3_600_000)
  const level = values['log-level'] as LogLevel
  if (!levels.includes(level)) throw new UsageError(`--log-level must be one of ${levels.join(', ')}, got '${level}'`)
  if (values.store !== 'sqlite' && values.store !== 'memory') throw new UsageError(`--store must be sqlite or memory, got '${values.store}'`)
  if (values['data-dir'] === '') throw new UsageError('--data-dir must not be empty')
  const store = values.store === 'memory' ? ('memory' as const) : { sqlite: join(resolve(values['data-dir']!), 'queues.sqlite') }
  const logger = createLogger(level)

  const engine = await createEngine({ host: values.host, port, graceMs, logger, http: { port: httpPort, maxBodyBytes }, store })
  process.stdout.write(`signalbox ready ${engine.url} ${engine.httpUrl}\n`)

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'stopping')
    engine.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err: String(err) }, 'stop failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(usage)
    return
  }
  if (command === 'serve') return serve(rest)
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
