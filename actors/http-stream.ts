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
 * channels are released when the response is written (or its client leaves). They are
 * this provider's own (`Exchanges`, delegated the `http:` ids), made lazily: a call whose
 * worker opens neither costs an object, a map entry and a random key.
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
import { BodyError } from './http-exchange.js'
import { attachSocket } from './channels.js'

/** A request body: read whole (it fit the limit), or to be streamed (`streamed`: what was read before it did not fit). */
export type RequestBody = { raw: Buffer } | { streamed: Buffer[] }

/**
 * Reads the body: whole when it fits `limit`; past it, 413, unless `streamable`, when it is
 * handed over to be streamed (the request paused, the bytes read so far in `streamed`).
 */
export function readRequest(req: IncomingMessage, limit: number, streamable: boolean): Promise<RequestBody> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    return streamable ? Promise.resolve({ streamed: [] }) : Promise.reject(new BodyError(413, errors.bodyTooLarge(limit, declared)))
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      chunks.push(chunk)
      if (size <= limit) return
      req.off('data', onData).off('end', onEnd).off('error', reject)
      if (streamable) {
        req.pause()
        return resolve({ streamed: chunks })
      }
      req.resume()
      reject(new BodyError(413, errors.bodyTooLarge(limit)))
    }
    const onEnd = () => resolve({ raw: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks) })
    req.on('data', onData).on('end', onEnd).on('error', reject)
  })
}

/** Ids of http calls' channels: `http:<n>:body` (the request body) and `http:<n>:response`. */
export const HTTP_CHANNEL_PREFIX = 'http:'

export interface ExchangeOptions {
  function_id: string
  /** The trigger's timeout: past it, a response still without its head is 504. */
  timeoutMs: number
  /** Writes an answer as the plain (not streamed) response: a value, or a failure. */
  respond(outcome: Outcome): void
  /** Writes an engine failure. */
  fail(status: number, error: ErrorBody): void
}

/**
 * One http call's two channels and its response. Lazy: a call whose worker opens neither
 * channel (the plain path) costs this object, a map entry and a random key; the relays
 * are made when a worker opens an end (or the request body must be streamed).
 */
export class HttpExchange implements RelayReader {
  /** The response: still open to either answer, waiting for the stream's writer, streaming, or written. */
  private state: 'open' | 'waiting' | 'streaming' | 'done' = 'open'
  private body?: Relay
  private response?: Relay
  readonly opened = { body: false, response: false }
  private sockets?: ChannelSocket[]
  private head?: StreamHead
  private timer?: NodeJS.Timeout
  private deadline?: NodeJS.Timeout

  constructor(
    private readonly exchanges: Exchanges,
    readonly n: number,
    readonly key: string,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly requestBody: RequestBody,
    private readonly options: ExchangeOptions,
  ) {
    if ('streamed' in requestBody) this.streamRequest(requestBody.streamed)
  }

  get request_body(): ChannelRef {
    return { channel_id: `${HTTP_CHANNEL_PREFIX}${this.n}:body`, access_key: this.key, direction: 'read' }
  }
  get responseRef(): ChannelRef {
    return { channel_id: `${HTTP_CHANNEL_PREFIX}${this.n}:response`, access_key: this.key, direction: 'write' }
  }

  /** A worker opened one of the two ends. */
  connect(end: 'body' | 'response', socket: ChannelSocket): void {
    this.opened[end] = true
    ;(this.sockets ??= []).push(socket)
    if (end === 'body') return attachSocket(this.bodyRelay(), 'read', socket)
    attachSocket(this.responseRelay(), 'write', socket)
    // The writer opening while the engine waits for it: the response is the stream's.
    if (this.state === 'waiting') clearTimeout(this.timer)
  }

  /** The request body's relay: the buffered body (then its end), or the request as it streams. */
  private bodyRelay(): Relay {
    if (this.body) return this.body
    const relay = (this.body = new Relay(DEFAULT_BUFFER_SIZE))
    if ('raw' in this.requestBody) {
      if (this.requestBody.raw.length > 0) relay.push({ binary: true, data: this.requestBody.raw })
      relay.finish(true)
    }
    return relay
  }

