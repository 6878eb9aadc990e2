// Durable jobs: a queue with retries, a dead-letter queue, and a handler for the dead
// letters. With `npm start` the queues live in SQLite (./.signalbox): jobs sent and not
// yet done survive a restart of the engine. With an engine running:
//
//   node examples/jobs.mjs
//
// SIGNALBOX_URL points it at another engine. Ctrl-C stops it.
import { connectWorker } from 'signalbox'

const url = process.env.SIGNALBOX_URL ?? 'ws://127.0.0.1:49134'
const worker = await connectWorker(url, { name: 'jobs' })
// Ctrl-C (or SIGTERM) ends the program, from the start.
const stop = async () => {
  await worker.close()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)

// Jobs the dead-letter handler has repaired.
const repaired = new Set()

// The job: resize an image. A job without an image fails: it is listed in
// `failed_message_ids`, comes back once its visibility timeout (1 s) ends, and after
// `max_receive_count` (2) receives it goes to the dead-letter queue, `jobs.dlq`.
worker.registerFunction('jobs::resize', (batch) => {
  const failed = []
  for (const { message_id, body, receive_count } of batch.messages) {
    if (body.image || repaired.has(body.job)) {
      console.log(`job ${body.job}: done`)
    } else {
      console.log(`job ${body.job}: failed (no image), receive ${receive_count}`)
      failed.push(message_id)
    }
  }
  return { failed_message_ids: failed }
})
await worker.registerTrigger({
  id: 'resize',
  trigger_type: 'queue',
  function_id: 'jobs::resize',
  config: { queue_name: 'jobs', batch_size: 5, visibility_timeout: 1, max_receive_count: 2 },
})

// The dead-letter handler, every 2 seconds: it lists jobs.dlq, repairs each job there,
// and sends them back to the queue they came from (redrive).
worker.registerFunction('jobs::dead-letters', async () => {
  const { messages } = await worker.invoke('engine::queue::dlq', { queue_name: 'jobs' })
  if (messages.length === 0) return
  for (const { body, receive_count, last_error } of messages) {
    console.log(`dead letter: job ${body.job} after ${receive_count} receives (${last_error.code}); repairing it and sending it back`)
    repaired.add(body.job)
  }
  await worker.invoke('engine::queue::dlq', { queue_name: 'jobs', action: 'redrive', message_ids: messages.map((m) => m.message_id) })
})
await worker.registerTrigger({
  id: 'dead-letters',
  trigger_type: 'cron',
  function_id: 'jobs::dead-letters',
  config: { schedule: '*/2 * * * * *' },
})

for (const job of [1, 2, 3]) {
  await worker.invoke('engine::queue::send', { queue_name: 'jobs', body: { job, image: job === 3 ? null : `photo-${job}.jpg` } })
}
console.log('sent jobs 1, 2 and 3; Ctrl-C stops')

