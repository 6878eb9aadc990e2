/**
 * core/options.ts, alone: `resolveEngineOptions` applies the defaults of OPTION_TABLE's
 * library column, passes good values through, and refuses bad ones with a TypeError
 * (wrong type, unknown key, also inside `http`) or a RangeError (number out of range),
 * each message starting with "createEngine: " and naming the option; the store forms;
 * and `defaultOf`.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { defaultOf, OPTION_TABLE, resolveEngineOptions, type Logger } from '../core/options.js'

/** The error `resolveEngineOptions(input)` throws; fails the test when it throws none. */
const refusal = (input: unknown): Error => {
  try {
    resolveEngineOptions(input)
  } catch (err) {
    return err as Error
  }
  throw new assert.Assertion({ message: `expected ${JSON.stringify(input)} to be refused`, generated: false, operator: 'throws', expects: 'an error', actual: 'none' })
}

const noop = () => {}
const logger: Logger = { debug: noop, info: noop, warn: noop, error: noop }
const MAX_MS = 2_147_483_647

const it = suite('core: options')

it('defaults: nothing given, every option takes its library default', () => {
  const lib = (path: string) => defaultOf(path, 'library')
  const expected = {
    host: lib('host'),
    http: undefined,
    store: { kind: 'memory' },
    cluster: undefined,
    deduplicationWindowSeconds: lib('deduplicationWindowSeconds'),
    registrationTimeoutMs: lib('registrationTimeoutMs'),
    invocationTimeoutMs: lib('invocationTimeoutMs'),
    reconnectGraceMs: lib('reconnectGraceMs'),
    limits: {
      functionsPerSession: lib('limits.functionsPerSession'),
      triggersPerSession: lib('limits.triggersPerSession'),
      triggerTypesPerSession: lib('limits.triggerTypesPerSession'),
      callsPerSession: lib('limits.callsPerSession'),
      callsInFlight: lib('limits.callsInFlight'),
      queueMessageBytes: lib('limits.queueMessageBytes'),
    },
    auth: undefined,
    graceMs: lib('graceMs'),
    heartbeatMs: lib('heartbeatMs'),
    maxPayload: lib('maxPayload'),
    logLevel: lib('logLevel'),
    console: lib('console'),
  }
  assert.equal(resolveEngineOptions(), expected)
  assert.equal(resolveEngineOptions({}), expected)
  assert.equal(resolveEngineOptions(undefined), expected)
  assert.equal(resolveEngineOptions(null), expected)
  // The library column says what an embedded engine does: no port, in memory, warnings only.
  assert.is(expected.host, '127.0.0.1')
  assert.is(lib('store'), 'memory')
  assert.is(expected.logLevel, 'warn')
  assert.is(expected.graceMs, 10_000)
})

it('defaults: every library default of the table is applied (http ones once http is given)', () => {
  const r = resolveEngineOptions({ http: { port: 0 } }) as unknown as Record<string, unknown>
  let checked = 0
  for (const row of OPTION_TABLE) {
    if (row.library === undefined || row.path === 'store') continue
    const [head, tail] = row.path.split('.')
    const value = tail === undefined ? r[head] : (r[head] as Record<string, unknown>)[tail]
    assert.is(value, row.library, row.path)
    checked++
  }
  assert.is(checked, OPTION_TABLE.filter((row) => row.library !== undefined && row.path !== 'store').length)
  assert.ok(checked >= 10)
})

