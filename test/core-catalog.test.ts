/**
 * core/catalog.ts, alone: `applyCatalogEvent` for workers (add, describe, remove with all
 * it offered), functions (replicas in order), trigger types (only their holder removes
 * them) and triggers (add, state, remove, fail: the recent failures kept); events for a worker that is not there; ids
 * such as `__proto__`; sizes (what the per-session limits count); a held worker (its
 * functions held, its types released); and the lookups `providerOf`, `isOffered`,
 * `isKnown`, `heldUntil`, `allTriggers`, and `initialCatalog`.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  allTriggers,
  applyCatalogEvent,
  BUILTIN_TRIGGER_TYPES,
  ENGINE_PROVIDER,
  initialCatalog,
  forwardedIdFor,
  forwardedOrigin,
  isBuiltin,
  heldUntil,
  isKnown,
  isOffered,
  providerOf,
  RECENT_FAILURES,
  replacedBy,
  type CatalogEvent,
  type CatalogState,
  type TriggerEntry,
} from '../core/catalog.js'

/** A catalog with the built-in types after `events`. */
const catalog = (...events: CatalogEvent[]): CatalogState => events.reduce(applyCatalogEvent, initialCatalog(BUILTIN_TRIGGER_TYPES))
const addWorker = (worker_id: string): CatalogEvent => ({ type: 'worker.add', worker_id, connected_at: '2024-01-01T00:00:00.000Z' })
const addFn = (worker_id: string, function_id: string, description?: string): CatalogEvent => ({ type: 'function.add', worker_id, function_id, info: description === undefined ? {} : { description } })
const addType = (worker_id: string, trigger_type: string, description?: string): CatalogEvent => ({ type: 'triggerType.add', worker_id, trigger_type, description })
const trigger = (id: string, function_id = 'f', trigger_type = 'http'): TriggerEntry => ({ id, trigger_type, function_id, config: { path: `/${id}` }, state: 'pending' })
const addTrigger = (worker_id: string, t: TriggerEntry): CatalogEvent => ({ type: 'trigger.add', worker_id, trigger: t })
/** A plain copy, to compare whole states (records have no prototype). */
const plain = (s: CatalogState) => JSON.parse(JSON.stringify(s))

const it = suite('core: catalog')

it('initialCatalog: the engine provides the built-in types, nothing else is there', () => {
  const s = initialCatalog(BUILTIN_TRIGGER_TYPES)
  assert.equal(plain(s), {
    workers: {},
    functions: {},
    triggerTypes: {
      http: { worker_id: 'engine', description: BUILTIN_TRIGGER_TYPES.http },
      cron: { worker_id: 'engine', description: BUILTIN_TRIGGER_TYPES.cron },
      queue: { worker_id: 'engine', description: BUILTIN_TRIGGER_TYPES.queue },
      subscribe: { worker_id: 'engine', description: BUILTIN_TRIGGER_TYPES.subscribe },
      'durable:subscriber': { worker_id: 'engine', description: BUILTIN_TRIGGER_TYPES['durable:subscriber'] },
    },
    forwarded: {},
    failed: [],
  })
  assert.is(ENGINE_PROVIDER, 'engine')
  assert.is(providerOf(s, 'cron'), 'engine')
  assert.is(Object.getPrototypeOf(s.workers), null)
  assert.is(Object.getPrototypeOf(s.triggerTypes), null)
  assert.equal(plain(initialCatalog({})), { workers: {}, functions: {}, triggerTypes: {}, forwarded: {}, failed: [] })
})

it('isBuiltin: only the engine’s own types', () => {
  assert.ok(isBuiltin('http'))
  assert.ok(isBuiltin('queue'))
  assert.not.ok(isBuiltin('toString'))
  assert.not.ok(isBuiltin('webhook'))
})

