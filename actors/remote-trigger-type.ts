/**
 * A session's child for a trigger type that another worker provides. It forwards each
 * registration to the provider's session under the trigger's own id (told apart only when
 * another session's trigger of the type has that id: core/catalog.ts `forwardedIdFor`),
 * keeps that id while the registration lives (a re-send to a new provider carries it), relays the
 * provider's verdict to the trigger's registration machine, and owns the forwarded
 * registrations (its snapshot): when a trigger is unregistered, or this actor stops with
 * its session, the provider is told with `unregistertrigger`. A session that reattached in
 * place of a held one takes over that one's forwarding of a trigger it binds again alike
 * (`trigger.handover`): the provider is told nothing either way.
 *
 * In a cluster, when no worker of this engine provides the type but a worker of another
 * engine does (the types bucket, as the cluster actor sees it), the registration is
 * forwarded there through the cluster actor (`cluster.forward`), and its verdict comes back
 * as `provider.remoteVerdict`; its withdrawal goes the same way (`cluster.unforward`).
 */
import type { EventObject } from 'xstate'
import type { ErrorBody } from '../protocol/messages.js'
import { errors } from '../protocol/errors.js'
import { describeWorker, forwardedIdFor, providerOf } from '../core/catalog.js'
import type { SessionContext, TriggerTypeEvent, TriggerTypeInput } from '../machines/contracts.js'
import { actorsOf, catalogOf, tell, typeHolderInCluster } from '../machines/system.js'
import { fromTable, type TableScope } from './table-actor.js'
import { handleRegistrationEvent, Registrations, releaseRegistrations } from './trigger-registrations.js'

interface Forwarded {
  /** The id the provider knows it by: kept from its first forwarding until it ends. */
  forwarded_id: string
  /** The session it was forwarded to; undefined while it is parked (no provider). */
  provider?: string
  /** In a cluster: the engine of that session, when it is another engine. */
  engine_id?: string
  /** That provider as error texts name a worker (`worker 'billing' (<id>)`, and its engine when another), taken when forwarded. */
  label?: string
  function_id: string
  config: Record<string, unknown>
}

/** Whatever a provider sent as `error`, as an error body: unchanged where it already is one. */
export function asErrorBody(error: unknown): ErrorBody {
  if (typeof error === 'object' && error !== null && typeof (error as ErrorBody).code === 'string') return error as ErrorBody
  return errors.providerRefusal(error)
}

/** The registrations this child forwarded, by trigger id and by forwarded id. */
class ForwardTable {
  readonly byTrigger = new Map<string, Forwarded>()
  readonly byForwardedId = new Map<string, string>()
  constructor(
    readonly worker_id: string,
    readonly trigger_type: string,
  ) {}

  /** Records that `trigger_id` is forwarded to `provider` under `forwarded_id`. */
  set(trigger_id: string, forwarded_id: string, provider: string, function_id: string, config: Record<string, unknown>, engine_id?: string): Forwarded {
    const entry: Forwarded = engine_id === undefined ? { forwarded_id, provider, function_id, config } : { forwarded_id, provider, engine_id, function_id, config }
    const before = this.byTrigger.get(trigger_id)
    if (before && before.forwarded_id !== forwarded_id) this.byForwardedId.delete(before.forwarded_id)
    this.byTrigger.set(trigger_id, entry)
    this.byForwardedId.set(forwarded_id, trigger_id)
    return entry
  }

  remove(trigger_id: string): Forwarded | undefined {
    const entry = this.byTrigger.get(trigger_id)
    if (!entry) return undefined
    this.byTrigger.delete(trigger_id)
    this.byForwardedId.delete(entry.forwarded_id)
    return entry
  }

  /** The trigger a verdict from `from` answers, if one of its forwarded registrations awaits it. */
  awaiting(forwarded_id: string, from: string): string | undefined {
    const trigger_id = this.byForwardedId.get(forwarded_id)
    return trigger_id !== undefined && this.byTrigger.get(trigger_id)?.provider === from ? trigger_id : undefined
  }

  toJSON() {
    return {
      trigger_type: this.trigger_type,
      forwarded: Object.fromEntries(
        [...this.byTrigger].map(([id, f]) => [id, f.engine_id === undefined ? { forwarded_id: f.forwarded_id, provider: f.provider ?? null } : { forwarded_id: f.forwarded_id, provider: f.provider ?? null, engine_id: f.engine_id }]),
      ),
    }
  }
}

type Scope = TableScope<ForwardTable, TriggerTypeInput, EventObject> & { handles: Registrations }

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/**
 * What a registration may adopt instead of being forwarded anew: the forwarding of the same
 * trigger by the held session this one reattached in place of (its reattach token accepted:
 * that session names this one its successor), when it binds the same function with the same
 * config and metadata and `provider` holds it now. The provider then sees nothing change: no
 * registration under an id told apart, and no withdrawal of the one it has.
 */
