/**
 * The `cluster` actor: this engine's part in a cluster of engines on NATS (only with the
 * `cluster` option). It holds everything the engine opened on NATS, and lets it go when
 * it stops:
 *
 * - **serving**: a queue-group subscription per function a local worker offers, made when
 *   the first local worker offers it and closed when the last one leaves (read from the
 *   catalog's snapshots, batched); a call that arrives on one starts here as an
 *   `invocation.start` that may not be sent on (`local`), and its answer goes back;
 * - **calling**: calls no local worker serves (the invocations actor sends them here) are
 *   published for the cluster and answered from this engine's reply subscription:
 *   `function_not_found` when nobody serves the function, `worker_disconnected` when the
 *   engine that took it is gone, `invocation_timeout` when its time is up;
 * - **membership**: a heartbeat (this engine's entry in the membership bucket), a watch of
 *   the bucket, and the engines heard of (core/cluster.ts `Membership`); an engine
 *   unheard of for `deadAfterMs` (or whose entry is deleted) is gone, and so is, at once,
 *   an engine holding calls of this one whose ping subject NATS says nobody subscribes to
 *   any more (asked every half second while it holds any);
 * - **cron claims**: `cluster.claim`, a create-if-absent in the claims bucket, marked done
 *   once run; a tick lost to another engine is followed, and taken over should that
 *   engine be gone before it ran it (actors/cluster-cron.ts);
 * - **routes**: the routes this engine's http triggers hold, written in the routes bucket
 *   (`cluster.route`, from `provider:http`), and a watch of the bucket: the routes of the
 *   other engines that are members are given to `provider:http` (`route.remote`); and
 *   their claims, one per route cluster-wide, made when this engine's first trigger binds
 *   a route and let go with its last (`cluster.routeClaim`, `cluster.routeRelease`:
 *   actors/cluster-routes.ts);
 * - **listings**: its part of the other engines' listings (`<name>.listing`: an engine
 *   function run here alone, or its `/metrics` text), and theirs gathered for its own
 *   (`cluster.gather`; what is not an answer is refused and logged).
 * - **worker-defined trigger types**: the types its workers provide, claimed in the types
 *   bucket (create-if-absent: one provider per type in the cluster; a claim lost to another
 *   engine is revoked with `triggerType.revoke`), a watch of the bucket (in the membership
 *   table: sessions read who provides a type elsewhere), the registrations of this engine's
 *   workers forwarded to a provider elsewhere (`cluster.forward`, `cluster.unforward`, and
 *   their verdicts back to the type's child), and those of other engines' workers forwarded
 *   to this engine's providers (`bindings`: withdrawn from the provider when their engine
 *   is gone, dropped when the provider is).
 *
 * Its snapshot is its table (core/cluster.ts `ClusterTable`): the members, who provides each
 * worker-defined type on which engine, the types its own workers provide as claimed, the
 * calls in flight to other engines (with the engine that took each), its route claims, and
 * the cron ticks it follows. The table is changed in place, by this actor's events and as
 * NATS answers (a call's answer, a claim's outcome); the inspector is sent it with each of
 * the actor's events, which come at least with every member's heartbeat (every second,
 * while NATS is reachable).
 */
import type { EventObject } from 'xstate'
import { errors } from '../protocol/errors.js'
import { engineOfRouteKey, METRICS_PART, routeBucketKey, typeBucketKey, type RemoteCall, type RemoteReply, type RemoteRoute, type RemoteTriggerType, type TypeAnswer, type TypeMessage } from '../protocol/cluster.js'
import { acceptParts, GATHER_WAIT_MS } from '../core/cluster-listings.js'
import { ClusterTable, PayloadTooLargeError, type CallAcross } from '../core/cluster.js'
import { describeWorker, ENGINE_PROVIDER, forwardedIdForRemote, providerOf } from '../core/catalog.js'
import type { Outcome } from '../core/call-table.js'
import type { Closable, ClusterEvent, ClusterInput, ClusterLink } from '../machines/contracts.js'
import { actorsOf, catalogOf, tell } from '../machines/system.js'
import { fromTable, type TableScope } from './table-actor.js'
import { claimTick, closeCronClaims, openCronClaims, type CronClaims } from './cluster-cron.js'
import { claimRoute, closeRouteClaims, openRouteClaims, releaseRoute, type RouteClaims } from './cluster-routes.js'

/** A call sent to the cluster, waiting for its answer: the table's record of it (`CallAcross`), with its answer's callback and its timer. */
interface Pending extends CallAcross {
  settle: (outcome: Outcome) => void
  timer: NodeJS.Timeout | undefined
}

/** A registration of another engine's worker, forwarded to a provider of this engine. */
interface Binding {
  engine_id: string
  worker_id: string
  trigger_id: string
  trigger_type: string
  /** The id the provider knows it by. */
  forwarded_id: string
  /** The provider's worker id. */
  provider: string
  function_id: string
  config: Record<string, unknown>
}

