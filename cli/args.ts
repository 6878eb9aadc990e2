/**
 * A command's arguments, read with Node's `parseArgs`, and refused in the command's own
 * words when they make no sense: an unknown option is named with the option it was
 * probably meant to be (`serve has no option '--htp-port'; did you mean '--http-port'?`),
 * an option without its value or with one it does not take is named too. Node's own
 * parser texts never reach the user.
 */
import { parseArgs } from 'node:util'
import { closest } from '../core/closest.js'
import { CliError } from './cli-error.js'

/** An option a command takes: text (`--port 49134`) or a switch (`--json`). */
export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  /** May be given more than once (`--token a --token b`); its value is then a list. */
  multiple?: boolean
}

export type OptionSpecs = Record<string, OptionSpec>

export interface ParsedArgs {
  /** Values by option name (without the dashes). */
  values: Record<string, string | string[] | boolean | undefined>
  positionals: string[]
}

/** Reads `args` for `command`; throws a CliError (exit 2) that names the option at fault. */
export function readArgs(command: string, args: string[], options: OptionSpecs): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true })
    return { values: values as ParsedArgs['values'], positionals }
  } catch (err) {
    throw diagnose(command, args, options) ?? new CliError(`cannot read the command line: ${(err as Error).message.split('. ')[0]}`, help(command))
  }
}

const help = (command: string) => `'signalbox help ${command}' lists its options`

/** What is wrong with `args`, in the command's words. */
function diagnose(command: string, args: string[], options: OptionSpecs): CliError | undefined {
  const names = Object.keys(options)
  const byShort = new Map(Object.entries(options).flatMap(([name, o]) => (o.short ? [[o.short, name] as const] : [])))
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === '--') break
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) continue
    const long = arg.startsWith('--')
    const [raw, inline] = long ? [arg.slice(2).split('=')[0], arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : undefined] : [arg.slice(1, 2), arg.length > 2 ? arg.slice(2) : undefined]
    const name = long ? raw : byShort.get(raw)
    if (name === undefined || !Object.hasOwn(options, name)) {
      const shown = long ? `--${raw}` : `-${raw}`
      const guess = closest(long ? raw : shown, long ? names : names.map((n) => `--${n}`))
      const guessed = guess === undefined ? '' : `did you mean '${long ? `--${guess}` : guess}'? `
      return new CliError(`${command} has no option '${shown}'`, `${guessed}${help(command)}`)
    }
    const spec = options[name]
    if (spec.type === 'boolean' && inline !== undefined) return new CliError(`--${name} takes no value, got '${inline}'`, help(command))
    if (spec.type === 'string' && inline === undefined) {
      const next = args[i + 1]
      if (next === undefined || (next.startsWith('--') && next.length > 2)) return new CliError(`--${name} needs a value`, help(command))
      if (next.startsWith('-') && next.length > 1) return new CliError(`--${name} needs a value`, `to give one that starts with '-', write --${name}=${next}`)
      i++
    }
  }
  return undefined
}
