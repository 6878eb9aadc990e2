/**
 * The cluster's pure part: what engines of one cluster send each other (calls of functions
 * and their answers, membership entries), how names become NATS subjects and KV keys, and
 * the membership table each engine keeps (who beat last when, who is gone). The NATS side
 * is adapters/cluster.ts; the actor that holds the subscriptions is actors/cluster.ts;
 * docs/cluster.md has the design.
 */
import { createHash } from 'node:crypto'
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
