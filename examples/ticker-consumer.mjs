// A worker that binds a function to a trigger type another worker provides: `ticker`,
// from ticker-provider.mjs. Start the provider first, then:
//
//   node examples/ticker-consumer.mjs
//
// SIGNALBOX_URL points it at another engine. Ctrl-C stops it, and the provider hears
// that its trigger is gone.
import { connectWorker } from 'signalbox'

const url = process.env.SIGNALBOX_URL ?? 'ws://127.0.0.1:49134'
const worker = await connectWorker(url, { name: 'ticker-consumer' })
// Ctrl-C (or SIGTERM) ends the program, from the start.
const stop = async () => {
  await worker.close()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)

worker.registerFunction('clock::tick', ({ tick, at }) => console.log(`consumer: tick ${tick} at ${at}`))

// The provider checks the config: this one it refuses, and says why.
const tooFast = await worker.registerTrigger({ id: 'too-fast', trigger_type: 'ticker', function_id: 'clock::tick', config: { every_ms: 1 } })
if (tooFast.error?.code === 'trigger_type_not_found') {
  console.log('consumer: nobody provides the trigger type ticker yet: start examples/ticker-provider.mjs first')
  // Closed first, so that the engine ends the session at once instead of holding it for a reconnect.
  await worker.close()
  process.exit(1)
}
console.log(`consumer: refused: ${tooFast.error?.message}`)

const everySecond = await worker.registerTrigger({ id: 'every-second', trigger_type: 'ticker', function_id: 'clock::tick', config: { every_ms: 1000 } })
console.log(`consumer: registered: ${JSON.stringify(everySecond)}`)

