/**
 * Hostile WebSocket frames, as fast-check arbitraries (seeded, so a run can be replayed),
 * and what the protocol promises for each (`expectationOf`), read from the frame itself as
 * docs/protocol.md states it, not from the engine's code.
 *
 * The frames start from a message of every type a worker may send and are then spoiled:
 * truncated, mutated character by character, given a wrong type in a field, stripped of a
 * field or given extra ones (`__proto__`, `constructor`, `prototype`), made huge or nested
 * far past the limit; besides those, random text, random JSON that is not an object, and
 * binary frames.
 *
 * Ids the answers are matched by are written as `ID` placeholders and made unique when the
 * frame is sent (`stampIds`), so every answer can be traced to the one frame that asked.
 */
import fc from 'fast-check'

export type Frame = { text: string } | { binary: Uint8Array }

/** Where an id goes; replaced by a unique id when the frame is sent. */
export const ID = '@@id@@'
/** Where a value nested far past the limit goes (built as text: JSON.stringify cannot write it). */
const DEEP = '@@deep:'

/** Function ids the frames name: some that fuzz sessions offer, some nobody offers, and the engine's own. */
export const FUZZ_FUNCTIONS = ['fz::a', 'fz::b', 'fz::c']
const functionIds = fc.constantFrom(...FUZZ_FUNCTIONS, 'nope::x', '__proto__', 'constructor', 'engine::workers::list', 'engine::functions::list', 'engine::triggers::list', 'engine::trigger-types::list', 'engine::queue::list', 'engine::queue::dlq', 'engine::workers::register')
const triggerTypes = fc.constantFrom('http', 'cron', 'queue', 'fz-type-a', 'fz-type-b', '__proto__', 'constructor', 'nope')
const providedTypes = fc.constantFrom('fz-type-a', 'fz-type-b', 'http', '__proto__', 'constructor')
const text = fc.string({ maxLength: 40 })
/** A JSON value of modest size with prototype-named keys among the ordinary ones. */
const value = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    text,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(text, fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty')), tie('v'), { maxKeys: 4 }),
  ),
})).v

const httpConfig = fc.record(
  {
    path: fc.oneof(fc.constantFrom('/fz/a', '/fz/:id', '/fz/{id}', '/fz/*', '/', '', '/fz/%zz', '/fz/../x', '//fz'), text.map((t) => `/fz/${t}`)),
    method: fc.constantFrom('GET', 'POST', 'get', 'BREW', ''),
    timeout_ms: fc.constantFrom(1, 100, 0, -1, 2_147_483_648),
  },
  { requiredKeys: [] },
)
const cronConfig = fc.record(
  {
    schedule: fc.constantFrom('* * * * * *', '*/2 * * * * *', '0 0 1 1 *', '@hourly', '61 * * * *', 'every day', ''),
    timezone: fc.constantFrom('UTC', 'Europe/Paris', 'Mars/Olympus'),
    overlap: fc.boolean(),
  },
  { requiredKeys: [] },
)
const queueConfig = fc.record(
  {
    queue_name: fc.constantFrom('fz-q0', 'fz-q1', 'bad name', ''),
    batch_size: fc.constantFrom(1, 10, 0, 100000),
    visibility_timeout: fc.constantFrom(1, 30, 0, -5),
    concurrency: fc.constantFrom(1, 4, 0),
    fifo: fc.boolean(),
  },
  { requiredKeys: [] },
)
/** An action that is never a valid enqueue (a stored message would outlive the session and count as memory). */
const action = fc.oneof(
  fc.constant({ type: 'void' }),
  fc.record({ type: fc.constant('enqueue'), queue: fc.constantFrom('bad name', '', 'x'.repeat(200), 7 as unknown as string) }),
  fc.record({ type: fc.constantFrom('later', '__proto__', '') }),
  value,
)

