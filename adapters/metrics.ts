/**
 * What the engine tells about itself: `GET /healthz` (JSON) and `GET /metrics`
 * (Prometheus text, through prom-client, on a registry of this engine's own). Counters
 * follow what actors emit and what sessions send; gauges are read from the actors'
 * snapshots at scrape time. In a cluster, `/healthz` also says which engines it hears of,
 * and `/metrics` labels every series with its `engine_id` and shows every engine's
 * (docs/cluster.md); an engine alone pays nothing for it.
 */
import { Counter, Gauge, Registry } from 'prom-client'
import type { Outbound } from '../protocol/messages.js'
import { allTriggers, record, workerName, type CatalogState } from '../core/catalog.js'
import type { QueueCounts } from '../core/queue-store.js'
import { actorsOf, catalogOf, type ClusterRef } from '../machines/system.js'
import { METRICS_PART } from '../protocol/cluster.js'
import { mergeExpositions, readExposition } from '../core/cluster-listings.js'
import type { EngineActor } from './session-port.js'

export interface Metrics {
  readonly registry: Registry
  /** Counts what a session sends its worker (registration results, error frames). */
  observeOutbound(message: Outbound): void
  /** The `/healthz` document. */
  health(): Promise<Record<string, unknown>>
  /**
   * The `/metrics` text. In a cluster every series is labelled `engine_id`, and the text
   * holds every engine's series (`cluster`, the default) or this engine's alone (`engine`);
   * alone, the engine's series as they always were.
   */
  render(scope?: MetricsScope): Promise<string>
  /** In a cluster: this engine's series, labelled with its engine id (its part of another engine's `/metrics`). */
  part(): Promise<string>
}

/** What `/metrics` shows in a cluster: every engine's series, or the scraped engine's alone (`?scope=engine`). */
export type MetricsScope = 'cluster' | 'engine'

/**
 * Trigger counts by type and by registration state, read from the catalog. Keyed by names
 * workers choose (`__proto__` is a trigger type like any other), so in records without a
 * prototype.
 */
function triggerCounts(actor: EngineActor) {
  const byType = record<number>()
  const byTypeAndState = record<Record<string, number>>()
  for (const { trigger_type: type, state } of allTriggers(catalogOf(actor.system))) {
    byType[type] = (byType[type] ?? 0) + 1
    const states = (byTypeAndState[type] ??= record<number>())
    states[state] = (states[state] ?? 0) + 1
  }
  return { byType, byTypeAndState }
}

/** In a cluster: this engine's id and the engines it hears of (each as its last heartbeat said, its functions counted). */
function clusterHealth(actor: EngineActor): { cluster?: Record<string, unknown> } {
  const cluster = actorsOf(actor.system).cluster()
  if (!cluster) return {}
  const membership = cluster.getSnapshot().context.membership
  return {
    cluster: {
      engine_id: membership.self,
      engines: membership.list().map(({ functions, ...member }) => ({ ...member, functions: functions.length })),
    },
  }
}

function queueCounts(actor: EngineActor): Promise<Record<string, QueueCounts>> {
  const provider = actorsOf(actor.system).queueProvider()
  if (!provider) return Promise.resolve({})
  return new Promise((resolve) => provider.send({ type: 'queue.counts', reply: resolve }))
}

/** Label values of `signalbox_workers` for workers without a name, and past the limit of names. */
const UNNAMED = '(unnamed)'
const OTHER = '(other)'
/** Names are labels: at most this many, so a fleet of uniquely named workers cannot flood the series. */
const MAX_NAMES = 100

/** Connected workers by name, at most `MAX_NAMES` names (the most common), the rest as `(other)`. */
export function workersByName(catalog: CatalogState): Map<string, number> {
  const counts = new Map<string, number>()
  for (const worker_id in catalog.workers) {
    const name = workerName(catalog, worker_id) ?? UNNAMED
    counts.set(name, (counts.get(name) ?? 0) + 1)
  }
  if (counts.size <= MAX_NAMES) return counts
  const sorted = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
  const kept = new Map(sorted.slice(0, MAX_NAMES - 1))
  kept.set(OTHER, sorted.slice(MAX_NAMES - 1).reduce((sum, [, n]) => sum + n, 0))
  return kept
}

/** The buckets of `signalbox_invocation_duration_seconds`, in seconds. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/**
 * A histogram with one label, for a figure observed on every call. prom-client's
 * `observe` checks and hashes its labels on every observation (about 0.5 µs, a few per
 * cent of what an HTTP request costs the engine); this one keeps a plain array of bucket
 * counts per label value, found by a Map lookup, and builds prom-client's form of the
 * metric only when it is scraped. It is registered in a prom-client Registry like any
 * metric, and renders exactly as prom-client's Histogram does (test/metrics.test.ts).
 */
