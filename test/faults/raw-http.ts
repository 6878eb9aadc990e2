/**
 * HTTP spoken byte by byte over a TCP socket, as a hostile client speaks it: whatever
 * request line, headers and body the test writes (no client library to tidy them up),
 * optionally trickled a piece at a time, and what the server answered (its status line,
 * headers and body) and when it closed the connection.
 */
import { connect } from 'node:net'

export interface RawAnswer {
  /** The status code of the first response, or undefined when the server closed without one. */
  status: number | undefined
  headers: Record<string, string>
  body: string
  /** ms from the connection's opening to its close by the server. */
  closedAfterMs: number
  /** The server closed the connection (as opposed to our own time limit ending it). */
  closedByServer: boolean
}

export interface RawOptions {
  /** Written once the connection is open. */
  head: string | Buffer
  /** Written afterwards, one piece every `intervalMs` (a slow client), while the connection lasts. */
  trickle?: { piece: string | Buffer; intervalMs: number; max: number }
  /** Gives up (destroying the socket) after this long; default 15 s. */
  timeoutMs?: number
}

function parse(raw: Buffer): Pick<RawAnswer, 'status' | 'headers' | 'body'> {
  const text = raw.toString('latin1')
  const end = text.indexOf('\r\n\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text)
  if (!m) return { status: undefined, headers: {}, body: '' }
  const headers: Record<string, string> = {}
  for (const line of text.slice(0, end < 0 ? text.length : end).split('\r\n').slice(1)) {
    const at = line.indexOf(':')
    if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim()
  }
  return { status: Number(m[1]), headers, body: end < 0 ? '' : raw.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1')).toString('utf8') }
}

/** Opens a connection to `port`, writes as told, and resolves once the server closed it (or the time limit ended it). */
export function rawHttp(port: number, options: RawOptions): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const opened = Date.now()
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let trickler: NodeJS.Timeout | undefined
    let byServer = true
    const limit = setTimeout(() => {
      byServer = false
      socket.destroy()
    }, options.timeoutMs ?? 15_000)
    socket.on('connect', () => {
      socket.write(options.head)
      const t = options.trickle
      if (t) {
        let sent = 0
        trickler = setInterval(() => {
          if (sent++ >= t.max || socket.destroyed || !socket.writable) return clearInterval(trickler)
          socket.write(t.piece)
        }, t.intervalMs)
      }
    })
    socket.on('data', (d: Buffer) => chunks.push(d))
    // The server may close while we still write: that is an answer too.
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(limit)
      clearInterval(trickler)
      resolve({ ...parse(Buffer.concat(chunks)), closedAfterMs: Date.now() - opened, closedByServer: byServer })
    })
  })
}

/** A plain request (`Connection: close`), its body written at once. */
export function request(port: number, method: string, target: string, headers: Record<string, string> = {}, body?: string | Buffer, timeoutMs?: number): Promise<RawAnswer> {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)]
  if (body !== undefined && !Object.keys(headers).some((k) => /^(content-length|transfer-encoding)$/i.test(k))) lines.push(`Content-Length: ${Buffer.byteLength(body)}`)
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1')
  return rawHttp(port, { head: body === undefined ? head : Buffer.concat([head, Buffer.from(body)]), timeoutMs })
}
