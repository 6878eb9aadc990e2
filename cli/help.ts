/**
 * The command line's help: the overview (`signalbox help`, `signalbox --help`) and each
 * command's own page (`signalbox help serve`, `signalbox serve --help`) with its usage,
 * options and examples. `serve`'s options, their variables and defaults come from the
 * table of engine options (core/options.ts), so the help cannot disagree with them.
 */
import { defaultOf } from '../core/options.js'
import { CONFIG_ENV, CONFIG_FILE, SERVE_SETTINGS, TOKEN_ENV, URL_ENV } from './serve-config.js'
import { LISTS } from './lists.js'

/** The commands, in the order the overview lists them. */
export const COMMANDS = ['serve', 'ls', 'invoke', 'token', 'help'] as const
export type Command = (typeof COMMANDS)[number]

const wrap = (text: string, width: number, indent: number): string => {
  const words = text.split(/\s+/)
  const lines: string[] = []
  let line = ''
  for (const word of words) {
    if (line && line.length + 1 + word.length > width) (lines.push(line), (line = word))
    else line = line ? `${line} ${word}` : word
  }
  if (line) lines.push(line)
  return lines.join('\n' + ' '.repeat(indent))
}

/** Where \`serve\` listens by default (core/options.ts, its serve column). */
const HOST = defaultOf('host', 'serve') as string
const DEFAULT_WS = `ws://${HOST}:${defaultOf('port', 'serve')}`
const DEFAULT_HTTP = `http://${HOST}:${defaultOf('http.port', 'serve')}`

const optionLines = (rows: ReadonlyArray<readonly [string, string]>) => {
  const width = Math.max(...rows.map(([o]) => o.length)) + 2
  return rows.map(([o, text]) => `  ${o.padEnd(width)}${wrap(text, 100 - width, width + 2)}`).join('\n')
}

const clientOptions: ReadonlyArray<readonly [string, string]> = [
  ['--url <ws://host:port>', `The engine's worker endpoint. Default: $${URL_ENV}, else where 'serve' would listen with the same SIGNALBOX_HOST, SIGNALBOX_PORT and ${CONFIG_FILE}, else ${DEFAULT_WS}`],
  ['--token <token>', `The token the engine asks for, when it runs with auth (docs/security.md). Default: $${TOKEN_ENV}`],
]

