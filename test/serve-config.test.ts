/**
 * cli/serve-config.ts alone: every `serve` flag is a variable and a config-file key;
 * values from the three sources and the defaults, in their order of precedence; each
 * refusal names the key as its source spells it. (test/cli.test.ts does the same through
 * real processes.) And the pretty log takes one line per record.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { CliError } from '../cli/cli-error.js'
import { checkConfigFile, ConfigFileSchema, engineUrl, resolveServeConfig, SERVE_SETTINGS, type LoadedConfigFile } from '../cli/serve-config.js'
import { envOf, OPTION_TABLE } from '../core/options.js'

const it = suite('serve settings')

const failure = (fn: () => unknown): CliError => {
  try {
    fn()
  } catch (err) {
    if (err instanceof CliError) return err
    throw err
  }
  throw new Error('expected a CliError')
}
const file = (data: object, name = './signalbox.config.json'): LoadedConfigFile => ({ path: `/srv/app/${name.replace(/^\.\//, '')}`, name, data: checkConfigFile(data, name) })

it('every serve flag has a variable and a key of the config file', () => {
  assert.equal(
    SERVE_SETTINGS.map((s) => s.flag),
    OPTION_TABLE.filter((r) => r.flag).map((r) => r.flag),
  )
  for (const s of SERVE_SETTINGS) {
    assert.is(s.env, envOf(s.flag))
    assert.match(s.env, /^SIGNALBOX_[A-Z_]+$/)
    const [head, tail] = s.path.split('.')
    const entry = (ConfigFileSchema.entries as Record<string, unknown>)[head]
    assert.ok(entry, `the file takes '${head}'`)
    if (tail) assert.ok((entry as { wrapped: { entries: Record<string, unknown> } }).wrapped.entries[tail], `the file takes '${s.path}'`)
  }
  assert.is(envOf('--http-port'), 'SIGNALBOX_HTTP_PORT')
})

it('precedence: a flag over a variable over the file over the default, setting by setting', () => {
  const cwd = '/work'
  const defaults = resolveServeConfig({ flags: {}, env: {}, cwd })
  assert.equal([defaults.options.port, defaults.options.http?.port, defaults.options.logLevel, defaults.options.store], [49134, 3111, 'info', { sqlite: '/work/.signalbox/queues.sqlite' }])
  assert.equal(defaults.origins['http.port'], { source: 'default', key: '--http-port' })

  const f = file({ port: 1, http: { port: 2, timeoutMs: 5 }, logLevel: 'warn', dataDir: 'state' })
  const fromFile = resolveServeConfig({ flags: {}, env: {}, file: f, cwd })
  assert.equal([fromFile.options.port, fromFile.options.http?.port, fromFile.options.http?.timeoutMs, fromFile.options.logLevel], [1, 2, 5, 'warn'])
  assert.is(fromFile.dataDir, '/srv/app/state', "a relative dataDir in the file is the file's folder's")
  assert.equal(fromFile.origins['http.port'], { source: 'file', key: "'http.port' in ./signalbox.config.json" })

  const env = { SIGNALBOX_HTTP_PORT: '3', SIGNALBOX_LOG_LEVEL: 'error', SIGNALBOX_DATA_DIR: 'data', SIGNALBOX_INSPECT: 'true' }
  const fromEnv = resolveServeConfig({ flags: {}, env, file: f, cwd })
  assert.equal([fromEnv.options.port, fromEnv.options.http?.port, fromEnv.options.logLevel, fromEnv.dataDir, fromEnv.inspect], [1, 3, 'error', '/work/data', {}])
  assert.equal(fromEnv.origins['http.port'], { source: 'env', key: 'SIGNALBOX_HTTP_PORT' })

  const fromFlags = resolveServeConfig({ flags: { '--http-port': '4', '--inspect': 'ws://x:1' }, env, file: f, cwd })
  assert.equal([fromFlags.options.port, fromFlags.options.http?.port, fromFlags.options.logLevel, fromFlags.inspect], [1, 4, 'error', { url: 'ws://x:1' }])
  assert.equal(fromFlags.origins['http.port'], { source: 'flag', key: '--http-port' })
  assert.is(resolveServeConfig({ flags: {}, env: { SIGNALBOX_PORT: '' }, cwd }).options.port, 49134, 'an empty variable is unset')
  assert.is(resolveServeConfig({ flags: {}, env: { SIGNALBOX_STORE: 'memory' }, cwd }).options.store, 'memory')
  const nats = resolveServeConfig({ flags: { '--store': 'jetstream' }, env: { SIGNALBOX_NATS: 'nats://10.0.0.5:4222' }, cwd })
  assert.equal(nats.options.store, { jetstream: 'nats://10.0.0.5:4222' }, '--store jetstream with the server from SIGNALBOX_NATS')
  assert.equal(resolveServeConfig({ flags: {}, env: {}, file: file({ store: 'jetstream', nats: 'nats://a:4222,nats://b:4222' }), cwd }).options.store, { jetstream: 'nats://a:4222,nats://b:4222' })
  // --cluster implies the JetStream store on its NATS: no store of its own is passed on.
  const cluster = resolveServeConfig({ flags: { '--cluster': 'nats://10.0.0.5:4222' }, env: {}, cwd })
  assert.equal([cluster.options.cluster, cluster.options.store], [{ nats: 'nats://10.0.0.5:4222' }, undefined])
  assert.equal(resolveServeConfig({ flags: {}, env: { SIGNALBOX_CLUSTER: 'nats://n:4222' }, cwd }).options.cluster, { nats: 'nats://n:4222' })
  assert.equal(resolveServeConfig({ flags: {}, env: {}, file: file({ cluster: 'nats://n:4222', store: 'jetstream', nats: 'nats://n:4222' }), cwd }).options.cluster, { nats: 'nats://n:4222' })
})

it('refusals name the key as its source spells it, with a hint', () => {
  const cwd = '/work'
  const cases: Array<[() => unknown, string]> = [
    [() => resolveServeConfig({ flags: { '--port': 'x' }, env: {}, cwd }), "--port must be a whole number from 0 to 65535, got 'x'"],
    [() => resolveServeConfig({ flags: {}, env: { SIGNALBOX_GRACE_MS: '-5' }, cwd }), "SIGNALBOX_GRACE_MS must be a whole number from 0 to 3600000, got '-5'"],
    [() => resolveServeConfig({ flags: {}, env: { SIGNALBOX_INSPECT: 'maybe' }, cwd }), "SIGNALBOX_INSPECT must be true, false or a ws:// URL, got 'maybe'"],
    [() => resolveServeConfig({ flags: {}, env: { SIGNALBOX_INSPECT_PORT: '0' }, cwd }), "SIGNALBOX_INSPECT_PORT must be a whole number from 1 to 65535, got '0'"],
    [() => file({ maxPayload: 10 }), "'maxPayload' in ./signalbox.config.json must be a whole number from 1024 to 2147483647, got 10"],
    [() => file({ store: 5 }), `'store' in ./signalbox.config.json must be sqlite, memory or jetstream, or as createEngine takes it, {"sqlite": "<file>"} or {"jetstream": "nats://host:4222", "name": "<name>"}, got 5`],
    [() => file({ store: 'jetstream', nats: 'localhost:4222' }), "'nats' in ./signalbox.config.json must be a NATS URL such as nats://127.0.0.1:4222 (several: comma-separated), got 'localhost:4222'"],
    [() => resolveServeConfig({ flags: { '--store': 'jetstream' }, env: {}, cwd }), '--store jetstream needs the NATS server that keeps the queues'],
    [() => resolveServeConfig({ flags: {}, env: { SIGNALBOX_NATS: 'nats://127.0.0.1:4222' }, cwd }), 'SIGNALBOX_NATS is for the jetstream store, but the store is sqlite (--store)'],
    [() => resolveServeConfig({ flags: { '--cluster': 'nats://n:4222', '--store': 'sqlite' }, env: {}, cwd }), '--cluster keeps the queues in the JetStream store on its NATS server, but the store is sqlite (--store)'],
    [() => resolveServeConfig({ flags: { '--cluster': 'nats://n:4222' }, env: { SIGNALBOX_NATS: 'nats://m:4222' }, cwd }), "SIGNALBOX_NATS (nats://m:4222) is not the cluster's NATS server (--cluster nats://n:4222)"],
    [() => resolveServeConfig({ flags: { '--cluster': 'n:4222' }, env: {}, cwd }), "--cluster must be a NATS URL such as nats://127.0.0.1:4222 (several: comma-separated), got 'n:4222'"],
    [() => file({ http: 3111 }), "'http' in ./signalbox.config.json must be an object, got 3111"],
    [() => file({ logger: {} }), "unknown key 'logger' in ./signalbox.config.json"],
    [() => file({ http: { host: '::' } }), "unknown key 'http.host' in ./signalbox.config.json"],
  ]
  for (const [fn, message] of cases) {
    const err = failure(fn)
    assert.is(err.message, message)
    assert.ok(err.hint && err.hint.length > 0, `${message}: a hint`)
    assert.is(err.exitCode, 2)
  }
  assert.is(failure(() => file({ loglevel: 'info' })).hint, "did you mean 'logLevel'? the keys are " + Object.keys(ConfigFileSchema.entries).map((k) => `'${k}'`).join(', '))
})

it("the file's store and cluster also take createEngine's shapes, mapped to serve's settings; a flag still wins; a wrong key inside is named", () => {
  const cwd = '/work'
  let c = resolveServeConfig({ flags: {}, env: {}, cwd, file: file({ store: { sqlite: 'state/q.sqlite' } }) })
  assert.equal(c.options.store, { sqlite: '/srv/app/state/q.sqlite' }, 'relative to the file, as dataDir is')
  assert.is(c.dataDir, '/srv/app/state')
  assert.is(c.origins.dataDir.key, "'store.sqlite' in ./signalbox.config.json")
  // --data-dir wins over the file's store file; --store memory over the file's store.
  c = resolveServeConfig({ flags: { '--data-dir': 'here' }, env: {}, cwd, file: file({ store: { sqlite: 'state/q.sqlite' } }) })
  assert.equal(c.options.store, { sqlite: '/work/here/queues.sqlite' })
  c = resolveServeConfig({ flags: { '--store': 'memory' }, env: {}, cwd, file: file({ store: { sqlite: 'state/q.sqlite' } }) })
  assert.is(c.options.store, 'memory')
  c = resolveServeConfig({ flags: {}, env: {}, cwd, file: file({ store: { jetstream: 'nats://10.0.0.1:4222', name: 'eu' } }) })
  assert.equal(c.options.store, { jetstream: 'nats://10.0.0.1:4222', name: 'eu' })
  c = resolveServeConfig({ flags: {}, env: {}, cwd, file: file({ cluster: { nats: 'nats://10.0.0.1:4222', name: 'eu' } }) })
  assert.equal(c.options.cluster, { nats: 'nats://10.0.0.1:4222', name: 'eu' })
  assert.is(c.options.store, undefined)
  c = resolveServeConfig({ flags: { '--cluster': 'nats://10.0.0.2:4222' }, env: {}, cwd, file: file({ cluster: { nats: 'nats://10.0.0.1:4222', name: 'eu' } }) })
  assert.equal(c.options.cluster, { nats: 'nats://10.0.0.2:4222' }, 'the flag wins, whole')
  // The serve shapes still work.
  c = resolveServeConfig({ flags: {}, env: {}, cwd, file: file({ store: 'jetstream', nats: 'nats://10.0.0.1:4222' }) })
  assert.equal(c.options.store, { jetstream: 'nats://10.0.0.1:4222' })

  const refused = (data: object) => failure(() => resolveServeConfig({ flags: {}, env: {}, cwd, file: file(data) }))
  let e = refused({ store: { sqlite: 'q.sqlite' }, dataDir: 'state' })
  assert.is(e.message, "'dataDir' and 'store.sqlite' in ./signalbox.config.json both say where the SQLite store is")
  e = refused({ store: { jetstream: 'nats://a:4222' }, nats: 'nats://b:4222' })
  assert.is(e.message, "'nats' and 'store.jetstream' in ./signalbox.config.json both name the NATS server of the queues")
  e = failure(() => file({ store: { sqlite: 5 } }))
  assert.match(e.message, /^'store\.sqlite' in \.\/signalbox\.config\.json must be /)
  assert.match(e.hint!, /^'store\.sqlite' in \.\/signalbox\.config\.json: Where queued messages live/)
  e = failure(() => file({ store: { sqlite: 'q.sqlite', wal: true } }))
  assert.is(e.message, "unknown key 'store.wal' in ./signalbox.config.json")
  assert.is(e.hint, "the keys are 'store.sqlite'")
  e = failure(() => file({ cluster: { nats: 'nats://a:4222', nmae: 'eu' } }))
  assert.is(e.message, "unknown key 'cluster.nmae' in ./signalbox.config.json")
  assert.is(e.hint, "did you mean 'cluster.name'? the keys are 'cluster.nats', 'cluster.name'")
  e = failure(() => file({ cluster: { nats: 'http://a' } }))
  assert.is(e.message, "'cluster.nats' in ./signalbox.config.json must be a NATS URL such as nats://127.0.0.1:4222, got 'http://a'")
  e = failure(() => file({ store: 'disk' }))
  assert.match(e.message, /^'store' in \.\/signalbox\.config\.json must be sqlite, memory or jetstream, or as createEngine takes it/)
})

it('ls and invoke find the engine at --url, SIGNALBOX_URL, or where serve would listen', () => {
  assert.equal(engineUrl('ws://a:1', { SIGNALBOX_URL: 'ws://b:2' }, undefined), { url: 'ws://a:1', key: '--url' })
  assert.equal(engineUrl(undefined, { SIGNALBOX_URL: 'ws://b:2', SIGNALBOX_PORT: '5' }, undefined), { url: 'ws://b:2', key: 'SIGNALBOX_URL' })
  assert.is(engineUrl(undefined, { SIGNALBOX_PORT: '5' }, undefined).url, 'ws://127.0.0.1:5')
  assert.is(engineUrl(undefined, {}, file({ host: '0.0.0.0', port: 7 })).url, 'ws://127.0.0.1:7', 'every interface is reached on 127.0.0.1')
  assert.is(engineUrl(undefined, { SIGNALBOX_HOST: '::1' }, undefined).url, 'ws://[::1]:49134')
  assert.is(engineUrl(undefined, {}, undefined).url, 'ws://127.0.0.1:49134')
})

it('the pretty log (a terminal) takes one line per record, its fields on that line', () => {
  const logger = fileURLToPath(new URL('../adapters/logger.js', import.meta.url))
  const script = `import { createLogger } from ${JSON.stringify(logger)}; const log = createLogger('info', { pretty: true }); log.info({ worker_id: 'w1', worker: 'billing', error: { code: 'x', message: 'y' } }, 'trigger registration refused'); log.warn({ a: 1 }, 'second')`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
  assert.is(r.status, 0, r.stderr)
  const lines = r.stderr.trimEnd().split('\n')
  assert.is(lines.length, 2, r.stderr)
  assert.match(lines[0], /trigger registration refused.*"worker":\s*"billing"/)
  assert.match(lines[1], /second.*"a":\s*1/)
})

it.run()