it('worker.add and worker.describe: an empty entry, then its info', () => {
  const s = catalog(addWorker('w1'))
  assert.equal(plain(s).workers.w1, { worker_id: 'w1', connected_at: '2024-01-01T00:00:00.000Z', info: {}, functions: {}, trigger_types: {}, triggers: {}, sizes: { functions: 0, trigger_types: 0, triggers: 0 } })
  applyCatalogEvent(s, { type: 'worker.describe', worker_id: 'w1', info: { name: 'billing', pid: 42 } })
  assert.equal(s.workers.w1.info, { name: 'billing', pid: 42 })
})

it('applyCatalogEvent: changes the state in place and returns it', () => {
  const s = initialCatalog({})
  assert.is(applyCatalogEvent(s, addWorker('w')), s)
  assert.is(applyCatalogEvent(s, addFn('w', 'f')), s)
  assert.ok(s.workers.w)
})

it('function.add: replicas in registration order; function.remove takes one out', () => {
  const s = catalog(addWorker('w1'), addWorker('w2'), addWorker('w3'), addFn('w2', 'f', 'adds'), addFn('w1', 'f'), addFn('w3', 'f'))
  assert.equal(s.functions.f.workers, ['w2', 'w1', 'w3'])
  assert.equal(s.workers.w2.functions.f, { description: 'adds' })
  assert.ok(isOffered(s, 'f'))
  applyCatalogEvent(s, { type: 'function.remove', worker_id: 'w1', function_id: 'f' })
  assert.equal(s.functions.f.workers, ['w2', 'w3'])
  assert.not.ok('f' in s.workers.w1.functions)
  applyCatalogEvent(s, { type: 'function.remove', worker_id: 'w2', function_id: 'f' })
  applyCatalogEvent(s, { type: 'function.remove', worker_id: 'w3', function_id: 'f' })
  assert.not.ok('f' in s.functions)
  assert.not.ok(isOffered(s, 'f'))
})

it('function.add twice by one worker: still one replica, gone when the worker leaves', () => {
  const s = initialCatalog({})
  applyCatalogEvent(s, { type: 'worker.add', worker_id: 'w1', connected_at: 't' })
  applyCatalogEvent(s, { type: 'function.add', worker_id: 'w1', function_id: 'f', info: {} })
  applyCatalogEvent(s, { type: 'function.add', worker_id: 'w1', function_id: 'f', info: { description: 'again' } })
  assert.equal(s.functions.f.workers, ['w1'])
  assert.is(s.workers.w1.functions.f.description, 'again')
  applyCatalogEvent(s, { type: 'worker.remove', worker_id: 'w1' })
  assert.is(isOffered(s, 'f'), false)
})

it('function.remove: a function the worker does not offer changes nothing', () => {
  const s = catalog(addWorker('w1'), addWorker('w2'), addFn('w1', 'f'))
  applyCatalogEvent(s, { type: 'function.remove', worker_id: 'w2', function_id: 'f' })
  applyCatalogEvent(s, { type: 'function.remove', worker_id: 'w1', function_id: 'g' })
  assert.equal(s.functions.f.workers, ['w1'])
  assert.ok('f' in s.workers.w1.functions)
})

it('worker.remove: its functions go, other replicas stay', () => {
  const s = catalog(addWorker('w1'), addWorker('w2'), addFn('w1', 'shared'), addFn('w2', 'shared'), addFn('w1', 'mine'))
  applyCatalogEvent(s, { type: 'worker.remove', worker_id: 'w1' })
  assert.not.ok('w1' in s.workers)
  assert.equal(s.functions.shared.workers, ['w2'])
  assert.not.ok('mine' in s.functions)
  assert.ok(isOffered(s, 'shared'))
  assert.not.ok(isOffered(s, 'mine'))
})

it('worker.remove: its trigger types and triggers go with it', () => {
  const s = catalog(addWorker('p'), addWorker('c'), addType('p', 'webhook', 'hooks'), addTrigger('p', trigger('t1')), addTrigger('c', trigger('t2', 'f', 'webhook')))
  assert.is(providerOf(s, 'webhook'), 'p')
  applyCatalogEvent(s, { type: 'worker.remove', worker_id: 'p' })
  assert.is(providerOf(s, 'webhook'), undefined)
  assert.not.ok('webhook' in s.triggerTypes)
  assert.equal([...allTriggers(s)].map((t) => t.id), ['t2'])
  // The built-in types are untouched.
  assert.is(providerOf(s, 'http'), 'engine')
})

