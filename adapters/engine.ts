/**
 * The engine as a user embeds it, and the composition root: it resolves the options
 * (core/options.ts), fills the machines' actor slots with the actors that implement them
 * (the catalog, the invocations actor, the providers over the chosen queue store, the
 * trigger-type children), runs the root actor, the WebSocket transport when a port is
 * given, and the in-process transport (`connect()`); and stops them in order.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { hostname } from 'node:os'
import { createActor } from 'xstate'
import { resolveEngineOptions, type EngineOptions, type ResolvedOptions } from '../core/options.js'
import type { QueueStore } from '../core/queue-store.js'
import type { ClusterInput } from '../machines/contracts.js'
import { workerName } from '../core/catalog.js'
import { engineMachine } from '../machines/engine.machine.js'
import { actorsOf, catalogOf } from '../machines/system.js'
import { sessionMachine } from '../machines/session.machine.js'
import { builtinTriggerTypes } from '../actors/builtin-trigger-types.js'
import { remoteTriggerTypeLogic } from '../actors/remote-trigger-type.js'
import { catalogLogic } from '../actors/catalog.js'
import { invocationsLogic } from '../actors/invocations.js'
import { httpProviderLogic } from '../actors/http-provider.js'
import { cronProviderLogic } from '../actors/cron-provider.js'
import { createQueueProvider } from '../actors/queue-provider.js'
import { pubsubProviderLogic } from '../actors/pubsub-provider.js'
import { channelsLogic } from '../actors/channels.js'
import { WorkerClient } from '../client/worker.js'
import { createLogger } from './logger.js'
import { ListenError } from './listen-error.js'
import { createAuthenticator } from './authenticator.js'
import { errors } from '../protocol/errors.js'
import { plainMessage } from '../protocol/codec.js'
import { namingWorkers } from './named-log.js'
import { createMemoryQueueStore } from './memory-queue-store.js'
import { lockStoreFile } from './store-files.js'
// The NATS client and SQLite are loaded by `createEngine` when the options ask for them
// (an engine with its queues in memory loads neither); their types are erased.
import type { createSqliteQueueStore as CreateSqliteQueueStore } from './sqlite-queue-store.js'
import type { OpenCluster } from './cluster.js'
import { createClusterLogic } from '../actors/cluster.js'
import { sessionPorts, type EngineActor, type PortHandlers, type SessionPort } from './session-port.js'
import { createMetrics, type Metrics } from './metrics.js'
import { startWsServer, type WsServer } from './ws-server.js'
import { createConsoleServer, type ConsoleServer } from './console-server.js'

export type { EngineOptions }

/**
 * Opens the queue store the options name, when the queue provider starts. A store on the
 * network (JetStream) is opened before, by `createEngine` (connecting takes a while, and
 * an engine whose store is unreachable does not start), and given here as `opened`.
 */
const storeOpener = (store: ResolvedOptions['store'], opened?: QueueStore | typeof CreateSqliteQueueStore): (() => QueueStore) => {
  if (typeof opened === 'function') {
    if (store.kind !== 'sqlite') throw new Error(`the ${store.kind} queue store is not opened by SQLite`)
    return () => opened(store.path)
  }
  if (opened) return () => opened
  if (store.kind === 'memory') return createMemoryQueueStore
  throw new Error(`the ${store.kind} queue store must be opened (or, for SQLite, loaded) before the engine is composed`)
}

/** How often an engine of a cluster writes its membership entry, and how long one may go unheard (ms). */
const HEARTBEAT_MS = 1000
const DEAD_AFTER_MS = 3500

/**
 * The engine machine with every slot filled: what `createEngine` runs. `cluster`: the
 * engine's link to its cluster, opened before (as a network store is), with what its
 * membership entry says. `store`: the store opened before (JetStream), or SQLite's opener,
 * loaded before (`createSqliteQueueStore`).
 */
export function composeEngine(options: ResolvedOptions, store?: QueueStore | typeof CreateSqliteQueueStore, cluster?: { link: OpenCluster; describe: ClusterInput['describe']; metrics?: ClusterInput['metrics'] }) {
  const session = sessionMachine.provide({ actors: { ...builtinTriggerTypes, remoteTriggerType: remoteTriggerTypeLogic } })
  return engineMachine.provide({
    actors: {
      ...(cluster && {
        cluster: createClusterLogic(cluster.link, { defaultTimeoutMs: options.invocationTimeoutMs, heartbeatMs: HEARTBEAT_MS, deadAfterMs: DEAD_AFTER_MS, describe: cluster.describe, metrics: cluster.metrics }),
      }),
      session,
      catalog: catalogLogic,
      channels: channelsLogic,
      invocations: invocationsLogic,
      httpProvider: httpProviderLogic,
      cronProvider: cronProviderLogic,
      pubsubProvider: pubsubProviderLogic,
      queueProvider: createQueueProvider(storeOpener(options.store, store), {
        deduplicationWindowMs: options.deduplicationWindowSeconds * 1000,
        maxMessageBytes: options.limits.queueMessageBytes,
      }),
    },
  })
}