it('given values pass through, http.host defaults to host', () => {
  const inspect = () => {}
  const r = resolveEngineOptions({
    host: '0.0.0.0',
    port: 65_535,
    http: { port: 0, maxBodyBytes: 0, timeoutMs: MAX_MS, headersTimeoutMs: 100, requestTimeoutMs: 200, keepAliveTimeoutMs: 0, maxConnections: 1, maxHeaderBytes: 1024 },
    registrationTimeoutMs: 1,
    invocationTimeoutMs: 2,
    graceMs: 0,
    heartbeatMs: 10,
    maxPayload: 1024,
    logLevel: 'silent',
    logger,
    inspect,
  })
  assert.equal(r.http, { host: '0.0.0.0', port: 0, maxBodyBytes: 0, timeoutMs: MAX_MS, headersTimeoutMs: 100, requestTimeoutMs: 200, keepAliveTimeoutMs: 0, maxConnections: 1, maxHeaderBytes: 1024 })
  const late = (() => {
    try {
      resolveEngineOptions({ http: { port: 0, headersTimeoutMs: 5000, requestTimeoutMs: 1000 } })
    } catch (e) {
      return e as Error
    }
  })()
  assert.instance(late, RangeError)
  assert.is(late!.message, "createEngine: option 'http.headersTimeoutMs' (5000) must not be more than 'http.requestTimeoutMs' (1000): the headers are part of the request")
  assert.is(r.host, '0.0.0.0')
  assert.is(r.port, 65_535)
  assert.is(r.registrationTimeoutMs, 1)
  assert.is(r.invocationTimeoutMs, 2)
  assert.is(r.graceMs, 0)
  assert.is(r.heartbeatMs, 10)
  assert.is(r.maxPayload, 1024)
  assert.is(r.logLevel, 'silent')
  assert.is(r.logger, logger)
  assert.is(r.inspect, inspect)
  // Its own host wins; without an engine host, the default host.
  assert.is(resolveEngineOptions({ host: 'a', http: { port: 1, host: 'b' } }).http?.host, 'b')
  assert.is(resolveEngineOptions({ http: { port: 1 } }).http?.host, '127.0.0.1')
})

it('inspect: a function or an observer with next()', () => {
  const observer = { next: noop }
  assert.is(resolveEngineOptions({ inspect: observer }).inspect, observer)
  const e = refusal({ inspect: {} })
  assert.instance(e, TypeError)
  assert.is(e.message, "createEngine: option 'inspect' must be a function or an observer with next(), got an object")
})

it('store: memory, sqlite with its path, or jetstream with its server', () => {
  assert.equal(resolveEngineOptions({ store: 'memory' }).store, { kind: 'memory' })
  assert.equal(resolveEngineOptions({ store: { sqlite: '/tmp/q.sqlite' } }).store, { kind: 'sqlite', path: '/tmp/q.sqlite' })
  for (const store of ['sqlite', 'MEMORY', 5, null]) {
    const e = refusal({ store })
    assert.instance(e, typeof store === 'string' ? RangeError : TypeError, JSON.stringify(store))
    assert.ok(e.message.startsWith("createEngine: option 'store' must be 'memory', { sqlite: '<file>' } or { jetstream: 'nats://host:4222' }, got "), e.message)
  }
  assert.is(refusal({ store: {} }).message, "createEngine: option 'store.sqlite' is required")
  assert.is(refusal({ store: { sqlite: 5 } }).message, "createEngine: option 'store.sqlite' must be a string, got 5")
})

it('cluster: its NATS and name (default signalbox); it implies the JetStream store there, and refuses any other store', () => {
  const resolved = resolveEngineOptions({ cluster: { nats: 'nats://127.0.0.1:4222' } })
  assert.equal(resolved.cluster, { servers: 'nats://127.0.0.1:4222', name: 'signalbox' })
  assert.equal(resolved.store, { kind: 'jetstream', servers: 'nats://127.0.0.1:4222', name: 'signalbox' })
  assert.equal(resolveEngineOptions({ cluster: { nats: 'nats://a:4222,nats://b:4222', name: 'eu-1' } }).store, { kind: 'jetstream', servers: 'nats://a:4222,nats://b:4222', name: 'eu-1' })
  // The same store, said twice, is no conflict.
  assert.equal(resolveEngineOptions({ cluster: { nats: 'nats://h:4222' }, store: { jetstream: 'nats://h:4222' } }).store.kind, 'jetstream')
  const other = refusal({ cluster: { nats: 'nats://h:4222' }, store: 'memory' })
  assert.instance(other, RangeError)
  assert.is(other.message, "createEngine: option 'store' must be left out with 'cluster' (the cluster keeps its queues in the JetStream store on its own NATS server), got 'memory'")
  assert.is(refusal({ cluster: { nats: 'localhost:4222' } }).message, "createEngine: option 'cluster.nats' must be a NATS URL such as nats://127.0.0.1:4222, got 'localhost:4222'")
  assert.is(refusal({ cluster: { nats: 'nats://h:4222', name: 'a b' } }).message, "createEngine: option 'cluster.name' must be 1 to 64 letters, digits, '_' or '-', got 'a b'")
  assert.is(refusal({ cluster: {} }).message, "createEngine: option 'cluster.nats' is required")
  assert.is(refusal({ cluster: 'nats://h:4222' }).message, "createEngine: option 'cluster' must be an object, got 'nats://h:4222'")
  assert.is(refusal({ cluster: { nats: 'nats://h:4222', port: 1 } }).message, "createEngine: unknown option 'cluster.port'")
})