it('worker.remove: a trigger type another worker took over stays with that worker', () => {
  const s = catalog(addWorker('a'), addWorker('b'), addType('a', 'webhook'), addType('b', 'webhook', 'newer'))
  assert.is(providerOf(s, 'webhook'), 'b')
  applyCatalogEvent(s, { type: 'worker.remove', worker_id: 'a' })
  assert.equal(s.triggerTypes.webhook, { worker_id: 'b', description: 'newer' })
})

it('triggerType.add and remove: only its holder removes it', () => {
  const s = catalog(addWorker('a'), addWorker('b'), addType('a', 'webhook', 'from a'))
  assert.equal(s.triggerTypes.webhook, { worker_id: 'a', description: 'from a' })
  assert.equal(s.workers.a.trigger_types.webhook, { description: 'from a' })
  // b does not hold it: the type stays with a.
  applyCatalogEvent(s, { type: 'triggerType.remove', worker_id: 'b', trigger_type: 'webhook' })
  assert.is(providerOf(s, 'webhook'), 'a')
  // Nor can a worker remove a built-in type.
  applyCatalogEvent(s, { type: 'triggerType.remove', worker_id: 'b', trigger_type: 'http' })
  assert.is(providerOf(s, 'http'), 'engine')
  applyCatalogEvent(s, { type: 'triggerType.remove', worker_id: 'a', trigger_type: 'webhook' })
  assert.is(providerOf(s, 'webhook'), undefined)
  assert.not.ok('webhook' in s.workers.a.trigger_types)
})

it('trigger.add, trigger.state, trigger.remove', () => {
  const s = catalog(addWorker('w'), addTrigger('w', trigger('t1')))
  assert.equal(s.workers.w.triggers.t1, trigger('t1'))
  applyCatalogEvent(s, { type: 'trigger.state', worker_id: 'w', id: 't1', state: 'active' })
  assert.is(s.workers.w.triggers.t1.state, 'active')
  // The state of an unknown trigger creates nothing.
  applyCatalogEvent(s, { type: 'trigger.state', worker_id: 'w', id: 'nope', state: 'parked' })
  assert.not.ok('nope' in s.workers.w.triggers)
  applyCatalogEvent(s, { type: 'trigger.remove', worker_id: 'w', id: 't1' })
  assert.not.ok('t1' in s.workers.w.triggers)
  assert.equal([...allTriggers(s)], [])
})

it('trigger.fail: the trigger leaves its worker and is kept among the recent failures, with its error, worker name and config', () => {
  const at = '2024-01-02T03:04:05.000Z'
  const s = catalog(addWorker('w'), { type: 'worker.describe', worker_id: 'w', info: { name: 'billing' } }, addTrigger('w', trigger('t1')), addTrigger('w', trigger('t2')))
  applyCatalogEvent(s, { type: 'trigger.fail', worker_id: 'w', id: 't1', error: { code: 'invalid_config', message: "'path' must start with /" }, at })
  assert.not.ok('t1' in s.workers.w.triggers)
  assert.is(s.workers.w.sizes.triggers, 1)
  assert.equal(s.failed, [
    { seq: 1, id: 't1', trigger_type: 'http', function_id: 'f', worker_id: 'w', worker_name: 'billing', config: { path: '/t1' }, from: 'pending', error: { code: 'invalid_config', message: "'path' must start with /" }, at },
  ])
  // From resending, with no message; a trigger that is not there (removed meanwhile) is no failure.
  applyCatalogEvent(s, { type: 'trigger.state', worker_id: 'w', id: 't2', state: 'resending' })
  applyCatalogEvent(s, { type: 'trigger.fail', worker_id: 'w', id: 't2', error: { code: 'provider_timeout' }, at })
  applyCatalogEvent(s, { type: 'trigger.fail', worker_id: 'w', id: 't2', error: { code: 'provider_timeout' }, at })
  assert.equal(s.failed.map((f) => [f.seq, f.id, f.from, f.error]), [
    [1, 't1', 'pending', { code: 'invalid_config', message: "'path' must start with /" }],
    [2, 't2', 'resending', { code: 'provider_timeout', message: '' }],
  ])
  assert.equal([...allTriggers(s)], [])
  // The failures outlive the worker.
  applyCatalogEvent(s, { type: 'worker.remove', worker_id: 'w' })
  assert.is(s.failed.length, 2)
})

