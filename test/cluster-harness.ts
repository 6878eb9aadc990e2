/**
 * Helpers of the cluster tests: `signalbox serve --cluster <nats>` as child processes on
 * free ports, workers connected to them over WebSocket (the worker client, or by hand),
 * and what each test leaves behind, ended after it.
 */
import type { ChildProcess } from 'node:child_process'
import WebSocket from 'ws'
import { connectWorker } from '../client/ws-client.js'
import { InvocationError, type WorkerClient } from '../client/worker.js'
import { until } from './harness.js'
import { fileURLToPath } from 'node:url'
import { suiteNats } from './nats-server.js'
import { startServe, type ServeProcess } from './serve-process.js'

export type Server = ServeProcess

export const nats = suiteNats()
const children = new Set<ChildProcess>()
const workers = new Set<WorkerClient>()
const sockets = new Set<WebSocket>()

/** Starts `signalbox serve --cluster <nats>` on free ports (with `env` added to its environment); resolves once it printed its ready line. */
export const serve = (extra: string[] = [], env: Record<string, string> = {}): Promise<Server> => startServe(['--cluster', nats.url, ...extra], children, env)

/** `serve`, with a fault in its cron claims (test/faults/cron-fault.ts): `stall:<ms>` or `late:<ms>`. */
export const serveWithCronFault = (fault: string): Promise<Server> =>
  startServe(['--cluster', nats.url], children, { SIGNALBOX_TEST_CRON_FAULT: fault }, ['--import', fileURLToPath(new URL('./faults/cron-fault.js', import.meta.url))])

/** A worker connected to `url` (named `name`, when given), closed after the test. */
export async function worker(url: string, name?: string): Promise<WorkerClient> {
  const w = await connectWorker(url, { reconnect: false, ...(name === undefined ? {} : { name }) })
  workers.add(w)
  return w
}

/** A worker speaking the protocol by hand: every frame it gets is kept. */
export async function rawWorker(url: string): Promise<{ send(message: object): void; frames: Array<Record<string, any>> }> {
  const ws = new WebSocket(url)
  sockets.add(ws)
  const frames: Array<Record<string, any>> = []
  ws.on('message', (data) => frames.push(JSON.parse(String(data))))
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)))
  await until(() => frames.some((f) => f.type === 'workerregistered'), 5000, 'workerregistered')
  return { send: (message) => ws.send(JSON.stringify(message)), frames }
}

/** Calls `function_id` until it is served (another engine's subscription takes a moment to be there). */
export async function whenServed(w: WorkerClient, function_id: string, data: unknown = {}): Promise<unknown> {
  return until(
    async () => {
      try {
        return { value: await w.invoke(function_id, data, { timeout_ms: 5000 }) }
      } catch (err) {
        if (err instanceof InvocationError && err.code === 'function_not_found') return undefined
        throw err
      }
    },
    10_000,
    `${function_id} to be served in the cluster`,
  ).then((r) => r!.value)
}

/** Ends every worker, socket and engine the test started. */
export async function cleanUp(): Promise<void> {
  for (const w of workers) w.close({ drainMs: 0 })
  workers.clear()
  for (const ws of sockets) ws.terminate()
  sockets.clear()
  for (const child of children) child.kill('SIGKILL')
  await until(() => children.size === 0, 5000, 'the engines to exit')
}
