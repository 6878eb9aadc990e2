/**
 * Reconnects and rolling deploys against `signalbox serve`, with workers in processes of
 * their own (procs/replica-worker.ts) written with the bundled client or with iii-sdk.
 *
 * Cuts: the worker's connection runs through a TCP proxy (test/cut-proxy.ts) that cuts it
 * again and again (both sockets reset: the engine sees it lost, the worker sees it drop)
 * while HTTP clients poll its route, a caller calls its function, and a sender feeds its
 * queue. After every cut the worker is back with every function, its http, cron and queue
 * triggers active and its previous session retired; no HTTP poll is ever 404 (a 503, with
 * Retry-After, only for a poll the worker had in hand when its connection was cut), no
 * call fails other than one cut mid-answer, no cron tick runs twice, and every message
 * whose send was acknowledged is delivered.
 *
 * Rolling deploys: replicas replaced one after the other (start the new one, SIGTERM the
 * old one) under the same load: every poll and every call answered, and the cron schedule
 * fires once per tick, with no tick missing and none twice.
 */
import fc from 'fast-check'
import * as assert from 'uvu/assert'
import { connectWorker } from '../../../client/ws-client.js'
import type { InvocationError, WorkerClient } from '../../../client/worker.js'
import { sleep, until } from '../../harness.js'
import { cutProxy, type CutProxy } from '../../cut-proxy.js'
import { Child } from '../child.js'
import { cleanUpEngines, startServe, type EngineProcess } from '../engine-process.js'
import { fmt, type Outcome } from '../outcome.js'

export type ClientKind = 'ours' | 'iii'
const CLIENT_NAME: Record<ClientKind, string> = { ours: 'the bundled client', iii: 'iii-sdk' }

export interface CutSize {
  cuts: number
  /** HTTP clients polling the route at once. */
  pollers: number
  seed: number
}
export const CUTS_SHORT: CutSize = { cuts: 20, pollers: 3, seed: 2024 }
export const CUTS_LONG: CutSize = { cuts: 200, pollers: 3, seed: 2024 }

export interface DeploySize {
  /** Replicas started after the first, each replacing the one before. */
  replacements: number
  pollers: number
}
export const DEPLOY_SHORT: DeploySize = { replacements: 2, pollers: 3 }
export const DEPLOY_LONG: DeploySize = { replacements: 20, pollers: 3 }

const FUNCTIONS = ['rc::echo', 'rc::poll', 'rc::queue', 'rc::tick']

type Trigger = { id: string; trigger_type: string; function_id: string; worker_id: string; state: string }

/** What the engine says the sessions of the replica processes `pids` hold now, or why it is not all there. */
async function replicaComplete(watcher: WorkerClient, engine: EngineProcess, pids: number[]): Promise<string | undefined> {
  const health = await engine.health()
  if (health.body.held_sessions !== 0) return `${health.body.held_sessions} sessions held`
  const { workers } = await watcher.invoke<{ workers: Array<{ worker_id: string; name?: string; pid?: number }> }>('engine::workers::list')
  const ids: string[] = []
  for (const pid of pids) {
    const mine = workers.filter((w) => w.pid === pid)
    if (mine.length !== 1) return `${mine.length} sessions of process ${pid}`
    ids.push(mine[0].worker_id)
  }
  const others = workers.filter((w) => w.name === 'replica' && !ids.includes(w.worker_id))
  if (others.length > 0) return `${others.length} sessions of other replicas`
  const { functions } = await watcher.invoke<{ functions: Array<{ function_id: string; workers: string[] }> }>('engine::functions::list')
  for (const id of FUNCTIONS) {
    const offered = functions.find((f) => f.function_id === id)?.workers ?? []
    if (offered.length !== ids.length || !ids.every((w) => offered.includes(w))) return `${id} offered by ${offered.length} sessions`
  }
  const { registered_triggers: triggers } = await watcher.invoke<{ registered_triggers: Trigger[] }>('engine::registered-triggers::list')
  for (const worker_id of ids) {
    const held = triggers.filter((t) => t.worker_id === worker_id)
    const types = held.filter((t) => t.state === 'active').map((t) => t.trigger_type).sort()
    if (types.join() !== 'cron,http,queue' || held.length !== 3) return `triggers of ${worker_id}: ${held.map((t) => `${t.trigger_type} ${t.state}`)}`
  }
  return undefined
}

