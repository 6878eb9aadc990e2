/**
 * Baseline (a): the fastest honest hand-written relay for worker A → relay → worker B and
 * back, with plain `ws`. It speaks the same frames as signalbox (so the same clients drive
 * both): greets with `workerregistered`, remembers which socket registered which function,
 * forwards each `invokefunction` under a relay-made id and maps the `invocationresult`
 * back to the caller's id. Every frame is parsed and re-serialised, as any relay that
 * reads ids must; no validation, no timeouts, no actors. It writes through
 * adapters/corked-send.ts in the mode its first argument names (`tick`, `turn`, `none`, `auto`):
 * bench/ runs it in each and takes the best as the baseline.
 */
import { WebSocketServer, type WebSocket } from 'ws'
import { CORK_MODES, corkedSend, type CorkMode } from '../../adapters/corked-send.js'
import { TransientIndex } from '../../core/transient-index.js'
import { serveTasks } from '../lib/rpc.js'
import { profilerTasks } from '../lib/profiler.js'

/** How it writes to workers (adapters/corked-send.ts); bench/ measures every mode. */
const mode = (process.argv[2] ?? 'tick') as CorkMode
if (!CORK_MODES.includes(mode)) throw new Error(`unknown cork mode '${mode}'`)

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
await new Promise<void>((resolve) => wss.once('listening', () => resolve()))

const sends = new WeakMap<WebSocket, (text: string) => void>()
const functions = new Map<string, WebSocket>()
/** Calls in flight, by relay-made id: not in a `Map`, for the reason core/transient-index.ts gives (the engine's call table does the same). */
const pending = new TransientIndex<{ ws: WebSocket; id: string }>()
let seq = 0

wss.on('connection', (ws, req) => {
  const mine: string[] = []
  const send = corkedSend(ws, req.socket, mode)
  sends.set(ws, send)
  send(JSON.stringify({ type: 'workerregistered', worker_id: `w${++seq}` }))
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString())
    switch (m.type) {
      case 'registerfunction':
        functions.set(m.id, ws)
        mine.push(m.id)
        return
      case 'invokefunction': {
        const target = functions.get(m.function_id)
        if (!target) {
          if (m.invocation_id !== undefined) send(JSON.stringify({ type: 'invocationresult', invocation_id: m.invocation_id, function_id: m.function_id, error: { code: 'function_not_found', message: `No function registered with ID '${m.function_id}'` } }))
          return
        }
        if (m.invocation_id !== undefined) {
          const id = `r${++seq}`
          pending.set(id, { ws, id: m.invocation_id })
          m.invocation_id = id
        }
        sends.get(target)!(JSON.stringify(m))
        return
      }
      case 'invocationresult': {
        const p = pending.delete(m.invocation_id)
        if (!p) return
        m.invocation_id = p.id
        sends.get(p.ws)!(JSON.stringify(m))
        return
      }
    }
  })
  ws.on('close', () => {
    for (const id of mine) if (functions.get(id) === ws) functions.delete(id)
  })
})

const address = wss.address() as { port: number }
serveTasks(profilerTasks(), { url: `ws://127.0.0.1:${address.port}`, pid: process.pid })
