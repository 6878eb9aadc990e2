/**
 * core/cluster-listings.ts alone: other engines' answers checked (the malformed refused,
 * with why), queue lists merged (shared counts, each engine's consumers), one worker,
 * function or trigger found wherever it lives, and Prometheus text merged family by family
 * with the engines that did not answer said.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Gauge, Histogram, Registry } from 'prom-client'
import {
  acceptParts,
  boundOnly,
  foundInCluster,
  FunctionAnswer,
  mergeExpositions,
  mergeFunctionDetails,
  mergeQueueLists,
  mergeTypeRows,
  queueListProblem,
  readExposition,
  rowsProblem,
  shapeProblem,
  typeRowsProblem,
  type QueueRow,
} from '../core/cluster-listings.js'

const it = suite('core: cluster listings')

it('parts: the malformed, this engine\'s name, a second answer and results the check refuses are refused, each said why', () => {
  const raw: unknown[] = [
    { engine_id: 'eb-1', result: { workers: [{ worker_id: 'w1' }] } },
    { engine_id: 'ec-1', error: { code: 'not_found', message: 'nope' } },
    null,
    'text',
    { engine_id: 42, result: {} },
    { engine_id: 'bad"id', result: { workers: [] } },
    { engine_id: 'ea-self', result: { workers: [] } },
    { engine_id: 'eb-1', result: { workers: [] } },
    { engine_id: 'ed-1' },
    { engine_id: 'ee-1', result: { workers: 'all of them' } },
    { engine_id: 'ef-1', result: { workers: [1, 2] } },
  ]
  const { parts, refused } = acceptParts(raw, 'ea-self', rowsProblem('workers'))
  assert.equal(parts.map((p) => p.engine_id), ['eb-1', 'ec-1'])
  assert.equal(refused.map((r) => r.engine_id), [undefined, undefined, undefined, 'bad"id', 'ea-self', 'eb-1', 'ed-1', 'ee-1', 'ef-1'])
  for (const r of refused) assert.type(r.why, 'string')
  assert.match(refused[4].why, /this engine's name/)
  assert.match(refused[7].why, /workers/)
  // Without a check, any result passes.
  assert.is(acceptParts([{ engine_id: 'eb-1', result: 7 }], 'ea-self').parts.length, 1)
})

const queue = (queue_name: string, over: Partial<QueueRow> = {}): QueueRow => ({ queue_name, ready: 0, in_flight: 0, delayed: 0, dead_lettered: 0, fifo: false, consumers: [], ...over })

it('queues: the shared counts once, every engine\'s consumers with its engine id, FIFO from any engine, sorted by name', () => {
  const own = [queue('jobs', { ready: 5, in_flight: 2, oldest_message_age_seconds: 3, consumers: [{ worker_id: 'wa', trigger_id: 't1', function_id: 'a::jobs', in_flight: 2 }] }), queue('mail', { ready: 1 })]
  const merged = mergeQueueLists('ea', own, [
    { engine_id: 'eb', queues: [queue('jobs', { ready: 5, in_flight: 2, oldest_message_age_seconds: 3, consumers: [{ worker_id: 'wb', trigger_id: 't2', function_id: 'b::jobs', in_flight: 0 }] }), queue('audit', { fifo: true, consumers: [{ worker_id: 'wb', trigger_id: 't3', function_id: 'b::audit', in_flight: 0 }] })] },
    { engine_id: 'ec', queues: [queue('mail', { ready: 1, fifo: true })] },
  ])
  assert.equal(merged.map((q) => q.queue_name), ['audit', 'jobs', 'mail'])
  const jobs = merged[1]
  assert.equal([jobs.ready, jobs.in_flight, jobs.oldest_message_age_seconds], [5, 2, 3], 'the store\'s counts, not summed')
  assert.equal(jobs.consumers.map((c) => [c.trigger_id, c.engine_id, c.in_flight]), [['t1', 'ea', 2], ['t2', 'eb', 0]])
  assert.equal(merged[0].consumers.map((c) => c.engine_id), ['eb'], 'a queue only another engine consumes')
  assert.ok(merged[0].fifo)
  assert.ok(merged[2].fifo, 'FIFO as another engine\'s consumers say')
  // The check: a list with the shape of one, or why not.
  assert.is(queueListProblem({ queues: own }), undefined)
  assert.match(queueListProblem({ queues: [{ ...own[0], ready: -1 }] })!, /ready/)
  assert.ok(queueListProblem({ queues: 'x' }))
  assert.ok(queueListProblem([]))
})

it('one of each: this engine\'s first, else the first engine that has it, with its engine id; undefined when nobody has it', () => {
  const here = { id: 't1', worker_id: 'wa' }
  assert.equal(foundInCluster('ea', here, [{ engine_id: 'eb', result: { id: 't1', worker_id: 'wb' } }]), { id: 't1', worker_id: 'wa', engine_id: 'ea' })
  assert.equal(foundInCluster('ea', undefined, [{ engine_id: 'ec', error: { code: 'not_found' } }, { engine_id: 'eb', result: { id: 't1', worker_id: 'wb' } }]), { id: 't1', worker_id: 'wb', engine_id: 'eb' })
  assert.is(foundInCluster('ea', undefined, [{ engine_id: 'ec', error: { code: 'not_found' } }]), undefined)
  assert.is(foundInCluster('ea', undefined, []), undefined)
})

it('functions: the detail of an engine serving it, every engine\'s workers and triggers, each trigger with its engine id', () => {
  const detail = (workers: string[], triggers: string[], over: Record<string, unknown> = {}) => ({
    function_id: 'f',
    worker_name: workers[0] ?? 'engine',
    registered_triggers: triggers.map((id) => ({ id, trigger_type: 'cron', config: {}, worker_id: 'w' })),
    workers,
    ...over,
  })
  // Bound on A (this engine), served on B and C.
  const merged = mergeFunctionDetails('ea', undefined, [
    { engine_id: 'eb', result: detail(['wb'], [], { description: 'from b' }) },
    { engine_id: 'ec', result: detail(['wc'], ['tc']) },
    { engine_id: 'ed', error: { code: 'function_not_found' } },
  ])!
  assert.is(merged.engine_id, 'eb')
  assert.is(merged.description, 'from b')
  assert.equal(merged.workers, ['wb', 'wc'])
  assert.equal(merged.engines, ['eb', 'ec'])
  assert.equal(merged.registered_triggers.map((t) => [t.id, t.engine_id]), [['tc', 'ec']])
  // Served here: this engine's detail first.
  const own = mergeFunctionDetails('ea', detail(['wa'], ['ta']), [{ engine_id: 'eb', result: detail(['wb'], ['tb']) }])!
  assert.equal([own.engine_id, own.workers, own.engines], ['ea', ['wa', 'wb'], ['ea', 'eb']])
  assert.equal(own.registered_triggers.map((t) => t.engine_id), ['ea', 'eb'])
  assert.is(mergeFunctionDetails('ea', undefined, [{ engine_id: 'eb', error: { code: 'function_not_found' } }]), undefined)
  // Bound on A, served nowhere: no function. Bound on A, served on B: A's trigger counts.
  assert.is(mergeFunctionDetails('ea', boundOnly('f', detail([], ['ta']).registered_triggers), [{ engine_id: 'eb', error: { code: 'function_not_found' } }]), undefined)
  const bound = mergeFunctionDetails('ea', boundOnly('f', detail([], ['ta']).registered_triggers), [{ engine_id: 'eb', result: detail(['wb'], []) }])!
  assert.equal([bound.engine_id, bound.workers, bound.registered_triggers.map((t) => [t.id, t.engine_id])], ['eb', ['wb'], [['ta', 'ea']]])
  assert.not.ok('bound_only' in bound)
  assert.is(shapeProblem(FunctionAnswer, detail(['w'], [])), undefined)
  assert.ok(shapeProblem(FunctionAnswer, { ...detail(['w'], []), workers: 'w' }))
})

/** A registry with a gauge and a histogram, labelled with `engine_id`, as an engine of a cluster renders it. */
async function engineText(engine_id: string, sessions: number, extra = false): Promise<string> {
  const registry = new Registry()
  registry.setDefaultLabels({ engine_id })
  new Gauge({ name: 'signalbox_sessions', help: 'Connected worker sessions', registers: [registry] }).set(sessions)
  const h = new Histogram({ name: 'signalbox_invocation_duration_seconds', help: 'Time from invocation to answer', labelNames: ['source'], buckets: [0.1, 1], registers: [registry] })
  h.observe({ source: 'http' }, 0.5)
  if (extra) new Gauge({ name: 'signalbox_only_here', help: 'Only on this engine', registers: [registry] }).set(1)
  return registry.metrics()
}

