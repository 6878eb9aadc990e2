/**
 * The wire codec: turns what a transport received (a text frame, or an object from the
 * in-process transport) into a validated message, or into the error that says what was
 * wrong with it. Nothing past this point sees unvalidated input.
 */
import * as v from 'valibot'
import { errors } from './errors.js'
import { describeValue, inboundSchemas, MAX_ID_LENGTH, type ErrorBody, type Inbound, type InboundType } from './messages.js'

/** Values nested deeper than this are refused: they could not be forwarded safely. */
export const MAX_DEPTH = 64

/** A frame that could not be turned into a message. */
export interface DecodeFailure {
  ok: false
  error: ErrorBody
  /** The offending message, where it could be identified. */
  ref?: { type?: string; id?: string }
  /** For a malformed `registertrigger`: the fields its result echoes ('' where unusable). */
  echo?: { trigger_type: string; function_id: string }
}
export type Decoded = { ok: true; message: Inbound } | DecodeFailure

const usable = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH

const fail = (error: ErrorBody, raw?: Record<string, unknown>): DecodeFailure => {
  const failure: DecodeFailure = { ok: false, error }
  if (!raw) return failure
  const ref: { type?: string; id?: string } = {}
  if (typeof raw.type === 'string' && raw.type.length <= 64) ref.type = raw.type
  const id = raw.type === 'invokefunction' || raw.type === 'invocationresult' ? raw.invocation_id : raw.id
  if (usable(id)) ref.id = id
  if (ref.type !== undefined || ref.id !== undefined) failure.ref = ref
  if (raw.type === 'registertrigger') {
    failure.echo = { trigger_type: usable(raw.trigger_type) ? raw.trigger_type : '', function_id: usable(raw.function_id) ? raw.function_id : '' }
  }
  return failure
}

/**
 * Why `value` could not travel as JSON: nested deeper than `max` levels (cycles included),
 * or holding a value JSON has no form for (bigint, function, symbol). Undefined if fine.
 * Frames parsed from text pass the second test trivially; in-process messages need it.
 */
export function unfitForJson(value: unknown, max: number): string | undefined {
  const type = typeof value
  if (type === 'bigint' || type === 'function' || type === 'symbol') return `values must be JSON: a ${type} cannot be sent`
  if (type !== 'object' || value === null) return undefined
  if (max === 0) return `values may nest at most ${MAX_DEPTH} levels deep`
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const why = unfitForJson(value[i], max - 1)
      if (why) return why
    }
    return undefined
  }
  for (const key in value) {
    const why = unfitForJson((value as Record<string, unknown>)[key], max - 1)
    if (why) return why
  }
  return undefined
}

/** The message of an issue; a missing key gets its field's own message, not valibot's generic one. */
function issueText(schema: (typeof inboundSchemas)[InboundType], issue: v.BaseIssue<unknown>): string {
  const key = issue.path?.length === 1 ? issue.path[0].key : undefined
  if (issue.type === 'object' && typeof key === 'string' && Object.hasOwn(schema.entries, key)) {
    const entry = v.safeParse((schema.entries as Record<string, v.GenericSchema>)[key], undefined)
    if (!entry.success) return entry.issues[0].message
  }
  return issue.message
}

/** An id as `id()` in messages.ts accepts it: a non-empty string of at most MAX_ID_LENGTH characters. */
const isId = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH
const isTimeout = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 2_147_483_647

/**
 * Calls and answers are most of the traffic, so their two schemas are also checked by
 * hand here: what passes these checks is exactly what valibot passes (the same fields,
 * in the schema's order, unknown fields dropped; test/codec.test.ts compares them on
 * generated messages), at a fraction of the cost. Anything these checks do not pass
 * (including an `action`) goes to valibot, which says what is wrong with it.
 */
function fastInvocationResult(raw: Record<string, unknown>): Inbound | undefined {
  if (!isId(raw.invocation_id)) return undefined
  const out: Record<string, unknown> = { type: 'invocationresult', invocation_id: raw.invocation_id }
  if ('function_id' in raw) {
    if (typeof raw.function_id !== 'string') return undefined
    out.function_id = raw.function_id
  }
  if ('result' in raw) out.result = raw.result
  if ('error' in raw) out.error = raw.error
  return out as Inbound
}

function fastInvokeFunction(raw: Record<string, unknown>): Inbound | undefined {
  if ('action' in raw || !isId(raw.function_id)) return undefined
  const out: Record<string, unknown> = { type: 'invokefunction' }
  if ('invocation_id' in raw) {
    if (raw.invocation_id !== undefined && !isId(raw.invocation_id)) return undefined
    out.invocation_id = raw.invocation_id
  }
  out.function_id = raw.function_id
  if ('data' in raw) out.data = raw.data
  if ('timeout_ms' in raw) {
    if (raw.timeout_ms !== undefined && !isTimeout(raw.timeout_ms)) return undefined
    out.timeout_ms = raw.timeout_ms
  }
  if ('metadata' in raw) out.metadata = raw.metadata
  for (const key of ['traceparent', 'baggage'] as const) {
    if (key in raw) {
      if (raw[key] !== undefined && typeof raw[key] !== 'string') return undefined
      out[key] = raw[key]
    }
  }
  return out as Inbound
}

