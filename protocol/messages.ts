/**
 * Valibot schemas for every message of the wire protocol (docs/protocol.md). Types are
 * inferred from these schemas and nowhere written twice. Unknown fields are dropped
 * (iii-sdk adds e.g. `message_type`), so what passes is exactly what the engine
 * understands.
 */
import * as v from 'valibot'
import { describeValue, MAX_ID_LENGTH } from './values.js'

export { describeValue, MAX_ID_LENGTH }

const idMessage = (field: string) => (issue: v.BaseIssue<unknown>) =>
  `'${field}' must be a non-empty string of at most ${MAX_ID_LENGTH} characters, got ${describeValue(issue.input)}`

/** A required identifier: a non-empty string of bounded length. */
export const id = (field: string) =>
  v.pipe(v.string(idMessage(field)), v.nonEmpty(idMessage(field)), v.maxLength(MAX_ID_LENGTH, idMessage(field)))

const optionalString = (field: string) =>
  v.optional(v.string((issue) => `'${field}' must be a string, got ${describeValue(issue.input)}`))

const plainObject = (field: string) =>
  v.custom<Record<string, unknown>>(
    (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
    (issue) => `'${field}' must be an object, got ${describeValue(issue.input)}`,
  )

/**
 * The error object carried by results and error frames: a `code`, a `message`, and, where
 * the engine can say more than the message, `details` (why a cron expression is invalid,
 * the trigger type or function a mistyped id was probably meant to be).
 */
export const ErrorBody = v.object({
  code: v.string((issue) => `'error.code' must be a string, got ${describeValue(issue.input)}`),
  message: v.optional(v.string((issue) => `'error.message' must be a string, got ${describeValue(issue.input)}`)),
  details: v.optional(v.string((issue) => `'error.details' must be a string, got ${describeValue(issue.input)}`)),
  stacktrace: v.optional(v.string()),
})
export type ErrorBody = v.InferOutput<typeof ErrorBody>

const Action = v.variant(
  'type',
  [
    v.object({ type: v.literal('void') }),
    v.object({
      type: v.literal('enqueue'),
      queue: id('action.queue'),
      message_group_id: optionalString('action.message_group_id'),
      deduplication_id: optionalString('action.deduplication_id'),
      delay_seconds: v.optional(v.number((issue) => `'action.delay_seconds' must be a number of seconds, got ${describeValue(issue.input)}`)),
    }),
  ],
  `'action' must be {"type":"void"} or {"type":"enqueue","queue":"<name>"}`,
)

export const RegisterFunction = v.object({
  type: v.literal('registerfunction'),
  id: id('id'),
  description: optionalString('description'),
  request_format: v.optional(v.unknown()),
  response_format: v.optional(v.unknown()),
  metadata: v.optional(v.unknown()),
})
export const UnregisterFunction = v.object({ type: v.literal('unregisterfunction'), id: id('id') })
export const RegisterTriggerType = v.object({
  type: v.literal('registertriggertype'),
  id: id('id'),
  description: optionalString('description'),
  trigger_request_format: v.optional(v.unknown()),
  call_request_format: v.optional(v.unknown()),
})
export const UnregisterTriggerType = v.object({ type: v.literal('unregistertriggertype'), id: id('id') })
export const RegisterTrigger = v.object({
  type: v.literal('registertrigger'),
  id: id('id'),
  trigger_type: id('trigger_type'),
  function_id: id('function_id'),
  config: plainObject('config'),
  metadata: v.optional(v.unknown()),
})
export const UnregisterTrigger = v.object({
  type: v.literal('unregistertrigger'),
  id: id('id'),
  trigger_type: v.optional(id('trigger_type')),
})
export const InvokeFunction = v.object({
  type: v.literal('invokefunction'),
  invocation_id: v.optional(id('invocation_id')),
  function_id: id('function_id'),
  data: v.optional(v.unknown()),
  action: v.optional(Action),
  timeout_ms: v.optional(
    v.pipe(
      v.number((issue) => `'timeout_ms' must be a number, got ${describeValue(issue.input)}`),
      v.integer("'timeout_ms' must be a whole number of milliseconds"),
      v.minValue(1, "'timeout_ms' must be at least 1"),
      v.maxValue(2_147_483_647, "'timeout_ms' must be at most 2147483647"),
    ),
  ),
  metadata: v.optional(v.unknown()),
  traceparent: optionalString('traceparent'),
  baggage: optionalString('baggage'),
})
export const InvocationResult = v.object({
  type: v.literal('invocationresult'),
  invocation_id: id('invocation_id'),
  function_id: v.optional(v.string()),
  result: v.optional(v.unknown()),
  error: v.optional(v.unknown()),
})
export const TriggerRegistrationResult = v.object({
  type: v.literal('triggerregistrationresult'),
  id: id('id'),
  trigger_type: v.optional(v.string()),
  function_id: v.optional(v.string()),
  error: v.optional(v.unknown()),
})
export const Reattach = v.object({
  type: v.literal('reattach'),
  previous_worker_id: v.optional(v.string((issue) => `'previous_worker_id' must be a string, got ${describeValue(issue.input)}`)),
  reattach_token: v.optional(v.string((issue) => `'reattach_token' must be a string, got ${describeValue(issue.input)}`)),
})
export const Ping = v.object({ type: v.literal('ping') })
export const Pong = v.object({ type: v.literal('pong') })

/** Schema of each message a worker may send, by its `type`. */
export const inboundSchemas = {
  registerfunction: RegisterFunction,
  unregisterfunction: UnregisterFunction,
  registertriggertype: RegisterTriggerType,
  unregistertriggertype: UnregisterTriggerType,
  registertrigger: RegisterTrigger,
  unregistertrigger: UnregisterTrigger,
  invokefunction: InvokeFunction,
  invocationresult: InvocationResult,
  triggerregistrationresult: TriggerRegistrationResult,
  reattach: Reattach,
  ping: Ping,
  pong: Pong,
} as const

export type InboundType = keyof typeof inboundSchemas
/** A validated message from a worker. */
export type Inbound = { [K in InboundType]: v.InferOutput<(typeof inboundSchemas)[K]> }[InboundType]
export type InboundOf<K extends InboundType> = v.InferOutput<(typeof inboundSchemas)[K]>

/** A trigger registration verdict as the reference page prints it. */
export type RegistrationResult = {
  type: 'triggerregistrationresult'
  id: string
  trigger_type: string
  function_id: string
  error?: ErrorBody
}

/** Everything the engine sends to a worker. */
export type Outbound =
  | { type: 'workerregistered'; worker_id: string; reattach_token: string }
  | RegistrationResult
  | {
      type: 'invokefunction'
      invocation_id?: string
      function_id: string
      data: unknown
      metadata?: unknown
      traceparent?: string
      baggage?: string
    }
  | { type: 'invocationresult'; invocation_id: string; function_id: string; result?: unknown; error?: unknown }
  | { type: 'registertrigger'; id: string; trigger_type: string; function_id: string; config: unknown; metadata?: unknown }
  | { type: 'unregistertrigger'; id: string; trigger_type: string; function_id: string; config: unknown }
  | { type: 'error'; error: ErrorBody; ref?: { type?: string; id?: string } }
  | { type: 'pong' }
  | { type: 'ping' }
