/**
 * What every actor of the engine accepts and emits: the events of the actor system. The
 * machines (machines/) and the actors (actors/) implement these contracts; the typed
 * access in machines/system.ts gives refs that accept exactly them. Read this file to know
 * what may be said to whom.
 *
 * Events are named `subject.verb` (`trigger.register`, `route.add`). Events that carry a
 * `reply` function are requests from engine code: the actor answers by calling it once.
 */
import type { ErrorBody, InboundOf, Outbound, RegistrationResult } from '../protocol/messages.js'
import type { SessionWireEvent } from '../protocol/events.js'
import type { DecodeFailure } from '../protocol/codec.js'
import type { CallSource, CronClaim, GatheredPart, MemberInfo, RemoteCall, RemoteReply, RemoteRoute, RemoteTriggerType, RouteClaim, TypeAnswer, TypeMessage } from '../protocol/cluster.js'
import type { HttpRoute } from '../protocol/http-route.js'
import type { CatalogEvent, CatalogState, TriggerState } from '../core/catalog.js'
import type { CronSchedule } from '../core/cron-config.js'
import type { QueueConsumerConfig } from '../core/queue-config.js'
import type { MessageContext, QueueCounts } from '../core/queue-store.js'
import type { Outcome } from '../core/call-table.js'
import type { Identity } from '../core/auth.js'
import type { Limits } from '../core/options.js'
import type { ChannelOwner, Direction } from '../core/channel-table.js'
import type { Relay } from '../core/channel-relay.js'

export type { CatalogEvent, CatalogState, CallSource, Outcome }

/** A log record an actor asks its session or the engine to write. */
export interface LogRecord {
  level: 'info' | 'warn'
  msg: string
  data: Record<string, unknown>
}

// ---------------------------------------------------------------------------------------
// engine (machines/engine.machine.ts)

/** How the engine runs: resolved from the user's options (core/options.ts). */
export interface EngineSettings {
  /** How long a worker-provided trigger type may take to answer a registration (ms). */
  registrationTimeoutMs: number
  /** How long a call may take when the caller sets no `timeout_ms` (ms). */
  invocationTimeoutMs: number
  /** How long stopping waits for calls in flight (ms). */
  graceMs: number
  /** How long a session whose connection was lost is held (ms; 0: not held). */
  reconnectGraceMs: number
  limits: Limits
  /** The HTTP listener for `http` triggers; without it the `http` type is not offered. */
  http?: HttpProviderInput
  /** Whether the engine is one of a cluster (`cluster` option): then it runs the `cluster` actor. */
  clustered?: boolean
}

export type EngineEvent =
  | { type: 'engine.started' }
  | { type: 'engine.stop' }
  /** A transport accepted a connection: spawn its session. `identity`: who its token says it is (none: trusted). */
  | { type: 'session.open'; worker_id: string; reattach_hash: string; identity?: Identity }
  /** A session closed: stop it (which releases all it held); the types it provided are gone. */
  | { type: 'session.ended'; worker_id: string; trigger_types: string[] }
  /** A session lost its connection and is held: the types it provided are gone, the rest stays. */
  | { type: 'session.held'; worker_id: string; trigger_types: string[] }
  /** A worker started providing a trigger type: parked triggers of that type may be re-sent. */
  | { type: 'triggerType.available'; trigger_type: string }
  /** A trigger type lost its provider: `gone` when the provider disconnected, not when it only unregistered the type. */
  | { type: 'triggerType.lost'; trigger_type: string; gone: boolean }
  | { type: 'invocations.drained' }
  | { type: 'provider.listening'; provider: string; host: string; port: number }
  /** A provider could not start: `reason` is the system's error code when there is one (`EADDRINUSE`). */
  | { type: 'provider.failed'; provider: string; message: string; reason?: string }
  | ({ type: 'engine.log' } & LogRecord)

export type EngineEmitted =
  | { type: 'log'; level: 'info' | 'warn' | 'error'; msg: string; data: Record<string, unknown> }
  | { type: 'provider.failed'; provider: string; message: string; reason?: string }

// ---------------------------------------------------------------------------------------
// session:<worker_id> (machines/session.machine.ts)

