/**
 * A worker killed with SIGKILL mid-call: a real child process (procs/victim-worker.ts)
 * holding calls, http requests and a queue batch it will never answer, and providing a
 * trigger type another worker bound a trigger to, is killed. Proves, as docs/reconnects.md
 * promises for a connection lost without a close:
 * - every call it was serving fails at once with `worker_disconnected` (within 1 s of the
 *   kill), every http request it was serving is answered 503 with `Retry-After`;
 * - its session is held for the grace period: a call or request arriving then waits, and
 *   when nobody comes back gets `worker_disconnected` ("No worker offered …") / 503 when
 *   the hold ends, never sooner; after the hold its route is gone (404);
 * - the trigger bound to its trigger type is parked at once, and comes back (re-sent to the
 *   provider) when a worker provides the type again;
 * - its queue batch comes back after its visibility timeout, not before, with its receive
 *   counted, to the worker that replaces it, which then serves everything again.
 */
import * as assert from 'uvu/assert'
import { connectWorker } from '../../../client/ws-client.js'
import type { InvocationError, WorkerClient } from '../../../client/worker.js'
import { until } from '../../harness.js'
import { Child } from '../child.js'
import { cleanUpEngines, startServe, type EngineProcess } from '../engine-process.js'
import { httpRequest } from '../http-get.js'
import { fmt, type Outcome } from '../outcome.js'

export interface KillSize {
  /** Workers killed, one after the other. */
  rounds: number
  /** Calls in the victim's hands at the kill. */
  calls: number
  /** HTTP requests in its hands at the kill. */
  requests: number
  /** Queue messages leased to it at the kill. */
  messages: number
}

export const KILL_SHORT: KillSize = { rounds: 1, calls: 16, requests: 8, messages: 6 }
export const KILL_LONG: KillSize = { rounds: 10, calls: 64, requests: 32, messages: 20 }

/** The engine's reconnect grace period in these tests (`--reconnect-grace-ms`). */
const GRACE_MS = 1500
/** The victim's queue visibility timeout, longer than the grace, so that its batch comes back after the hold. */
const VISIBILITY_S = 6
/** How soon a caller must hear that its worker died. */
const TOLD_WITHIN_MS = 1000

type Settled = { at: number; ok: boolean; code?: string; message?: string; status?: number; retryAfter?: string }

const reportsOf = (child: Child, kind: string) => child.reports.filter((r) => r.kind === kind)
const spawnVictim = (engine: EngineProcess, mode: 'hang' | 'serve', messages: number) =>
  new Child<{ worker_id: string }>(`${mode === 'hang' ? 'victim' : 'replacement'} worker`, 'victim-worker', [engine.url, mode, String(VISIBILITY_S), String(messages)])

/** A call by `caller`, recorded when it settles. */
function callRecord(caller: WorkerClient, n: number): Promise<Settled> {
  return caller.invoke('victim::call', { n }, { timeout_ms: 60_000 }).then(
    () => ({ at: Date.now(), ok: true }),
    (err: InvocationError) => ({ at: Date.now(), ok: false, code: err.code, message: err.message }),
  )
}

/** A request to the victim's route, recorded when it is answered. */
function requestRecord(engine: EngineProcess, n: number | string): Promise<Settled> {
  return httpRequest(`${engine.httpUrl}/victim/${n}`, { timeoutMs: 60_000 }).then(
    (res) => {
      let code: string | undefined
      try {
        code = JSON.parse(res.body)?.error?.code
      } catch {
        /* not JSON */
      }
      return { at: Date.now(), ok: res.status === 200, status: res.status, code, message: res.body.slice(0, 200), retryAfter: res.headers['retry-after'] as string | undefined }
    },
    (err: Error) => ({ at: Date.now(), ok: false, message: err.message }),
  )
}

async function boundState(caller: WorkerClient): Promise<string | undefined> {
  const { registered_triggers: triggers } = await caller.invoke<{ registered_triggers: Array<{ id: string; state: string; worker_id: string }> }>('engine::registered-triggers::list')
  return triggers.find((t) => t.id === 'bound' && t.worker_id === caller.workerId)?.state
}

interface RoundFigures {
  slowestToldMs: number
  redelivered: number
  /** When the calls that came during the hold were told, after the kill. */
  waitedMs: number
}

