/**
 * Names that are also properties of `Object.prototype` (`__proto__`, `constructor`,
 * `toString`) are ordinary names wherever a worker may choose one: a trigger type, a queue.
 * What the engine counts by name (`/healthz`, `/metrics`, `engine::queue::list`) counts
 * them like any other, and reading those counts never writes to `Object.prototype`.
 *
 * Found by the seeded fuzzer: a trigger bound to a trigger type named `__proto__`, once
 * parked, made every `/healthz` set `Object.prototype.parked`, after which validating any
 * frame threw and took the engine down.
 */
import { join } from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { limit, startEngine, until, type TestEngine } from './harness.js'
import { rawSocket } from './transports.js'

const NAMES = ['__proto__', 'constructor', 'toString']
const STANDARD = Object.getOwnPropertyNames(Object.prototype).sort().join()

/** Object.prototype as Node made it: no property added, none enumerable. */
function prototypeUntouched(): void {
  const enumerable: string[] = []
  for (const key in {}) enumerable.push(key)
  assert.equal(enumerable, [], 'no enumerable property on Object.prototype')
  assert.is(Object.getOwnPropertyNames(Object.prototype).sort().join(), STANDARD, 'no property added to Object.prototype')
  assert.is(Object.getPrototypeOf(Object.prototype), null)
}

async function scenario(engine: TestEngine): Promise<void> {
  const control = engine.url!.replace(/^ws:/, 'http:')
  // A provider of trigger types named like Object.prototype's properties, a worker binding one trigger to each.
  const provider = await rawSocket(engine.url!)
  for (const id of NAMES) provider.send({ type: 'registertriggertype', id, description: id })
  const consumer = await rawSocket(engine.url!)
  try {
    consumer.send({ type: 'registerfunction', id: 'f' })
    for (const [i, trigger_type] of NAMES.entries()) {
      consumer.send({ type: 'registertrigger', id: `t${i}`, trigger_type, function_id: 'f', config: {} })
      const forwarded = await provider.next((m) => m.type === 'registertrigger' && m.trigger_type === trigger_type)
      provider.send({ type: 'triggerregistrationresult', id: forwarded.id, trigger_type, function_id: 'f' })
      const result = await consumer.next((m) => m.type === 'triggerregistrationresult' && m.id === `t${i}`)
      assert.not.ok(result.error, JSON.stringify(result))
    }
    // Messages on queues of those names (nobody consumes them: they stay ready).
    for (const queue_name of NAMES) {
      consumer.send({ type: 'invokefunction', invocation_id: `send-${queue_name}`, function_id: 'engine::queue::send', data: { queue_name, body: queue_name } })
      const sent = await consumer.next((m) => m.type === 'invocationresult' && m.invocation_id === `send-${queue_name}`)
      assert.ok(sent.result?.message_id, JSON.stringify(sent))
    }
    const counted = async (state: string) => {
      const health = (await (await fetch(`${control}/healthz`)).json()) as { triggers: Record<string, number> }
      prototypeUntouched()
      for (const type of NAMES) assert.is(Object.hasOwn(health.triggers, type) && health.triggers[type], 1, `/healthz counts the trigger of type '${type}': ${JSON.stringify(health.triggers)}`)
      const metrics = await (await fetch(`${control}/metrics`)).text()
      prototypeUntouched()
      for (const type of NAMES) assert.ok(metrics.includes(`signalbox_triggers{type="${type}",state="${state}"} 1`), `/metrics counts the ${state} trigger of type '${type}'`)
      for (const queue of NAMES) assert.ok(metrics.includes(`signalbox_queue_messages{queue="${queue}",state="ready"} 1`), `/metrics counts the message on queue '${queue}'`)
    }
    await counted('active')

    // The provider leaves: the triggers park, and are counted as parked.
    await provider.close()
    await until(async () => (await (await fetch(`${control}/metrics`)).text()).includes(`signalbox_triggers{type="__proto__",state="parked"} 1`), 3000, 'the triggers to park')
    await counted('parked')

    consumer.send({ type: 'invokefunction', invocation_id: 'list', function_id: 'engine::queue::list', data: {} })
    const list = await consumer.next((m) => m.type === 'invocationresult' && m.invocation_id === 'list')
    prototypeUntouched()
    for (const queue_name of NAMES) {
      const q = list.result.queues.find((x: { queue_name: string }) => x.queue_name === queue_name)
      assert.equal(q && [q.ready, q.in_flight, q.delayed, q.dead_lettered], [1, 0, 0, 0], `engine::queue::list counts queue '${queue_name}': ${JSON.stringify(q)}`)
    }
    // And the engine still validates frames (the fuzzer's engine threw here).
    consumer.send({ type: 'invokefunction', invocation_id: 'after', function_id: 'engine::workers::list', data: {} })
    assert.ok((await consumer.next((m) => m.type === 'invocationresult' && m.invocation_id === 'after')).result.workers)
  } finally {
    await consumer.close()
    await provider.close()
  }
}

const it = suite('names of Object.prototype properties')

it('as trigger types and queue names (memory store): counted like any other, Object.prototype untouched', limit(async () => {
  const engine = await startEngine({ store: 'memory' })
  try {
    await scenario(engine)
  } finally {
    await engine.stop()
  }
}))

it('as trigger types and queue names (SQLite store): counted like any other, Object.prototype untouched', limit(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'signalbox-proto-'))
  const engine = await startEngine({ store: { sqlite: join(dir, 'queues.sqlite') } })
  try {
    await scenario(engine)
  } finally {
    await engine.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}))

it('as the error code an http-triggered function fails with: 500 with that code, and the engine keeps serving', limit(async () => {
  const engine = await startEngine({ store: 'memory' })
  const w = await rawSocket(engine.url!)
  try {
    w.send({ type: 'registerfunction', id: 'f' })
    w.send({ type: 'registertrigger', id: 'r', trigger_type: 'http', function_id: 'f', config: { path: '/fail/:code' } })
    assert.not.ok((await w.next((m) => m.type === 'triggerregistrationresult')).error)
    const serving = (async () => {
      for (;;) {
        const call = await w.next((m) => m.type === 'invokefunction', 60_000)
        w.send({ type: 'invocationresult', invocation_id: call.invocation_id, function_id: 'f', error: { code: call.data.path_params.code, message: 'refused' } })
      }
    })().catch(() => {})
    for (const code of [...NAMES, 'valueOf', 'hasOwnProperty', 'worker_disconnected']) {
      const res = await fetch(`${engine.httpUrl}/fail/${code}`, { signal: AbortSignal.timeout(3000) })
      const body = (await res.json()) as { error: { code: string } }
      assert.equal([res.status, body.error.code], [code === 'worker_disconnected' ? 503 : 500, code], `the function's code '${code}'`)
    }
    prototypeUntouched()
    assert.equal(engine.log.records.filter((r) => r.level === 'error').map((r) => r.msg), [], 'nothing failed in the engine')
    void serving
  } finally {
    await w.close()
    await engine.stop()
  }
}))

it.run()