it('store on JetStream: its server, its name (default signalbox); a refusal names the field of the jetstream store', () => {
  assert.equal(resolveEngineOptions({ store: { jetstream: 'nats://127.0.0.1:4222' } }).store, { kind: 'jetstream', servers: 'nats://127.0.0.1:4222', name: 'signalbox' })
  assert.equal(resolveEngineOptions({ store: { jetstream: 'nats://a:4222,nats://b:4222', name: 'orders-1' } }).store, { kind: 'jetstream', servers: 'nats://a:4222,nats://b:4222', name: 'orders-1' })
  const url = refusal({ store: { jetstream: 'localhost:4222' } })
  assert.instance(url, RangeError)
  assert.is(url.message, "createEngine: option 'store.jetstream' must be a NATS URL such as nats://127.0.0.1:4222, got 'localhost:4222'")
  assert.is(refusal({ store: { jetstream: 4222 } }).message, "createEngine: option 'store.jetstream' must be a string, got 4222")
  assert.is(refusal({ store: { jetstream: 'nats://h:4222', name: 'a.b' } }).message, "createEngine: option 'store.name' must be 1 to 64 letters, digits, '_' or '-', got 'a.b'")
  assert.is(refusal({ store: { jetstream: 'nats://h:4222', sqlite: 'q.db' } }).message, "createEngine: unknown option 'store.sqlite'")
  assert.is(refusal({ store: [] }).message, "createEngine: option 'store' must be 'memory', { sqlite: '<file>' } or { jetstream: 'nats://host:4222' }, got an array")
})

it('unknown keys: TypeError naming the key, also inside http', () => {
  const top = refusal({ prot: 80 })
  assert.instance(top, TypeError)
  assert.is(top.message, "createEngine: unknown option 'prot'")
  const inner = refusal({ http: { port: 80, maxBody: 1 } })
  assert.instance(inner, TypeError)
  assert.is(inner.message, "createEngine: unknown option 'http.maxBody'")
  // Options of `serve` only are unknown here.
  assert.is(refusal({ dataDir: '.' }).message, "createEngine: unknown option 'dataDir'")
})

it('wrong types: TypeError naming the option path', () => {
  const cases: Array<[unknown, string]> = [
    ['x', "createEngine: options must be an object, got 'x'"],
    [5, 'createEngine: options must be an object, got 5'],
    [{ http: 'x' }, "createEngine: option 'http' must be an object, got 'x'"],
    [{ port: '80' }, "createEngine: option 'port' must be a whole number from 0 to 65535, got '80'"],
    [{ http: { port: '80' } }, "createEngine: option 'http.port' must be a whole number from 0 to 65535, got '80'"],
    [{ http: { port: 1, host: 3 } }, "createEngine: option 'http.host' must be a string, got 3"],
    [{ host: 5 }, "createEngine: option 'host' must be a string, got 5"],
    [{ graceMs: null }, "createEngine: option 'graceMs' must be a whole number from 0 to 3600000, got null"],
    [{ logger: { info: noop } }, "createEngine: option 'logger' must have debug, info, warn and error functions (pino's calling convention), got an object"],
  ]
  for (const [input, message] of cases) {
    const e = refusal(input)
    assert.instance(e, TypeError, message)
    assert.is(e.message, message)
  }
})

