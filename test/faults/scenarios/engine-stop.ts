/**
 * The engine stopped under load, as a supervisor stops it. SIGTERM: every call and HTTP
 * request that was being served when the signal came gets its real answer, every other
 * call gets an answer too (none hangs), and `signalbox serve` exits 0 well within its
 * grace period. SIGKILL with the SQLite store, while senders send and a consumer consumes:
 * after a restart on the same data folder, every message whose `engine::queue::send` was
 * answered before the kill is delivered (at least once), none lost. Repeated `rounds` times.
 */
import * as assert from 'uvu/assert'
import { connectWorker } from '../../../client/ws-client.js'
import type { InvocationError } from '../../../client/worker.js'
import { sleep, until } from '../../harness.js'
import { cleanUpEngines, startServe, tempDataDir } from '../engine-process.js'
import { httpRequest } from '../http-get.js'
import { fmt, type Outcome } from '../outcome.js'

export interface StopSize {
  /** SIGTERM rounds and SIGKILL rounds. */
  rounds: number
  /** Calls kept in flight at once during a SIGTERM round. */
  inFlight: number
  /** Loops sending queue messages during a SIGKILL round. */
  senders: number
}

export const STOP_SHORT: StopSize = { rounds: 1, inFlight: 48, senders: 16 }
export const STOP_LONG: StopSize = { rounds: 10, inFlight: 96, senders: 32 }

const GRACE_MS = 5000

const worker = (url: string, name: string) => connectWorker(url, { name, reconnect: false, logger: false, connectTimeoutMs: 10_000 })

type CallRecord = { startedAt?: number; settledAt?: number; ok?: boolean; error?: string }

/** One SIGTERM round: returns the calls and requests that were in flight at the signal, and every call's outcome. */
async function sigtermRound(size: StopSize): Promise<{ inFlightAtSignal: number; calls: number; exitMs: number }> {
  const engine = await startServe({ flags: ['--grace-ms', String(GRACE_MS)] })
  const server = await worker(engine.url, 'slow-server')
  const callers = await Promise.all([worker(engine.url, 'caller-a'), worker(engine.url, 'caller-b')])
  const records = new Map<string, CallRecord>()
  server.registerFunction('slow::work', async ({ key, ms }: { key: string; ms: number }) => {
    records.get(key)!.startedAt = Date.now()
    await sleep(ms)
    return { key }
  })
  server.registerFunction('slow::http', async (req: { path_params: { key: string; ms: string } }) => {
    records.get(req.path_params.key)!.startedAt = Date.now()
    await sleep(Number(req.path_params.ms))
    return { status_code: 200, body: { key: req.path_params.key } }
  })
  const route = await server.registerTrigger({ id: 'slow', trigger_type: 'http', function_id: 'slow::http', config: { path: '/slow/:key/:ms' } })
  assert.not.ok(route.error, JSON.stringify(route))

  let signalled = false
  let n = 0
  const loops = Array.from({ length: size.inFlight }, async (_, i) => {
    while (!signalled) {
      const key = `k${++n}`
      const record: CallRecord = {}
      records.set(key, record)
      const ms = 100 + ((n * 37) % 700)
      try {
        if (i % 4 === 3) {
          const res = await httpRequest(`${engine.httpUrl}/slow/${key}/${ms}`, { timeoutMs: GRACE_MS + 10_000 })
          record.ok = res.status === 200 && JSON.parse(res.body).key === key
          if (!record.ok) record.error = `${res.status} ${res.body}`
        } else {
          const r = await callers[i % 2].invoke<{ key: string }>('slow::work', { key, ms }, { timeout_ms: GRACE_MS + 10_000 })
          record.ok = r.key === key
        }
      } catch (err) {
        record.ok = false
        record.error = (err as Error).message
      }
      record.settledAt = Date.now()
    }
  })
  // Let the load build up, then signal while calls are being served.
  await until(() => [...records.values()].filter((r) => r.startedAt && !r.settledAt).length >= size.inFlight / 2 && n > size.inFlight * 2, 20_000, 'calls in flight')
  const signalAt = Date.now()
  signalled = true
  const exit = await engine.kill('SIGTERM')
  await Promise.all(loops)
  for (const w of [server, ...callers]) w.close()

  assert.is(exit.code, 0, `serve exited 0 on SIGTERM (${exit.signal ?? exit.code}): ${engine.stderr()}`)
  const exitMs = exit.at - signalAt
  assert.ok(exitMs < GRACE_MS, `it exited once the calls in flight were done, before the grace period ran out (${exitMs} ms)`)
  const startedBefore = [...records].filter(([, r]) => r.startedAt !== undefined && r.startedAt < signalAt)
  const failed = startedBefore.filter(([, r]) => !r.ok).map(([key, r]) => `${key}: ${r.error}`)
  assert.equal(failed, [], 'every call and request the worker had started before the signal got its answer')
  const inFlight = startedBefore.filter(([, r]) => r.settledAt! >= signalAt)
  assert.ok(inFlight.length >= size.inFlight / 2, `calls were being served when the signal came (${inFlight.length})`)
  const unsettled = [...records].filter(([, r]) => r.settledAt === undefined).map(([key]) => key)
  assert.equal(unsettled, [], 'every call got an answer or an error; none hangs')
  return { inFlightAtSignal: inFlight.length, calls: records.size, exitMs }
}