interface Handles {
  replies: Closable
  types: Closable
  typeMessages: Closable
  /** The revision of each key of the types bucket, as the watch brought it: a gone engine's key is deleted only at it. */
  typeRevisions: Map<string, number>
  /** Registrations of other engines' workers forwarded to this engine's providers, by `bindingKey`. */
  bindings: Map<string, Binding>
  /**
   * The engines taken for gone whose bindings were dropped here: when, and one binding of
   * each type dropped. Should such an engine be heard of again, it is told (`dropped`),
   * and sends them again.
   */
  dropped: Map<string, { at: number; types: Map<string, { worker_id: string; trigger_id: string }> }>
  members: Closable
  routes: Closable
  listings: Closable
  /** The other engines' routes, as the routes bucket has them, by engine and key: served here while their engine is a member. */
  remoteRoutes: Map<string, Map<string, RemoteRoute>>
  /** This engine's routes, as published, by key: written again should another engine delete them. */
  published: Map<string, RemoteRoute>
  /** When the actor started (ms since the epoch). */
  since: number
  heartbeat: NodeJS.Timeout
  /** Asks after the engines that hold this engine's calls, every half second while there are any. */
  probe: NodeJS.Timeout
  /** Subscriptions of the functions this engine serves, by function id. */
  serving: Map<string, Closable>
  /** The catalog's subscription, once the catalog is there; a sync is due when `dirty`. */
  catalog?: { unsubscribe(): void }
  dirty: boolean
  /** Set once the engine stops: nothing is served any more. */
  draining: boolean
  /** The first look at the catalog, put off until the engine's actors have started. */
  attach: NodeJS.Immediate
  /** The cron ticks this engine lost and follows (actors/cluster-cron.ts). */
  cron: CronClaims
  /** The claims of routes being made or let go (actors/cluster-routes.ts). */
  routeClaims: RouteClaims
}

type Scope = TableScope<ClusterTable<Pending>, undefined, EventObject> & { handles: Handles; settings: ClusterInput }

/** Ends a call sent to another engine with `outcome`. */
function settle(scope: Scope, call_no: number, outcome: Outcome): void {
  const pending = scope.context.calls.close(call_no)
  if (!pending) return
  clearTimeout(pending.timer)
  pending.settle(outcome)
}

function onReply(scope: Scope, call_no: number, reply: RemoteReply): void {
  const pending = scope.context.calls.get(call_no)
  if (!pending) return
  if ('taken' in reply) {
    pending.taken_by = reply.taken
    return
  }
  if ('no_responders' in reply) return settle(scope, call_no, { error: errors.functionNotFound(pending.function_id) })
  if ('error' in reply && reply.error !== undefined && reply.error !== null) return settle(scope, call_no, { error: reply.error })
  settle(scope, call_no, { result: (reply as { result: unknown }).result })
}

/**
 * An engine is gone (stopped, killed, or cut off from NATS): the calls it took fail, its
 * routes are served here no more, and its keys in the routes bucket are deleted (should it
 * be alive after all, it writes them again when it sees them go).
 */
function engineGone(scope: Scope, link: ClusterLink, engine_id: string): void {
  const { handles } = scope
  for (const call_no of scope.context.calls.takenBy(engine_id)) settle(scope, call_no, { error: errors.workerDisconnected(scope.context.calls.get(call_no)!.function_id) })
  const http = actorsOf(scope.system).httpProvider()
  for (const key of handles.remoteRoutes.get(engine_id)?.keys() ?? []) {
    http?.send({ type: 'route.remote', key })
    link.putRoute(key, undefined).catch(() => {})
  }
  typesOfEngineGone(scope, link, engine_id)
}

/** An engine joined: its routes are served here too. */
function engineJoined(scope: Scope, link: ClusterLink, engine_id: string): void {
  const http = actorsOf(scope.system).httpProvider()
  for (const [key, entry] of scope.handles.remoteRoutes.get(engine_id) ?? []) http?.send({ type: 'route.remote', key, entry })
  typesOfEngineJoined(scope, link, engine_id)
}

/** A key of the routes bucket was written or deleted. */
function routeSeen(scope: Scope, link: ClusterLink, key: string, entry: RemoteRoute | undefined): void {
  const { handles } = scope
  const engine_id = engineOfRouteKey(key)
  if (engine_id === link.engine_id) {
    // Deleted by an engine that took this one for gone: written again while its triggers hold it.
    const mine = handles.published.get(key)
    if (!entry && mine) link.putRoute(key, mine).catch(() => {})
    return
  }
  let routes = handles.remoteRoutes.get(engine_id)
  if (entry) {
    if (!routes) handles.remoteRoutes.set(engine_id, (routes = new Map()))
    routes.set(key, entry)
  } else if (!routes?.delete(key)) return
  else if (routes.size === 0) handles.remoteRoutes.delete(engine_id)
  if (scope.context.membership.has(engine_id)) actorsOf(scope.system).httpProvider()?.send({ type: 'route.remote', key, entry })
}