  /** A body larger than the limit, of a type the engine does not parse: read as fast as the worker reads it. */
  private streamRequest(first: Buffer[]): void {
    const { req, res } = this
    // What the function leaves unread is not read: the connection closes after the response.
    res.shouldKeepAlive = false
    const relay = this.bodyRelay()
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

  /** The function's answer. */
  answer(outcome: Outcome): void {
    if (this.state !== 'open') return
    const empty = outcome.error === undefined && (outcome.result === undefined || outcome.result === null)
    if (!empty) return this.finish(() => this.options.respond(outcome))
    this.state = 'waiting'
    // A stream that has not sent its head within the trigger's timeout (from the answer) is answered 504.
    this.deadline = setTimeout(() => {
      if (this.state === 'waiting') this.finish(() => this.options.fail(504, errors.invocationTimeout(this.options.function_id, this.options.timeoutMs)))
    }, this.options.timeoutMs)
    if (this.opened.response) return
    this.timer = setTimeout(() => this.finish(() => this.options.respond(outcome)), RESPONSE_STREAM_WAIT_MS)
  }

  /** Writes the response one way, once; the plain ways end the call. */
  private finish(write: () => void): void {
    if (this.state === 'done' || this.state === 'streaming') return
    this.state = 'done'
    write()
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
    // The writer closed before any byte: its head with an empty body (or, broken off, a failure).
    const head = (this.head ??= newHead())
    this.finish(() => {
      if (!clean) return this.options.fail(503, errors.workerDisconnected(this.options.function_id))
      try {
        this.res.writeHead(head.status, head.headers).end()
      } catch (err) {
        this.options.fail(500, errors.invalidResponse(this.options.function_id, `headers Node cannot send: ${(err as Error).message}`))
      }
    })
  }

  private startStream(): void {
    const head = (this.head ??= newHead())
    this.state = 'streaming'
    clearTimeout(this.timer)
    clearTimeout(this.deadline)
    try {
      this.res.writeHead(head.status, head.headers)
    } catch (err) {
      this.state = 'done'
      this.options.fail(500, errors.invalidResponse(this.options.function_id, `headers Node cannot send: ${(err as Error).message}`))
    }
  }

  /** The call ended: its channels end, the sockets on them close. */
  release(): void {
    if (!this.exchanges.forget(this.n)) return
    clearTimeout(this.timer)
    clearTimeout(this.deadline)
    this.body?.abort()
    this.response?.abort()
    for (const socket of this.sockets ?? []) socket.close(1000, 'http call ended')
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

  get size(): number {
    return this.live.size
  }

  /** Opens the two channels of one http call; `body` is what `readRequest` gave. */
  open(req: IncomingMessage, res: ServerResponse, body: RequestBody, options: ExchangeOptions): HttpExchange {
    const n = ++this.seq
    const exchange = new HttpExchange(this, n, randomUUID(), req, res, body, options)
    this.live.set(n, exchange)
    return exchange
  }

  forget(n: number): boolean {
    return this.live.delete(n)
  }

  /** The call and end an id names: the body is read by the worker, the response written. */
  private find(channel_id: string): { exchange: HttpExchange; end: 'body' | 'response'; direction: Direction } | undefined {
    const at = channel_id.lastIndexOf(':')
    const end = channel_id.slice(at + 1)
    const exchange = this.live.get(Number(channel_id.slice(HTTP_CHANNEL_PREFIX.length, at)))
    if (!exchange || (end !== 'body' && end !== 'response')) return undefined
    return { exchange, end, direction: end === 'body' ? 'read' : 'write' }
  }

  access(channel_id: string, key: string, direction: Direction): Access {
    const found = this.find(channel_id)
    if (!found) return 'unknown'
    if (found.direction !== direction || !sameKey(found.exchange.key, key)) return 'forbidden'
    return found.exchange.opened[found.end] ? 'taken' : 'ok'
  }

  connect(channel_id: string, direction: Direction, socket: ChannelSocket): void {
    const found = this.find(channel_id)
    if (!found || found.direction !== direction || found.exchange.opened[found.end]) return socket.close(1008, 'no such channel end')
    found.exchange.connect(found.end, socket)
  }

  releaseAll(): void {
    for (const exchange of [...this.live.values()]) exchange.release()
  }
}
