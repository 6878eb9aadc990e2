/**
 * The operator console, served by the engine on its worker port: the page and its assets
 * at `/console` (plain files shipped in the package: console/*.html and *.css, and the
 * browser code compiled from console/*.ts into dist/console), and its live updates over
 * a WebSocket at `/console/ws` (protocol/console.ts says what passes there).
 *
 * A console session is read-only unless its token's scope allows more (core/console-view.ts
 * `consoleRights`). The engine pushes what changed, when it changed: the catalog's
 * changes at once, the invocations that ended a few times a second, and once a second
 * while anyone watches, the rates, the calls in flight and the queues' counts (which
 * the queue store changes without telling anyone). Each section is sent whole, and only
 * when its JSON differs from what was last sent.
 */
import { readFileSync, readdirSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { dirname, extname, join } from 'node:path'
import type { Duplex } from 'node:stream'
import { fileURLToPath } from 'node:url'
import * as v from 'valibot'
import { WebSocketServer, type WebSocket } from 'ws'
import { errors } from '../protocol/errors.js'
import type { ErrorBody } from '../protocol/messages.js'
import { ENGINE_FUNCTIONS, isEngineFunction } from '../protocol/engine-functions.js'
import {
  CONSOLE_CLOSE,
  ConsoleRequestSchema,
  type ConsoleMessage,
  type ConsoleRequest,
  type ConsoleRights,
  type ConsoleSections,
  type QueueRow,
  type SectionName,
} from '../protocol/console.js'
import type { Identity } from '../core/auth.js'
import { CallStats, FeedBuffer } from '../core/console-stats.js'
import {
  clusterOverview,
  consoleRights,
  failedTriggerRows,
  functionRows,
  inFlightByWorker,
  mayInvoke,
  overview,
  redriveLacks,
  triggerRows,
  triggerTypeRows,
  workerRows,
  type NextRunsMemo,
} from '../core/console-view.js'
import { actorsOf, catalogOf } from '../machines/system.js'
import type { CatalogState } from '../core/catalog.js'
import type { Authenticator } from './authenticator.js'
import type { Logger } from './logger.js'
import type { EngineActor } from './session-port.js'

export interface ConsoleServerOptions {
  actor: EngineActor
  log: Logger
  /** The engine's authenticator, when it has tokens. */
  authenticate?: Authenticator
  /** The Stately inspector's page, linked from the console. */
  inspectorUrl?: string
  maxPayload: number
  heartbeatMs: number
}

export interface ConsoleServer {
  /** Answers `GET /console…` and returns true, or returns false for any other request. */
  serve(req: IncomingMessage, res: ServerResponse): boolean
  /** Takes the upgrade of `/console/ws` and returns true, or returns false for any other path. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean
  /** A worker's connection opened from `address` (a peer address, or `in-process`); call what it returns when it ends. */
  workerConnected(worker_id: string, address: string): () => void
  /** Ends every console session and stops counting. */
  close(): void
}

const here = dirname(fileURLToPath(import.meta.url))
/** Where the page and its styles are (the package's console/), and the compiled browser code (dist/console). */
const STATIC_DIR = join(here, '..', '..', 'console')
const SCRIPT_DIR = join(here, '..', 'console')

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
}

/** The console's files by name, read once. */
function readAssets(): Map<string, { type: string; body: Buffer }> {
  const assets = new Map<string, { type: string; body: Buffer }>()
  const add = (dir: string, exts: string[]) => {
    let names: string[] = []
    try {
      names = readdirSync(dir)
    } catch {
      return
    }
    for (const name of names) {
      const ext = extname(name)
      if (exts.includes(ext)) assets.set(name, { type: TYPES[ext], body: readFileSync(join(dir, name)) })
    }
  }
  add(STATIC_DIR, ['.html', '.css', '.svg'])
  add(SCRIPT_DIR, ['.js'])
  return assets
}

const HEADERS = {
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}

function packageVersion(): string {
  try {
    return String(JSON.parse(readFileSync(join(here, '..', '..', 'package.json'), 'utf8')).version)
  } catch {
    return 'unknown'
  }
}

