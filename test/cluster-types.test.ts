/**
 * Worker-defined trigger types across a cluster: `signalbox serve --cluster nats://…` child
 * processes on one real nats-server -js, providers speaking the protocol by hand over
 * WebSocket, binders and functions on the bundled worker client. A provider on one engine
 * gets the registrations bound on another (same frames as on one engine), its verdicts and
 * refusals reach the binder as on one engine, its calls reach the function wherever it is
 * served; unregistering, a binder leaving or its engine killed withdraw them; a provider
 * leaving (or its engine killed) parks them, and the next provider, wherever it connects,
 * gets them all; one provider per type in the whole cluster.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import type { WorkerClient } from '../client/worker.js'
import { limit, until } from './harness.js'
import { cleanUp, nats, serve, worker, type Server } from './cluster-harness.js'
import { typeBucketKey } from '../protocol/cluster.js'

const it = suite('cluster: worker-defined trigger types across engines')
it.before(() => nats.start())
it.after(() => nats.stop())

type Frame = Record<string, any>

const cli = fileURLToPath(new URL('../cli.js', import.meta.url))

/** A provider of trigger types speaking the protocol by hand: answers each `registertrigger` with `decide` (an error, or undefined to accept; `'silent'` not at all). */
interface Provider {
  worker_id: string
  frames: Frame[]
  send(message: object): void
  close(): void
  /** The `registertrigger` frames it got, by id. */
  registered(): Frame[]
  unregistered(): Frame[]
  errors(): Frame[]
}

const providers = new Set<Provider>()
it.after.each(async () => {
  for (const p of providers) p.close()
  providers.clear()
  await cleanUp()
})

async function provider(url: string, types: string[], decide: (frame: Frame) => unknown = () => undefined): Promise<Provider> {
  const ws = new WebSocket(url)
  const frames: Frame[] = []
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as Frame
    frames.push(frame)
    if (frame.type !== 'registertrigger') return
    const error = decide(frame)
    if (error === 'silent') return
    const result: Frame = { type: 'triggerregistrationresult', id: frame.id, trigger_type: frame.trigger_type, function_id: frame.function_id }
    if (error !== undefined) result.error = error
    ws.send(JSON.stringify(result))
  })
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)))
  await until(() => frames.some((f) => f.type === 'workerregistered'), 5000, 'workerregistered')
  const p: Provider = {
    worker_id: frames.find((f) => f.type === 'workerregistered')!.worker_id,
    frames,
    send: (message) => ws.send(JSON.stringify(message)),
    close: () => ws.terminate(),
    registered: () => frames.filter((f) => f.type === 'registertrigger'),
    unregistered: () => frames.filter((f) => f.type === 'unregistertrigger'),
    errors: () => frames.filter((f) => f.type === 'error'),
  }
  providers.add(p)
  for (const id of types) p.send({ type: 'registertriggertype', id, description: `${id} events` })
  return p
}

/** Registers a trigger, trying again while its engine does not know the type yet (another engine's type takes a moment to be known). */
const bind = (w: WorkerClient, request: Parameters<WorkerClient['registerTrigger']>[0]) =>
  until(async () => {
    const result = await w.registerTrigger(request)
    return result.error?.code === 'trigger_type_not_found' ? undefined : result
  }, 10_000, `${request.id} to reach a known type`) as ReturnType<WorkerClient['registerTrigger']>

const healthz = async (server: Server) =>
  (await (await fetch(`${server.url.replace(/^ws:/, 'http:')}/healthz`)).json()) as { cluster: { engine_id: string; engines: Array<{ engine_id: string }> } }

/** The state of a trigger as the engine it lives on lists it (asked of any engine: listings gather the cluster). */
async function stateOf(w: WorkerClient, id: string): Promise<string | undefined> {
  const { registered_triggers } = await w.invoke<{ registered_triggers: Array<{ id: string; state?: string }> }>('engine::registered-triggers::list')
  return registered_triggers.find((t) => t.id === id)?.state
}

