/**
 * The engine as a user embeds it: runs the root actor, the WebSocket transport when a
 * port is given, and the in-process transport (`connect()`); stops them in order.
 */
import { createActor, type InspectionEvent, type Observer } from 'xstate'
import { engineMachine } from '../machines/engine.machine.js'
import { createLogger, type Logger, type LogLevel } from './logger.js'
import { sessionPorts, type EngineActor, type PortHandlers, type SessionPort } from './session-port.js'
import { WorkerClient } from './worker.js'
import { createMetrics, type Metrics } from './metrics.js'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startWsServer, type WsServer } from './ws-server.js'

export interface EngineOptions {
  /** WebSocket port for workers in other processes; 0 picks a free port. Omit for in-process only. */
  port?: number
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string
  /** A logger with pino's calling convention; default JSON lines on stderr at `logLevel`. */
  logger?: Logger
  /** Level of the default logger. Default `warn`. */
  logLevel?: LogLevel
  /** How long a worker-provided trigger type may take to answer a registration. Default 10 000 ms. */
  registrationTimeoutMs?: number
  /** Call timeout when the caller sets none. Default 30 000 ms. */
  invocationTimeoutMs?: number
  /** How long `stop()` waits for calls in flight. Default 10 000 ms. */
  graceMs?: number
  /** WebSocket ping interval; a connection that misses a ping is ended. Default 30 000 ms. */
  heartbeatMs?: number
  /** Largest WebSocket frame; larger ones close the connection with 1009. Default 32 MiB. */
  maxPayload?: number
  /** The HTTP listener for `http` triggers. Omit it and the `http` trigger type is not offered. */
  http?: {
    /** 0 picks a free port. */
    port: number
    /** Default: the engine's `host`. */
    host?: string
    /** Largest request body; larger gets 413. Default 1 MiB. */
    maxBodyBytes?: number
    /** Answer deadline for routes whose config sets no `timeout_ms`; past it, 504. Default 30 000 ms. */
    timeoutMs?: number
  }
  /**
   * Where queued messages are kept: `'memory'` (the default: gone with the process) or
   * `{ sqlite: '<file>' }` (durable; WAL mode).
   */
  store?: 'memory' | { sqlite: string }
  /** An XState inspection observer (e.g. the Stately inspector's `inspect`). */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void)
}

/** A running engine. */
export interface Engine {
  /** `ws://host:port` of the worker endpoint, when listening. */
  readonly url: string | undefined
  readonly port: number | undefined
  /** `http://host:port` of the HTTP listener for `http` triggers, when there is one. */
  readonly httpUrl: string | undefined
  /** Health and Prometheus metrics (also served on the worker port at /healthz and /metrics). */
  readonly metrics: Metrics
  /** The root actor, for inspection. */
  readonly actor: EngineActor
  /** Connects an in-process worker: the same interface as `connectWorker(url)`. */
  connect(options?: { name?: string }): WorkerClient
  /** Opens a raw session, for custom transports: messages in through the port, out through `handlers`. */
  openSession(handlers: PortHandlers): SessionPort | undefined
  /** Stops accepting, lets calls in flight finish (up to `graceMs`), closes everything. */
  stop(): Promise<void>
}

/** Starts an engine. */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const log = options.logger ?? createLogger(options.logLevel ?? 'warn')
  const host = options.host ?? '127.0.0.1'
  const actor: EngineActor = createActor(engineMachine, {
    input: {
      registrationTimeoutMs: options.registrationTimeoutMs ?? 10_000,
      invocationTimeoutMs: options.invocationTimeoutMs ?? 30_000,
      graceMs: options.graceMs ?? 10_000,
      http: options.http && {
        host: options.http.host ?? host,
        port: options.http.port,
        maxBodyBytes: options.http.maxBodyBytes ?? 1024 * 1024,
        timeoutMs: options.http.timeoutMs ?? 30_000,
      },
      queue: { store: options.store === undefined || options.store === 'memory' ? { kind: 'memory' } : { kind: 'sqlite', path: options.store.sqlite } },
    },
    inspect: options.inspect,
  })
  actor.on('log', (e) => log[e.level](e.data, e.msg))
  // Providers that listen (HTTP) report where, or why they could not.
  const providersReady = options.http
    ? new Promise<void>((resolve, reject) => {
        const done = () => (failed.unsubscribe(), check.unsubscribe())
        const failed = actor.on('provider.failed', (e) => (done(), reject(new Error(e.message))))
        const check = actor.subscribe((snapshot) => snapshot.context.listening.http && (done(), resolve()))
      })
    : Promise.resolve()
  actor.start()

  const local = new Set<{ end: (reason: string) => void }>()
  const metrics = createMetrics(actor)
  const { open } = sessionPorts(actor, log, metrics.observeOutbound)
  const routes = (req: IncomingMessage, res: ServerResponse): boolean => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' || (path !== '/healthz' && path !== '/metrics')) return false
    const reply = path === '/healthz'
      ? metrics.health().then((h) => [h.status === 'ok' ? 200 : 503, 'application/json; charset=utf-8', JSON.stringify(h)] as const)
      : metrics.render().then((text) => [200, metrics.registry.contentType, text] as const)
    reply.then(
      ([status, type, body]) => res.writeHead(status, { 'content-type': type }).end(body),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
    )
    return true
  }

  let ws: WsServer | undefined
  try {
    await providersReady
  } catch (err) {
    actor.stop()
    throw err
  }
  if (options.port !== undefined) {
    try {
      ws = await startWsServer(
        {
          host,
          port: options.port,
          maxPayload: options.maxPayload ?? 32 * 1024 * 1024,
          heartbeatMs: options.heartbeatMs ?? 30_000,
          routes,
        },
        open,
        log,
      )
    } catch (err) {
      actor.send({ type: 'engine.stop' })
      actor.stop()
      throw err
    }
  }
  actor.send({ type: 'engine.started' })

  const listening = actor.getSnapshot().context.listening.http
  let stopping: Promise<void> | undefined
  return {
    url: ws?.url,
    port: ws?.port,
    metrics,
    httpUrl: listening && `http://${listening.host.includes(':') ? `[${listening.host}]` : listening.host}:${listening.port}`,
    actor,
    openSession: open,
    connect(connectOptions = {}) {
      let port: SessionPort | undefined
      const worker = new WorkerClient(connectOptions.name, () => port?.close('worker closed'))
      const entry = { end: () => worker.detach(true) }
      port = open({
        out: (message) => queueMicrotask(() => worker.handle(message as { type: string })),
        end: () => {
          local.delete(entry)
          queueMicrotask(() => worker.detach(true))
        },
      })
      if (!port) throw new Error('The engine is not accepting connections')
      const session = port
      local.add(entry)
      worker.attach({ send: (message) => session.receive(message), close: () => session.close('worker closed') })
      return worker
    },
    stop() {
      stopping ??= (async () => {
        ws?.stopAccepting()
        actor.send({ type: 'engine.stop' })
        await new Promise<void>((resolve) => {
          if (actor.getSnapshot().status !== 'active') return resolve()
          const sub = actor.subscribe({ complete: () => (sub.unsubscribe(), resolve()), error: () => resolve() })
        })
        actor.stop()
        for (const entry of local) entry.end('engine stopped')
        local.clear()
        await ws?.close()
      })()
      return stopping
    },
  }
}