async function round(engine: EngineProcess, caller: WorkerClient, size: KillSize, r: number): Promise<RoundFigures> {
  // Messages waiting for the victim, which leases them all in one batch as it starts.
  const ids = Array.from({ length: size.messages }, (_, i) => `r${r}-m${i}`)
  for (const id of ids) await caller.invoke('engine::queue::send', { queue_name: 'victim-q', body: { id } })
  const spawnedAt = Date.now()
  const victim = spawnVictim(engine, 'hang', size.messages)
  await victim.ready
  if (r === 0) {
    const bound = await caller.registerTrigger({ id: 'bound', trigger_type: 'victim-type', function_id: 'kill::bound', config: { every: 'kill' } })
    assert.not.ok(bound.error, JSON.stringify(bound))
  }
  // The bound trigger reaches the provider: registered in round 0, re-sent from its parking after.
  await until(() => reportsOf(victim, 'bind').length === 1, 10_000, `round ${r}: the bound trigger to reach the victim`)
  await until(() => reportsOf(victim, 'batch').flatMap((b) => b.data).length === size.messages, 10_000, `round ${r}: the victim to lease the batch`)
  assert.equal(reportsOf(victim, 'batch').flatMap((b) => b.data.map((m: { id: string }) => m.id)).sort(), [...ids].sort())

  // Calls and requests in the victim's hands.
  const calls = Array.from({ length: size.calls }, (_, n) => callRecord(caller, n))
  const requests = Array.from({ length: size.requests }, (_, n) => requestRecord(engine, n))
  await until(() => reportsOf(victim, 'call').length === size.calls && reportsOf(victim, 'request').length === size.requests, 10_000, `round ${r}: the calls and requests to reach the victim`)

  const killedAt = Date.now()
  const exit = await victim.kill('SIGKILL')
  assert.is(exit.signal, 'SIGKILL')

  // In flight: told at once.
  const called = await Promise.all(calls)
  const requested = await Promise.all(requests)
  for (const [n, c] of called.entries()) {
    assert.is(c.code, 'worker_disconnected', `round ${r}: call ${n} in flight failed worker_disconnected: ${JSON.stringify(c)}`)
    assert.ok(c.at - killedAt <= TOLD_WITHIN_MS, `round ${r}: call ${n} was told within ${TOLD_WITHIN_MS} ms of the kill (${c.at - killedAt} ms)`)
  }
  for (const [n, q] of requested.entries()) {
    assert.equal([q.status, q.code, q.retryAfter], [503, 'worker_disconnected', '1'], `round ${r}: request ${n} in flight answered 503 worker_disconnected with Retry-After: ${JSON.stringify(q)}`)
    assert.ok(q.at - killedAt <= TOLD_WITHIN_MS, `round ${r}: request ${n} was answered within ${TOLD_WITHIN_MS} ms of the kill (${q.at - killedAt} ms)`)
  }
  const slowestToldMs = Math.max(...[...called, ...requested].map((s) => s.at - killedAt))

  // Held: the bound trigger parks; a call and a request arriving now wait for the hold to end.
  const health = await engine.health()
  assert.is(health.body.held_sessions, 1, `round ${r}: the victim's session is held`)
  await until(async () => (await boundState(caller)) === 'parked', 3000, `round ${r}: the bound trigger to park`)
  const waitingCall = callRecord(caller, -1)
  const waitingRequest = requestRecord(engine, 'late')
  const [late, lateRequest] = await Promise.all([waitingCall, waitingRequest])
  assert.equal([late.code, /No worker offered 'victim::call' within \d+ ms/.test(late.message ?? '')], ['worker_disconnected', true], `round ${r}: a call during the hold: ${JSON.stringify(late)}`)
  assert.equal([lateRequest.status, lateRequest.code, lateRequest.retryAfter], [503, 'worker_disconnected', '1'], `round ${r}: a request during the hold: ${JSON.stringify(lateRequest)}`)
  for (const s of [late, lateRequest]) assert.ok(s.at - killedAt >= GRACE_MS - 50, `round ${r}: a call during the hold waited for its end (${s.at - killedAt} ms after the kill)`)
  await until(async () => (await engine.health()).body.held_sessions === 0, 5000, `round ${r}: the hold to end`)
  assert.is((await httpRequest(`${engine.httpUrl}/victim/after`)).status, 404, `round ${r}: after the hold the route is gone`)

  // The replacement: the batch comes back after its visibility timeout, the bound trigger comes back.
  const replacement = spawnVictim(engine, 'serve', size.messages)
  await replacement.ready
  await until(() => reportsOf(replacement, 'bind').length === 1, 10_000, `round ${r}: the bound trigger to come back to the replacement`)
  await until(async () => (await boundState(caller)) === 'active', 5000, `round ${r}: the bound trigger to be active again`)
  await until(() => reportsOf(replacement, 'batch').flatMap((b) => b.data).length >= size.messages, (VISIBILITY_S + 10) * 1000, `round ${r}: the killed worker's batch to come back`)
  const back = reportsOf(replacement, 'batch')
  const redelivered = back.flatMap((b) => b.data as Array<{ id: string; receive_count: number }>)
  assert.equal(redelivered.map((m) => m.id).sort(), [...ids].sort(), `round ${r}: the batch came back whole`)
  assert.ok(redelivered.every((m) => m.receive_count === 2), `round ${r}: each message's first receive was counted: ${JSON.stringify(redelivered)}`)
  const backAt = back[0].at
  assert.ok(backAt >= spawnedAt + VISIBILITY_S * 1000, `round ${r}: the batch came back once its visibility timeout had passed (${backAt - spawnedAt} ms after the victim started, visibility ${VISIBILITY_S} s)`)
  // Everything is served again.
  const again = await callRecord(caller, 1)
  assert.ok(again.ok, `round ${r}: the replacement serves the function: ${JSON.stringify(again)}`)
  const againRequest = await requestRecord(engine, 1)
  assert.ok(againRequest.ok, `round ${r}: the replacement serves the route: ${JSON.stringify(againRequest)}`)

  // The replacement leaves cleanly (nothing held), and the queue is empty for the next round.
  await replacement.call('close')
  await replacement.kill('SIGKILL')
  await until(async () => (await engine.health()).body.sessions === 1 && (await boundState(caller)) === 'parked', 5000, `round ${r}: the replacement to be gone`)
  const { queues } = await caller.invoke<{ queues: Array<{ queue_name: string; ready: number; in_flight: number; delayed: number }> }>('engine::queue::list')
  const q = queues.find((x) => x.queue_name === 'victim-q')
  // A queue with no message and no trigger is not listed.
  assert.equal(q ? [q.ready, q.in_flight, q.delayed] : [0, 0, 0], [0, 0, 0], `round ${r}: every message was acknowledged: ${JSON.stringify(q)}`)
  return { slowestToldMs, redelivered: redelivered.length, waitedMs: Math.max(late.at, lateRequest.at) - killedAt }
}

