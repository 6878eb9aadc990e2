/**
 * The input an http-triggered function receives (`HttpRequest`, protocol/trigger-payloads.ts),
 * as the engine builds it for each request. Its two data channel refs (iii's streams: the
 * request body to read, the response to write) share the call's channel id and access key;
 * they are made only when read, and the whole input writes its own JSON (`WRITE_JSON`,
 * protocol/codec.ts), so a call whose function never opens a channel pays for the refs
 * only their bytes on the wire. `toJSON` gives the same JSON as a plain object, for every
 * other reader (the inspector, a log); the in-process transport hands its worker the plain
 * value (`plainMessage`), so every worker sees the input as JSON gives it.
 */
import { WRITE_JSON, type WritesJson } from '../protocol/codec.js'
import type { ChannelRef, HttpRequest } from '../protocol/trigger-payloads.js'

export class HttpInput implements HttpRequest, WritesJson {
  /** Both channels' id (`http:<n>`: no character JSON escapes). */
  readonly #channel_id: string
  /** Both channels' access key (base64url: no character JSON escapes). */
  readonly #access_key: string

  constructor(
    readonly method: string,
    readonly path: string,
    readonly path_params: Record<string, string>,
    readonly query_params: Record<string, string | string[]>,
    readonly headers: HttpRequest['headers'],
    readonly body: unknown,
    channel_id: string,
    access_key: string,
  ) {
    this.#channel_id = channel_id
    this.#access_key = access_key
  }

  /** The read end of the request body. */
  get request_body(): ChannelRef {
    return { channel_id: this.#channel_id, access_key: this.#access_key, direction: 'read' }
  }

  /** The write end of the response. */
  get response(): ChannelRef {
    return { channel_id: this.#channel_id, access_key: this.#access_key, direction: 'write' }
  }

  toJSON(): HttpRequest {
    const { method, path, path_params, query_params, headers, body, request_body, response } = this
    return { method, path, path_params, query_params, headers, body, request_body, response }
  }

  [WRITE_JSON](): string {
    const ref = `{"channel_id":"${this.#channel_id}","access_key":"${this.#access_key}","direction":`
    // `body` is never undefined (`null` when empty), but is left out like JSON.stringify would if it were.
    const body = this.body === undefined ? '' : `,"body":${JSON.stringify(this.body)}`
    return (
      `{"method":${JSON.stringify(this.method)},"path":${JSON.stringify(this.path)},"path_params":${JSON.stringify(this.path_params)}` +
      `,"query_params":${JSON.stringify(this.query_params)},"headers":${JSON.stringify(this.headers)}${body}` +
      `,"request_body":${ref}"read"},"response":${ref}"write"}}`
    )
  }
}
