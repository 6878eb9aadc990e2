/**
 * The settings of `signalbox serve`, from wherever a person put them: flags, environment
 * variables (`SIGNALBOX_PORT`, `SIGNALBOX_HTTP_PORT`, …: `envOf` in core/options.ts), a
 * config file (`signalbox.config.json` in the working folder, or the one `--config FILE`
 * or `SIGNALBOX_CONFIG` names), and the `serve` defaults of the table of engine options.
 * A flag wins over a variable, a variable over the file, the file over the default.
 *
 * Every value is checked with its option's valibot schema, and a refusal names the key as
 * its source spells it: `--http-port must be …, got '70000'`, `SIGNALBOX_HTTP_PORT must be
 * …`, `'http.port' in signalbox.config.json must be …, got 70000`; an unknown key in the
 * file is named too, with the key it was probably meant to be.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import * as v from 'valibot'
import { closest } from '../core/closest.js'
import { parseTokens, TokensError, type Tokens } from '../core/auth.js'
import { envOf, NATS_URL, OPTION_TABLE, optionSchema, resolveEngineOptions, type EngineOptions, type LogLevel } from '../core/options.js'
import { shown } from '../protocol/values.js'
import { CliError } from './cli-error.js'

/** The config file `serve` reads from the working folder when no other is named. */
export const CONFIG_FILE = 'signalbox.config.json'
/** The variable that names a config file, like `--config`. */
export const CONFIG_ENV = 'SIGNALBOX_CONFIG'

/** One setting of `serve`: a row of the table that has a flag. */
export interface ServeSetting {
  /** The option's path (`http.port`); also its key in the config file, nested (`{"http": {"port": …}}`). */
  path: string
  flag: string
  env: string
  meaning: string
  serve: unknown
}

export const SERVE_SETTINGS: readonly ServeSetting[] = OPTION_TABLE.filter((row) => row.flag !== undefined).map((row) => ({
  path: row.path,
  flag: row.flag!,
  env: envOf(row.flag!),
  meaning: row.meaning,
  serve: row.serve,
}))

/** Where a setting's value came from, and how that source spells its key. */
export interface Origin {
  source: 'flag' | 'env' | 'file' | 'default'
  /** `--http-port`, `SIGNALBOX_HTTP_PORT`, `'http.port' in ./signalbox.config.json`; the flag for a default. */
  key: string
}

/** What `serve` runs with. */
export interface ServeConfig {
  /** The engine's options (without the logger and the inspector, which `serve` makes). */
  options: EngineOptions
  /** The folder of the SQLite store. */
  dataDir: string
  /** `--inspect`: the inspector to send to (`url`), or a local bridge (no url). */
  inspect?: { url?: string }
  inspectPort: number
  /** Where each setting came from, by path, so a message can name the key a person set. */
  origins: Record<string, Origin>
  /** The config file that was read, if any. */
  file?: string
}

// ---------------------------------------------------------------------------------------
// Values. Each setting's schema says `option '<path>' must be …`; the source's key replaces
// the `option '<path>'` part.

const wsUrl = (path: string) =>
  v.pipe(
    v.string((issue) => `option '${path}' must be true, false or a ws:// URL, got ${shown(issue.input)}`),
    v.regex(/^wss?:\/\/\S+$/, (issue) => `option '${path}' must be true, false or a ws:// URL, got ${shown(issue.input)}`),
  )

/** A token as `--token` takes it: text of at least 8 characters, no spaces (it goes in a header). */
const tokenText = (path: string) =>
  v.pipe(
    v.string((issue) => `option '${path}' must be a token of at least 8 characters, got ${shown(issue.input)}`),
    v.regex(/^\S{8,}$/, (issue) => `option '${path}' must be a token of at least 8 characters without spaces, got ${issue.input.length < 8 ? `${issue.input.length} characters` : 'one with spaces'}`),
  )