it('a provider on engine A gets the registrations bound on engine B; verdicts, refusals, timeouts, calls and withdrawals as on one engine', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve(['--registration-timeout-ms', '1500'])])
  const calls: unknown[] = []
  const onB = await worker(b.url)
  onB.registerFunction('hook::handle', (d: unknown) => (calls.push(d), { handled: true }))
  const p = await provider(a.url, ['webhook'], (frame) => {
    if (frame.config.refuse) return { code: 'invalid_config', message: "'repo' is required" }
    if (frame.config.silent) return 'silent'
    return undefined
  })

  // 1. Bound on B, forwarded to A's provider with the frame one engine sends; answered as the reference page says.
  const result = await bind(onB, { id: 'gh', trigger_type: 'webhook', function_id: 'hook::handle', config: { repo: 'signalbox' }, metadata: { team: 'core' } } as any)
  assert.equal(result, { type: 'triggerregistrationresult', id: 'gh', trigger_type: 'webhook', function_id: 'hook::handle' })
  assert.equal(p.registered(), [{ type: 'registertrigger', id: 'gh', trigger_type: 'webhook', function_id: 'hook::handle', config: { repo: 'signalbox' }, metadata: { team: 'core' } }])
  assert.is(await stateOf(onB, 'gh'), 'active')

  // 2. The provider fires it: the call reaches B's function.
  p.send({ type: 'invokefunction', invocation_id: 'fire-1', function_id: 'hook::handle', data: { event: 'push' } })
  const answer = await until(() => p.frames.find((f) => f.type === 'invocationresult' && f.invocation_id === 'fire-1'), 10_000, "the provider's call to be answered")
  assert.equal(answer!.result, { handled: true })
  assert.equal(calls, [{ event: 'push' }])

  // The provider's refusal, passed on as it came.
  const refused = await onB.registerTrigger({ id: 'bad', trigger_type: 'webhook', function_id: 'hook::handle', config: { refuse: true } })
  assert.equal(refused, { type: 'triggerregistrationresult', id: 'bad', trigger_type: 'webhook', function_id: 'hook::handle', error: { code: 'invalid_config', message: "'repo' is required" } })

  // No verdict within the registration timeout (B's): provider_timeout, and the provider is told to drop it.
  const silent = await onB.registerTrigger({ id: 'quiet', trigger_type: 'webhook', function_id: 'hook::handle', config: { silent: true } })
  assert.is(silent.error?.code, 'provider_timeout')
  // Naming the provider, and the engine it is on.
  const providerId = p.frames.find((f) => f.type === 'workerregistered')?.worker_id as string
  assert.match(silent.error?.message ?? '', new RegExp(`^The provider of trigger type 'webhook' did not answer within 1500 ms: worker '${providerId}' on engine '[^']+'$`))
  await until(() => p.unregistered().some((f) => f.id === 'quiet'), 5000, 'the timed-out registration withdrawn')

  // 5. A type nobody in the cluster provides: the one-engine refusal.
  const unknown = await onB.registerTrigger({ id: 'x', trigger_type: 'nonexistent_type', function_id: 'hook::handle', config: {} })
  assert.equal(unknown, {
    type: 'triggerregistrationresult',
    id: 'x',
    trigger_type: 'nonexistent_type',
    function_id: 'hook::handle',
    error: { code: 'trigger_type_not_found', message: "No trigger type registered with ID 'nonexistent_type'" },
  })

  // 3. Unregistered on B: the provider on A gets unregistertrigger, with what it was registered with.
  onB.unregisterTrigger('gh', 'webhook')
  const gone = await until(() => p.unregistered().find((f) => f.id === 'gh'), 5000, 'unregistertrigger for gh')
  assert.equal(gone, { type: 'unregistertrigger', id: 'gh', trigger_type: 'webhook', function_id: 'hook::handle', config: { repo: 'signalbox' } })

  // …and when B's worker leaves.
  const leaving = await worker(b.url)
  assert.not.ok((await bind(leaving, { id: 'gh2', trigger_type: 'webhook', function_id: 'hook::handle', config: { repo: 'two' } })).error)
  assert.ok(p.registered().some((f) => f.id === 'gh2'))
  leaving.close({ drainMs: 0 })
  await until(() => p.unregistered().some((f) => f.id === 'gh2'), 5000, 'unregistertrigger for gh2 once its worker left')
  assert.equal(p.errors(), [], JSON.stringify(p.errors()))
}, 60_000))