it('metrics: every engine\'s samples under one HELP and TYPE per family, families in order; engines up or missing said', async () => {
  const a = await engineText('ea', 2)
  const b = await engineText('eb', 3, true)
  const read = readExposition(b, 'eb')
  assert.not.ok('problem' in read)
  const merged = mergeExpositions('ea', a, [{ engine_id: 'eb', families: read as Exclude<typeof read, { problem: string }> }], ['ec'])
  const lines = merged.split('\n')
  assert.is(lines.filter((l) => l === '# TYPE signalbox_sessions gauge').length, 1)
  assert.is(lines.filter((l) => l.startsWith('# HELP signalbox_invocation_duration_seconds')).length, 1)
  const sessions = lines.indexOf('# TYPE signalbox_sessions gauge')
  assert.equal(lines.slice(sessions + 1, sessions + 3), ['signalbox_sessions{engine_id="ea"} 2', 'signalbox_sessions{engine_id="eb"} 3'])
  // A histogram's samples stay together, the engines' one after the other.
  const hist = lines.indexOf('# TYPE signalbox_invocation_duration_seconds histogram')
  const samples = lines.slice(hist + 1, hist + 11)
  assert.ok(samples.every((l) => l.startsWith('signalbox_invocation_duration_seconds_')), samples.join('\n'))
  assert.equal(samples.map((l) => /engine_id="(e.)"/.exec(l)![1]), [...Array(5).fill('ea'), ...Array(5).fill('eb')])
  assert.ok(lines.includes('signalbox_only_here{engine_id="eb"} 1'))
  assert.ok(lines.includes('signalbox_cluster_engine_up{engine_id="ea"} 1'))
  assert.ok(lines.includes('signalbox_cluster_engine_up{engine_id="eb"} 1'))
  assert.ok(lines.includes('signalbox_cluster_engine_up{engine_id="ec"} 0'))
  assert.ok(lines.some((l) => l.startsWith('# signalbox: engine ec did not answer')))
  assert.ok(merged.endsWith('\n') && !merged.endsWith('\n\n'))
  // Every sample line parses back, and every family's HELP comes before its samples.
  const again = readExposition(merged)
  assert.not.ok('problem' in again, JSON.stringify(again))
})