function call(scope: Scope, link: ClusterLink, event: Extract<ClusterEvent, { type: 'cluster.call' }>): void {
  const { request } = event
  const message: RemoteCall = { function_id: request.function_id, data: request.data, from: link.engine_id }
  if (request.timeout_ms !== undefined) message.timeout_ms = request.timeout_ms
  if (request.void) message.void = true
  if (request.source !== undefined) message.source = request.source
  if (request.metadata !== undefined) message.metadata = request.metadata
  if (request.traceparent !== undefined) message.traceparent = request.traceparent
  if (request.baggage !== undefined) message.baggage = request.baggage
  if (request.void) {
    // Fire and forget: what NATS refuses is told, not answered.
    try {
      link.call(message, undefined)
    } catch (err) {
      scope.sendBack({ type: 'engine.log', level: 'warn', msg: 'cluster: a void call could not be sent', data: { function_id: request.function_id, err: (err as Error).message } })
    }
    return event.settle({ result: null })
  }
  const timeout_ms = request.timeout_ms ?? scope.settings.defaultTimeoutMs
  // One object per call, its timer set once it has its number (the field is there from the start).
  const pending: Pending = { function_id: request.function_id, source: event.source, started: performance.now(), timeout_ms, taken_by: undefined, settle: event.settle, timer: undefined }
  const call_no = scope.context.calls.open(pending)
  pending.timer = setTimeout(() => settle(scope, call_no, { error: errors.invocationTimeout(request.function_id, timeout_ms) }), timeout_ms)
  try {
    link.call(message, call_no)
  } catch (err) {
    settle(scope, call_no, { error: sendFailed(request.function_id, err) })
  }
}

/** Why a call could not be sent: too large for NATS, or NATS not there. */
function sendFailed(function_id: string, err: unknown) {
  if (err instanceof PayloadTooLargeError) return errors.clusterCallTooLarge(function_id, err.bytes, err.max)
  return errors.engineError(`the cluster could not be reached: ${(err as Error)?.message ?? String(err)}`)
}

/** A call from another engine for a function a local worker serves: started here, answered there. */
function serveCall(scope: Scope, link: ClusterLink, message: RemoteCall, respond: ((reply: RemoteReply) => void) | undefined): void {
  const invocations = actorsOf(scope.system).invocations()
  if (!invocations) return respond?.({ error: errors.engineStopped(message.function_id) })
  respond?.({ taken: link.engine_id })
  invocations.send({
    type: 'invocation.start',
    caller: { reply: (outcome) => respond?.(outcome.error !== undefined ? { error: outcome.error } : { result: outcome.result }) },
    function_id: message.function_id,
    data: message.data,
    timeout_ms: message.timeout_ms,
    void: message.void,
    source: message.source,
    metadata: message.metadata,
    traceparent: message.traceparent,
    baggage: message.baggage,
    local: true,
  })
}

/** Serves what local workers offer now, and no more: one subscription per function. */
function sync(scope: Scope, link: ClusterLink): void {
  const { handles } = scope
  handles.dirty = false
  if (handles.draining) return
  const { functions } = catalogOf(scope.system)
  let changed = false
  for (const function_id in functions) {
    if (functions[function_id].workers.length === 0 || handles.serving.has(function_id)) continue
    handles.serving.set(function_id, link.serve(function_id, (message, respond) => serveCall(scope, link, message, respond)))
    changed = true
  }
  for (const [function_id, sub] of handles.serving) {
    if ((functions[function_id]?.workers.length ?? 0) > 0) continue
    sub.close()
    handles.serving.delete(function_id)
    changed = true
  }
  syncTypes(scope, link)
  // The others learn of it now, not at the next heartbeat.
  if (changed) beat(scope, link)
}

/** How long after it starts an engine reads the membership entries as the first ones of its watch (ms). */
const FIRST_ENTRIES_MS = 2000

/** How often the engines holding this engine's calls are asked after (ms). */
const PROBE_MS = 500

/**
 * Asks after each engine that holds calls of this one: an engine whose subject NATS says
 * nobody subscribes to any more has lost its connection (killed, or stopped), so it is
 * gone now, without waiting for its heartbeats to be missed. An engine that is only slow
 * still subscribes, and is left alone.
 */
function probe(scope: Scope, link: ClusterLink): void {
  if (scope.context.calls.size === 0) return
  for (const engine_id of scope.context.calls.holders()) {
    link.ping(engine_id).then((answer) => {
      if (answer === 'gone') scope.self.send({ type: 'cluster.member', engine_id })
    })
  }
}

function beat(scope: Scope, link: ClusterLink): void {
  const now = Date.now()
  for (const gone of scope.context.membership.expire(now)) {
    engineGone(scope, link, gone)
    scope.sendBack({ type: 'engine.log', level: 'warn', msg: 'cluster: engine unheard of, taken for gone', data: { engine_id: gone } })
  }
  link.beat({ engine_id: link.engine_id, ...scope.settings.describe(), functions: [...scope.handles.serving.keys()] }).catch(() => {
    // NATS unreachable: the entry is written again at the next beat.
  })
  sweepRoutes(scope, link, now)
  if (!scope.handles.draining) syncTypes(scope, link)
}

/** How long after it starts an engine deletes the routes of engines it has not heard of (ms): longer than a membership entry lives. */
const STALE_ROUTES_MS = 15_000

/**
 * Routes in the bucket of engines that are not members (killed while no engine was there
 * to see them go, a whole cluster restarted) are never served: once this engine has run
 * for `STALE_ROUTES_MS` (a member beats every second, and its entry lives 10 s), it
 * deletes them. An engine that was only cut off writes its own again when it sees them go.
 */
function sweepRoutes(scope: Scope, link: ClusterLink, now: number): void {
  const { handles } = scope
  if (now - handles.since < STALE_ROUTES_MS) return
  for (const [engine_id, routes] of handles.remoteRoutes) {
    if (scope.context.membership.has(engine_id)) continue
    for (const key of routes.keys()) link.putRoute(key, undefined).catch(() => {})
    // The watch brings the deletions; until then they are not asked for again.
    handles.remoteRoutes.delete(engine_id)
  }
}

