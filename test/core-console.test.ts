/**
 * core/console-stats.ts and core/console-view.ts, alone: per-function counts and latency
 * percentiles, the per-second series and its rates, the feed's backlog and its cap per
 * push; what a console session may do from its token's scope; and the sections built
 * from a catalog (workers with addresses and calls in flight, functions with statistics,
 * triggers with the next runs of cron schedules in their time zone, trigger counts,
 * queue totals).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { CallStats, FeedBuffer, LATENCY_WINDOW, quantile, rates, SERIES_SECONDS } from '../core/console-stats.js'
import {
  clusterOverview,
  consoleRights,
  failedTriggerRows,
  functionRows,
  inFlightByWorker,
  mayInvoke,
  nextRuns,
  overview,
  queueTotals,
  triggerCounts,
  triggerRows,
  triggerTypeRows,
  workerRows,
} from '../core/console-view.js'
import { applyCatalogEvent, BUILTIN_TRIGGER_TYPES, initialCatalog, type CatalogEvent, type CatalogState } from '../core/catalog.js'
import { FULL_SCOPE, type Identity, type Scope } from '../core/auth.js'
import type { QueueRow } from '../protocol/console.js'
import type { MemberInfo } from '../protocol/cluster.js'

const catalog = (...events: CatalogEvent[]): CatalogState => events.reduce(applyCatalogEvent, initialCatalog(BUILTIN_TRIGGER_TYPES))
const scope = (s: Partial<Scope>): Scope => ({ register: [], invoke: [], trigger_types: [], queues: [], provide_trigger_types: false, engine: false, ...s })
const who = (s: Partial<Scope>): Identity => ({ name: 't', scope: scope(s) })

const it = suite('core: console')

it('quantile: nearest rank; undefined when empty', () => {
  assert.is(quantile([], 0.5), undefined)
  assert.is(quantile([7], 0.99), 7)
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1)
  assert.is(quantile(hundred, 0.5), 50)
  assert.is(quantile(hundred, 0.99), 99)
  assert.is(quantile(hundred, 1), 100)
})

it('CallStats: calls, errors and percentiles per function, over the last calls only', () => {
  const s = new CallStats()
  for (let i = 1; i <= 100; i++) s.record('f', i % 10 === 0 ? 'error' : 'ok', i, 1_000_000)
  s.record('g', 'invocation_timeout', 5, 1_000_000)
  assert.equal(s.of('f'), { calls: 100, errors: 10, p50: 50, p99: 99 })
  assert.equal(s.of('g'), { calls: 1, errors: 1, p50: 5, p99: 5 })
  assert.equal(s.of('nobody'), { calls: 0, errors: 0 })
  // The window moves: once LATENCY_WINDOW fast calls followed, the slow ones no longer count.
  for (let i = 0; i < LATENCY_WINDOW; i++) s.record('f', 'ok', 1, 1_000_000)
  assert.equal(s.of('f'), { calls: 100 + LATENCY_WINDOW, errors: 10, p50: 1, p99: 1 })
  s.forget('g')
  assert.equal([...s.functionIds()], ['f'])
})

it('CallStats: the series is the last minute of whole seconds, oldest first; old seconds are not counted again', () => {
  const s = new CallStats()
  const t0 = 1_700_000_000_000
  s.record('f', 'ok', 1, t0)
  s.record('f', 'error', 1, t0 + 10)
  s.record('f', 'ok', 1, t0 + 1000)
  let series = s.series(t0 + 2000)
  assert.is(series.length, SERIES_SECONDS)
  assert.equal(series.slice(-2), [
    { t: t0, calls: 2, errors: 1 },
    { t: t0 + 1000, calls: 1, errors: 0 },
  ])
  assert.equal(rates(series), { calls_per_second: 1, error_rate: 1 / 3 })
  // A minute later the same slots hold new seconds: the old counts are gone.
  s.record('f', 'ok', 1, t0 + SERIES_SECONDS * 1000)
  series = s.series(t0 + (SERIES_SECONDS + 2) * 1000)
  assert.is(series.reduce((n, p) => n + p.calls, 0), 1)
  assert.equal(rates([]), { calls_per_second: 0, error_rate: 0 })
})

it('FeedBuffer: numbers every invocation, keeps a backlog, and caps what one push carries', () => {
  const f = new FeedBuffer(3, 2)
  const e = (function_id: string) => ({ at: 1, function_id, source: 'worker', outcome: 'ok', ms: 1 })
  const push = (function_id: string, collect: boolean) => f.push(1, function_id, 'worker', 'ok', 1, collect)
  push('a', false)
  assert.is(f.take(), undefined, 'nobody watched: nothing pending')
  for (const id of ['b', 'c', 'd', 'e']) push(id, true)
  assert.equal(f.take(), { entries: [{ seq: 2, ...e('b') }, { seq: 3, ...e('c') }], skipped: 2 })
  assert.is(f.take(), undefined)
  assert.equal(f.recent().map((x) => x.function_id), ['c', 'd', 'e'])
  for (let i = 0; i < 20; i++) push(`x${i}`, false)
  assert.equal(f.recent().map((x) => x.seq), [23, 24, 25])
})

it('consoleRights: without tokens everything; with one, engine to read, invoke patterns to act, and both to redrive', () => {
  assert.equal(consoleRights(undefined), { view: true, invoke: ['*'], engine: true, redrive: true })
  assert.equal(consoleRights({ name: 'all', scope: FULL_SCOPE }), { view: true, invoke: ['*'], engine: true, redrive: true })
  const readOnly = consoleRights(who({ engine: true }))
  assert.equal(readOnly, { view: true, invoke: [], engine: true, redrive: false })
  assert.is(mayInvoke(readOnly, 'billing::charge'), false)
  assert.is(mayInvoke(readOnly, 'engine::workers::list'), false)
  assert.is(consoleRights(who({ invoke: ['*'] })).view, false, 'no engine: no console')
  const billing = consoleRights(who({ engine: true, invoke: ['billing::*'] }))
  assert.is(billing.redrive, false)
  assert.is(mayInvoke(billing, 'billing::charge'), true)
  assert.is(mayInvoke(billing, 'orders::process'), false)
  const redriver = consoleRights(who({ engine: true, invoke: ['engine::queue::dlq'] }))
  assert.is(redriver.redrive, true)
  assert.is(mayInvoke(consoleRights(who({ engine: false, invoke: ['*'] })), 'engine::queue::list'), false)
})

const connected = '2025-01-01T00:00:00.000Z'
const world = catalog(
  { type: 'worker.add', worker_id: 'w1', connected_at: connected },
  { type: 'worker.describe', worker_id: 'w1', info: { name: 'billing', runtime: 'node', version: '20.1.0', pid: 42 } },
  { type: 'function.add', worker_id: 'w1', function_id: 'billing::charge', info: { description: 'Charges a card' } },
  { type: 'triggerType.add', worker_id: 'w1', trigger_type: 'ticker', description: 'ticks' },
  { type: 'trigger.add', worker_id: 'w1', trigger: { id: 'nightly', trigger_type: 'cron', function_id: 'billing::charge', config: { schedule: '0 0 9 * * *', timezone: 'America/New_York' }, state: 'active' } },
  { type: 'trigger.add', worker_id: 'w1', trigger: { id: 'same', trigger_type: 'cron', function_id: 'billing::charge', config: { schedule: '0 0 9 * * *', timezone: 'America/New_York' }, state: 'pending' } },
  { type: 'trigger.add', worker_id: 'w1', trigger: { id: 'charge', trigger_type: 'http', function_id: 'billing::charge', config: { path: '/charge' }, state: 'active' } },
  { type: 'worker.add', worker_id: 'w2', connected_at: connected },
  { type: 'function.add', worker_id: 'w2', function_id: 'billing::charge', info: {} },
  { type: 'worker.hold', worker_id: 'w2', until: '2025-01-01T00:01:00.000Z' },
)

it('workerRows: what each worker said of itself, its address and calls in flight, its counts', () => {
  const rows = workerRows(world, inFlightByWorker({ a: { worker_id: 'w1' }, b: { worker_id: 'w1' }, c: { worker_id: 'w9' } }), new Map([['w1', '127.0.0.1:5000']]))
  assert.equal(rows, [
    { worker_id: 'w1', connected_at: connected, functions: ['billing::charge'], trigger_types: ['ticker'], triggers: 3, in_flight: 2, name: 'billing', runtime: 'node', version: '20.1.0', pid: 42, address: '127.0.0.1:5000' },
    { worker_id: 'w2', connected_at: connected, functions: ['billing::charge'], trigger_types: [], triggers: 0, in_flight: 0, held_until: '2025-01-01T00:01:00.000Z' },
  ])
})

it('functionRows: engine functions first, then the workers\' with replicas, held workers and statistics', () => {
  const stats = new CallStats()
  stats.record('billing::charge', 'ok', 2, 0)
  stats.record('billing::charge', 'error', 4, 0)
  const rows = functionRows(world, ['engine::workers::list'], stats)
  assert.equal(rows, [
    { function_id: 'engine::workers::list', engine: true, workers: [], held: [], calls: 0, errors: 0 },
    { function_id: 'billing::charge', description: 'Charges a card', workers: ['w1'], held: ['w2'], calls: 2, errors: 1, p50_ms: 2, p99_ms: 4 },
  ])
})

it('nextRuns: the next runs of a schedule in its time zone; none for a config that is not a schedule', () => {
  const from = new Date('2025-01-06T12:00:00.000Z') // a Monday, 07:00 in New York
  assert.equal(nextRuns({ schedule: '0 0 9 * * *', timezone: 'America/New_York' }, from), {
    runs: ['2025-01-06T14:00:00.000Z', '2025-01-07T14:00:00.000Z', '2025-01-08T14:00:00.000Z'],
    timezone: 'America/New_York',
  })
  assert.equal(nextRuns({ expression: '@hourly' }, from, 1), { runs: ['2025-01-06T13:00:00.000Z'], timezone: 'UTC' })
  assert.equal(nextRuns({ schedule: 'not a schedule' }, from), { runs: [] })
})

it('triggerRows: every registration; active cron triggers with their next runs; stale from the earliest one', () => {
  const now = new Date('2025-01-06T12:00:00.000Z')
  const { rows, staleAt } = triggerRows(world, now)
  assert.equal(rows.map((r) => [r.id, r.state, r.next_runs?.[0], r.timezone]), [
    ['nightly', 'active', '2025-01-06T14:00:00.000Z', 'America/New_York'],
    ['same', 'pending', undefined, 'America/New_York'],
    ['charge', 'active', undefined, undefined],
  ])
  assert.is(staleAt, Date.parse('2025-01-06T14:00:00.000Z'))
  assert.is(triggerRows(catalog(), now).staleAt, Infinity)
  // With a memo, a schedule is computed again only once its first run has passed.
  const memo = new Map()
  triggerRows(world, now, memo)
  const before = memo.get(JSON.stringify(['0 0 9 * * *', 'America/New_York']))
  triggerRows(world, new Date('2025-01-06T13:59:59.000Z'), memo)
  assert.is(memo.get(JSON.stringify(['0 0 9 * * *', 'America/New_York'])), before, 'reused')
  const later = triggerRows(world, new Date('2025-01-06T14:00:00.000Z'), memo)
  assert.is(later.rows[0].next_runs![0], '2025-01-07T14:00:00.000Z', 'computed again once the run passed')
})

it('triggerTypeRows, triggerCounts, queueTotals, overview', () => {
  assert.equal(
    triggerTypeRows(world).map((t) => [t.id, t.worker_id]),
    [...Object.keys(BUILTIN_TRIGGER_TYPES).map((id) => [id, 'engine']), ['ticker', 'w1']],
  )
  assert.equal(triggerCounts(world), { cron: { active: 1, pending: 1 }, http: { active: 1 } })
  const q = (queue_name: string, n: number): QueueRow => ({ queue_name, ready: n, in_flight: 1, delayed: 0, dead_lettered: n, fifo: false, consumers: [] })
  assert.equal(queueTotals([q('a', 2), q('b', 3)]), { queues: 2, ready: 5, in_flight: 2, delayed: 0, dead_lettered: 5 })
  const o = overview({ catalog: world, version: '1.2.3', started_at: connected, callsInFlight: 4, series: [{ t: 0, calls: 4, errors: 1 }], queues: [q('a', 1)] })
  assert.equal(o, {
    version: '1.2.3',
    started_at: connected,
    sessions: 2,
    held_sessions: 1,
    functions: 1,
    triggers: { cron: { active: 1, pending: 1 }, http: { active: 1 } },
    calls_in_flight: 4,
    calls_per_second: 4,
    error_rate: 0.25,
    series: [{ t: 0, calls: 4, errors: 1 }],
    queues: { queues: 1, ready: 1, in_flight: 1, delayed: 0, dead_lettered: 1 },
  })
})

it('failedTriggerRows: the failures the catalog keeps, latest first, with the worker\'s name and the config when kept; triggerCounts counts them as failed', () => {
  const at = '2025-01-02T00:00:00.000Z'
  const s = catalog(
    { type: 'worker.add', worker_id: 'w1', connected_at: connected },
    { type: 'worker.describe', worker_id: 'w1', info: { name: 'billing' } },
    { type: 'worker.add', worker_id: 'w2', connected_at: connected },
    { type: 'trigger.add', worker_id: 'w1', trigger: { id: 'bad', trigger_type: 'cron', function_id: 'f', config: { schedule: 'nope' }, state: 'pending' } },
    { type: 'trigger.add', worker_id: 'w2', trigger: { id: 'hook', trigger_type: 'webhook', function_id: 'g', config: { blob: 'x'.repeat(5000) }, state: 'resending' } },
    { type: 'trigger.add', worker_id: 'w1', trigger: { id: 'ok', trigger_type: 'cron', function_id: 'f', config: { schedule: '@hourly' }, state: 'active' } },
    { type: 'trigger.fail', worker_id: 'w1', id: 'bad', error: { code: 'invalid_config', message: "Invalid cron expression: 'nope'" }, at },
    { type: 'trigger.fail', worker_id: 'w2', id: 'hook', error: { code: 'provider_timeout', message: 'too slow' }, at },
  )
  assert.equal(failedTriggerRows(s), [
    { seq: 2, id: 'hook', trigger_type: 'webhook', function_id: 'g', worker_id: 'w2', from: 'resending', error: { code: 'provider_timeout', message: 'too slow' }, failed_at: at },
    { seq: 1, id: 'bad', trigger_type: 'cron', function_id: 'f', worker_id: 'w1', worker_name: 'billing', config: { schedule: 'nope' }, from: 'pending', error: { code: 'invalid_config', message: "Invalid cron expression: 'nope'" }, failed_at: at },
  ])
  assert.equal(triggerCounts(s), { cron: { active: 1, failed: 1 }, webhook: { failed: 1 } })
  assert.equal(triggerRows(s, new Date(at)).rows.map((r) => r.id), ['ok'], 'a failed registration is not among the registrations')
  assert.equal(failedTriggerRows(world), [])
})

it('clusterOverview: each engine as /healthz says it, functions counted; what is not of its type left out; overview carries it only when given', () => {
  const a: MemberInfo = { engine_id: 'ea', started_at: '2026-01-01T00:00:00.000Z', host: 'h1', pid: 10, url: 'ws://h1:7070', http_url: 'http://h1:7070', workers: 2, functions: ['f', 'g'] }
  const odd = { engine_id: 'eb', started_at: '2026-01-01T00:00:01.000Z', host: 42, pid: 'x', url: ['no'], workers: -3, functions: ['f'] } as unknown as MemberInfo
  assert.equal(clusterOverview('ea', [a, odd]), {
    engine_id: 'ea',
    engines: [
      { engine_id: 'ea', host: 'h1', pid: 10, url: 'ws://h1:7070', http_url: 'http://h1:7070', workers: 2, functions: 2, started_at: '2026-01-01T00:00:00.000Z' },
      { engine_id: 'eb', host: '', workers: 0, functions: 1, started_at: '2026-01-01T00:00:01.000Z' },
    ],
  })
  const input = { catalog: catalog(), version: '1', started_at: a.started_at, callsInFlight: 0, series: [], queues: [] }
  assert.not.ok('cluster' in overview(input), 'alone: no cluster key')
  assert.equal(overview({ ...input, cluster: clusterOverview('ea', [a]) }).cluster?.engines.map((e) => e.engine_id), ['ea'])
})

it('CallStats.prune: figures of functions nobody offers are dropped', () => {
  const stats = new CallStats()
  stats.record('kept', 'ok', 1, 0)
  stats.record('gone', 'ok', 1, 0)
  assert.is(stats.size, 2)
  stats.prune((id) => id === 'kept')
  assert.is(stats.size, 1)
})

it.run()