/** One message of every inbound type, mostly well formed. */
const message = fc.oneof(
  fc.record({ type: fc.constant('registerfunction'), id: functionIds, description: text, metadata: value, request_format: value }, { requiredKeys: ['type', 'id'] }),
  fc.record({ type: fc.constant('unregisterfunction'), id: functionIds }),
  fc.record({ type: fc.constant('registertriggertype'), id: providedTypes, description: text }, { requiredKeys: ['type', 'id'] }),
  fc.record({ type: fc.constant('unregistertriggertype'), id: providedTypes }),
  fc.record(
    { type: fc.constant('registertrigger'), id: fc.constant(ID), trigger_type: triggerTypes, function_id: functionIds, config: fc.oneof(httpConfig, cronConfig, queueConfig, value), metadata: value },
    { requiredKeys: ['type', 'id', 'trigger_type', 'function_id', 'config'] },
  ),
  fc.record({ type: fc.constant('unregistertrigger'), id: fc.oneof(fc.constant(ID), text), trigger_type: triggerTypes }, { requiredKeys: ['type', 'id'] }),
  fc.record(
    {
      type: fc.constant('invokefunction'),
      invocation_id: fc.constant(ID),
      function_id: functionIds,
      data: value,
      action,
      timeout_ms: fc.constantFrom(1, 50, 1000, 0, -1, 1.5, 2_147_483_648),
      metadata: value,
      traceparent: text,
      baggage: text,
    },
    { requiredKeys: ['type', 'function_id'] },
  ),
  fc.record({ type: fc.constant('invocationresult'), invocation_id: fc.oneof(fc.constant(ID), text), function_id: functionIds, result: value, error: value }, { requiredKeys: ['type', 'invocation_id'] }),
  fc.record({ type: fc.constant('triggerregistrationresult'), id: fc.oneof(fc.constant(ID), text), trigger_type: triggerTypes, function_id: functionIds, error: value }, { requiredKeys: ['type', 'id'] }),
  fc.record({ type: fc.constant('reattach'), previous_worker_id: fc.oneof(fc.uuid(), text), reattach_token: text }, { requiredKeys: ['type'] }),
  fc.constant({ type: 'ping' }),
  fc.constant({ type: 'pong' }),
)

/** A value of some JSON type, to put where another type belongs. */
const wrongValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom(0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5),
  fc.constantFrom('', ' ', '\u0000', '\ud800', 'x'.repeat(1025), '__proto__'),
  fc.array(value, { maxLength: 3 }),
  fc.constantFrom({}, { __proto__: null }, JSON.parse('{"__proto__":{"polluted":true}}')),
  value,
)

type Msg = Record<string, unknown>

/** The places a message holds values: its own fields, and the fields of its config, action and data. */
function slots(m: Msg): Array<[Msg, string]> {
  const out: Array<[Msg, string]> = Object.keys(m).map((k) => [m, k] as [Msg, string])
  for (const k of ['config', 'action', 'data', 'metadata']) {
    const inner = m[k]
    if (typeof inner === 'object' && inner !== null && !Array.isArray(inner)) for (const ik of Object.keys(inner)) out.push([inner as Msg, ik])
  }
  return out
}

const spoilers = {
  /** A field's value replaced by one of another type. */
  wrongType: (m: Msg) => fc.tuple(fc.nat(), wrongValue).map(([i, v]) => {
    const s = slots(m)
    const [owner, key] = s[i % s.length]
    owner[key] = v
    return JSON.stringify(m)
  }),
  /** A field taken away, or fields added that name the prototype machinery. */
  fields: (m: Msg) => fc.tuple(fc.nat(), fc.constantFrom('drop', '__proto__', 'constructor', 'prototype'), value).map(([i, how, v]) => {
    const s = slots(m)
    const [owner, key] = s[i % s.length]
    if (how === 'drop') delete owner[key]
    else Object.defineProperty(owner, how, { value: how === 'constructor' ? { prototype: { polluted: true } } : (v ?? { polluted: true }), enumerable: true, writable: true, configurable: true })
    return JSON.stringify(m)
  }),
  /** `__proto__` written into the text, at the top and inside nested objects, as a parser sees it. */
  proto: (m: Msg) => fc.constantFrom('top', 'nested').map((where) => {
    const t = JSON.stringify(m)
    const poison = '"__proto__":{"polluted":true,"type":"ping"},"constructor":{"prototype":{"polluted":true}},'
    if (where === 'top') return `{${poison}${t.slice(1)}`
    return t.replace(/:\{/, `:{${poison}`)
  }),
  /** Cut short anywhere. */
  truncated: (m: Msg) => {
    const t = JSON.stringify(m)
    return fc.nat({ max: Math.max(0, t.length - 1) }).map((n) => t.slice(0, n))
  },
  /** A few characters replaced, inserted or deleted. */
  mutated: (m: Msg) => {
    const t = JSON.stringify(m)
    const edit = fc.tuple(fc.nat(), fc.constantFrom('replace', 'insert', 'delete'), fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 2 }))
    return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
      let s = t
      for (const [at, how, ch] of edits) {
        const i = at % Math.max(1, s.length)
        s = how === 'replace' ? s.slice(0, i) + ch + s.slice(i + 1) : how === 'insert' ? s.slice(0, i) + ch + s.slice(i) : s.slice(0, i) + s.slice(i + 1)
      }
      return s
    })
  },
  /** A field made huge: a long string or a long array. */
  huge: (m: Msg) => fc.tuple(fc.nat(), fc.constantFrom(64 * 1024, 512 * 1024, 2 * 1024 * 1024), fc.boolean()).map(([i, size, asString]) => {
    const s = slots(m)
    const [owner, key] = s[i % s.length]
    owner[key] = asString ? 'x'.repeat(size) : new Array(size / 8).fill(7)
    return JSON.stringify(m)
  }),
  /** A field nested far past the limit of 64 levels (arrays or objects). */
  deep: (m: Msg) => fc.tuple(fc.nat(), fc.constantFrom(65, 200, 10_000, 100_000), fc.boolean()).map(([i, depth, arrays]) => {
    const s = slots(m)
    const [owner, key] = s[i % s.length]
    owner[key] = `${DEEP}${arrays ? 'a' : 'o'}${depth}@@`
    return JSON.stringify(m)
  }),
}

