/**
 * The root of the actor tree: booting → providing → starting → running → stopping →
 * stopped. It owns
 * the catalog, the invocations actor and the providers of the built-in trigger types (the
 * HTTP listener, the cron clock, the queue store, pub/sub's topics; in a cluster, the
 * cluster actor), spawns one session per connection and
 * stops it when it ends, and tells every session's child for a trigger type when that
 * type's provider comes or goes. Stopping waits for calls in flight, up to a grace period.
 *
 * The actors it runs live in higher layers (actors/): it declares them as slots, and the
 * composition root (adapters/engine.ts) provides them.
 */
import { assign, emit, enqueueActions, raise, setup, spawnChild, stopChild } from 'xstate'
import { BUILTIN_TRIGGER_TYPES } from '../core/catalog.js'
import type { EngineEmitted, EngineEvent, EngineSettings } from './contracts.js'
import { actorIds, actorsOf, catalogOf, SESSION_SOURCE, tell, type EngineSystem } from './system.js'
import { sessionMachine } from './session.machine.js'
import { slot } from './slot.js'

/** Where a provider listens, once it does. */
export interface Listening {
  host: string
  port: number
}

/** The built-in trigger types an engine offers: `http` only with an HTTP listener. */
const offeredTypes = (settings: EngineSettings): Record<string, string> => {
  const { http, ...always } = BUILTIN_TRIGGER_TYPES
  return settings.http ? { http, ...always } : always
}

/** The worker whose session an `xstate.error.actor.session:<worker_id>` event is about. */
const workerOfFailed = (event: unknown) => (event as { actorId: string }).actorId.slice(actorIds.session('').length)

/** Tells every session's child for `trigger_type` (and, in a cluster, the cluster actor) that the type's provider came or went. */
const tellTypeChildren = (system: EngineSystem, trigger_type: string, event: { type: 'provider.lost'; trigger_type: string; gone: boolean } | { type: 'provider.available'; trigger_type: string }) => {
  for (const worker_id in catalogOf(system).workers) tell(actorsOf(system).typeChild(worker_id, trigger_type), event)
  // In a cluster, the registrations other engines bound to a type of this engine's provider go or wait with it.
  tell(actorsOf(system).cluster(), event)
}

