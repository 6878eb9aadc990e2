/**
 * Streaming for http triggers, as iii does it. Each call an http trigger starts carries two
 * data channels (actors/channels.ts) in its input:
 *
 * - `request_body`, a read ref: the request body as a stream. A body that fits
 *   `http.maxBodyBytes` is also in `body`, as before, and waits in the channel for a reader;
 *   a larger body of a type the engine does not parse (binary, multipart: not JSON, a form,
 *   text or XML) is not refused with 413 but streamed: `body` is `null`, and the request is
 *   read as fast as the function reads its `request_body` (backpressure).
 * - `response`, a write ref: the function may write its response there instead of
 *   answering with it: text messages `{"type":"set_status","status_code":N}` and
 *   `{"type":"set_headers","headers":{…}}`, then the body as binary frames, streamed to
 *   the client as they come (chunked), until the writer closes.
 *
 * An answer with a value is the response, as before (the channels are dropped). An answer
 * with none (no `result`, or `null`) hands the response to the channel if its writer opens:
 * at once when it is open, else within RESPONSE_STREAM_WAIT_MS (core/response-stream.ts),
 * else the answer is 204 as before. Binary frames before the answer start the stream. Both
 * channels are released when the response is written (or its client leaves).
 *
 * They are this provider's own (`Exchanges`, delegated the `http:` ids), and lazy: a call
 * whose worker opens neither (the plain path) costs its exchange, which is also the call's
 * caller (its `reply` a method, so there is no reply closure), a map entry, a random key,
 * and the two refs in its input; no closure, timer or event. The relays are made when a
 * worker opens an end (or the request body must be streamed); the wait for a writer and
 * the wait for a stream's head are links in shared deadline lists (actors/deadlines.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { randomUUID } from 'node:crypto'
import { errors } from '../protocol/errors.js'
import type { ErrorBody } from '../protocol/messages.js'
import type { Outcome } from '../core/call-table.js'
import { Relay, type Frame, type RelayReader } from '../core/channel-relay.js'
import { DEFAULT_BUFFER_SIZE, sameKey, type Access, type ChannelRef, type Direction } from '../core/channel-table.js'
import { applyControl, newHead, RESPONSE_STREAM_WAIT_MS, type StreamHead } from '../core/response-stream.js'
import type { ChannelSocket } from '../machines/contracts.js'
import { attachSocket } from './channels.js'
import { Deadlines, type DeadlineEntry } from './deadlines.js'

/** Ids of http calls' channels: `http:<n>:body` (the request body) and `http:<n>:response`. */
export const HTTP_CHANNEL_PREFIX = 'http:'

/** How provider:http writes a response that is not streamed (given once, for every call). */
export interface ExchangeWrites {
  /** The function's answer (a value, or a failure) as the response. */
  respond(res: ServerResponse, outcome: Outcome, function_id: string): void
  /** An engine failure. */
  fail(res: ServerResponse, status: number, error: ErrorBody): void
}

/** The answer an exchange writes when its function answered nothing and no stream came (204). */
const EMPTY: Outcome = { result: null }

/**
 * One http call: its response, and its two channels. It is the call's caller (its `reply`
 * is the function's answer). Lazy: the relays, sockets and head exist only once a worker
 * opens an end (or the request body must be streamed).
 */
export class HttpExchange implements RelayReader, DeadlineEntry {
  /** The response: still open to either answer, waiting for the stream's writer or head, streaming, or written. */
  private state: 'open' | 'waiting' | 'streaming' | 'done' = 'open'
  bodyOpened = false
  responseOpened = false
  private body: Relay | undefined = undefined
  private response: Relay | undefined = undefined
  private sockets: ChannelSocket[] | undefined = undefined
  private head: StreamHead | undefined = undefined
  // DeadlineEntry: the exchange's link in a deadline list while it waits.
  due = 0
  prev: DeadlineEntry | undefined = undefined
  next: DeadlineEntry | undefined = undefined
  list: DeadlineEntry['list'] = undefined

  constructor(
    private readonly exchanges: Exchanges,
    readonly n: number,
    readonly key: string,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly function_id: string,
    /** The trigger's timeout: a stream whose writer is open and has sent no head within it is 504. */
    private readonly timeout_ms: number,
    /** The request body read whole, kept for a reader of `request_body` (none when the request has none, or it is streamed). */
    private readonly raw: Buffer | undefined,
  ) {}

