/**
 * Why a listener of the engine could not start, said so that a person can fix it: which
 * listener (the WebSocket port for workers, or the HTTP listener for `http` triggers), the
 * address, the reason in words, and the option that changes it. `createEngine` throws it;
 * `signalbox serve` prints it as one line and a hint naming the flag.
 */

/** The engine's two listeners, with the options that set their address. */
export const LISTENERS = {
  websocket: { title: 'WebSocket port for workers', port: 'port', host: 'host' },
  http: { title: 'HTTP listener for http triggers', port: 'http.port', host: 'http.host' },
  /** `signalbox serve --inspect`'s local bridge for the Stately inspector. */
  inspector: { title: 'inspector bridge', port: 'inspectPort', host: 'host' },
} as const

export type Listener = keyof typeof LISTENERS

/** The system's error codes for a listen that failed, in words, and what fixes each. */
const REASONS: Record<string, { words: string; fix: 'port' | 'host' }> = {
  EADDRINUSE: { words: 'the port is already in use (is another signalbox running?)', fix: 'port' },
  EACCES: { words: 'permission denied (ports below 1024 need privileges)', fix: 'port' },
  EADDRNOTAVAIL: { words: "the address is not one of this machine's", fix: 'host' },
  ENOTFOUND: { words: 'the host name does not resolve', fix: 'host' },
  EAI_AGAIN: { words: 'the host name does not resolve', fix: 'host' },
}

/**
 * A listener that could not start. `message` is the headline and the hint in the words of
 * `createEngine`'s options: `The HTTP listener for http triggers cannot listen on
 * 127.0.0.1:3111: the port is already in use (is another signalbox running?); stop what
 * holds it, or give option 'http.port' another port (0 picks a free one)`.
 */
export class ListenError extends Error {
  override readonly name = 'ListenError'
  /** The option that fixes it: `port`, `http.port`, `host` or `http.host`. */
  readonly option: string
  /** What went wrong, without the hint. */
  readonly headline: string
  constructor(
    readonly listener: Listener,
    readonly host: string,
    readonly port: number,
    /** The system's error code (`EADDRINUSE`), or undefined. */
    readonly reason: string | undefined,
    detail: string,
  ) {
    const known = reason === undefined ? undefined : REASONS[reason]
    const where = `${host.includes(':') ? `[${host}]` : host}:${port}`
    const headline = `The ${LISTENERS[listener].title} cannot listen on ${where}: ${known ? known.words : detail}`
    const option = LISTENERS[listener][known?.fix ?? 'port']
    super(headline)
    this.headline = headline
    this.option = option
    this.message = `${headline}; ${this.hint()}`
  }

  /** What to do about it, naming the setting as `name` spells it (an option, a flag). */
  hint(name: string = `option '${this.option}'`): string {
    if (this.option.endsWith('host')) return `give ${name} an address of this machine (127.0.0.1, 0.0.0.0 for every interface)`
    const free = this.listener === 'inspector' ? '' : ' (0 picks a free one)'
    if (this.reason === 'EADDRINUSE') return `stop what holds it, or give ${name} another port${free}`
    return `give ${name} another port${free}`
  }
}
