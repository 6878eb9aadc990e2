/**
 * The local Stately inspector bridge of `signalbox serve --inspect`: the page a browser
 * opens, and the WebSocket the engine's inspection events pass through, from
 * `@statelyai/inspect/server`.
 *
 * Two things the library does not offer, added here: the bridge listens on the engine's
 * host only (the library listens on every interface, and the events it relays show every
 * machine's state, so it must not be open wider than the worker port), and a port that
 * is taken is a `ListenError` (one line and a hint), never an unhandled `EADDRINUSE`.
 * The library calls `listen(port, callback)` once, synchronously, inside
 * `createInspectorServer`; for that one call `http.Server.prototype.listen` is wrapped to
 * add the host and keep the server, and restored at once; the server's errors are then
 * handled here rather than re-emitted by the library's WebSocket server, unheard.
 */
import http from 'node:http'
import { ListenError } from '../adapters/listen-error.js'

export interface InspectorBridge {
  /** The page to open in a browser. */
  url: string
  stop(): void
}

/** Starts the bridge on `host:port`; rejects with a `ListenError` when it cannot listen there. */
export async function startInspectorBridge(host: string, port: number): Promise<InspectorBridge> {
  const { createInspectorServer } = await import('@statelyai/inspect/server')
  const listen = http.Server.prototype.listen
  let server: http.Server | undefined
  http.Server.prototype.listen = function (this: http.Server, ...args: unknown[]) {
    server = this
    const callback = args.find((a) => typeof a === 'function')
    return listen.call(this, { port: args[0] as number, host }, callback as () => void)
  } as typeof listen
  let bridge: { stop(): void }
  try {
    bridge = createInspectorServer({ port, autoOpen: false })
  } finally {
    http.Server.prototype.listen = listen
  }
  if (!server) throw new Error('the inspector bridge did not start a server')
  const started = server
  // The library's WebSocket server re-emits the listener's errors as its own, where nothing
  // would handle them; the outcome of listening is handled here instead.
  started.removeAllListeners('error')
  await new Promise<void>((resolve, reject) => {
    if (started.listening) return resolve()
    started.once('listening', resolve)
    started.once('error', (err: NodeJS.ErrnoException) => {
      bridge.stop()
      reject(new ListenError('inspector', host, port, err.code, err.message))
    })
  })
  const shown = host.includes(':') ? `[${host}]` : host
  return { url: `http://${shown === '127.0.0.1' ? 'localhost' : shown}:${port}`, stop: () => bridge.stop() }
}