/** What the cron and route claims (actors/cluster-cron.ts, actors/cluster-routes.ts) need of this actor. */
const claimDeps = (scope: Scope, link: ClusterLink) => ({
  link,
  isMember: (engine_id: string) => scope.context.membership.has(engine_id),
  log: (level: 'info' | 'warn', msg: string, data: Record<string, unknown>) => scope.sendBack({ type: 'engine.log', level, msg, data }),
  cronTicks: scope.context.cronTicks,
  routeClaims: scope.context.routeClaims,
})

// ----- Worker-defined trigger types across the cluster

const bindingKey = (engine_id: string, worker_id: string, trigger_id: string) => `${engine_id}\u0000${worker_id}\u0000${trigger_id}`

/** The worker of this engine that provides `trigger_type`, if one does (not the engine's own types). */
function localProvider(scope: Scope, trigger_type: string): string | undefined {
  const provider = providerOf(catalogOf(scope.system), trigger_type)
  return provider === ENGINE_PROVIDER ? undefined : provider
}

/** Tells every local session's child for `trigger_type` that its provider elsewhere came or went. */
function tellTypeChildren(scope: Scope, trigger_type: string, event: { type: 'provider.lost'; trigger_type: string; gone: boolean } | { type: 'provider.available'; trigger_type: string }): void {
  const actors = actorsOf(scope.system)
  for (const worker_id in catalogOf(scope.system).workers) tell(actors.typeChild(worker_id, trigger_type), event)
}

/**
 * Claims in the types bucket the types local workers provide now, and lets go of those they
 * provide no more. Run at each change of the catalog and at each heartbeat (a claim NATS
 * could not answer is made again then).
 */
function syncTypes(scope: Scope, link: ClusterLink): void {
  const catalog = catalogOf(scope.system)
  for (const trigger_type in catalog.triggerTypes) {
    const { worker_id, description } = catalog.triggerTypes[trigger_type]
    if (worker_id === ENGINE_PROVIDER) continue
    const own = scope.context.ownTypes.get(trigger_type)
    if (own && own.worker_id === worker_id && !own.releasing && (own.claiming || own.revision !== undefined)) continue
    scope.context.ownTypes.set(trigger_type, { worker_id, claiming: true, revision: own?.revision })
    const entry: RemoteTriggerType = { trigger_type, engine_id: link.engine_id, worker_id, worker: describeWorker(catalog, worker_id) }
    if (description !== undefined) entry.description = description
    // Gone: NATS says its engine's connection has ended (not merely unheard of).
    const gone = async (engine_id: string) => !scope.context.membership.has(engine_id) && (await link.ping(engine_id)) === 'gone'
    link.claimType(entry, gone).then(
      (outcome) => scope.self.send({ type: 'cluster.typeClaimed', trigger_type, worker_id, outcome }),
      (err: Error) => {
        const now = scope.context.ownTypes.get(trigger_type)
        if (now?.worker_id === worker_id) now.claiming = false
        scope.sendBack({ type: 'engine.log', level: 'warn', msg: 'cluster: a trigger type could not be claimed; tried again at the next heartbeat', data: { trigger_type, err: err?.message ?? String(err) } })
      },
    )
  }
  for (const [trigger_type, own] of scope.context.ownTypes) {
    if (catalog.triggerTypes[trigger_type]?.worker_id === own.worker_id || own.claiming || own.releasing) continue
    if (own.revision === undefined) {
      scope.context.ownTypes.delete(trigger_type)
      continue
    }
    // Let go of once NATS says so (a deletion it could not make is made again at the next heartbeat).
    own.releasing = true
    link.deleteType(typeBucketKey(trigger_type), own.revision).then(
      () => void (scope.context.ownTypes.get(trigger_type) === own && scope.context.ownTypes.delete(trigger_type)),
      () => (own.releasing = false),
    )
  }
}

/** A claim made for a local worker has its outcome. */
function typeClaimed(scope: Scope, link: ClusterLink, event: Extract<ClusterEvent, { type: 'cluster.typeClaimed' }>): void {
  const { trigger_type, worker_id, outcome } = event
  const own = scope.context.ownTypes.get(trigger_type)
  const mine = own?.worker_id === worker_id
  if (outcome.won) {
    if (mine && localProvider(scope, trigger_type) === worker_id) {
      own.revision = outcome.revision
      own.claiming = false
      return
    }
    // Its worker let go of it meanwhile.
    if (mine) scope.context.ownTypes.delete(trigger_type)
    link.deleteType(typeBucketKey(trigger_type), outcome.revision).catch(() => {})
    if (!mine) syncTypes(scope, link)
    return
  }
  if (mine) scope.context.ownTypes.delete(trigger_type)
  typeLost(scope, trigger_type, worker_id, outcome.holder)
  if (!mine) syncTypes(scope, link)
}

/**
 * Another engine's worker holds `trigger_type` in the types bucket (it claimed it first,
 * or took this engine's claim over while it took this engine for gone): the local worker's
 * type is refused after all, as a second provider is on one engine, and the triggers it
 * had, parked by the withdrawal, go to the holder.
 */