it('trigger.fail: only the last RECENT_FAILURES are kept, oldest first; a large config and a long text are not kept whole', () => {
  const s = catalog(addWorker('w'))
  const at = '2024-01-01T00:00:00.000Z'
  for (let i = 1; i <= RECENT_FAILURES + 5; i++) {
    applyCatalogEvent(s, addTrigger('w', trigger(`t${i}`)))
    applyCatalogEvent(s, { type: 'trigger.fail', worker_id: 'w', id: `t${i}`, error: { code: 'invalid_config', message: 'bad' }, at })
  }
  assert.is(s.failed.length, RECENT_FAILURES)
  assert.is(s.failed[0].id, 't6')
  assert.is(s.failed[0].seq, 6)
  assert.is(s.failed[RECENT_FAILURES - 1].seq, RECENT_FAILURES + 5)
  assert.is(s.failed[0].worker_name, undefined)
  applyCatalogEvent(s, addTrigger('w', { ...trigger('big'), config: { blob: 'x'.repeat(5000) } }))
  applyCatalogEvent(s, { type: 'trigger.fail', worker_id: 'w', id: 'big', error: { code: 'refused', message: 'y'.repeat(5000) }, at })
  const big = s.failed[RECENT_FAILURES - 1]
  assert.is(big.id, 'big')
  assert.is(big.config, undefined)
  assert.is(big.error.message.length, 1000)
  assert.ok(big.error.message.endsWith('…'))
})

it('events for a worker that is not there change nothing', () => {
  const s = catalog(addWorker('w'), addFn('w', 'f'), addType('w', 'webhook'), addTrigger('w', trigger('t1')))
  const before = plain(s)
  const ghost = 'ghost'
  const events: CatalogEvent[] = [
    { type: 'worker.describe', worker_id: ghost, info: { x: 1 } },
    { type: 'worker.remove', worker_id: ghost },
    addFn(ghost, 'f'),
    addFn(ghost, 'g'),
    { type: 'function.remove', worker_id: ghost, function_id: 'f' },
    addType(ghost, 'other'),
    addType(ghost, 'webhook'),
    { type: 'triggerType.remove', worker_id: ghost, trigger_type: 'webhook' },
    addTrigger(ghost, trigger('t9')),
    { type: 'trigger.state', worker_id: ghost, id: 't1', state: 'active' },
    { type: 'trigger.remove', worker_id: ghost, id: 't1' },
    { type: 'trigger.fail', worker_id: ghost, id: 't1', error: { code: 'invalid_config', message: 'no' }, at: '2024-01-01T00:00:00.000Z' },
  ]
  for (const e of events) applyCatalogEvent(s, e)
  assert.equal(plain(s), before)
  // A worker that left is such a worker too.
  applyCatalogEvent(s, { type: 'worker.remove', worker_id: 'w' })
  applyCatalogEvent(s, addFn('w', 'late'))
  assert.not.ok('late' in s.functions)
  assert.not.ok('w' in s.workers)
})

