/**
 * Wire messages as actor events: each validated message becomes one event with a dotted
 * name, carrying the message as it came. This table is the whole mapping.
 */
import type { DecodeFailure } from './codec.js'
import type { Inbound, InboundOf, InboundType } from './messages.js'

/** Event name for each inbound message type. */
export const eventNames = {
  registerfunction: 'function.register',
  unregisterfunction: 'function.unregister',
  registertriggertype: 'triggerType.register',
  unregistertriggertype: 'triggerType.unregister',
  registertrigger: 'trigger.register',
  unregistertrigger: 'trigger.unregister',
  invokefunction: 'invocation.call',
  invocationresult: 'invocation.result',
  triggerregistrationresult: 'trigger.verdict',
  reattach: 'session.reattach',
  ping: 'session.ping',
  pong: 'session.pong',
} as const satisfies Record<InboundType, string>

/** The event a validated wire message becomes. */
export type WireEvent = { [K in InboundType]: { type: (typeof eventNames)[K]; message: InboundOf<K> } }[InboundType]

/**
 * The two wire events of the call path. A port sends them to the invocations actor
 * (with its worker id), not to its session: sessions govern registrations, and calls are
 * the hot path.
 */
export type CallEvent = Extract<WireEvent, { type: 'invocation.call' | 'invocation.result' }>
/** The wire events a session machine receives: every other one. */
export type SessionWireEvent = Exclude<WireEvent, CallEvent>

/** A frame that failed decoding, as an event for its session. */
export type InvalidFrameEvent = { type: 'frame.invalid'; failure: DecodeFailure }

/** Turns a validated message into its event. */
export const toEvent = (message: Inbound): WireEvent => ({ type: eventNames[message.type], message }) as WireEvent