export async function workerKill(size: KillSize): Promise<Outcome> {
  const started = Date.now()
  let caller: WorkerClient | undefined
  try {
    const engine = await startServe({ memoryStore: true, flags: ['--reconnect-grace-ms', String(GRACE_MS)] })
    caller = await connectWorker(engine.url, { name: 'caller', reconnect: false, logger: false })
    caller.registerFunction('kill::bound', () => null)
    let slowest = 0
    let redelivered = 0
    let waited = 0
    for (let r = 0; r < size.rounds; r++) {
      const f = await round(engine, caller, size, r)
      slowest = Math.max(slowest, f.slowestToldMs)
      redelivered += f.redelivered
      waited = Math.max(waited, f.waitedMs)
    }
    assert.ok(engine.alive(), 'the engine is still running')
    const { peakRss, rss } = engine.memory()
    return {
      title: 'Worker killed mid-call',
      load: `${size.calls} calls, ${size.requests} http requests and a batch of ${size.messages} queue messages in the worker's hands; a trigger bound to its trigger type`,
      faults: `${size.rounds} SIGKILL${size.rounds > 1 ? 's' : ''} of the worker process (grace ${GRACE_MS / 1000} s, visibility timeout ${VISIBILITY_S} s), then a replacement process`,
      badInputs: '-',
      lost: 'nothing: every caller told (worker_disconnected, HTTP 503), every leased message redelivered to the replacement, the bound trigger re-sent',
      figures: [
        ['calls and requests in flight at a kill, all told', fmt.int(size.rounds * (size.calls + size.requests))],
        ['slowest to be told after the kill', fmt.ms(slowest)],
        ['calls arriving during the hold, told when it ended', `${fmt.int(size.rounds * 2)} (at most ${fmt.ms(waited)} after the kill)`],
        ['messages redelivered after the visibility timeout', fmt.int(redelivered)],
        ['bound triggers parked and re-sent', fmt.int(size.rounds)],
      ],
      memory: { peakRss, rssEnd: rss },
      seconds: (Date.now() - started) / 1000,
    }
  } finally {
    caller?.close()
    await Child.killAll()
    await cleanUpEngines()
  }
}