it('one provider per type in the cluster; the provider leaves: bindings of every engine park, and the next provider gets them all, wherever it connects', limit(async () => {
  const [a, b, c] = await Promise.all([serve(), serve(), serve()])
  const [ha] = await Promise.all([healthz(a)])
  const onA = await worker(a.url)
  const onB = await worker(b.url)
  onB.registerFunction('job::run', () => 'ran')
  const first = await provider(a.url, ['jobs'])
  assert.not.ok((await bind(onB, { id: 'from-b', trigger_type: 'jobs', function_id: 'job::run', config: { n: 1 } })).error)
  assert.not.ok((await bind(onA, { id: 'from-a', trigger_type: 'jobs', function_id: 'job::run', config: { n: 2 } })).error)
  assert.equal(first.registered().map((f) => f.id).sort(), ['from-a', 'from-b'])

  // 5. A second provider of the type on another engine: refused as a second one is on one engine, naming the holder.
  const second = await provider(b.url, ['jobs'])
  const refusal = await until(() => second.errors()[0], 5000, 'the second provider refused')
  assert.equal(refusal, {
    type: 'error',
    error: { code: 'trigger_type_exists', message: `Trigger type 'jobs' is already provided by worker '${first.worker_id}' on engine '${ha.cluster.engine_id}'` },
    ref: { type: 'registertriggertype', id: 'jobs' },
  })
  assert.equal(second.registered(), [])

  // 4. The provider leaves: both bindings park.
  first.close()
  await until(async () => (await stateOf(onB, 'from-b')) === 'parked' && (await stateOf(onA, 'from-a')) === 'parked', 10_000, 'both bindings parked')

  // A new provider on a third engine gets both.
  const third = await provider(c.url, ['jobs'])
  await until(() => third.registered().length === 2, 10_000, 'both bindings re-sent to the provider on C')
  assert.equal(third.registered().map((f) => [f.id, f.config]).sort(), [['from-a', { n: 2 }], ['from-b', { n: 1 }]])
  await until(async () => (await stateOf(onB, 'from-b')) === 'active' && (await stateOf(onA, 'from-a')) === 'active', 5000, 'both active again')

  // It leaves too; the next one connects to B, where one of them was bound.
  third.close()
  await until(async () => (await stateOf(onB, 'from-b')) === 'parked' && (await stateOf(onA, 'from-a')) === 'parked', 10_000, 'both parked again')
  const fourth = await provider(b.url, ['jobs'])
  await until(() => fourth.registered().length === 2, 10_000, 'both bindings re-sent to the provider on B')
  assert.equal(fourth.registered().map((f) => f.id).sort(), ['from-a', 'from-b'])
  assert.equal(fourth.errors(), [])

  // And the next one on A, where the first one was.
  fourth.close()
  await until(async () => (await stateOf(onB, 'from-b')) === 'parked' && (await stateOf(onA, 'from-a')) === 'parked', 10_000, 'both parked a third time')
  const fifth = await provider(a.url, ['jobs'])
  await until(() => fifth.registered().length === 2, 10_000, 'both bindings re-sent to the provider on A')
  assert.equal(fifth.registered().map((f) => f.id).sort(), ['from-a', 'from-b'])
  // Fired from A, the call reaches B's function.
  fifth.send({ type: 'invokefunction', invocation_id: 'run-1', function_id: 'job::run', data: {} })
  assert.is((await until(() => fifth.frames.find((f) => f.type === 'invocationresult' && f.invocation_id === 'run-1'), 10_000, 'the call answered'))!.result, 'ran')
}, 60_000))