/** Nested text for a `DEEP` placeholder. */
const nested = (kind: string, depth: number) => (kind === 'a' ? '['.repeat(depth) + '0' + ']'.repeat(depth) : '{"k":'.repeat(depth) + '0' + '}'.repeat(depth))

/** Frames as sent: placeholders of deep values expanded. */
const expand = (t: string) => (t.includes(DEEP) ? t.replace(/"@@deep:([ao])(\d+)@@"/g, (_, kind: string, depth: string) => nested(kind, Number(depth))) : t)

const spoilt = (spoil: (m: Msg) => fc.Arbitrary<string>) => message.chain((m) => spoil(structuredClone(m) as Msg)).map((t) => ({ text: expand(t) }) as Frame)

/** One hostile frame. The weights favour the cheap kinds; huge and deep ones are rarer. */
export const hostileFrame: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 20, arbitrary: message.map((m) => ({ text: JSON.stringify(m) }) as Frame) },
  { weight: 20, arbitrary: spoilt(spoilers.wrongType) },
  { weight: 8, arbitrary: spoilt(spoilers.fields) },
  { weight: 8, arbitrary: spoilt(spoilers.proto) },
  { weight: 10, arbitrary: spoilt(spoilers.truncated) },
  { weight: 10, arbitrary: spoilt(spoilers.mutated) },
  { weight: 1, arbitrary: spoilt(spoilers.huge) },
  { weight: 2, arbitrary: spoilt(spoilers.deep) },
  { weight: 5, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((t) => ({ text: t }) as Frame) },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => ({ text: JSON.stringify(v) }) as Frame) },
  { weight: 5, arbitrary: fc.uint8Array({ maxLength: 512 }).map((b) => ({ binary: b }) as Frame) },
)

/** Replaces every `ID` placeholder with a fresh id from `next`. */
export function stampIds(frame: Frame, next: () => string): Frame {
  if ('binary' in frame || !frame.text.includes(ID)) return frame
  return { text: frame.text.replaceAll(ID, () => next()) }
}

/** Message types a worker may send (docs/protocol.md, section 3). */
const INBOUND = new Set(['registerfunction', 'unregisterfunction', 'registertriggertype', 'unregistertriggertype', 'registertrigger', 'unregistertrigger', 'invokefunction', 'invocationresult', 'triggerregistrationresult', 'reattach', 'ping', 'pong'])

const usableId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 1024

/**
 * What docs/protocol.md promises for a frame:
 * - `code`: the error frame it must get, for frames that are not a message at all (a binary
 *   frame, text that is not JSON, JSON that is not an object, a `type` that is not a string
 *   or not a known type);
 * - `answer`: the key of the one answer it must get, for a frame that asks with an id (a
 *   `registertrigger` with a usable `id`; an `invokefunction` with a usable `invocation_id`
 *   unless it is a fire-and-forget call), matched against `answerKeyOf`;
 * - `mayAnswer`: a fire-and-forget call with an id: no answer when valid, an error frame
 *   naming it when not.
 */
export function expectationOf(frame: Frame): { code?: string; answer?: string; mayAnswer?: string } {
  if ('binary' in frame) return { code: 'binary_not_supported' }
  let m: unknown
  try {
    m = JSON.parse(frame.text)
  } catch {
    return { code: 'invalid_json' }
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return { code: 'invalid_message' }
  const o = m as Msg
  if (typeof o.type !== 'string') return { code: 'invalid_message' }
  if (!INBOUND.has(o.type)) return { code: 'unknown_message_type' }
  if (o.type === 'registertrigger' && usableId(o.id)) return { answer: `registertrigger:${o.id}` }
  if (o.type === 'invokefunction' && usableId(o.invocation_id)) {
    const voidCall = typeof o.action === 'object' && o.action !== null && (o.action as Msg).type === 'void'
    return voidCall ? { mayAnswer: `invokefunction:${o.invocation_id}` } : { answer: `invokefunction:${o.invocation_id}` }
  }
  return {}
}

/** The key of the frame an engine message answers, if it answers one (see `expectationOf`). */
export function answerKeyOf(m: Record<string, any>): string | undefined {
  if (m.type === 'invocationresult' && typeof m.invocation_id === 'string') return `invokefunction:${m.invocation_id}`
  if (m.type === 'triggerregistrationresult' && typeof m.id === 'string') return `registertrigger:${m.id}`
  if (m.type === 'error' && (m.ref?.type === 'invokefunction' || m.ref?.type === 'registertrigger') && typeof m.ref.id === 'string') return `${m.ref.type}:${m.ref.id}`
  return undefined
}
