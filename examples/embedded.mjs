// signalbox embedded in your own program: an engine with an HTTP listener, a worker in
// the same process, and one http route. The program calls its own route, prints the
// answer, and stops.
//
//   node examples/embedded.mjs
import { createEngine } from 'signalbox'

// `http.port: 0` takes a free port, so this runs even beside `npm start`. Embedded, the
// engine opens no WebSocket port unless you give it one (`port`).
const engine = await createEngine({ http: { port: 0 } })
console.log(`HTTP triggers on ${engine.httpUrl}`)

// An in-process worker: the same API as a worker in another process.
const worker = engine.connect({ name: 'billing' })

// The function: it gets the HTTP request and answers {status_code, headers, body}.
worker.registerFunction('invoices::create', (req) => {
  const total = req.body.items.reduce((sum, price) => sum + price, 0)
  return { status_code: 201, body: { id: 'inv-1', total } }
})

// The trigger binds POST /invoices to it. The engine answers every registration;
// a refusal says why (and is logged too).
const result = await worker.registerTrigger({
  id: 'create-invoice',
  trigger_type: 'http',
  function_id: 'invoices::create',
  config: { path: '/invoices', method: 'POST' },
})
console.log(`registered: ${JSON.stringify(result)}`)

const res = await fetch(`${engine.httpUrl}/invoices`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ items: [12, 30] }),
})
console.log(`POST /invoices → ${res.status} ${await res.text()}`)

await engine.stop()