function adoptable(system: Scope['system'], worker_id: string, trigger_type: string, provider: string, event: Extract<TriggerTypeEvent, { type: 'trigger.activate' }>, engine_id?: string) {
  const actors = actorsOf(system)
  const contextOf = (id: string) => (actors.session(id)?.getSnapshot() as { context?: SessionContext } | undefined)?.context
  const from = contextOf(worker_id)?.predecessor
  if (from === undefined || contextOf(from)?.successor !== worker_id) return undefined
  const held = catalogOf(system).workers[from]
  const theirs = held?.held_until === undefined ? undefined : held.triggers[event.trigger_id]
  if (theirs === undefined || (engine_id === undefined && theirs.forwarded_id === undefined) || theirs.trigger_type !== trigger_type || theirs.state !== 'active') return undefined
  if (theirs.function_id !== event.function_id || !same(theirs.config, event.config) || !same(theirs.metadata, event.metadata)) return undefined
  const forwarded = (actors.typeChild(from, trigger_type)?.getSnapshot() as { context?: ForwardTable } | undefined)?.context?.byTrigger.get(event.trigger_id)
  if (forwarded?.provider !== provider || forwarded.engine_id !== engine_id) return undefined
  // Forwarded to a provider of this engine, its id is in the catalog; to one of another engine, that engine keeps it.
  if (engine_id === undefined && forwarded.forwarded_id !== theirs.forwarded_id) return undefined
  return { from, forwarded_id: forwarded.forwarded_id }
}

/**
 * Whom registration `trigger_id` waits for, as error texts name a worker: a provider of this
 * engine as the catalog names it now (it may have named itself since), else as it was
 * named when the registration was forwarded.
 */
function providerLabel(scope: Scope, trigger_id: string): string | undefined {
  const entry = scope.context.byTrigger.get(trigger_id)
  if (entry?.provider === undefined) return undefined
  const catalog = catalogOf(scope.system)
  return entry.engine_id === undefined && catalog.workers[entry.provider] ? describeWorker(catalog, entry.provider) : entry.label
}

/** Tells the provider, if one holds it, to drop what it holds for `entry` (trigger `trigger_id`). */
function unforward(scope: Scope, trigger_id: string, entry: Forwarded): void {
  if (entry.provider === undefined) return
  if (entry.engine_id !== undefined) {
    const { worker_id, trigger_type } = scope.context
    tell(actorsOf(scope.system).cluster(), { type: 'cluster.unforward', engine_id: entry.engine_id, trigger_type, worker_id, trigger_id })
    entry.provider = undefined
    entry.engine_id = undefined
    return
  }
  tell(actorsOf(scope.system).session(entry.provider), {
    type: 'provider.unforward',
    message: { type: 'unregistertrigger', id: entry.forwarded_id, trigger_type: scope.context.trigger_type, function_id: entry.function_id, config: entry.config },
  })
  entry.provider = undefined
}

/** The registration ends here: its provider is told, and its forwarded id is no longer this child's. */
function withdraw(scope: Scope, trigger_id: string): void {
  const entry = scope.context.remove(trigger_id)
  if (entry) unforward(scope, trigger_id, entry)
}

