/**
 * The wire codec: turns what a transport received (a text frame, or an object from the
 * in-process transport) into a validated message, or into the error that says what was
 * wrong with it. Nothing past this point sees unvalidated input.
 */
import * as v from 'valibot'
import { describeValue, inboundSchemas, type ErrorBody, type Inbound, type InboundType } from './messages.js'

/** Values nested deeper than this are refused: they could not be forwarded safely. */
export const MAX_DEPTH = 64

/** A frame that could not be turned into a message. */
export interface DecodeFailure {
  ok: false
  error: ErrorBody
  /** The offending message, where it could be identified. */
  ref?: { type?: string; id?: string }
  /** The raw object, when it was JSON at all (lets registertrigger answer in kind). */
  raw?: Record<string, unknown>
}
export type Decoded = { ok: true; message: Inbound } | DecodeFailure

const fail = (code: string, message: string, raw?: Record<string, unknown>): DecodeFailure => {
  const ref: { type?: string; id?: string } = {}
  if (raw && typeof raw.type === 'string' && raw.type.length <= 64) ref.type = raw.type
  const id = raw && (raw.type === 'invokefunction' || raw.type === 'invocationresult' ? raw.invocation_id : raw.id)
  if (typeof id === 'string' && id.length > 0 && id.length <= 1024) ref.id = id
  return raw ? { ok: false, error: { code, message }, ref, raw } : { ok: false, error: { code, message } }
}

/** True when `value` nests objects or arrays deeper than `max` levels. */
export function tooDeep(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false
  if (max === 0) return true
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (tooDeep(value[i], max - 1)) return true
    return false
  }
  for (const key in value) if (tooDeep((value as Record<string, unknown>)[key], max - 1)) return true
  return false
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

/** Validates a message object that arrived from a worker. */
export function decodeValue(value: unknown): Decoded {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('invalid_message', `A message must be a JSON object, got ${describeValue(value)}`)
  }
  const raw = value as Record<string, unknown>
  const type = raw.type
  if (typeof type !== 'string') return fail('invalid_message', `'type' must be a string, got ${describeValue(type)}`, raw)
  const schema = Object.hasOwn(inboundSchemas, type) ? inboundSchemas[type as InboundType] : undefined
  if (!schema) return fail('unknown_message_type', `Unknown message type '${type.length > 64 ? type.slice(0, 64) + '…' : type}'`, raw)
  const parsed = v.safeParse(schema, raw, { abortEarly: true })
  if (!parsed.success) return fail('invalid_message', `${type}: ${issueText(schema, parsed.issues[0])}`, raw)
  if (tooDeep(raw, MAX_DEPTH)) return fail('invalid_message', `${type}: values may nest at most ${MAX_DEPTH} levels deep`, raw)
  return { ok: true, message: parsed.output as Inbound }
}

/** Parses and validates one WebSocket text frame. */
export function decodeText(text: string): Decoded {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    return fail('invalid_json', `Frame is not valid JSON: ${(err as Error).message.slice(0, 200)}`)
  }
  return decodeValue(value)
}

/** Serialises an outbound message for a text frame. */
export const encode = (message: object): string => JSON.stringify(message)
