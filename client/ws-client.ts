/**
 * The worker client for other processes: a WorkerClient over a WebSocket. Workers often
 * start before or beside the engine, so the first connection is tried again with backoff
 * until it succeeds (or `connectTimeoutMs` passes), logging each failed attempt; after a
 * drop, it reconnects the same way, until `close()`. An engine that refuses the token
 * (HTTP 401) is not tried again: `connectWorker` rejects saying so, or a connected worker
 * that is refused on reconnecting closes.
 */
import WebSocket from 'ws'
import type { ErrorBody } from '../protocol/messages.js'
import { errors, type ErrorCode } from '../protocol/errors.js'
import { WorkerClient } from './worker.js'
import { silentLogger, stderrLogger, type WorkerLogger } from './worker-log.js'

/**
 * Why `connectWorker` rejected: `code` is `engine_unreachable` (the deadline passed; the
 * message gives the last reason, how long it tried and how many attempts it made) or
 * `unauthorized` (the engine refused the token: not tried again).
 */
export class ConnectError extends Error {
  readonly code: ErrorCode
  constructor(body: ErrorBody) {
    super(body.message)
    this.name = 'ConnectError'
    this.code = body.code as ErrorCode
  }
}

/** How long an attempt at the first connection may hang when `connectTimeoutMs` is near or past. */
const HANGING_ATTEMPT_MS = 5000

/** How long a closing socket waits for the engine's close frame before it is cut. */
const CLOSE_WAIT_MS = 2000

/** Closes `ws` with code 1000; resolves once it has closed (the engine answered the close frame), or after CLOSE_WAIT_MS, cutting it. */
function closeSocket(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve()
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      ws.terminate()
      resolve()
    }, CLOSE_WAIT_MS)
    ws.once('close', () => {
      clearTimeout(timer)
      resolve()
    })
    // Closing a socket that is still connecting aborts it (ws reports that as an error, already handled).
    if (ws.readyState !== WebSocket.CLOSING) ws.close(1000)
  })
}

export interface ConnectOptions {
  /** Described to the engine through `engine::workers::register`; it names the worker in the engine's logs and listings. */
  name?: string
  /** First delay before trying again (ms); doubles per failed attempt, with ±20 % jitter. Default 100. */
  initialDelayMs?: number
  /** Longest delay between attempts (ms). Default 5000. */
  maxDelayMs?: number
  /** Reconnect after a drop. Default true. */
  reconnect?: boolean
  /**
   * How long to keep trying the first connection (ms): attempts go on until it has passed
   * (the last one at the deadline), then `connectWorker` rejects with a `ConnectError`
   * (`code` `engine_unreachable`). Default: forever. 0: one attempt.
   */
  connectTimeoutMs?: number
  /**
   * Where the worker says what its author should know: each failed attempt to connect
   * (`warn`), a reconnect (`info`), every registration the engine refused (`warn`).
   * Default: one line per event on standard error; `false`: nowhere.
   */
  logger?: WorkerLogger | false
  /** The token of an engine that requires one, sent as `Authorization: Bearer <token>` (docs/security.md). */
  token?: string
}

/** A connection error in words: `nothing is listening there (ECONNREFUSED)`. */
const reasonOf = (err: Error & { code?: string }) =>
  err.code === 'ECONNREFUSED' ? `nothing is listening there (ECONNREFUSED)` : err.code === 'ENOTFOUND' ? `the host name does not resolve (ENOTFOUND)` : err.message

/**
 * Connects a worker to `url` (e.g. `ws://127.0.0.1:49134`). Resolves once the engine
 * greeted it; rejects only when `connectTimeoutMs` passes first, or the engine refuses the
 * token, with a `ConnectError` saying why (`Cannot reach the engine at <url>: …; gave up
 * after <ms> ms and <n> attempts`).
 */
