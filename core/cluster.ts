/**
 * The cluster's pure part: what engines of one cluster send each other (calls of functions
 * and their answers, membership entries), how names become NATS subjects and KV keys, and
 * the membership table each engine keeps (who beat last when, who is gone). The NATS side
 * is adapters/cluster.ts; the actor that holds the subscriptions is actors/cluster.ts;
 * docs/cluster.md has the design.
 */
import { createHash } from 'node:crypto'
import * as v from 'valibot'
import type { CallSource } from './call-table.js'
import type { HttpRoute } from './http-config.js'

/** A function call sent to the cluster: whichever engine serves `function_id` takes it. */
export interface RemoteCall {
  function_id: string
  data: unknown
  /** The caller's timeout (ms); the serving engine's default when absent. */
  timeout_ms?: number
  /** Fire and forget: nobody answers. */
  void?: boolean
  source?: CallSource
  metadata?: unknown
  traceparent?: string
  baggage?: string
  /** The calling engine's id. */
  from: string
}

/**
 * What comes back to the calling engine for one call: first `taken` (the engine that
 * serves it, so its death fails the call), then its outcome; `no_responders` when nobody
 * in the cluster serves the function (NATS answers that itself).
 */
export type RemoteReply = { taken: string } | { result: unknown } | { error: unknown } | { no_responders: true }

/** One engine as its membership entry describes it (written every heartbeat). */
export interface MemberInfo {
  engine_id: string
  /** ISO time the engine started. */
  started_at: string
  host: string
  pid: number
  /** Its WebSocket endpoint and HTTP listener, when it has them. */
  url?: string
  http_url?: string
  /** How many workers are connected to it. */
  workers: number
  /** The functions its workers offer (it serves their calls for the cluster). */
  functions: string[]
}

/** Whether a membership entry read from the bucket (`key`) has the shape of one: anything may be written there. */
export const isMemberInfo = (key: string, value: unknown): value is MemberInfo => {
  const v = value as Partial<MemberInfo> | null
  return typeof v === 'object' && v !== null && v.engine_id === key && typeof v.started_at === 'string' && Array.isArray(v.functions) && v.functions.every((f) => typeof f === 'string')
}

/**
 * A route an engine's http triggers hold, as the routes bucket has it: every engine's
 * listener serves it (a request becomes a call of its function, across the cluster).
 */
export interface RemoteRoute {
  engine_id: string
  function_id: string
  route: HttpRoute
  metadata?: unknown
  /** Its first holder, as a conflict names it: its trigger id and its worker (`worker 'billing' (<id>)`). */
  holder: { trigger_id: string; worker: string }
}

/** Whether a routes bucket entry (`key`) has the shape of one, written by the engine its key names. */
export const isRemoteRoute = (key: string, value: unknown): value is RemoteRoute => {
  const v = value as Partial<RemoteRoute> | null
  return (
    typeof v === 'object' && v !== null && v.engine_id === engineOfRouteKey(key) && typeof v.function_id === 'string' &&
    typeof v.route === 'object' && v.route !== null && typeof v.holder === 'object' && v.holder !== null
  )
}

/** The routes bucket's key of one engine's route (`<engine id>.<digest of its METHOD shape>`). */
export const routeBucketKey = (engine_id: string, route_key: string): string => `${engine_id}.${token(route_key)}`

/** The engine a routes bucket key belongs to. */
export const engineOfRouteKey = (key: string): string => key.slice(0, key.indexOf('.'))

/**
 * A name as a subject token or KV key: the base64url of the SHA-256 of its UTF-8, 43
 * characters whatever the name (a function id may hold `.`, `*`, `>`, spaces, and be 1024
 * characters of emoji: NATS refuses a control line that long). The names themselves travel
 * in the bodies and values.
 */
export const token = (text: string): string => createHash('sha256').update(text, 'utf8').digest('base64url')

/** The subject calls of `function_id` are published on. */
export const callSubject = (cluster: string, function_id: string): string => `${cluster}.call.${token(function_id)}`

