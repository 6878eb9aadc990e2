/**
 * The root of the actor tree: starting → running → stopping → stopped. It owns the
 * catalog, the invocations actor and the providers of the built-in trigger types (the
 * HTTP listener, the queue store, the cron clock), spawns one session per connection,
 * retires sessions a worker replaced with `reattach`, and tells every session when a
 * trigger type's provider comes or goes. Stopping waits for calls in flight, up to a
 * grace period.
 */
import { assign, emit, enqueueActions, sendTo, setup, stopChild, type AnyActorRef } from 'xstate'
import { catalogLogic, catalogOf } from '../actors/catalog.js'
import { hashToken, sameHash } from '../actors/reattach-token.js'
import { builtinDescriptions } from '../actors/builtin-trigger-types.js'
import { httpProviderLogic, type HttpProviderInput } from '../actors/http-provider.js'
import { queueProviderLogic, type QueueProviderInput } from '../actors/queue-provider.js'
import { cronProviderLogic } from '../actors/cron-provider.js'
import { invocationsLogic } from '../actors/invocations.js'
import { sessionMachine } from './session.machine.js'

export interface EngineSettings {
  /** How long a worker-provided trigger type may take to answer a registration. */
  registrationTimeoutMs: number
  /** How long a call may take when the caller sets no `timeout_ms`. */
  invocationTimeoutMs: number
  /** How long stopping waits for calls in flight. */
  graceMs: number
  /** The HTTP listener for `http` triggers; without it the `http` type is not offered. */
  http?: HttpProviderInput
  /** Where queued messages are kept. */
  queue: QueueProviderInput
}

/** Where a provider listens, once it does. */
export interface Listening {
  host: string
  port: number
}

export type EngineEvent =
  | { type: 'engine.started' }
  | { type: 'engine.stop' }
  | { type: 'session.open'; worker_id: string; reattach_hash: string }
  | { type: 'session.retire'; by: string; worker_id: string; reattach_token: string }
  | { type: 'triggerType.available'; trigger_type: string }
  | { type: 'triggerType.lost'; trigger_type: string; gone: boolean }
  | { type: 'invocations.drained' }
  | { type: 'provider.listening'; provider: string; host: string; port: number }
  | { type: 'provider.failed'; provider: string; message: string }
  | { type: 'engine.log'; level: 'info' | 'warn'; msg: string; data: Record<string, unknown> }

/** Children of the engine that are not sessions: its own actors and the providers. */
/** Sessions are the engine's children named `session:<worker_id>` (the same as their systemId). */
const isSession = (childId: string) => childId.startsWith('session:')
const workerOf = (childId: string) => childId.slice('session:'.length)