it('two engines whose workers register the same type at once: exactly one holds it (the other is refused), and bindings go to it', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const onB = await worker(b.url)
  onB.registerFunction('race::fn', () => 'ok')
  const [pa, pb] = await Promise.all([provider(a.url, []), provider(b.url, [])])
  for (let round = 0; round < 3; round++) {
    const type = `race-${round}`
    pa.send({ type: 'registertriggertype', id: type, description: 'a' })
    pb.send({ type: 'registertriggertype', id: type, description: 'b' })
    const refused = await until(() => {
      const found = [pa, pb].filter((p) => p.errors().some((f) => f.ref?.id === type))
      return found.length > 0 ? found : undefined
    }, 5000, `one of the two refused for ${type}`)
    assert.is(refused!.length, 1, `exactly one refused for ${type}`)
    assert.is(refused![0].errors().find((f) => f.ref?.id === type)!.error.code, 'trigger_type_exists')
    const holder = refused![0] === pa ? pb : pa
    assert.not.ok((await bind(onB, { id: `t-${round}`, trigger_type: type, function_id: 'race::fn', config: {} })).error)
    assert.ok(holder.registered().some((f) => f.id === `t-${round}`), 'the binding went to the holder')
    assert.not.ok(refused![0].registered().some((f) => f.id === `t-${round}`), 'and not to the refused one')
  }
}, 60_000))

it("6. the provider's engine killed (SIGKILL): bindings elsewhere park and go to the next provider; a binder's engine killed: the provider gets unregistertrigger", limit(async () => {
  const [a, b, c] = await Promise.all([serve(), serve(), serve()])
  const onB = await worker(b.url)
  onB.registerFunction('kill::fn', () => 'ok')
  const onC = await worker(c.url)
  const first = await provider(a.url, ['alarm'])
  assert.not.ok((await bind(onB, { id: 'on-b', trigger_type: 'alarm', function_id: 'kill::fn', config: { level: 1 } })).error)
  assert.not.ok((await bind(onC, { id: 'on-c', trigger_type: 'alarm', function_id: 'kill::fn', config: { level: 2 } })).error)
  assert.equal(first.registered().map((f) => f.id).sort(), ['on-b', 'on-c'])

  a.child.kill('SIGKILL')
  // Once A is taken for gone (its heartbeats missed), the bindings on B and C park.
  await until(async () => (await stateOf(onB, 'on-b')) === 'parked' && (await stateOf(onC, 'on-c')) === 'parked', 15_000, 'the bindings parked once A is gone')
  const next = await provider(c.url, ['alarm'])
  await until(() => next.registered().length === 2, 10_000, 'both bindings re-sent to the provider on C')
  assert.equal(next.registered().map((f) => [f.id, f.config]).sort(), [['on-b', { level: 1 }], ['on-c', { level: 2 }]])
  assert.equal(next.errors(), [])

  // B, which holds on-b, is killed: the provider on C is told to drop it once B is taken for gone.
  b.child.kill('SIGKILL')
  const dropped = await until(() => next.unregistered().find((f) => f.id === 'on-b'), 15_000, 'unregistertrigger for on-b once B is gone')
  assert.equal(dropped, { type: 'unregistertrigger', id: 'on-b', trigger_type: 'alarm', function_id: 'kill::fn', config: { level: 1 } })
  assert.not.ok(next.unregistered().some((f) => f.id === 'on-c'), "C's own binding stays")
}, 60_000))