export interface SessionInput {
  worker_id: string
  /** SHA-256 of the token handed to the worker in `workerregistered`; the token itself is never kept. */
  reattach_hash: string
  registrationTimeoutMs: number
  /** How long the session is held once its connection is lost (ms; 0: not held). */
  reconnectGraceMs: number
  /** What the session may hold (`limits.*Session`). */
  limits: Pick<Limits, 'functionsPerSession' | 'triggersPerSession' | 'triggerTypesPerSession'>
  /** Who its token says it is; undefined when the engine has no tokens or the worker runs in-process (then it may do everything). */
  identity?: Identity
}

/** A session's context: its input, and who replaces whom after a `reattach`. */
export interface SessionContext extends SessionInput {
  /** The worker as error texts name it (`worker 'billing' (<id>)`), read from the catalog as the session is held or closes, before it leaves the catalog. */
  label?: string
  /** Held: the session whose `reattach` named this one; this one closes once that one holds all it held. */
  successor?: string
  /** The held session this one's `reattach` named; told as this one registers, so that it can see whether it is replaced. */
  predecessor?: string
}

/** Facts a session looks up before it decides on a `registertrigger` (machines/session.machine.ts). */
export interface TriggerFacts {
  /** The session already has a trigger with this id. */
  idTaken: boolean
  /** Who provides the trigger type: a worker id, `engine`, or undefined. */
  provider: string | undefined
  /** Some live or held worker offers the function, or it is an engine function. */
  functionKnown: boolean
  /** This session registered the function itself. */
  functionMine: boolean
  /** The session has as many triggers as it may. */
  full: boolean
  /** The session already runs a child for this trigger type. */
  hasTypeChild: boolean
  /** When nobody provides the type: the provided type its id is closest to, if one is close. */
  typeSuggestion?: string
  /** When the function is unknown: the offered function its id is closest to, if one is close. */
  functionSuggestion?: string
}

/** Events a session raises to itself once it has looked up what a decision needs. */
export type SessionCheckedEvent =
  /** `full`: the session has as many functions as it may. */
  | { type: 'function.checked'; message: InboundOf<'registerfunction'>; mine: boolean; full: boolean }
  | { type: 'functionRemoval.checked'; message: InboundOf<'unregisterfunction'>; mine: boolean }
  /** `provider_label`: the provider as a refusal names it (`worker 'billing' (<id>)`). */
  | { type: 'triggerType.checked'; message: InboundOf<'registertriggertype'>; provider: string | undefined; provider_label?: string; full: boolean }
  | { type: 'triggerTypeRemoval.checked'; message: InboundOf<'unregistertriggertype'>; provider: string | undefined }
  | { type: 'trigger.checked'; message: InboundOf<'registertrigger'>; facts: TriggerFacts }
  | { type: 'triggerRemoval.checked'; message: InboundOf<'unregistertrigger'>; registered_type: string | undefined }
  /** `origin.engine_id`: in a cluster, the registration came from a worker of that other engine. */
  | { type: 'verdict.checked'; message: InboundOf<'triggerregistrationresult'>; origin: { worker_id: string; trigger_type: string; engine_id?: string } | undefined }
  /** In a cluster: a revoked type (`triggerType.revoke`), and whether this worker still provides it here. */
  | { type: 'revocation.checked'; trigger_type: string; error: ErrorBody; mine: boolean }
  /** Held: whether the session that reattached in place of this one holds all this one held. */
  | { type: 'replacement.checked'; replaced: boolean }