/** One SIGKILL round on a data folder: returns how many sends were acknowledged and found again. */
async function sigkillRound(size: StopSize, dataDir: string, round: number): Promise<{ acknowledged: number; redelivered: number; inFlightAtKill: number; backlogAtKill: number; peakRss: number }> {
  const first = await startServe({ dataDir })
  const acknowledged = new Set<string>()
  const delivered = new Set<string>()
  const failures: string[] = []
  let sendsInFlight = 0
  let killed = false
  const consumer = await worker(first.url, 'consumer')
  // A consumer slower than the senders, so that at the kill many acknowledged messages are
  // only in the store, and some are leased to it.
  consumer.registerFunction('durable::consume', async (batch: { messages: Array<{ body: { id: string } }> }) => {
    batch.messages.forEach((m) => delivered.add(m.body.id))
    await sleep(50)
  })
  const trigger = { id: 'durable', trigger_type: 'queue', function_id: 'durable::consume', config: { queue_name: 'durable', batch_size: 10, visibility_timeout: 2 } }
  assert.not.ok((await consumer.registerTrigger(trigger)).error)
  const senders = await Promise.all(Array.from({ length: 4 }, (_, i) => worker(first.url, `sender-${i}`)))
  let n = 0
  const loops = Array.from({ length: size.senders }, async (_, i) => {
    while (!killed) {
      const id = `r${round}-${++n}`
      sendsInFlight++
      try {
        await senders[i % senders.length].invoke('engine::queue::send', { queue_name: 'durable', body: { id } })
        acknowledged.add(id)
      } catch (err) {
        // The connection went down with the engine: this send was not acknowledged, and this
        // loop is done (its worker does not reconnect). Any other refusal is a failure.
        if ((err as InvocationError).code !== 'connection_lost') failures.push(`${id}: ${(err as Error).message}`)
        break
      } finally {
        sendsInFlight--
      }
    }
  })
  const backlog = () => [...acknowledged].filter((id) => !delivered.has(id)).length
  await until(() => acknowledged.size >= 300 && delivered.size >= 50 && backlog() >= 100, 20_000, 'sends and deliveries under way, with a backlog')
  const inFlightAtKill = sendsInFlight
  const backlogAtKill = backlog()
  const { peakRss } = first.memory()
  await first.kill('SIGKILL')
  killed = true
  await Promise.all(loops)
  for (const w of [consumer, ...senders]) w.close()
  const deliveredBefore = new Set(delivered)
  assert.equal(failures, [], 'no send was refused before the kill')

  const second = await startServe({ dataDir })
  const drain = await worker(second.url, 'drain')
  drain.registerFunction('durable::consume', (batch: { messages: Array<{ body: { id: string } }> }) => void batch.messages.forEach((m) => delivered.add(m.body.id)))
  assert.not.ok((await drain.registerTrigger({ ...trigger, config: { ...trigger.config, batch_size: 100 } })).error)
  const missing = () => [...acknowledged].filter((id) => !delivered.has(id))
  await until(() => missing().length === 0, 30_000, `every acknowledged message delivered after the restart (missing ${missing().length}: ${missing().slice(0, 5)})`)
  // Settle what the second run still has, so the next round starts from an empty queue.
  await until(async () => {
    const { queues } = await drain.invoke<{ queues: Array<{ queue_name: string; ready: number; in_flight: number; delayed: number }> }>('engine::queue::list')
    return queues.every((q) => q.ready + q.in_flight + q.delayed === 0)
  }, 20_000, 'the queue to be empty')
  drain.close()
  const exit = await second.kill('SIGTERM')
  assert.is(exit.code, 0)
  const afterRestart = [...delivered].filter((id) => !deliveredBefore.has(id)).length
  assert.ok(afterRestart >= backlogAtKill, `the backlog at the kill (${backlogAtKill} acknowledged, not yet delivered) was delivered after the restart (${afterRestart})`)
  return { acknowledged: acknowledged.size, redelivered: afterRestart, inFlightAtKill, backlogAtKill, peakRss }
}

