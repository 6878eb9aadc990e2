/**
 * Seeing inside: the Stately inspector receives the actor tree and the key events in
 * order; /healthz and /metrics on the worker port; one log record per registration
 * outcome, session open and close, and error frame; `signalbox ls` and `signalbox invoke`.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { WebSocketServer } from 'ws'
import { createWebSocketInspector } from '@statelyai/inspect'
import { connectWorker } from '../client/ws-client.js'
import { limit, startEngine, until } from './harness.js'
import { rawSocket } from './transports.js'

type Msg = Record<string, any>

/** A WebSocket server standing in for the Stately inspector, and an inspector sending to it. */
async function inspectorReceiver() {
  const receiver = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise((r) => receiver.once('listening', r))
  const received: Msg[] = []
  receiver.on('connection', (ws) => ws.on('message', (data) => received.push(JSON.parse(data.toString()))))
  const inspector = createWebSocketInspector({ url: `ws://127.0.0.1:${(receiver.address() as { port: number }).port}` })
  return { receiver, received, inspector }
}

const it = suite('observability')

it('the Stately inspector receives the actor tree and the key events, in order', limit(async () => {
  const { receiver, received, inspector } = await inspectorReceiver()
  const engine = await startEngine({ inspect: inspector.inspect })
  try {
    const worker = await connectWorker(engine.url!, { reconnect: false })
    const id = worker.workerId!
    worker.registerFunction('report::build', () => ({ ok: true }))
    assert.is((await worker.registerTrigger({ id: 'nightly', trigger_type: 'cron', function_id: 'report::build', config: { schedule: '0 3 * * *' } })).error, undefined)
    assert.equal(await worker.invoke('report::build'), { ok: true })
    worker.close()
    await until(() => received.some((m) => m.type === '@xstate.event' && m.event.type === 'session.close'), 3000, 'the session to close')
    await until(() => received.some((m) => m.type === '@xstate.event' && m.event.type === 'worker.remove'), 3000, 'the catalog update')

    const actors = received.filter((m) => m.type === '@xstate.actor')
    const byName = new Map(actors.map((a) => [a.name, a]))
    for (const name of ['engine', 'catalog', 'invocations', 'provider:http', 'provider:queue', 'provider:cron', `session:${id}`, `session:${id}:cron`, `trigger:${id}:nightly`]) {
      assert.ok(byName.has(name), `actor ${name} was announced (got ${[...byName.keys()].join(', ')})`)
    }
    const sessionId = (name: string) => byName.get(name)!.sessionId
    assert.is(byName.get(`session:${id}`)!.parentId, sessionId('engine'))
    assert.is(byName.get(`session:${id}:cron`)!.parentId, sessionId(`session:${id}`))
    assert.is(byName.get(`trigger:${id}:nightly`)!.parentId, sessionId(`session:${id}:cron`))
    // snapshots are plain JSON: the session's context holds no sockets or functions
    const sessionSnapshot = byName.get(`session:${id}`)!.snapshot
    assert.equal(Object.keys(sessionSnapshot.context).sort(), ['limits', 'reattach_hash', 'reconnectGraceMs', 'registrationTimeoutMs', 'worker_id'])

    const events = received.filter((m) => m.type === '@xstate.event').map((m) => m.event.type as string)
    const order = ['session.open', 'session.start', 'function.register', 'trigger.register', 'trigger.activate', 'trigger.activated', 'trigger.settled', 'invocation.call', 'invocation.result', 'session.close', 'worker.remove']
    let at = -1
    for (const type of order) {
      const next = events.indexOf(type, at + 1)
      assert.ok(next > at, `${type} arrives after ${order[order.indexOf(type) - 1] ?? 'the start'} (events: ${events.join(' ')})`)
      at = next
    }
  } finally {
    await engine.stop()
    inspector.stop()
    receiver.close()
  }
}, 15_000))

