/**
 * A worker in its own process, written with the bundled client (`ours`) or with iii-sdk
 * (`iii`), as a team would deploy it: an http route (`GET /poll`), a function others call
 * (`rc::echo`), a cron trigger every second and a queue consumer (`rc-q`). It reports every
 * tick and every message to its parent. SIGTERM stops it gracefully, as a deploy does: it
 * stops taking new calls, lets the calls in its hands finish, closes, and exits 0.
 *
 *   replica-worker <url> <ours|iii> <tag>
 *
 * With the bundled client that is `close()`. iii-sdk has no drain of its own: the worker
 * unregisters its functions, waits for the engine to have taken that in (the answer to a
 * call sent after them), then for its handlers in flight, then calls `shutdown()`.
 */
import { registerWorker } from 'iii-sdk'
import { connectWorker } from '../../../client/ws-client.js'
import { report, serveTasks } from '../child.js'

const [url, client, tag] = process.argv.slice(2)
/** Every replica has the service's name, as a deploy gives it (the test tells them apart by process id). */
const NAME = 'replica'

type Handler = (data: any) => unknown
let inFlight = 0
/** Counts the handler's calls in flight, for the graceful stop. */
const counted = (handler: Handler) => async (data: any): Promise<unknown> => {
  inFlight++
  try {
    return await handler(data)
  } finally {
    inFlight--
  }
}

const functions: Record<string, Handler> = {
  'rc::poll': () => ({ status_code: 200, body: { tag } }),
  'rc::echo': (data: { n: number }) => ({ n: data?.n, tag }),
  'rc::tick': (event: { scheduled_time: string; trigger_id: string }) => void report('tick', { scheduled_time: event.scheduled_time, tag }),
  'rc::queue': (batch: { messages: Array<{ body: { id: string } }> }) => void report('messages', batch.messages.map((m) => m.body.id)),
}
const triggers = [
  { id: 'poll', trigger_type: 'http', function_id: 'rc::poll', config: { path: '/poll', method: 'GET' } },
  { id: 'tick', trigger_type: 'cron', function_id: 'rc::tick', config: { schedule: '* * * * * *' } },
  { id: 'queue', trigger_type: 'queue', function_id: 'rc::queue', config: { queue_name: 'rc-q', batch_size: 10, visibility_timeout: 2, max_receive_count: 100 } },
]

let stop: () => Promise<void>
if (client === 'ours') {
  const worker = await connectWorker(url, { name: NAME, logger: false, initialDelayMs: 10, maxDelayMs: 50, connectTimeoutMs: 10_000 })
  for (const [id, handler] of Object.entries(functions)) worker.registerFunction(id, counted(handler))
  for (const t of triggers) {
    const result = await worker.registerTrigger(t)
    if (result.error) throw new Error(`${t.id} refused: ${JSON.stringify(result.error)}`)
  }
  stop = () => worker.close()
} else {
  // The SDK talks a lot on the console; the test reads the engine instead.
  for (const level of ['debug', 'log', 'info', 'warn', 'error'] as const) console[level] = () => {}
  const iii = registerWorker(url, {
    workerName: NAME,
    otel: { enabled: false },
    enableMetricsReporting: false,
    reconnectionConfig: { initialDelayMs: 10, maxDelayMs: 50, backoffMultiplier: 2, jitterFactor: 0.3, maxRetries: -1 },
  })
  const registered = Object.entries(functions).map(([id, handler]) => iii.registerFunction(id, counted(handler)))
  // iii-sdk names its triggers itself (a new random id each) and sends no answer back.
  for (const t of triggers) iii.registerTrigger({ type: t.trigger_type, function_id: t.function_id, config: t.config })
  stop = async () => {
    for (const f of registered) f.unregister()
    // A call after the unregistrations: once it is answered, the engine has taken them in
    // (it handles a connection's frames in order), and every call it sent here has arrived.
    await iii.trigger({ function_id: 'engine::functions::list', payload: {}, timeoutMs: 5000 }).catch(() => {})
    const deadline = Date.now() + 10_000
    while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
    await iii.shutdown()
  }
}

process.on('SIGTERM', () => {
  void stop().then(() => process.exit(0))
})

serveTasks({}, { tag, pid: process.pid })
