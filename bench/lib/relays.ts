/**
 * The baseline relays as bench/ runs them: every cork mode (adapters/corked-send.ts), each
 * twice, with the node flags `signalbox serve` runs with (cli/node-flags.ts), named
 * `relay:<mode>`, and with node's defaults, named `relay:<mode>:defaults`. The engine's
 * flags are a trick like its corking: a relay is measured with and without them, and the
 * best of all of them on each figure is the baseline, so that no ratio flatters the engine.
 */
import { CORK_MODES } from '../../adapters/corked-send.js'
import { SERVE_NODE_FLAGS } from '../../cli/node-flags.js'
import { Child } from './rpc.js'

export const RELAY_NAMES: readonly string[] = CORK_MODES.flatMap((mode) => [`relay:${mode}`, `relay:${mode}:defaults`])

/** What the scenario descriptions say of the relays' variants. */
export const RELAY_VARIANTS_TEXT = `Each relay mode runs twice: with the node flags \`signalbox serve\` runs the engine with (${SERVE_NODE_FLAGS.map((f) => `\`${f}\``).join(' ')}, cli/node-flags.ts) and with node's defaults (\`relay:<mode>:defaults\`).`

/** Starts the relay `name` (one of RELAY_NAMES) of bench/procs/`script`. */
export function startRelay(script: 'http-relay' | 'ws-relay', name: string): Child {
  if (!RELAY_NAMES.includes(name)) throw new Error(`unknown relay '${name}'; known: ${RELAY_NAMES.join(', ')}`)
  const [, mode, heap] = name.split(':')
  return new Child(`${script.slice(0, script.indexOf('-'))}-${name}`, script, [mode], { execArgv: heap === 'defaults' ? [] : [...SERVE_NODE_FLAGS] })
}
