/**
 * The worker client for other processes: a WorkerClient over a WebSocket that reconnects
 * with exponential backoff (and jitter) whenever the connection drops, until `close()`.
 */
import WebSocket from 'ws'
import { WorkerClient } from './worker.js'

export interface ConnectOptions {
  /** Described to the engine through `engine::workers::register`. */
  name?: string
  /** First reconnect delay; doubles per failed attempt. Default 100 ms. */
  initialDelayMs?: number
  /** Longest reconnect delay. Default 5000 ms. */
  maxDelayMs?: number
  /** Reconnect after a drop. Default true. */
  reconnect?: boolean
}

/** Connects a worker to `url` (e.g. `ws://127.0.0.1:49134`). Resolves once the engine greeted it. */
export async function connectWorker(url: string, options: ConnectOptions = {}): Promise<WorkerClient> {
  let timer: NodeJS.Timeout | undefined
  let socket: WebSocket | undefined
  const worker = new WorkerClient(options.name, () => {
    clearTimeout(timer)
    socket?.close(1000)
  })
  const initial = options.initialDelayMs ?? 100
  const max = options.maxDelayMs ?? 5000
  let attempt = 0
  let greeted = false
  let firstError: ((err: Error) => void) | undefined

  const dial = () => {
    const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 })
    socket = ws
    ws.on('open', () => {
      attempt = 0
      worker.attach({
        send: (message) => {
          const frame = JSON.stringify(message)
          if (ws.readyState === WebSocket.OPEN) ws.send(frame)
        },
        close: () => ws.close(1000),
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
        worker.handle(message as { type: string })
      }
    })
    ws.on('error', (err) => {
      if (!greeted) firstError?.(err)
    })
    ws.on('close', () => {
      const again = !worker.isClosed && options.reconnect !== false && greeted
      worker.detach(!again)
      if (!greeted) firstError?.(new Error('connection closed before the engine greeted the worker'))
      if (!again) return
      const delay = Math.min(max, initial * 2 ** attempt++) * (0.8 + Math.random() * 0.4)
      timer = setTimeout(dial, delay)
    })
  }

  await new Promise<void>((resolve, reject) => {
    firstError = (err) => {
      firstError = undefined
      reject(new Error(`Cannot reach the engine at ${url}: ${err.message}`))
    }
    dial()
    worker.ready().then(() => {
      greeted = true
      firstError = undefined
      resolve()
    })
  })
  return worker
}
