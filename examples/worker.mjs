// A worker process with an http route, a cron schedule and a queue, served by an engine
// running elsewhere. Start the engine first (`npm start`), then, in another terminal:
//
//   node examples/worker.mjs
//
// A worker started before its engine waits for it (and says so). Ctrl-C stops it.
// SIGNALBOX_URL and SIGNALBOX_HTTP_URL point it at another engine.
import { connectWorker } from 'signalbox'

const url = process.env.SIGNALBOX_URL ?? 'ws://127.0.0.1:49134'
const httpUrl = process.env.SIGNALBOX_HTTP_URL ?? 'http://127.0.0.1:3111'

// The name is how the engine's logs, `signalbox ls workers` and error texts show it.
const worker = await connectWorker(url, { name: 'example-worker' })
console.log(`connected to ${url}`)
// Ctrl-C (or SIGTERM) closes the connection and ends the program.
const stop = async () => {
  await worker.close()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)

// http: GET /hello/:name answers a greeting.
worker.registerFunction('hello::greet', (req) => ({
  status_code: 200,
  body: { greeting: `Hello, ${req.path_params.name}!` },
}))
await worker.registerTrigger({
  id: 'greet',
  trigger_type: 'http',
  function_id: 'hello::greet',
  config: { path: '/hello/:name', method: 'GET' },
})

// queue: orders, up to 10 at a time. Returning normally acknowledges the batch.
let processed = 0
let bothProcessed
const twoOrders = new Promise((resolve) => (bothProcessed = resolve))
worker.registerFunction('orders::process', (batch) => {
  for (const message of batch.messages) {
    console.log(`queue: order ${message.body.id}: ${message.body.item}`)
    if (++processed === 2) bothProcessed()
  }
})
await worker.registerTrigger({
  id: 'orders',
  trigger_type: 'queue',
  function_id: 'orders::process',
  config: { queue_name: 'orders', batch_size: 10 },
})

// Try them: the route through the engine's HTTP listener, two orders through the queue.
const res = await fetch(`${httpUrl}/hello/Ada`)
console.log(`http: GET /hello/Ada → ${res.status} ${await res.text()}`)
await worker.invoke('engine::queue::send', { queue_name: 'orders', body: { id: 1, item: 'tea' } })
await worker.invoke('engine::queue::send', { queue_name: 'orders', body: { id: 2, item: 'cake' } })
await twoOrders

// cron: every 2 seconds (6 fields: the first is seconds).
let ticks = 0
worker.registerFunction('hello::tick', (event) => {
  console.log(`cron: tick ${++ticks}, scheduled for ${event.scheduled_time}`)
})
await worker.registerTrigger({
  id: 'tick',
  trigger_type: 'cron',
  function_id: 'hello::tick',
  config: { schedule: '*/2 * * * * *' },
})

console.log(`running: try curl ${httpUrl}/hello/you; Ctrl-C stops`)