export const engineMachine = setup({
  types: {
    input: {} as EngineSettings,
    context: {} as EngineSettings & { started_at: string; listening: Record<string, Listening> },
    events: {} as EngineEvent,
    emitted: {} as
      | { type: 'log'; level: 'info' | 'warn' | 'error'; msg: string; data: Record<string, unknown> }
      | { type: 'provider.failed'; provider: string; message: string },
  },
  actors: { session: sessionMachine, catalog: catalogLogic, invocations: invocationsLogic, httpProvider: httpProviderLogic, queueProvider: queueProviderLogic, cronProvider: cronProviderLogic },
  delays: { grace: ({ context }) => context.graceMs },
  actions: {
    startProviders: enqueueActions(({ enqueue, context }) => {
      if (context.http) enqueue.spawnChild('httpProvider', { id: 'provider:http', systemId: 'provider:http', input: context.http })
      enqueue.spawnChild('queueProvider', { id: 'provider:queue', systemId: 'provider:queue', input: context.queue })
      enqueue.spawnChild('cronProvider', { id: 'provider:cron', systemId: 'provider:cron' })
    }),
    recordListening: assign({
      listening: ({ context, event }) => {
        const { provider, host, port } = event as Extract<EngineEvent, { type: 'provider.listening' }>
        return { ...context.listening, [provider]: { host, port } }
      },
    }),
    reportProviderFailure: emit(({ event }) => {
      const { provider, message } = event as Extract<EngineEvent, { type: 'provider.failed' }>
      return { type: 'provider.failed' as const, provider, message }
    }),
    spawnSession: enqueueActions(({ enqueue, context, event }) => {
      const { worker_id, reattach_hash } = event as Extract<EngineEvent, { type: 'session.open' }>
      enqueue.spawnChild('session', {
        id: `session:${worker_id}`,
        systemId: `session:${worker_id}`,
        input: { worker_id, reattach_hash, registrationTimeoutMs: context.registrationTimeoutMs },
      })
    }),
    releaseSession: stopChild(({ event }) => (event as unknown as { actorId: string }).actorId),
    /** A session that crashed could not release what it held: do it for it. */
    releaseFailedSession: enqueueActions(({ enqueue, event, system }) => {
      const { actorId, error } = event as unknown as { actorId: string; error: unknown }
      if (!isSession(actorId)) {
        enqueue.emit({ type: 'log', level: 'error', msg: 'engine actor failed', data: { actor: actorId, err: String(error) } })
        return
      }
      const worker_id = workerOf(actorId)
      enqueue.emit({ type: 'log', level: 'warn', msg: 'session failed', data: { worker_id, err: String(error) } })
      const lost = catalogOf(system).workers[worker_id]?.trigger_types ?? {}
      enqueue.sendTo(system.get('catalog') as AnyActorRef, { type: 'worker.remove', worker_id })
      enqueue.sendTo(system.get('invocations') as AnyActorRef, { type: 'worker.gone', worker_id })
      for (const trigger_type in lost) enqueue.raise({ type: 'triggerType.lost', trigger_type, gone: true })
      enqueue.stopChild(actorId)
    }),
    retireSession: enqueueActions(({ enqueue, event, system }) => {
      const { by, worker_id, reattach_token } = event as Extract<EngineEvent, { type: 'session.retire' }>
      // Looked up by systemId: only sessions are found, whatever id the worker sent.
      const previous = worker_id === by ? undefined : (system.get(`session:${worker_id}`) as AnyActorRef | undefined)
      if (!previous) return
      if (!sameHash(previous.getSnapshot().context.reattach_hash, hashToken(reattach_token))) {
        const reporter = system.get(`session:${by}`) as AnyActorRef | undefined
        if (reporter) {
          enqueue.sendTo(reporter, {
            type: 'session.reject',
            error: { code: 'unauthorized', message: `The reattach token does not match worker '${worker_id}'` },
            ref: { type: 'reattach', id: worker_id },
          })
        }
        return
      }
      enqueue.sendTo(previous, { type: 'session.close', reason: `replaced by ${by} (reattach)` })
    }),
    broadcastProviderChange: ({ event, self }) => {
      const change = event as Extract<EngineEvent, { type: 'triggerType.available' | 'triggerType.lost' }>
      const relayed =
        change.type === 'triggerType.lost'
          ? { type: 'provider.lost', trigger_type: change.trigger_type, gone: change.gone }
          : { type: 'provider.available', trigger_type: change.trigger_type }
      const children = self.getSnapshot().children as Record<string, AnyActorRef | undefined>
      for (const id in children) if (isSession(id)) children[id]?.send(relayed)
    },
    abortCalls: sendTo(({ system }) => system.get('invocations') as AnyActorRef, { type: 'invocations.abort' as const }),
    /** Queues hand out no new batches while the engine stops; batches in flight finish. */
    drainQueues: sendTo(({ system }) => system.get('provider:queue') as AnyActorRef, { type: 'queue.drain' as const }),
    drain: sendTo(({ system }) => system.get('invocations') as AnyActorRef, { type: 'invocations.drain' as const }),
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
    {
      src: 'catalog',
      id: 'catalog',
      systemId: 'catalog',
      input: ({ context }) => ({
        builtins: context.http ? builtinDescriptions : { cron: builtinDescriptions.cron, queue: builtinDescriptions.queue },
      }),
    },
    { src: 'invocations', id: 'invocations', systemId: 'invocations', input: ({ context }) => ({ defaultTimeoutMs: context.invocationTimeoutMs }) },
  ],
  initial: 'starting',
  entry: 'startProviders',
  on: {
    'provider.listening': { actions: 'recordListening' },
    'provider.failed': { actions: 'reportProviderFailure' },
    'engine.log': { actions: 'log' },
    'session.retire': { actions: 'retireSession' },
    'triggerType.available': { actions: 'broadcastProviderChange' },
    'triggerType.lost': { actions: 'broadcastProviderChange' },
    'xstate.done.actor.*': { actions: 'releaseSession' },
    'xstate.error.actor.*': { actions: 'releaseFailedSession' },
  },
  states: {
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
      entry: [{ type: 'logState', params: { msg: 'engine stopping' } }, 'drain', 'drainQueues'],
      // Past the grace period, the calls still in flight fail for their callers; once they
      // are answered the invocations actor reports itself drained.
      after: { grace: { actions: 'abortCalls' } },
      on: { 'invocations.drained': 'stopped' },
    },
    stopped: { type: 'final' },
  },
})
