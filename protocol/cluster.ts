/**
 * What the engines of one cluster say to each other over NATS (docs/cluster.md, "Subjects
 * and buckets"): the messages on its subjects and the entries of its KV buckets, as valibot
 * schemas with their inferred types, their checks (anything may be published on a subject
 * or written in a bucket), and the names of the subjects, buckets and keys. The NATS side
 * is adapters/cluster.ts; what the engines decide with these is core/cluster.ts,
 * core/route-claim.ts and core/cron-claim.ts.
 */
import { createHash } from 'node:crypto'
import * as v from 'valibot'
import { HttpRoute } from './http-route.js'

// ----- names

/**
 * A name as a subject token or KV key: the base64url of the SHA-256 of its UTF-8, 43
 * characters whatever the name (a function id may hold `.`, `*`, `>`, spaces, and be 1024
 * characters of emoji: NATS refuses a control line that long). The names themselves travel
 * in the bodies and values.
 */
export const token = (text: string): string => createHash('sha256').update(text, 'utf8').digest('base64url')

/** An engine id for this run: unique, and a valid subject token and KV key (`e<pid in base 36>-<8 letters or digits>`). */
export const newEngineId = (pid: number, random: string): string => `e${pid.toString(36)}-${random.replace(/[^a-z0-9]/gi, '').slice(0, 8)}`

/** An engine id as another engine's message carries it: a subject token and a label value as it is. */
export const EngineId = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'an engine id is 1 to 64 letters, digits, _ or -'))

/** The subject calls of `function_id` are published on. */
export const callSubject = (cluster: string, function_id: string): string => `${cluster}.call.${token(function_id)}`

/** The queue group of every call subject: each call reaches one of the engines that serve its function. */
export const callQueueGroup = (cluster: string): string => `${cluster}.call`

/** The subject answers to one engine's calls arrive on (`<call number>` last; `*` for all of them). */
export const replySubject = (cluster: string, engine_id: string, call_no?: number): string => `${cluster}.reply.${engine_id}.${call_no ?? '*'}`

/** The subject an engine answers on while it is there (NATS answers no responders once its connection has ended). */
export const pingSubject = (cluster: string, engine_id: string): string => `${cluster}.ping.${engine_id}`

/** The subject every engine answers listings on (its part of another engine's listing). */
export const listingSubject = (cluster: string): string => `${cluster}.listing`

/** The subject an engine receives the types messages addressed to it on. */
export const typeSubject = (cluster: string, engine_id: string): string => `${cluster}.types.${engine_id}`

/** The KV buckets of a cluster, by what they hold. */
export const clusterBuckets = (cluster: string) => ({
  /** The membership entries (`MemberInfo`), by engine id. */
  engines: `${cluster}-engines`,
  /** The routes of every engine's http triggers (`RemoteRoute`), by `routeBucketKey`. */
  routes: `${cluster}-routes`,
  /** One claim per route cluster-wide (`RouteClaim`), by `routeClaimKey`. */
  routeClaims: `${cluster}-route-claims`,
  /** Who provides each worker-defined trigger type (`RemoteTriggerType`), by `typeBucketKey`. */
  triggerTypes: `${cluster}-trigger-types`,
  /** One claim per cron tick (`CronClaim`), by `cronClaimKey`. */
  cronClaims: `${cluster}-cron-claims`,
})

/** The routes bucket's key of one engine's route (`<engine id>.<digest of its METHOD shape>`). */
export const routeBucketKey = (engine_id: string, route_key: string): string => `${engine_id}.${token(route_key)}`

/** The engine a routes bucket key belongs to. */
export const engineOfRouteKey = (key: string): string => key.slice(0, key.indexOf('.'))

/** The route claims bucket's key of a route (`METHOD shape`): a digest, as a shape may hold what a key may not. */
export const routeClaimKey = (route_key: string): string => token(route_key)

/** The types bucket's key of a trigger type (a digest: a type id may hold what a key may not). */
export const typeBucketKey = (trigger_type: string): string => token(trigger_type)

/**
 * The claim of one cron tick across the cluster: the same schedule (pattern and zone),
 * function and metadata, at the same scheduled time (ms since the epoch), is the same tick
 * on every engine. `nth` tells apart triggers alike on one engine (the cron table's pairing
 * of replicas).
 */
export const cronClaimKey = (jobKey: string, function_id: string, metadata: unknown, nth: number, scheduled: number): string =>
  `${token(`${jobKey}\u0000${function_id}\u0000${metadata === undefined ? '' : JSON.stringify(metadata)}\u0000${nth}`)}.${scheduled}`

// ----- calls

/** What starts a call: a worker, a trigger type, or the engine (a metric's label; carried by a call sent to another engine). */
export const CALL_SOURCES = ['worker', 'http', 'cron', 'queue', 'pubsub', 'engine'] as const
export type CallSource = (typeof CALL_SOURCES)[number]

const nonEmpty = v.pipe(v.string(), v.minLength(1))