/** The subject answers to one engine's calls arrive on (`<call number>` last). */
export const replySubject = (cluster: string, engine_id: string, call_no?: number): string => `${cluster}.reply.${engine_id}.${call_no ?? '*'}`

/**
 * The claim of one cron tick across the cluster: the same schedule (pattern and zone),
 * function and metadata, at the same scheduled time, is the same tick on every engine.
 * `nth` tells apart triggers alike on one engine (the cron table's pairing of replicas).
 */
export const cronClaimKey = (jobKey: string, function_id: string, metadata: unknown, nth: number, scheduled: number): string =>
  `${token(`${jobKey}\u0000${function_id}\u0000${metadata === undefined ? '' : JSON.stringify(metadata)}\u0000${nth}`)}.${scheduled}`

const CALL_SOURCES: readonly string[] = ['worker', 'http', 'cron', 'queue', 'pubsub', 'engine'] satisfies CallSource[]

/**
 * A call as another engine sent it on the subject of `function_id` (the subscription's, not
 * the body's): its shape checked, since anything may be published on a subject. Returns the
 * call, or why it is refused.
 */
export function parseRemoteCall(function_id: string, body: unknown): { call: RemoteCall } | { why: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { why: `a call must be an object, got ${body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body}` }
  const b = body as Record<string, unknown>
  if (typeof b.from !== 'string' || b.from === '') return { why: "a call's 'from' must be the calling engine's id" }
  if (b.timeout_ms !== undefined && (typeof b.timeout_ms !== 'number' || !Number.isFinite(b.timeout_ms) || b.timeout_ms <= 0)) return { why: "a call's 'timeout_ms' must be a positive number" }
  if (b.void !== undefined && typeof b.void !== 'boolean') return { why: "a call's 'void' must be a boolean" }
  if (b.source !== undefined && !CALL_SOURCES.includes(b.source as string)) return { why: `a call's 'source' must be one of ${CALL_SOURCES.join(', ')}` }
  for (const field of ['traceparent', 'baggage'] as const) if (b[field] !== undefined && typeof b[field] !== 'string') return { why: `a call's '${field}' must be a string` }
  const call: RemoteCall = { function_id, data: b.data, from: b.from }
  if (b.timeout_ms !== undefined) call.timeout_ms = b.timeout_ms as number
  if (b.void !== undefined) call.void = b.void as boolean
  if (b.source !== undefined) call.source = b.source as CallSource
  if (b.metadata !== undefined) call.metadata = b.metadata
  if (b.traceparent !== undefined) call.traceparent = b.traceparent as string
  if (b.baggage !== undefined) call.baggage = b.baggage as string
  return { call }
}

/** A message NATS would refuse: larger than the server's `max_payload`. */
export class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError'
  constructor(
    readonly bytes: number,
    readonly max: number,
  ) {
    super(`the message is ${bytes} bytes, more than the NATS server's max_payload of ${max}`)
  }
}

/**
 * A worker-defined trigger type as the types bucket has it (key: `typeBucketKey`): the one
 * worker of the cluster that provides it, and the engine it is connected to. Written with a
 * create-if-absent, so that of two engines whose workers register the type at once one holds it.
 */
export const RemoteTriggerType = v.object({
  trigger_type: v.string(),
  engine_id: v.pipe(v.string(), v.minLength(1)),
  worker_id: v.pipe(v.string(), v.minLength(1)),
  /** The provider as refusals name it (`worker 'billing' (<id>)`). */
  worker: v.string(),
  description: v.optional(v.string()),
})
export type RemoteTriggerType = v.InferOutput<typeof RemoteTriggerType>

/** The types bucket's key of a trigger type (a digest: a type id may hold what a key may not). */
export const typeBucketKey = (trigger_type: string): string => token(trigger_type)

