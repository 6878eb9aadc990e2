/**
 * The transports every shared scenario runs over: the WebSocket transport and the
 * in-process one. Each gives a worker (the client API) and a raw peer (messages as the
 * protocol defines them, to test the engine's answers exactly).
 */
import WebSocket from 'ws'
import type { Engine } from '../adapters/engine.js'
import { connectWorker } from '../client/ws-client.js'
import type { WorkerClient } from '../client/worker.js'

type Message = Record<string, any>

/** A protocol peer that sends and reads raw messages. */
export interface RawPeer {
  worker_id: string
  send(message: unknown): void
  /** Resolves with the next received message matching `match` (already received ones count). */
  next(match?: (m: Message) => boolean, ms?: number): Promise<Message>
  /** Every message received so far. */
  received: Message[]
  close(): Promise<void>
  /** Resolves when the engine ended the connection. */
  ended: Promise<string>
}

export interface Transport {
  name: string
  worker(engine: Engine, options?: { name?: string }): Promise<WorkerClient>
  raw(engine: Engine): Promise<RawPeer>
}

function inbox() {
  const received: Message[] = []
  const waiters: Array<{ match: (m: Message) => boolean; resolve: (m: Message) => void; from: number }> = []
  let taken = new Set<Message>()
  const push = (m: Message) => {
    received.push(m)
    for (const w of [...waiters]) {
      if (w.match(m) && !taken.has(m)) {
        taken.add(m)
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(m)
        return
      }
    }
  }
  const next = (match: (m: Message) => boolean = () => true, ms = 3000) =>
    new Promise<Message>((resolve, reject) => {
      const found = received.find((m) => !taken.has(m) && match(m))
      if (found) {
        taken.add(found)
        return resolve(found)
      }
      const waiter = { match, resolve: (m: Message) => (clearTimeout(timer), resolve(m)), from: received.length }
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1)
        reject(new Error(`No matching message within ${ms} ms; received: ${JSON.stringify(received).slice(0, 2000)}`))
      }, ms)
      waiters.push(waiter)
    })
  return { received, push, next, reset: () => (taken = new Set()) }
}

/** A raw WebSocket peer; `sendText` and `sendBinary` reach frames no object can express. */
export async function rawSocket(url: string, options: { token?: string } = {}): Promise<RawPeer & { socket: WebSocket; sendText(text: string): void; sendBinary(data: Buffer): void }> {
  const box = inbox()
  const headers = options.token === undefined ? undefined : { authorization: `Bearer ${options.token}` }
  const socket = new WebSocket(url, { maxPayload: 64 * 1024 * 1024, headers })
  let endedResolve!: (reason: string) => void
  const ended = new Promise<string>((r) => (endedResolve = r))
  socket.on('message', (data: Buffer) => box.push(JSON.parse(data.toString('utf8'))))
  socket.on('close', (code, reason) => endedResolve(`${code} ${reason.toString()}`))
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  const hello = await box.next((m) => m.type === 'workerregistered')
  return {
    socket,
    worker_id: hello.worker_id,
    received: box.received,
    next: box.next,
    ended,
    send: (message) => socket.send(JSON.stringify(message)),
    sendText: (text) => socket.send(text),
    sendBinary: (data) => socket.send(data, { binary: true }),
    close: async () => {
      if (socket.readyState === WebSocket.CLOSED) return
      socket.close(1000)
      await ended
    },
  }
}

/** A raw in-process peer: objects straight into the engine's session port. */
export async function rawInProcess(engine: Engine): Promise<RawPeer> {
  const box = inbox()
  let endedResolve!: (reason: string) => void
  const ended = new Promise<string>((r) => (endedResolve = r))
  const port = engine.openSession({ out: (m) => queueMicrotask(() => box.push(m as Message)), end: (reason) => endedResolve(reason) })
  if (!port) throw new Error('engine not accepting')
  const hello = await box.next((m) => m.type === 'workerregistered')
  return {
    worker_id: hello.worker_id,
    received: box.received,
    next: box.next,
    ended,
    send: (message) => port.receive(message),
    close: async () => {
      port.close('peer closed')
      await new Promise((r) => setTimeout(r, 0))
    },
  }
}

export const transports: Transport[] = [
  {
    name: 'websocket',
    worker: (engine, options) => connectWorker(engine.url!, { logger: false, ...options, reconnect: false }),
    raw: (engine) => rawSocket(engine.url!),
  },
  {
    name: 'in-process',
    worker: async (engine, options) => {
      const worker = engine.connect(options)
      await worker.ready()
      return worker
    },
    raw: (engine) => rawInProcess(engine),
  },
]

/** Opens workers and raw peers over `transport` that the test's engine suite closes after it. */
export function peersOver(transport: Transport) {
  return {
    worker: async (ctx: { engine: Engine; closers: Array<() => unknown> }, options?: { name?: string }, engine: Engine = ctx.engine): Promise<WorkerClient> => {
      const w = await transport.worker(engine, options)
      ctx.closers.push(() => w.close())
      return w
    },
    raw: async (ctx: { engine: Engine; closers: Array<() => unknown> }): Promise<RawPeer> => {
      const p = await transport.raw(ctx.engine)
      ctx.closers.push(() => p.close())
      return p
    },
  }
}

/** Resolves once `peer` sees `function_id` offered (`engine::functions::list`), leaving nothing of the probes in its inbox. */
export async function untilOffered(peer: RawPeer, function_id: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  for (let probe = 0; ; probe++) {
    const invocation_id = `offered-probe-${probe}`
    peer.send({ type: 'invokefunction', invocation_id, function_id: 'engine::functions::list', data: {} })
    const list = await peer.next((m) => m.type === 'invocationresult' && m.invocation_id === invocation_id)
    peer.received.splice(peer.received.indexOf(list), 1)
    if (list.result.functions.some((f: { function_id: string }) => f.function_id === function_id)) return
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for '${function_id}' to be offered`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