/**
 * A function call sent to the cluster, on the subject of its function: whichever engine
 * serves `function_id` takes it. The serving engine takes the function id from its
 * subscription, not from the body (`parseRemoteCall`, this schema's check by hand: calls
 * are a hot path; test/protocol-cluster.test.ts compares the two).
 */
export const RemoteCall = v.object({
  function_id: v.string(),
  data: v.optional(v.unknown()),
  /** The caller's timeout (ms); the serving engine's default when absent. */
  timeout_ms: v.optional(v.pipe(v.number(), v.finite(), v.gtValue(0))),
  /** Fire and forget: nobody answers. */
  void: v.optional(v.boolean()),
  source: v.optional(v.picklist(CALL_SOURCES)),
  metadata: v.optional(v.unknown()),
  traceparent: v.optional(v.string()),
  baggage: v.optional(v.string()),
  /** The calling engine's id. */
  from: nonEmpty,
})
export type RemoteCall = v.InferOutput<typeof RemoteCall>

/**
 * A call as another engine sent it on the subject of `function_id` (the subscription's, not
 * the body's): its shape checked as `RemoteCall` checks it, by hand. Returns the call, or
 * why it is refused.
 */
export function parseRemoteCall(function_id: string, body: unknown): { call: RemoteCall } | { why: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { why: `a call must be an object, got ${body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body}` }
  const b = body as Record<string, unknown>
  if (typeof b.from !== 'string' || b.from === '') return { why: "a call's 'from' must be the calling engine's id" }
  if (b.timeout_ms !== undefined && (typeof b.timeout_ms !== 'number' || !Number.isFinite(b.timeout_ms) || b.timeout_ms <= 0)) return { why: "a call's 'timeout_ms' must be a positive number" }
  if (b.void !== undefined && typeof b.void !== 'boolean') return { why: "a call's 'void' must be a boolean" }
  if (b.source !== undefined && !(CALL_SOURCES as readonly unknown[]).includes(b.source)) return { why: `a call's 'source' must be one of ${CALL_SOURCES.join(', ')}` }
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

/**
 * What comes back to the calling engine for one call: first `taken` (the engine that
 * serves it, so its death fails the call), then its outcome; `no_responders` when nobody
 * in the cluster serves the function (NATS answers that itself).
 */
export type RemoteReply = { taken: string } | { result: unknown } | { error: unknown } | { no_responders: true }

// ----- membership

/** One engine as its membership entry describes it (written every heartbeat, under its engine id). */
export const MemberInfo = v.object({
  engine_id: nonEmpty,
  /** ISO time the engine started. */
  started_at: v.string(),
  host: v.string(),
  pid: v.number(),
  /** Its WebSocket endpoint and HTTP listener, when it has them. */
  url: v.optional(v.string()),
  http_url: v.optional(v.string()),
  /** How many workers are connected to it. */
  workers: v.number(),
  /** The functions its workers offer (it serves their calls for the cluster). */
  functions: v.array(v.string()),
})
export type MemberInfo = v.InferOutput<typeof MemberInfo>

/** Whether a membership entry read from the bucket (`key`) has the shape of one, under its own engine's key: anything may be written there. */
export const isMemberInfo = (key: string, value: unknown): value is MemberInfo => v.is(MemberInfo, value) && value.engine_id === key

// ----- routes

/** A trigger as a route conflict names it: its id and its worker (`worker 'billing' (<id>)`). */
const RouteHolder = v.object({ trigger_id: v.string(), worker: v.string() })

/**
 * A route an engine's http triggers hold, as the routes bucket has it: every engine's
 * listener serves it (a request becomes a call of its function, across the cluster).
 */
export const RemoteRoute = v.object({
  engine_id: nonEmpty,
  function_id: v.string(),
  route: HttpRoute,
  /** The metadata of the trigger that first bound it, passed on with its calls. */
  metadata: v.optional(v.unknown()),
  /** Its first holder, as a conflict names it. */
  holder: RouteHolder,
})
export type RemoteRoute = v.InferOutput<typeof RemoteRoute>

/** Whether a routes bucket entry (`key`) has the shape of one, written by the engine its key names. */
export const isRemoteRoute = (key: string, value: unknown): value is RemoteRoute => v.is(RemoteRoute, value) && value.engine_id === engineOfRouteKey(key)

/**
 * What a key of the route claims bucket holds: the route's function across the cluster,
 * its first holder (as a conflict names it), and the engines whose triggers hold it.
 */
export const RouteClaim = v.object({
  function_id: v.string(),
  /** The route as its first holder wrote it, and its parameter names. */
  path: v.string(),
  params: v.array(v.string()),
  holder: RouteHolder,
  /** The engines whose triggers hold the route. */
  engines: v.array(v.string()),
})
export type RouteClaim = v.InferOutput<typeof RouteClaim>

const why = (issues: readonly v.BaseIssue<unknown>[]): string => v.summarize(issues as [v.BaseIssue<unknown>, ...v.BaseIssue<unknown>[]]).slice(0, 200)

/** A route claims bucket entry read back: its shape checked (anything may be written there); why it is refused otherwise. */
export function parseRouteClaim(value: unknown): RouteClaim | { why: string } {
  const parsed = v.safeParse(RouteClaim, value)
  return parsed.success ? parsed.output : { why: `not a route claim: ${why(parsed.issues)}` }
}

// ----- cron claims

/** What a key of the cron claims bucket holds. */
export const CronClaim = v.object({
  /** The engine that runs the tick (its claimer, or the engine that took it over). */
  engine_id: nonEmpty,
  /** When it claimed (or took over) the tick, ms since the epoch. */
  at: v.pipe(v.number(), v.finite()),
  /**
   * `claimed` until its run was started; `done` after; `released` when its claimer won it
   * but did not run it (the trigger was let go of meanwhile): the engines that follow it
   * take it over. An entry without it (an older engine's) is `claimed`.
   */
  state: v.optional(v.picklist(['claimed', 'done', 'released']), 'claimed'),
  /** The engine it was taken over from, when it was. */
  took_over_from: v.optional(v.string()),
})
export type CronClaim = v.InferOutput<typeof CronClaim>

/** A cron claims bucket entry read back: its shape checked (anything may be written there); why it is refused otherwise. */
export function parseCronClaim(value: unknown): CronClaim | { why: string } {
  const parsed = v.safeParse(CronClaim, value)
  return parsed.success ? parsed.output : { why: `not a cron claim: ${why(parsed.issues)}` }
}

// ----- worker-defined trigger types

/**
 * A worker-defined trigger type as the types bucket has it (key: `typeBucketKey`): the one
 * worker of the cluster that provides it, and the engine it is connected to. Written with a
 * create-if-absent, so that of two engines whose workers register the type at once one holds it.
 */
export const RemoteTriggerType = v.object({
  trigger_type: v.string(),
  engine_id: nonEmpty,
  worker_id: nonEmpty,
  /** The provider as refusals name it (`worker 'billing' (<id>)`). */
  worker: v.string(),
  description: v.optional(v.string()),
})
export type RemoteTriggerType = v.InferOutput<typeof RemoteTriggerType>

/** A types bucket entry read from the bucket (`key`), checked: its shape, and its key matching its type. Returns it, or why it is refused. */
export function parseRemoteTriggerType(key: string, value: unknown): { entry: RemoteTriggerType } | { why: string } {
  const parsed = v.safeParse(RemoteTriggerType, value)
  if (!parsed.success) return { why: `not a trigger type entry: ${why(parsed.issues)}` }
  if (typeBucketKey(parsed.output.trigger_type) !== key) return { why: 'its key is not the digest of its trigger type' }
  return { entry: parsed.output }
}

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
 * provides, on `typeSubject` (the engine addressed): a registration to forward to its
 * provider (`register`, asked as a request: the provider's engine answers `TypeAnswer` at
 * once, the provider's verdict comes later as `verdict`), its withdrawal (`unregister`),
 * its takeover by the session of a reconnected worker (`adopt`), the provider's verdict
 * back to the registering engine, and a notice from the provider's engine that it dropped
 * the registering engine's bindings of a type (`dropped`: it took that engine for gone;
 * sent once it is heard of again, which then sends them again).
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
  if (!parsed.success) return { why: why(parsed.issues) }
  return { message: parsed.output }
}

