/**
 * A streamed http response, as iii's workers write it to their `response` channel: text
 * messages `{"type":"set_status","status_code":N}` and `{"type":"set_headers","headers":{…}}`
 * set the head, then binary frames are the body. Pure: what a message changes in the head.
 */

/** The head of a streamed response, as the messages set it. */
export interface StreamHead {
  status: number
  headers: Record<string, string | string[]>
}

/**
 * How long the engine waits, after a function answered nothing, for it to open its
 * response channel's writer (its WebSocket is usually still connecting when the answer
 * arrives) before answering 204 as for any empty answer.
 */
export const RESPONSE_STREAM_WAIT_MS = 100

/** Headers the engine sets itself when it streams (chunked framing, keep-alive). */
const FRAMING = new Set(['transfer-encoding', 'connection', 'keep-alive'])

export const newHead = (): StreamHead => ({ status: 200, headers: Object.create(null) as Record<string, string | string[]> })

/**
 * Applies one text message to the head; returns what it was (`status`, `headers`), or
 * `ignored` for anything else (not JSON, another type, a status outside 200–599).
 */
export function applyControl(head: StreamHead, text: string): 'status' | 'headers' | 'ignored' {
  let message: unknown
  try {
    message = JSON.parse(text)
  } catch {
    return 'ignored'
  }
  if (typeof message !== 'object' || message === null) return 'ignored'
  const m = message as { type?: unknown; status_code?: unknown; headers?: unknown }
  if (m.type === 'set_status') {
    const code = m.status_code
    if (typeof code !== 'number' || !Number.isInteger(code) || code < 200 || code > 599) return 'ignored'
    head.status = code
    return 'status'
  }
  if (m.type === 'set_headers' && typeof m.headers === 'object' && m.headers !== null && !Array.isArray(m.headers)) {
    for (const [name, value] of Object.entries(m.headers as Record<string, unknown>)) {
      const key = name.trim().toLowerCase()
      if (FRAMING.has(key) || key === '') continue
      if (typeof value === 'string') head.headers[key] = value
      else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) head.headers[key] = value as string[]
    }
    return 'headers'
  }
  return 'ignored'
}