/** Waits until the sessions of `replicas` are the replicas the engine holds, each with everything. */
async function waitComplete(watcher: WorkerClient, engine: EngineProcess, replicas: Child[], what: string, ms = 10_000): Promise<void> {
  let why: string | undefined = 'not asked yet'
  const pids = replicas.map((c) => c.pid)
  await until(async () => (why = await replicaComplete(watcher, engine, pids)) === undefined, ms, what).catch((err: Error) => {
    throw new Error(`${err.message}: ${why}`)
  })
}

interface Load {
  statuses: Map<number, number>
  /** Bodies of 503 answers. */
  unavailable: string[]
  polls: number
  calls: number
  callFailures: Array<{ code: string; message: string }>
  acknowledged: Set<string>
  stop(): Promise<void>
}

/** Pollers on the route, a caller of `rc::echo`, a sender to `rc-q`: until stopped. */
function startLoad(engine: EngineProcess, watcher: WorkerClient, pollers: number): Load {
  let running = true
  const load: Load = { statuses: new Map(), unavailable: [], polls: 0, calls: 0, callFailures: [], acknowledged: new Set(), stop: async () => {} }
  const poll = async () => {
    while (running) {
      try {
        const res = await fetch(`${engine.httpUrl}/poll`, { signal: AbortSignal.timeout(15_000) })
        const body = await res.text()
        load.statuses.set(res.status, (load.statuses.get(res.status) ?? 0) + 1)
        if (res.status === 503) load.unavailable.push(`${res.headers.get('retry-after')} ${body}`)
        load.polls++
      } catch (err) {
        load.statuses.set(0, (load.statuses.get(0) ?? 0) + 1)
        load.unavailable.push(`no answer: ${(err as Error).message}`)
        await sleep(20)
      }
    }
  }
  const call = async () => {
    for (let n = 0; running; n++) {
      try {
        const r = await watcher.invoke<{ n: number }>('rc::echo', { n }, { timeout_ms: 15_000 })
        if (r.n !== n) load.callFailures.push({ code: 'wrong_answer', message: JSON.stringify(r) })
        else load.calls++
      } catch (err) {
        load.callFailures.push({ code: (err as InvocationError).code, message: (err as Error).message })
      }
    }
  }
  const send = async () => {
    for (let n = 0; running; n++) {
      const id = `m${n}`
      try {
        await watcher.invoke('engine::queue::send', { queue_name: 'rc-q', body: { id } })
        load.acknowledged.add(id)
      } catch {
        /* not acknowledged */
      }
      await sleep(5)
    }
  }
  const loops = [...Array.from({ length: pollers }, poll), call(), send()]
  load.stop = async () => {
    running = false
    await Promise.all(loops)
  }
  return load
}

/** What the engine says of the queue, of the messages `ids` still in it, and of its dead letters (for a failure's message). */
async function queueState(watcher: WorkerClient, ids: string[]): Promise<unknown> {
  const { queues } = await watcher.invoke<{ queues: Array<{ queue_name: string }> }>('engine::queue::list')
  type Listed = { body: { id: string } }
  const queued = await watcher.invoke<{ messages: Listed[] }>('engine::queue::dlq', { dead_letter_queue: 'rc-q', limit: 10_000 })
  const dead = await watcher.invoke<{ messages: Listed[] }>('engine::queue::dlq', { queue_name: 'rc-q' })
  return {
    queues: queues.filter((q) => q.queue_name.startsWith('rc-q')),
    missing_in_queue: queued.messages.filter((m) => ids.includes(m.body.id)),
    missing_dead: dead.messages.filter((m) => ids.includes(m.body.id)),
  }
}

