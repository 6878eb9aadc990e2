// A worker written with the `iii-sdk` npm package (not signalbox's own client): signalbox
// speaks the same protocol. It registers a function, binds an http route to it with
// iii's config names (api_path, http_method), calls its route and an engine function,
// and keeps serving. (iii-sdk is a development dependency of signalbox: `npm ci` in a
// clone installs it; elsewhere, `npm install iii-sdk`.) With an engine running:
//
//   node examples/iii-sdk-worker.mjs
//
// SIGNALBOX_URL and SIGNALBOX_HTTP_URL point it at another engine. Ctrl-C stops it.
// Imported here, not at the top, so that a missing iii-sdk is one line saying what to do.
let registerWorker
try {
  ;({ registerWorker } = await import('iii-sdk'))
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !/'iii-sdk'/.test(err.message)) throw err
  console.error("This example needs the iii-sdk package, which is not installed here: run 'npm install iii-sdk' (in a clone of signalbox, 'npm ci' installs it).")
  process.exit(1)
}

const url = process.env.SIGNALBOX_URL ?? 'ws://127.0.0.1:49134'
const httpUrl = process.env.SIGNALBOX_HTTP_URL ?? 'http://127.0.0.1:3111'

// Telemetry off: signalbox accepts iii's /otel connection but keeps nothing of it.
const iii = registerWorker(url, { workerName: 'iii-example', otel: { enabled: false }, enableMetricsReporting: false })
// Ctrl-C (or SIGTERM) ends the program, from the start.
const stop = async () => {
  await iii.shutdown()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)

iii.registerFunction('iii::hello', async (req) => ({
  status_code: 200,
  body: { hello: req.query_params.name ?? 'world', from: 'iii-sdk' },
}))
iii.registerTrigger({ type: 'http', function_id: 'iii::hello', config: { api_path: '/iii/hello', http_method: 'GET' } })

// The route is bound once the engine has the trigger: ask until it answers.
let res
for (let i = 0; i < 50; i++) {
  res = await fetch(`${httpUrl}/iii/hello?name=Ada`)
  if (res.status !== 404) break
  await new Promise((resolve) => setTimeout(resolve, 100))
}
console.log(`http: GET /iii/hello?name=Ada → ${res.status} ${await res.text()}`)

// Calls go through `trigger`: here, an engine function that lists the workers.
const { workers } = await iii.trigger({ function_id: 'engine::workers::list', payload: {}, timeoutMs: 5000 })
console.log(`workers: ${workers.map((w) => w.name ?? w.worker_id).join(', ')}`)
console.log('running; Ctrl-C stops')