it("a binder's engine taken for gone by the provider's engine alone (its membership entry deleted under it): once heard of again, its bindings are sent there again", limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const onB = await worker(b.url)
  onB.registerFunction('gone::fn', () => 'ok')
  const p = await provider(a.url, ['tick'])
  assert.not.ok((await bind(onB, { id: 'dropped', trigger_type: 'tick', function_id: 'gone::fn', config: { n: 1 } })).error)
  assert.equal(p.registered().map((f) => f.id), ['dropped'])

  // A SIGSTOP of B would not do: on SIGCONT, B takes A for gone as well (its timers run
  // before the heartbeats queued meanwhile are read), parks and re-sends on its own. Here
  // A alone takes B for gone, as when B's beats are late where A's reach it.
  const nc = await connect({ servers: nats.url })
  try {
    const b_id = (await healthz(b)).cluster.engine_id
    await (await new Kvm(nc).open('signalbox-engines')).delete(b_id)
  } finally {
    await nc.close()
  }
  await until(() => p.unregistered().some((f) => f.id === 'dropped'), 10_000, "unregistertrigger for B's binding")
  // B's next beat: A hears of it again, tells it, and B sends its binding again; active there.
  await until(() => p.registered().length === 2, 10_000, 'the binding sent again once B is heard of again')
  assert.equal(p.registered()[1], { type: 'registertrigger', id: 'dropped', trigger_type: 'tick', function_id: 'gone::fn', config: { n: 1 } })
  await until(async () => (await stateOf(onB, 'dropped')) === 'active', 10_000, 'the binding active again')
}, 45_000))

it('a binder that reattaches after a lost connection takes over its bindings to a provider on another engine: the provider is told nothing', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const onB = await worker(b.url)
  onB.registerFunction('keep::fn', () => 'ok')
  const p = await provider(a.url, ['keep'])
  // The binder, by hand: it has to cut its connection and reattach with its token.
  const first = await provider(b.url, [])
  const welcome = first.frames.find((f) => f.type === 'workerregistered')!
  const request = { type: 'registertrigger', id: 'kept', trigger_type: 'keep', function_id: 'keep::fn', config: { every: 'day' } }
  // Sent again while B does not know the type yet (each answer before the next try).
  let sent = 0
  await until(() => {
    const answered = first.frames.filter((f) => f.type === 'triggerregistrationresult' && f.id === 'kept')
    if (answered.some((f) => !f.error)) return true
    if (answered.length === sent) sent++, first.send(request)
    return false
  }, 10_000, 'kept to be bound on B')
  assert.is(p.registered().length, 1)
  first.close() // lost, not closed: B holds the session
  const again = await provider(b.url, [])
  again.send({ type: 'reattach', previous_worker_id: welcome.worker_id, reattach_token: welcome.reattach_token })
  again.send(request)
  const result = await until(() => again.frames.find((f) => f.type === 'triggerregistrationresult' && f.id === 'kept'), 5000, 'the new session bound it')
  assert.equal(result, { type: 'triggerregistrationresult', id: 'kept', trigger_type: 'keep', function_id: 'keep::fn' })
  // The held session is retired once the new one holds what it held.
  await until(async () => ((await (await fetch(`${b.url.replace(/^ws:/, 'http:')}/healthz`)).json()) as { held_sessions: number }).held_sessions === 0, 10_000, 'the held session retired')
  assert.is(p.registered().length, 1, 'no new registertrigger')
  assert.equal(p.unregistered(), [], 'no unregistertrigger')
  // The binding is the new session's on A: unregistering it there reaches the provider.
  again.send({ type: 'unregistertrigger', id: 'kept', trigger_type: 'keep' })
  const gone = await until(() => p.unregistered()[0], 5000, 'unregistertrigger for kept')
  assert.equal(gone, { type: 'unregistertrigger', id: 'kept', trigger_type: 'keep', function_id: 'keep::fn', config: { every: 'day' } })
}, 60_000))