/** The browser's request, as the authenticator reads one: the token of its `hello` as a bearer header. */
const withToken = (req: IncomingMessage, token: string | undefined) =>
  ({ headers: { ...req.headers, authorization: token === undefined ? undefined : `Bearer ${token}` }, socket: req.socket, url: req.url }) as unknown as IncomingMessage

/** Whether an upgrade comes from a page of this engine (or from no page at all). */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin
  if (origin === undefined) return true
  try {
    return new URL(origin).host === req.headers.host
  } catch {
    return false
  }
}

/** An engine error as the console shows it. */
const shown = (e: ErrorBody) => ({ code: e.code, message: e.message ?? '' })

/** What an error outcome shows in the console: the worker's error object if it is one, else that value in words. */
function shownError(error: unknown): { code: string; message: string } {
  if (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string') {
    const e = error as { code: string; message?: unknown }
    return { ...(error as object), code: e.code, message: typeof e.message === 'string' ? e.message : '' }
  }
  return shown(errors.handlerFailed(typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error)), 'invocation_failed'))
}

interface Client {
  ws: WebSocket
  req: IncomingMessage
  alive: boolean
  rights?: ConsoleRights
  identity?: Identity
  /** Requests it waits for. */
  pending: number
  helloTimer?: NodeJS.Timeout
}

/** Most requests one console session may have waiting. */
const MAX_PENDING = 32
/** A console session that has this much unsent is too slow: it is closed. */
const MAX_BUFFERED = 16 * 1024 * 1024
/** The sections drawn from the catalog: redrawn when it changes. */
const CATALOG_SECTIONS: readonly SectionName[] = ['overview', 'workers', 'functions', 'triggers', 'failed_triggers', 'trigger_types']
/** Every section: all are sent to a console when it connects. */
const ALL_SECTIONS: readonly SectionName[] = [...CATALOG_SECTIONS, 'queues']

/** The most a console message may weigh (the engine's maxPayload when smaller). */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024
const HELLO_WITHIN_MS = 10_000
const TICK_MS = 1000

