/**
 * console/view.ts, the browser's pure helpers, run here as the browser runs them: routes,
 * the glob matching of what the page offers (the same answers as core/auth.ts), formats,
 * what a trigger binds, dead-letter queues, where an invocation came from, the feed's
 * filter, the chart's geometry and the editor's JSON. And the compiled browser code loads
 * nothing but its own files (the engine serves only those).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  bindsOf,
  chartLines,
  count,
  deadLetterQueueOf,
  deadLettersShownFor,
  engineCells,
  feedMatches,
  formatAge,
  formatMs,
  globMatch,
  hrefOf,
  inZone,
  isDeadLetterQueue,
  formatBytes,
  invokeLacks,
  keepLast,
  listedTriggers,
  MAX_MESSAGE_BYTES,
  mayInvoke,
  parseTimeout,
  redriveLacks,
  tooLarge,
  parseInput,
  parseRoute,
  percent,
  preview,
  relative,
  shortId,
  sourceOf,
  TRIGGER_STATES,
  triggerCountRows,
  triggerMatches,
} from '../console/view.js'
import { globMatch as engineGlob } from '../core/auth.js'
import { redriveLacks as engineRedriveLacks } from '../core/console-view.js'
import type { FailedTriggerRow, FeedEntry, QueueRow, TriggerRow } from '../protocol/console.js'
import { importsOf } from './imports.js'

const it = suite('console: view helpers')

it('routes: pages and their parameter, encoded both ways; anything else is the overview', () => {
  assert.equal(parseRoute('#/workers/abc'), { page: 'workers', param: 'abc' })
  assert.equal(parseRoute(hrefOf('functions', 'billing::charge/x')), { page: 'functions', param: 'billing::charge/x' })
  assert.equal(parseRoute('#/queues'), { page: 'queues' })
  assert.equal(parseRoute(''), { page: 'overview' })
  assert.equal(parseRoute('#/nope/1'), { page: 'overview' })
  assert.is(hrefOf('feed'), '#/feed')
})

it('globMatch answers as the engine does; mayInvoke needs engine for engine::*', () => {
  const cases: Array<[string, string]> = [
    ['*', 'x'],
    ['billing::*', 'billing::charge'],
    ['billing::*', 'orders::x'],
    ['*::health', 'a::health'],
    ['a*b*c', 'abc'],
    ['a*b*c', 'acb'],
    ['exact', 'exact'],
    ['exact', 'exactly'],
    ['a*a', 'a'],
  ]
  for (const [p, t] of cases) assert.is(globMatch(p, t), engineGlob(p, t), `${p} ~ ${t}`)
  assert.is(mayInvoke(undefined, 'f'), false)
  assert.is(mayInvoke({ invoke: ['*'], engine: false, redrive: false }, 'engine::queue::dlq'), false)
  assert.is(mayInvoke({ invoke: ['*'], engine: true, redrive: true }, 'engine::queue::dlq'), true)
  assert.is(mayInvoke({ invoke: [], engine: true, redrive: false }, 'f'), false)
})

it('formats: durations, ages, relative times, zones, shares, counts, ids, previews', () => {
  assert.equal([formatMs(0.25), formatMs(12.34), formatMs(250.4), formatMs(1234), formatMs(125_000), formatMs(undefined)], ['250 µs', '12.3 ms', '250 ms', '1.23 s', '2 min 5 s', '–'])
  assert.equal([formatAge(42), formatAge(200), formatAge(7500), formatAge(93_600), formatAge(undefined)], ['42 s', '3 min 20 s', '2 h 5 min', '1 d 2 h', '–'])
  const now = Date.parse('2025-01-06T12:00:00Z')
  assert.is(relative('2025-01-06T12:00:03Z', now), 'in 3 s')
  assert.is(relative('2025-01-06T11:55:00Z', now), '5 min ago')
  assert.match(inZone('2025-01-06T14:00:00.000Z', 'America/New_York'), /^Mon,? 6 Jan 2025, 09:00:00$/)
  assert.match(inZone('2025-01-06T14:00:00.000Z', 'Europe/Paris'), /^Mon,? 6 Jan 2025, 15:00:00$/)
  assert.equal([percent(0), percent(0.025), percent(1)], ['0 %', '2.5 %', '100 %'])
  assert.is(count(1234567), '1\u202f234\u202f567')
  assert.equal([shortId('0d3f0a55-1111-2222-3333-444455556666'), shortId('short')], ['0d3f0a55…', 'short'])
  assert.is(preview({ a: 'x'.repeat(200) }, 20), '{"a":"xxxxxxxxxxxxx…')
})

const trigger = (id: string, trigger_type: string, function_id: string, config: Record<string, unknown>): TriggerRow => ({ id, trigger_type, function_id, worker_id: 'w', state: 'active', config })
const queue = (queue_name: string): QueueRow => ({ queue_name, ready: 0, in_flight: 0, delayed: 0, dead_lettered: 0, fifo: false, consumers: [] })

it('bindsOf: a route, a schedule, a queue, or the config of a worker-defined type', () => {
  assert.is(bindsOf(trigger('a', 'http', 'f', { path: '/x', method: 'post' })), 'POST /x')
  assert.is(bindsOf(trigger('a', 'http', 'f', { api_path: 'y' })), 'GET y')
  assert.is(bindsOf(trigger('a', 'cron', 'f', { expression: '@hourly' })), '@hourly')
  assert.is(bindsOf(trigger('a', 'queue', 'f', { queue_name: 'orders' })), 'queue orders')
  assert.is(bindsOf(trigger('a', 'ticker', 'f', { every: 5 })), '{"every":5}')
})

it('dead-letter queues: a trigger\'s dead_letter_queue, else <queue>.dlq; a dead-letter queue shows its own messages', () => {
  const triggers = [trigger('t', 'queue', 'f', { queue_name: 'jobs', dead_letter_queue: 'poison' })]
  assert.is(deadLetterQueueOf('jobs', triggers), 'poison')
  assert.is(deadLetterQueueOf('orders', triggers), 'orders.dlq')
  const queues = [queue('jobs'), queue('poison'), queue('orders'), queue('orders.dlq')]
  assert.is(isDeadLetterQueue('poison', queues, triggers), true)
  assert.is(isDeadLetterQueue('orders.dlq', queues, triggers), true)
  assert.is(isDeadLetterQueue('orders', queues, triggers), false)
  assert.is(deadLettersShownFor('jobs', queues, triggers), 'poison')
  assert.is(deadLettersShownFor('poison', queues, triggers), 'poison')
})

it('listedTriggers: the registrations, then the recent failures as failed with their error; the filters; the overview\'s counts', () => {
  const failed: FailedTriggerRow[] = [
    { seq: 7, id: 'late', trigger_type: 'webhook', function_id: 'g', worker_id: 'w2', from: 'resending', error: { code: 'provider_timeout', message: 'slow' }, failed_at: '2025-01-01T00:00:02.000Z' },
    { seq: 6, id: 'bad', trigger_type: 'cron', function_id: 'f', worker_id: 'w', worker_name: 'billing', config: { schedule: 'nope' }, from: 'pending', error: { code: 'invalid_config', message: 'no' }, failed_at: '2025-01-01T00:00:01.000Z' },
  ]
  const list = listedTriggers([trigger('nightly', 'cron', 'f', { schedule: '@daily' })], failed)
  assert.equal(list.map((t) => [t.id, t.state, t.failure?.code]), [['nightly', 'active', undefined], ['late', 'failed', 'provider_timeout'], ['bad', 'failed', 'invalid_config']])
  assert.equal(list[2], {
    id: 'bad',
    trigger_type: 'cron',
    function_id: 'f',
    worker_id: 'w',
    state: 'failed',
    config: { schedule: 'nope' },
    failure: { seq: 6, code: 'invalid_config', message: 'no', at: '2025-01-01T00:00:01.000Z', from: 'pending', worker_name: 'billing', config_kept: true },
  })
  assert.equal([list[1].config, list[1].failure?.config_kept], [{}, false])
  assert.equal(list.filter((t) => triggerMatches(t, 'all', 'failed')).map((t) => t.id), ['late', 'bad'])
  assert.equal(list.filter((t) => triggerMatches(t, 'cron', 'all')).map((t) => t.id), ['nightly', 'bad'])
  assert.equal(list.filter((t) => triggerMatches(t, 'cron', 'active')).map((t) => t.id), ['nightly'])
  assert.equal([...TRIGGER_STATES], ['pending', 'active', 'parked', 'resending', 'failed'])
  assert.equal(triggerCountRows({ http: { active: 2 }, cron: { active: 1, pending: 2, failed: 3 } }), [
    { trigger_type: 'cron', states: [2, 1, 0, 0], registered: 3, failed: 3 },
    { trigger_type: 'http', states: [0, 2, 0, 0], registered: 2, failed: 0 },
  ])
})

it('what a token lacks to redrive, as the engine says it; to invoke a function; nothing before the engine said', () => {
  const rights = (invoke: string[], engine = true) => ({ invoke, engine, redrive: engine && invoke.some((p) => engineGlob(p, 'engine::queue::dlq')) })
  for (const r of [rights([]), rights(['billing::*']), rights(['engine::*']), rights(['*']), rights(['*'], false), rights([], false), rights(['engine::queue::dlq', 'x'])]) {
    assert.is(redriveLacks(r), engineRedriveLacks(r), JSON.stringify(r))
  }
  assert.is(redriveLacks(rights([])), "its scope has no 'invoke' patterns: it is read-only")
  assert.is(redriveLacks(rights(['billing::*', 'x::y'])), "its scope's 'invoke' patterns (billing::*, x::y) do not match 'engine::queue::dlq'")
  assert.is(redriveLacks(rights(['*'])), undefined)
  assert.is(redriveLacks(undefined), undefined)
  assert.is(invokeLacks(rights([]), 'billing::charge'), "its scope has no 'invoke' patterns: it is read-only")
  assert.is(invokeLacks(rights(['orders::*']), 'billing::charge'), "its scope's 'invoke' patterns (orders::*) do not match it")
  assert.is(invokeLacks(rights(['*'], false), 'engine::workers::list'), "its scope has no 'engine', which engine::* functions need")
  assert.is(invokeLacks(rights(['billing::*']), 'billing::charge'), undefined)
  assert.is(invokeLacks(undefined, 'billing::charge'), undefined)
})

it('the invoke form: a timeout of 1 to 600 000 ms or none; a request too large for a console message is not sent', () => {
  assert.equal(parseTimeout(''), { ok: true })
  assert.equal(parseTimeout(' 250 '), { ok: true, value: 250 })
  assert.equal(parseTimeout('600000'), { ok: true, value: 600_000 })
  for (const bad of ['0', '-5', '1.5', '600001', '1e9']) {
    const r = parseTimeout(bad)
    assert.is(r.ok, false, bad)
    if (!r.ok) assert.match(r.error, new RegExp(`^Not sent: the timeout must be a whole number of milliseconds from 1 to 600.000 \\(10 min\\), or empty for the engine's default; got "${bad.replace('.', '\\.')}"$`))
  }
  const unreadable = parseTimeout('', true)
  assert.is(unreadable.ok, false)
  if (!unreadable.ok) assert.match(unreadable.error, /the field does not hold a number$/)
  assert.equal([formatBytes(512), formatBytes(1536), formatBytes(MAX_MESSAGE_BYTES), formatBytes(17 * 1024 * 1024 + 90)], ['512 B', '1.5 KiB', '16 MiB', '17 MiB'])
  assert.is(tooLarge(MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES), undefined)
  assert.match(tooLarge(20 * 1024 * 1024, MAX_MESSAGE_BYTES)!, /^Not sent: with its input the request is 20 MiB of JSON, and the engine takes at most 16 MiB in one console message \(a larger one would end the console's connection\)/)
  assert.match(tooLarge(4097, 4096)!, /^Not sent: with its input the request is 4.097 bytes of JSON, and the engine takes at most 4.096 bytes in one console message/)
})

const entry = (function_id: string, source: string, outcome = 'ok'): FeedEntry => ({ seq: 1, at: 0, function_id, source, outcome, ms: 1 })

it('sourceOf: the one trigger of that type bound to the function, or how many, or the caller', () => {
  const triggers = [trigger('nightly', 'cron', 'f', {}), trigger('a', 'http', 'g', {}), trigger('b', 'http', 'g', {})]
  assert.is(sourceOf(entry('f', 'cron'), triggers), 'cron nightly')
  assert.is(sourceOf(entry('g', 'http'), triggers), 'http (2 triggers)')
  assert.is(sourceOf(entry('h', 'queue'), triggers), 'queue')
  assert.is(sourceOf(entry('f', 'worker'), triggers), 'worker call')
  assert.is(sourceOf(entry('f', 'engine'), triggers), 'engine / console')
})

it('feedMatches: every word, in function, source or outcome; the outcome filter', () => {
  const e = entry('billing::charge', 'cron', 'error')
  assert.is(feedMatches(e, 'cron nightly', { text: 'BILLING nightly', outcome: 'all' }), true)
  assert.is(feedMatches(e, 'cron nightly', { text: 'orders', outcome: 'all' }), false)
  assert.is(feedMatches(e, 'cron', { text: '', outcome: 'errors' }), true)
  assert.is(feedMatches(e, 'cron', { text: '', outcome: 'ok' }), false)
  assert.is(feedMatches(entry('f', 'http', 'invocation_timeout'), 'http', { text: 'timeout', outcome: 'errors' }), true)
  assert.equal(keepLast([1, 2, 3], [4, 5], 3), [3, 4, 5])
})

it('chartLines: points across the width, scaled to the busiest second; a scale of at least 1', () => {
  const lines = chartLines(
    [
      { t: 0, calls: 0, errors: 0 },
      { t: 1, calls: 4, errors: 1 },
      { t: 2, calls: 2, errors: 2 },
    ],
    100,
    50,
  )
  assert.equal(lines, { calls: '0,50 50,0 100,25', errors: '0,50 50,37.5 100,25', max: 4 })
  assert.is(chartLines([{ t: 0, calls: 0, errors: 0 }], 100, 50).max, 1)
})

it('parseInput: JSON, nothing for empty text, or what is wrong', () => {
  assert.equal(parseInput(' {"a": 1} '), { ok: true, value: { a: 1 } })
  assert.equal(parseInput('  '), { ok: true, value: undefined })
  const bad = parseInput('{a: 1}')
  assert.is(bad.ok, false)
  assert.match((bad as { error: string }).error, /^Not JSON: /)
})

it('the compiled browser code imports only its own files', () => {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'console')
  const files = readdirSync(dir).filter((f) => f.endsWith('.js'))
  assert.ok(files.includes('app.js') && files.includes('view.js'), files.join())
  for (const f of files) {
    for (const spec of importsOf(readFileSync(join(dir, f), 'utf8'))) assert.match(spec, /^\.\/[\w-]+\.js$/, `${f} imports ${spec}`)
  }
})

it('engineCells: the overview\'s engines table, the serving engine noted, the address the WebSocket else HTTP', () => {
  const now = Date.parse('2026-01-01T00:10:00.000Z')
  const cells = engineCells(
    {
      engine_id: 'eb',
      engines: [
        { engine_id: 'ea', host: 'h1', pid: 10, url: 'ws://h1:7070', http_url: 'http://h1:7070', workers: 1234, functions: 2, started_at: '2026-01-01T00:00:00.000Z' },
        { engine_id: 'eb', host: '', http_url: 'http://h2:80', workers: 0, functions: 0, started_at: '2026-01-01T00:09:30.000Z' },
        { engine_id: 'ec', host: 'h3', workers: 0, functions: 0, started_at: '2026-01-01T00:09:59.000Z' },
      ],
    },
    now,
  )
  assert.equal(cells[0], { engine_id: 'ea', host: 'h1 (pid 10)', address: 'ws://h1:7070', workers: '1\u202f234', functions: '2', started: '10 min ago', started_at: '2026-01-01T00:00:00.000Z' })
  assert.equal([cells[1].note, cells[1].host, cells[1].address, cells[1].started], ['this engine', '–', 'http://h2:80', '30 s ago'])
  assert.is(cells[2].address, '–')
  assert.is(cells[2].note, undefined)
})

it.run()
