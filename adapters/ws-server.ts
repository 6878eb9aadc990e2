/**
 * The WebSocket transport: one HTTP server whose upgrades on `/` become worker sessions,
 * on `/otel` are accepted and their frames discarded (iii-sdk sends telemetry there), on
 * `/ws/channels/<id>` open one end of a data channel (its key checked first: the key is the
 * credential there, even when the engine has tokens, as iii-sdk sends none), and
 * anywhere else are answered 404. The server pings every connection and ends those that
 * stop answering.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { corkedSend } from './corked-send.js'
import { encode } from '../protocol/codec.js'
import { errors } from '../protocol/errors.js'
import type { Logger } from './logger.js'
import type { PortHandlers, SessionPort } from './session-port.js'
import type { Identity } from '../core/auth.js'
import type { Authenticator } from './authenticator.js'
import type { Access, Direction } from '../core/channel-table.js'
import type { ChannelSocket } from '../machines/contracts.js'

/** The data channels the transport opens ends of (`/ws/channels/<id>?key=…&dir=read|write`). */
export interface ChannelAccess {
  /** Whether `key` opens that end now. */
  access(channel_id: string, key: string, direction: Direction): Access
  /** Hands an opened end's socket over. */
  connect(channel_id: string, direction: Direction, socket: ChannelSocket): void
}

