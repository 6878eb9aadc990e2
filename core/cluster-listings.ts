/**
 * The cluster's listings, the pure part: the other engines' answers to a listing
 * (`<name>.listing`, gathered by actors/cluster.ts) checked, then merged with this
 * engine's own: the queues (counts from the store every engine shares, consumers from each
 * engine), one worker, function or registered trigger found wherever it lives, and the
 * Prometheus text of every engine. Anything may be published on NATS: an answer that does
 * not have the shape of one is refused, and said why (the cluster actor logs it). The
 * design is in docs/cluster.md ("Listings, /healthz and /metrics").
 */
import * as v from 'valibot'
import { GatheredPart } from '../protocol/cluster.js'
import { ENGINE_PROVIDER } from './catalog.js'

/** How long an engine waits for the others' parts of a listing (ms): an engine slower than that is left out. */
export const GATHER_WAIT_MS = 1000

const problemOf = (issues: readonly v.BaseIssue<unknown>[]): string => {
  const issue = issues[0]
  const path = issue.path?.map((p) => String(p.key)).join('.')
  return path ? `${path}: ${issue.message}` : issue.message
}

/** Why `value` does not match `schema`, or undefined when it does. */
export function shapeProblem(schema: v.GenericSchema, value: unknown): string | undefined {
  const parsed = v.safeParse(schema, value)
  return parsed.success ? undefined : problemOf(parsed.issues)
}

/**
 * The parts of a listing worth merging: those with the shape of a part, from an engine
 * other than this one (`self`), whose result (when they answered one) `check` accepts
 * (given the result and the engine it comes from).
 * An error answer (the engine does not have what was asked, say) is kept as it is.
 * The others are refused, each with the engine it claims to come from and why.
 */
export function acceptParts(
  raw: readonly unknown[],
  self: string,
  check?: (result: unknown, engine_id: string) => string | undefined,
): { parts: GatheredPart[]; refused: Array<{ engine_id?: string; why: string }> } {
  const parts: GatheredPart[] = []
  const refused: Array<{ engine_id?: string; why: string }> = []
  const seen = new Set<string>()
  for (const item of raw) {
    const parsed = v.safeParse(GatheredPart, item)
    if (!parsed.success) {
      const claimed = (item as { engine_id?: unknown } | null)?.engine_id
      refused.push({ engine_id: typeof claimed === 'string' ? claimed : undefined, why: `not a listing's answer: ${problemOf(parsed.issues)}` })
      continue
    }
    const part = parsed.output
    if (part.engine_id === self || seen.has(part.engine_id)) {
      refused.push({ engine_id: part.engine_id, why: part.engine_id === self ? "an answer in this engine's name" : 'a second answer of the same engine' })
      continue
    }
    if (part.result === undefined && part.error === undefined) {
      refused.push({ engine_id: part.engine_id, why: 'an answer with neither a result nor an error' })
      continue
    }
    if (part.error === undefined && check) {
      const why = check(part.result, part.engine_id)
      if (why !== undefined) {
        refused.push({ engine_id: part.engine_id, why })
        continue
      }
    }
    seen.add(part.engine_id)
    parts.push(part)
  }
  return { parts, refused }
}

// ------------------------------------------------------------------------------ rows

/** A listing's answer whose `key` is an array of objects (the rows of `engine::workers::list`, say). */
export const rowsProblem = (key: string) => (result: unknown) => shapeProblem(v.object({ [key]: v.array(v.record(v.string(), v.unknown())) }), result)

// ------------------------------------------------------------------------ trigger types

/** A row of `engine::triggers::list` or `engine::trigger-types::list` as another engine answers it: the type and who provides it. */
const TypeRow = v.looseObject({ id: v.string(), worker_id: v.string() })
type TypeRow = v.InferOutput<typeof TypeRow>
/** A trigger types listing's answer whose `key` holds the rows. */
export const typeRowsProblem = (key: string) => (result: unknown) => shapeProblem(v.object({ [key]: v.array(TypeRow) }), result)