/** Events the engine's other actors send a session. */
export type SessionInternalEvent =
  /** The port wrote `workerregistered` (with the reattach token, which no event carries: the inspector sees events). */
  | { type: 'session.start' }
  /** The connection ended: cleanly (a close frame), or `lost` (dropped), when the session may be held. */
  | { type: 'session.close'; reason?: string; lost?: boolean }
  /** Answer a frame of this worker with an error frame (sent by the actor that refused it). */
  | { type: 'session.reject'; error: ErrorBody; ref?: { type?: string; id?: string } }
  /** Another session's `reattach` names this one: close if the token is this session's. */
  | { type: 'session.retire'; by: string; reattach_token: string }
  /** The session that reattached in place of this held one registered something: is this one replaced now? */
  | { type: 'successor.progress' }
  /** Write a `registertrigger` / `unregistertrigger` to this worker, the provider of a trigger type. */
  | { type: 'provider.forward'; message: Extract<Outbound, { type: 'registertrigger' }> }
  | { type: 'provider.unforward'; message: Extract<Outbound, { type: 'unregistertrigger' }> }
  /** A registration's first outcome, to answer the worker with. */
  | { type: 'trigger.settled'; result: RegistrationResult }
  | ({ type: 'session.log' } & LogRecord)
  /** In a cluster: a worker of another engine provides the type this worker registered (its claim lost the race): refused after all. */
  | { type: 'triggerType.revoke'; trigger_type: string; error: ErrorBody }

export type SessionEvent = SessionWireEvent | { type: 'frame.invalid'; failure: DecodeFailure } | SessionInternalEvent | SessionCheckedEvent

/** What a session emits: frames for its transport, log records, and its end. */
export type SessionEmitted =
  | { type: 'outbound'; message: Outbound }
  | ({ type: 'log' } & LogRecord)
  | { type: 'ended'; reason: string }

// ---------------------------------------------------------------------------------------
// trigger:<worker_id>:<id> (machines/trigger.machine.ts)

export interface TriggerInput {
  worker_id: string
  id: string
  trigger_type: string
  function_id: string
  config: Record<string, unknown>
  metadata?: unknown
  registrationTimeoutMs: number
  /**
   * Set by the type's child when the engine itself holds what the trigger needs (a
   * built-in type: a route, a schedule, a consumer, a subscription). Its provider never
   * leaves, so the registration has nothing left to wait for once active: it ends in
   * `held`, and the type's child (its snapshot) and the catalog keep the trigger.
   */
  heldByEngine?: boolean
}

export type TriggerEvent =
  | { type: 'trigger.activated' }
  | { type: 'trigger.rejected'; error: ErrorBody }
  | { type: 'trigger.unregister' }
  /** From the type's child: `registrationTimeoutMs` passed since the registration last asked for activation (ignored unless it still waits). */
  /** `provider`: whom the registration waited for, as error texts name a worker. */
  | { type: 'trigger.timedOut'; provider?: string }
  /** The type's child that holds this registration is stopping (its session ended). */
  | { type: 'trigger.release' }
  /** `provider`: the provider that was lost, as error texts name a worker (the type's child adds it). */
  | { type: 'provider.lost'; trigger_type: string; gone: boolean; provider?: string }
  | { type: 'provider.available'; trigger_type: string }

export type { TriggerState }

// ---------------------------------------------------------------------------------------
// session:<worker_id>:<trigger type> (actors/*-trigger-type.ts, actors/remote-trigger-type.ts)

export interface TriggerTypeInput {
  worker_id: string
  trigger_type: string
}

/** What every trigger-type child receives: the same for built-in and worker-provided types. */
export type TriggerTypeEvent =
  /** From its session: a registration that passed the session's checks. */
  | { type: 'trigger.register'; input: TriggerInput }
  /** From its session: unregister one of its triggers. */
  | { type: 'trigger.unregister'; trigger_id: string }
  /** From a registration: do the type's work for it (validate, route, schedule, forward). */
  | { type: 'trigger.activate'; trigger_id: string; function_id: string; config: Record<string, unknown>; metadata?: unknown }
  /** From a registration: it no longer waits for the type's answer (answered, failed, removed or released). */
  | { type: 'trigger.waited'; trigger_id: string }
  /** From a registration: give back whatever was held for it. */
  | { type: 'trigger.deactivate'; trigger_id: string }
  /** From the child of the session that reattached in place of this held one: that session adopted this forwarding; drop it without withdrawing it. */
  | { type: 'trigger.handover'; trigger_id: string }
  /** From a registration: its first outcome, passed on to the session. */
  | { type: 'trigger.settled'; result: RegistrationResult }
  /** From a registration: a later outcome, passed on to the session's log. */
  | ({ type: 'session.log' } & LogRecord)
  /** From a provider's session: its verdict on a forwarded registration. */
  | { type: 'provider.verdict'; forwarded_id: string; from: string; error?: unknown }
  /** From the cluster actor: the verdict of the provider on engine `engine_id` on one of its triggers, which it knows by `forwarded_id`. */
  | { type: 'provider.remoteVerdict'; trigger_id: string; engine_id: string; forwarded_id: string; error?: unknown }
  /** From the engine: the type's provider came or went. */
  | { type: 'provider.lost'; trigger_type: string; gone: boolean }
  | { type: 'provider.available'; trigger_type: string }