const serveOptions = (): ReadonlyArray<readonly [string, string]> => [
  ...SERVE_SETTINGS.map((s) => {
    const value = s.path === 'inspect' ? '[ws://…]' : s.path === 'insecure' ? '' : s.path === 'tokensFile' ? '<file>' : `<${typeof s.serve === 'number' ? 'number' : s.path === 'store' ? 'sqlite|memory|jetstream' : s.path === 'nats' || s.path === 'cluster' ? 'nats://…' : s.path === 'dataDir' ? 'folder' : s.path === 'logLevel' ? 'level' : 'value'}>`
    const fallback = s.serve === undefined ? '' : ` Default: ${s.serve}.`
    return [value ? `${s.flag} ${value}` : s.flag, `${s.meaning.replace(/`/g, '')}${fallback} Env: ${s.env}.`] as const
  }),
  ['--config <file>', `Read settings from this JSON file (default: ./${CONFIG_FILE} if it exists). Env: ${CONFIG_ENV}.`],
  ['-h, --help', 'Show this help'],
]

/** The page of each command. */
const pages: Record<Command, () => string> = {
  serve: () => `Usage: signalbox serve [options]

Runs the engine: workers connect on the WebSocket port, http triggers are served on the
HTTP listener, queues are kept in SQLite under the data folder. Prints one line when ready:
  signalbox ready ws://HOST:PORT http://HOST:PORT
and stops on Ctrl-C (SIGINT) or SIGTERM, letting calls in flight finish (--grace-ms);
started by npm (npm start, npx signalbox serve), also once the shell npm ran it in ends,
which npm's SIGTERM does.

Every option can also be set by its environment variable or by its key in a config file
(${CONFIG_FILE}, nested as createEngine takes it: {"port": ${defaultOf('port', 'serve')}, "http": {"port": ${defaultOf('http.port', 'serve')}}};
store and cluster as the flags take them or as createEngine does: {"store": {"sqlite": "./q.sqlite"}},
{"cluster": {"nats": "nats://host:4222", "name": "eu"}}).
A flag wins over a variable, a variable over the file, the file over the default.

Options:
${optionLines(serveOptions())}

Examples:
  signalbox serve                                  # ${DEFAULT_WS}, ${DEFAULT_HTTP}
  signalbox serve --port 0 --http-port 0           # free ports, printed on the ready line
  SIGNALBOX_HTTP_PORT=8080 signalbox serve --store memory
  signalbox serve --config ./staging.json --log-level debug
  signalbox serve --host 0.0.0.0 --tokens-file ./tokens.json   # open to the network, with scoped tokens
`,
  ls: () => `Usage: signalbox ls <list> [--json] [--url ws://host:port]

Lists what a running engine has:
${optionLines(Object.entries(LISTS).map(([name, list]) => [name, list.describe] as const))}

Options:
${optionLines([['--json', "Print the engine's answer as JSON instead of a table"], ...clientOptions, ['-h, --help', 'Show this help']])}

Examples:
  signalbox ls workers
  signalbox ls triggers --json
  signalbox ls functions --url ws://10.0.0.5:49134
`,
  invoke: () => `Usage: signalbox invoke <function_id> [json] [--timeout-ms 30000] [--url ws://host:port]

Calls a function on a running engine, as a worker would, and prints its result as JSON.
The input is one JSON argument (quote it for the shell); without one, {} is sent.

Options:
${optionLines([['--timeout-ms <number>', 'How long the call may take, in ms (1–2147483647). Default: 30000'], ...clientOptions, ['-h, --help', 'Show this help']])}

Examples:
  signalbox invoke engine::workers::list
  signalbox invoke greet '{"name":"Ada"}'
  signalbox invoke engine::queue::send '{"queue_name":"jobs","body":{"n":1}}' --timeout-ms 5000
`,
  token: () => `Usage: signalbox token new | hash <token>

Makes tokens for an engine that runs with auth (docs/security.md).
  new           Print a new random token (32 random bytes, base64url) and its SHA-256 hash
  hash <token>  Print the hex SHA-256 of a token: what a tokens file holds as "sha256",
                so the file keeps no secret

Examples:
  signalbox token new
  signalbox token hash "$SIGNALBOX_TOKEN"
`,
  help: () => `Usage: signalbox help [command]

Shows the overview, or a command's own help: usage, options and examples.

Examples:
  signalbox help
  signalbox help serve
`,
}

/** The overview. */
export function overview(version: string): string {
  return `signalbox ${version}: a trigger engine. Workers register functions and bind http, cron, queue
and worker-defined triggers to them.

Usage: signalbox <command> [options]

Commands:
${optionLines([
  ['serve', 'Run the engine: workers on WebSocket, http triggers on HTTP'],
  ['ls <list>', `List a running engine's ${Object.keys(LISTS).slice(0, -1).join(', ')} or ${Object.keys(LISTS).at(-1)}`],
  ['invoke <function_id> [json]', 'Call a function on a running engine and print its result'],
  ['token new | hash <token>', 'Make a token, or hash one for a tokens file'],
  ['help [command]', "Show a command's usage, options and examples"],
])}

Options:
${optionLines([
  ['-h, --help', 'Show this help'],
  ['-v, --version', 'Print the version'],
])}

Run 'signalbox help <command>' for its options and examples. In a clone of the repository,
run it as 'npx signalbox …'.
`
}

/** A command's page. */
export const helpOf = (command: Command): string => pages[command]()