it('/healthz and /metrics on the worker port', limit(async () => {
  const engine = await startEngine()
  try {
    const base = engine.url!.replace('ws:', 'http:')
    const w = await connectWorker(engine.url!, { reconnect: false, logger: false })
    w.registerFunction('f', () => 1)
    await w.registerTrigger({ id: 'h', trigger_type: 'http', function_id: 'f', config: { path: '/h' } })
    await w.registerTrigger({ id: 'c', trigger_type: 'cron', function_id: 'f', config: { schedule: '@daily' } })
    await w.registerTrigger({ id: 'c', trigger_type: 'cron', function_id: 'f', config: { schedule: '@daily' } })
    await w.registerTrigger({ id: 'bad', trigger_type: 'cron', function_id: 'f', config: { schedule: 'nope' } })
    await w.invoke('f')
    await w.invoke('missing').catch(() => {})
    await w.invoke('engine::queue::send', { queue_name: 'jobs', body: { n: 1 } })
    await fetch(engine.httpUrl + '/h')

    const health = await fetch(base + '/healthz')
    assert.is(health.status, 200)
    const h = await health.json()
    assert.is(h.status, 'ok')
    assert.is(h.sessions, 1)
    assert.is(h.functions, 1)
    assert.equal(h.triggers, { http: 1, cron: 1 })
    assert.type(h.uptime_seconds, 'number')

    const res = await fetch(base + '/metrics')
    assert.match(res.headers.get('content-type') ?? '', 'text/plain')
    const text = await res.text()
    const metric = (line: string) => assert.ok(text.includes(line), `metrics include ${line}\n${text}`)
    metric('signalbox_sessions 1')
    metric('signalbox_functions 1')
    metric('signalbox_triggers{type="http",state="active"} 1')
    metric('signalbox_triggers{type="cron",state="active"} 1')
    metric('signalbox_trigger_registrations_total{code="ok"} 2')
    metric('signalbox_trigger_registrations_total{code="duplicate_trigger_id"} 1')
    metric('signalbox_trigger_registrations_total{code="invalid_config"} 1')
    metric('signalbox_invocations_total{source="worker",outcome="ok"}')
    metric('signalbox_invocations_total{source="worker",outcome="function_not_found"} 1')
    metric('signalbox_invocations_total{source="http",outcome="ok"} 1')
    metric('signalbox_invocation_duration_seconds_count{source="http"} 1')
    metric('signalbox_queue_messages{queue="jobs",state="ready"} 1')
    w.close()
  } finally {
    await engine.stop()
  }
}))

it('cron fires and skips are counted', limit(async () => {
  const engine = await startEngine()
  try {
    const w = await connectWorker(engine.url!, { reconnect: false })
    w.registerFunction('slow', () => new Promise((r) => setTimeout(r, 1500)))
    await w.registerTrigger({ id: 'tick', trigger_type: 'cron', function_id: 'slow', config: { schedule: '* * * * * *' } })
    const metrics = () => engine.metrics.render()
    await until(async () => (await metrics()).includes('signalbox_invocations_skipped_total{source="cron"}'), 4000, 'a skipped tick')
    await until(async () => (await metrics()).includes('signalbox_invocations_total{source="cron",outcome="ok"}'), 4000, 'a finished run')
    w.close()
  } finally {
    await engine.stop()
  }
}, 10_000))

it('the inspector sees the state that matters: calls in flight, routes, schedules, queue consumers, the directory', limit(async () => {
  const { receiver, received, inspector } = await inspectorReceiver()
  const engine = await startEngine({ inspect: inspector.inspect })
  try {
    const worker = await connectWorker(engine.url!, { reconnect: false })
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    worker.registerFunction('slow::work', () => held.then(() => 'done'))
    worker.registerFunction('jobs::run', () => ({}))
    assert.is((await worker.registerTrigger({ id: 'orders', trigger_type: 'http', function_id: 'slow::work', config: { path: '/orders/:id', method: 'POST' } })).error, undefined)
    assert.is((await worker.registerTrigger({ id: 'jobs', trigger_type: 'queue', function_id: 'jobs::run', config: { queue_name: 'jobs', concurrency: 3 } })).error, undefined)
    assert.is((await worker.registerTrigger({ id: 'tick', trigger_type: 'cron', function_id: 'jobs::run', config: { schedule: '@daily' } })).error, undefined)
    const call = worker.invoke('slow::work', {})
    /** The latest snapshot the inspector got of the actor named `name`, as the wire carried it. */
    const latest = (name: string) => {
      const actor = received.find((m) => m.type === '@xstate.actor' && m.name === name)
      const snaps = received.filter((m) => m.type === '@xstate.snapshot' && m.sessionId === actor?.sessionId)
      return snaps[snaps.length - 1]?.snapshot?.context
    }
    await until(() => latest('invocations')?.in_flight === 1, 3000, 'the call in flight in the invocations snapshot')
    const calls = Object.values(latest('invocations').calls) as Msg[]
    assert.equal(calls.map((c) => [c.function_id, c.worker_id, c.source]), [['slow::work', worker.workerId, 'worker']])
    assert.equal(latest('provider:http').routes, [{ method: 'POST', path: '/orders/:id', function_id: 'slow::work', holders: [{ worker_id: worker.workerId, trigger_id: 'orders' }] }])
    assert.equal(latest('provider:queue').queues.jobs.consumers.map((c: Msg) => [c.trigger_id, c.function_id, c.concurrency]), [['jobs', 'jobs::run', 3]])
    assert.equal(latest('provider:cron').jobs.map((j: Msg) => [j.pattern, j.triggers.map((t: Msg) => t.trigger_id)]), [['@daily', ['tick']]])
    const directory = latest('catalog')
    assert.equal(Object.keys(directory.workers[worker.workerId!].triggers).sort(), ['jobs', 'orders', 'tick'])
    assert.is(directory.workers[worker.workerId!].triggers.orders.state, 'active')
    release()
    assert.is(await call, 'done')
    await until(() => latest('invocations')?.in_flight === 0, 3000, 'the call to leave the snapshot')
    worker.close()
  } finally {
    await engine.stop()
    inspector.stop()
    receiver.close()
  }
}))