/** The schemas of the settings that are not `createEngine` options as they are. */
const SERVE_ONLY: Record<string, v.GenericSchema> = {
  store: v.picklist(['sqlite', 'memory', 'jetstream'], (issue) => `option 'store' must be sqlite, memory or jetstream, got ${shown(issue.input)}`),
  nats: v.pipe(
    v.string((issue) => `option 'nats' must be a NATS URL such as nats://127.0.0.1:4222, got ${shown(issue.input)}`),
    v.regex(NATS_URL, (issue) => `option 'nats' must be a NATS URL such as nats://127.0.0.1:4222 (several: comma-separated), got ${shown(issue.input)}`),
  ),
  cluster: v.pipe(
    v.string((issue) => `option 'cluster' must be a NATS URL such as nats://127.0.0.1:4222, got ${shown(issue.input)}`),
    v.regex(NATS_URL, (issue) => `option 'cluster' must be a NATS URL such as nats://127.0.0.1:4222 (several: comma-separated), got ${shown(issue.input)}`),
  ),
  dataDir: v.pipe(
    v.string((issue) => `option 'dataDir' must be a folder, got ${shown(issue.input)}`),
    v.nonEmpty(() => "option 'dataDir' must not be empty"),
  ),
  inspect: v.union([v.boolean(), wsUrl('inspect')], (issue) => `option 'inspect' must be true, false or a ws:// URL, got ${shown(issue.input)}`),
  token: v.union(
    [tokenText('token'), v.pipe(v.array(tokenText('token')), v.nonEmpty(() => "option 'token' must not be an empty list"))],
    (issue) => `option 'token' must be a token of at least 8 characters, or a list of them, got ${shown(issue.input)}`,
  ),
  tokensFile: v.pipe(
    v.string((issue) => `option 'tokensFile' must be the path of a JSON file, got ${shown(issue.input)}`),
    v.nonEmpty(() => "option 'tokensFile' must not be empty"),
  ),
  insecure: v.boolean((issue) => `option 'insecure' must be true or false, got ${shown(issue.input)}`),
  inspectPort: v.pipe(
    v.number((issue) => `option 'inspectPort' must be a whole number from 1 to 65535, got ${shown(issue.input)}`),
    v.integer((issue) => `option 'inspectPort' must be a whole number from 1 to 65535, got ${shown(issue.input)}`),
    v.minValue(1, (issue) => `option 'inspectPort' must be a whole number from 1 to 65535, got ${shown(issue.input)}`),
    v.maxValue(65_535, (issue) => `option 'inspectPort' must be a whole number from 1 to 65535, got ${shown(issue.input)}`),
  ),
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/**
 * In the config file, `store` and `cluster` also take the shapes `createEngine` takes:
 * `{"sqlite": "<file>"}`, `{"jetstream": "nats://…", "name": "…"}`, `{"nats": "nats://…",
 * "name": "…"}`, checked by createEngine's own schemas; a flag or a variable takes text.
 */
const FILE_SHAPES: Record<string, v.GenericSchema> = {
  store: v.lazy((input) =>
    isObject(input)
      ? optionSchema('store')!
      : v.picklist(['sqlite', 'memory', 'jetstream'], (issue) => `option 'store' must be sqlite, memory or jetstream, or as createEngine takes it, {"sqlite": "<file>"} or {"jetstream": "nats://host:4222", "name": "<name>"}, got ${shown(issue.input)}`),
  ),
  cluster: v.lazy((input) => (isObject(input) ? optionSchema('cluster')! : SERVE_ONLY.cluster)),
}
/** The keys of the objects `store` and `cluster` take in the file, for "did you mean". */
const shapeKeys = (head: string, value: unknown): string[] | undefined =>
  head === 'cluster' ? ['nats', 'name'] : head === 'store' ? (isObject(value) && Object.hasOwn(value, 'jetstream') ? ['jetstream', 'name'] : ['sqlite']) : undefined

/** The schema of a setting's value. */
function schemaOf(path: string): v.GenericSchema {
  const schema = SERVE_ONLY[path] ?? optionSchema(path)
  if (!schema) throw new Error(`no schema for the serve setting '${path}'`)
  return schema
}

/**
 * What a config file may hold: the settings, nested as `createEngine` nests them
 * (`{"port": 49134, "http": {"port": 3111}, "store": "sqlite", "dataDir": "./.signalbox"}`);
 * `store` and `cluster` as `serve`'s flags take them (`"sqlite"`, `"nats://…"`) or as
 * `createEngine` does (`{"sqlite": "./queues.sqlite"}`, `{"nats": "nats://…", "name": "eu"}`).
 */
export const ConfigFileSchema = v.strictObject(fileEntries())
/** The file's keys, from the settings: `http.port` is `{"http": {"port": …}}`. */
function fileEntries(): Record<string, v.GenericSchema> {
  const top: Record<string, v.GenericSchema> = {}
  const nested: Record<string, Record<string, v.GenericSchema>> = {}
  for (const path of [...SERVE_SETTINGS.map((s) => s.path), 'inspectPort']) {
    const [head, tail] = path.split('.')
    if (tail === undefined) top[head] = v.optional(FILE_SHAPES[head] ?? schemaOf(path))
    else {
      // The nested key takes the place of its first setting, so keys keep the table's order.
      if (!(head in top)) top[head] = v.any()
      ;(nested[head] ??= {})[tail] = v.optional(schemaOf(path))
    }
  }
  for (const [head, entries] of Object.entries(nested)) top[head] = v.optional(v.strictObject(entries))
  return top
}
export type ConfigFile = v.InferOutput<typeof ConfigFileSchema>

/** A schema's refusal said of `key`: `option 'http.port' must be …, got 70000` → `<key> must be …`. */
const renamed = (message: string, key: string, text: boolean) => {
  const said = message.replace(/^option '[^']+'/, key)
  // A value typed as text is shown as it was typed.
  return text ? said.replace(/, got (-?\d+)$/, ", got '$1'") : said
}

/**
 * Text (a flag's or a variable's value) as the setting takes it: a number where the setting
 * is a number (text that is not one goes on as text, for the schema to refuse by name),
 * true or false for `inspect` (`1`, `true`, `yes`, `on` / `0`, `false`, `no`, `off`).
 */
function fromText(setting: ServeSetting, text: string): unknown {
  if (setting.path === 'inspect' || setting.path === 'insecure') return /^(1|true|yes|on)$/i.test(text) ? true : /^(0|false|no|off)$/i.test(text) ? false : text
  if (typeof setting.serve === 'number' && /^-?\d+$/.test(text)) return Number(text)
  return text
}

/** Checks one value; throws a CliError that names `key`. */
function checked(path: string, value: unknown, origin: Origin, text: boolean): unknown {
  const parsed = v.safeParse(schemaOf(path), value, { abortEarly: true })
  if (parsed.success) return parsed.output
  const setting = SERVE_SETTINGS.find((s) => s.path === path)!
  throw new CliError(renamed(parsed.issues[0].message, origin.key, text), hintFor(setting, origin))
}

/** The hint for a bad value: what the setting is. */
function hintFor(setting: ServeSetting, origin: Origin): string {
  const what = setting.meaning.replace(/`/g, '')
  return `${origin.key}: ${what} ('signalbox help serve' lists every setting)`
}

// ---------------------------------------------------------------------------------------
// The config file

/**
 * Reads the config file: the one `--config` or `SIGNALBOX_CONFIG` names (which must
 * exist), else `signalbox.config.json` in `cwd` if there is one. Throws a CliError that
 * names the file when it cannot be read, is not JSON, or holds what `serve` does not take.
 */
export function readConfigFile(named: string | undefined, env: Record<string, string | undefined>, cwd: string): LoadedConfigFile | undefined {
  const given = named ?? (env[CONFIG_ENV] || undefined)
  const path = resolve(cwd, given ?? CONFIG_FILE)
  /** The file as messages name it: as it was given, or `./signalbox.config.json`. */
  const name = given ?? `./${CONFIG_FILE}`
  if (given === undefined && !existsSync(path)) return undefined
  const how = named !== undefined ? '--config' : given !== undefined ? CONFIG_ENV : undefined
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new CliError(
      `cannot read the config file ${given}${how ? ` (${how})` : ''}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'it is a folder' : e.message}`,
      `give ${how ?? '--config'} the path of a JSON file, e.g. ./${CONFIG_FILE}`,
    )
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    throw new CliError(`${name} is not valid JSON: ${(err as Error).message}`, `the config file holds one JSON object, e.g. {"port": 49134, "http": {"port": 3111}}`)
  }
  return { path, name, data: checkConfigFile(data, name) }
}

/** A config file that was read: where it is, how messages name it, and what it holds. */
export interface LoadedConfigFile {
  path: string
  name: string
  data: ConfigFile
}

/** Checks what a config file holds; throws a CliError naming the key that is wrong. */
export function checkConfigFile(data: unknown, name: string): ConfigFile {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new CliError(`${name} must hold one JSON object, got ${Array.isArray(data) ? 'an array' : shown(data)}`, `e.g. {"port": 49134, "http": {"port": 3111}}`)
  }
  const parsed = v.safeParse(ConfigFileSchema, data, { abortEarly: true })
  if (parsed.success) return parsed.output
  const issue = parsed.issues[0]
  const keys = (issue.path ?? []).map((p) => String(p.key))
  if (issue.expected === 'never') {
    // A key that is not a setting: name it, and the one it was probably meant to be.
    const key = String(issue.input)
    const where = keys.slice(0, -1)
    const known =
      where.length === 0
        ? Object.keys(ConfigFileSchema.entries)
        : (shapeKeys(where[0], (data as Record<string, unknown>)[where[0]]) ?? SERVE_SETTINGS.filter((s) => s.path.startsWith(`${where[0]}.`)).map((s) => s.path.slice(where[0].length + 1)))
    const full = [...where, key].join('.')
    const guess = closest(key, known)
    throw new CliError(`unknown key '${full}' in ${name}`, `${guess ? `did you mean '${[...where, guess].join('.')}'? ` : ''}the keys are ${known.map((k) => `'${[...where, k].join('.')}'`).join(', ')}`)
  }
  const path = keys.join('.')
  // A key inside `store` or `cluster` is told of with that setting's meaning.
  const setting = SERVE_SETTINGS.find((s) => s.path === path) ?? (keys.length > 1 && shapeKeys(keys[0], undefined) ? SERVE_SETTINGS.find((s) => s.path === keys[0]) : undefined)
  const key = `'${path}' in ${name}`
  if (!setting) throw new CliError(`'${path}' in ${name} must be an object, got ${shown(issue.input)}`, `e.g. "http": {"port": 3111}`)
  throw new CliError(renamed(issue.message, key, false), hintFor(setting, { source: 'file', key }))
}

/** The value at `path` of the file (`http.port` → `data.http.port`). */
const at = (data: ConfigFile, path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], data)

// ---------------------------------------------------------------------------------------
// Putting it together

export interface Sources {
  /** Flag values by flag (`--http-port`); `--inspect` as true or its URL, `--insecure` as true, `--token` as a list. */
  flags: Record<string, string | string[] | true | undefined>
  env: Record<string, string | undefined>
  file?: LoadedConfigFile
  cwd: string
}

/** The value of each setting from the first source that has it, checked; throws a CliError naming the key. */
export function resolveServeConfig({ flags, env, file, cwd }: Sources): ServeConfig {
  const origins: Record<string, Origin> = {}
  const values: Record<string, unknown> = {}
  for (const s of SERVE_SETTINGS) {
    const flag = flags[s.flag]
    const variable = env[s.env]
    const inFile = file ? at(file.data, s.path) : undefined
    let origin: Origin
    let value: unknown
    if (flag !== undefined) {
      origin = { source: 'flag', key: s.flag }
      value = flag === true ? true : Array.isArray(flag) ? checked(s.path, flag.length === 1 ? flag[0] : flag, origin, true) : checked(s.path, fromText(s, flag), origin, true)
    } else if (variable !== undefined && variable !== '') {
      origin = { source: 'env', key: s.env }
      value = checked(s.path, fromText(s, variable), origin, true)
    } else if (inFile !== undefined) {
      origin = { source: 'file', key: `'${s.path}' in ${file!.name}` }
      value = inFile
    } else {
      origin = { source: 'default', key: s.flag }
      value = s.serve
    }
    origins[s.path] = origin
    values[s.path] = value
  }
  const get = <T>(path: string) => values[path] as T
  // `store` and `cluster` as createEngine takes them (only the file gives them so) are read into serve's settings.
  const given = fromEngineShapes(get('store'), get('cluster'), get<string | undefined>('nats'), origins, file)
  // A relative data folder in the file is the file's; anywhere else, the working folder's.
  const dataDir = given.sqlite !== undefined ? dirname(given.sqlite) : resolve(origins.dataDir.source === 'file' ? dirname(file!.path) : cwd, get<string>('dataDir'))
  const inspect = get<boolean | string | undefined>('inspect')
  // Every setting that is a createEngine option as it is goes to its path; the store is the data folder's file, or the NATS server.
  const options: Record<string, unknown> =
    given.cluster === undefined
      ? { store: storeOf(given.store, given.nats, given.name, given.sqlite ?? join(dataDir, 'queues.sqlite'), origins) }
      : { cluster: { nats: clusterOf(given.cluster, given.store, given.nats, given.name, given.clusterName ?? 'signalbox', origins), ...(given.clusterName !== undefined && { name: given.clusterName }) } }
  for (const { path } of SERVE_SETTINGS) {
    if (path in SERVE_ONLY) continue
    const [head, tail] = path.split('.')
    if (tail === undefined) options[head] = get(path)
    else ((options[head] ??= {}) as Record<string, unknown>)[tail] = get(path)
  }
  const auth = authOf(get<string | string[] | undefined>('token'), get<string | undefined>('tokensFile'), origins, file, cwd)
  if (auth) options.auth = auth
  refuseOpenHost(get<string>('host'), auth !== undefined, get<boolean>('insecure'), origins)
  refuseOpenBridge(get<string>('host'), get('inspect') === true, get<boolean>('insecure'), origins)
  // Each value passed its own schema; this is the engine's own check of the whole.
  resolveEngineOptions(options)
  return {
    options: options as EngineOptions,
    dataDir,
    inspect: inspect === true ? {} : typeof inspect === 'string' ? { url: inspect } : undefined,
    inspectPort: get('inspectPort'),
    origins,
    file: file?.path,
  }
}


/** serve's settings of the store and the cluster, with createEngine's shapes from the file read into them. */
interface StoreSettings {
  store: string
  nats?: string
  /** The JetStream store's name (`store.name` in the file). */
  name?: string
  /** The SQLite file (`store.sqlite` in the file), absolute. */
  sqlite?: string
  cluster?: string
  clusterName?: string
}

/**
 * Reads `{"sqlite": …}`, `{"jetstream": …, "name": …}` and `{"nats": …, "name": …}` of the
 * file into serve's settings. A flag or a variable still wins over the file: `--data-dir`
 * over `store.sqlite`, `--nats` over `store.jetstream`. Two keys of the file that say the
 * same thing differently are refused, naming both.
 */
function fromEngineShapes(store: unknown, cluster: unknown, nats: string | undefined, origins: Record<string, Origin>, file: LoadedConfigFile | undefined): StoreSettings {
  const out: StoreSettings = { store: store as string, nats }
  if (isObject(cluster)) {
    out.cluster = cluster.nats as string
    out.clusterName = cluster.name as string
  } else out.cluster = cluster as string | undefined
  if (!isObject(store)) return out
  const where = file!.name
  if (typeof store.jetstream === 'string') {
    out.store = 'jetstream'
    out.name = store.name as string
    if (origins.nats.source === 'file') {
      throw new CliError(`'nats' and 'store.jetstream' in ${where} both name the NATS server of the queues`, `keep one: {"store": {"jetstream": "${store.jetstream}"}} or {"store": "jetstream", "nats": "${store.jetstream}"}`)
    }
    if (origins.nats.source === 'default') out.nats = store.jetstream
    if (origins.nats.source === 'default') origins.nats = { source: 'file', key: `'store.jetstream' in ${where}` }
    return out
  }
  out.store = 'sqlite'
  if (origins.dataDir.source === 'file') {
    throw new CliError(`'dataDir' and 'store.sqlite' in ${where} both say where the SQLite store is`, `keep one: 'store.sqlite' names the file, 'dataDir' the folder of queues.sqlite`)
  }
  // A flag or a variable for the data folder wins over the file's store file.
  if (origins.dataDir.source === 'default') {
    out.sqlite = resolve(dirname(file!.path), store.sqlite as string)
    origins.dataDir = { source: 'file', key: `'store.sqlite' in ${where}` }
  }
  return out
}

/** The cluster's NATS server: `--cluster` implies the JetStream store on it, so `--store` and `--nats` may only say the same. */
function clusterOf(cluster: string, store: string, nats: string | undefined, name: string | undefined, clusterName: string, origins: Record<string, Origin>): string {
  if (origins.store.source !== 'default' && store !== 'jetstream') {
    throw new CliError(`${origins.cluster.key} keeps the queues in the JetStream store on its NATS server, but the store is ${store} (${origins.store.key})`, `leave out ${origins.store.key}: a cluster's engines share their queues on NATS`)
  }
  if (nats !== undefined && nats !== cluster) {
    throw new CliError(`${origins.nats.key} (${nats}) is not the cluster's NATS server (${origins.cluster.key} ${cluster})`, `leave out ${origins.nats.key}: the cluster's queues are on its own NATS server`)
  }
  if (name !== undefined && name !== clusterName) {
    throw new CliError(`the store's name '${name}' (${origins.store.key}) is not the cluster's ('${clusterName}', ${origins.cluster.key})`, `leave out the store: a cluster keeps its queues in its own JetStream store, under its name`)
  }
  return cluster
}

