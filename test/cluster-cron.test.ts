/**
 * A cron tick lost to a dying engine is run by another within the tick's window, once.
 * Three (or two) `signalbox serve --cluster` child processes hold the same cron trigger;
 * the engine that wins the claims is made to stop between its claim and its run by the
 * fault test/faults/cron-fault.ts loads into it (`stall:<ms>` on it, `late:<ms>` on the
 * others so that it wins), then killed (SIGKILL: NATS says its connection ended) or
 * stopped (SIGSTOP: unheard of after 3.5 s, then resumed). Every tick runs exactly once.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { limit, until } from './harness.js'
import { cleanUp, nats, serve, serveWithCronFault, worker, type Server } from './cluster-harness.js'

const it = suite('cluster: a cron tick lost to a dying engine')
it.before(() => nats.start())
it.after(() => nats.stop())
it.after.each(cleanUp)

const engineId = async (server: Server) => ((await (await fetch(`${server.url.replace(/^ws:/, 'http:')}/healthz`)).json()) as { cluster: { engine_id: string } }).cluster.engine_id

/** Every key of the claims bucket as last written, fed by a watch. */
async function watchClaims(nc: NatsConnection): Promise<Map<string, { engine_id: string; state?: string; took_over_from?: string }>> {
  const kv = await new Kvm(nc).create('signalbox-cron-claims', { history: 1, ttl: 600_000 })
  const seen = new Map<string, { engine_id: string; state?: string; took_over_from?: string }>()
  const iter = await kv.watch()
  void (async () => {
    for await (const e of iter) if (e.operation === 'PUT') seen.set(e.key, e.json())
  })()
  return seen
}

/**
 * A worker on each engine with the function and the cron trigger, one engine after the
 * other in the order given (the claimer last: every tick it can claim is one the others
 * hold too, and follow); runs counted by scheduled time.
 */
async function holdTrigger(engines: Server[], function_id: string, schedule: string) {
  const runs = new Map<string, number>()
  for (const [i, engine] of engines.entries()) {
    const w = await worker(engine.url)
    w.registerFunction(function_id, (d: { scheduled_time: string; actual_time: string }) => void runs.set(d.scheduled_time, (runs.get(d.scheduled_time) ?? 0) + 1))
    const result = await w.registerTrigger({ id: `tick-${i}`, trigger_type: 'cron', function_id, config: { schedule } })
    assert.not.ok(result.error, JSON.stringify(result))
  }
  return runs
}

it('the claimer is killed (SIGKILL) between its claim and its run: another engine runs the tick within its window, once', limit(async () => {
  const a = await serveWithCronFault('stall:60000')
  const [b, c] = await Promise.all([serveWithCronFault('late:300'), serveWithCronFault('late:300')])
  const nc = await connect({ servers: nats.url })
  try {
    const claims = await watchClaims(nc)
    const idA = await engineId(a)
    // A holds the trigger last: the first tick it claims (and stalls on) is one B and C follow.
    // Every 5 s: the tick's window (until the next tick) leaves room for the kill and the take-over on a loaded machine.
    const runs = await holdTrigger([b, c, a], 'kill::tick', '*/5 * * * * *')
    const [key] = (await until(
      () => [...claims].find(([, v]) => v.engine_id === idA && v.state === 'claimed'),
      20_000,
      'a tick claimed by A',
    ))!
    const scheduled = new Date(Number(key.split('.')[1])).toISOString()
    a.child.kill('SIGKILL')
    const killed = Date.now()
    await a.exited
    await until(() => runs.has(scheduled), 5000, `the tick ${scheduled} to be run by B or C`)
    console.log(`taken over ${Date.now() - killed} ms after the kill`)
    const entry = claims.get(key)!
    assert.is(entry.took_over_from, idA)
    await until(() => claims.get(key)?.state === 'done', 5000, 'the tick marked done')
    // Two more ticks: any second run of the tick would have come by then, and B and C run theirs once.
    await until(() => [...runs.keys()].filter((t) => t > scheduled).length >= 2, 20_000, 'two more ticks')
    for (const [tick, n] of runs) assert.is(n, 1, `${tick} ran ${n} times (${JSON.stringify([...runs])})`)
  } finally {
    await nc.close()
  }
}, 60_000))

it('the claimer is stopped (SIGSTOP) between its claim and its run: the other engine runs the tick once it is unheard of; resumed, the claimer does not run it again', limit(async () => {
  const a = await serveWithCronFault('stall:7000')
  const b = await serveWithCronFault('late:300')
  const nc = await connect({ servers: nats.url })
  try {
    const claims = await watchClaims(nc)
    const idA = await engineId(a)
    const runs = await holdTrigger([b, a], 'stop::tick', '*/10 * * * * *')
    const [key] = (await until(
      () => [...claims].find(([, v]) => v.engine_id === idA && v.state === 'claimed'),
      35_000,
      'a tick claimed by A',
    ))!
    const at = Number(key.split('.')[1])
    const scheduled = new Date(at).toISOString()
    a.child.kill('SIGSTOP')
    try {
      await until(() => runs.has(scheduled), 10_000, `the tick ${scheduled} to be run by B`)
      console.log(`taken over ${Date.now() - at} ms after its scheduled time`)
      assert.ok(Date.now() < at + 10_000, 'within the tick window')
    } finally {
      a.child.kill('SIGCONT')
    }
    // A wakes, its stall ends (7 s after its claim), and it finds the tick taken over; the next tick is A's again, run late by its stall.
    const next = new Date(at + 10_000).toISOString()
    await until(() => runs.has(next), 25_000, `the next tick ${next} to run`)
    assert.is(runs.get(scheduled), 1, `${scheduled} ran ${runs.get(scheduled)} times`)
    assert.is(runs.get(next), 1)
    assert.is(claims.get(key)?.took_over_from, idA)
  } finally {
    await nc.close()
  }
}, 90_000))

it.run()