it('logs: one record per registration outcome, session open and close, and error frame', limit(async () => {
  const engine = await startEngine()
  try {
    const p = await rawSocket(engine.url!)
    p.send({ type: 'registerfunction', id: 'f' })
    p.send({ type: 'registertrigger', id: 'a', trigger_type: 'cron', function_id: 'f', config: { schedule: '@daily' } })
    p.send({ type: 'registertrigger', id: 'b', trigger_type: 'cron', function_id: 'f', config: { schedule: 'x' } })
    p.send({ type: 'registertrigger', id: 'c', trigger_type: 'nope', function_id: 'f', config: {} })
    p.send({ type: 'bogus' })
    await p.next((m) => m.type === 'error')
    await until(() => p.received.filter((m) => m.type === 'triggerregistrationresult').length === 3)
    await p.close()
    const records = engine.log.records
    await until(() => records.some((r) => r.msg === 'session closed'), 2000, 'the close record')
    const about = (msg: string) => records.filter((r) => r.msg === msg)
    assert.is(about('session opened').length, 1)
    assert.is(about('session closed').length, 1)
    assert.equal(about('trigger registered').map((r) => r.trigger_id), ['a'])
    assert.equal(about('trigger registration refused').map((r) => [r.trigger_id, (r.error as Msg).code]), [['b', 'invalid_config'], ['c', 'trigger_type_not_found']])
    assert.equal(about('error frame').map((r) => (r.error as Msg).code), ['unknown_message_type'])
    for (const r of records.filter((r) => r.worker_id !== undefined)) assert.is(r.worker_id, p.worker_id)
  } finally {
    await engine.stop()
  }
}))

const cli = fileURLToPath(new URL('../cli.js', import.meta.url))
const runCli = (args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })

