/**
 * `limits.callsPerSession` and `limits.callsInFlight` count the calls a worker sends
 * across the cluster as they count its local calls: on engine A with low limits, calls of
 * a function only engine B serves are refused `too_many_requests` past them, with the
 * texts of one engine, and count no more once answered (or timed out).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { InvocationError } from '../client/worker.js'
import { limit, until } from './harness.js'
import { cleanUp, nats, serve, whenServed, worker } from './cluster-harness.js'

const it = suite('cluster: limits count calls across engines')
it.before(() => nats.start())
it.after(() => nats.stop())
it.after.each(cleanUp)

const code = (p: Promise<unknown>) => p.then(() => 'ok', (err: InvocationError) => `${err.code}: ${err.message}`)

it('calls sent to another engine count against the caller\'s callsPerSession and callsInFlight until answered', limit(async () => {
  const [a, b] = await Promise.all([serve(['--max-calls-per-session', '2', '--max-calls-in-flight', '3']), serve()])
  const server = await worker(b.url)
  const held: Array<() => void> = []
  server.registerFunction('slow::op', (d: { probe?: boolean }) => (d.probe ? 'ready' : new Promise<string>((resolve) => held.push(() => resolve('done')))))
  const first = await worker(a.url)
  const second = await worker(a.url)
  assert.is(await whenServed(first, 'slow::op', { probe: true }), 'ready')

  // Two calls of the first worker wait on B: its third is refused as on one engine.
  const waiting = [first.invoke('slow::op', {}, { timeout_ms: 20_000 }), first.invoke('slow::op', {}, { timeout_ms: 20_000 })]
  await until(() => held.length === 2, 5000, 'two calls held on B')
  assert.match(await code(first.invoke('slow::op', {}, { timeout_ms: 20_000 })), /^too_many_requests: This worker already has 2 calls waiting for an answer, the most allowed \(option limits.callsPerSession\)/)
  // A third call in the engine (the second worker's) fills callsInFlight; a fourth is refused.
  waiting.push(second.invoke('slow::op', {}, { timeout_ms: 20_000 }))
  await until(() => held.length === 3, 5000, 'three calls held on B')
  assert.match(await code(second.invoke('slow::op', {}, { timeout_ms: 20_000 })), /^too_many_requests: The engine already has 3 calls in flight, the most allowed \(option limits.callsInFlight\)/)

  // Answered: they count no more.
  for (const release of held.splice(0)) release()
  assert.equal(await Promise.all(waiting), ['done', 'done', 'done'])
  const again = [first.invoke('slow::op', {}, { timeout_ms: 20_000 }), first.invoke('slow::op', {}, { timeout_ms: 20_000 })]
  await until(() => held.length === 2, 5000, 'two calls held on B again')
  for (const release of held.splice(0)) release()
  assert.equal(await Promise.all(again), ['done', 'done'])

  // A call across that times out counts no more either.
  assert.match(await code(first.invoke('slow::op', {}, { timeout_ms: 300 })), /^invocation_timeout/)
  assert.match(await code(first.invoke('slow::op', {}, { timeout_ms: 300 })), /^invocation_timeout/)
  const last = first.invoke('slow::op', {}, { timeout_ms: 20_000 })
  await until(() => held.length === 3, 5000, 'a call held on B after the timeouts')
  for (const release of held.splice(0)) release()
  assert.is(await last, 'done')
}, 60_000))

it.run()