/** The answer to a `register` on a types subject: the provider's engine took it (the verdict comes later), or why not. */
export type TypeAnswer = { accepted: true } | { error: unknown }

/**
 * The answer to a `register` sent on another engine's types subject (already decoded, or
 * undefined when it was not JSON): a `TypeAnswer`; anything else (`null`, another shape:
 * a stray responder, another version) is no answer, `'unknown'`, and the registration's
 * own timeout answers it.
 */
export function parseTypeAnswer(answer: unknown): TypeAnswer | 'unknown' {
  if (typeof answer !== 'object' || answer === null) return 'unknown'
  if ((answer as { accepted?: unknown }).accepted === true) return { accepted: true }
  const error = (answer as { error?: unknown }).error
  return error === undefined ? 'unknown' : { error }
}

// ----- listings

/**
 * The id a listing request uses to ask another engine for its own `/metrics` text. Not an
 * engine function (no worker may call it): the cluster actor answers it from the metrics
 * the composition root gave it.
 */
export const METRICS_PART = 'signalbox::metrics'

/** A listing's request on `listingSubject`: an engine function to run alone (or `METRICS_PART`) with its input, and the engine that asks. */
export const ListingRequest = v.object({ function_id: v.string(), data: v.optional(v.unknown()), from: v.string() })
export type ListingRequest = v.InferOutput<typeof ListingRequest>

/** One engine's answer to a listing, as it comes over NATS: its engine, and a result or an error. */
export const GatheredPart = v.object({ engine_id: EngineId, result: v.optional(v.unknown()), error: v.optional(v.unknown()) })
export type GatheredPart = v.InferOutput<typeof GatheredPart>