/** The engine's `store` from `--store` and `--nats`: each is refused where the other does not fit. */
function storeOf(store: string, nats: string | undefined, name: string | undefined, sqlite: string, origins: Record<string, Origin>): unknown {
  if (store === 'jetstream') {
    if (nats === undefined) {
      throw new CliError(`${origins.store.key} jetstream needs the NATS server that keeps the queues`, `give it with --nats nats://HOST:4222 (or ${envOf('--nats')}); start one with nats-server -js`)
    }
    return name === undefined ? { jetstream: nats } : { jetstream: nats, name }
  }
  if (nats !== undefined) {
    throw new CliError(`${origins.nats.key} is for the jetstream store, but the store is ${store} (${origins.store.key})`, `pass --store jetstream to keep the queues on NATS, or leave out ${origins.nats.key}`)
  }
  return store === 'memory' ? 'memory' : { sqlite }
}

// ---------------------------------------------------------------------------------------
// Auth

/**
 * The engine's `auth` from `--token` (each with every permission, named `token 1`,
 * `token 2`, …) and the tokens file (read and checked here, so a refusal names the file
 * and the field: `./tokens.json: tokens[0].sha256: …`); undefined when neither is given.
 */
function authOf(token: string | string[] | undefined, tokensFile: string | undefined, origins: Record<string, Origin>, file: LoadedConfigFile | undefined, cwd: string): Tokens | undefined {
  const given = token === undefined ? [] : Array.isArray(token) ? token : [token]
  const tokens: Tokens['tokens'] = given.map((t, i) => ({ name: given.length === 1 ? 'token' : `token ${i + 1}`, token: t }))
  if (tokensFile !== undefined) {
    const origin = origins.tokensFile
    const path = resolve(origin.source === 'file' ? dirname(file!.path) : cwd, tokensFile)
    const how = `${tokensFile} (${origin.key})`
    let data: unknown
    try {
      data = JSON.parse(readFileSync(path, 'utf8'))
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'it is a folder' : e instanceof SyntaxError ? `not valid JSON: ${e.message}` : e.message
      throw new CliError(`cannot read the tokens file ${how}: ${why}`, TOKENS_HINT)
    }
    try {
      parseTokens(data)
    } catch (err) {
      if (!(err instanceof TokensError)) throw err
      throw new CliError(`the tokens file ${how} is refused: ${err.path ? `${err.path}: ` : ''}${err.reason}`, TOKENS_HINT)
    }
    tokens.push(...(data as Tokens).tokens)
  }
  return tokens.length === 0 && tokensFile === undefined ? undefined : { tokens }
}

