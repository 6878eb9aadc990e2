/**
 * The cluster's pure part: what engines of one cluster send each other (calls of functions
 * and their answers, membership entries), how names become NATS subjects and KV keys, and
 * the membership table each engine keeps (who beat last when, who is gone). The NATS side
 * is adapters/cluster.ts; the actor that holds the subscriptions is actors/cluster.ts;
 * docs/cluster.md has the design.
 */
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

/** The routes bucket's key of one engine's route (`<engine id>.<METHOD shape in base64url>`). */
export const routeBucketKey = (engine_id: string, route_key: string): string => `${engine_id}.${token(route_key)}`

/** The engine a routes bucket key belongs to. */
export const engineOfRouteKey = (key: string): string => key.slice(0, key.indexOf('.'))

/** A name as a subject token or KV key: base64url of its UTF-8 (a function id may hold `.`, `*`, `>`, spaces). */
export const token = (text: string): string => Buffer.from(text, 'utf8').toString('base64url')

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

  /** @param self this engine's id; @param deadAfterMs how long a member may go unheard before it is gone. */
  constructor(
    readonly self: string,
    readonly deadAfterMs: number,
  ) {}

  /** An entry was written at `now`: returns true when the engine is new. */
  beat(info: MemberInfo, now: number): boolean {
    const known = this.members.get(info.engine_id)
    if (known) this.count(known.info.functions, -1)
    this.count(info.functions, 1)
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
      const n = (this.offered.get(id) ?? 0) + by
      if (n > 0) this.offered.set(id, n)
      else this.offered.delete(id)
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