// ---------------------------------------------------------------------------------------
// invocations (actors/invocations.ts)

/** Who asked for a call: a worker (answered with `invocationresult`), or engine code (answered through `reply`). */
export type Caller = { worker_id: string; invocation_id?: string } | { reply: (outcome: Outcome) => void }

/** A call the engine starts: for a worker, a trigger, or itself. */
export interface CallRequest {
  caller: Caller
  function_id: string
  data: unknown
  timeout_ms?: number
  /** What started the call, for metrics. */
  source?: CallSource
  /** Fire and forget: no answer is routed back. */
  void?: boolean
  /** A durable call: stored on this queue and run from there; answered at once with its message id. */
  enqueue?: EnqueueOptions
  metadata?: unknown
  traceparent?: string
  baggage?: string
  /** A call another engine of the cluster sent here: served by a local worker or not at all (never sent on). */
  local?: boolean
}

/** Where and how a durable call is stored (`action: {type: 'enqueue', …}`). */
export interface EnqueueOptions {
  queue: string
  message_group_id?: string
  deduplication_id?: string
  delay_seconds?: number
}

export type InvocationsEvent =
  /** A worker's `invokefunction`, straight from its port; `identity` when its token limits what it may call. */
  | { type: 'invocation.call'; worker_id: string; message: InboundOf<'invokefunction'>; identity?: Identity }
  | ({ type: 'invocation.start' } & CallRequest)
  | { type: 'invocation.result'; worker_id: string; invocation_id: string; result?: unknown; error?: unknown }
  /** `worker`: the worker as error texts name it (it may have left the catalog already). */
  | { type: 'worker.gone'; worker_id: string; worker?: string }
  /** A live worker now offers the function: calls waiting for one start. */
  | { type: 'function.offered'; function_id: string }
  | { type: 'invocations.drain' }
  /** A trigger skipped a run (a cron tick while the previous run is in flight): counted, nothing else. */
  | { type: 'invocation.skipped'; source: CallSource; function_id: string }
  /** The engine stops now: every call in flight fails for its caller. */
  | { type: 'invocations.abort' }

export type InvocationsEmitted =
  /** A frame for a worker: a call it serves, or the answer to one it made. */
  | { type: 'invocation.out'; worker_id: string; message: Extract<Outbound, { type: 'invokefunction' | 'invocationresult' }> }
  | { type: 'invocation.ended'; source: CallSource; function_id: string; outcome: string; seconds: number }
  | { type: 'invocation.skipped'; source: CallSource; function_id: string }

export interface InvocationsInput {
  defaultTimeoutMs: number
  limits: Pick<Limits, 'callsPerSession' | 'callsInFlight'>
}

// ---------------------------------------------------------------------------------------
// provider:http (actors/http-provider.ts)

export interface HttpProviderInput {
  host: string
  port: number
  /** Largest request body accepted; larger gets 413. */
  maxBodyBytes: number
  /** Answer deadline for a route whose config sets no `timeout_ms`; past it, 504. */
  timeoutMs: number
  /** How long a client may take to send its headers, and its whole request (ms). */
  headersTimeoutMs: number
  requestTimeoutMs: number
  /** How long an idle keep-alive connection stays open (ms; 0: none). */
  keepAliveTimeoutMs: number
  /** Most connections open at once. */
  maxConnections: number
  /** Largest request head in bytes. */
  maxHeaderBytes: number
}

