/**
 * Where a transport meets the actor tree: opening a port spawns a session actor; what the
 * transport receives goes in through `receive` (objects) or `receiveText` (frames), is
 * validated once, and becomes one event; frames for the worker come out through `out`.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import type { Actor } from 'xstate'
import { decodeText, decodeValue, type Decoded } from '../protocol/codec.js'
import { toEvent } from '../protocol/events.js'
import type { ErrorBody, Outbound } from '../protocol/messages.js'
import { hashToken } from '../core/reattach-token.js'
import type { Identity } from '../core/auth.js'
import type { engineMachine } from '../machines/engine.machine.js'
import type { SessionEvent } from '../machines/contracts.js'
import { actorsOf, type InvocationsRef } from '../machines/system.js'
import type { Logger } from './logger.js'

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
  /** The connection ended cleanly (the worker closed it). Idempotent. */
  close(reason?: string): void
  /** The connection was lost (dropped, not closed): the engine may hold the session for a while. Idempotent. */
  lose(reason: string): void
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
export function sessionPorts(engine: EngineActor, log: Logger, observe?: (message: Outbound) => void): { open(handlers: PortHandlers, identity?: Identity): SessionPort | undefined } {
  const invocations = actorsOf(engine.system).invocations()
  if (!invocations) throw new Error('the engine runs no invocations actor')
  const outboxes = new Map<string, (message: Outbound) => void>()
  invocations.on('invocation.out', (e) => outboxes.get(e.worker_id)?.(e.message))
  return { open: (handlers, identity) => openSession(engine, invocations, outboxes, handlers, log, observe, identity) }
}

function openSession(
  engine: EngineActor,
  invocations: InvocationsRef,
  outboxes: Map<string, (message: Outbound) => void>,
  handlers: PortHandlers,
  log: Logger,
  observe?: (message: Outbound) => void,
  identity?: Identity,
): SessionPort | undefined {
  if (!engine.getSnapshot().matches('running')) return undefined
  const worker_id = randomUUID()
  const reattach_token = randomBytes(18).toString('base64url')
  engine.send({ type: 'session.open', worker_id, reattach_hash: hashToken(reattach_token), identity })
  const session = actorsOf(engine.system).session(worker_id)
  if (!session) return undefined

  let open = true
  const end = () => {
    open = false
    outboxes.delete(worker_id)
    for (const sub of subs) sub.unsubscribe()
  }
  outboxes.set(worker_id, handlers.out)
  /** What the session says goes out here, and is logged here: every error frame, and every registration's answer, once. */
  const write = (message: Outbound) => {
    observe?.(message)
    if (message.type === 'error') log.warn({ worker_id, error: message.error, ref: message.ref }, 'error frame')
    else if (message.type === 'triggerregistrationresult') {
      const { id: trigger_id, trigger_type, function_id, error } = message
      if (error) log.info({ worker_id, trigger_id, trigger_type, function_id, error }, 'trigger registration refused')
      else log.info({ worker_id, trigger_id, trigger_type, function_id }, 'trigger registered')
    }
    handlers.out(message)
  }
  const subs = [
    session.on('outbound', (e) => write(e.message)),
    session.on('log', (e) => log[e.level](e.data, e.msg)),
    session.on('ended', (e) => {
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
    if (m.type === 'invokefunction') return invocations.send({ type: 'invocation.call', worker_id, message: m, identity })
    if (m.type === 'invocationresult') return invocations.send({ type: 'invocation.result', worker_id, invocation_id: m.invocation_id, result: m.result, error: m.error })
    session.send(toEvent(m) as SessionEvent)
  }
  // The greeting goes out from here: the reattach token is in no event, so the inspector never sees it.
  handlers.out({ type: 'workerregistered', worker_id, reattach_token })
  session.send({ type: 'session.start' })
  return {
    worker_id,
    receive: (value) => deliver(decodeValue(value)),
    receiveText: (text) => deliver(decodeText(text)),
    refuse: (error) => deliver({ ok: false, error }),
    close: (reason = 'connection closed') => {
      if (!open) return
      session.send({ type: 'session.close', reason })
    },
    lose: (reason) => {
      if (!open) return
      session.send({ type: 'session.close', reason, lost: true })
    },
  }
}
