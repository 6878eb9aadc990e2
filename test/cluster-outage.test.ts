/**
 * NATS itself goes away under a cluster of two `signalbox serve --cluster` engines: each
 * keeps serving its local calls, local routes and cron ticks while nats-server is down, and calls and
 * routes across engines come back once it is up again (same port, same store).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { InvocationError } from '../client/worker.js'
import { limit, until } from './harness.js'
import { cleanUp, nats, serve, whenServed, worker } from './cluster-harness.js'

const it = suite('cluster: NATS down and back')
it.before(() => nats.start())
it.after(() => nats.stop())
it.after.each(cleanUp)

it('nats-server stopped: local calls and routes go on; restarted: calls and routes across engines again', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const onA = await worker(a.url)
  const onB = await worker(b.url)
  onA.registerFunction('local::echo', (d: unknown) => d)
  onA.registerFunction('local::http', () => ({ status_code: 200, body: 'local' }))
  const ticks: number[] = []
  onA.registerFunction('local::tick', () => void ticks.push(Date.now()))
  onB.registerFunction('remote::echo', (d: unknown) => ({ from: 'b', d }))
  onB.registerFunction('remote::http', () => ({ status_code: 200, body: 'remote' }))
  assert.not.ok((await onA.registerTrigger({ id: 'l', trigger_type: 'http', function_id: 'local::http', config: { path: '/local', method: 'GET' } })).error)
  assert.not.ok((await onB.registerTrigger({ id: 'r', trigger_type: 'http', function_id: 'remote::http', config: { path: '/remote', method: 'GET' } })).error)
  assert.equal(await whenServed(onA, 'remote::echo', 1), { from: 'b', d: 1 })
  await until(async () => (await fetch(`${a.httpUrl}/remote`)).status === 200, 5000, "B's route on A")

  assert.not.ok((await onA.registerTrigger({ id: 't', trigger_type: 'cron', function_id: 'local::tick', config: { schedule: '* * * * * *' } })).error)
  await until(() => ticks.length > 0, 5000, 'a cron tick while NATS is up')

  await nats.server.pause()
  const down = Date.now()
  // Down: what is local goes on, as fast as ever.
  for (let i = 0; i < 20; i++) assert.is(await onA.invoke('local::echo', i, { timeout_ms: 2000 }), i)
  const local = await fetch(`${a.httpUrl}/local`)
  assert.is(local.status, 200)
  assert.is(await local.text(), 'local')
  // A call across engines cannot be made meanwhile: it times out, the engine does not fail.
  const across = await onA.invoke('remote::echo', 2, { timeout_ms: 500 }).then(
    () => 'answered',
    (err: InvocationError) => err.code,
  )
  assert.ok(['invocation_timeout', 'function_not_found'].includes(across), across)
  assert.is(a.child.exitCode, null)
  assert.is(b.child.exitCode, null)
  // Cron ticks go on too: a tick whose claim cannot be made runs here.
  await until(() => ticks.some((t) => t > down + 1000), 10_000, 'a cron tick while NATS is down')
  console.log(`first cron run ${ticks.find((t) => t > down)! - down} ms after nats-server stopped`)

  await nats.server.start()
  const back = Date.now()
  // Back: calls and routes across engines again, once the clients have reconnected.
  const answer = await until(
    () => onA.invoke('remote::echo', 3, { timeout_ms: 1000 }).catch((err: InvocationError) => (['invocation_timeout', 'function_not_found', 'worker_disconnected'].includes(err.code) ? undefined : Promise.reject(err))),
    20_000,
    'a call across engines once NATS is back',
  )
  assert.equal(answer, { from: 'b', d: 3 })
  console.log(`calls across engines again ${Date.now() - back} ms after nats-server was back`)
  await until(async () => (await fetch(`${a.httpUrl}/remote`)).status === 200, 15_000, "B's route on A again")
  assert.is(await onA.invoke('local::echo', 'still', { timeout_ms: 2000 }), 'still')
}, 60_000))

it.run()