export type HttpProviderEvent =
  | { type: 'route.add'; worker_id: string; trigger_id: string; function_id: string; metadata?: unknown; route: HttpRoute }
  | { type: 'route.remove'; worker_id: string; trigger_id: string }
  /** A session's http child stopping: every route its triggers held, let go at once. */
  | { type: 'route.removeAll'; worker_id: string; trigger_ids: string[] }
  /** In a cluster: another engine's route (`key` in the routes bucket) is served here too (`entry`), or no more. */
  | { type: 'route.remote'; key: string; entry?: RemoteRoute }
  /** In a cluster: the claim of a route this engine's triggers bind was made (no `refusal`) or refused. */
  | { type: 'route.claimed'; route_key: string; refusal?: ErrorBody }

// ---------------------------------------------------------------------------------------
// provider:cron (actors/cron-provider.ts)

/** What `cron.jobs` answers: each job the provider runs, and how many triggers it serves. */
export interface CronJobInfo {
  pattern: string
  timezone: string
  triggers: number
}

export type CronProviderEvent =
  | { type: 'cron.schedule'; worker_id: string; trigger_id: string; function_id: string; metadata?: unknown; schedule: CronSchedule }
  | { type: 'cron.unschedule'; worker_id: string; trigger_id: string }
  /** The jobs running now (for tests and inspection). */
  | { type: 'cron.jobs'; reply: (jobs: CronJobInfo[]) => void }

// ---------------------------------------------------------------------------------------
// channels (actors/channels.ts)

/**
 * One end of a data channel's WebSocket as the transport hands it over (adapters/
 * ws-server.ts): frames in and out, flow control, its close. No `ws` beyond the edge.
 */
export interface ChannelSocket {
  /** Sends a frame; `done` once it is written out. */
  send(data: string | Uint8Array, binary: boolean, done: () => void): void
  close(code: number, reason: string): void
  /** Stops reading from it (backpressure), and reads again. */
  pause(): void
  resume(): void
  onFrame(listener: (data: string | Uint8Array, binary: boolean) => void): void
  /** `clean`: a normal close (1000, or none given). */
  onClose(listener: (clean: boolean) => void): void
}

export type ChannelsEvent =
  /**
   * A channel is made: by `engine::channels::create`, or by an http trigger's call for its
   * request body and response. `relay` carries its frames; `engineEnd` is the end the
   * engine holds itself (an http exchange's), which no socket may open.
   */
  | { type: 'channel.create'; channel_id: string; keys: Record<Direction, string>; capacity: number; origin: string; relay: Relay; engineEnd?: Direction }
  /** A worker opened an end over WebSocket (the transport checked its key). */
  | { type: 'channel.connect'; channel_id: string; direction: Direction; socket: ChannelSocket }
  /** The channel ends: both ends closed, or the call it was made for ended. Its sockets close. */
  | { type: 'channel.release'; channel_id: string }
  /** Another actor owns the channels whose ids start with `prefix`: it answers for their keys and takes their sockets. */
  | { type: 'channel.delegate'; prefix: string; owner: ChannelOwner & { connect(channel_id: string, direction: Direction, socket: ChannelSocket): void } }

// ---------------------------------------------------------------------------------------
// provider:pubsub (actors/pubsub-provider.ts)

export type PubsubProviderEvent =
  /**
   * A `subscribe` trigger takes on its topic, or, with `queue`, a `durable:subscriber`
   * (whose messages wait on that queue, which `provider:queue` then consumes for it);
   * answered to the trigger's registration.
   */
  | { type: 'topic.subscribe'; worker_id: string; trigger_id: string; function_id: string; metadata?: unknown; topic: string; queue?: QueueConsumerConfig }
  | { type: 'topic.unsubscribe'; worker_id: string; trigger_id: string }
  /**
   * `publish` (or, `durable`, `iii::durable::publish`): `data` to every function subscribed
   * to `topic`, once each; `context` is the publishing call's, passed on to the calls.
   */
  | { type: 'topic.publish'; topic: string; data: unknown; durable: boolean; context?: MessageContext; reply: (answer: { result: null } | { error: ErrorBody }) => void }

// ---------------------------------------------------------------------------------------
// provider:queue (actors/queue-provider.ts)

type Reply<T> = (answer: { result: T } | { error: ErrorBody }) => void