/**
 * The acknowledged ids no child has reported delivered yet. The delivered ids are gathered
 * once per look, not once per id: with thousands of messages the latter took longer than
 * the wait itself, during which the test process read nothing (no reports, no pings).
 */
export function undelivered(acknowledged: Iterable<string>, children: Array<Pick<Child, 'reports'>>): string[] {
  const delivered = new Set<string>()
  for (const c of children) for (const r of c.reports) if (r.kind === 'messages') for (const id of r.data as string[]) delivered.add(id)
  return [...acknowledged].filter((id) => !delivered.has(id))
}

const ticksOf = (children: Child[]) => children.flatMap((c) => c.reports.filter((r) => r.kind === 'tick').map((r) => r.data.scheduled_time as string))

/** Seconds between the first and last tick that have no tick, and ticks that came twice. */
function tickGapsAndDoubles(ticks: string[]): { gaps: string[]; doubles: string[]; span: number } {
  const seconds = ticks.map((t) => Math.round(Date.parse(t) / 1000))
  const seen = new Map<number, number>()
  for (const s of seconds) seen.set(s, (seen.get(s) ?? 0) + 1)
  const doubles = [...seen].filter(([, n]) => n > 1).map(([s]) => new Date(s * 1000).toISOString())
  const first = Math.min(...seconds)
  const last = Math.max(...seconds)
  const gaps: string[] = []
  for (let s = first; s <= last; s++) if (!seen.has(s)) gaps.push(new Date(s * 1000).toISOString())
  return { gaps, doubles, span: last - first + 1 }
}

/** A failure, saying whether the engine had crashed by then (a lost watcher is often that), and what it printed. */
async function withEngineState(err: unknown, engine: EngineProcess | undefined): Promise<Error> {
  const error = err instanceof Error ? err : new Error(String(err))
  const exit = engine && (await Promise.race([engine.exited, sleep(1000).then(() => undefined)]))
  if (engine && exit) error.message += `\nthe engine had exited (${exit.signal ?? exit.code}): ${engine.stderr().trim() || '(nothing on stderr)'}`
  if (engine && engine.log.length > 0) error.message += `\nthe engine logged: ${engine.log.slice(-5).map((r) => JSON.stringify(r)).join('\n')}`
  return error
}