it('metrics: another engine\'s text that is not Prometheus text, or not labelled with its engine, is refused', async () => {
  const b = await engineText('eb', 1)
  assert.ok('problem' in readExposition(b, 'ec'), 'labelled with another engine')
  assert.ok('problem' in readExposition(b.replace('engine_id="eb"', 'x="eb"'), 'eb'))
  assert.ok('problem' in readExposition({ text: b }, 'eb'))
  assert.ok('problem' in readExposition('signalbox_sessions{engine_id="eb"} lots\n', 'eb'))
  assert.ok('problem' in readExposition('# HELP bad-name x\n', 'eb'))
  assert.ok('problem' in readExposition('x'.repeat(5 * 1024 * 1024), 'eb'))
  assert.not.ok('problem' in readExposition('signalbox_x{engine_id="eb",q="a \\"b\\" \\\\ c"} 1.5e-7\n# a comment\n', 'eb'))
  assert.not.ok('problem' in readExposition('', 'eb'), 'an engine with no series')
})

it('trigger types of the cluster: built-in types once (this engine\'s), each worker-defined type once with its engine, sorted; malformed rows refused', () => {
  const own = [
    { id: 'cron', worker_name: 'engine', description: 'Schedules', worker_id: 'engine' },
    { id: 'http', worker_name: 'engine', description: 'Routes', worker_id: 'engine' },
    { id: 'zeta', worker_name: 'z', description: '', worker_id: 'wz' },
  ]
  const fromB = [
    { id: 'cron', worker_name: 'engine', description: 'Schedules', worker_id: 'engine' },
    { id: 'http', worker_name: 'engine', description: 'Routes', worker_id: 'engine' },
    { id: 'webhook', worker_name: 'hooks', description: 'Webhooks', worker_id: 'wb' },
  ]
  const merged = mergeTypeRows('ea', own, [{ engine_id: 'eb', rows: fromB }], () => undefined)
  assert.equal(
    merged.map((r) => [r.id, r.worker_id, r.engine_id]),
    [
      ['cron', 'engine', 'ea'],
      ['http', 'engine', 'ea'],
      ['webhook', 'wb', 'eb'],
      ['zeta', 'wz', 'ea'],
    ],
  )
  assert.is(merged[2].worker_name, 'hooks', 'the worker as its engine lists it')

  // Two engines list one type while a claim is settled: the holder the types bucket names is kept.
  const both = [{ engine_id: 'eb', rows: [{ id: 'zeta', worker_id: 'wb2' }] }]
  assert.equal(mergeTypeRows('ea', [{ id: 'zeta', worker_id: 'wz' }], both, (id) => (id === 'zeta' ? 'eb' : undefined)), [{ id: 'zeta', worker_id: 'wb2', engine_id: 'eb' }])
  assert.equal(mergeTypeRows('ea', [{ id: 'zeta', worker_id: 'wz' }], both, () => undefined), [{ id: 'zeta', worker_id: 'wz', engine_id: 'ea' }])

  assert.is(typeRowsProblem('triggers')({ triggers: [{ id: 'x', worker_id: 'w' }] }), undefined)
  assert.ok(typeRowsProblem('triggers')({ triggers: [{ id: 'x' }] }))
  assert.ok(typeRowsProblem('trigger_types')({ triggers: [] }))
})

it.run()