it('ids such as __proto__ and constructor are ordinary keys', () => {
  const s = catalog(addWorker('__proto__'), addWorker('constructor'), addFn('__proto__', 'constructor'), addFn('constructor', '__proto__'))
  assert.equal(Object.keys(s.workers).sort(), ['__proto__', 'constructor'])
  assert.equal(s.functions['constructor'].workers, ['__proto__'])
  assert.equal(s.functions['__proto__'].workers, ['constructor'])
  assert.ok(isOffered(s, '__proto__'))
  assert.ok(isOffered(s, 'constructor'))
  // Names of Object.prototype members are not offered when nobody registered them.
  assert.not.ok(isOffered(s, 'toString'))
  assert.is(providerOf(s, 'toString'), undefined)
  assert.is(providerOf(s, '__proto__'), undefined)
  applyCatalogEvent(s, addType('constructor', '__proto__'))
  assert.is(providerOf(s, '__proto__'), 'constructor')
  applyCatalogEvent(s, addTrigger('__proto__', trigger('__proto__', 'constructor')))
  assert.equal([...allTriggers(s)].map((t) => [t.worker_id, t.id]), [['__proto__', '__proto__']])
  applyCatalogEvent(s, { type: 'worker.remove', worker_id: '__proto__' })
  assert.equal(Object.keys(s.workers), ['constructor'])
  assert.not.ok(isOffered(s, 'constructor'))
  assert.equal(Object.keys(s.functions), ['__proto__'])
  // Nothing leaked onto Object.prototype.
  assert.is(({} as Record<string, unknown>).workers, undefined)
  assert.is(Object.getPrototypeOf({}), Object.prototype)
})

it('allTriggers: every trigger of live workers, in worker order, with its worker id', () => {
  const s = catalog(addWorker('w1'), addWorker('w2'), addTrigger('w2', trigger('b1')), addTrigger('w1', trigger('a1')), addTrigger('w1', trigger('a2', 'g', 'cron')))
  assert.equal(
    [...allTriggers(s)],
    [
      { ...trigger('a1'), worker_id: 'w1' },
      { ...trigger('a2', 'g', 'cron'), worker_id: 'w1' },
      { ...trigger('b1'), worker_id: 'w2' },
    ],
  )
  // Copies: changing one does not change the catalog.
  const first = allTriggers(s).next().value!
  first.state = 'parked'
  assert.is(s.workers.w1.triggers.a1.state, 'pending')
})


it('sizes: functions, trigger types and triggers counted once each, down again when removed', () => {
  const s = catalog(addWorker('w1'), addFn('w1', 'f'), addFn('w1', 'f'), addFn('w1', 'g'), addType('w1', 'hook'), addType('w1', 'hook'), addTrigger('w1', trigger('a')), addTrigger('w1', trigger('a')), addTrigger('w1', trigger('b')))
  assert.equal(s.workers.w1.sizes, { functions: 2, trigger_types: 1, triggers: 2 })
  applyCatalogEvent(s, { type: 'function.remove', worker_id: 'w1', function_id: 'f' })
  applyCatalogEvent(s, { type: 'function.remove', worker_id: 'w1', function_id: 'f' })
  applyCatalogEvent(s, { type: 'triggerType.remove', worker_id: 'w1', trigger_type: 'hook' })
  applyCatalogEvent(s, { type: 'trigger.remove', worker_id: 'w1', id: 'a' })
  applyCatalogEvent(s, { type: 'trigger.remove', worker_id: 'w1', id: 'zz' })
  assert.equal(s.workers.w1.sizes, { functions: 1, trigger_types: 0, triggers: 1 })
})

it('worker.hold: its functions move to held (known, not offered), its types are released, its triggers stay', () => {
  const until = '2030-01-01T00:00:00.000Z'
  const s = catalog(addWorker('w1'), addWorker('w2'), addFn('w1', 'f'), addFn('w1', 'g'), addFn('w2', 'g'), addType('w1', 'hook'), addTrigger('w1', trigger('a', 'f')))
  applyCatalogEvent(s, { type: 'worker.hold', worker_id: 'w1', until })
  assert.equal(s.functions.f, { workers: [], held: ['w1'] })
  assert.equal(s.functions.g, { workers: ['w2'], held: ['w1'] })
  assert.not.ok(isOffered(s, 'f'))
  assert.ok(isKnown(s, 'f'))
  assert.is(heldUntil(s, 'f'), Date.parse(until))
  assert.is(heldUntil(s, 'nope'), undefined)
  assert.is(providerOf(s, 'hook'), undefined)
  assert.equal(Object.keys(s.workers.w1.triggers), ['a'])
  assert.is(s.workers.w1.held_until, until)
  // A second hold changes nothing; another worker may now provide the type.
  applyCatalogEvent(s, { type: 'worker.hold', worker_id: 'w1', until: '2040-01-01T00:00:00.000Z' })
  assert.is(s.workers.w1.held_until, until)
  applyCatalogEvent(s, addType('w2', 'hook'))
  assert.is(providerOf(s, 'hook'), 'w2')
  // Removing the held worker removes what it held, and only that.
  applyCatalogEvent(s, { type: 'worker.remove', worker_id: 'w1' })
  assert.not.ok('f' in s.functions)
  assert.equal(s.functions.g, { workers: ['w2'], held: [] })
  assert.is(providerOf(s, 'hook'), 'w2')
})

