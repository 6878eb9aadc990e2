/**
 * core/listings.ts, alone: what the introspection engine functions answer from a catalog,
 * in iii 0.22.1's names and shapes. Trigger types (filters, sorted by id, instance counts),
 * registered triggers (rows with the worker's name and a config summary, filters, engine
 * functions' rows hidden unless asked), one function, one worker, and the queries' refusals.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { applyCatalogEvent, BUILTIN_TRIGGER_TYPES, initialCatalog, type CatalogEvent, type CatalogState } from '../core/catalog.js'
import {
  configSummary,
  functionDetail,
  isProblem,
  readQuery,
  registeredTriggerDetail,
  registeredTriggerRows,
  RegisteredTriggersQuery,
  triggerTypeDetail,
  triggerTypeRows,
  TriggerTypesQuery,
  WorkerInfoQuery,
  workerDetail,
} from '../core/listings.js'

const ENGINE_FNS = { 'engine::x::list': 'Lists x' }

/** Two workers: `billing` provides `webhook` and offers `invoices::create`; an unnamed one binds triggers. */
function sample(): CatalogState {
  const events: CatalogEvent[] = [
    { type: 'worker.add', worker_id: 'w1', connected_at: '2024-01-01T00:00:00.000Z' },
    { type: 'worker.describe', worker_id: 'w1', info: { name: 'billing', runtime: 'node', pid: 7 } },
    { type: 'worker.add', worker_id: 'w2', connected_at: '2024-01-02T00:00:00.000Z' },
    { type: 'function.add', worker_id: 'w1', function_id: 'invoices::create', info: { description: 'Creates', metadata: { a: 1 } } },
    { type: 'triggerType.add', worker_id: 'w1', trigger_type: 'webhook', description: 'Incoming webhooks' },
    { type: 'triggerType.add', worker_id: 'w1', trigger_type: 'engine::inner', description: 'internal' },
    { type: 'trigger.add', worker_id: 'w2', trigger: { id: 'h', trigger_type: 'http', function_id: 'invoices::create', config: { path: '/i' }, state: 'active' } },
    { type: 'trigger.add', worker_id: 'w2', trigger: { id: 'hook', trigger_type: 'webhook', function_id: 'invoices::create', config: { repo: 'a/b' }, state: 'pending', metadata: { m: 1 } } },
    { type: 'trigger.add', worker_id: 'w1', trigger: { id: 'send', trigger_type: 'cron', function_id: 'engine::x::list', config: { schedule: '@daily' }, state: 'active' } },
  ]
  return events.reduce(applyCatalogEvent, initialCatalog(BUILTIN_TRIGGER_TYPES))
}

const it = suite('core: listings')

it('triggerTypeRows: every type with its provider by name, sorted by id; engine:: types only when asked', () => {
  const s = sample()
  assert.equal(triggerTypeRows(s), [
    { id: 'cron', worker_name: 'engine', description: BUILTIN_TRIGGER_TYPES.cron, worker_id: 'engine' },
    { id: 'durable:subscriber', worker_name: 'engine', description: BUILTIN_TRIGGER_TYPES['durable:subscriber'], worker_id: 'engine' },
    { id: 'http', worker_name: 'engine', description: BUILTIN_TRIGGER_TYPES.http, worker_id: 'engine' },
    { id: 'queue', worker_name: 'engine', description: BUILTIN_TRIGGER_TYPES.queue, worker_id: 'engine' },
    { id: 'subscribe', worker_name: 'engine', description: BUILTIN_TRIGGER_TYPES.subscribe, worker_id: 'engine' },
    { id: 'webhook', worker_name: 'billing', description: 'Incoming webhooks', worker_id: 'w1' },
  ])
  assert.equal(triggerTypeRows(s, { include_internal: true }).map((t) => t.id), ['cron', 'durable:subscriber', 'engine::inner', 'http', 'queue', 'subscribe', 'webhook'])
  assert.equal(triggerTypeRows(s, { worker: 'billing' }).map((t) => t.id), ['webhook'])
  assert.equal(triggerTypeRows(s, { prefix: 'qu' }).map((t) => t.id), ['queue'])
  assert.equal(triggerTypeRows(s, { search: 'WEBHOOKS' }).map((t) => t.id), ['webhook'], 'search: case-insensitive, in the description too')
  assert.equal(triggerTypeRows(s, { prefix: 'sub' }).map((t) => t.id), ['subscribe'])
})

it('triggerTypeDetail: the row and how many registrations use the type', () => {
  const s = sample()
  assert.equal(triggerTypeDetail(s, 'webhook'), { id: 'webhook', worker_name: 'billing', description: 'Incoming webhooks', worker_id: 'w1', instance_count: 1 })
  assert.is(triggerTypeDetail(s, 'http')?.instance_count, 1)
  assert.is(triggerTypeDetail(s, 'nope'), undefined)
})