export class LabelledHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private series = new Map<string, { shared: Record<string, string>; counts: Float64Array; sum: number; count: number }>()
  readonly name: string
  readonly help: string
  private readonly label: string
  private readonly buckets: readonly number[]

  constructor(options: { name: string; help: string; label: string; buckets: readonly number[]; registers?: Registry[] }) {
    this.name = options.name
    this.help = options.help
    this.label = options.label
    this.buckets = options.buckets
    for (const r of options.registers ?? []) r.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0])
  }

  observe(value: string, seconds: number): void {
    let s = this.series.get(value)
    if (!s) this.series.set(value, (s = { shared: { [this.label]: value }, counts: new Float64Array(this.buckets.length), sum: 0, count: 0 }))
    const b = this.buckets
    for (let i = 0; i < b.length; i++) {
      if (seconds <= b[i]) {
        s.counts[i]++
        break
      }
    }
    s.sum += seconds
    s.count++
  }

  reset(): void {
    this.series.clear()
  }

  /** What prom-client's Histogram gives its registry for the text form: bucket labels, with the series' label shared. */
  async getForPromString() {
    const values: Array<{ labels: Record<string, string | number>; sharedLabels: Record<string, string>; value: number; metricName: string; exemplar?: null }> = []
    for (const s of this.series.values()) {
      let acc = 0
      for (let i = 0; i < this.buckets.length; i++) {
        acc += s.counts[i]
        values.push({ labels: { le: this.buckets[i] }, sharedLabels: s.shared, value: acc, metricName: `${this.name}_bucket`, exemplar: null })
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.shared, value: s.count, metricName: `${this.name}_bucket`, exemplar: null })
      values.push({ labels: {}, sharedLabels: s.shared, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined })
      values.push({ labels: {}, sharedLabels: s.shared, value: s.count, metricName: `${this.name}_count`, exemplar: undefined })
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  /** The JSON form (`registry.getMetricsAsJSON()`): every value's labels in one object. */
  async get() {
    const data = await this.getForPromString()
    return { ...data, values: data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })) }
  }
}

