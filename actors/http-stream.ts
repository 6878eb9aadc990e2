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
 * caller (its `reply` a method, so there is no reply closure), a random key, and the two
 * refs in its input (one id for both); no closure, timer or event, and no Map entry (a
 * slot in an array). The relays are made when a worker opens an end (or the request body
 * must be streamed); the wait for a writer and the wait for a stream's head are links in
 * shared deadline lists (actors/deadlines.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { RandomText } from '../core/random-text.js'
import { errors } from '../protocol/errors.js'
import type { ErrorBody } from '../protocol/messages.js'
import type { Outcome } from '../core/call-table.js'
import { Relay, type Frame, type RelayReader } from '../core/channel-relay.js'
import { DEFAULT_BUFFER_SIZE, sameKey, type Access, type ChannelRef, type Direction } from '../core/channel-table.js'
import { applyControl, newHead, RESPONSE_STREAM_WAIT_MS, type StreamHead } from '../core/response-stream.js'
import type { ChannelSocket } from '../machines/contracts.js'
import { attachSocket } from './channels.js'
import { Deadlines, type DeadlineEntry } from './deadlines.js'

/**
 * Ids of http calls' channels: `http:<n>`, one per call, whose read end is the request body
 * and whose write end is the response (the worker reads the request and writes the answer).
 */
export const HTTP_CHANNEL_PREFIX = 'http:'

/** How provider:http writes a response that is not streamed (given once, for every call). */
export interface ExchangeWrites {
  /** The function's answer (a value, or a failure) as the response. */
  respond(res: ServerResponse, outcome: Outcome, function_id: string): void
  /** An engine failure. */
  fail(res: ServerResponse, status: number, error: ErrorBody): void
}

/** A call's access key: 22 base64url characters (132 random bits), sliced from pooled random text. */
const keys = new RandomText('base64url', 4095)
const newKey = (): string => keys.take(22)

/** The answer an exchange writes when its function answered nothing and no stream came (204). */
const EMPTY: Outcome = { result: null }

/** What an exchange makes once a worker opens one of its ends (or its request body is streamed). */
interface Ends {
  bodyOpened: boolean
  responseOpened: boolean
  body?: Relay
  response?: Relay
  head?: StreamHead
  sockets: ChannelSocket[]
}

/**
 * One http call: its response, and its two channels. It is the call's caller (its `reply`
 * is the function's answer). Lazy: the relays, sockets and head (`ends`) exist only once a
 * worker opens an end (or the request body must be streamed).
 */
export class HttpExchange implements RelayReader, DeadlineEntry {
  /** The response: still open to either answer, waiting for the stream's writer or head, streaming, or written. */
  private state: 'open' | 'waiting' | 'streaming' | 'done' = 'open'
  private ends: Ends | undefined = undefined
  /** The id of both its channels: the read end is the request body, the write end the response. */
  readonly channel_id: string
  // DeadlineEntry: the exchange's link in a deadline list while it waits.
  due = 0
  prev: DeadlineEntry | undefined = undefined
  next: DeadlineEntry | undefined = undefined
  list: DeadlineEntry['list'] = undefined

  constructor(
    private readonly exchanges: Exchanges,
    readonly n: number,
    readonly key: string,
    private readonly res: ServerResponse,
    private readonly function_id: string,
    /** The trigger's timeout: a stream whose writer is open and has sent no head within it is 504. */
    private readonly timeout_ms: number,
    /** The request body read whole, kept for a reader of `request_body` (none when the request has none, or it is streamed). */
    private readonly raw: Buffer | undefined,
  ) {
    this.channel_id = HTTP_CHANNEL_PREFIX + n
  }

  /** Whether that end was opened (by a worker). */
  opened(direction: Direction): boolean {
    return this.ends !== undefined && (direction === 'read' ? this.ends.bodyOpened : this.ends.responseOpened)
  }

  private get made(): Ends {
    return (this.ends ??= { bodyOpened: false, responseOpened: false, sockets: [] })
  }

  /** A worker opened one of the two ends: the request body's (`read`) or the response's (`write`). */
  connect(direction: Direction, socket: ChannelSocket): void {
    const ends = this.made
    ends.sockets.push(socket)
    if (direction === 'read') {
      ends.bodyOpened = true
      return attachSocket(this.bodyRelay(ends), 'read', socket)
    }
    ends.responseOpened = true
    attachSocket(this.responseRelay(ends), 'write', socket)
    // The writer opening while the engine waits for it: the response is the stream's, whose head must come within the timeout.
    if (this.state === 'waiting') {
      this.exchanges.deadlines.remove(this)
      this.exchanges.deadlines.add(this, this.timeout_ms, performance.now())
    }
  }

  /** The request body's relay: the body read whole, then its end (a streamed body's is made by `streamRequest`). */
  private bodyRelay(ends: Ends): Relay {
    if (ends.body) return ends.body
    const relay = (ends.body = new Relay(DEFAULT_BUFFER_SIZE))
    if (this.raw !== undefined) relay.push({ binary: true, data: this.raw })
    relay.finish(true)
    return relay
  }

  /** A body larger than the limit, of a type the engine does not parse: read as fast as the worker reads it. */
  streamRequest(req: IncomingMessage, first: Buffer[]): void {
    // What the function leaves unread is not read: the connection closes after the response.
    this.res.shouldKeepAlive = false
    const relay = (this.made.body = new Relay(DEFAULT_BUFFER_SIZE))
    let stopped = false
    relay.attachWriter({ pause: () => req.pause(), resume: () => req.resume(), stop: () => ((stopped = true), req.resume()) })
    for (const chunk of first) relay.push({ binary: true, data: chunk })
    req.on('data', (chunk: Buffer) => stopped || relay.push({ binary: true, data: chunk }))
    req.on('end', () => relay.finish(true))
    req.on('aborted', () => relay.finish(false))
    req.on('error', () => relay.finish(false))
    req.resume()
  }

  private responseRelay(ends: Ends): Relay {
    if (ends.response) return ends.response
    const relay = (ends.response = new Relay(DEFAULT_BUFFER_SIZE))
    relay.attachReader(this)
    // Once a stream may write the response, its end (or the client leaving) ends the call.
    this.res.once('close', () => this.release())
    return relay
  }

  /** The function's answer (the exchange is the call's caller: invocations calls this as its method). */
  reply(outcome: Outcome): void {
    if (this.state !== 'open') return
    if (outcome.error !== undefined || (outcome.result !== undefined && outcome.result !== null)) return this.finish(outcome)
    // Nothing: the response is the stream's if its writer opens (or is open: then its head must come within the timeout).
    this.state = 'waiting'
    this.exchanges.deadlines.add(this, this.opened('write') ? this.timeout_ms : RESPONSE_STREAM_WAIT_MS, performance.now())
  }

  /** A wait ran out: no writer opened (the empty answer, 204), or an open writer sent no head (504). */
  expired(): void {
    if (this.state !== 'waiting') return
    if (!this.opened('write')) return this.finish(EMPTY)
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
      if (this.state !== 'streaming') applyControl((this.made.head ??= newHead()), frame.data)
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
    const head = (this.made.head ??= newHead())
    this.state = 'done'
    try {
      this.res.writeHead(head.status, head.headers).end()
    } catch (err) {
      this.exchanges.writes.fail(this.res, 500, errors.invalidResponse(this.function_id, `headers Node cannot send: ${(err as Error).message}`))
    }
    this.release()
  }

  private startStream(): void {
    const head = (this.made.head ??= newHead())
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
    const ends = this.ends
    if (!ends) return
    ends.body?.abort()
    ends.response?.abort()
    for (const socket of ends.sockets) socket.close(1000, 'http call ended')
  }
}

/**
 * The channels of provider:http's calls in flight. The channels actor delegates the
 * `http:` ids to it (`channel.delegate`): it answers for their keys and takes the sockets
 * a worker opens on them, so a call makes no event for its channels.
 */
export class Exchanges {
  private seq = 0
  /**
   * The exchanges in flight, each in slot `n & mask` (a new call skips the numbers whose
   * slot is taken, and the slots double when half are): opening and ending a call writes a
   * slot, where a Map's entries made garbage on every call.
   */
  private slots: (HttpExchange | undefined)[] = Array.from({ length: 64 }, () => undefined)
  private mask = 63
  private count = 0
  /** The waits of exchanges whose function answered nothing: one timer per distinct wait, not one per call. */
  readonly deadlines = new Deadlines<HttpExchange>((exchange) => exchange.expired())

  constructor(readonly writes: ExchangeWrites) {}

  get size(): number {
    return this.count
  }

  /**
   * Opens one http call's exchange. `raw` is its body read whole; `streamed`, when the body
   * is streamed instead, what was read of it before it passed the limit.
   */
  open(req: IncomingMessage, res: ServerResponse, function_id: string, timeout_ms: number, raw: Buffer | undefined, streamed?: Buffer[]): HttpExchange {
    if (this.count * 2 >= this.slots.length) this.grow()
    let n = ++this.seq
    while (this.slots[n & this.mask] !== undefined) n = ++this.seq
    const exchange = new HttpExchange(this, n, newKey(), res, function_id, timeout_ms, raw)
    this.slots[n & this.mask] = exchange
    this.count++
    if (streamed) exchange.streamRequest(req, streamed)
    return exchange
  }

  /** The exchange of call `n`, while it is in flight. */
  get(n: number): HttpExchange | undefined {
    const exchange = this.slots[n & this.mask]
    return exchange !== undefined && exchange.n === n ? exchange : undefined
  }

  /** Call `n` ended: its slot is free. False when it had already ended. */
  forget(n: number): boolean {
    const at = n & this.mask
    const exchange = this.slots[at]
    if (exchange === undefined || exchange.n !== n) return false
    this.slots[at] = undefined
    this.count--
    return true
  }

  /** Twice the slots: numbers apart in the old ones are apart in the new. */
  private grow(): void {
    const old = this.slots
    this.slots = Array.from({ length: old.length * 2 }, () => undefined)
    this.mask = this.slots.length - 1
    for (const exchange of old) if (exchange !== undefined) this.slots[exchange.n & this.mask] = exchange
  }

  /** The call an id names (`http:<n>`). */
  private find(channel_id: string): HttpExchange | undefined {
    const number = channel_id.slice(HTTP_CHANNEL_PREFIX.length)
    return /^[1-9][0-9]{0,15}$/.test(number) ? this.get(Number(number)) : undefined
  }

  access(channel_id: string, key: string, direction: Direction): Access {
    const exchange = this.find(channel_id)
    if (!exchange) return 'unknown'
    if (!sameKey(exchange.key, key)) return 'forbidden'
    return exchange.opened(direction) ? 'taken' : 'ok'
  }

  connect(channel_id: string, direction: Direction, socket: ChannelSocket): void {
    const exchange = this.find(channel_id)
    if (!exchange || exchange.opened(direction)) return socket.close(1008, 'no such channel end')
    exchange.connect(direction, socket)
  }

  releaseAll(): void {
    for (const exchange of [...this.slots]) exchange?.release()
    this.deadlines.clear()
  }
}