it('out of range: RangeError naming the option path', () => {
  const cases: Array<[unknown, string]> = [
    [{ port: -1 }, "createEngine: option 'port' must be a whole number from 0 to 65535, got -1"],
    [{ port: 65_536 }, "createEngine: option 'port' must be a whole number from 0 to 65535, got 65536"],
    [{ port: 80.5 }, "createEngine: option 'port' must be a whole number from 0 to 65535, got 80.5"],
    [{ http: { port: 70_000 } }, "createEngine: option 'http.port' must be a whole number from 0 to 65535, got 70000"],
    [{ http: { port: 1, maxBodyBytes: -1 } }, "createEngine: option 'http.maxBodyBytes' must be a whole number from 0 to 2147483647, got -1"],
    [{ http: { port: 1, timeoutMs: 0 } }, "createEngine: option 'http.timeoutMs' must be a whole number from 1 to 2147483647, got 0"],
    [{ http: { port: 1, host: '' } }, "createEngine: option 'http.host' must not be empty, got ''"],
    [{ host: '' }, "createEngine: option 'host' must not be empty, got ''"],
    [{ registrationTimeoutMs: 0 }, "createEngine: option 'registrationTimeoutMs' must be a whole number from 1 to 2147483647, got 0"],
    [{ invocationTimeoutMs: MAX_MS + 1 }, "createEngine: option 'invocationTimeoutMs' must be a whole number from 1 to 2147483647, got 2147483648"],
    [{ graceMs: 3_600_001 }, "createEngine: option 'graceMs' must be a whole number from 0 to 3600000, got 3600001"],
    [{ heartbeatMs: 9 }, "createEngine: option 'heartbeatMs' must be a whole number from 10 to 2147483647, got 9"],
    [{ maxPayload: 1023 }, "createEngine: option 'maxPayload' must be a whole number from 1024 to 2147483647, got 1023"],
  ]
  for (const [input, message] of cases) {
    const e = refusal(input)
    assert.instance(e, RangeError, message)
    assert.is(e.message, message)
  }
})

it('the first bad option is the one named', () => {
  const e = refusal({ port: -1, graceMs: -1 })
  assert.match(e.message, "'port'")
  assert.not.match(e.message, 'graceMs')
})

it('http without its port: the message names http.port', () => {
  const e = refusal({ http: {} })
  assert.instance(e, TypeError)
  assert.is(e.message, "createEngine: option 'http.port' is required")
})

it('store with an empty sqlite path: RangeError naming store.sqlite', () => {
  const e = refusal({ store: { sqlite: '' } })
  assert.instance(e, RangeError)
  assert.is(e.message, "createEngine: option 'store.sqlite' must not be empty, got ''")
})

it('store with an unknown key, or a name other than memory: the message says which', () => {
  const e = refusal({ store: { sqlite: 'q.db', wal: true } })
  assert.instance(e, TypeError)
  assert.is(e.message, "createEngine: unknown option 'store.wal'")
  const named = refusal({ store: 'mem' })
  assert.instance(named, RangeError)
  assert.is(named.message, "createEngine: option 'store' must be 'memory', { sqlite: '<file>' } or { jetstream: 'nats://host:4222' }, got 'mem'")
  assert.instance(refusal({ store: 5 }), TypeError)
})

it('an array is not an options object', () => {
  const e = refusal([])
  assert.instance(e, TypeError)
  assert.is(e.message, 'createEngine: options must be an object, got an array')
  assert.is(refusal({ http: [] }).message, "createEngine: option 'http' must be an object, got an array")
})

it('a log level that is not one of the levels is out of range', () => {
  const e = refusal({ logLevel: 'loud' })
  assert.instance(e, RangeError)
  assert.is(e.message, "createEngine: option 'logLevel' must be one of debug, info, warn, error, silent, got 'loud'")
  assert.instance(refusal({ logLevel: 3 }), TypeError)
})

it('defaultOf: the library and serve columns; unknown paths throw', () => {
  assert.is(defaultOf('port', 'library'), undefined)
  assert.is(defaultOf('port', 'serve'), 49134)
  assert.is(defaultOf('http.port', 'serve'), 3111)
  assert.is(defaultOf('store', 'library'), 'memory')
  assert.is(defaultOf('store', 'serve'), 'sqlite')
  assert.is(defaultOf('logLevel', 'serve'), 'info')
  assert.is(defaultOf('dataDir', 'serve'), './.signalbox')
  assert.throws(() => defaultOf('nope', 'library'), (e: Error) => e.message === "no option 'nope' in the table")
  // Every row's path is unique.
  assert.is(new Set(OPTION_TABLE.map((r) => r.path)).size, OPTION_TABLE.length)
})


