/**
 * Baseline (b): a minimal HTTP → WebSocket relay with plain `node:http` and `ws`. A worker
 * connects over WebSocket, registers a function and binds an `http` trigger to it (the
 * same frames as signalbox); each HTTP request on a bound method and path becomes an
 * `invokefunction` carrying {method, path, path_params, query_params, headers, body}, and
 * the worker's `{status_code, headers, body}` becomes the response. Exact-match routes in
 * a Map, no validation, no timeouts, no actors. It writes to workers through
 * adapters/corked-send.ts in the mode its first argument names (`tick`, `turn`, `none`, `auto`):
 * bench/ runs it in each and takes the best as the baseline.
 */
import { createServer } from 'node:http'
import { WebSocketServer, type WebSocket } from 'ws'
import { CORK_MODES, corkedSend, type CorkMode } from '../../adapters/corked-send.js'
import { TransientIndex } from '../../core/transient-index.js'
import { serveTasks } from '../lib/rpc.js'
import { profilerTasks } from '../lib/profiler.js'

/** How it writes to workers (adapters/corked-send.ts); bench/ measures every mode. */
const mode = (process.argv[2] ?? 'tick') as CorkMode
if (!CORK_MODES.includes(mode)) throw new Error(`unknown cork mode '${mode}'`)

const sends = new WeakMap<WebSocket, (text: string) => void>()
const functions = new Map<string, WebSocket>()
const routes = new Map<string, string>()
/** Requests waiting for their answer, by invocation id: not in a `Map`, for the reason core/transient-index.ts gives (the engine's call table does the same). */
const pending = new TransientIndex<(m: any) => void>()
let seq = 0

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
wss.on('connection', (ws, req) => {
  const send = corkedSend(ws, req.socket, mode)
  sends.set(ws, send)
  send(JSON.stringify({ type: 'workerregistered', worker_id: `w${++seq}` }))
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString())
    switch (m.type) {
      case 'registerfunction':
        functions.set(m.id, ws)
        return
      case 'registertrigger':
        routes.set(`${(m.config.method ?? 'GET').toUpperCase()} ${m.config.path}`, m.function_id)
        send(JSON.stringify({ type: 'triggerregistrationresult', id: m.id, trigger_type: m.trigger_type, function_id: m.function_id }))
        return
      case 'invocationresult': {
        const done = pending.delete(m.invocation_id)
        if (!done) return
        done(m)
        return
      }
    }
  })
})

const http = createServer((req, res) => {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const function_id = routes.get(`${req.method} ${path}`)
  const worker = function_id === undefined ? undefined : functions.get(function_id)
  if (!worker) {
    res.writeHead(404).end()
    return
  }
  const dispatch = (body: string | null) => {
    const invocation_id = `h${++seq}`
    const query_params = q === -1 ? {} : Object.fromEntries(new URLSearchParams(url.slice(q + 1)))
    pending.set(invocation_id, (m) => {
      const r = m.result ?? {}
      const payload = typeof r.body === 'string' ? r.body : r.body === undefined || r.body === null ? '' : JSON.stringify(r.body)
      res.writeHead(r.status_code ?? 200, { 'content-type': typeof r.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', 'content-length': Buffer.byteLength(payload), ...r.headers })
      res.end(payload)
    })
    sends.get(worker)!(JSON.stringify({ type: 'invokefunction', invocation_id, function_id, data: { method: req.method, path, path_params: {}, query_params, headers: req.headers, body } }))
  }
  // A request without Content-Length or Transfer-Encoding has no body (as the engine, it does not wait for its end).
  const length = req.headers['content-length']
  if ((length === undefined || length === '0') && req.headers['transfer-encoding'] === undefined) return dispatch(null)
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => dispatch(chunks.length ? Buffer.concat(chunks).toString() : null))
})
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()))
const wsPort = (wss.address() as { port: number }).port
const httpPort = (http.address() as { port: number }).port
serveTasks(profilerTasks(), { url: `ws://127.0.0.1:${wsPort}`, httpUrl: `http://127.0.0.1:${httpPort}`, pid: process.pid })
