/**
 * The codec's hand-written checks of calls and answers (protocol/codec.ts) decide exactly
 * as valibot's schemas do: the same messages pass, with the same fields in the same order,
 * and the same refusals; and the depth check of text frames, which skips its walk when the
 * text is too short to nest too deep, refuses exactly what the walk refuses.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { decodeText, decodeValue, decodeValueBySchema, encode, MAX_DEPTH } from '../protocol/codec.js'
import { HttpInput } from '../core/http-input.js'

const it = suite('codec')

/** Values a field may hold, valid or not for any of the fields. */
const anyValue = fc.oneof(
  fc.constantFrom('', 'f', 'a::b', 'x'.repeat(1024), 'x'.repeat(1025), '__proto__'),
  fc.string({ maxLength: 8 }),
  fc.constantFrom(0, 1, -1, 1.5, 2_147_483_647, 2_147_483_648, Number.NaN, Number.POSITIVE_INFINITY),
  fc.integer(),
  fc.constantFrom(null, undefined, true, false),
  fc.constant({ type: 'void' }),
  fc.constant({ type: 'enqueue', queue: 'q' }),
  fc.constant({ type: 'enqueue' }),
  fc.constant([1, 'a', { b: null }]),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(null)), { maxKeys: 3 }),
)

const FIELDS = ['invocation_id', 'function_id', 'data', 'result', 'error', 'action', 'timeout_ms', 'metadata', 'traceparent', 'baggage', 'message_type', 'extra']

/** A message of one of the two hot types, each field present or not, with any value. */
const message = fc.record(
  {
    type: fc.constantFrom('invokefunction', 'invocationresult'),
    ...Object.fromEntries(FIELDS.map((f) => [f, anyValue])),
  },
  { requiredKeys: ['type'] },
)

/** Same outcome: both pass with the same message (fields and their order), or both refuse alike. */
function same(actual: unknown, expected: unknown, input: unknown) {
  const show = (x: unknown) => JSON.stringify(x, (_k, v) => (v === undefined ? '<undefined>' : Number.isNaN(v) ? '<NaN>' : v))
  assert.is(show(actual), show(expected), `for ${show(input)}`)
  assert.equal(actual, expected)
}

it('the hand-written checks of calls and answers decide as the schemas do', () => {
  fc.assert(
    fc.property(message, (m) => {
      same(decodeValue(m), decodeValueBySchema(m), m)
    }),
    { numRuns: 5000, seed: 15 },
  )
})

it('well-formed calls and answers take the hand-written path and come out as the schemas make them', () => {
  const cases: Array<Record<string, unknown>> = [
    { type: 'invocationresult', invocation_id: 'abc-1', function_id: 'f', result: { status_code: 200, body: 'hello' } },
    { type: 'invocationresult', invocation_id: 'abc-1', error: { code: 'x', message: 'y' }, message_type: 'iii' },
    { type: 'invocationresult', invocation_id: 'abc-1', function_id: 'f', error: null, result: 1 },
    { type: 'invokefunction', invocation_id: 'c1', function_id: 'bench::echo', data: { text: 'hello', n: 1 } },
    { type: 'invokefunction', function_id: 'f', data: null, timeout_ms: 5, metadata: { a: 1 }, traceparent: '00-a-b-01', baggage: 'k=v', extra: true },
    { type: 'invokefunction', invocation_id: 'c2', function_id: 'f', action: { type: 'enqueue', queue: 'jobs', delay_seconds: 1 } },
  ]
  for (const m of cases) {
    same(decodeValue(m), decodeValueBySchema(m), m)
    same(decodeText(JSON.stringify(m)), decodeValueBySchema(JSON.parse(JSON.stringify(m))), m)
  }
  const refused = [
    { type: 'invocationresult' },
    { type: 'invocationresult', invocation_id: '' },
    { type: 'invocationresult', invocation_id: 'a', function_id: null },
    { type: 'invokefunction', function_id: 'f', timeout_ms: 0 },
    { type: 'invokefunction', function_id: 'f', timeout_ms: 1.5 },
    { type: 'invokefunction', function_id: 'f', traceparent: 7 },
    { type: 'invokefunction', invocation_id: 'x'.repeat(1025), function_id: 'f' },
    { type: 'invokefunction', function_id: 'f', action: { type: 'later' } },
  ]
  for (const m of refused) {
    const d = decodeValue(m)
    assert.is(d.ok, false, JSON.stringify(m))
    same(d, decodeValueBySchema(m), m)
    same(decodeText(JSON.stringify(m)), decodeValueBySchema(JSON.parse(JSON.stringify(m))), m)
  }
})