function typeLost(scope: Scope, trigger_type: string, worker_id: string, holder: RemoteTriggerType): void {
  scope.sendBack({ type: 'engine.log', level: 'warn', msg: 'cluster: a trigger type is provided on another engine; refused here', data: { trigger_type, worker_id, holder: holder.worker_id, engine_id: holder.engine_id } })
  tell(actorsOf(scope.system).session(worker_id), { type: 'triggerType.revoke', trigger_type, error: errors.triggerTypeExists(trigger_type, `by ${holder.worker} on engine '${holder.engine_id}'`) })
  // (once the watch brought the holder's entry)
  if (localProvider(scope, trigger_type) === undefined && scope.context.membership.typeHolder(trigger_type)) tellTypeChildren(scope, trigger_type, { type: 'provider.available', trigger_type })
}

/** A key of the types bucket was written or deleted. */
function typeSeen(scope: Scope, link: ClusterLink, key: string, entry: RemoteTriggerType | undefined, revision: number): void {
  const { handles } = scope
  const before = scope.context.membership.setType(key, entry)
  if (entry) handles.typeRevisions.set(key, revision)
  else handles.typeRevisions.delete(key)
  const trigger_type = entry?.trigger_type ?? before?.trigger_type
  if (trigger_type === undefined) return
  if (!entry && before?.engine_id === link.engine_id) {
    // Deleted by an engine that took this one for gone: claimed again while a local worker provides it.
    const own = scope.context.ownTypes.get(trigger_type)
    if (own && !own.claiming) scope.context.ownTypes.delete(trigger_type)
    syncTypes(scope, link)
    return
  }
  const own = scope.context.ownTypes.get(trigger_type)
  if (entry && entry.engine_id !== link.engine_id && own && !own.claiming && own.revision !== undefined && localProvider(scope, trigger_type) === own.worker_id) {
    // This engine's claim was taken over (another engine took it for gone): its worker's type is refused now.
    scope.context.ownTypes.delete(trigger_type)
    return typeLost(scope, trigger_type, own.worker_id, entry)
  }
  // A local provider's triggers are the engine's own business.
  if (localProvider(scope, trigger_type) !== undefined) return
  const was = before && before.engine_id !== link.engine_id ? before : undefined
  const now = entry && entry.engine_id !== link.engine_id && scope.context.membership.has(entry.engine_id) ? entry : undefined
  if (was && (was.engine_id !== now?.engine_id || was.worker_id !== now?.worker_id)) tellTypeChildren(scope, trigger_type, { type: 'provider.lost', trigger_type, gone: true })
  if (now && (was?.engine_id !== now.engine_id || was?.worker_id !== now.worker_id)) tellTypeChildren(scope, trigger_type, { type: 'provider.available', trigger_type })
}

/** A registration of a local worker goes to the provider on another engine. */
function forward(scope: Scope, link: ClusterLink, event: Extract<ClusterEvent, { type: 'cluster.forward' }>): void {
  const { engine_id, trigger_type, worker_id, trigger_id } = event
  const message: TypeMessage = { op: 'register', from: link.engine_id, trigger_type, worker_id, trigger_id, function_id: event.function_id, config: event.config }
  if (event.metadata !== undefined) message.metadata = event.metadata
  if (event.forwarded_id !== undefined) message.forwarded_id = event.forwarded_id
  const fail = (error: unknown) =>
    scope.self.send({ type: 'cluster.typeMessage', message: { op: 'verdict', from: engine_id, trigger_type, worker_id, trigger_id, forwarded_id: event.forwarded_id ?? trigger_id, error } })
  link
    .sendType(engine_id, message)
    .then(
      (answer) => {
        // Accepted: the provider's verdict comes later. No answer in time (or no answer at all): the registration's own timeout answers.
        if (answer === 'gone') fail(errors.noProvider(trigger_type))
        else if (typeof answer === 'object' && answer !== null && 'error' in answer) fail(answer.error)
      },
      (err: Error) => fail(err instanceof PayloadTooLargeError ? errors.engineError(`the registration could not cross the cluster: ${err.message}`) : errors.engineError(`the cluster could not be reached: ${err?.message ?? String(err)}`)),
    )
    .catch((err: Error) => scope.sendBack({ type: 'engine.log', level: 'error', msg: 'cluster: a forwarded registration could not be settled', data: { trigger_type, trigger_id, err: err?.message ?? String(err) } }))
}

/** The provider drops a registration of another engine's worker (`tell`: it is told with `unregistertrigger`). */
function dropBinding(scope: Scope, binding: Binding, tellProvider: boolean): void {
  const { handles } = scope
  handles.bindings.delete(bindingKey(binding.engine_id, binding.worker_id, binding.trigger_id))
  const actors = actorsOf(scope.system)
  tell(actors.catalog(), { type: 'forwarded.unbind', trigger_type: binding.trigger_type, forwarded_id: binding.forwarded_id })
  if (tellProvider) {
    tell(actors.session(binding.provider), {
      type: 'provider.unforward',
      message: { type: 'unregistertrigger', id: binding.forwarded_id, trigger_type: binding.trigger_type, function_id: binding.function_id, config: binding.config },
    })
  }
}