/** Sets up this engine's metrics; call once the root actor has started. */
export function createMetrics(actor: EngineActor): Metrics {
  const registry = new Registry()
  const system = actor.system
  const startedAt = Date.now()

  new Gauge({ name: 'signalbox_sessions', help: 'Connected worker sessions', registers: [registry], collect() { this.set(Object.keys(catalogOf(system).workers).length) } })
  new Gauge({
    name: 'signalbox_workers',
    help: `Connected workers by the name they gave (${UNNAMED} without one); past ${MAX_NAMES} names, the rest count as ${OTHER}`,
    labelNames: ['name'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [name, n] of workersByName(catalogOf(system))) this.set({ name }, n)
    },
  })
  new Gauge({ name: 'signalbox_functions', help: 'Distinct function ids offered by connected workers', registers: [registry], collect() { this.set(Object.keys(catalogOf(system).functions).length) } })
  new Gauge({
    name: 'signalbox_triggers',
    help: 'Triggers by type and registration state',
    labelNames: ['type', 'state'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [type, states] of Object.entries(triggerCounts(actor).byTypeAndState)) for (const [state, n] of Object.entries(states)) this.set({ type, state }, n)
    },
  })
  new Gauge({
    name: 'signalbox_queue_messages',
    help: 'Queued messages by queue and state: ready, in_flight, delayed (or waiting out a backoff), and dead_lettered (its messages now in a dead-letter queue, which counts them as its own too)',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset()
      for (const [queue, counts] of Object.entries(await queueCounts(actor))) {
        for (const state of ['ready', 'in_flight', 'delayed', 'dead_lettered'] as const) this.set({ queue, state }, counts[state])
      }
    },
  })
  // Every call ends counted in these two: plain counts, handed to prom-client at scrape time.
  const ended = new Map<string, Map<string, { source: string; outcome: string; n: number }>>()
  new Counter({
    name: 'signalbox_invocations_total',
    help: 'Finished invocations by source and outcome',
    labelNames: ['source', 'outcome'],
    registers: [registry],
    collect() {
      this.reset()
      for (const outcomes of ended.values()) for (const { source, outcome, n } of outcomes.values()) this.inc({ source, outcome }, n)
    },
  })
  const latency = new LabelledHistogram({ name: 'signalbox_invocation_duration_seconds', help: 'Time from invocation to answer', label: 'source', buckets: DURATION_BUCKETS, registers: [registry] })
  const skipped = new Counter({ name: 'signalbox_invocations_skipped_total', help: 'Runs a trigger skipped (cron ticks while the previous run was in flight)', labelNames: ['source'], registers: [registry] })
  const registrations = new Counter({ name: 'signalbox_trigger_registrations_total', help: 'Trigger registration results by code (ok for success)', labelNames: ['code'], registers: [registry] })
  const errorFrames = new Counter({ name: 'signalbox_error_frames_total', help: 'Error frames sent to workers by code', labelNames: ['code'], registers: [registry] })

  /** Calls the invocations actor waits for an answer to, from its call table. */
  const callsInFlight = () => actorsOf(system).invocations()?.getSnapshot().context.size ?? 0
  new Gauge({ name: 'signalbox_calls_in_flight', help: 'Calls sent to workers and not yet answered, and calls waiting for a worker to come back', registers: [registry], collect() { this.set(callsInFlight()) } })
  /** Sessions whose connection was lost and whose registrations the engine holds (docs/reconnects.md). */
  const heldSessions = () => {
    let held = 0
    const { workers } = catalogOf(system)
    for (const worker_id in workers) if (workers[worker_id].held_until !== undefined) held++
    return held
  }
  new Gauge({ name: 'signalbox_sessions_held', help: 'Sessions held after their connection was lost, waiting for their worker to come back', registers: [registry], collect() { this.set(heldSessions()) } })
  new Gauge({ name: 'signalbox_heap_used_bytes', help: "The engine process's V8 heap in use, in bytes", registers: [registry], collect() { this.set(process.memoryUsage().heapUsed) } })
  const calls = actorsOf(system).invocations()
  calls?.on('invocation.ended', (e) => {
    let outcomes = ended.get(e.source)
    if (!outcomes) ended.set(e.source, (outcomes = new Map()))
    const count = outcomes.get(e.outcome)
    if (count) count.n++
    else outcomes.set(e.outcome, { source: e.source, outcome: e.outcome, n: 1 })
    latency.observe(e.source, e.seconds)
  })
  calls?.on('invocation.skipped', (e) => skipped.inc({ source: e.source }))

  /** In a cluster: this engine's series, each labelled with its engine id (set once, the first time). */
  const part = (): Promise<string> => {
    const cluster = actorsOf(system).cluster()
    if (cluster && labelled === undefined) registry.setDefaultLabels({ engine_id: (labelled = cluster.getSnapshot().context.membership.self) })
    return registry.metrics()
  }
  let labelled: string | undefined

  return {
    registry,
    observeOutbound(message) {
      if (message.type === 'triggerregistrationresult') registrations.inc({ code: message.error?.code ?? 'ok' })
      else if (message.type === 'error') errorFrames.inc({ code: message.error.code })
    },
    async health() {
      const catalog = catalogOf(system)
      return {
        status: actor.getSnapshot().value === 'running' ? 'ok' : String(actor.getSnapshot().value),
        uptime_seconds: Math.round((Date.now() - startedAt) / 1000),
        sessions: Object.keys(catalog.workers).length,
        held_sessions: heldSessions(),
        functions: Object.keys(catalog.functions).length,
        triggers: triggerCounts(actor).byType,
        calls_in_flight: callsInFlight(),
        heap_used_bytes: process.memoryUsage().heapUsed,
        ...clusterHealth(actor),
      }
    },
    render: async (scope = 'cluster') => {
      const cluster = actorsOf(system).cluster()
      if (!cluster) return registry.metrics()
      const own = await part()
      if (scope === 'engine') return own
      return clusterMetrics(cluster, own)
    },
    part,
  }
}

/**
 * Every engine's series: this engine's (`own`), then those of each engine that answered
 * within `GATHER_WAIT_MS` (`<name>.listing`, `METRICS_PART`); an engine heard of that did
 * not answer (or whose text was refused, and logged) is left out, and
 * `signalbox_cluster_engine_up{engine_id}` says 0 for it.
 */
function clusterMetrics(cluster: ClusterRef, own: string): Promise<string> {
  const membership = cluster.getSnapshot().context.membership
  const self = membership.self
  const others = membership.list().map((m) => m.engine_id).filter((id) => id !== self)
  return new Promise((resolve, reject) =>
    cluster.send({
      type: 'cluster.gather',
      function_id: METRICS_PART,
      data: null,
      check: (result, engine_id) => {
        const read = readExposition(result, engine_id)
        return 'problem' in read ? read.problem : undefined
      },
      reply: (parts) => {
        try {
          const answered: Array<{ engine_id: string; families: Exclude<ReturnType<typeof readExposition>, { problem: string }> }> = []
          for (const p of parts.sort((a, b) => (a.engine_id < b.engine_id ? -1 : 1))) {
            if (p.error !== undefined) continue
            const read = readExposition(p.result, p.engine_id)
            if (!('problem' in read)) answered.push({ engine_id: p.engine_id, families: read })
          }
          const missing = others.filter((id) => !answered.some((a) => a.engine_id === id))
          resolve(mergeExpositions(self, own, answered, missing))
        } catch (err) {
          reject(err)
        }
      },
    }),
  )
}