export async function engineStop(size: StopSize): Promise<Outcome> {
  const started = Date.now()
  try {
    let calls = 0
    let inFlightAtSignal = 0
    let slowestExit = 0
    for (let r = 0; r < size.rounds; r++) {
      const round = await sigtermRound(size)
      calls += round.calls
      inFlightAtSignal += round.inFlightAtSignal
      slowestExit = Math.max(slowestExit, round.exitMs)
    }
    const dataDir = tempDataDir()
    let acknowledged = 0
    let redelivered = 0
    let sendsCut = 0
    let backlog = 0
    let peakRss = 0
    for (let r = 0; r < size.rounds; r++) {
      const round = await sigkillRound(size, dataDir, r)
      acknowledged += round.acknowledged
      redelivered += round.redelivered
      sendsCut += round.inFlightAtKill
      backlog += round.backlogAtKill
      peakRss = Math.max(peakRss, round.peakRss)
    }
    return {
      title: 'Engine stopped under load',
      load: `${size.inFlight} calls and http requests in flight (100–800 ms each); ${size.senders} send loops and a consumer on a SQLite queue`,
      faults: `${size.rounds} SIGTERM${size.rounds > 1 ? 's' : ''} mid-load (grace ${GRACE_MS / 1000} s); ${size.rounds} SIGKILL${size.rounds > 1 ? 's' : ''} mid-send, each followed by a restart on the same data folder`,
      badInputs: '-',
      lost: `nothing: every call being served at SIGTERM answered; every acknowledged send delivered after SIGKILL and restart`,
      figures: [
        ['calls survived', fmt.int(calls)],
        ['calls in flight at SIGTERM, all answered', fmt.int(inFlightAtSignal)],
        ['slowest exit after SIGTERM', fmt.ms(slowestExit)],
        ['acknowledged sends, all delivered', fmt.int(acknowledged)],
        ['acknowledged but not yet delivered at SIGKILL', fmt.int(backlog)],
        ['delivered after a restart', fmt.int(redelivered)],
        ['sends cut by SIGKILL (never answered)', fmt.int(sendsCut)],
      ],
      memory: { peakRss },
      seconds: (Date.now() - started) / 1000,
    }
  } finally {
    await cleanUpEngines()
  }
}
