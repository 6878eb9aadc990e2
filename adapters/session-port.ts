/**
 * Where a transport meets the actor tree: opening a port spawns a session actor; what the
 * transport receives goes in through `receive` (objects) or `receiveText` (frames), is
 * validated once, and becomes one event; frames for the worker come out through `out`.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import type { Actor, AnyActorRef } from 'xstate'
import { decodeText, decodeValue, type Decoded } from './codec.js'
import { toEvent } from './events.js'
import { hashToken } from '../actors/reattach-token.js'
import type { Logger } from './logger.js'
import type { ErrorBody, Outbound } from './messages.js'
import type { engineMachine } from '../machines/engine.machine.js'
import type { SessionEmitted, SessionEvent } from '../machines/session.machine.js'
import type { InvocationsEmitted } from '../actors/invocations.js'

export type EngineActor = Actor<typeof engineMachine>

/** One open session, as its transport sees it. */
export interface SessionPort {
  readonly worker_id: string
  /** A message object from the worker (in-process transport). */
  receive(value: unknown): void
  /** A text frame from the worker (WebSocket transport). */
  receiveText(text: string): void
  /** A frame the transport itself could not accept (e.g. binary). */
  refuse(error: ErrorBody): void
  /** The connection ended (clean or not). Idempotent. */
  close(reason?: string): void
}

export interface PortHandlers {
  /** Writes one message to the worker. */
  out(message: Outbound): void
  /** The engine ended the session (retired, engine stopping): close the connection. */
  end(reason: string): void
}

/**
 * The engine's session ports. `open` opens a session for a new connection, or returns
 * undefined when the engine is not accepting connections (starting or stopping).
 *
 * A port sends calls and answers (`invokefunction`, `invocationresult`) straight to the
 * invocations actor and every other message to its session; frames for workers come
 * from the session's `outbound` events and from the invocations actor's `invocation.out`
 * events, which one dispatcher here hands to the port of their worker.
 */
export function sessionPorts(engine: EngineActor, log: Logger, observe?: (message: Outbound) => void): { open(handlers: PortHandlers): SessionPort | undefined } {
  const invocations = engine.system.get('invocations') as AnyActorRef
  const outboxes = new Map<string, (message: Outbound) => void>()
  invocations.on('invocation.out', (e: Extract<InvocationsEmitted, { type: 'invocation.out' }>) => outboxes.get(e.worker_id)?.(e.message))
  return { open: (handlers) => openSession(engine, invocations, outboxes, handlers, log, observe) }
}

function openSession(
  engine: EngineActor,
  invocations: AnyActorRef,
  outboxes: Map<string, (message: Outbound) => void>,
  handlers: PortHandlers,
  log: Logger,
  observe?: (message: Outbound) => void,
): SessionPort | undefined {
  if (!engine.getSnapshot().matches('running')) return undefined
  const worker_id = randomUUID()
  const reattach_token = randomBytes(18).toString('base64url')
  engine.send({ type: 'session.open', worker_id, reattach_hash: hashToken(reattach_token) })
  const session = engine.system.get(`session:${worker_id}`)
  if (!session) return undefined

  let open = true
  const end = () => {
    open = false
    outboxes.delete(worker_id)
    for (const sub of subs) sub.unsubscribe()
  }
  outboxes.set(worker_id, handlers.out)
  const subs = [
    session.on(
      'outbound',
      observe
        ? (e: Extract<SessionEmitted, { type: 'outbound' }>) => (observe(e.message), handlers.out(e.message))
        : (e: Extract<SessionEmitted, { type: 'outbound' }>) => handlers.out(e.message),
    ),
    session.on('log', (e: Extract<SessionEmitted, { type: 'log' }>) => log[e.level](e.data, e.msg)),
    session.on('ended', (e: Extract<SessionEmitted, { type: 'ended' }>) => {
      if (!open) return
      end()
      handlers.end(e.reason)
    }),
  ]
  // A session that fails (a bug, never bad input) is contained: logged, connection ended.
  subs.push(
    session.subscribe({
      error: (err: unknown) => {
        log.error({ worker_id, err: err instanceof Error ? err.stack : String(err) }, 'session failed')
        if (!open) return
        end()
        handlers.end('internal error')
      },
    }),
  )
  const deliver = (decoded: Decoded) => {
    if (!open) return
    if (!decoded.ok) return session.send({ type: 'frame.invalid', failure: decoded })
    const m = decoded.message
    if (m.type === 'invokefunction') return invocations.send({ type: 'invocation.call', worker_id, message: m })
    if (m.type === 'invocationresult') return invocations.send({ type: 'invocation.result', worker_id, invocation_id: m.invocation_id, result: m.result, error: m.error })
    session.send(toEvent(m) as SessionEvent)
  }
  session.send({ type: 'session.start', reattach_token })
  return {
    worker_id,
    receive: (value) => deliver(decodeValue(value)),
    receiveText: (text) => deliver(decodeText(text)),
    refuse: (error) => deliver({ ok: false, error }),
    close: (reason = 'connection closed') => {
      if (!open) return
      session.send({ type: 'session.close', reason })
    },
  }
}