it('forwardedIdFor: the trigger\'s own id; told apart as <id>@<worker> only when another session\'s trigger of the type has it', () => {
  const forward = (worker_id: string, id: string, forwarded_id: string): CatalogEvent => ({ type: 'trigger.forward', worker_id, id, forwarded_id })
  const s = catalog(addWorker('w1'), addWorker('w2'), addWorker('w3'), addTrigger('w1', trigger('hook', 'f', 'webhook')), addTrigger('w2', trigger('hook', 'g', 'webhook')), addTrigger('w3', trigger('hook', 'h', 'other')))
  assert.is(forwardedIdFor(s, 'w1', 'hook', 'webhook'), 'hook')
  applyCatalogEvent(s, forward('w1', 'hook', 'hook'))
  assert.is(s.workers.w1.triggers.hook.forwarded_id, 'hook')
  // Asked again (a re-send): the id it has.
  assert.is(forwardedIdFor(s, 'w1', 'hook', 'webhook'), 'hook')
  // Another session, same id, same type: told apart. Another type: unchanged.
  assert.is(forwardedIdFor(s, 'w2', 'hook', 'webhook'), 'hook@w2')
  assert.is(forwardedIdFor(s, 'w3', 'hook', 'other'), 'hook')
  applyCatalogEvent(s, forward('w2', 'hook', 'hook@w2'))
  applyCatalogEvent(s, forward('w3', 'hook', 'hook'))
  assert.equal(JSON.parse(JSON.stringify(s.forwarded)), { webhook: { hook: { worker_id: 'w1', trigger_id: 'hook' }, 'hook@w2': { worker_id: 'w2', trigger_id: 'hook' } }, other: { hook: { worker_id: 'w3', trigger_id: 'hook' } } })
  // A forwarded id already taken is not given to a second registration.
  applyCatalogEvent(s, addTrigger('w2', trigger('x', 'g', 'webhook')))
  applyCatalogEvent(s, forward('w2', 'x', 'hook'))
  assert.is(s.workers.w2.triggers.x.forwarded_id, undefined)
  // Even the told-apart form taken (someone used it as an id): numbered.
  applyCatalogEvent(s, addTrigger('w1', trigger('hook@w2', 'f', 'webhook')))
  assert.is(forwardedIdFor(s, 'w1', 'hook@w2', 'webhook'), 'hook@w2@w1')
  // The ids are free again when the registration or its worker goes.
  applyCatalogEvent(s, { type: 'trigger.remove', worker_id: 'w1', id: 'hook' })
  assert.is(forwardedIdFor(s, 'w9', 'hook', 'webhook'), 'hook')
  applyCatalogEvent(s, { type: 'worker.remove', worker_id: 'w2' })
  applyCatalogEvent(s, { type: 'worker.remove', worker_id: 'w3' })
  assert.equal(JSON.parse(JSON.stringify(s.forwarded)), {})
})

