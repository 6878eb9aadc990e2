/**
 * `provider:cron`, the engine's clock: one job per distinct schedule, shared by every
 * session's triggers on it. Many triggers on one schedule, registered by two sessions over
 * WebSocket, each fire with their own trigger_id and actual_time; closing one session
 * stops its triggers only; equivalent ways of writing a schedule share a job, and a job
 * stops when its last trigger leaves. The jobs are read with the provider's `cron.jobs`.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { actorsOf } from '../machines/system.js'
import type { Engine } from '../adapters/engine.js'
import type { WorkerClient } from '../client/worker.js'
import type { CronJobInfo } from '../machines/contracts.js'
import { activeTimers, eachWithEngine, limit, sleep, until, type EngineCtx } from './harness.js'
import { peersOver, transports } from './transports.js'

type Fire = { trigger_id: string; scheduled_time: string; actual_time: string; timezone: string }

const it = suite<EngineCtx>('cron provider')
eachWithEngine(it)
const websocket = transports.find((t) => t.name === 'websocket')!
const { worker } = peersOver(websocket)

/** The provider's jobs, sorted by pattern then zone. */
const jobs = (engine: Engine) =>
  new Promise<CronJobInfo[]>((resolve) => actorsOf(engine.actor.system).cronProvider()!.send({ type: 'cron.jobs', reply: resolve })).then((list) =>
    list.sort((a, b) => (a.pattern === b.pattern ? (a.timezone < b.timezone ? -1 : 1) : a.pattern < b.pattern ? -1 : 1)),
  )
const register = async (w: WorkerClient, id: string, config: Record<string, unknown>, function_id = 'tick') => {
  const result = await w.registerTrigger({ id, trigger_type: 'cron', function_id, config })
  assert.equal(result, { type: 'triggerregistrationresult', id, trigger_type: 'cron', function_id }, `registering ${id}: ${JSON.stringify(result)}`)
}
/** Lists triggers; its answer also proves every earlier message of `w` was processed. */
const list = async (w: WorkerClient) => ((await w.invoke('engine::registered-triggers::list', {})) as { registered_triggers: Array<Record<string, any>> }).registered_triggers

it('many triggers on one schedule over two sessions: one job, each fires as itself, a closed session stops only its own', limit(async (ctx) => {
  // The function lives in a third session, so a tick of a closed session's trigger would show.
  const server = await worker(ctx)
  const fires: Fire[] = []
  server.registerFunction('tick', (input: Fire) => (fires.push(input), null))
  const a = await worker(ctx)
  const b = await worker(ctx)
  const N = 25
  const ids = (prefix: string) => Array.from({ length: N }, (_, i) => `${prefix}${i}`)
  const registeredFrom = Date.now()
  await Promise.all([...ids('a').map((id) => register(a, id, { schedule: '* * * * * *' })), ...ids('b').map((id) => register(b, id, { schedule: '* * * * * *', timezone: 'Europe/Berlin' }))])
  assert.equal(await jobs(ctx.engine), [
    { pattern: '* * * * * *', timezone: 'Europe/Berlin', triggers: N },
    { pattern: '* * * * * *', timezone: 'UTC', triggers: N },
  ])

  const of = (id: string) => fires.filter((f) => f.trigger_id === id)
  const all = [...ids('a'), ...ids('b')]
  await until(() => all.every((id) => of(id).length >= 2), 4000, 'two ticks of every trigger')
  for (const id of all) {
    const mine = of(id)
    assert.ok(mine.every((f) => f.timezone === (id.startsWith('a') ? 'UTC' : 'Europe/Berlin')), `${id} carries its own time zone`)
    const seconds = mine.map((f) => f.scheduled_time)
    assert.is(new Set(seconds).size, seconds.length, `${id} fires once per tick: ${seconds.join(', ')}`)
    // As with a job of its own, its first tick is the first one after it was registered.
    assert.ok(Date.parse(mine[0].scheduled_time) > registeredFrom, `${id}'s first tick ${mine[0].scheduled_time} comes after its registration`)
    for (const f of mine) {
      assert.is(Date.parse(f.scheduled_time) % 1000, 0)
      assert.ok(Date.parse(f.actual_time) >= Date.parse(f.scheduled_time), `${id}: actual ${f.actual_time} >= scheduled ${f.scheduled_time}`)
    }
  }
  // One tick of a job: every trigger on it shares its scheduled_time.
  const tick = of('a0')[1].scheduled_time
  assert.equal(fires.filter((f) => f.scheduled_time === tick && f.trigger_id.startsWith('a')).map((f) => f.trigger_id).sort(), ids('a').sort())
  assert.ok(fires.every((f) => all.includes(f.trigger_id)), 'no fire for an unknown trigger')

  a.close()
  await until(async () => (await list(server)).every((t) => t.worker_id !== a.workerId) && (await jobs(ctx.engine)).length === 1, 2000, 'session a to be gone')
  assert.equal(await jobs(ctx.engine), [{ pattern: '* * * * * *', timezone: 'Europe/Berlin', triggers: N }])
  const seenA = fires.filter((f) => f.trigger_id.startsWith('a')).length
  const seenB = fires.filter((f) => f.trigger_id.startsWith('b')).length
  await sleep(1300)
  assert.is(fires.filter((f) => f.trigger_id.startsWith('a')).length, seenA, 'no tick of a closed session')
  assert.ok(fires.filter((f) => f.trigger_id.startsWith('b')).length >= seenB + N, 'the other session\'s triggers still fire')

  b.close()
  await until(async () => (await jobs(ctx.engine)).length === 0, 2000, 'the last job to stop with its last trigger')
}))