const TOKENS_HINT = `a tokens file holds {"tokens": [{"name": "billing", "sha256": "<signalbox token hash <token>>", "scope": {"register": ["billing::*"]}}]}; see docs/security.md`

/** Whether `host` only accepts connections from this machine. */
export const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)

/** Refuses a worker port open to the network with no auth, unless `--insecure` says so. */
function refuseOpenHost(host: string, auth: boolean, insecure: boolean, origins: Record<string, Origin>): void {
  if (auth || insecure || isLoopback(host)) return
  throw new CliError(
    `refusing to listen on ${host} (${origins.host.key}) without auth: anyone who reaches the worker port could register functions, bind routes and call every function`,
    'give workers a token with --token <token> (or SIGNALBOX_TOKEN, or --tokens-file FILE for scoped tokens; docs/security.md), or pass --insecure to listen without auth anyway',
  )
}

/**
 * Refuses the local inspector bridge on a host other than loopback unless `--insecure`:
 * it has no auth, and relays every actor's events (call data included) to whoever connects.
 */
function refuseOpenBridge(host: string, bridge: boolean, insecure: boolean, origins: Record<string, Origin>): void {
  if (!bridge || insecure || isLoopback(host)) return
  throw new CliError(
    `refusing to start the inspector bridge on ${host} (${origins.host.key}): it has no auth and relays every actor's events, call data included, to anyone who connects`,
    'use a loopback --host with --inspect, send to an inspector you run elsewhere with --inspect ws://…, or pass --insecure to open it anyway',
  )
}