export type QueueProviderEvent =
  | { type: 'queue.consume'; worker_id: string; trigger_id: string; function_id: string; metadata?: unknown; config: QueueConsumerConfig }
  | { type: 'queue.stop'; worker_id: string; trigger_id: string }
  /** Stores a message (a durable call when `function_id` is set); `context` is the sender's, passed on to the call that handles it. */
  | {
      type: 'queue.send'
      queue_name: string
      body: unknown
      delay_seconds?: number
      function_id?: string
      message_group_id?: string
      deduplication_id?: string
      context?: MessageContext
      reply: Reply<{ message_id: string }>
    }
  /** Every queue that holds messages or has consumers, with its counts and consumers (`engine::queue::list`). */
  | { type: 'queue.list'; reply: (queues: QueueInfo[]) => void }
  | { type: 'queue.deadLetters'; dead_letter_queue: string; limit: number; reply: Reply<{ messages: Array<Record<string, unknown>> }> }
  | { type: 'queue.redrive'; dead_letter_queue: string; message_ids?: string[]; reply: Reply<{ redriven: number }> }
  | { type: 'queue.counts'; reply: (counts: Record<string, QueueCounts>) => void }
  /**
   * The engine is stopping: lease nothing new (a batch leased now could not finish and would
   * only come back after its timeout with one receive spent); batches in flight still settle.
   */
  | { type: 'queue.drain' }

/** One queue as `engine::queue::list` shows it. */
export interface QueueInfo {
  queue_name: string
  ready: number
  in_flight: number
  delayed: number
  /** Its messages now in a dead-letter queue. */
  dead_lettered: number
  /** Seconds since its oldest message was sent; absent when it holds none. */
  oldest_message_age_seconds?: number
  fifo: boolean
  consumers: Array<{ worker_id: string; trigger_id: string; function_id: string; in_flight: number }>
}

/** What the providers tell the engine (their parent). */
export type ProviderReport = Extract<EngineEvent, { type: 'provider.listening' | 'provider.failed' | 'engine.log' }>

// ---------------------------------------------------------------------------------------
// cluster (actors/cluster.ts)

/** Something opened on NATS that the cluster actor closes when it is done with it. */
export interface Closable {
  close(): void
}

/**
 * The cluster's NATS side as the cluster actor uses it (adapters/cluster.ts implements it
 * over one NATS connection). Subjects and buckets are in docs/cluster.md.
 */