/** A types bucket entry read from the bucket (`key`), checked: its shape, and its key matching its type. Returns it, or why it is refused. */
export function parseRemoteTriggerType(key: string, value: unknown): { entry: RemoteTriggerType } | { why: string } {
  const parsed = v.safeParse(RemoteTriggerType, value)
  if (!parsed.success) return { why: `not a trigger type entry: ${v.summarize(parsed.issues).slice(0, 200)}` }
  if (typeBucketKey(parsed.output.trigger_type) !== key) return { why: 'its key is not the digest of its trigger type' }
  return { entry: parsed.output }
}

const nonEmpty = v.pipe(v.string(), v.minLength(1))
const binding = {
  /** The engine that sent it. */
  from: nonEmpty,
  trigger_type: nonEmpty,
  /** The registering worker and its trigger's own id: how both engines name the binding. */
  worker_id: nonEmpty,
  trigger_id: nonEmpty,
}

/**
 * What engines send each other about the triggers bound to a type another engine's worker
 * provides, on `<name>.types.<engine id>` (the engine addressed): a registration to forward
 * to its provider (`register`, asked as a request: the provider's engine answers
 * `{accepted: true}` or `{error}` at once, the provider's verdict comes later as `verdict`),
 * its withdrawal (`unregister`), its takeover by the session of a reconnected worker
 * (`adopt`), the provider's verdict back to the registering engine, and a notice from
 * the provider's engine that it dropped the registering engine's bindings of a type
 * (`dropped`: it took that engine for gone; sent once it is heard of again, which then
 * sends them again).
 */
export const TypeMessage = v.variant('op', [
  v.object({
    op: v.literal('register'),
    ...binding,
    function_id: nonEmpty,
    config: v.custom<Record<string, unknown>>((value) => typeof value === 'object' && value !== null && !Array.isArray(value), 'config must be an object'),
    metadata: v.optional(v.unknown()),
    /** The id the previous provider knew it by: kept when it is free. */
    forwarded_id: v.optional(nonEmpty),
  }),
  v.object({ op: v.literal('unregister'), ...binding }),
  /** `worker_id` reattached in place of the held `previous_worker_id`, and binds the trigger again alike: the binding is its now, the provider is told nothing. */
  v.object({ op: v.literal('adopt'), ...binding, previous_worker_id: nonEmpty }),
  v.object({ op: v.literal('verdict'), ...binding, forwarded_id: nonEmpty, error: v.optional(v.unknown()) }),
  /** The sender took the addressed engine for gone and dropped its bindings of `trigger_type` (one of them named): they are to be sent again. */
  v.object({ op: v.literal('dropped'), ...binding }),
])
export type TypeMessage = v.InferOutput<typeof TypeMessage>

/** A message of the types subject, checked (anything may be published there). Returns it, or why it is refused. */
export function parseTypeMessage(body: unknown): { message: TypeMessage } | { why: string } {
  const parsed = v.safeParse(TypeMessage, body)
  if (!parsed.success) return { why: v.summarize(parsed.issues).slice(0, 200) }
  return { message: parsed.output }
}

/** The subject an engine receives the types messages addressed to it on. */
export const typeSubject = (cluster: string, engine_id: string): string => `${cluster}.types.${engine_id}`

/** An engine id for this run: unique, and a valid subject token and KV key. */
export const newEngineId = (pid: number, random: string): string => `e${pid.toString(36)}-${random.replace(/[^a-z0-9]/gi, '').slice(0, 8)}`

/**
 * The engines of the cluster as one engine sees them: each member's last entry and when
 * it was last heard of (its heartbeat, on this engine's clock). A member not heard of for
 * `deadAfterMs` is gone, as is one whose entry was deleted (a clean stop).
 */
export class Membership {
  private readonly members = new Map<string, { info: MemberInfo; seen: number }>()
  /** How many members offer each function. */
  private readonly offered = new Map<string, number>()
  /** Changes whenever a function comes to be offered in the cluster, or is offered no more (not at every heartbeat). */
  offeredVersion = 0
  /** The types bucket as the watch brought it, by key: who provides each worker-defined type, anywhere in the cluster. */
  private readonly types = new Map<string, RemoteTriggerType>()

  /** @param self this engine's id; @param deadAfterMs how long a member may go unheard before it is gone. */
  constructor(
    readonly self: string,
    readonly deadAfterMs: number,
  ) {}