export interface WsServerOptions {
  host: string
  port: number
  /** Largest frame accepted; larger ones close the connection with 1009. */
  maxPayload: number
  /** Interval between WebSocket pings; a connection that misses one is ended. */
  heartbeatMs: number
  /** Plain HTTP requests on this port (e.g. /healthz): answers and returns true, or returns false for 404. */
  routes?: (req: IncomingMessage, res: ServerResponse) => boolean
  /** When the engine has tokens: who a worker's upgrade is; refused upgrades are answered 401. */
  authenticate?: Authenticator
  /** Data channels; without it `/ws/channels/…` is 404. */
  channels?: ChannelAccess
  /** Upgrades on other paths (e.g. the console's): takes one and returns true, or returns false for 404. */
  upgrades?: (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean
  /** A worker's connection opened (its session is `worker_id`); what it returns is called when the connection ends. */
  connected?: (worker_id: string, req: IncomingMessage) => (() => void) | void
}

export interface WsServer {
  readonly server: Server
  readonly host: string
  readonly port: number
  readonly url: string
  /** Stops accepting new connections; open ones stay. */
  stopAccepting(): void
  /** Closes every connection and the listener. */
  close(): Promise<void>
}

const SEEN = Symbol('seen since the last ping')
type Watched = WebSocket & { [SEEN]?: boolean }

/** The error listener of an upgraded socket: a reset ends it quietly. */
function destroySocket(this: Duplex): void {
  this.destroy()
}

/** A channel end's socket, as the channels actor sees it. */
function channelSocket(ws: WebSocket): ChannelSocket {
  return {
    send: (data, binary, done) => (ws.readyState === ws.OPEN ? ws.send(data, { binary }, () => done()) : done()),
    close: (code, reason) => (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING ? ws.close(code, reason) : undefined),
    pause: () => ws.pause(),
    resume: () => ws.resume(),
    onFrame: (listener) => ws.on('message', (data: Buffer, binary: boolean) => listener(binary ? data : data.toString('utf8'), binary)),
    onClose: (listener) => ws.on('close', (code) => listener(code === 1000 || code === 1005)),
  }
}

const CHANNEL_PATH = '/ws/channels/'
const ACCESS_STATUS: Record<Exclude<Access, 'ok'>, string> = { unknown: '404 Not Found', forbidden: '403 Forbidden', taken: '409 Conflict' }

/** Starts listening; resolves once the port is bound. */
export async function startWsServer(options: WsServerOptions, open: (handlers: PortHandlers, identity?: Identity) => SessionPort | undefined, log: Logger): Promise<WsServer> {
  const server = createServer((req, res) => {
    if (options.routes?.(req, res)) return
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: errors.notFound(req.method, req.url) }))
  })
  const workers = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload })
  const telemetry = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload })
  const channelEnds = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload })
  /** Whether a connection showed a sign of life (a pong, a frame) since the last ping: a flag on the socket, set on every frame. */
  const alive = (ws: WebSocket) => ((ws as Watched)[SEEN] = true)
  let accepting = true

  const refuseUpgrade = (socket: Duplex, status: string, body?: object, headers = '') => {
    const text = body ? JSON.stringify(body) : ''
    const type = body ? 'Content-Type: application/json\r\n' : ''
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n${type}${headers}Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`)
  }
  /** A worker's upgrade, once who it is is known (or when the engine has no tokens). */
  const acceptWorker = (req: IncomingMessage, socket: Duplex, head: Buffer, identity?: Identity) =>
    workers.handleUpgrade(req, socket, head, (ws) => workers.emit('connection', ws, req, identity))
  const acceptTelemetry = (req: IncomingMessage, socket: Duplex, head: Buffer) => telemetry.handleUpgrade(req, socket, head, (ws) => telemetry.emit('connection', ws, req))
  /** Upgrades waiting for the auth function: `close()` ends them. */
  const authenticating = new Set<Duplex>()
  /** Accepts the upgrade once authenticated, or answers 401 (logged once, with the peer: never the token). */
  const authenticated = (authenticate: Authenticator, req: IncomingMessage, socket: Duplex, accept: (identity: Identity) => void) => {
    authenticating.add(socket)
    authenticate(req)
      .then((result) => {
        if (socket.destroyed) return
        if (result.ok) return accept(result.identity)
        log.warn({ peer: req.socket.remoteAddress, path: req.url?.split('?')[0], reason: result.reason }, 'connection refused: not authenticated')
        refuseUpgrade(socket, '401 Unauthorized', { error: result.error }, 'WWW-Authenticate: Bearer\r\n')
      })
      .catch((err: unknown) => {
        log.error({ peer: req.socket.remoteAddress, err: err instanceof Error ? err.name : 'error' }, 'connection refused: authentication failed')
        if (!socket.destroyed) refuseUpgrade(socket, '503 Service Unavailable')
      })
      .finally(() => authenticating.delete(socket))
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node drops its own error listener before 'upgrade': a reset must not crash the process.
    // (A listener defined here would keep the upgrade request, headers and all, alive for
    // as long as the connection lasts.)
    socket.on('error', destroySocket)
    const path = (req.url ?? '/').split('?')[0]
    if (!accepting) return refuseUpgrade(socket, '503 Service Unavailable')
    if (path === '/') {
      if (options.authenticate) authenticated(options.authenticate, req, socket, (identity) => acceptWorker(req, socket, head, identity))
      else acceptWorker(req, socket, head)
    } else if (path === '/otel') {
      if (options.authenticate) authenticated(options.authenticate, req, socket, () => acceptTelemetry(req, socket, head))
      else acceptTelemetry(req, socket, head)
    } else if (path.startsWith(CHANNEL_PATH) && options.channels) openChannelEnd(options.channels, req, socket, head, path.slice(CHANNEL_PATH.length))
    else if (!options.upgrades?.(req, socket, head)) refuseUpgrade(socket, '404 Not Found')
  })

  /** A worker opens one end of a data channel: its key must be that end's, and the end not open yet. */
  const openChannelEnd = (channels: ChannelAccess, req: IncomingMessage, socket: Duplex, head: Buffer, encoded: string) => {
    const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '')
    const direction = query.get('dir')
    if (direction !== 'read' && direction !== 'write') return refuseUpgrade(socket, '400 Bad Request')
    let channel_id: string
    try {
      channel_id = decodeURIComponent(encoded)
    } catch {
      return refuseUpgrade(socket, ACCESS_STATUS.unknown)
    }
    const access = channels.access(channel_id, query.get('key') ?? '', direction)
    if (access !== 'ok') return refuseUpgrade(socket, ACCESS_STATUS[access])
    channelEnds.handleUpgrade(req, socket, head, (ws) => {
      alive(ws)
      ws.on('pong', () => alive(ws))
      ws.on('error', () => ws.terminate())
      channels.connect(channel_id, direction, channelSocket(ws))
    })
  }

  telemetry.on('connection', (ws: WebSocket) => {
    alive(ws)
    ws.on('pong', () => alive(ws))
    ws.on('error', () => ws.terminate())
  })

  workers.on('connection', (ws: WebSocket, req: IncomingMessage, identity?: Identity) => {
    alive(ws)
    const send = corkedSend(ws, req.socket, 'auto')
    const port = open({
      out: (message) => {
        if (ws.readyState !== ws.OPEN) return
        let text: string
        try {
          text = encode(message)
        } catch (err) {
          log.error({ type: message.type, err: (err as Error).message }, 'could not encode an outbound message')
          return
        }
        send(text)
      },
      end: (reason) => ws.close(4000, reason.slice(0, 120)),
    }, identity)
    if (!port) return ws.close(1013, 'engine is not accepting connections')
    const disconnected = options.connected?.(port.worker_id, req)
    if (disconnected) ws.once('close', disconnected)
    ws.on('pong', () => alive(ws))
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      alive(ws)
      if (isBinary) port.refuse(errors.binaryNotSupported())
      else port.receiveText(data.toString('utf8'))
    })
    ws.on('error', (err) => log.warn({ worker_id: port.worker_id, err: err.message }, 'connection error'))
    // A close frame from the worker (1000, 1001, or none: 1005) is a clean close; anything else (1006: the connection dropped) is a loss, whose session the engine may hold.
    ws.on('close', (code) => (code === 1000 || code === 1001 || code === 1005 ? port.close(`connection closed (${code})`) : port.lose(`connection lost (${code})`)))
  })

  const heartbeat = setInterval(() => {
    for (const wss of [workers, telemetry, channelEnds]) {
      for (const ws of wss.clients) {
        if (!(ws as Watched)[SEEN]) {
          ws.terminate()
          continue
        }
        ;(ws as Watched)[SEEN] = false
        ws.ping()
      }
    }
  }, options.heartbeatMs)
  heartbeat.unref()

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : options.port
  const host = options.host.includes(':') ? `[${options.host}]` : options.host

  return {
    server,
    host: options.host,
    port,
    url: `ws://${host}:${port}`,
    stopAccepting() {
      accepting = false
      server.close()
    },
    async close() {
      accepting = false
      clearInterval(heartbeat)
      for (const socket of authenticating) socket.destroy()
      for (const wss of [workers, telemetry, channelEnds]) for (const ws of wss.clients) ws.close(1001, 'engine stopped')
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      setTimeout(() => {
        for (const wss of [workers, telemetry, channelEnds]) for (const ws of wss.clients) ws.terminate()
        server.closeAllConnections()
      }, 500).unref()
      await closed
    },
  }
}