export async function connectWorker(url: string, options: ConnectOptions = {}): Promise<WorkerClient> {
  const log = options.logger === false ? silentLogger : (options.logger ?? stderrLogger(options.name))
  let timer: NodeJS.Timeout | undefined
  let socket: WebSocket | undefined
  const worker = new WorkerClient(
    options.name,
    () => {
      clearTimeout(timer)
      return socket ? closeSocket(socket) : undefined
    },
    log,
  )
  const initial = options.initialDelayMs ?? 100
  const max = options.maxDelayMs ?? 5000
  const started = Date.now()
  const deadline = started + (options.connectTimeoutMs ?? Infinity)
  let attempt = 0
  /** Attempts at the first connection, for the give-up line. */
  let attempts = 0
  let greeted = false
  let lastError: string | undefined
  let giveUp: ((err: Error) => void) | undefined
  /** Set when the engine refused the token: no point in trying again. */
  let refused: string | undefined
  const headers = options.token === undefined ? undefined : { authorization: `Bearer ${options.token}` }

  const backoff = () => Math.round(Math.min(max, initial * 2 ** attempt++) * (0.8 + Math.random() * 0.4))

  const dial = () => {
    if (!greeted) attempts++
    // An attempt at the first connection that hangs (a host that drops packets) ends by the deadline, or 5 s after the last one starts.
    const handshakeTimeout = !greeted && deadline !== Infinity ? Math.max(HANGING_ATTEMPT_MS, deadline - Date.now()) : undefined
    const ws = new WebSocket(url, handshakeTimeout === undefined ? { maxPayload: 64 * 1024 * 1024, headers } : { maxPayload: 64 * 1024 * 1024, headers, handshakeTimeout })
    socket = ws
    lastError = undefined
    /** Whether the engine greeted this connection (not only an earlier one). */
    let welcomed = false
    ws.on('open', () => {
      worker.attach({
        send: (message) => {
          const frame = JSON.stringify(message)
          if (ws.readyState === WebSocket.OPEN) ws.send(frame)
        },
        close: () => closeSocket(ws),
      })
    })
    ws.on('message', (data: Buffer) => {
      let message: unknown
      try {
        message = JSON.parse(data.toString('utf8'))
      } catch {
        return
      }
      if (typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string') {
        if ((message as { type: string }).type === 'workerregistered') (attempt = 0), (welcomed = true)
        worker.handle(message as { type: string })
      }
    })
    ws.on('error', (err) => (lastError = reasonOf(err)))
    ws.on('unexpected-response', (_req, res) => {
      lastError = `the engine answered HTTP ${res.statusCode}${res.statusCode === 503 ? ' (it is stopping)' : ''}`
      if (res.statusCode === 401) {
        refused =
          options.token === undefined
            ? 'the engine requires a token (HTTP 401): pass connectWorker(url, { token }) or set SIGNALBOX_TOKEN for the CLI'
            : 'the engine did not accept the token (HTTP 401)'
      }
      ws.terminate()
    })
    ws.on('close', (code, reason) => {
      if (worker.isClosed) return worker.detach(true)
      if (refused) {
        worker.detach(true)
        if (!greeted) {
          log.error({ url, reason: refused }, `cannot connect to the engine at ${url}: ${refused}; giving up`)
          return giveUp?.(new ConnectError(errors.engineRefusedToken(url, refused)))
        }
        log.warn({ url, reason: refused }, `cannot reconnect to the engine at ${url}: ${refused}; the worker stops`)
        return worker.close()
      }
      // The first connection is tried until the deadline; later ones while `reconnect` holds.
      const again = greeted ? options.reconnect !== false : true
      worker.detach(!again)
      if (!again) return
      let delay = backoff()
      if (welcomed) {
        log.info({ url, retry_in_ms: delay, code }, `the connection to ${url} was lost (${code}); reconnecting in ${delay} ms`)
      } else {
        const why = lastError ?? `the connection closed before the engine greeted the worker (${code}${reason.length ? ` ${reason}` : ''})`
        if (!greeted) {
          // The first connection is tried until the deadline, the last attempt at it: never a backoff's worth early.
          const now = Date.now()
          if (now >= deadline) {
            const error = errors.engineUnreachable(url, why, now - started, attempts)
            log.error({ url, attempts, elapsed_ms: now - started, reason: why }, (error.message ?? '').replace(/^Cannot/, 'cannot'))
            return giveUp?.(new ConnectError(error))
          }
          delay = Math.min(delay, deadline - now)
        }
        log.warn({ url, attempt, retry_in_ms: delay, reason: why }, `cannot reach the engine at ${url}: ${why}; trying again in ${delay} ms (attempt ${attempt})`)
      }
      timer = setTimeout(dial, delay)
    })
  }

  await new Promise<void>((resolve, reject) => {
    giveUp = (err) => {
      giveUp = undefined
      worker.close()
      reject(err)
    }
    dial()
    worker.ready().then(() => {
      greeted = true
      giveUp = undefined
      resolve()
    })
  })
  return worker
}
