/**
 * The actor system's map: every actor's id (its systemId, which is also its id under its
 * parent, so the inspector's tree reads like the design), and typed access to each one.
 * No other module spells an actor id; every lookup of another actor goes through here and
 * gets a ref that accepts exactly that actor's events (machines/contracts.ts).
 *
 *     engine
 *     ├── catalog                       the directory (core/catalog.ts)
 *     ├── invocations                   calls in flight (core/call-table.ts)
 *     ├── channels                      data channels (core/channel-table.ts)
 *     ├── cluster                       calls, cron claims and membership across engines (only in a cluster)
 *     ├── provider:http | :cron | :queue | :pubsub
 *     └── session:<worker_id>
 *         └── session:<worker_id>:<trigger type>
 *             └── trigger:<worker_id>:<trigger id>
 *
 * An actor that has stopped is not found; sending to it is a no-op (`tell`), as in any
 * actor system: whoever needed an answer from it gets one from whoever outlived it.
 */
import type { ActorRef, ActorSystem, AnyActorRef, EventObject, Snapshot } from 'xstate'
import type { CatalogEvent, CatalogState } from '../core/catalog.js'
import type { CallTable } from '../core/call-table.js'
import type { RemoteTriggerType } from '../protocol/cluster.js'
import type { ClusterTable } from '../core/cluster.js'
import type { ChannelTable } from '../core/channel-table.js'
import type {
  ChannelsEvent,
  ClusterEvent,
  CronProviderEvent,
  HttpProviderEvent,
  InvocationsEmitted,
  InvocationsEvent,
  PubsubProviderEvent,
  QueueProviderEvent,
  SessionEmitted,
  SessionEvent,
  TriggerEvent,
  TriggerInput,
  TriggerTypeEvent,
} from './contracts.js'

/** An engine's actor system. Its actors are found by id through `actorsOf`, which types them. */
export type EngineSystem = ActorSystem<{ actors: Record<string, AnyActorRef> }>

/** The name the engine machine runs sessions under (`setup({ actors: { session } })`). */
export const SESSION_SOURCE = 'session'

/** The systemId of every actor. */
export const actorIds = {
  engine: 'engine',
  catalog: 'catalog',
  invocations: 'invocations',
  httpProvider: 'provider:http',
  cronProvider: 'provider:cron',
  queueProvider: 'provider:queue',
  pubsubProvider: 'provider:pubsub',
  channels: 'channels',
  /** Only in a cluster (the `cluster` option). */
  cluster: 'cluster',
  /** One per connection. */
  session: (worker_id: string) => `session:${worker_id}`,
  /** A session's child for one trigger type it uses. */
  typeChild: (worker_id: string, trigger_type: string) => `session:${worker_id}:${trigger_type}`,
  /** One trigger registration, a child of its session's child for its type. */
  trigger: (worker_id: string, trigger_id: string) => `trigger:${worker_id}:${trigger_id}`,
} as const

/** A snapshot whose context is `T`. */
type With<T> = Snapshot<unknown> & { context: T }

export type CatalogRef = ActorRef<With<CatalogState>, CatalogEvent>
export type InvocationsRef = ActorRef<With<CallTable<unknown>>, InvocationsEvent, InvocationsEmitted>
export type HttpProviderRef = ActorRef<Snapshot<unknown>, HttpProviderEvent>
export type CronProviderRef = ActorRef<Snapshot<unknown>, CronProviderEvent>
export type QueueProviderRef = ActorRef<Snapshot<unknown>, QueueProviderEvent>
export type PubsubProviderRef = ActorRef<Snapshot<unknown>, PubsubProviderEvent>
export type ChannelsRef = ActorRef<With<ChannelTable>, ChannelsEvent>
export type ClusterRef = ActorRef<With<ClusterTable>, ClusterEvent>
export type SessionRef = ActorRef<Snapshot<unknown>, SessionEvent, SessionEmitted>
export type TypeChildRef = ActorRef<Snapshot<unknown>, TriggerTypeEvent>
export type TriggerRef = ActorRef<With<TriggerInput> & { value: string }, TriggerEvent>

const get = <T>(system: EngineSystem, id: string) => system.get(id) as T | undefined

const lookups = (system: EngineSystem) => ({
  catalog: () => get<CatalogRef>(system, actorIds.catalog),
  invocations: () => get<InvocationsRef>(system, actorIds.invocations),
  httpProvider: () => get<HttpProviderRef>(system, actorIds.httpProvider),
  cronProvider: () => get<CronProviderRef>(system, actorIds.cronProvider),
  queueProvider: () => get<QueueProviderRef>(system, actorIds.queueProvider),
  pubsubProvider: () => get<PubsubProviderRef>(system, actorIds.pubsubProvider),
  channels: () => get<ChannelsRef>(system, actorIds.channels),
  /** The cluster actor: absent on an engine that is not one of a cluster. */
  cluster: () => get<ClusterRef>(system, actorIds.cluster),
  /** The session of a worker. Only sessions are found (by their actor source), whatever id is asked for. */
  session: (worker_id: string) => {
    const ref = system.get(actorIds.session(worker_id)) as (SessionRef & { src?: unknown }) | undefined
    return ref?.src === SESSION_SOURCE ? ref : undefined
  },
  typeChild: (worker_id: string, trigger_type: string) => get<TypeChildRef>(system, actorIds.typeChild(worker_id, trigger_type)),
  trigger: (worker_id: string, trigger_id: string) => get<TriggerRef>(system, actorIds.trigger(worker_id, trigger_id)),
})

/** The lookups of each system, made once (hot paths look actors up on every call). */
const bySystem = new WeakMap<EngineSystem, ReturnType<typeof lookups>>()

/** Typed lookups of the system's actors; undefined when the actor is not (or no longer) there. */
export function actorsOf(system: EngineSystem): ReturnType<typeof lookups> {
  let found = bySystem.get(system)
  if (!found) bySystem.set(system, (found = lookups(system)))
  return found
}

const EMPTY_CATALOG: CatalogState = Object.freeze({ workers: Object.freeze({}), functions: Object.freeze({}), triggerTypes: Object.freeze({}), forwarded: Object.freeze({}), failed: Object.freeze([]) as never[] }) as CatalogState

/** The catalog's current data (empty once the catalog has stopped). */
export const catalogOf = (system: EngineSystem): CatalogState => get<CatalogRef>(system, actorIds.catalog)?.getSnapshot().context ?? EMPTY_CATALOG

/**
 * Sends `event` to `ref` if there is one: the actor model's send, where a message to an
 * actor that has stopped is dropped. (XState's `sendTo` falls back to the sender itself
 * when its target resolves to nothing.)
 */
export function tell<E extends EventObject>(ref: ActorRef<Snapshot<unknown>, E, EventObject> | AnyActorRef | undefined, event: E): void {
  ref?.send(event)
}

/** Whether another engine of the cluster says it serves `function_id` (its last heartbeat); never, alone. */
export const offeredInCluster = (system: EngineSystem, function_id: string): boolean => actorsOf(system).cluster()?.getSnapshot().context.membership.offers(function_id) ?? false

/** Who provides the worker-defined `trigger_type` on another engine of the cluster (the types bucket); nobody, alone. */
export const typeHolderInCluster = (system: EngineSystem, trigger_type: string): RemoteTriggerType | undefined => actorsOf(system).cluster()?.getSnapshot().context.membership.typeHolder(trigger_type)

/** The worker-defined types other engines of the cluster provide; none, alone. */
export const typesInCluster = (system: EngineSystem): string[] => actorsOf(system).cluster()?.getSnapshot().context.membership.remoteTypes() ?? []
