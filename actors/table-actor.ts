/**
 * Actor logic for the engine's I/O actors: a pure table (plain data, or an object whose
 * `toJSON` is its plain view) as the snapshot's context, which the inspector shows and
 * `getSnapshot()` reads; and handles (listeners, timers, stores) that the actor opens when
 * it starts and closes when it stops, kept beside the snapshot, never in it.
 *
 * XState's callback actors have no snapshot, so what they hold is invisible; a machine
 * would copy its context on every event of a hot path. This is the middle: the table is
 * changed in place by `receive`, and every change is published as the actor's snapshot.
 */
import type { ActorLogic, AnyActorRef, AnyEventObject, EventObject, Snapshot } from 'xstate'
import type { EngineSystem } from '../machines/system.js'

/** What the actor's functions are given. */
export interface TableScope<TContext, TInput, TEmitted extends EventObject> {
  context: TContext
  input: TInput
  self: AnyActorRef
  system: EngineSystem
  /** Emits an event to the actor's `.on()` listeners. */
  emit: (event: TEmitted) => void
  /** Sends an event to the actor's parent. */
  sendBack: (event: AnyEventObject) => void
}

export type TableSnapshot<TContext, TInput> = Snapshot<undefined> & { context: TContext; input: TInput }

export interface TableActorDefinition<TContext, TEvent extends EventObject, TInput, TEmitted extends EventObject, THandles> {
  /** The table when the actor starts. */
  context(input: TInput): TContext
  /** Opens what the actor owns (once, when it starts); what it returns is passed to `receive` and `close`. */
  open?(scope: TableScope<TContext, TInput, TEmitted>): THandles
  /** Handles one event: changes the table in place, and does I/O through the handles. */
  receive(scope: TableScope<TContext, TInput, TEmitted> & { handles: THandles }, event: TEvent): void
  /** Releases what `open` opened (once, when the actor stops). */
  close?(scope: TableScope<TContext, TInput, TEmitted> & { handles: THandles }): void
}

const STOP = 'xstate.stop'

type Running = TableScope<any, any, any> & { handles: any }

/** Per running actor: its scope and handles (keyed by the actor, as XState keeps its callback actors' state). */
const running = new WeakMap<AnyActorRef, Running>()

export function fromTable<TContext, TEvent extends EventObject, TInput = undefined, TEmitted extends EventObject = EventObject, THandles = undefined>(
  definition: TableActorDefinition<TContext, TEvent, TInput, TEmitted, THandles>,
): ActorLogic<TableSnapshot<TContext, TInput>, TEvent, TInput, any, TEmitted> {
  return {
    config: definition,
    getInitialSnapshot: (_scope, input) => ({ status: 'active', output: undefined, error: undefined, input, context: definition.context(input) }),
    start(snapshot, { self, system, emit }) {
      const scope: TableScope<TContext, TInput, TEmitted> & { handles: THandles } = {
        handles: undefined as THandles,
        context: snapshot.context,
        input: snapshot.input,
        self,
        system,
        emit: emit as (event: TEmitted) => void,
        sendBack: (event) => {
          const parent = self._parent
          if (!parent || self.getSnapshot().status !== 'active') return
          // Relayed as XState relays a callback actor's events, so the inspector shows who sent it.
          const relay = (system as unknown as { _relay?: (source: AnyActorRef, target: AnyActorRef, event: EventObject) => void })._relay
          if (relay) relay(self, parent, event)
          else parent.send(event)
        },
      }
      running.set(self, scope)
      scope.handles = definition.open?.(scope) as THandles
    },
    transition(snapshot, event, { self }) {
      const scope = running.get(self)
      if (!scope) return snapshot
      if ((event as EventObject).type === STOP) {
        running.delete(self)
        definition.close?.(scope)
        return { ...snapshot, status: 'stopped', error: undefined }
      }
      definition.receive(scope, event as TEvent)
      return snapshot
    },
    getPersistedSnapshot: (snapshot) => snapshot,
    restoreSnapshot: (snapshot) => snapshot as TableSnapshot<TContext, TInput>,
  }
}