/** A running engine. */
export interface Engine {
  /** `ws://host:port` of the worker endpoint, when listening. */
  readonly url: string | undefined
  readonly port: number | undefined
  /** `http://host:port` of the HTTP listener for `http` triggers, when there is one. */
  readonly httpUrl: string | undefined
  /** `http://host:port/console`: the operator console on the worker port, when there is one (docs/console.md). */
  readonly consoleUrl: string | undefined
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

/**
 * Starts an engine. The options and their defaults are in core/options.ts (and the
 * README's table); a bad one throws a TypeError or RangeError naming it. A listener that
 * cannot start (a port in use, an address not of this machine) rejects with a
 * `ListenError` naming the listener and the option that fixes it.
 */
export async function createEngine(given: EngineOptions = {}): Promise<Engine> {
  const options = resolveEngineOptions(given)
  // Records about a worker name it as well (read from the catalog once the actor runs).
  let nameOf = (_worker_id: string): string | undefined => undefined
  const log = namingWorkers(options.logger ?? createLogger(options.logLevel), (worker_id) => nameOf(worker_id))
  // A JetStream store is reached before anything starts: unreachable, the engine does not start (StoreOpenError).
  // So is the cluster's NATS (ClusterOpenError).
  const cluster = options.cluster && (await (await import('./cluster.js')).openCluster({ ...options.cluster, warn: (msg, data) => log.warn(data, msg) }))
  let store: QueueStore | undefined
  let sqlite: typeof CreateSqliteQueueStore | undefined
  // One engine per SQLite file: a second one is refused naming the file (StoreOpenError).
  let lock: { release(): void } | undefined
  try {
    if (options.store.kind === 'jetstream') store = await (await import('./jetstream-queue-store.js')).createJetStreamQueueStore({ servers: options.store.servers, name: options.store.name })
    else if (options.store.kind === 'sqlite') {
      if (options.store.path !== ':memory:' && options.store.path !== '') lock = lockStoreFile(options.store.path)
      sqlite = (await import('./sqlite-queue-store.js')).createSqliteQueueStore
    }
  } catch (err) {
    lock?.release()
    await cluster?.close()
    throw err
  }
  const started_at = new Date().toISOString()
  // Filled in once the listeners are up.
  let where: { url?: string; http_url?: string } = {}
  const describe = () => ({ started_at, host: hostname(), pid: process.pid, ...where, workers: Object.keys(catalogOf(actor.system).workers).length })
  // This engine's part of another engine's /metrics (the metrics are made once the actor runs).
  let metricsPart = (): Promise<string> => Promise.reject(new Error('the engine is starting'))
  const actor: EngineActor = createActor(composeEngine(options, store ?? sqlite, cluster && { link: cluster, describe, metrics: () => metricsPart() }), {
    input: {
      clustered: cluster !== undefined,
      registrationTimeoutMs: options.registrationTimeoutMs,
      invocationTimeoutMs: options.invocationTimeoutMs,
      graceMs: options.graceMs,
      reconnectGraceMs: options.reconnectGraceMs,
      limits: options.limits,
      http: options.http,
    },
    inspect: options.inspect,
  })
  nameOf = (worker_id) => workerName(catalogOf(actor.system), worker_id)
  actor.on('log', (e) => log[e.level](e.data, e.msg))
  // Providers that listen (HTTP) report where, or why they could not.
  const providersReady = options.http
    ? new Promise<{ reason?: string; message: string } | undefined>((resolve) => {
        const done = () => (failed.unsubscribe(), check.unsubscribe())
        const failed = actor.on('provider.failed', (e) => (done(), resolve(e)))
        const check = actor.subscribe((snapshot) => snapshot.context.listening.http && (done(), resolve(undefined)))
      })
    : Promise.resolve(undefined)
  actor.start()

  const local = new Set<{ end: (reason: string) => void }>()
  const metrics = createMetrics(actor)
  metricsPart = () => metrics.part()
  const { open } = sessionPorts(actor, log, metrics.observeOutbound)
  const authenticate = options.auth && createAuthenticator(options.auth)
  const json = 'application/json; charset=utf-8'
  /** `/metrics` with tokens: only for a token whose scope has `engine` (docs/security.md). */
  const scrape = async (req: IncomingMessage): Promise<readonly [number, string, string]> => {
    if (authenticate) {
      const who = await authenticate(req)
      if (!who.ok) return [401, json, JSON.stringify({ error: who.error })]
      if (!who.identity.scope.engine) return [403, json, JSON.stringify({ error: errors.metricsForbidden(who.identity.name) })]
    }
    // In a cluster: every engine's series, or this engine's alone (`?scope=engine`, for a Prometheus that scrapes each engine).
    const scope = new URLSearchParams((req.url ?? '').split('?')[1] ?? '').get('scope') ?? 'cluster'
    if (scope !== 'cluster' && scope !== 'engine') return [400, json, JSON.stringify({ error: errors.invalidMessage(`/metrics: 'scope' must be cluster or engine, got ${JSON.stringify(scope)}`) })]
    return [200, metrics.registry.contentType, await metrics.render(scope)]
  }
  // The operator console, on the worker port (docs/console.md).
  const consoleServer: ConsoleServer | undefined =
    options.port !== undefined && options.console !== false
      ? createConsoleServer({
          actor,
          log,
          authenticate,
          inspectorUrl: typeof options.console === 'object' ? options.console.inspectorUrl : undefined,
          maxPayload: options.maxPayload,
          heartbeatMs: options.heartbeatMs,
        })
      : undefined
  const routes = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (consoleServer?.serve(req, res)) return true
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' || (path !== '/healthz' && path !== '/metrics')) return false
    const reply = path === '/healthz' ? metrics.health().then((h) => [h.status === 'ok' ? 200 : 503, json, JSON.stringify(h)] as const) : scrape(req)
    reply.then(
      ([status, type, body]) => res.writeHead(status, { 'content-type': type }).end(body),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
    )
    return true
  }