it('a text frame nested one level too deep is refused, one level less is not, however short', () => {
  const nest = (depth: number, open: string, close: string, inner: string) => open.repeat(depth) + inner + close.repeat(depth)
  for (const [open, close, inner] of [['[', ']', '1'], ['{"a":', '}', '1']] as const) {
    for (const depth of [MAX_DEPTH - 1, MAX_DEPTH]) {
      // The message object is one level, `data` the rest.
      const text = `{"type":"invokefunction","function_id":"f","data":${nest(depth, open, close, inner)}}`
      const d = decodeText(text)
      same(d, decodeValueBySchema(JSON.parse(text)), text.slice(0, 80))
      assert.is(d.ok, depth < MAX_DEPTH, `depth ${depth + 1} in all`)
    }
  }
  // The shortest text nested too deep: 65 levels in 130 characters.
  const shortest = `${'['.repeat(MAX_DEPTH + 1)}${']'.repeat(MAX_DEPTH + 1)}`
  const tight = `{"type":"invokefunction","function_id":"f","data":${shortest.slice(1, -1)}}`
  assert.is(decodeText(tight).ok, false)
  same(decodeText(tight), decodeValueBySchema(JSON.parse(tight)), tight)
  // Brackets inside strings do not nest: accepted.
  const strings = `{"type":"invocationresult","invocation_id":"a","result":"${'['.repeat(200)}"}`
  assert.is(decodeText(strings).ok, true)
  // Many shallow objects: the walk runs, and finds nothing.
  const wide = JSON.stringify({ type: 'invocationresult', invocation_id: 'a', result: Array.from({ length: 200 }, (_, i) => ({ i })) })
  assert.is(decodeText(wide).ok, true)
})


// ---- encode: an input that writes its own JSON (core/http-input.ts) gives the frame JSON.stringify gives.

const text = fc.string({ maxLength: 12, unit: 'binary' })
const record = (value: fc.Arbitrary<unknown>) => fc.dictionary(fc.oneof(text, fc.constantFrom('__proto__', 'constructor', 'a"b', 'ü')), value, { maxKeys: 4 })
const httpCall = fc.record({
  input: fc.tuple(
    fc.constantFrom('GET', 'POST', 'DELETE'),
    text,
    record(text),
    record(fc.oneof(text, fc.array(text, { maxLength: 3 }))),
    record(fc.oneof(text, fc.array(text, { maxLength: 3 }))),
    fc.oneof(fc.constant(null), fc.jsonValue({ maxDepth: 3 }), fc.constant(undefined)),
    fc.nat().map((n) => `http:${n + 1}`),
    fc.stringMatching(/^[A-Za-z0-9_-]{22}$/),
  ),
  invocation_id: fc.option(text, { nil: undefined }),
  metadata: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
  traceparent: fc.option(text, { nil: undefined }),
})

it('encode: a frame whose input writes its own JSON is, character for character, what JSON.stringify writes of it', () => {
  fc.assert(
    fc.property(httpCall, ({ input, invocation_id, metadata, traceparent }) => {
      const data = new HttpInput(...(input as ConstructorParameters<typeof HttpInput>))
      const message = { type: 'invokefunction', function_id: 'f"n', data, invocation_id, metadata, traceparent }
      const written = encode(message)
      assert.is(written, JSON.stringify(message))
      const parsed = JSON.parse(written)
      assert.equal(parsed.data.request_body, { channel_id: input[6], access_key: input[7], direction: 'read' })
      assert.equal(parsed.data.response, { channel_id: input[6], access_key: input[7], direction: 'write' })
      assert.is(parsed.data.method, input[0])
    }),
    { numRuns: 500 },
  )
  // A frame with no such input is JSON.stringify's.
  const plain = { type: 'invokefunction', function_id: 'f', data: { a: 1 }, invocation_id: undefined }
  assert.is(encode(plain), '{"type":"invokefunction","function_id":"f","data":{"a":1}}')
})

it.run()
