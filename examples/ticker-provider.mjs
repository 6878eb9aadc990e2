// A worker that provides a trigger type of its own: `ticker`. A trigger of this type
// calls its function every `every_ms` milliseconds. Other workers bind triggers to it
// like to any built-in type (see ticker-consumer.mjs). With an engine running:
//
//   node examples/ticker-provider.mjs
//
// SIGNALBOX_URL points it at another engine. Ctrl-C stops it.
import { connectWorker } from 'signalbox'

const url = process.env.SIGNALBOX_URL ?? 'ws://127.0.0.1:49134'
const worker = await connectWorker(url, { name: 'ticker-provider' })
// Ctrl-C (or SIGTERM) ends the program, from the start.
const stop = async () => {
  await worker.close()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)

const timers = new Map()
worker.registerTriggerType(
  { id: 'ticker', description: 'Calls a function every every_ms milliseconds' },
  {
    // The engine forwards each registration here. Throwing refuses it: the consumer gets
    // the error (with its code) as its registration's answer.
    registerTrigger({ id, function_id, config }) {
      const every = config.every_ms
      if (!Number.isInteger(every) || every < 100) {
        throw Object.assign(new Error(`'every_ms' must be a whole number of at least 100, got ${JSON.stringify(every)}`), { code: 'invalid_config' })
      }
      let tick = 0
      // Firing a trigger is calling its function (fire and forget here).
      timers.set(id, setInterval(() => worker.invokeVoid(function_id, { tick: ++tick, at: new Date().toISOString() }), every))
      console.log(`provider: ticking ${function_id} every ${every} ms`)
    },
    // Called when the trigger is unregistered, or its worker goes away.
    unregisterTrigger({ id, function_id }) {
      clearInterval(timers.get(id))
      timers.delete(id)
      console.log(`provider: stopped ticking ${function_id}`)
    },
  },
)
console.log('provider: offering the trigger type ticker; Ctrl-C stops')

