/**
 * A client process for the benchmarks: workers that serve functions, callers that drive
 * load, sessions that register triggers, autocannon. The orchestrator forks as many as a
 * scenario needs and calls these tasks. Raw `ws` clients are used wherever the client's
 * own cost would blur the figure (load loops, bulk registration); the signalbox worker
 * SDK (`connectWorker`) where realistic workers are the point (idle sessions, routes, cron).
 */
import { Agent, request } from 'node:http'
import autocannon from 'autocannon'
import WebSocket from 'ws'
import { connectWorker, type WorkerClient } from '../../index.js'
import { serveTasks } from '../lib/rpc.js'
import { nowMs, Samples, sleep, wallMs } from '../lib/stats.js'

type Msg = Record<string, any> & { type: string }

/** A raw protocol connection: JSON text frames, one handler per message type. */
class RawConn {
  readonly ws: WebSocket
  readonly greeted: Promise<void>
  readonly handlers = new Map<string, (m: Msg) => void>()
  constructor(url: string) {
    this.ws = new WebSocket(url, { perMessageDeflate: false })
    this.greeted = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no greeting from ${url} within 10 s`)), 10_000)
      this.ws.once('error', (err) => (clearTimeout(timer), reject(err)))
      this.handlers.set('workerregistered', () => (clearTimeout(timer), resolve()))
    })
    this.ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as Msg
      this.handlers.get(m.type)?.(m)
    })
    this.ws.on('error', () => {})
  }
  send(m: object): void {
    this.ws.send(JSON.stringify(m))
  }
  close(): void {
    this.ws.close(1000)
  }
}

const raws = new Set<RawConn>()
/** The session of the last registerMany, for closeAndWatch. */
let registrar: RawConn | undefined
const sdks = new Set<WorkerClient>()
const callers = new Map<string, Caller>()

async function raw(url: string): Promise<RawConn> {
  const c = new RawConn(url)
  raws.add(c)
  await c.greeted
  return c
}

/** A caller connection: `invoke` with latency, used by the load loops. */
class Caller {
  private seq = 0
  private readonly waiting = new Map<string, (m: Msg) => void>()
  constructor(readonly conn: RawConn) {
    conn.handlers.set('invocationresult', (m) => {
      const done = this.waiting.get(m.invocation_id)
      if (!done) return
      this.waiting.delete(m.invocation_id)
      done(m)
    })
  }
  /** Sends one call; `done` gets the answer. */
  call(function_id: string, data: unknown, done: (m: Msg) => void): void {
    const invocation_id = `c${++this.seq}`
    this.waiting.set(invocation_id, done)
    this.conn.send({ type: 'invokefunction', invocation_id, function_id, data })
  }
  invoke(function_id: string, data: unknown): Promise<Msg> {
    return new Promise((resolve) => this.call(function_id, data, resolve))
  }
}

async function caller(url: string): Promise<Caller> {
  let c = callers.get(url)
  if (!c) {
    c = new Caller(await raw(url))
    callers.set(url, c)
  }
  return c
}

/** Waits until `function_id` answers without function_not_found (its registration is processed). */
async function untilCallable(c: Caller, function_id: string, data: unknown, timeoutMs = 10_000): Promise<void> {
  const end = nowMs() + timeoutMs
  for (;;) {
    const m = await c.invoke(function_id, data)
    if (!m.error) return
    if (nowMs() > end) throw new Error(`${function_id} not callable: ${JSON.stringify(m.error)}`)
    await sleep(20)
  }
}

const tasks: Record<string, (args: any) => unknown> = {
  /**
   * A raw worker serving `functions`: echo returns the call's data, http returns
   * {status_code: 200, body: 'hello'}. Optionally binds http routes to them.
   */
  async serve({ url, functions, reply, routes = [] }: { url: string; functions: string[]; reply: 'echo' | 'http'; routes?: Array<{ id: string; function_id: string; path: string; method?: string }> }) {
    const c = await raw(url)
    const http = { status_code: 200, body: 'hello' }
    c.handlers.set('invokefunction', (m) => {
      if (m.invocation_id === undefined) return
      c.send({ type: 'invocationresult', invocation_id: m.invocation_id, function_id: m.function_id, result: reply === 'echo' ? m.data : http })
    })
    for (const id of functions) c.send({ type: 'registerfunction', id })
    const results = new Map<string, (m: Msg) => void>()
    c.handlers.set('triggerregistrationresult', (m) => results.get(m.id)?.(m))
    for (const r of routes) {
      const answer = new Promise<Msg>((resolve) => results.set(r.id, resolve))
      c.send({ type: 'registertrigger', id: r.id, trigger_type: 'http', function_id: r.function_id, config: { path: r.path, method: r.method ?? 'GET' } })
      const m = await answer
      if (m.error) throw new Error(`route ${r.path}: ${JSON.stringify(m.error)}`)
    }
    return true
  },

  /**
   * Keeps `inflight` calls going to `function_id` for warmupMs, then measures for durationMs.
   * `url` may be several engines': the calls in flight are then dealt over one caller
   * connection to each, round robin, and each call is sent again on its own connection.
   */
  async wsLoad({ url, function_id, inflight, warmupMs, durationMs }: { url: string | string[]; function_id: string; inflight: number; warmupMs: number; durationMs: number }) {
    const cs = await Promise.all((Array.isArray(url) ? url : [url]).map((u) => caller(u)))
    const data = { text: 'hello', n: 1 }
    for (const c of cs) await untilCallable(c, function_id, data)
    const samples = new Samples()
    let errors = 0
    let completed = 0
    let total = 0
    const t0 = nowMs()
    const tStart = t0 + warmupMs
    const tEnd = tStart + durationMs
    let outstanding = 0
    let finish: () => void = () => {}
    const done = new Promise<void>((resolve) => (finish = resolve))
    const fire = (c: Caller) => {
      const started = nowMs()
      outstanding++
      c.call(function_id, data, (m) => {
        outstanding--
        const t = nowMs()
        if (m.error) errors++
        total++
        if (t >= tStart && t < tEnd) {
          completed++
          samples.push(t - started)
        }
        if (t < tEnd) fire(c)
        else if (outstanding === 0) finish()
      })
    }
    for (let i = 0; i < inflight; i++) fire(cs[i % cs.length])
    const limit = setTimeout(finish, warmupMs + durationMs + 10_000)
    await done
    clearTimeout(limit)
    const s = samples.summary()
    return { callsPerSec: completed / (durationMs / 1000), p50: s.p50, p99: s.p99, n: s.n, total, errors, stuck: outstanding }
  },

  /**
   * autocannon against `url`: a warm-up run, then the measured run; latency from every
   * response. Several URLs: autocannon deals its connections over them, round robin.
   */
  async autocannon({ url, connections, durationS, warmupS }: { url: string | string[]; connections: number; durationS: number; warmupS: number }) {
    const run = (duration: number, samples?: Samples) =>
      new Promise<autocannon.Result>((resolve, reject) => {
        // autocannon takes an array of URLs (lib/run.js, `ofURL`); its types say a string only.
        const instance = autocannon({ url: url as string, connections, duration, pipelining: 1, timeout: 10 }, (err, result) => (err ? reject(err) : resolve(result)))
        if (samples) instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => statusCode < 300 && samples.push(responseTime))
      })
    const warm = warmupS > 0 ? await run(warmupS) : undefined
    const samples = new Samples()
    const r = await run(durationS, samples)
    const s = samples.summary()
    return { reqPerSec: r['2xx'] / r.duration, p50: s.p50, p99: s.p99, n: s.n, total: r['2xx'] + (warm?.['2xx'] ?? 0), errors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx }
  },

  /** Sequential keep-alive GETs cycling through `paths`: per-request latency. */
  async httpLatency({ base, paths, warmup, count, maxMs }: { base: string; paths: string[]; warmup: number; count: number; maxMs: number }) {
    const url = new URL(base)
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const get = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path, method: 'GET', agent }, (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        })
        req.on('error', reject)
        req.end()
      })
    const samples = new Samples()
    let bad = 0
    const end = nowMs() + maxMs
    for (let i = 0; i < warmup + count && nowMs() < end; i++) {
      const t = nowMs()
      const status = await get(paths[i % paths.length])
      if (status !== 200) bad++
      if (i >= warmup) samples.push(nowMs() - t)
    }
    agent.destroy()
    const s = samples.summary()
    return { p50: s.p50, p99: s.p99, n: s.n, bad }
  },

  /** `sessions` SDK workers, each with its own function and `perSession` param routes to it. */
  async routeSessions({ url, sessions, perSession, prefix, sample }: { url: string; sessions: number; perSession: number; prefix: string; sample: number }) {
    const t0 = nowMs()
    let errors = 0
    await Promise.all(
      Array.from({ length: sessions }, async (_, s) => {
        const w = await connectWorker(url, { name: `${prefix}-${s}`, reconnect: false })
        sdks.add(w)
        w.registerFunction(`${prefix}::f${s}`, () => ({ status_code: 200, body: 'ok' }))
        const results = await Promise.all(
          Array.from({ length: perSession }, (_, i) => w.registerTrigger({ id: `r${i}`, trigger_type: 'http', function_id: `${prefix}::f${s}`, config: { path: `/${prefix}${s}/r${i}/:id`, method: 'GET' } })),
        )
        errors += results.filter((r) => r.error).length
      }),
    )
    const paths: string[] = []
    for (let k = 0; k < sample; k++) {
      const s = Math.floor(Math.random() * sessions)
      const i = Math.floor(Math.random() * perSession)
      paths.push(`/${prefix}${s}/r${i}/${k}`)
    }
    return { seconds: (nowMs() - t0) / 1000, errors, paths }
  },

  /**
   * One raw session registers `n` triggers at once, of a worker-defined type (provided by
   * a second raw session that accepts every trigger at once) or `http`; time from the first
   * frame sent to the last result.
   */
  async registerMany({ url, n, kind }: { url: string; n: number; kind: 'custom' | 'http' }) {
    if (kind === 'custom') {
      const provider = await raw(url)
      provider.handlers.set('registertrigger', (m) => provider.send({ type: 'triggerregistrationresult', id: m.id, trigger_type: m.trigger_type, function_id: m.function_id }))
      provider.send({ type: 'registertriggertype', id: 'bench_type', description: 'benchmark trigger type' })
    }
    const c = await raw(url)
    registrar = c
    c.send({ type: 'registerfunction', id: 'bench::target' })
    // Registration order within a connection is kept: a probe trigger confirms the function and type exist.
    const probe = await new Promise<Msg>((resolve) => {
      c.handlers.set('triggerregistrationresult', resolve)
      c.send({ type: 'registertrigger', id: 'probe', trigger_type: kind === 'custom' ? 'bench_type' : 'http', function_id: 'bench::target', config: kind === 'custom' ? {} : { path: '/probe' } })
    })
    if (probe.error) throw new Error(`probe registration failed: ${JSON.stringify(probe.error)}`)
    let answered = 0
    let errors = 0
    let firstError: unknown
    const marks: Array<[number, number]> = []
    let finish: () => void = () => {}
    const done = new Promise<void>((resolve) => (finish = resolve))
    const t0 = nowMs()
    c.handlers.set('triggerregistrationresult', (m) => {
      answered++
      if (m.error) (errors++, (firstError ??= m.error))
      if (answered % 1000 === 0) marks.push([answered, (nowMs() - t0) / 1000])
      if (answered === n) finish()
    })
    for (let i = 0; i < n; i++) {
      c.send({ type: 'registertrigger', id: `t${i}`, trigger_type: kind === 'custom' ? 'bench_type' : 'http', function_id: 'bench::target', config: kind === 'custom' ? { n: i } : { path: `/reg/${i}`, method: 'GET' } })
    }
    const sentAt = (nowMs() - t0) / 1000
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 120_000))
    const outcome = await Promise.race([done.then(() => 'done' as const), timeout])
    return { seconds: (nowMs() - t0) / 1000, sentAt, answered, errors, firstError, marks, timedOut: outcome === 'timeout' }
  },

  /**
   * Closes the last registerMany session and watches from another session: how long until
   * the engine lists one worker fewer, and the longest the engine left a ping loop unanswered.
   */
  async closeAndWatch({ url, timeoutMs }: { url: string; timeoutMs: number }) {
    if (!registrar) throw new Error('no registerMany session to close')
    const watcher = new Caller(await raw(url))
    const count = async () => ((await watcher.invoke('engine::workers::list', {})).result.workers as unknown[]).length
    const before = await count()
    let last = nowMs()
    let maxGap = 0
    let pinging = true
    watcher.conn.handlers.set('pong', () => {
      const t = nowMs()
      maxGap = Math.max(maxGap, t - last)
      last = t
      if (pinging) setTimeout(() => pinging && watcher.conn.send({ type: 'ping' }), 1)
    })
    watcher.conn.send({ type: 'ping' })
    await sleep(100)
    maxGap = 0
    const t0 = nowMs()
    registrar.close()
    raws.delete(registrar)
    registrar = undefined
    let gone = false
    while (nowMs() - t0 < timeoutMs) {
      if ((await count()) < before) {
        gone = true
        break
      }
      await sleep(5)
    }
    const seconds = (nowMs() - t0) / 1000
    pinging = false
    return { seconds, maxGapMs: Math.max(maxGap, nowMs() - last), gone }
  },

  /** Idle SDK sessions, each with 5 functions and 5 triggers (3 http routes, 2 yearly cron schedules). */
  async idleSessions({ url, sessions, offset, functions = 5, http = 3, cron = 2 }: { url: string; sessions: number; offset: number; functions?: number; http?: number; cron?: number }) {
    const t0 = nowMs()
    let errors = 0
    let firstError: unknown
    const batch = 50
    for (let from = 0; from < sessions; from += batch) {
      await Promise.all(
        Array.from({ length: Math.min(batch, sessions - from) }, async (_, k) => {
          const s = offset + from + k
          const w = await connectWorker(url, { name: `idle-${s}`, reconnect: false })
          sdks.add(w)
          for (let f = 0; f < functions; f++) w.registerFunction(`idle${s}::f${f}`, (data) => data)
          const fn = (i: number) => `idle${s}::f${i % Math.max(1, functions)}`
          const results = await Promise.all([
            ...Array.from({ length: http }, (_, i) => w.registerTrigger({ id: `h${i}`, trigger_type: 'http', function_id: fn(i), config: { path: `/idle/${s}/h${i}/:id`, method: 'POST' } })),
            ...Array.from({ length: cron }, (_, i) => w.registerTrigger({ id: `c${i}`, trigger_type: 'cron', function_id: fn(http + i), config: { schedule: `0 ${i % 60} 3 1 1 *` } })),
          ])
          if (functions === 0) await w.invoke('engine::workers::list', {}) // a round trip, so the session is fully set up
          for (const r of results) if (r.error) (errors++, (firstError ??= r.error))
        }),
      )
    }
    return { seconds: (nowMs() - t0) / 1000, errors, firstError }
  },

  /** `n` every-second cron triggers over `sessions` SDK sessions; every fire is recorded. */
  async cronSetup({ url, n, sessions }: { url: string; n: number; sessions: number }) {
    const fires: Array<{ scheduled: number; actual: number; received: number }> = []
    ;(globalThis as any).__fires = fires
    const per = Math.ceil(n / sessions)
    let errors = 0
    let firstError: unknown
    const t0 = nowMs()
    await Promise.all(
      Array.from({ length: sessions }, async (_, s) => {
        const w = await connectWorker(url, { name: `cron-${s}`, reconnect: false })
        sdks.add(w)
        w.registerFunction(`cron::f${s}`, (data: { scheduled_time: string; actual_time: string }) => {
          fires.push({ scheduled: Date.parse(data.scheduled_time), actual: Date.parse(data.actual_time), received: wallMs() })
          return null
        })
        const count = Math.min(per, n - s * per)
        const results = await Promise.all(Array.from({ length: count }, (_, i) => w.registerTrigger({ id: `cron${i}`, trigger_type: 'cron', function_id: `cron::f${s}`, config: { schedule: '* * * * * *' } })))
        for (const r of results) if (r.error) (errors++, (firstError ??= r.error))
      }),
    )
    return { seconds: (nowMs() - t0) / 1000, errors, firstError }
  },

  /** Fires whose scheduled time is in [fromMs, toMs): fire delay (actual − scheduled) and arrival delay. */
  cronCollect({ fromMs, toMs }: { fromMs: number; toMs: number }) {
    const fires = ((globalThis as any).__fires ?? []) as Array<{ scheduled: number; actual: number; received: number }>
    const fire = new Samples()
    const arrival = new Samples()
    const ticks = new Set<number>()
    for (const f of fires) {
      if (f.scheduled < fromMs || f.scheduled >= toMs) continue
      fire.push(f.actual - f.scheduled)
      arrival.push(f.received - f.scheduled)
      ticks.add(f.scheduled)
    }
    return { fire: fire.summary(), arrival: arrival.summary(), ticks: ticks.size }
  },

  /** A raw consumer: a function bound to `queue` with `batch_size`; acknowledges every batch at once. */
  /** Binds `q::<queue>` to `queue` with a queue trigger (FIFO with `groups` batches in flight when `groups` is set) and answers every batch at once. */
  async queueConsumer({ url, queue, batch, groups }: { url: string; queue: string; batch: number; groups?: number }) {
    const c = await caller(url)
    const conn = c.conn
    const state = { received: 0, lastAt: 0, batches: 0 }
    ;(globalThis as any)[`__queue_${queue}`] = state
    const previous = conn.handlers.get('invokefunction')
    conn.handlers.set('invokefunction', (m) => {
      if (m.function_id !== `q::${queue}`) return previous?.(m)
      state.received += m.data.messages.length
      state.batches++
      state.lastAt = wallMs()
      conn.send({ type: 'invocationresult', invocation_id: m.invocation_id, function_id: m.function_id, result: {} })
    })
    conn.send({ type: 'registerfunction', id: `q::${queue}` })
    const answer = await new Promise<Msg>((resolve) => {
      conn.handlers.set('triggerregistrationresult', resolve)
      const config = groups ? { queue_name: queue, batch_size: batch, fifo: true, concurrency: groups } : { queue_name: queue, batch_size: batch }
      conn.send({ type: 'registertrigger', id: `qt-${queue}`, trigger_type: 'queue', function_id: `q::${queue}`, config })
    })
    if (answer.error) throw new Error(`queue trigger: ${JSON.stringify(answer.error)}`)
    return true
  },

  /** Resolves once `n` messages of `queue` were delivered and acknowledged (confirmed by an in-order round trip). */
  async queueWait({ queue, n, timeoutMs }: { queue: string; n: number; timeoutMs: number }) {
    const state = (globalThis as any)[`__queue_${queue}`] as { received: number; lastAt: number; batches: number }
    const end = nowMs() + timeoutMs
    while (state.received < n && nowMs() < end) await sleep(1)
    // The acknowledgement of the last batch was sent before this call on the same connection.
    const c = [...callers.values()][0]
    await c.invoke('bench::flush', null)
    return { received: state.received, batches: state.batches, lastAt: state.lastAt, ackedAt: wallMs(), timedOut: state.received < n }
  },

  /** Sends `n` messages to `queue` through engine::queue::send, `inflight` at a time (spread over `groups` message groups when set). */
  async queueProduce({ url, queue, n, inflight, groups }: { url: string; queue: string; n: number; inflight: number; groups?: number }) {
    const c = await caller(url)
    let sent = 0
    let answered = 0
    let errors = 0
    const startedAt = wallMs()
    await new Promise<void>((resolve) => {
      const next = () => {
        if (sent >= n) return
        sent++
        const message = { queue_name: queue, body: { n: sent, text: 'hello' }, ...(groups ? { message_group_id: `g${sent % groups}` } : {}) }
        c.call('engine::queue::send', message, (m) => {
          answered++
          if (m.error) errors++
          if (answered === n) resolve()
          else next()
        })
      }
      for (let i = 0; i < inflight; i++) next()
    })
    return { startedAt, sentAt: wallMs(), errors }
  },

  async closeAll() {
    for (const w of sdks) w.close()
    for (const c of raws) c.close()
    sdks.clear()
    raws.clear()
    callers.clear()
    await sleep(100)
    return true
  },
}

serveTasks(tasks, { pid: process.pid })