it('forwardedIdFor: numbered when even <id>@<worker> is taken', () => {
  const s = catalog(addWorker('w1'), addWorker('w2'), addTrigger('w1', trigger('a', 'f', 'webhook')), addTrigger('w1', trigger('b', 'f', 'webhook')), addTrigger('w2', trigger('a', 'f', 'webhook')))
  applyCatalogEvent(s, { type: 'trigger.forward', worker_id: 'w1', id: 'a', forwarded_id: 'a' })
  applyCatalogEvent(s, { type: 'trigger.forward', worker_id: 'w1', id: 'b', forwarded_id: 'a@w2' })
  assert.is(forwardedIdFor(s, 'w2', 'a', 'webhook'), 'a@w2#2')
})

it('forwarded ids: releasing a session\'s triggers one by one, or all with the session, never enumerates the ids left (linear in the triggers released)', () => {
  const s = catalog(addWorker('w1'), addWorker('w2'))
  // The type's ids, watched: each enumeration of its keys is counted.
  let enumerations = 0
  s.forwarded.webhook = new Proxy(Object.create(null) as CatalogState['forwarded'][string], {
    ownKeys: (target) => (enumerations++, Reflect.ownKeys(target)),
  })
  const n = 500
  for (let i = 0; i < n; i++) {
    applyCatalogEvent(s, addTrigger('w1', trigger(`t${i}`, 'f', 'webhook')))
    applyCatalogEvent(s, { type: 'trigger.forward', worker_id: 'w1', id: `t${i}`, forwarded_id: `t${i}` })
  }
  applyCatalogEvent(s, addTrigger('w2', trigger('t0', 'g', 'webhook')))
  applyCatalogEvent(s, { type: 'trigger.forward', worker_id: 'w2', id: 't0', forwarded_id: 't0@w2' })
  for (let i = 0; i < n / 2; i++) applyCatalogEvent(s, { type: 'trigger.remove', worker_id: 'w1', id: `t${i}` })
  applyCatalogEvent(s, { type: 'worker.remove', worker_id: 'w1' })
  // Counted once, when the record was first seen; never once per release.
  assert.ok(enumerations <= 1, `the ids were enumerated ${enumerations} times`)
  assert.equal(Object.keys(s.forwarded), ['webhook'])
  assert.is(s.forwarded.webhook['t0@w2']?.worker_id, 'w2')
  assert.is(s.forwarded.webhook.t1, undefined)
  // The last one released: the type has no forwarded ids left, and no entry.
  applyCatalogEvent(s, { type: 'trigger.remove', worker_id: 'w2', id: 't0' })
  assert.ok(enumerations <= 1, `the ids were enumerated ${enumerations} times`)
  assert.equal(JSON.parse(JSON.stringify(s.forwarded)), {})
})

it('trigger.adopt: a registration takes over the forwarded id of the same trigger of the session it replaces; the old one leaving frees nothing', () => {
  const s = catalog(addWorker('old'), addWorker('new'), addWorker('other'), addTrigger('old', trigger('hook', 'f', 'webhook')), addTrigger('new', trigger('hook', 'f', 'webhook')), addTrigger('other', trigger('x', 'f', 'webhook')))
  applyCatalogEvent(s, { type: 'trigger.forward', worker_id: 'old', id: 'hook', forwarded_id: 'hook' })
  // Nothing to adopt: another worker's trigger of another id, or one of another type.
  applyCatalogEvent(s, { type: 'trigger.adopt', worker_id: 'other', id: 'x', from: 'old' })
  assert.is(s.workers.other.triggers.x.forwarded_id, undefined)
  applyCatalogEvent(s, { type: 'trigger.adopt', worker_id: 'new', id: 'hook', from: 'old' })
  assert.is(s.workers.new.triggers.hook.forwarded_id, 'hook')
  assert.is(s.workers.old.triggers.hook.forwarded_id, undefined)
  assert.equal(JSON.parse(JSON.stringify(s.forwarded)), { webhook: { hook: { worker_id: 'new', trigger_id: 'hook' } } })
  assert.is(forwardedIdFor(s, 'new', 'hook', 'webhook'), 'hook')
  applyCatalogEvent(s, { type: 'worker.remove', worker_id: 'old' })
  assert.equal(JSON.parse(JSON.stringify(s.forwarded)), { webhook: { hook: { worker_id: 'new', trigger_id: 'hook' } } })
  // Adopted once: asked again, nothing changes.
  applyCatalogEvent(s, { type: 'trigger.adopt', worker_id: 'new', id: 'hook', from: 'old' })
  assert.is(s.workers.new.triggers.hook.forwarded_id, 'hook')
})