export interface ClusterLink {
  /** This engine's id in the cluster: unique per run. */
  readonly engine_id: string
  /** The cluster's name (the prefix of its subjects and buckets). */
  readonly name: string
  /**
   * Publishes a call for whichever engine serves its function (NATS picks one of them);
   * its answers come to `replies` under `call_no`, which a void call has none of.
   */
  call(call: RemoteCall, call_no: number | undefined): void
  /** Subscribes this engine's answers: `handler` gets each with its call number. */
  replies(handler: (call_no: number, reply: RemoteReply) => void): Closable
  /** Serves a function: each call for it reaches one of the engines serving it; `respond` is absent for a void call. */
  serve(function_id: string, handler: (call: RemoteCall, respond: ((reply: RemoteReply) => void) | undefined) => void): Closable
  /**
   * Creates `key` in the claims bucket if it is absent (`value`, a `CronClaim`): the
   * entry's revision for the one engine that did, false for the others; rejects when NATS
   * cannot say (unreachable, or no answer within 2 s).
   */
  claim(key: string, value: CronClaim): Promise<number | false>
  /** Reads a key of the claims bucket: its value as written (unchecked) and revision; undefined when it is absent or deleted. */
  readClaim(key: string): Promise<{ value: unknown; revision: number } | undefined>
  /** Writes a key of the claims bucket if its revision is still `revision` (compare-and-set): the new revision, or false when it changed. */
  updateClaim(key: string, value: CronClaim, revision: number): Promise<number | false>
  /** Reads a key of the route claims bucket: its value as written (unchecked) and revision; undefined when absent or deleted. */
  readRouteClaim(key: string): Promise<{ value: unknown; revision: number } | undefined>
  /** Creates (no `revision`) or compare-and-sets a key of the route claims bucket: its new revision, or false when it exists or changed. Rejects when NATS cannot say within 2 s. */
  writeRouteClaim(key: string, value: RouteClaim, revision: number | undefined): Promise<number | false>
  /** Deletes a key of the route claims bucket if its revision is still `revision`: false when it changed. */
  deleteRouteClaim(key: string, revision: number): Promise<boolean>
  /** Writes this engine's membership entry (its heartbeat). */
  beat(info: MemberInfo): Promise<void>
  /** Deletes this engine's membership entry (a clean stop). */
  leave(): Promise<void>
  /** Watches the membership bucket: each entry written (`info`, `at`: when, ms since the epoch), or deleted (undefined). */
  members(handler: (engine_id: string, info: MemberInfo | undefined, at: number) => void): Closable
  /**
   * Asks every other engine for its part of a listing (the engine function `function_id`
   * run there, on its own): resolves with the answers (decoded JSON, not checked) that came
   * within `maxWaitMs`, or once each engine of `engines` answered in its name.
   */
  gather(function_id: string, data: unknown, engines: readonly string[], maxWaitMs: number): Promise<unknown[]>
  /** Answers the other engines' `gather`: `handler` runs the engine function here. */
  listings(handler: (function_id: string, data: unknown) => Promise<{ result?: unknown; error?: unknown }>): Closable
  /**
   * Whether an engine is there: `gone` when NATS itself says nobody subscribes to its
   * subject any more (its connection ended: killed, or stopped), `alive` when it answered,
   * `unknown` when neither came within a second (slow, or NATS unreachable).
   */
  ping(engine_id: string): Promise<'alive' | 'gone' | 'unknown'>
  /** Writes (or, without `entry`, deletes) a key of the routes bucket. */
  putRoute(key: string, entry: RemoteRoute | undefined): Promise<void>
  /** Watches the routes bucket: every entry there at first, then each written (`entry`) or deleted. */
  routes(handler: (key: string, entry: RemoteRoute | undefined) => void): Closable
  /**
   * Claims a worker-defined trigger type for this engine's worker: creates its key in the
   * types bucket if it is absent. A key there already is this engine's when it names it (the
   * entry is written over), and is taken over (a compare-and-set) when `gone` says its engine
   * is gone; else the claim is lost, to the holder it returns.
   */
  claimType(entry: RemoteTriggerType, gone: (engine_id: string) => Promise<boolean>): Promise<{ won: true; revision: number } | { won: false; holder: RemoteTriggerType }>
  /** Deletes a key of the types bucket if it is still at `revision` (nobody took it over since). */
  deleteType(key: string, revision: number): Promise<void>
  /** Watches the types bucket: every entry there at first, then each written (`entry`) or deleted, with its revision. */
  types(handler: (key: string, entry: RemoteTriggerType | undefined, revision: number) => void): Closable
  /** Receives the types messages addressed to this engine; a `register` comes with `respond` (its sender waits for it). */
  typeMessages(handler: (message: TypeMessage, respond: ((answer: TypeAnswer) => void) | undefined) => void): Closable
  /**
   * Sends a types message to engine `engine_id`. A `register` is asked: it resolves with
   * the answer, `gone` when NATS says nobody listens there (the engine's connection ended),
   * `unknown` when no answer came within 2 s; the others resolve `sent`.
   */
  sendType(engine_id: string, message: TypeMessage): Promise<TypeAnswer | 'gone' | 'unknown' | 'sent'>
}