export async function cutReconnects(client: ClientKind, size: CutSize): Promise<Outcome> {
  const started = Date.now()
  let proxy: CutProxy | undefined
  let watcher: WorkerClient | undefined
  let load: Load | undefined
  let serve: EngineProcess | undefined
  try {
    const engine = (serve = await startServe({ memoryStore: true, keepLog: true }))
    const p = (proxy = await cutProxy(engine.url))
    const w = (watcher = await connectWorker(engine.url, { name: 'watcher', reconnect: false, logger: false }))
    const worker = new Child('replica worker', 'replica-worker', [p.url, client, 'cut'])
    await worker.ready
    await waitComplete(w, engine, [worker], 'the worker to be registered')
    load = startLoad(engine, w, size.pollers)
    const pauses = fc.sample(fc.integer({ min: 20, max: 250 }), { seed: size.seed, numRuns: size.cuts })
    let slowest = 0
    for (let i = 0; i < size.cuts; i++) {
      await sleep(pauses[i])
      const cutAt = Date.now()
      p.cut()
      // Back: connected again, every function offered by the new session alone, every trigger active, nothing held.
      await until(() => p.open === 1, 10_000, `cut ${i}: the worker to reconnect`)
      await waitComplete(w, engine, [worker], `cut ${i}: everything back`)
      slowest = Math.max(slowest, Date.now() - cutAt)
    }
    // Ticks keep coming after the last cut.
    const ticksBefore = ticksOf([worker]).length
    await until(() => ticksOf([worker]).length >= ticksBefore + 2, 5000, 'ticks after the last cut')
    const l = load
    load = undefined
    await l.stop()

    // Never a 404; a 503 (with Retry-After) only for a poll in the worker's hands at a cut.
    assert.equal([...l.statuses.keys()].filter((s) => s !== 200 && s !== 503).map((s) => `${s}: ${l.statuses.get(s)}`), [], `statuses: ${JSON.stringify([...l.statuses])}`)
    for (const u of l.unavailable) assert.match(u, /^1 .*disconnected before answering/, 'a 503 only for a poll cut mid-answer, with Retry-After: 1')
    assert.ok(l.unavailable.length <= size.cuts * size.pollers, `at most one 503 per poller per cut (${l.unavailable.length})`)
    for (const f of l.callFailures) assert.equal([f.code, /disconnected before answering/.test(f.message)], ['worker_disconnected', true], `a call failed only when cut mid-answer: ${JSON.stringify(f)}`)
    assert.ok(l.callFailures.length <= size.cuts, `at most one failed call per cut (${l.callFailures.length})`)
    const ticks = ticksOf([worker])
    const { gaps, doubles, span } = tickGapsAndDoubles(ticks)
    assert.equal(doubles, [], 'no cron tick ran twice')
    // Every acknowledged message is delivered (at least once).
    const missing = () => undelivered(l.acknowledged, [worker])
    await until(() => missing().length === 0, 15_000, 'every acknowledged message delivered').catch(async (err: Error) => {
      const m = missing()
      throw new Error(`${err.message}: missing ${m.slice(0, 10)}; the queue: ${JSON.stringify(await queueState(w, m))}`)
    })
    const deliveries = worker.reports.filter((r) => r.kind === 'messages').reduce((n, r) => n + r.data.length, 0)
    assert.ok(engine.alive(), 'the engine is still running')
    const { peakRss, rss } = engine.memory()
    return {
      title: `Reconnects, ${CLIENT_NAME[client]}`,
      load: `${size.pollers} HTTP pollers on the worker's route, a caller of its function, a sender to its queue, its cron trigger every second`,
      faults: `${size.cuts} cuts of the worker's connection (TCP reset on both sides, 20–250 ms apart once it is back)`,
      badInputs: '-',
      lost: `nothing: every function, trigger and route back after each cut; no 404; no tick twice; every acknowledged message delivered`,
      figures: [
        ['reconnects', fmt.int(size.cuts)],
        ['slowest reconnect, cut to everything back', fmt.ms(slowest)],
        ['polls answered', `${fmt.int(l.statuses.get(200) ?? 0)} (503 for ${fmt.int(l.unavailable.length)} cut mid-answer, 404 for none)`],
        ['calls survived', `${fmt.int(l.calls)} (${fmt.int(l.callFailures.length)} cut mid-answer)`],
        ['messages acknowledged, all delivered', `${fmt.int(l.acknowledged.size)} (${fmt.int(deliveries - l.acknowledged.size)} redelivered)`],
        ['cron ticks', `${fmt.int(ticks.length)} over ${span} s, none twice, ${gaps.length} missed`],
      ],
      memory: { peakRss, rssEnd: rss },
      seconds: (Date.now() - started) / 1000,
    }
  } catch (err) {
    throw await withEngineState(err, serve)
  } finally {
    await load?.stop()
    watcher?.close()
    await Child.killAll()
    await proxy?.close()
    await cleanUpEngines()
  }
}

