/**
 * `node dist/bench/cluster-calls.js [calls]`: what a call across engines costs next to a
 * local one. Starts a nats-server -js of its own (on a free port, its store in a temporary
 * folder), an engine alone and two engines of one cluster, all embedded in this process,
 * and a worker over WebSocket on each; then measures, in turn, calls answered by a worker
 * on the engine alone, on the caller's own engine of the cluster, and on the other
 * engine: sequential latency (p50, p99) and 5,000 calls at once. Not part of `npm run
 * bench` (yet): one process holds the engines, the workers and the NATS clients, so
 * throughput is that of one core shared by all of them. Prints a table; writes nothing.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEngine } from '../adapters/engine.js'
import { connectWorker } from '../client/ws-client.js'
import type { WorkerClient } from '../client/worker.js'

const CALLS = Number(process.argv[2] ?? 5000)

const bin = ['/usr/sbin', '/usr/local/bin', '/usr/bin', ...(process.env.PATH ?? '').split(':')].map((d) => join(d, 'nats-server')).find((p) => existsSync(p))
if (!bin) throw new Error('nats-server is not installed (apt-get install nats-server)')
const dir = mkdtempSync(join(tmpdir(), 'signalbox-bench-nats-'))
const nats = spawn(bin, ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
let log = ''
nats.stdout.setEncoding('utf8').on('data', (d: string) => (log += d))
nats.stderr.setEncoding('utf8').on('data', (d: string) => (log += d))
const port = await new Promise<string>((resolve, reject) => {
  const deadline = setTimeout(() => reject(new Error(`nats-server did not start: ${log}`)), 15_000)
  const check = setInterval(() => {
    const found = /Listening for client connections on [\d.]+:(\d+)/.exec(log)?.[1]
    if (found) resolve(found), clearInterval(check), clearTimeout(deadline)
  }, 20)
})
const url = `nats://127.0.0.1:${port}`

const alone = await createEngine({ port: 0, logLevel: 'silent' })
const a = await createEngine({ port: 0, logLevel: 'silent', cluster: { nats: url, name: 'bench' } })
const b = await createEngine({ port: 0, logLevel: 'silent', cluster: { nats: url, name: 'bench' } })
const workers: WorkerClient[] = []
const connect = async (engine: { url: string | undefined }) => {
  const w = await connectWorker(engine.url!, { reconnect: false })
  workers.push(w)
  return w
}
const onAlone = await connect(alone)
const onA = await connect(a)
const onB = await connect(b)
onAlone.registerFunction('echo', (d: unknown) => d)
onA.registerFunction('echo::a', (d: unknown) => d)
onB.registerFunction('echo::b', (d: unknown) => d)
// B's subscription reaches NATS a moment after its registration.
for (let i = 0; ; i++) {
  try {
    await onA.invoke('echo::b', 0)
    break
  } catch (err) {
    if (i > 200) throw err
    await new Promise((r) => setTimeout(r, 25))
  }
}

async function measure(label: string, w: WorkerClient, function_id: string): Promise<string[]> {
  for (let i = 0; i < 500; i++) await w.invoke(function_id, i)
  const times: number[] = []
  for (let i = 0; i < CALLS; i++) {
    const start = performance.now()
    await w.invoke(function_id, { i })
    times.push(performance.now() - start)
  }
  times.sort((x, y) => x - y)
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(3)
  let best = 0
  for (let r = 0; r < 3; r++) {
    const start = performance.now()
    await Promise.all(Array.from({ length: 5000 }, (_, i) => w.invoke(function_id, i)))
    best = Math.max(best, 5000 / ((performance.now() - start) / 1000))
  }
  return [label, at(0.5), at(0.99), best.toFixed(0)]
}

const rows: string[][] = [['call answered by', 'p50 ms', 'p99 ms', 'calls/s (5,000 at once, best of 3)']]
for (let round = 0; round < 2; round++) {
  rows.push(await measure('a worker of the engine alone', onAlone, 'echo'))
  rows.push(await measure("a worker of the caller's engine (cluster)", onA, 'echo::a'))
  rows.push(await measure('a worker of the other engine (cluster)', onA, 'echo::b'))
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i])).join('  '))

for (const w of workers) w.close({ drainMs: 0 })
await Promise.all([alone.stop(), a.stop(), b.stop()])
nats.kill('SIGTERM')
await new Promise((r) => nats.once('close', r))
rmSync(dir, { recursive: true, force: true })