/** A message another engine addressed to this one about trigger types. */
function typeMessage(scope: Scope, link: ClusterLink, message: TypeMessage, respond: ((answer: TypeAnswer) => void) | undefined): void {
  const { handles } = scope
  const { from, trigger_type, worker_id, trigger_id } = message
  const key = bindingKey(from, worker_id, trigger_id)
  switch (message.op) {
    case 'register': {
      const previous = handles.bindings.get(key)
      if (previous) dropBinding(scope, previous, true)
      const provider = localProvider(scope, trigger_type)
      const session = provider === undefined ? undefined : actorsOf(scope.system).session(provider)
      if (provider === undefined || !session) return respond?.({ error: errors.noProvider(trigger_type) })
      const forwarded_id = forwardedIdForRemote(catalogOf(scope.system), trigger_type, message.forwarded_id ?? trigger_id, { engine_id: from, worker_id, trigger_id })
      handles.bindings.set(key, { engine_id: from, worker_id, trigger_id, trigger_type, forwarded_id, provider, function_id: message.function_id, config: message.config })
      tell(actorsOf(scope.system).catalog(), { type: 'forwarded.bind', trigger_type, forwarded_id, entry: { worker_id, trigger_id, engine_id: from } })
      respond?.({ accepted: true })
      session.send({ type: 'provider.forward', message: { type: 'registertrigger', id: forwarded_id, trigger_type, function_id: message.function_id, config: message.config, metadata: message.metadata } })
      return
    }
    case 'unregister': {
      const binding = handles.bindings.get(key)
      if (binding && binding.trigger_type === trigger_type) dropBinding(scope, binding, true)
      return
    }
    case 'adopt': {
      const binding = handles.bindings.get(bindingKey(from, message.previous_worker_id, trigger_id))
      if (!binding || binding.trigger_type !== trigger_type) {
        scope.sendBack({ type: 'engine.log', level: 'warn', msg: 'cluster: a binding to take over is not here', data: { trigger_type, trigger_id, engine_id: from, worker_id: message.previous_worker_id } })
        return
      }
      handles.bindings.delete(bindingKey(from, message.previous_worker_id, trigger_id))
      binding.worker_id = worker_id
      handles.bindings.set(key, binding)
      tell(actorsOf(scope.system).catalog(), { type: 'forwarded.bind', trigger_type, forwarded_id: binding.forwarded_id, entry: { worker_id, trigger_id, engine_id: from } })
      return
    }
    case 'verdict':
      tell(actorsOf(scope.system).typeChild(worker_id, trigger_type), { type: 'provider.remoteVerdict', trigger_id, engine_id: from, forwarded_id: message.forwarded_id, error: message.error })
      return
    case 'dropped':
      // The provider's engine took this one for gone and dropped what this engine bound there:
      // its triggers of the type park (the provider holds none of them) and are sent again.
      if (localProvider(scope, trigger_type) !== undefined || scope.context.membership.typeHolder(trigger_type)?.engine_id !== from) return
      scope.sendBack({ type: 'engine.log', level: 'info', msg: "cluster: a provider's engine had taken this one for gone; its triggers are sent there again", data: { trigger_type, engine_id: from } })
      tellTypeChildren(scope, trigger_type, { type: 'provider.lost', trigger_type, gone: true })
      tellTypeChildren(scope, trigger_type, { type: 'provider.available', trigger_type })
      return
  }
}

/** A local provider's verdict on a registration another engine forwarded to it: sent back there. */
function verdict(scope: Scope, link: ClusterLink, event: Extract<ClusterEvent, { type: 'cluster.verdict' }>): void {
  const { handles } = scope
  const origin = catalogOf(scope.system).forwarded[event.trigger_type]?.[event.forwarded_id]
  const binding = origin?.engine_id === undefined ? undefined : handles.bindings.get(bindingKey(origin.engine_id, origin.worker_id, origin.trigger_id))
  if (!binding || binding.provider !== event.from || binding.forwarded_id !== event.forwarded_id) {
    tell(actorsOf(scope.system).session(event.from), { type: 'session.reject', error: errors.unexpectedVerdict(event.forwarded_id), ref: { type: 'triggerregistrationresult', id: event.forwarded_id } })
    return
  }
  const failed = event.error !== undefined && event.error !== null
  // Refused: the provider holds nothing of it.
  if (failed) dropBinding(scope, binding, false)
  const message: TypeMessage = { op: 'verdict', from: link.engine_id, trigger_type: binding.trigger_type, worker_id: binding.worker_id, trigger_id: binding.trigger_id, forwarded_id: binding.forwarded_id }
  if (failed) message.error = event.error
  link.sendType(binding.engine_id, message).catch((err: Error) =>
    scope.sendBack({ type: 'engine.log', level: 'warn', msg: 'cluster: a verdict could not be sent back', data: { trigger_type: binding.trigger_type, engine_id: binding.engine_id, err: err?.message ?? String(err) } }),
  )
}

/** A local provider of `trigger_type` is gone (`gone`) or withdrew it: what other engines bound to it goes (they park it). */
function localProviderLost(scope: Scope, trigger_type: string, gone: boolean): void {
  for (const binding of [...scope.handles.bindings.values()]) if (binding.trigger_type === trigger_type) dropBinding(scope, binding, !gone)
}