it('garbage on the types subject and in the types bucket is refused and logged; the engine serves on', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const { connect } = await import('@nats-io/transport-node')
  const { Kvm } = await import('@nats-io/kv')
  const ha = await healthz(a)
  const nc = await connect({ servers: nats.url })
  try {
    const subject = `signalbox.types.${ha.cluster.engine_id}`
    for (const body of ['null', '{not json', '{"op":"register"}', '{"op":"nope","from":"x"}', '[1]']) {
      const answer = await nc.request(subject, new TextEncoder().encode(body), { timeout: 5000 })
      const reply = JSON.parse(new TextDecoder().decode(answer.data)) as { error?: { code: string } }
      assert.is(reply.error?.code, 'invalid_message', body)
    }
    const kv = await new Kvm(nc).open('signalbox-trigger-types')
    await kv.put('garbage', new TextEncoder().encode('{"trigger_type": 7}'))
    await kv.put('notjson', new TextEncoder().encode('{'))
    // Not JSON under a type's own key: taken over by the next provider of that type.
    await kv.put(typeBucketKey('after-garbage'), new TextEncoder().encode('{'))
  } finally {
    await nc.close()
  }
  // Both engines still work: a type on A, bound on B.
  const onB = await worker(b.url)
  onB.registerFunction('still::fn', () => 'ok')
  const p = await provider(a.url, ['still'])
  assert.not.ok((await bind(onB, { id: 'still-1', trigger_type: 'still', function_id: 'still::fn', config: {} })).error)
  assert.ok(p.registered().some((f) => f.id === 'still-1'))
  const q = await provider(a.url, ['after-garbage'])
  await until(async () => !(await bind(onB, { id: `ag-${Date.now()}`, trigger_type: 'after-garbage', function_id: 'still::fn', config: {} })).error, 15_000, 'the type claimed over a key that is not JSON, and known on B')
  assert.ok(q.registered().length > 0)
}, 60_000))

it('engine::triggers::list and engine::trigger-types::list, asked on any engine, list every type of the cluster once, each worker-defined type with its engine', limit(async () => {
  const [a, b] = await Promise.all([serve(), serve()])
  const p = await provider(b.url, ['webhook'])
  const onA = await worker(a.url)
  const bId = (await healthz(b)).cluster.engine_id
  const aId = (await healthz(a)).cluster.engine_id
  type TypeRow = { id: string; worker_id: string; worker_name?: string; description?: string; engine_id?: string }
  const triggers = await until(async () => {
    const { triggers } = await onA.invoke<{ triggers: TypeRow[] }>('engine::triggers::list', { include_internal: true })
    return triggers.some((t) => t.id === 'webhook') ? triggers : undefined
  }, 10_000, "B's type listed by A")
  assert.equal(triggers!.find((t) => t.id === 'webhook'), { id: 'webhook', worker_name: p.worker_id, description: 'webhook events', worker_id: p.worker_id, engine_id: bId })
  const ids = triggers!.map((t) => t.id)
  assert.equal(ids, [...new Set(ids)].sort(), 'each type once, sorted by id')
  for (const builtin of ['cron', 'http', 'queue']) assert.is(triggers!.find((t) => t.id === builtin)?.engine_id, aId, `${builtin} listed once, as the engine asked`)
  assert.ok(triggers!.filter((t) => t.worker_id === 'engine').every((t) => t.engine_id === aId))

  const { trigger_types } = await onA.invoke<{ trigger_types: TypeRow[] }>('engine::trigger-types::list')
  assert.equal(trigger_types.find((t) => t.id === 'webhook'), { id: 'webhook', description: 'webhook events', worker_id: p.worker_id, engine_id: bId })
  assert.is(trigger_types.filter((t) => t.id === 'http').length, 1)
  // Filters apply on every engine: the provider's worker named, only its type.
  const { triggers: filtered } = await onA.invoke<{ triggers: TypeRow[] }>('engine::triggers::list', { worker: p.worker_id })
  assert.equal(filtered.map((t) => [t.id, t.engine_id]), [['webhook', bId]])

  // `signalbox ls types` on A: an ENGINE column, B's id on B's type.
  const ls = spawnSync(process.execPath, [cli, 'ls', 'types', '--url', a.url], { encoding: 'utf8', env: { ...process.env, SIGNALBOX_CONFIG: '' } })
  assert.is(ls.status, 0, ls.stderr)
  assert.ok(ls.stdout.split('\n')[0].includes('ENGINE'), ls.stdout)
  assert.ok(ls.stdout.split('\n').find((l) => l.startsWith('webhook'))?.includes(bId), ls.stdout)
  assert.is(ls.stdout.split('\n').filter((l) => l.startsWith('http ')).length, 1, ls.stdout)
}))

it.run()