it('schedules written alike share one job; a job stops when its last trigger leaves', limit(async (ctx) => {
  const w = await worker(ctx)
  w.registerFunction('tick', () => null)
  await register(w, 'five', { schedule: '0 9 * * *', timezone: 'America/New_York' })
  await register(w, 'six', { schedule: '0 0 9 * * *', timezone: 'america/new_york' })
  await register(w, 'spaced', { expression: '  0   9 * * * ', timezone: 'America/New_York' })
  await register(w, 'utc', { schedule: '0 9 * * *' })
  await register(w, 'daily', { schedule: '@daily' })
  await register(w, 'DAILY', { schedule: '@DAILY' })
  assert.equal(await jobs(ctx.engine), [
    { pattern: '0 0 9 * * *', timezone: 'America/New_York', triggers: 3 },
    { pattern: '0 0 9 * * *', timezone: 'UTC', triggers: 1 },
    { pattern: '@daily', timezone: 'UTC', triggers: 2 },
  ])
  const next = Object.fromEntries((await list(w)).map((t) => [t.id, t.next_run]))
  assert.ok(next.five === next.six && next.six === next.spaced, `the same next run: ${JSON.stringify(next)}`)

  for (const id of ['five', 'six']) w.unregisterTrigger(id)
  await list(w)
  assert.equal((await jobs(ctx.engine)).map((j) => [j.pattern, j.timezone, j.triggers]), [
    ['0 0 9 * * *', 'America/New_York', 1],
    ['0 0 9 * * *', 'UTC', 1],
    ['@daily', 'UTC', 2],
  ])
  for (const id of ['spaced', 'utc', 'daily', 'DAILY']) w.unregisterTrigger(id)
  await list(w)
  assert.equal(await jobs(ctx.engine), [])
}))

it('one timer per job, whatever the number of triggers on it', limit(async (ctx) => {
  const w = await worker(ctx)
  w.registerFunction('tick', () => null)
  await list(w)
  const before = activeTimers()
  const schedules = ['0 3 * * *', '0 4 * * *', '30 0 4 * * *']
  await Promise.all(Array.from({ length: 60 }, (_, i) => register(w, `t${i}`, { schedule: schedules[i % 3] })))
  assert.equal((await jobs(ctx.engine)).map((j) => j.triggers), [20, 20, 20])
  await until(() => activeTimers() === before + 3, 2000, 'one timer per job')
  for (let i = 0; i < 60; i++) w.unregisterTrigger(`t${i}`)
  await list(w)
  assert.equal(await jobs(ctx.engine), [])
  await until(() => activeTimers() === before, 2000, 'the jobs\' timers to be cleared')
}))

it.run()