it('signalbox ls and invoke talk to a running engine', limit(async () => {
  const engine = await startEngine()
  try {
    const w = await connectWorker(engine.url!, { reconnect: false, name: 'billing', logger: false })
    w.registerFunction('invoices::total', (d: { items: number[] }) => d.items.reduce((a, b) => a + b, 0), { description: 'Adds up an invoice' })
    await w.registerTrigger({ id: 'nightly', trigger_type: 'cron', function_id: 'invoices::total', config: { schedule: '0 3 * * *' } })
    await w.registerTrigger({ id: 'create', trigger_type: 'http', function_id: 'invoices::total', config: { path: '/invoices', method: 'post' } })
    await w.registerTrigger({ id: 'batch', trigger_type: 'queue', function_id: 'invoices::total', config: { queue_name: 'invoices' } })
    const url = ['--url', engine.url!]
    const short = w.workerId!.slice(0, 8)
    const workers = await runCli(['ls', 'workers', ...url])
    assert.is(workers.code, 0, workers.stderr)
    assert.match(workers.stdout, /^NAME\s+WORKER_ID\s+RUNTIME\s+PID/)
    assert.match(workers.stdout, new RegExp(`billing\\s+${w.workerId}\\s+node v\\d+\\S*\\s+${process.pid}\\s+1\\s+3\\s`))
    assert.is(workers.stdout.trim().split('\n').length, 2, 'the CLI does not list itself')
    const fns = await runCli(['ls', 'functions', ...url])
    assert.match(fns.stdout, new RegExp(`invoices::total\\s+billing \\(${short}\\)\\s+Adds up an invoice`))
    assert.match(fns.stdout, /engine::workers::list\s+engine/)
    // Each trigger with what it binds: its route, schedule or queue.
    const triggers = await runCli(['ls', 'triggers', ...url])
    assert.match(triggers.stdout, /^ID\s+TYPE\s+BINDS\s+FUNCTION_ID\s+STATE\s+WORKER\s+NEXT_RUN/)
    assert.match(triggers.stdout, new RegExp(`nightly\\s+cron\\s+0 3 \\* \\* \\*\\s+invoices::total\\s+active\\s+billing \\(${short}\\)\\s+\\d{4}-`))
    assert.match(triggers.stdout, new RegExp(`create\\s+http\\s+POST /invoices\\s+invoices::total\\s+active\\s+billing`))
    assert.match(triggers.stdout, new RegExp(`batch\\s+queue\\s+queue invoices\\s+invoices::total\\s+active\\s+billing`))
    const json = await runCli(['ls', 'triggers', '--json', ...url])
    assert.is(json.code, 0, json.stderr)
    assert.equal(
      JSON.parse(json.stdout).map((t: { id: string; config: unknown; worker_id: string }) => [t.id, t.config, t.worker_id]),
      [['nightly', { schedule: '0 3 * * *' }, w.workerId], ['create', { path: '/invoices', method: 'post' }, w.workerId], ['batch', { queue_name: 'invoices' }, w.workerId]],
    )
    const jsonWorkers = JSON.parse((await runCli(['ls', 'workers', '--json', ...url])).stdout)
    assert.equal(jsonWorkers.map((x: { name: string }) => x.name), ['billing'], '--json leaves the CLI out too')
    const types = await runCli(['ls', 'types', ...url])
    assert.match(types.stdout, /http\s+engine/)
    // Queues: their counts, the oldest message, and who consumes them.
    await w.invoke('engine::queue::send', { queue_name: 'later', body: 1, delay_seconds: 600 })
    const queues = await runCli(['ls', 'queues', ...url])
    assert.is(queues.code, 0, queues.stderr)
    assert.match(queues.stdout, /^QUEUE\s+READY\s+IN_FLIGHT\s+DELAYED\s+DEAD_LETTERED\s+OLDEST\s+FIFO\s+CONSUMERS/)
    assert.match(queues.stdout, new RegExp(`invoices\\s+0\\s+0\\s+0\\s+0\\s+-\\s+no\\s+batch → invoices::total \\(billing \\(${short}\\)\\)`))
    assert.match(queues.stdout, /later\s+0\s+0\s+1\s+0\s+\d+ s\s+no\s+-?/)
    const call = await runCli(['invoke', 'invoices::total', '{"items":[1,2,39]}', ...url])
    assert.is(call.code, 0, call.stderr)
    assert.is(call.stdout.trim(), '42')
    assert.is(call.stderr, '')
    // No input: {} is sent, and said.
    const empty = await runCli(['invoke', 'engine::trigger-types::list', ...url])
    assert.is(empty.code, 0, empty.stderr)
    assert.is(empty.stderr, 'signalbox: no input given: invoking engine::trigger-types::list with {}\n')
    assert.equal(JSON.parse(empty.stdout).trigger_types.map((t: { id: string }) => t.id), ['http', 'cron', 'queue', 'subscribe', 'durable:subscriber'])
    // Failures: one line, then the hint.
    const missing = await runCli(['invoke', 'invoices::totl', '{}', ...url])
    assert.is(missing.code, 1)
    assert.is(missing.stderr, "signalbox: invoices::totl failed: function_not_found: No function registered with ID 'invoices::totl'\nhint: Did you mean 'invoices::total'?\n")
    const badJson = await runCli(['invoke', 'invoices::total', '{nope', ...url])
    assert.is(badJson.code, 2)
    assert.match(badJson.stderr, /^signalbox: the input is not valid JSON: [^\n]+\nhint: give the input as one argument, quoted for the shell: signalbox invoke invoices::total '\{"name":"Ada"\}'\n$/)
    const badList = await runCli(['ls', 'triggres', ...url])
    assert.is(badList.code, 2)
    assert.is(badList.stderr, "signalbox: there is no list 'triggres'\nhint: did you mean 'triggers'? the lists are workers, functions, triggers, types, queues\n")
    w.close()
    // An empty list: its header, and a note that it is empty.
    await until(() => Object.keys(engine.actor.system.get('catalog').getSnapshot().context.workers).length === 0, 3000, 'the worker to leave')
    const none = await runCli(['ls', 'triggers', ...url])
    assert.equal([none.code, none.stdout, none.stderr], [0, 'ID  TYPE  BINDS  FUNCTION_ID  STATE  WORKER  NEXT_RUN\n', `signalbox: the engine at ${engine.url} has no triggers yet\n`])
  } finally {
    await engine.stop()
  }
  const port = engine.port!
  for (const args of [['ls', 'workers'], ['invoke', 'f', '{}']]) {
    const down = await runCli([...args, '--url', `ws://127.0.0.1:${port}`])
    assert.is(down.code, 1)
    assert.is(
      down.stderr,
      `signalbox: cannot reach the engine at ws://127.0.0.1:${port}: nothing is listening there\nhint: is it running? Start one with 'npx signalbox serve' (or 'npm start' in a clone), or point --url at it\n`,
    )
  }
}, 60_000))

it.run()