export const engineMachine = setup({
  types: {
    input: {} as EngineSettings,
    context: {} as EngineSettings & { started_at: string; listening: Record<string, Listening> },
    events: {} as EngineEvent,
    emitted: {} as EngineEmitted,
  },
  actors: {
    [SESSION_SOURCE]: sessionMachine,
    catalog: slot('engine', 'catalog'),
    invocations: slot('engine', 'invocations'),
    channels: slot('engine', 'channels'),
    httpProvider: slot('engine', 'httpProvider'),
    cronProvider: slot('engine', 'cronProvider'),
    queueProvider: slot('engine', 'queueProvider'),
    pubsubProvider: slot('engine', 'pubsubProvider'),
    cluster: slot('engine', 'cluster'),
  },
  delays: { grace: ({ context }) => context.graceMs },
  guards: {
    hasHttpListener: ({ context }) => context.http !== undefined,
    /** One of a cluster of engines (`cluster` option): it joins before its providers start. */
    isClustered: ({ context }) => context.clustered === true,
    /** A session failed (a bug, never bad input): its siblings (catalog, invocations, providers) never should. */
    failedActorIsSession: ({ event }) => (event as { actorId?: string }).actorId?.startsWith(actorIds.session('')) === true,
  },
  actions: {
    startHttpProvider: enqueueActions(({ enqueue, context }) =>
      enqueue.spawnChild('httpProvider', { id: actorIds.httpProvider, systemId: actorIds.httpProvider, input: context.http }),
    ),
    startCronProvider: enqueueActions(({ enqueue }) => enqueue.spawnChild('cronProvider', { id: actorIds.cronProvider, systemId: actorIds.cronProvider })),
    startQueueProvider: enqueueActions(({ enqueue }) => enqueue.spawnChild('queueProvider', { id: actorIds.queueProvider, systemId: actorIds.queueProvider })),
    startPubsubProvider: enqueueActions(({ enqueue }) => enqueue.spawnChild('pubsubProvider', { id: actorIds.pubsubProvider, systemId: actorIds.pubsubProvider })),
    /** One of a cluster: the actor that holds its subscriptions on NATS (released when the engine stops). */
    startCluster: spawnChild('cluster', { id: actorIds.cluster, systemId: actorIds.cluster }),
    recordListening: assign({
      listening: ({ context, event }) => {
        const { provider, host, port } = event as Extract<EngineEvent, { type: 'provider.listening' }>
        return { ...context.listening, [provider]: { host, port } }
      },
    }),
    reportProviderFailure: emit(({ event }) => {
      const { provider, message, reason } = event as Extract<EngineEvent, { type: 'provider.failed' }>
      return { type: 'provider.failed' as const, provider, message, reason }
    }),
    spawnSession: enqueueActions(({ enqueue, context, event }) => {
      const { worker_id, reattach_hash, identity } = event as Extract<EngineEvent, { type: 'session.open' }>
      const id = actorIds.session(worker_id)
      const { functionsPerSession, triggersPerSession, triggerTypesPerSession } = context.limits
      enqueue.spawnChild('session', {
        id,
        systemId: id,
        input: {
          worker_id,
          reattach_hash,
          identity,
          registrationTimeoutMs: context.registrationTimeoutMs,
          reconnectGraceMs: context.reconnectGraceMs,
          limits: { functionsPerSession, triggersPerSession, triggerTypesPerSession },
        },
      })
    }),
    /** Stopping a session stops its children, which releases everything they held. */
    stopSession: stopChild(({ event }) => actorIds.session((event as Extract<EngineEvent, { type: 'session.ended' }>).worker_id)),
    /** The ended (or held) session's trigger types are gone: triggers bound to them park. */
    announceTypesGone: ({ event, system }) => {
      for (const trigger_type of (event as Extract<EngineEvent, { type: 'session.ended' | 'session.held' }>).trigger_types) {
        tellTypeChildren(system, trigger_type, { type: 'provider.lost', trigger_type, gone: true })
      }
    },
    announceTypeLost: ({ event, system }) => {
      const { trigger_type, gone } = event as Extract<EngineEvent, { type: 'triggerType.lost' }>
      tellTypeChildren(system, trigger_type, { type: 'provider.lost', trigger_type, gone })
    },
    announceTypeAvailable: ({ event, system }) => {
      const { trigger_type } = event as Extract<EngineEvent, { type: 'triggerType.available' }>
      tellTypeChildren(system, trigger_type, { type: 'provider.available', trigger_type })
    },
    logActorFailure: emit(({ event }) => {
      const { actorId, error } = event as unknown as { actorId: string; error: unknown }
      return { type: 'log' as const, level: 'error' as const, msg: 'engine actor failed', data: { actor: actorId, err: String(error) } }
    }),
    /** A session that crashed could not end itself: it is ended as if it had closed (stopped, its types gone)… */
    endFailedSession: raise(({ event, system }) => {
      const worker_id = workerOfFailed(event)
      return { type: 'session.ended' as const, worker_id, trigger_types: Object.keys(catalogOf(system).workers[worker_id]?.trigger_types ?? {}) }
    }),
    /** …and what it registered leaves the catalog… */
    removeFailedWorker: ({ event, system }) => tell(actorsOf(system).catalog(), { type: 'worker.remove', worker_id: workerOfFailed(event) }),
    /** …and its calls end. */
    endFailedWorkerCalls: ({ event, system }) => tell(actorsOf(system).invocations(), { type: 'worker.gone', worker_id: workerOfFailed(event) }),
    logSessionFailure: emit(({ event }) => {
      const { error } = event as unknown as { error: unknown }
      return { type: 'log' as const, level: 'warn' as const, msg: 'session failed', data: { worker_id: workerOfFailed(event), err: String(error) } }
    }),
    abortCalls: ({ system }) => tell(actorsOf(system).invocations(), { type: 'invocations.abort' }),
    /** Queues hand out no new batches while the engine stops; batches in flight finish. */
    drainQueues: ({ system }) => tell(actorsOf(system).queueProvider(), { type: 'queue.drain' }),
    drainCalls: ({ system }) => tell(actorsOf(system).invocations(), { type: 'invocations.drain' }),
    /** In a cluster, the other engines take the calls of its functions from now on. */
    drainCluster: ({ system }) => tell(actorsOf(system).cluster(), { type: 'cluster.drain' }),
    log: emit(({ event }) => {
      const { level, msg, data } = event as Extract<EngineEvent, { type: 'engine.log' }>
      return { type: 'log' as const, level, msg, data }
    }),
    logState: emit((_, params: { msg: string }) => ({ type: 'log' as const, level: 'info' as const, msg: params.msg, data: {} })),
  },
}).createMachine({
  id: 'engine',
  context: ({ input }) => ({ ...input, started_at: new Date().toISOString(), listening: {} }),
  invoke: [
    { src: 'catalog', id: actorIds.catalog, systemId: actorIds.catalog, input: ({ context }: { context: EngineSettings }) => ({ builtins: offeredTypes(context) }) },
    { src: 'channels', id: actorIds.channels, systemId: actorIds.channels },
    {
      src: 'invocations',
      id: actorIds.invocations,
      systemId: actorIds.invocations,
      input: ({ context }: { context: EngineSettings }) => ({
        defaultTimeoutMs: context.invocationTimeoutMs,
        limits: { callsPerSession: context.limits.callsPerSession, callsInFlight: context.limits.callsInFlight },
      }),
    },
  ],
  initial: 'booting',
  on: {
    'provider.listening': { actions: 'recordListening' },
    'provider.failed': { actions: 'reportProviderFailure' },
    'engine.log': { actions: 'log' },
    'session.ended': { actions: ['stopSession', 'announceTypesGone'] },
    'session.held': { actions: 'announceTypesGone' },
    'triggerType.available': { actions: 'announceTypeAvailable' },
    'triggerType.lost': { actions: 'announceTypeLost' },
    'xstate.error.actor.*': [{ guard: 'failedActorIsSession', actions: ['logSessionFailure', 'endFailedSession', 'removeFailedWorker', 'endFailedWorkerCalls'] }, { actions: 'logActorFailure' }],
  },
  states: {
    // One of a cluster joins it first: the providers started next find the cluster actor.
    booting: {
      always: [{ guard: 'isClustered', target: 'providing', actions: 'startCluster' }, { target: 'providing' }],
    },
    providing: {
      entry: ['startCronProvider', 'startQueueProvider', 'startPubsubProvider'],
      always: [{ guard: 'hasHttpListener', target: 'starting', actions: 'startHttpProvider' }, { target: 'starting' }],
    },
    starting: {
      on: { 'engine.started': 'running', 'engine.stop': 'stopped' },
    },
    running: {
      entry: { type: 'logState', params: { msg: 'engine running' } },
      on: {
        'session.open': { actions: 'spawnSession' },
        'engine.stop': 'stopping',
      },
    },
    stopping: {
      entry: [{ type: 'logState', params: { msg: 'engine stopping' } }, 'drainCluster', 'drainCalls', 'drainQueues'],
      // Past the grace period, the calls still in flight fail for their callers; once they
      // are answered the invocations actor reports itself drained.
      after: { grace: { actions: 'abortCalls' } },
      on: { 'invocations.drained': 'stopped' },
    },
    stopped: { type: 'final' },
  },
})