/**
 * The trigger types of the cluster (`engine::triggers::list`, `engine::trigger-types::list`):
 * this engine's rows (`own`: its built-in types and its workers' types), then each other
 * engine's worker-defined types (`parts`; their built-in types, `worker_id: 'engine'`, are
 * every engine's and listed once, as this engine's), each row with the `engine_id` of the
 * engine its provider is connected to. One row per type: should two engines list one type
 * (a claim being settled), the row of the engine the types bucket names (`holder`) is kept,
 * else the first (this engine's). Sorted by id, as `engine::triggers::list` on one engine.
 */
export function mergeTypeRows<R extends TypeRow>(
  self: string,
  own: readonly R[],
  parts: ReadonlyArray<{ engine_id: string; rows: readonly R[] }>,
  holder: (trigger_type: string) => string | undefined,
): Array<R & { engine_id: string }> {
  const byId = new Map<string, R & { engine_id: string }>()
  const add = (engine_id: string, row: R) => {
    const known = byId.get(row.id)
    if (!known || (known.engine_id !== engine_id && holder(row.id) === engine_id)) byId.set(row.id, { ...row, engine_id })
  }
  for (const row of own) add(self, row)
  for (const part of parts) for (const row of part.rows) if (row.worker_id !== ENGINE_PROVIDER) add(part.engine_id, row)
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

// ----------------------------------------------------------------------------- queues

const count = v.pipe(v.number(), v.integer(), v.minValue(0))

export const QueueConsumer = v.object({ worker_id: v.string(), trigger_id: v.string(), function_id: v.string(), in_flight: count })
export const QueueRow = v.object({
  queue_name: v.string(),
  ready: count,
  in_flight: count,
  delayed: count,
  dead_lettered: count,
  oldest_message_age_seconds: v.optional(count),
  fifo: v.boolean(),
  consumers: v.array(QueueConsumer),
})
export type QueueRow = v.InferOutput<typeof QueueRow>
/** A queue of the cluster: each consumer with the engine it runs on. */
export type ClusterQueueRow = Omit<QueueRow, 'consumers'> & { consumers: Array<v.InferOutput<typeof QueueConsumer> & { engine_id: string }> }

/** `engine::queue::list`'s answer. */
export const QueueList = v.object({ queues: v.array(QueueRow) })
export const queueListProblem = (result: unknown) => shapeProblem(QueueList, result)

/**
 * The queues of the cluster (`engine::queue::list`), from this engine's list (`own`) and
 * the other engines' (`parts`, checked by `queueListProblem`). The store is shared, so a
 * queue's counts are the cluster's on every engine: this engine's figures when it lists the
 * queue, else the first other engine's (a queue only another engine consumes, and holds
 * nothing). What is each engine's own is the consumers (the queue triggers bound there, and
 * the batches each has in flight): all of them, each with its `engine_id`. A queue is FIFO
 * when any engine's consumers say so. Sorted by name, as on one engine.
 */
export function mergeQueueLists(self: string, own: readonly QueueRow[], parts: ReadonlyArray<{ engine_id: string; queues: readonly QueueRow[] }>): ClusterQueueRow[] {
  const byName = new Map<string, ClusterQueueRow>()
  const add = (engine_id: string, row: QueueRow) => {
    const consumers = row.consumers.map((c) => ({ ...c, engine_id }))
    const known = byName.get(row.queue_name)
    if (!known) return void byName.set(row.queue_name, { ...row, consumers })
    known.fifo ||= row.fifo
    known.consumers.push(...consumers)
  }
  for (const row of own) add(self, row)
  for (const part of parts) for (const row of part.queues) add(part.engine_id, row)
  return [...byName.values()].sort((a, b) => (a.queue_name < b.queue_name ? -1 : a.queue_name > b.queue_name ? 1 : 0))
}

// ------------------------------------------------------------------------- one of each

/**
 * A worker or registered trigger found in the cluster: this engine's (`own`), else the
 * first other engine's result (the others answered not found), with the `engine_id` of the
 * engine it lives on; undefined when no engine has it.
 */
export function foundInCluster<T extends Record<string, unknown>>(self: string, own: T | undefined, parts: readonly GatheredPart[]): (T & { engine_id: string }) | undefined {
  if (own) return { ...own, engine_id: self }
  for (const part of parts) {
    if (part.error === undefined && typeof part.result === 'object' && part.result !== null && !Array.isArray(part.result)) {
      return { ...(part.result as T), engine_id: part.engine_id }
    }
  }
  return undefined
}

/** What `engine::workers::info` answers: checked when it comes from another engine. */
export const WorkerInfoAnswer = v.object({ worker: v.object({ worker_id: v.string() }), functions: v.array(v.unknown()), trigger_types: v.array(v.unknown()), registered_triggers: v.array(v.unknown()) })
/** What `engine::registered-triggers::info` answers. */
export const RegisteredTriggerAnswer = v.object({ id: v.string(), trigger_type: v.string(), function_id: v.string(), worker_id: v.string() })

const FunctionTrigger = v.object({ id: v.string(), trigger_type: v.string(), config: v.record(v.string(), v.unknown()), worker_id: v.string() })
/** What `engine::functions::info` answers. */
export const FunctionAnswer = v.looseObject({
  function_id: v.string(),
  worker_name: v.string(),
  registered_triggers: v.array(FunctionTrigger),
  workers: v.array(v.string()),
  engine: v.optional(v.literal(true)),
  /** Nobody offers it on that engine, but triggers there bind it: only those count. */
  bound_only: v.optional(v.literal(true)),
})
type FunctionAnswer = v.InferOutput<typeof FunctionAnswer>

/** An engine's part of `engine::functions::info` for a function none of its workers offers, bound by its triggers. */
export const boundOnly = (function_id: string, registered_triggers: FunctionAnswer['registered_triggers']): FunctionAnswer => ({ function_id, worker_name: '', registered_triggers, workers: [], bound_only: true })

/**
 * One function across the cluster (`engine::functions::info`): its detail as this engine
 * has it, else as the first engine that answers it (`engine_id`: where that detail comes
 * from), with every engine's workers serving it (`workers`, and `engines`: the engines
 * they are on) and every engine's triggers bound to it, each with its `engine_id`.
 * Undefined when no engine has it (an engine whose triggers bind it, while none of its
 * workers offers it, answers `boundOnly`: its triggers count, not as the function). An
 * engine function is every engine's: listed as this one's, with the triggers bound to it
 * anywhere.
 */
export function mergeFunctionDetails(
  self: string,
  own: FunctionAnswer | undefined,
  parts: readonly GatheredPart[],
): (Omit<FunctionAnswer, 'registered_triggers'> & { engine_id: string; engines: string[]; registered_triggers: Array<FunctionAnswer['registered_triggers'][number] & { engine_id: string }> }) | undefined {
  const found: Array<{ engine_id: string; detail: FunctionAnswer }> = own ? [{ engine_id: self, detail: own }] : []
  for (const part of parts) if (part.error === undefined) found.push({ engine_id: part.engine_id, detail: part.result as FunctionAnswer })
  // The detail of an engine whose workers serve it, when one does (own first); bindings alone are no function.
  const base = found.find((f) => !f.detail.bound_only && f.detail.workers.length > 0) ?? found.find((f) => !f.detail.bound_only)
  if (!base) return undefined
  const engines: string[] = []
  const workers: string[] = []
  const registered_triggers: Array<FunctionAnswer['registered_triggers'][number] & { engine_id: string }> = []
  for (const { engine_id, detail } of found) {
    if (detail.workers.length > 0) engines.push(engine_id)
    workers.push(...detail.workers)
    for (const t of detail.registered_triggers) registered_triggers.push({ ...t, engine_id })
  }
  const { bound_only: _, ...detail } = base.detail
  return { ...detail, engine_id: base.engine_id, engines, workers, registered_triggers }
}

// ---------------------------------------------------------------------------- metrics

/** A metric family of Prometheus's text format: its HELP and TYPE lines, and its samples. */
interface Family {
  help?: string
  type?: string
  samples: string[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
/** A sample line: name, labels (each `name="value"` with escapes), value, optional timestamp. */
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (?:[+-]?(?:[0-9.]+(?:[eE][+-]?[0-9]+)?|Inf|NaN))(?: -?[0-9]+)?$/
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created']
/** Prometheus text larger than this from another engine is refused (a few thousand series are far less). */
export const MAX_METRICS_TEXT = 4 * 1024 * 1024

/**
 * Reads Prometheus text (version 0.0.4, as prom-client writes it) into its families, in
 * order; each sample goes to the family it belongs to (`x_bucket` to `x`'s histogram).
 * With `engine_id`, every sample must carry `engine_id="<it>"` (another engine's part says
 * whose series they are). Returns the families, or why the text is refused.
 */
export function readExposition(text: unknown, engine_id?: string): Map<string, Family> | { problem: string } {
  if (typeof text !== 'string') return { problem: `metrics must be Prometheus text, got ${text === null ? 'null' : typeof text}` }
  if (text.length > MAX_METRICS_TEXT) return { problem: `metrics text of ${text.length} characters, more than ${MAX_METRICS_TEXT}` }
  const families = new Map<string, Family>()
  const family = (name: string) => {
    let f = families.get(name)
    if (!f) families.set(name, (f = { samples: [] }))
    return f
  }
  const label = engine_id === undefined ? undefined : `engine_id="${engine_id}"`
  let current: string | undefined
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (line === '') continue
    const meta = /^# (HELP|TYPE) (\S+)/.exec(line)
    if (meta) {
      const [, kind, name] = meta
      if (!METRIC_NAME.test(name)) return { problem: `line ${i + 1}: '${name}' is not a metric name` }
      current = name
      if (kind === 'HELP') family(name).help = line
      else family(name).type = line
      continue
    }
    if (line.startsWith('#')) continue
    const sample = SAMPLE.exec(line)
    if (!sample) return { problem: `line ${i + 1} is not a sample: ${JSON.stringify(line.slice(0, 120))}` }
    if (label !== undefined && !sample[2]?.includes(label)) return { problem: `line ${i + 1} does not carry ${label}` }
    const name = sample[1]
    // A histogram's or summary's samples go with the family named before them.
    const owner = current !== undefined && (name === current || SUFFIXES.some((s) => name === current + s)) ? current : name
    family(owner).samples.push(line)
  }
  return families
}

/**
 * `/metrics` of the whole cluster: this engine's text, then every other engine's that
 * answered (`parts`, each already labelled with its `engine_id`), family by family (each
 * family's HELP and TYPE once, its samples from every engine together, as the format
 * wants), then `signalbox_cluster_engine_up{engine_id}`: 1 for this engine and each engine
 * whose part is here, 0 for each engine heard of that did not answer in time (`missing`),
 * whose series are left out (and a comment says so). Families only some engines have come
 * in the order they were first seen.
 */
export function mergeExpositions(self: string, own: string, parts: ReadonlyArray<{ engine_id: string; families: Map<string, Family> }>, missing: readonly string[]): string {
  const merged = readExposition(own)
  if ('problem' in merged) throw new Error(`this engine's metrics: ${merged.problem}`)
  for (const part of parts) {
    for (const [name, f] of part.families) {
      const known = merged.get(name)
      if (!known) merged.set(name, { help: f.help, type: f.type, samples: [...f.samples] })
      else {
        known.help ??= f.help
        known.type ??= f.type
        known.samples.push(...f.samples)
      }
    }
  }
  const blocks: string[] = []
  for (const f of merged.values()) blocks.push([f.help, f.type, ...f.samples].filter((l): l is string => l !== undefined).join('\n'))
  const up = ['# HELP signalbox_cluster_engine_up Engines of the cluster in this scrape: 1 answered (its series are here), 0 heard of but did not answer in time (left out)', '# TYPE signalbox_cluster_engine_up gauge']
  const answered = [self, ...parts.map((p) => p.engine_id)]
  for (const id of answered) up.push(`signalbox_cluster_engine_up{engine_id="${id}"} 1`)
  for (const id of missing) up.push(`signalbox_cluster_engine_up{engine_id="${id}"} 0`)
  for (const id of missing) up.push(`# signalbox: engine ${id} did not answer within ${GATHER_WAIT_MS} ms; its series are left out of this scrape`)
  blocks.push(up.join('\n'))
  return `${blocks.join('\n\n')}\n`
}
