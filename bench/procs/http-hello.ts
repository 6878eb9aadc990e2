/** Baseline (c), the ceiling: plain `node:http` answering "hello", no WebSocket hop at all. */
import { createServer } from 'node:http'
import { serveTasks } from '../lib/rpc.js'

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': 5 })
  res.end('hello')
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
serveTasks({}, { httpUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}`, pid: process.pid })