export function createConsoleServer(options: ConsoleServerOptions): ConsoleServer {
  const { actor, log } = options
  const system = actor.system
  const started_at = new Date().toISOString()
  const version = packageVersion()
  const engineIds = Object.keys(ENGINE_FUNCTIONS)
  const maxPayload = Math.min(options.maxPayload, MAX_MESSAGE_BYTES)
  let assets: Map<string, { type: string; body: Buffer }> | undefined

  const stats = new CallStats()
  const feed = new FeedBuffer()
  const clients = new Set<Client>()
  const watching = () => [...clients].filter((c) => c.rights !== undefined)
  /** Where each connected worker connects from, until its connection ends. */
  const addresses = new Map<string, string>()
  let closed = false

  // What was last sent of each section (its JSON), and what may have changed since.
  const sent = new Map<SectionName, string>()
  const current: Partial<Record<SectionName, unknown>> = {}
  const dirty = new Set<SectionName>(ALL_SECTIONS)
  let triggersStaleAt = Infinity
  const nextRunsMemo: NextRunsMemo = new Map()
  let queues: QueueRow[] = []

  // Counting: every call that ends, whether or not anyone watches.
  const invocations = actorsOf(system).invocations()
  const ended = invocations?.on('invocation.ended', (e) => {
    const now = Date.now()
    const ms = e.seconds * 1000
    // Only functions someone offers (or the engine's): calls of unknown ids must not grow the table.
    if (isEngineFunction(e.function_id) || catalogOf(system).functions[e.function_id] !== undefined) stats.record(e.function_id, e.outcome, ms, now)
    const collect = clients.size > 0
    feed.push(now, e.function_id, e.source, e.outcome, Math.round(ms * 100) / 100, collect)
    if (!collect) return
    dirty.add('functions')
    schedule(250)
  })
  const catalogRef = actorsOf(system).catalog()
  const catalogSub = catalogRef?.subscribe((snapshot) => {
    // A function nobody offers any more takes its figures with it.
    if (stats.size > 0) {
      const { functions } = snapshot.context as CatalogState
      stats.prune((id) => isEngineFunction(id) || functions[id] !== undefined)
    }
    if (clients.size === 0) return
    for (const s of CATALOG_SECTIONS) dirty.add(s)
    schedule(50)
  })

  let flushTimer: NodeJS.Timeout | undefined
  let flushing: Promise<void> | undefined
  let again = false
  function schedule(delay: number): void {
    if (closed || clients.size === 0) return
    if (flushing) {
      again = true
      return
    }
    if (flushTimer) return
    flushTimer = setTimeout(() => {
      flushTimer = undefined
      flushing = flush().finally(() => {
        flushing = undefined
        if (again) {
          again = false
          schedule(0)
        }
      })
    }, delay)
  }

  let ticker: NodeJS.Timeout | undefined
  const tick = () => {
    dirty.add('overview')
    dirty.add('workers')
    dirty.add('queues')
    if (Date.now() >= triggersStaleAt) dirty.add('triggers')
    schedule(0)
  }

  const listQueues = (): Promise<QueueRow[]> => {
    const provider = actorsOf(system).queueProvider()
    if (!provider) return Promise.resolve([])
    return new Promise((resolve) => provider.send({ type: 'queue.list', reply: (list) => resolve(list as QueueRow[]) }))
  }

  /** Computes the sections marked dirty and pushes those that changed, then the feed. */
  async function flush(): Promise<void> {
    if (closed) return
    if (dirty.has('queues')) {
      dirty.delete('queues')
      const list = await listQueues()
      if (closed) return
      queues = list
      current.queues = list
      dirty.add('overview')
      markChanged('queues')
    }
    const now = Date.now()
    const catalog = catalogOf(system)
    const callsJson = dirty.has('workers') || dirty.has('overview') ? (actorsOf(system).invocations()?.getSnapshot().context.toJSON() as { in_flight: number; calls: Record<string, { worker_id: string }> } | undefined) : undefined
    for (const section of [...dirty]) {
      dirty.delete(section)
      if (section === 'workers') {
        current.workers = workerRows(catalog, inFlightByWorker(callsJson?.calls ?? {}), addresses)
      } else if (section === 'functions') {
        for (const id of [...stats.functionIds()]) if (!isEngineFunction(id) && !catalog.functions[id]) stats.forget(id)
        current.functions = functionRows(catalog, engineIds, stats)
      } else if (section === 'triggers') {
        const { rows, staleAt } = triggerRows(catalog, new Date(now), nextRunsMemo)
        triggersStaleAt = staleAt
        current.triggers = rows
      } else if (section === 'failed_triggers') current.failed_triggers = failedTriggerRows(catalog)
      else if (section === 'trigger_types') current.trigger_types = triggerTypeRows(catalog)
      else if (section === 'overview') {
        // In a cluster, the engines it hears of (as /healthz says them); alone, nothing more.
        const membership = actorsOf(system).cluster()?.getSnapshot().context.membership
        const cluster = membership ? clusterOverview(membership.self, membership.list()) : undefined
        current.overview = overview({ catalog, version, started_at, callsInFlight: callsJson?.in_flight ?? 0, series: stats.series(now), queues, cluster })
      }
      markChanged(section)
    }
    if (changed.size > 0) {
      const sections: Partial<ConsoleSections> = {}
      for (const s of changed) (sections as Record<string, unknown>)[s] = current[s]
      changed.clear()
      broadcast({ type: 'state', sections })
    }
    const pending = feed.take()
    if (pending) broadcast({ type: 'feed', ...pending })
  }
  const changed = new Set<SectionName>()
  function markChanged(section: SectionName): void {
    const json = JSON.stringify(current[section])
    if (sent.get(section) === json) return
    sent.set(section, json)
    changed.add(section)
  }

  function send(client: Client, message: ConsoleMessage): void {
    const { ws } = client
    if (ws.readyState !== ws.OPEN) return
    if (ws.bufferedAmount > MAX_BUFFERED) {
      log.warn({ peer: client.req.socket.remoteAddress }, 'console session closed: it could not keep up')
      ws.close(CONSOLE_CLOSE.slow, 'too slow')
      return
    }
    ws.send(JSON.stringify(message))
  }
  function broadcast(message: ConsoleMessage): void {
    const text = JSON.stringify(message)
    for (const client of watching()) {
      if (client.ws.readyState !== client.ws.OPEN) continue
      if (client.ws.bufferedAmount > MAX_BUFFERED) {
        client.ws.close(CONSOLE_CLOSE.slow, 'too slow')
        continue
      }
      client.ws.send(text)
    }
  }

  const refuse = (client: Client, error: { code: string; message: string }) => {
    send(client, { type: 'refused', error })
    client.ws.close(CONSOLE_CLOSE.refused, error.code)
  }

  async function hello(client: Client, token: string | undefined): Promise<void> {
    let identity: Identity | undefined
    if (options.authenticate) {
      const who = await options.authenticate(withToken(client.req, token))
      if (!who.ok) {
        log.warn({ peer: client.req.socket.remoteAddress, reason: who.reason }, 'console session refused: not authenticated')
        return refuse(client, shown(token === undefined ? errors.tokenRequired() : errors.tokenRefused()))
      }
      identity = who.identity
    }
    const rights = consoleRights(identity)
    if (!rights.view) return refuse(client, shown(errors.consoleForbidden(identity!.name)))
    if (client.ws.readyState !== client.ws.OPEN) return
    client.identity = identity
    client.rights = { invoke: rights.invoke, engine: rights.engine, redrive: rights.redrive }
    send(client, { type: 'welcome', identity: identity?.name, rights: client.rights, version, started_at, inspector_url: options.inspectorUrl, max_message_bytes: maxPayload })
    // Everything as it is now, then the recent invocations.
    const sections: Partial<ConsoleSections> = {}
    for (const [s, json] of sent) (sections as Record<string, unknown>)[s] = JSON.parse(json)
    if (Object.keys(sections).length > 0) send(client, { type: 'state', sections })
    send(client, { type: 'feed', entries: feed.recent(), skipped: 0 })
    ticker ??= setInterval(tick, TICK_MS)
    for (const s of ALL_SECTIONS) dirty.add(s)
    schedule(0)
  }

  function request(client: Client, message: Exclude<ConsoleRequest, { type: 'hello' }>): void {
    const rights = client.rights!
    const who = client.identity?.name ?? 'console'
    const startedAt = performance.now()
    const answer = (outcome: { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } }) => {
      client.pending--
      send(client, { type: 'result', id: message.id, ...outcome, ms: Math.round((performance.now() - startedAt) * 100) / 100 })
    }
    if (client.pending >= MAX_PENDING) return send(client, { type: 'result', id: message.id, ok: false, error: shown(errors.consoleBusy(MAX_PENDING)), ms: 0 })
    client.pending++
    if (message.type === 'invoke') {
      if (!mayInvoke(rights, message.function_id)) {
        return answer({ ok: false, error: shown(errors.consoleMayNotInvoke(message.function_id, who)) })
      }
      const calls = actorsOf(system).invocations()
      if (!calls) return answer({ ok: false, error: shown(errors.engineStopping()) })
      log.info({ token: client.identity?.name, function_id: message.function_id }, 'console invoked a function')
      calls.send({
        type: 'invocation.start',
        source: 'engine',
        function_id: message.function_id,
        data: message.data,
        timeout_ms: message.timeout_ms,
        caller: { reply: (outcome) => answer(outcome.error === undefined ? { ok: true, result: outcome.result } : { ok: false, error: shownError(outcome.error) }) },
      })
      return
    }
    const provider = actorsOf(system).queueProvider()
    if (!provider) return answer({ ok: false, error: shown(errors.queueUnavailable()) })
    const reply = (r: { result: unknown } | { error: unknown }) => answer('error' in r ? { ok: false, error: shownError(r.error) } : { ok: true, result: r.result })
    if (message.type === 'dead-letters') {
      provider.send({ type: 'queue.deadLetters', dead_letter_queue: message.dead_letter_queue, limit: message.limit ?? 100, reply })
      return
    }
    if (!rights.redrive) {
      return answer({ ok: false, error: shown(errors.consoleMayNotRedrive(who, redriveLacks(rights) ?? "its scope does not allow it")) })
    }
    log.info({ token: client.identity?.name, dead_letter_queue: message.dead_letter_queue, message_ids: message.message_ids?.length ?? 'all' }, 'console redrove dead letters')
    provider.send({
      type: 'queue.redrive',
      dead_letter_queue: message.dead_letter_queue,
      message_ids: message.message_ids,
      reply: (r) => {
        reply(r)
        dirty.add('queues')
        schedule(0)
      },
    })
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload })
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const client: Client = { ws, req, alive: true, pending: 0 }
    clients.add(client)
    client.helloTimer = setTimeout(() => client.rights === undefined && ws.close(CONSOLE_CLOSE.silent, 'no hello'), HELLO_WITHIN_MS)
    ws.on('pong', () => (client.alive = true))
    ws.on('error', () => ws.terminate())
    ws.on('close', () => {
      clearTimeout(client.helloTimer)
      clients.delete(client)
      if (clients.size === 0 && ticker) {
        clearInterval(ticker)
        ticker = undefined
      }
    })
    let greeted = false
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      client.alive = true
      let parsed: v.SafeParseResult<typeof ConsoleRequestSchema> | undefined
      if (!isBinary) {
        try {
          parsed = v.safeParse(ConsoleRequestSchema, JSON.parse(data.toString('utf8')))
        } catch {
          parsed = undefined
        }
      }
      if (!parsed?.success) return ws.close(CONSOLE_CLOSE.invalid, 'not a console message')
      const message = parsed.output
      if (message.type === 'hello') {
        if (greeted) return ws.close(CONSOLE_CLOSE.invalid, 'hello twice')
        greeted = true
        clearTimeout(client.helloTimer)
        hello(client, message.token).catch((err: unknown) => {
          log.error({ err: String(err) }, 'console session failed')
          ws.close(1011, 'internal error')
        })
        return
      }
      if (!client.rights) return ws.close(CONSOLE_CLOSE.invalid, 'hello first')
      request(client, message)
    })
  })

  const heartbeat = setInterval(() => {
    for (const client of clients) {
      if (!client.alive) {
        client.ws.terminate()
        continue
      }
      client.alive = false
      client.ws.ping()
    }
  }, options.heartbeatMs)
  heartbeat.unref()

  return {
    serve(req, res) {
      const path = (req.url ?? '/').split('?')[0]
      if (path !== '/console' && !path.startsWith('/console/')) return false
      if (req.method !== 'GET' && req.method !== 'HEAD') return false
      assets ??= readAssets()
      const name = path === '/console' || path === '/console/' ? 'index.html' : path.slice('/console/'.length)
      const asset = assets.get(name)
      if (!asset) return false
      res.writeHead(200, { ...HEADERS, 'content-type': asset.type, 'content-length': asset.body.length })
      res.end(req.method === 'HEAD' ? undefined : asset.body)
      return true
    },
    upgrade(req, socket, head) {
      const path = (req.url ?? '/').split('?')[0]
      if (path !== '/console/ws') return false
      if (closed || !sameOrigin(req)) {
        log.warn({ peer: req.socket.remoteAddress, origin: req.headers.origin }, 'console connection refused: from a page of another origin')
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
        return true
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
      return true
    },
    workerConnected(worker_id, address) {
      addresses.set(worker_id, address)
      return () => addresses.delete(worker_id)
    },
    close() {
      if (closed) return
      closed = true
      clearInterval(heartbeat)
      clearInterval(ticker)
      clearTimeout(flushTimer)
      ended?.unsubscribe()
      catalogSub?.unsubscribe()
      for (const client of clients) client.ws.close(1001, 'engine stopped')
      setTimeout(() => {
        for (const client of clients) client.ws.terminate()
      }, 500).unref()
    },
  }
}