export const remoteTriggerTypeLogic = fromTable<ForwardTable, TriggerTypeEvent, TriggerTypeInput, EventObject, Registrations>({
  context: ({ worker_id, trigger_type }) => new ForwardTable(worker_id, trigger_type),
  open: (scope) => new Registrations((trigger_id) => providerLabel(scope as Scope, trigger_id)),
  receive(scope, event) {
    const { context: table, system } = scope
    const { worker_id, trigger_type } = table
    if (handleRegistrationEvent(scope.handles, { worker_id, self: scope.self, system, sendBack: scope.sendBack }, event)) return
    const trigger = (trigger_id: string) => actorsOf(system).trigger(worker_id, trigger_id)
    switch (event.type) {
      case 'trigger.activate': {
        // A re-send (after the provider came back) keeps the id the previous provider saw.
        const previous = table.byTrigger.get(event.trigger_id)
        if (previous) unforward(scope, event.trigger_id, previous)
        const provider = providerOf(catalogOf(system), trigger_type)
        const session = provider === undefined ? undefined : actorsOf(system).session(provider)
        // In a cluster: provided by a worker of another engine; its verdict comes back through the cluster actor.
        const remote = provider === undefined ? typeHolderInCluster(system, trigger_type) : undefined
        if (remote) {
          // A worker that reconnected binds what its held session had bound there: that engine rekeys it, the provider sees nothing.
          const adopted = previous ? undefined : adoptable(system, worker_id, trigger_type, remote.worker_id, event, remote.engine_id)
          if (adopted) {
            tell(actorsOf(system).typeChild(adopted.from, trigger_type), { type: 'trigger.handover', trigger_id: event.trigger_id })
            table.set(event.trigger_id, adopted.forwarded_id, remote.worker_id, event.function_id, event.config, remote.engine_id).label = `${remote.worker} on engine '${remote.engine_id}'`
            tell(actorsOf(system).cluster(), { type: 'cluster.adopt', engine_id: remote.engine_id, trigger_type, worker_id, trigger_id: event.trigger_id, from: adopted.from })
            tell(trigger(event.trigger_id), { type: 'trigger.activated' })
            return
          }
          table.set(event.trigger_id, previous?.forwarded_id ?? event.trigger_id, remote.worker_id, event.function_id, event.config, remote.engine_id).label =
            `${remote.worker} on engine '${remote.engine_id}'`
          tell(actorsOf(system).cluster(), {
            type: 'cluster.forward',
            engine_id: remote.engine_id,
            trigger_type,
            worker_id,
            trigger_id: event.trigger_id,
            function_id: event.function_id,
            config: event.config,
            metadata: event.metadata,
            forwarded_id: previous?.forwarded_id,
          })
          return
        }
        if (provider === undefined || !session) {
          table.remove(event.trigger_id)
          tell(trigger(event.trigger_id), { type: 'trigger.rejected', error: errors.noProvider(trigger_type) })
          return
        }
        // A worker that reconnected binds what its held session had: the provider keeps it as it is.
        const adopted = previous ? undefined : adoptable(system, worker_id, trigger_type, provider, event)
        if (adopted) {
          tell(actorsOf(system).typeChild(adopted.from, trigger_type), { type: 'trigger.handover', trigger_id: event.trigger_id })
          table.set(event.trigger_id, adopted.forwarded_id, provider, event.function_id, event.config).label = describeWorker(catalogOf(system), provider)
          tell(actorsOf(system).catalog(), { type: 'trigger.adopt', worker_id, id: event.trigger_id, from: adopted.from })
          tell(trigger(event.trigger_id), { type: 'trigger.activated' })
          return
        }
        const forwarded_id = previous?.forwarded_id ?? forwardedIdFor(catalogOf(system), worker_id, event.trigger_id, trigger_type)
        table.set(event.trigger_id, forwarded_id, provider, event.function_id, event.config).label = describeWorker(catalogOf(system), provider)
        tell(actorsOf(system).catalog(), { type: 'trigger.forward', worker_id, id: event.trigger_id, forwarded_id })
        session.send({
          type: 'provider.forward',
          message: { type: 'registertrigger', id: forwarded_id, trigger_type, function_id: event.function_id, config: event.config, metadata: event.metadata },
        })
        return
      }
      case 'trigger.deactivate':
        return withdraw(scope, event.trigger_id)
      case 'trigger.handover':
        // Adopted by the session that replaces this held one: the provider keeps it, under the same id.
        table.remove(event.trigger_id)
        return
      case 'provider.verdict': {
        const trigger_id = table.awaiting(event.forwarded_id, event.from)
        if (trigger_id === undefined) {
          // Unknown, already settled, withdrawn after a timeout, or from a session that was not asked.
          tell(actorsOf(system).session(event.from), {
            type: 'session.reject',
            error: errors.unexpectedVerdict(event.forwarded_id),
            ref: { type: 'triggerregistrationresult', id: event.forwarded_id },
          })
          return
        }
        if (event.error === undefined || event.error === null) return tell(trigger(trigger_id), { type: 'trigger.activated' })
        table.remove(trigger_id)
        tell(trigger(trigger_id), { type: 'trigger.rejected', error: asErrorBody(event.error) })
        return
      }
      case 'provider.remoteVerdict': {
        // From the provider's engine, about a registration forwarded there (and not since withdrawn or re-sent elsewhere).
        const entry = table.byTrigger.get(event.trigger_id)
        if (!entry || entry.engine_id !== event.engine_id) return
        if (event.error === undefined || event.error === null) {
          // The id that provider knows it by: a re-send to the next provider carries it.
          table.set(event.trigger_id, event.forwarded_id, entry.provider!, entry.function_id, entry.config, entry.engine_id).label = entry.label
          return tell(trigger(event.trigger_id), { type: 'trigger.activated' })
        }
        table.remove(event.trigger_id)
        tell(trigger(event.trigger_id), { type: 'trigger.rejected', error: asErrorBody(event.error) })
        return
      }
      case 'provider.lost':
        // The provider is still connected: withdraw what it holds of ours. One that left took
        // them with it. Either way each keeps its forwarded id, for the next provider.
        for (const [trigger_id, entry] of table.byTrigger) {
          if (!event.gone) unforward(scope, trigger_id, entry)
          entry.provider = undefined
          entry.engine_id = undefined
        }
        return
    }
  },
  close(scope) {
    releaseRegistrations(scope.handles)
    for (const trigger_id of [...scope.context.byTrigger.keys()]) withdraw(scope, trigger_id)
  },
})