it('registeredTriggerRows: rows with the registering worker by name (its id when it gave none) and a config summary', () => {
  const s = sample()
  assert.equal(registeredTriggerRows(s), [
    { id: 'h', trigger_type: 'http', function_id: 'invoices::create', worker_name: 'w2', config: { path: '/i' }, config_summary: '{"path":"/i"}', worker_id: 'w2', state: 'active' },
    { id: 'hook', trigger_type: 'webhook', function_id: 'invoices::create', worker_name: 'w2', config: { repo: 'a/b' }, config_summary: '{"repo":"a/b"}', worker_id: 'w2', state: 'pending' },
  ])
  assert.equal(registeredTriggerRows(s, { include_internal: true }).map((t) => t.id), ['send', 'h', 'hook'], 'bound to an engine function: shown when asked')
  assert.equal(registeredTriggerRows(s, { trigger_type: 'webhook' }).map((t) => t.id), ['hook'])
  assert.equal(registeredTriggerRows(s, { function_id: 'engine::x::list', include_internal: true }).map((t) => t.id), ['send'])
  assert.equal(registeredTriggerRows(s, { worker: 'billing', include_internal: true }).map((t) => t.id), ['send'])
  assert.equal(registeredTriggerRows(s, { search: 'HOO' }).map((t) => t.id), ['hook'])
})

it('configSummary: JSON, cut at 80 characters with …', () => {
  assert.is(configSummary({ a: 1 }), '{"a":1}')
  assert.is(configSummary(undefined), '{}')
  const long = configSummary({ text: 'x'.repeat(200) })
  assert.is(long.length, 81)
  assert.ok(long.endsWith('…'))
})

it('registeredTriggerDetail: the row with metadata, its type and its function; worker_id picks among sessions', () => {
  const s = sample()
  const d = registeredTriggerDetail(s, 'hook', undefined, ENGINE_FNS)!
  assert.equal(d.metadata, { m: 1 })
  assert.equal(d.trigger, { id: 'webhook', worker_name: 'billing', description: 'Incoming webhooks', worker_id: 'w1', instance_count: 1 })
  assert.is(d.function?.function_id, 'invoices::create')
  assert.is(registeredTriggerDetail(s, 'hook', 'w1', ENGINE_FNS), undefined)
  assert.is(registeredTriggerDetail(s, 'nope', undefined, ENGINE_FNS), undefined)
  // A type or function that is gone: null.
  applyCatalogEvent(s, { type: 'triggerType.remove', worker_id: 'w1', trigger_type: 'webhook' })
  applyCatalogEvent(s, { type: 'function.remove', worker_id: 'w1', function_id: 'invoices::create' })
  const gone = registeredTriggerDetail(s, 'hook', undefined, ENGINE_FNS)!
  assert.equal([gone.trigger, gone.function], [null, null])
})

it('functionDetail: who serves it, what it said, the triggers bound to it; engine functions by the engine', () => {
  const s = sample()
  assert.equal(functionDetail(s, 'invoices::create', ENGINE_FNS), {
    function_id: 'invoices::create',
    worker_name: 'billing',
    description: 'Creates',
    metadata: { a: 1 },
    registered_triggers: [
      { id: 'h', trigger_type: 'http', config: { path: '/i' }, worker_id: 'w2' },
      { id: 'hook', trigger_type: 'webhook', config: { repo: 'a/b' }, worker_id: 'w2' },
    ],
    workers: ['w1'],
  })
  assert.equal(functionDetail(s, 'engine::x::list', ENGINE_FNS), {
    function_id: 'engine::x::list',
    worker_name: 'engine',
    description: 'Lists x',
    registered_triggers: [{ id: 'send', trigger_type: 'cron', config: { schedule: '@daily' }, worker_id: 'w1' }],
    workers: [],
    engine: true,
  })
  assert.is(functionDetail(s, 'nope', ENGINE_FNS), undefined)
})

it('workerDetail: by name or by id; itself, its functions, the types it provides, its registrations', () => {
  const s = sample()
  const billing = workerDetail(s, { name: 'billing' })!
  assert.equal(billing.worker, {
    id: 'w1',
    worker_id: 'w1',
    name: 'billing',
    runtime: 'node',
    pid: 7,
    status: 'connected',
    function_count: 1,
    connected_at: '2024-01-01T00:00:00.000Z',
    connected_at_ms: Date.parse('2024-01-01T00:00:00.000Z'),
  })
  assert.equal(billing.functions, [{ function_id: 'invoices::create', worker_name: 'billing', description: 'Creates', metadata: { a: 1 } }])
  assert.equal(billing.trigger_types.map((t) => t.id), ['webhook', 'engine::inner'])
  assert.equal(billing.registered_triggers.map((t) => t.id), ['send'])
  assert.equal(workerDetail(s, { worker_id: 'w2' })?.registered_triggers.map((t) => t.id), ['h', 'hook'])
  assert.is(workerDetail(s, { name: 'nobody' }), undefined)
  assert.is(workerDetail(s, { worker_id: 'w9' }), undefined)
})

it('readQuery: {} for nothing; refusals name the function and the field', () => {
  assert.equal(readQuery(TriggerTypesQuery, 'engine::triggers::list', undefined), {})
  assert.equal(readQuery(TriggerTypesQuery, 'engine::triggers::list', null), {})
  assert.equal(readQuery(TriggerTypesQuery, 'engine::triggers::list', { prefix: 'a', other: 1 }), { prefix: 'a' })
  assert.equal(readQuery(RegisteredTriggersQuery, 'engine::registered-triggers::list', { trigger_type: 7 }), {
    problem: "engine::registered-triggers::list: 'trigger_type' must be a string, got 7",
  })
  assert.equal(readQuery(TriggerTypesQuery, 'engine::triggers::list', [1]), { problem: 'engine::triggers::list: the input must be an object, got an array' })
  const none = readQuery(WorkerInfoQuery, 'engine::workers::info', {})
  assert.ok(isProblem(none))
  assert.equal(none, { problem: "engine::workers::info: give 'name' (the name the worker gave) or 'worker_id'" })
})

it.run()
