/**
 * The HTTP exchange of `provider:http`: reads a request into the input an http-triggered
 * function receives, and writes what the function returned (or the engine's failure
 * answer) as a response.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ErrorBody } from '../protocol/messages.js'
import { errors } from '../protocol/errors.js'
import type { BinaryBody, HttpRequest } from '../protocol/trigger-payloads.js'

/** The input of an http-triggered function (its schema: protocol/trigger-payloads.ts). */
export type HttpRequestInput = HttpRequest

/** A body that is neither JSON, form nor text arrives (and may be returned) as base64 behind this marker. */
export type { BinaryBody }

/** Why a request body could not be read. */
export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413,
    readonly body: ErrorBody,
  ) {
    super(body.message)
  }
}

/**
 * Parses a query string (or a form body); repeated keys become arrays. The result is a
 * plain object, the same a WebSocket worker gets after JSON, with every key its own
 * property (`__proto__` included).
 */
export function parseQuery(search: string): Record<string, string | string[]> {
  if (search.length === 0) return {}
  const out = new Map<string, string | string[]>()
  for (const [key, value] of new URLSearchParams(search)) {
    const prev = out.get(key)
    out.set(key, prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value])
  }
  return Object.fromEntries(out)
}

/**
 * Whether a request has a body: it declares one with `Content-Length` (more than 0) or
 * `Transfer-Encoding`; otherwise it has none (RFC 9112, 6.3), and need not be read (Node
 * discards what is left of a request once its response has ended).
 */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined
}

/**
 * Reads the whole body and hands it to `done`; more than `limit` bytes is refused (to
 * `failed`, as is a read error), unless `streamable`: then the request is paused and handed
 * over to be streamed, `done(undefined, streamed)` with what was read of it so far.
 */
export function readBody(req: IncomingMessage, limit: number, done: (raw: Buffer | undefined, streamed?: Buffer[]) => void, failed: (err: Error) => void, streamable = false): void {
  const length = req.headers['content-length']
  const declared = Number(length)
  if (Number.isFinite(declared) && declared > limit) return streamable ? done(undefined, []) : failed(new BodyError(413, errors.bodyTooLarge(limit, declared)))
  const chunks: Buffer[] = []
  let size = 0
  let refused = false
  const onData = (chunk: Buffer) => {
    if (refused) return
    size += chunk.length
    if (size > limit) {
      refused = true
      req.off('data', onData)
      if (streamable) {
        // Paused before this callback returns: what comes next waits for the stream's own listener.
        req.pause()
        chunks.push(chunk)
        return done(undefined, chunks)
      }
      req.resume()
      failed(new BodyError(413, errors.bodyTooLarge(limit)))
      return
    }
    chunks.push(chunk)
  }
  req.on('data', onData)
  req.on('end', () => {
    if (!refused) done(chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))
  })
  req.on('error', (err) => {
    if (refused) return
    refused = true
    failed(err)
  })
}

/** The media type of a content-type header, in lower case (`''` when there is none). */
const mediaType = (contentType: string | undefined) => (contentType ?? '').split(';')[0].trim().toLowerCase()

/**
 * Whether a body of this content type is one the engine parses for `body` (JSON, a form,
 * text, XML); the rest (binary, multipart, …) arrives as base64 when it fits the body
 * limit, and is streamed through `request_body` when it does not.
 */
export function isParsed(contentType: string | undefined): boolean {
  const type = mediaType(contentType)
  return type === '' || type === 'application/json' || type.endsWith('+json') || type === 'application/x-www-form-urlencoded' || type.startsWith('text/') || type === 'application/xml' || type.endsWith('+xml')
}