  let ws: WsServer | undefined
  try {
    const failure = await providersReady
    // Made here, so that its stack is the caller's, not the actor system's.
    if (failure) throw new ListenError('http', options.http!.host, options.http!.port, failure.reason, failure.message.replace(/^HTTP listener: /, ''))
  } catch (err) {
    actor.stop()
    await store?.close()
    lock?.release()
    await cluster?.close()
    throw err
  }
  if (options.port !== undefined) {
    try {
      ws = await startWsServer(
        {
          host: options.host,
          port: options.port,
          maxPayload: options.maxPayload,
          heartbeatMs: options.heartbeatMs,
          routes,
          authenticate,
          channels: {
            access: (channel_id, key, direction) => actorsOf(actor.system).channels()?.getSnapshot().context.access(channel_id, key, direction) ?? 'unknown',
            connect: (channel_id, direction, socket) => actorsOf(actor.system).channels()?.send({ type: 'channel.connect', channel_id, direction, socket }),
          },
          upgrades: consoleServer && ((req, socket, head) => consoleServer.upgrade(req, socket, head)),
          connected: consoleServer && ((worker_id, req) => consoleServer.workerConnected(worker_id, `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`)),
        },
        open,
        log,
      )
    } catch (err) {
      consoleServer?.close()
      actor.send({ type: 'engine.stop' })
      actor.stop()
      await store?.close()
      lock?.release()
      await cluster?.close()
      const e = err as NodeJS.ErrnoException
      throw new ListenError('websocket', options.host, options.port, e.code, e.message)
    }
  }
  actor.send({ type: 'engine.started' })

  const listening = actor.getSnapshot().context.listening.http
  const httpUrl = listening && `http://${listening.host.includes(':') ? `[${listening.host}]` : listening.host}:${listening.port}`
  where = { url: ws?.url, http_url: httpUrl }
  let stopping: Promise<void> | undefined
  return {
    url: ws?.url,
    port: ws?.port,
    consoleUrl: consoleServer && ws ? `${ws.url.replace(/^ws:/, 'http:')}/console` : undefined,
    metrics,
    httpUrl,
    actor,
    openSession: open,
    connect(connectOptions = {}) {
      let port: SessionPort | undefined
      const worker = new WorkerClient(connectOptions.name, () => port?.close('worker closed'), log)
      const entry = { end: () => worker.detach(true) }
      let disconnected: (() => void) | undefined
      port = open({
        out: (message) => queueMicrotask(() => worker.handle(plainMessage(message) as { type: string })),
        end: () => {
          disconnected?.()
          local.delete(entry)
          queueMicrotask(() => worker.detach(true))
        },
      })
      if (!port) throw new Error('The engine is not accepting connections')
      const session = port
      disconnected = consoleServer?.workerConnected(port.worker_id, 'in-process')
      local.add(entry)
      worker.attach({ send: (message) => session.receive(message), close: () => session.close('worker closed') })
      return worker
    },
    stop() {
      stopping ??= (async () => {
        ws?.stopAccepting()
        consoleServer?.close()
        actor.send({ type: 'engine.stop' })
        await new Promise<void>((resolve) => {
          if (actor.getSnapshot().status !== 'active') return resolve()
          const sub = actor.subscribe({ complete: () => (sub.unsubscribe(), resolve()), error: () => resolve() })
        })
        actor.stop()
        for (const entry of local) entry.end('engine stopped')
        local.clear()
        await ws?.close()
        // The provider closed it without waiting; a store on the network is closed once its connection is.
        await store?.close()
        lock?.release()
        await cluster?.close()
      })()
      return stopping
    },
  }
}
