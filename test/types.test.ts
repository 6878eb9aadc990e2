/**
 * The types a TypeScript user gets, checked by the compiler itself: the fixtures in
 * test/fixtures/types import `signalbox` (the package's own exports, so its published
 * declarations in dist/) and are compiled with the TypeScript API, strict. handlers.ts
 * must compile without an error; typos.ts must give exactly one error on each line
 * marked `// error: <text>`, containing that text, and none elsewhere. And what a real
 * engine hands http, cron and queue functions is exactly what the types say.
 */
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as v from 'valibot'
import { CronEventSchema, HttpRequestSchema, QueueBatchSchema, QueueMessageSchema } from '../protocol/trigger-payloads.js'
import { limit, startEngine, until } from './harness.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const FIXTURES = join(root, 'test', 'fixtures', 'types')

/** Compiler options a user of the package would have: strict, Node's ESM resolution. */
export const USER_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  types: ['node'],
  skipLibCheck: true,
}

/** Each error of compiling `file` (alone), as `line: text`. */
export function compileErrors(file: string, options: ts.CompilerOptions = USER_OPTIONS): Array<{ line: number; text: string }> {
  const program = ts.createProgram([file], options)
  return ts.getPreEmitDiagnostics(program).map((d) => ({
    line: d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0,
    text: `${d.file ? d.file.fileName.split('/').pop() : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`,
  }))
}

/** The lines of `file` marked `// error: <text>`, with their text. */
export function expectedErrors(file: string): Map<number, string> {
  const marked = new Map<number, string>()
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const m = /\/\/ error: (.+)$/.exec(line)
      if (m) marked.set(i + 1, m[1].trim())
    })
  return marked
}

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