it('forwardedOrigin: under the verdict\'s trigger_type, else under the types its provider provides', () => {
  const s = catalog(addWorker('p'), addWorker('w1'), addType('p', 'webhook'), addTrigger('w1', trigger('hook', 'f', 'webhook')))
  applyCatalogEvent(s, { type: 'trigger.forward', worker_id: 'w1', id: 'hook', forwarded_id: 'hook' })
  assert.equal(forwardedOrigin(s, 'hook', 'webhook', 'p'), { worker_id: 'w1', trigger_id: 'hook', trigger_type: 'webhook' })
  assert.equal(forwardedOrigin(s, 'hook', undefined, 'p'), { worker_id: 'w1', trigger_id: 'hook', trigger_type: 'webhook' })
  assert.equal(forwardedOrigin(s, 'hook', 'mistyped', 'p'), { worker_id: 'w1', trigger_id: 'hook', trigger_type: 'webhook' })
  assert.is(forwardedOrigin(s, 'hook', undefined, 'w1'), undefined, 'not from a session that provides nothing')
  assert.is(forwardedOrigin(s, 'nope', 'webhook', 'p'), undefined)
})

it('replacedBy: the successor offers every function and has every trigger of the held worker past pending', () => {
  const hold: CatalogEvent = { type: 'worker.hold', worker_id: 'old', until: '2030-01-01T00:00:00.000Z' }
  const active = (worker_id: string, id: string): CatalogEvent => ({ type: 'trigger.state', worker_id, id, state: 'active' })
  const s = catalog(addWorker('old'), addFn('old', 'f'), addFn('old', 'g'), addTrigger('old', trigger('route', 'f')), addTrigger('old', trigger('tick', 'g', 'cron')), active('old', 'route'), active('old', 'tick'), hold, addWorker('new'))
  assert.not.ok(replacedBy(s, 'old', 'new'), 'nothing yet')
  applyCatalogEvent(s, addFn('new', 'f'))
  applyCatalogEvent(s, addFn('new', 'g'))
  assert.not.ok(replacedBy(s, 'old', 'new'), 'the functions, no trigger yet')
  applyCatalogEvent(s, addTrigger('new', trigger('route', 'f')))
  applyCatalogEvent(s, addTrigger('new', trigger('tick', 'g', 'http')))
  applyCatalogEvent(s, active('new', 'route'))
  applyCatalogEvent(s, active('new', 'tick'))
  assert.not.ok(replacedBy(s, 'old', 'new'), "a trigger with the id but of another type is not the held worker's")
  applyCatalogEvent(s, { type: 'trigger.remove', worker_id: 'new', id: 'tick' })
  applyCatalogEvent(s, addTrigger('new', trigger('tick', 'g', 'cron')))
  assert.not.ok(replacedBy(s, 'old', 'new'), 'a trigger still pending')
  applyCatalogEvent(s, { type: 'trigger.state', worker_id: 'new', id: 'tick', state: 'parked' })
  assert.ok(replacedBy(s, 'old', 'new'), 'every function, every trigger past pending')
  // More than the held worker had is fine; a successor that is itself held, or gone, replaces nothing.
  applyCatalogEvent(s, addFn('new', 'h'))
  assert.ok(replacedBy(s, 'old', 'new'))
  assert.not.ok(replacedBy(s, 'old', 'nobody'))
  applyCatalogEvent(s, { type: 'worker.hold', worker_id: 'new', until: '2030-01-01T00:00:00.000Z' })
  assert.not.ok(replacedBy(s, 'old', 'new'))
  // A held worker already gone is replaced.
  assert.ok(replacedBy(s, 'gone', 'new'))
})

it.run()