  /** The read end of the request body, for the call's input. */
  bodyRef(): ChannelRef {
    return { channel_id: `${HTTP_CHANNEL_PREFIX}${this.n}:body`, access_key: this.key, direction: 'read' }
  }
  /** The write end of the response, for the call's input. */
  responseRef(): ChannelRef {
    return { channel_id: `${HTTP_CHANNEL_PREFIX}${this.n}:response`, access_key: this.key, direction: 'write' }
  }

  /** A worker opened one of the two ends. */
  connect(end: 'body' | 'response', socket: ChannelSocket): void {
    ;(this.sockets ??= []).push(socket)
    if (end === 'body') {
      this.bodyOpened = true
      return attachSocket(this.bodyRelay(), 'read', socket)
    }
    this.responseOpened = true
    attachSocket(this.responseRelay(), 'write', socket)
    // The writer opening while the engine waits for it: the response is the stream's, whose head must come within the timeout.
    if (this.state === 'waiting') {
      this.exchanges.deadlines.remove(this)
      this.exchanges.deadlines.add(this, this.timeout_ms, performance.now())
    }
  }

  /** The request body's relay: the body read whole, then its end (a streamed body's is made by `streamRequest`). */
  private bodyRelay(): Relay {
    if (this.body) return this.body
    const relay = (this.body = new Relay(DEFAULT_BUFFER_SIZE))
    if (this.raw !== undefined) relay.push({ binary: true, data: this.raw })
    relay.finish(true)
    return relay
  }

  /** A body larger than the limit, of a type the engine does not parse: read as fast as the worker reads it. */
  streamRequest(first: Buffer[]): void {
    const { req, res } = this
    // What the function leaves unread is not read: the connection closes after the response.
    res.shouldKeepAlive = false
    const relay = (this.body = new Relay(DEFAULT_BUFFER_SIZE))
    let stopped = false
    relay.attachWriter({ pause: () => req.pause(), resume: () => req.resume(), stop: () => ((stopped = true), req.resume()) })
    for (const chunk of first) relay.push({ binary: true, data: chunk })
    req.on('data', (chunk: Buffer) => stopped || relay.push({ binary: true, data: chunk }))
    req.on('end', () => relay.finish(true))
    req.on('aborted', () => relay.finish(false))
    req.on('error', () => relay.finish(false))
    req.resume()
  }

  private responseRelay(): Relay {
    if (this.response) return this.response
    this.response = new Relay(DEFAULT_BUFFER_SIZE)
    this.response.attachReader(this)
    // Once a stream may write the response, its end (or the client leaving) ends the call.
    this.res.once('close', () => this.release())
    return this.response
  }

  /** The function's answer (the exchange is the call's caller: invocations calls this as its method). */
  reply(outcome: Outcome): void {
    if (this.state !== 'open') return
    if (outcome.error !== undefined || (outcome.result !== undefined && outcome.result !== null)) return this.finish(outcome)
    // Nothing: the response is the stream's if its writer opens (or is open: then its head must come within the timeout).
    this.state = 'waiting'
    this.exchanges.deadlines.add(this, this.responseOpened ? this.timeout_ms : RESPONSE_STREAM_WAIT_MS, performance.now())
  }

  /** A wait ran out: no writer opened (the empty answer, 204), or an open writer sent no head (504). */
  expired(): void {
    if (this.state !== 'waiting') return
    if (!this.responseOpened) return this.finish(EMPTY)
    this.finish(undefined, 504, errors.invocationTimeout(this.function_id, this.timeout_ms))
  }

  /** Writes the response, once, as the answer (`outcome`) or an engine failure; ends the call. */
  private finish(outcome: Outcome | undefined, status = 0, error?: ErrorBody): void {
    if (this.state === 'done' || this.state === 'streaming') return
    this.state = 'done'
    if (outcome) this.exchanges.writes.respond(this.res, outcome, this.function_id)
    else this.exchanges.writes.fail(this.res, status, error!)
    this.release()
  }

  // ---- RelayReader: the response channel's frames.
  deliver(frame: Frame, done: () => void): void {
    if (this.state === 'done') return done()
    if (!frame.binary) {
      if (this.state !== 'streaming') applyControl((this.head ??= newHead()), frame.data)
      return done()
    }
    if (this.state !== 'streaming') this.startStream()
    if (this.state !== 'streaming' || this.res.destroyed) return done()
    this.res.write(frame.data, () => done())
  }