export type ClusterEvent =
  /** A call no local worker serves (started by `source`): sent to the cluster; `settle` is called once with its outcome (at once for a void call). */
  | { type: 'cluster.call'; request: CallRequest; source: CallSource; settle: (outcome: Outcome) => void }
  /**
   * Claims a cron tick for this engine: `then(true)` when it won (it runs the tick then,
   * and returns whether it did: a trigger let go of meanwhile runs nothing, and the tick is
   * marked `released` for the engines that follow it to take over), `then(false)` when
   * another engine did. A lost tick stays open until `until` (ms since
   * the epoch, its window): should its claimer be taken for gone before it marked the tick
   * done, this engine may take it over (only while `holds()`), and then calls `takeOver()`,
   * which runs it.
   */
  | { type: 'cluster.claim'; key: string; until: number; then: (won: boolean) => boolean; holds: () => boolean; takeOver: () => void }
  /**
   * Every other engine's part of a listing (the engine function run there, or `METRICS_PART`):
   * see `ClusterLink.gather`. Only parts with the shape of one, whose result `check` accepts
   * (it says why not), are replied; the others are logged (core/cluster-listings.ts `acceptParts`).
   */
  | { type: 'cluster.gather'; function_id: string; data: unknown; check?: (result: unknown, engine_id: string) => string | undefined; reply: (parts: GatheredPart[]) => void }
  /** The engine is stopping: serve no more calls for the cluster (those taken still finish). */
  | { type: 'cluster.drain' }
  /** From the membership watch: an engine's entry was written (`info`) or deleted. */
  | { type: 'cluster.member'; engine_id: string; info?: MemberInfo; at?: number }
  /** From `provider:http`: this engine's http triggers hold the route of `route_key` now (`entry`), or no more. */
  | { type: 'cluster.route'; route_key: string; entry?: Omit<RemoteRoute, 'engine_id'> }
  /** From the routes watch: a key was written (`entry`) or deleted. */
  | { type: 'cluster.routeSeen'; key: string; entry?: RemoteRoute }
  /**
   * From `provider:http`: the first trigger of this engine on a route binds it; its claim
   * across the cluster is made (or joined), and `reply` says why it is refused, if it is.
   */
  | { type: 'cluster.routeClaim'; route_key: string; function_id: string; route: HttpRoute; holder: RouteClaim['holder']; reply: (refusal: ErrorBody | undefined) => void }
  /** From `provider:http`: the last trigger of this engine on a route let go of it. */
  | { type: 'cluster.routeRelease'; route_key: string }
  /** From a session's child for a type a worker of engine `engine_id` provides: forward this registration there. */
  | {
      type: 'cluster.forward'
      engine_id: string
      trigger_type: string
      worker_id: string
      trigger_id: string
      function_id: string
      config: Record<string, unknown>
      metadata?: unknown
      forwarded_id?: string
    }
  /** From a session's child: its session reattached in place of the held `from`, and takes over the registration `from` forwarded to engine `engine_id`. */
  | { type: 'cluster.adopt'; engine_id: string; trigger_type: string; worker_id: string; trigger_id: string; from: string }
  /** From a session's child: the registration forwarded to engine `engine_id` ends there. */
  | { type: 'cluster.unforward'; engine_id: string; trigger_type: string; worker_id: string; trigger_id: string }
  /** From a provider's session: its verdict on a registration another engine forwarded to it. */
  | { type: 'cluster.verdict'; from: string; trigger_type: string; forwarded_id: string; error?: unknown }
  /** From the types watch: a key was written (`entry`) or deleted. */
  | { type: 'cluster.typeSeen'; key: string; entry?: RemoteTriggerType; revision: number }
  /** From the types subject: a message another engine addressed to this one. */
  | { type: 'cluster.typeMessage'; message: TypeMessage; respond?: (answer: TypeAnswer) => void }
  /** A claim of a type made for a local worker has its outcome. */
  | { type: 'cluster.typeClaimed'; trigger_type: string; worker_id: string; outcome: { won: true; revision: number } | { won: false; holder: RemoteTriggerType } }
  /** From the engine: a type a local worker provided lost its provider (`gone`: the worker left), or a local worker provides one now. */
  | { type: 'provider.lost'; trigger_type: string; gone: boolean }
  | { type: 'provider.available'; trigger_type: string }

export interface ClusterInput {
  /** The timeout of a call that sets none (ms): `invocationTimeoutMs`. */
  defaultTimeoutMs: number
  /** How often this engine writes its membership entry (ms). */
  heartbeatMs: number
  /** How long a member may go unheard before it is taken for gone (ms): its calls in flight fail `worker_disconnected`. */
  deadAfterMs: number
  /** What this engine's entry says besides its id and functions: the composition root knows it. */
  describe: () => Omit<MemberInfo, 'engine_id' | 'functions'>
  /** This engine's `/metrics` text, each series labelled with its engine id: its part of another engine's `/metrics` (`METRICS_PART`). */
  metrics?: () => Promise<string>
}
