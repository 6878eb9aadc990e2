/**
 * The types a TypeScript user gets, checked by the compiler itself: the fixtures in
 * test/fixtures/types import `signalbox` (the package's own exports, so its published
 * declarations in dist/) and are compiled with the TypeScript API, strict. handlers.ts
 * must compile without an error; typos.ts must give exactly one error on each line
 * marked `// error: <text>`, containing that text, and none elsewhere. And what a real
 * engine hands http, cron and queue functions is exactly what the types say.
 */
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as v from 'valibot'
import { CronEventSchema, HttpRequestSchema, QueueBatchSchema, QueueMessageSchema } from '../protocol/trigger-payloads.js'
import { limit, startEngine, until } from './harness.js'
import { compileErrors, expectedErrors, FIXTURES } from './compile.js'

const it = suite('types')

it('handlers typed by trigger type compile: req.method is a string, a cron event, a typed queue batch', () => {
  const errors = compileErrors(join(FIXTURES, 'handlers.ts'))
  assert.equal(errors, [], errors.map((e) => `line ${e.line}: ${e.text}`).join('\n'))
})

it('typos fail to compile, each on its own line and for its own reason', () => {
  const file = join(FIXTURES, 'typos.ts')
  const expected = expectedErrors(file)
  assert.ok(expected.size >= 7, 'the fixture marks its mistakes')
  const errors = compileErrors(file)
  for (const [line, text] of expected) {
    const here = errors.filter((e) => e.line === line)
    assert.is(here.length, 1, `line ${line}: one error, got ${JSON.stringify(here)}`)
    assert.ok(here[0].text.includes(text), `line ${line}: '${here[0].text}' should say '${text}'`)
  }
  const elsewhere = errors.filter((e) => !expected.has(e.line))
  assert.equal(elsewhere, [], 'no error on unmarked lines')
})

it('what the engine hands typed handlers is exactly what the types say', limit(async () => {
  const engine = await startEngine()
  try {
    const w = engine.connect({ name: 'shapes' })
    await w.ready()
    const seen: Record<string, unknown> = {}
    w.registerFunction('h', (req) => ((seen.http = req), { status_code: 201, headers: { 'x-a': 'b' }, body: { ok: true } }), { trigger_type: 'http' })
    w.registerFunction('c', (event) => void (seen.cron = event), { trigger_type: 'cron' })
    w.registerFunction<{ n: number }>('q', (batch) => void (seen.queue = batch), { trigger_type: 'queue' })
    for (const [id, trigger_type, function_id, config] of [
      ['h', 'http', 'h', { path: '/things/:id', method: 'POST' }],
      ['c', 'cron', 'c', { schedule: '* * * * * *' }],
      ['q', 'queue', 'q', { queue_name: 'shapes' }],
    ] as const) {
      assert.is((await w.registerTrigger({ id, trigger_type, function_id, config })).error, undefined)
    }
    const res = await fetch(`${engine.httpUrl}/things/7?x=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
    assert.is(res.status, 201)
    await w.invoke('engine::queue::send', { queue_name: 'shapes', body: { n: 1 } })
    await until(() => seen.http && seen.cron && seen.queue, 3000, 'a call of each')
    const exactly = (schema: v.ObjectSchema<v.ObjectEntries, undefined>, value: unknown, what: string) => {
      assert.ok(v.is(schema, value), `${what}: ${JSON.stringify(value)}`)
      assert.equal(Object.keys(value as object).sort(), Object.keys(schema.entries).sort(), `${what}: no key more, none less`)
    }
    exactly(HttpRequestSchema, seen.http, 'http')
    exactly(CronEventSchema, seen.cron, 'cron')
    exactly(QueueBatchSchema, seen.queue, 'queue')
    exactly(QueueMessageSchema, (seen.queue as { messages: unknown[] }).messages[0], 'queue message')
    assert.equal((seen.http as { path_params: unknown }).path_params, { id: '7' })
    w.close()
  } finally {
    await engine.stop()
  }
}))

it.run()
