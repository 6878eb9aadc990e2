/**
 * A worker in its own process (the bundled client), to be killed: it serves a function
 * (`victim::call`), an http route (`GET /victim/:n`), a queue (`victim-q`) and provides a
 * trigger type (`victim-type`), and reports to its parent every call, request, batch and
 * forwarded registration it receives. In mode `hang` it never answers (so whatever it holds
 * is in flight when it is killed); in mode `serve` it answers at once.
 *
 *   victim-worker <url> <hang|serve> <visibility_timeout seconds> <batch_size>
 */
import { connectWorker } from '../../../client/ws-client.js'
import { report, serveTasks } from '../child.js'

const [url, mode, visibility, batchSize] = process.argv.slice(2)
const hang = mode === 'hang'
/** Never settles: the call stays in this worker's hands until the process dies. */
const forever = () => new Promise<never>(() => {})

const worker = await connectWorker(url, { name: `victim-${mode}`, logger: false, connectTimeoutMs: 10_000, reconnect: false })
worker.registerFunction('victim::call', (data: { n: number }) => {
  report('call', data.n)
  return hang ? forever() : { n: data.n }
})
worker.registerFunction('victim::http', (req: { path_params: { n: string } }) => {
  report('request', req.path_params.n)
  return hang ? forever() : { status_code: 200, body: { n: req.path_params.n } }
})
worker.registerFunction('victim::queue', (batch: { messages: Array<{ message_id: string; body: { id: string }; receive_count: number }> }) => {
  report('batch', batch.messages.map((m) => ({ id: m.body.id, receive_count: m.receive_count })))
  return hang ? forever() : undefined
})
worker.registerTriggerType(
  { id: 'victim-type', description: 'a trigger type whose provider is killed' },
  {
    registerTrigger: (t) => void report('bind', { id: t.id, function_id: t.function_id }),
    unregisterTrigger: (t) => void report('unbind', { id: t.id }),
  },
)
for (const trigger of [
  { id: 'victim-route', trigger_type: 'http', function_id: 'victim::http', config: { path: '/victim/:n', method: 'GET', timeout_ms: 60_000 } },
  { id: 'victim-queue', trigger_type: 'queue', function_id: 'victim::queue', config: { queue_name: 'victim-q', batch_size: Number(batchSize), visibility_timeout: Number(visibility), max_receive_count: 100 } },
]) {
  const result = await worker.registerTrigger(trigger)
  if (result.error) throw new Error(`${trigger.id} refused: ${JSON.stringify(result.error)}`)
}

serveTasks(
  {
    close: async () => {
      await worker.close()
      return true
    },
  },
  { worker_id: worker.workerId, pid: process.pid },
)