it('limits: each given limit passes through, the others keep their defaults; bad ones name the limit', () => {
  const r = resolveEngineOptions({ limits: { triggersPerSession: 5, queueMessageBytes: 1 } })
  assert.is(r.limits.triggersPerSession, 5)
  assert.is(r.limits.queueMessageBytes, 1)
  assert.is(r.limits.functionsPerSession, defaultOf('limits.functionsPerSession', 'library'))
  assert.is(refusal({ limits: { triggersPerSession: 0 } }).message, "createEngine: option 'limits.triggersPerSession' must be a whole number from 1 to 1000000, got 0")
  assert.instance(refusal({ limits: { callsInFlight: 1.5 } }), RangeError)
  assert.is(refusal({ limits: { calls: 1 } }).message, "createEngine: unknown option 'limits.calls'")
  assert.is(refusal({ limits: 5 }).message, "createEngine: option 'limits' must be an object, got 5")
  assert.is(refusal({ reconnectGraceMs: -1 }).message, "createEngine: option 'reconnectGraceMs' must be a whole number from 0 to 600000, got -1")
})

it('auth: tokens are checked in full and kept as hashes; a function is kept as it is; refusals name the field', () => {
  const r = resolveEngineOptions({ auth: { tokens: [{ name: 'ops', token: 'secret-token' }, { name: 'ci', sha256: 'A'.repeat(64), scope: { invoke: ['ci::*'] } }] } })
  assert.is(r.auth?.kind, 'tokens')
  const entries = r.auth?.kind === 'tokens' ? r.auth.table.entries : []
  assert.equal(entries.map((e) => e.name), ['ops', 'ci'])
  assert.is(entries[1].hash.toString('hex'), 'a'.repeat(64))
  assert.equal(entries[1].scope, { register: [], invoke: ['ci::*'], trigger_types: [], queues: [], provide_trigger_types: false, engine: false })
  assert.ok(!JSON.stringify(entries).includes('secret-token'))
  const fn = () => undefined
  const f = resolveEngineOptions({ auth: fn }).auth
  assert.ok(f?.kind === 'function' && f.authenticate === fn)
  assert.is(refusal({ auth: 'x' }).message, "createEngine: option 'auth' must be { tokens: [...] } or a function (request) => scope | undefined, got a string (not shown: it may be a secret)")
  assert.is(refusal({ auth: {} }).message, "createEngine: option 'auth.tokens': 'tokens' is required: a list of { name, token or sha256, scope? }")
  assert.is(refusal({ auth: { tokens: [] } }).message, "createEngine: option 'auth.tokens': 'tokens' is empty: no connection could ever be let in; list at least one { name, token or sha256, scope? }")
  assert.is(refusal({ auth: { tokens: [{ name: 'a' }] } }).message, "createEngine: option 'auth.tokens[0]': each token needs exactly one of 'token' (its text) or 'sha256' (its hash)")
  assert.is(refusal({ auth: { tokens: [{ name: 'a', sha256: 'abc' }] } }).message, "createEngine: option 'auth.tokens[0].sha256': 'sha256' must be 64 hex digits (signalbox token hash <token> prints them)")
  assert.is(
    refusal({ auth: { tokens: [{ name: 'a', token: 'long-enough', scope: { invoke: 'x' } }] } }).message,
    `createEngine: option 'auth.tokens[0].scope.invoke': 'invoke' must be a list of patterns such as ["billing::*"], got 'x'`,
  )
  assert.is(
    refusal({ auth: { tokens: [{ name: 'a', token: 'long-enough', scope: { admin: true } }] } }).message,
    "createEngine: option 'auth.tokens[0].scope.admin': unknown scope field 'admin' (known: register, invoke, trigger_types, queues, provide_trigger_types, engine)",
  )
})

it.run()
