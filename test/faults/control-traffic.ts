/**
 * The control traffic that runs beside a fault: two well-behaved workers (one serves
 * `control::echo` and an http route `GET /control/:n`, the other calls the function) and an
 * HTTP client calling the route, each in a loop, every answer checked. A fault the engine
 * survives leaves this traffic untouched: no failure, no wrong answer, and it keeps moving
 * while the fault goes on.
 */
import { connectWorker } from '../../client/ws-client.js'
import type { WorkerClient } from '../../client/worker.js'

export interface ControlTraffic {
  /** Calls and requests answered correctly so far. */
  progress(): { calls: number; requests: number }
  /** How long each HTTP request took so far (ms), in order. */
  requestMs(): number[]
  /** Every failure so far, in words. */
  failures(): string[]
  /** Stops the loops and closes the workers; resolves with the totals. */
  stop(): Promise<{ calls: number; requests: number; failures: string[] }>
}

/** Starts the control pair and the HTTP loop against an engine. */
export async function startControlTraffic(engine: { url: string; httpUrl: string }, options: { callTimeoutMs?: number } = {}): Promise<ControlTraffic> {
  const server: WorkerClient = await connectWorker(engine.url, { name: 'control-server', reconnect: false, logger: false, connectTimeoutMs: 10_000 })
  const caller: WorkerClient = await connectWorker(engine.url, { name: 'control-caller', reconnect: false, logger: false, connectTimeoutMs: 10_000 })
  server.registerFunction('control::echo', (data: { n: number }) => ({ echo: data.n }))
  server.registerFunction('control::http', (req: { path_params: { n: string } }) => ({ status_code: 200, body: { n: Number(req.path_params.n) } }))
  const registered = await server.registerTrigger({ id: 'control-route', trigger_type: 'http', function_id: 'control::http', config: { path: '/control/:n', method: 'GET' } })
  if (registered.error) throw new Error(`the control route was refused: ${JSON.stringify(registered.error)}`)
  let calls = 0
  let requests = 0
  const requestMs: number[] = []
  const failures: string[] = []
  let running = true
  /** After a failure, a pause: a dead engine must not turn the loops into a busy loop. */
  const pause = () => new Promise((r) => setTimeout(r, 50))
  const timeout = options.callTimeoutMs ?? 15_000

  const callLoop = (async () => {
    for (let n = 0; running; n++) {
      try {
        const r = await caller.invoke<{ echo: number }>('control::echo', { n }, { timeout_ms: timeout })
        if (r?.echo !== n) failures.push(`call ${n}: answered ${JSON.stringify(r)}`)
        else calls++
      } catch (err) {
        failures.push(`call ${n}: ${(err as Error).message}`)
        await pause()
      }
    }
  })()
  const httpLoop = (async () => {
    for (let n = 0; running; n++) {
      try {
        const sent = performance.now()
        const res = await fetch(`${engine.httpUrl}/control/${n}`, { signal: AbortSignal.timeout(timeout) })
        const body = await res.text()
        requestMs.push(performance.now() - sent)
        if (res.status !== 200 || JSON.parse(body).n !== n) failures.push(`GET /control/${n}: ${res.status} ${body.slice(0, 200)}`)
        else requests++
      } catch (err) {
        failures.push(`GET /control/${n}: ${(err as Error).message}`)
        await pause()
      }
    }
  })()

  return {
    progress: () => ({ calls, requests }),
    requestMs: () => [...requestMs],
    failures: () => [...failures],
    async stop() {
      running = false
      await Promise.all([callLoop, httpLoop])
      caller.close()
      server.close()
      return { calls, requests, failures: [...failures] }
    },
  }
}