/** Validates a message's fields against its type's schema (the message is an object with a string `type`). */
function validate(raw: Record<string, unknown>, type: string, fastPaths: boolean): Decoded {
  const fast = !fastPaths ? undefined : type === 'invocationresult' ? fastInvocationResult(raw) : type === 'invokefunction' ? fastInvokeFunction(raw) : undefined
  if (fast) return { ok: true, message: fast }
  const schema = Object.hasOwn(inboundSchemas, type) ? inboundSchemas[type as InboundType] : undefined
  if (!schema) return fail(errors.unknownMessageType(type), raw)
  const parsed = v.safeParse(schema, raw, { abortEarly: true })
  if (!parsed.success) return fail(errors.invalidMessage(`${type}: ${issueText(schema, parsed.issues[0])}`), raw)
  return { ok: true, message: parsed.output as Inbound }
}

/** Validates a message object that arrived from a worker. */
export function decodeValue(value: unknown): Decoded {
  return decodeObject(value, true, true)
}

/** `decodeValue` with valibot's schemas alone, never the hand-written checks: what tests compare those with. */
export function decodeValueBySchema(value: unknown): Decoded {
  return decodeObject(value, true, false)
}

function decodeObject(value: unknown, walk: boolean, fastPaths: boolean): Decoded {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(errors.invalidMessage(`A message must be a JSON object, got ${describeValue(value)}`))
  }
  const raw = value as Record<string, unknown>
  const type = raw.type
  if (typeof type !== 'string') return fail(errors.invalidMessage(`'type' must be a string, got ${describeValue(type)}`), raw)
  const decoded = validate(raw, type, fastPaths)
  if (!decoded.ok || !walk) return decoded
  const unfit = unfitForJson(raw, MAX_DEPTH)
  if (unfit) return fail(errors.invalidMessage(`${type}: ${unfit}`), raw)
  return decoded
}

/**
 * JSON nested `depth` levels deep takes at least 2 × depth characters (each level opens
 * and closes), so a text shorter than this cannot nest deeper than MAX_DEPTH, and the walk
 * of what it parses to (`unfitForJson`) would find nothing. Calls and answers are mostly
 * this short; a longer one is walked (a few values cost less to walk than their text to scan).
 */
const SHORTER_CANNOT_NEST_TOO_DEEP = 2 * (MAX_DEPTH + 1)

/** Parses and validates one WebSocket text frame. */
export function decodeText(text: string): Decoded {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    return fail(errors.invalidJson((err as Error).message))
  }
  // Parsed JSON holds no bigint, function or symbol: only its depth needs checking.
  return decodeObject(value, text.length >= SHORTER_CANNOT_NEST_TOO_DEEP, true)
}

/**
 * The key of a value's own JSON writer. A call's input that holds it (the http trigger's
 * request, core/http-input.ts) is written by it, not walked by `JSON.stringify`; what it
 * writes is what `JSON.stringify` writes of the value (its `toJSON`). A value parsed from
 * JSON can never hold it (a symbol is no JSON key).
 */
export const WRITE_JSON = Symbol('signalbox.writeJson')

/** A value that writes its own JSON (`WRITE_JSON`). */
export interface WritesJson {
  [WRITE_JSON](): string
}

const writesJson = (value: unknown): value is WritesJson => typeof value === 'object' && value !== null && WRITE_JSON in value

/**
 * An outbound message as a worker gets it from JSON: a `data` that writes its own JSON
 * becomes the plain value it writes (for the in-process transport, which hands messages
 * over as objects). Any other message is returned as it is.
 */
export function plainMessage<T extends object>(message: T): T {
  const data = (message as { data?: unknown }).data
  return writesJson(data) ? { ...message, data: JSON.parse(data[WRITE_JSON]()) } : message
}

/**
 * Serialises an outbound message for a text frame: `JSON.stringify`, but a `data` that
 * writes its own JSON (`WRITE_JSON`) is written by it. Keys keep their order and a key
 * whose value is `undefined` is left out, as `JSON.stringify` does.
 */
export function encode(message: object): string {
  const data = (message as { data?: unknown }).data
  if (!writesJson(data)) return JSON.stringify(message)
  let out = '{'
  for (const key of Object.keys(message)) {
    const value = (message as Record<string, unknown>)[key]
    // What JSON.stringify leaves out (undefined, a function, a symbol) is left out here too.
    const text = value === data ? data[WRITE_JSON]() : (JSON.stringify(value) as string | undefined)
    if (text === undefined) continue
    // Every key of an outbound message is one of the protocol's field names (letters and '_'): nothing to escape.
    out += `${out.length === 1 ? '' : ','}"${key}":${text}`
  }
  return out + '}'
}