/** An engine is gone: the types it provided are free (their triggers here park), and what it bound here is withdrawn. */
function typesOfEngineGone(scope: Scope, link: ClusterLink, engine_id: string): void {
  const { handles } = scope
  for (const [key, entry] of scope.context.membership.typesOf(engine_id)) {
    if (localProvider(scope, entry.trigger_type) === undefined) tellTypeChildren(scope, entry.trigger_type, { type: 'provider.lost', trigger_type: entry.trigger_type, gone: true })
    const revision = handles.typeRevisions.get(key)
    if (revision !== undefined) link.deleteType(key, revision).catch(() => {})
  }
  const now = Date.now()
  for (const [id, { at }] of handles.dropped) if (now - at > DROPPED_KEPT_MS) handles.dropped.delete(id)
  const types = new Map<string, { worker_id: string; trigger_id: string }>()
  for (const binding of [...handles.bindings.values()]) {
    if (binding.engine_id !== engine_id) continue
    if (!types.has(binding.trigger_type)) types.set(binding.trigger_type, { worker_id: binding.worker_id, trigger_id: binding.trigger_id })
    dropBinding(scope, binding, true)
  }
  if (types.size > 0) handles.dropped.set(engine_id, { at: now, types })
}

/** How long the engines whose bindings were dropped here are remembered (ms): one heard of again later is not told. */
const DROPPED_KEPT_MS = 3_600_000

/**
 * An engine joined: triggers here parked for want of a type it provides go to it; should it
 * be one taken for gone whose bindings were dropped here (it was paused, or slow), it is
 * told, and sends them again.
 */
function typesOfEngineJoined(scope: Scope, link: ClusterLink, engine_id: string): void {
  const dropped = scope.handles.dropped.get(engine_id)
  scope.handles.dropped.delete(engine_id)
  for (const [trigger_type, { worker_id, trigger_id }] of dropped?.types ?? []) {
    link.sendType(engine_id, { op: 'dropped', from: link.engine_id, trigger_type, worker_id, trigger_id }).catch((err: Error) =>
      scope.sendBack({ type: 'engine.log', level: 'warn', msg: 'cluster: an engine whose bindings were dropped could not be told', data: { trigger_type, engine_id, err: err?.message ?? String(err) } }),
    )
  }
  for (const [, entry] of scope.context.membership.typesOf(engine_id)) {
    if (localProvider(scope, entry.trigger_type) === undefined) tellTypeChildren(scope, entry.trigger_type, { type: 'provider.available', trigger_type: entry.trigger_type })
  }
}