/** The variable that gives `ls` and `invoke` their token, like `--token` (and `serve` its own). */
export const TOKEN_ENV = 'SIGNALBOX_TOKEN'

/** The variable that tells `ls` and `invoke` where the engine is, like `--url`. */
export const URL_ENV = 'SIGNALBOX_URL'

/**
 * Where `ls` and `invoke` find the engine: `--url`, else `SIGNALBOX_URL`, else where
 * `serve` would listen with the same variables and config file (`SIGNALBOX_HOST`,
 * `SIGNALBOX_PORT`, `host` and `port` in the file; an address of every interface is
 * reached on 127.0.0.1), else `ws://127.0.0.1:49134`.
 */
export function engineUrl(flag: string | undefined, env: Record<string, string | undefined>, file: { data: ConfigFile } | undefined): { url: string; key: string } {
  if (flag !== undefined) return { url: flag, key: '--url' }
  if (env[URL_ENV]) return { url: env[URL_ENV]!, key: URL_ENV }
  const host = String(env[envOf('--host')] || file?.data.host || OPTION_TABLE.find((r) => r.path === 'host')!.serve)
  const port = String(env[envOf('--port')] || file?.data.port || OPTION_TABLE.find((r) => r.path === 'port')!.serve)
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  return { url: `ws://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`, key: '--url' }
}