/** Turns a body into what the function receives: JSON parsed, forms as objects, text as strings, the rest as base64. */
export function decodeBody(raw: Buffer | undefined, contentType: string | undefined): unknown {
  if (raw === undefined || raw.length === 0) return null
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase()
  if (type === 'application/json' || type.endsWith('+json')) {
    try {
      return JSON.parse(raw.toString('utf8'))
    } catch (err) {
      throw new BodyError(400, errors.bodyNotJson((err as Error).message))
    }
  }
  if (type === 'application/x-www-form-urlencoded') return parseQuery(raw.toString('utf8'))
  if (type === '' || type.startsWith('text/') || type === 'application/xml' || type.endsWith('+xml')) return raw.toString('utf8')
  const binary: BinaryBody = { $binary: raw.toString('base64'), content_type: type }
  return binary
}

const isBinary = (body: unknown): body is BinaryBody =>
  typeof body === 'object' && body !== null && typeof (body as BinaryBody).$binary === 'string'

/** Writes a JSON error answer: `{"error":{"code","message"}}`. */
export function writeError(res: ServerResponse, status: number, error: ErrorBody, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end()
  const body = JSON.stringify({ error: { code: error.code, message: error.message } })
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

function headerMap(headers: unknown): Record<string, string | string[]> | string {
  const out: Record<string, string | string[]> = Object.create(null)
  const add = (name: string, value: string) => {
    const key = name.trim().toLowerCase()
    const prev = out[key]
    out[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]
  }
  if (headers === undefined || headers === null) return out
  if (Array.isArray(headers)) {
    for (const line of headers) {
      const at = typeof line === 'string' ? line.indexOf(':') : -1
      if (at <= 0) return `header ${JSON.stringify(line)} is not of the form 'Name: value'`
      add(line.slice(0, at), line.slice(at + 1).trim())
    }
    return out
  }
  if (typeof headers !== 'object') return `'headers' must be a map or a list of 'Name: value' strings`
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) value.forEach((x) => add(name, String(x)))
    else if (value !== undefined && value !== null) add(name, String(value))
  }
  return out
}

/**
 * Writes what the function returned. `{status_code?, headers?, body?}` is a response;
 * any other value is the body of a 200. Objects go out as JSON, strings as text unless a
 * content-type says otherwise, a `$binary` marker as raw bytes, nothing as an empty body.
 */
export function writeResult(res: ServerResponse, result: unknown, function_id: string): void {
  const spec =
    typeof result === 'object' && result !== null && !Array.isArray(result) && ('status_code' in result || 'headers' in result || 'body' in result)
      ? (result as { status_code?: unknown; headers?: unknown; body?: unknown })
      : { body: result }
  const status = spec.status_code ?? (spec.body === undefined || spec.body === null ? 204 : 200)
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
    return writeError(res, 500, errors.invalidResponse(function_id, `status_code ${JSON.stringify(status)}; expected a whole number from 200 to 599`))
  }
  // Most answers give no headers: then the engine's own are the whole map.
  const given = spec.headers !== undefined && spec.headers !== null
  const headers = given ? headerMap(spec.headers) : ({} as Record<string, string | string[]>)
  if (typeof headers === 'string') return writeError(res, 500, errors.invalidResponse(function_id, `bad headers: ${headers}`))
  if (given) {
    // The engine frames the body itself.
    delete headers['content-length']
    delete headers['transfer-encoding']
  }
  let payload: Buffer | string | undefined
  const body = spec.body
  // 204 and 304 carry no body, whatever the function returned.
  if (body === undefined || body === null || status === 204 || status === 304) payload = undefined
  else if (isBinary(body)) {
    payload = Buffer.from(body.$binary, 'base64')
    headers['content-type'] ??= body.content_type || 'application/octet-stream'
  } else if (typeof body === 'string') {
    payload = body
    headers['content-type'] ??= 'text/plain; charset=utf-8'
  } else {
    try {
      payload = JSON.stringify(body)
    } catch (err) {
      return writeError(res, 500, errors.invalidResponse(function_id, `a body that is not JSON: ${(err as Error).message}`))
    }
    headers['content-type'] ??= 'application/json; charset=utf-8'
  }
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload))
  try {
    res.writeHead(status, headers)
  } catch (err) {
    return writeError(res, 500, errors.invalidResponse(function_id, `headers Node cannot send: ${(err as Error).message}`))
  }
  res.end(payload)
}