/** The cluster actor's logic over `link` (the composition root opens it, and closes it after the engine stopped). */
export function createClusterLogic(link: ClusterLink, settings: ClusterInput) {
  return fromTable<ClusterTable<Pending>, ClusterEvent, undefined, EventObject, Handles>({
    context: () => new ClusterTable<Pending>(link.engine_id, settings.deadAfterMs),
    open(scope) {
      const s = Object.assign(scope, { settings }) as Scope
      const handles: Handles = {
        serving: new Map(),
        dirty: false,
        draining: false,
        replies: link.replies((call_no, reply) => onReply(s, call_no, reply)),
        // Through the actor, so that its snapshot (the membership) changes as an event of its own.
        members: link.members((engine_id, info, at) => scope.self.send({ type: 'cluster.member', engine_id, info, at })),
        routes: link.routes((key, entry) => scope.self.send({ type: 'cluster.routeSeen', key, entry })),
        // Another engine's listing: this engine's part, from the engine function run here alone.
        listings: link.listings(
          (function_id, data) =>
            new Promise((resolve) => {
              // This engine's /metrics, labelled with its id: its part of another engine's /metrics.
              if (function_id === METRICS_PART && settings.metrics) {
                return void settings.metrics().then(
                  (result) => resolve({ result }),
                  (err: Error) => resolve({ error: errors.engineError(`metrics: ${err?.message ?? String(err)}`) }),
                )
              }
              const invocations = actorsOf(scope.system).invocations()
              if (!invocations || !function_id.startsWith('engine::')) return resolve({ error: errors.functionNotFound(function_id) })
              invocations.send({ type: 'invocation.start', source: 'engine', caller: { reply: resolve }, function_id, data, local: true })
            }),
        ),
        remoteRoutes: new Map(),
        published: new Map(),
        cron: openCronClaims(),
        routeClaims: openRouteClaims(),
        types: link.types((key, entry, revision) => scope.self.send({ type: 'cluster.typeSeen', key, entry, revision })),
        typeMessages: link.typeMessages((message, respond) => scope.self.send(respond ? { type: 'cluster.typeMessage', message, respond } : { type: 'cluster.typeMessage', message })),
        typeRevisions: new Map(),
        bindings: new Map(),
        dropped: new Map(),
        since: Date.now(),
        heartbeat: setInterval(() => beat(s, link), settings.heartbeatMs),
        probe: setInterval(() => probe(s, link), PROBE_MS),
        attach: setImmediate(() => {
          const catalog = actorsOf(scope.system).catalog()
          if (!catalog || handles.draining) return
          // Batched: a worker registering many functions costs one pass over the catalog.
          handles.catalog = catalog.subscribe(() => {
            if (handles.dirty) return
            handles.dirty = true
            setImmediate(() => handles.dirty && sync(s, link))
          })
          sync(s, link)
        }),
      }
      handles.heartbeat.unref()
      handles.probe.unref()
      // The first beat at once: the others hear of this engine before its first call.
      setImmediate(() => beat(s, link))
      return handles
    },
    receive(scope, event) {
      switch (event.type) {
        case 'cluster.call':
          return call(scope as Scope, link, event)
        case 'cluster.claim':
          return claimTick(scope.handles.cron, claimDeps(scope as Scope, link), event)
        case 'cluster.routeClaim':
          return claimRoute(scope.handles.routeClaims, claimDeps(scope as Scope, link), event)
        case 'cluster.routeRelease':
          return releaseRoute(scope.handles.routeClaims, claimDeps(scope as Scope, link), event.route_key)
        case 'cluster.gather': {
          const others = scope.context.membership.list().map((m) => m.engine_id).filter((id) => id !== link.engine_id)
          link.gather(event.function_id, event.data, others, GATHER_WAIT_MS).then(
            (raw) => {
              // Anything may be published on the listing subject: what is not an answer is refused, and said.
              const { parts, refused } = acceptParts(raw, link.engine_id, event.check)
              for (const { engine_id, why } of refused) scope.sendBack({ type: 'engine.log', level: 'warn', msg: "cluster: another engine's part of a listing was refused", data: { function_id: event.function_id, engine_id, why } })
              event.reply(parts)
            },
            () => event.reply([]),
          )
          return
        }
        case 'cluster.route': {
          const key = routeBucketKey(link.engine_id, event.route_key)
          const entry = event.entry && { ...event.entry, engine_id: link.engine_id }
          if (entry) scope.handles.published.set(key, entry)
          else scope.handles.published.delete(key)
          link.putRoute(key, entry).catch((err: Error) => scope.sendBack({ type: 'engine.log', level: 'warn', msg: 'cluster: a route could not be published', data: { route: event.route_key, err: err.message } }))
          return
        }
        case 'cluster.routeSeen':
          return routeSeen(scope as Scope, link, event.key, event.entry)
        case 'cluster.typeSeen':
          return typeSeen(scope as Scope, link, event.key, event.entry, event.revision)
        case 'cluster.typeClaimed':
          return typeClaimed(scope as Scope, link, event)
        case 'cluster.typeMessage':
          return typeMessage(scope as Scope, link, event.message, event.respond)
        case 'cluster.forward':
          return forward(scope as Scope, link, event)
        case 'cluster.adopt':
          link.sendType(event.engine_id, { op: 'adopt', from: link.engine_id, trigger_type: event.trigger_type, worker_id: event.worker_id, trigger_id: event.trigger_id, previous_worker_id: event.from }).catch(() => {})
          return
        case 'cluster.unforward':
          link.sendType(event.engine_id, { op: 'unregister', from: link.engine_id, trigger_type: event.trigger_type, worker_id: event.worker_id, trigger_id: event.trigger_id }).catch(() => {})
          return
        case 'cluster.verdict':
          return verdict(scope as Scope, link, event)
        case 'provider.lost':
          return localProviderLost(scope as Scope, event.trigger_type, event.gone)
        case 'provider.available':
          return
        case 'cluster.drain': {
          // Calls for its functions go to the other engines now; no sync serves them again.
          const { handles } = scope
          handles.draining = true
          handles.catalog?.unsubscribe()
          handles.catalog = undefined
          for (const sub of handles.serving.values()) sub.close()
          handles.serving.clear()
          beat(scope as Scope, link)
          return
        }
        case 'cluster.member': {
          const { engine_id, info } = event
          if (info) {
            // Among the entries the watch brings first, one written long ago is an engine gone, not
            // one that joined (written by NATS's clock: only then, lest a clock out of step keep every engine out).
            const now = Date.now()
            if (now - scope.handles.since < FIRST_ENTRIES_MS && event.at !== undefined && now - event.at > settings.deadAfterMs) return
            if (scope.context.membership.beat(info, now) && engine_id !== link.engine_id) {
              engineJoined(scope as Scope, link, engine_id)
              scope.sendBack({ type: 'engine.log', level: 'info', msg: 'cluster: engine joined', data: { engine_id } })
            }
          } else if (scope.context.membership.leave(engine_id)) {
            engineGone(scope as Scope, link, engine_id)
            scope.sendBack({ type: 'engine.log', level: 'info', msg: 'cluster: engine left', data: { engine_id } })
          }
          return
        }
      }
    },
    close(scope) {
      const { handles, context } = scope
      clearImmediate(handles.attach)
      clearInterval(handles.heartbeat)
      clearInterval(handles.probe)
      closeCronClaims(handles.cron)
      closeRouteClaims(handles.routeClaims)
      handles.catalog?.unsubscribe()
      handles.dirty = false
      for (const sub of handles.serving.values()) sub.close()
      handles.serving.clear()
      handles.members.close()
      handles.routes.close()
      handles.types.close()
      handles.typeMessages.close()
      handles.listings.close()
      handles.replies.close()
      // Its routes go with it (the others would drop them once it is gone anyway).
      for (const key of handles.published.keys()) link.putRoute(key, undefined).catch(() => {})
      // So do its types: the next provider, wherever it connects, claims them.
      for (const [trigger_type, own] of context.ownTypes) if (own.revision !== undefined) link.deleteType(typeBucketKey(trigger_type), own.revision).catch(() => {})
      for (const call_no of context.calls.numbers()) settle(scope as Scope, call_no, { error: errors.engineStopped(context.calls.get(call_no)!.function_id) })
      link.leave().catch(() => {})
    },
  })
}