  /** An entry was written at `now`: returns true when the engine is new. */
  beat(info: MemberInfo, now: number): boolean {
    const known = this.members.get(info.engine_id)
    // Counted up first: a function still offered never drops to none between the two.
    this.count(info.functions, 1)
    if (known) this.count(known.info.functions, -1)
    this.members.set(info.engine_id, { info, seen: now })
    return !known
  }

  /** The engine left (its entry deleted): returns true when it was a member. */
  leave(engine_id: string): boolean {
    const known = this.members.get(engine_id)
    if (!known) return false
    this.count(known.info.functions, -1)
    return this.members.delete(engine_id)
  }

  /** Whether an engine other than this one offers `function_id`, as its last entry said. */
  offers(function_id: string): boolean {
    const n = this.offered.get(function_id) ?? 0
    if (n === 0) return false
    return n > (this.members.get(this.self)?.info.functions.includes(function_id) ? 1 : 0)
  }

  private count(functions: readonly string[] | undefined, by: 1 | -1): void {
    for (const id of functions ?? []) {
      const was = this.offered.get(id) ?? 0
      const n = was + by
      if (n > 0) this.offered.set(id, n)
      else this.offered.delete(id)
      if ((was > 0) !== (n > 0)) this.offeredVersion++
    }
  }

  /** A key of the types bucket was written (`entry`) or deleted: returns what it held before. */
  setType(key: string, entry: RemoteTriggerType | undefined): RemoteTriggerType | undefined {
    const before = this.types.get(key)
    if (entry) this.types.set(key, entry)
    else this.types.delete(key)
    return before
  }

  /**
   * Who provides `trigger_type` on another engine that is a member: the types bucket's
   * entry, unless it is this engine's own (the catalog says those) or its engine is not
   * (or no longer) a member.
   */
  typeHolder(trigger_type: string): RemoteTriggerType | undefined {
    const entry = this.types.get(typeBucketKey(trigger_type))
    return entry && entry.engine_id !== this.self && this.members.has(entry.engine_id) ? entry : undefined
  }

  /** The types bucket's entries that name `engine_id`, with their keys. */
  typesOf(engine_id: string): Array<[string, RemoteTriggerType]> {
    return [...this.types].filter(([, entry]) => entry.engine_id === engine_id)
  }

  /** The worker-defined types other member engines provide (for a refusal's suggestion). */
  remoteTypes(): string[] {
    return [...this.types.values()].filter((e) => e.engine_id !== this.self && this.members.has(e.engine_id)).map((e) => e.trigger_type)
  }

  /** Removes and returns the members not heard of since `now - deadAfterMs` (never this engine). */
  expire(now: number): string[] {
    const gone: string[] = []
    for (const [id, { seen }] of this.members) {
      if (id !== this.self && now - seen > this.deadAfterMs) {
        this.leave(id)
        gone.push(id)
      }
    }
    return gone
  }

  has(engine_id: string): boolean {
    return this.members.has(engine_id)
  }

  /** The members, by engine id, oldest first. */
  list(): MemberInfo[] {
    return [...this.members.values()].map((m) => m.info).sort((a, b) => a.started_at.localeCompare(b.started_at) || a.engine_id.localeCompare(b.engine_id))
  }

  toJSON() {
    return this.list()
  }
}

/**
 * The answer to a `register` sent on another engine's types subject (already decoded, or
 * undefined when it was not JSON): `{accepted: true}` or `{error}`; anything else (`null`,
 * another shape: a stray responder, another version) is no answer, `'unknown'`, and the
 * registration's own timeout answers it.
 */
export function parseTypeAnswer(answer: unknown): { accepted: true } | { error: unknown } | 'unknown' {
  if (typeof answer !== 'object' || answer === null) return 'unknown'
  if ((answer as { accepted?: unknown }).accepted === true) return { accepted: true }
  const error = (answer as { error?: unknown }).error
  return error === undefined ? 'unknown' : { error }
}