export async function rollingDeploy(client: ClientKind, size: DeploySize): Promise<Outcome> {
  const started = Date.now()
  let watcher: WorkerClient | undefined
  let load: Load | undefined
  let serve: EngineProcess | undefined
  try {
    const engine = (serve = await startServe({ memoryStore: true, keepLog: true }))
    const w = (watcher = await connectWorker(engine.url, { name: 'watcher', reconnect: false, logger: false }))
    const replicas: Child[] = []
    const spawn = async (tag: string) => {
      const c = new Child(`replica ${tag}`, 'replica-worker', [engine.url, client, tag])
      replicas.push(c)
      await c.ready
      return c
    }
    let old = await spawn('v0')
    await waitComplete(w, engine, [old], 'the first replica to be registered')
    load = startLoad(engine, w, size.pollers)
    // Ticks before the first deploy, so that the check spans whole seconds of the old replica.
    await until(() => ticksOf(replicas).length >= 2, 5000, 'the first ticks')
    let slowestStop = 0
    for (let v = 1; v <= size.replacements; v++) {
      const next = await spawn(`v${v}`)
      await waitComplete(w, engine, [old, next], `v${v}: both replicas registered`)
      // Both serve for a while: ticks in the overlap run once.
      const ticks = ticksOf(replicas).length
      await until(() => ticksOf(replicas).length >= ticks + 2, 5000, `v${v}: ticks while both run`)
      const stopAt = Date.now()
      const exit = await old.kill('SIGTERM')
      assert.is(exit.code, 0, `v${v - 1} exited 0 on SIGTERM (${exit.signal ?? exit.code})`)
      slowestStop = Math.max(slowestStop, Date.now() - stopAt)
      await waitComplete(w, engine, [next], `v${v}: the old replica gone`)
      const after = ticksOf(replicas).length
      await until(() => ticksOf(replicas).length >= after + 2, 5000, `v${v}: ticks after the old replica left`)
      old = next
    }
    const l = load
    load = undefined
    await l.stop()

    assert.equal([...l.statuses], [[200, l.polls]], `every poll answered 200: ${JSON.stringify([...l.statuses])} ${l.unavailable.slice(0, 3)}`)
    assert.equal(l.callFailures, [], 'every call answered')
    const ticks = ticksOf(replicas)
    const { gaps, doubles, span } = tickGapsAndDoubles(ticks)
    assert.equal(doubles, [], 'no cron tick ran twice')
    assert.equal(gaps, [], 'no cron tick was missed')
    const missing = () => undelivered(l.acknowledged, replicas)
    await until(() => missing().length === 0, 15_000, 'every acknowledged message delivered').catch(async (err: Error) => {
      const m = missing()
      throw new Error(`${err.message}: missing ${m.slice(0, 10)}; the queue: ${JSON.stringify(await queueState(w, m))}`)
    })
    assert.ok(engine.alive(), 'the engine is still running')
    const { peakRss, rss } = engine.memory()
    return {
      title: `Rolling deploys, ${CLIENT_NAME[client]}`,
      load: `${size.pollers} HTTP pollers on the route, a caller of the function, a sender to the queue, a cron trigger every second`,
      faults: `${size.replacements} replacements: start the new replica, wait for it, SIGTERM the old one (it stops taking calls, finishes those in hand, closes)`,
      badInputs: '-',
      lost: 'nothing: every poll 200 (no 404, no 503), every call answered, every acknowledged message delivered, the cron trigger once per tick with none missed',
      figures: [
        ['replicas replaced', fmt.int(size.replacements)],
        ['polls answered 200', fmt.int(l.polls)],
        ['calls survived', fmt.int(l.calls)],
        ['messages acknowledged, all delivered', fmt.int(l.acknowledged.size)],
        ['cron ticks', `${fmt.int(ticks.length)} over ${span} s, none twice, none missed`],
        ['slowest graceful stop', fmt.ms(slowestStop)],
      ],
      memory: { peakRss, rssEnd: rss },
      seconds: (Date.now() - started) / 1000,
    }
  } catch (err) {
    throw await withEngineState(err, serve)
  } finally {
    await load?.stop()
    watcher?.close()
    await Child.killAll()
    await cleanUpEngines()
  }
}