  end(clean: boolean): void {
    if (this.state === 'streaming') {
      this.state = 'done'
      return clean ? void this.res.end() : void this.res.destroy()
    }
    if (this.state === 'done') return
    // The writer closed before any byte: its head with an empty body (or, broken off, a failure).
    if (!clean) return this.finish(undefined, 503, errors.workerDisconnected(this.function_id))
    const head = (this.head ??= newHead())
    this.state = 'done'
    try {
      this.res.writeHead(head.status, head.headers).end()
    } catch (err) {
      this.exchanges.writes.fail(this.res, 500, errors.invalidResponse(this.function_id, `headers Node cannot send: ${(err as Error).message}`))
    }
    this.release()
  }

  private startStream(): void {
    const head = (this.head ??= newHead())
    this.state = 'streaming'
    this.exchanges.deadlines.remove(this)
    try {
      this.res.writeHead(head.status, head.headers)
    } catch (err) {
      this.state = 'done'
      this.exchanges.writes.fail(this.res, 500, errors.invalidResponse(this.function_id, `headers Node cannot send: ${(err as Error).message}`))
    }
  }

  /** The call ended: its channels end, the sockets on them close. */
  release(): void {
    if (!this.exchanges.forget(this.n)) return
    this.exchanges.deadlines.remove(this)
    this.body?.abort()
    this.response?.abort()
    if (this.sockets) for (const socket of this.sockets) socket.close(1000, 'http call ended')
  }
}

/**
 * The channels of provider:http's calls in flight. The channels actor delegates the
 * `http:` ids to it (`channel.delegate`): it answers for their keys and takes the sockets
 * a worker opens on them, so a call makes no event for its channels.
 */
export class Exchanges {
  private seq = 0
  private readonly live = new Map<number, HttpExchange>()
  /** The waits of exchanges whose function answered nothing: one timer per distinct wait, not one per call. */
  readonly deadlines = new Deadlines<HttpExchange>((exchange) => exchange.expired())

  constructor(readonly writes: ExchangeWrites) {}

  get size(): number {
    return this.live.size
  }

  /**
   * Opens one http call's exchange. `raw` is its body read whole; `streamed`, when the body
   * is streamed instead, what was read of it before it passed the limit.
   */
  open(req: IncomingMessage, res: ServerResponse, function_id: string, timeout_ms: number, raw: Buffer | undefined, streamed?: Buffer[]): HttpExchange {
    const n = ++this.seq
    const exchange = new HttpExchange(this, n, randomUUID(), req, res, function_id, timeout_ms, raw)
    this.live.set(n, exchange)
    if (streamed) exchange.streamRequest(streamed)
    return exchange
  }

  forget(n: number): boolean {
    return this.live.delete(n)
  }

  /** The call and end an id names: the body is read by the worker, the response written. */
  private find(channel_id: string): { exchange: HttpExchange; end: 'body' | 'response'; direction: Direction } | undefined {
    const at = channel_id.lastIndexOf(':')
    const end = channel_id.slice(at + 1)
    const number = channel_id.slice(HTTP_CHANNEL_PREFIX.length, at)
    if (!/^[1-9][0-9]*$/.test(number) || (end !== 'body' && end !== 'response')) return undefined
    const exchange = this.live.get(Number(number))
    if (!exchange) return undefined
    return { exchange, end, direction: end === 'body' ? 'read' : 'write' }
  }

  access(channel_id: string, key: string, direction: Direction): Access {
    const found = this.find(channel_id)
    if (!found) return 'unknown'
    if (found.direction !== direction || !sameKey(found.exchange.key, key)) return 'forbidden'
    return (found.end === 'body' ? found.exchange.bodyOpened : found.exchange.responseOpened) ? 'taken' : 'ok'
  }

  connect(channel_id: string, direction: Direction, socket: ChannelSocket): void {
    const found = this.find(channel_id)
    if (!found || found.direction !== direction || (found.end === 'body' ? found.exchange.bodyOpened : found.exchange.responseOpened)) return socket.close(1008, 'no such channel end')
    found.exchange.connect(found.end, socket)
  }

  releaseAll(): void {
    for (const exchange of [...this.live.values()]) exchange.release()
    this.deadlines.clear()
  }
}
