/**
 * core/cron-claim.ts, alone: a claims bucket entry's shape is checked (protocol/cluster.ts
 * `parseCronClaim`); a tick's window ends at the schedule's next tick, capped; what an
 * engine that lost a tick does at each look at its key (and that it is among the ticks it
 * follows until then); when a claimer is taken for gone. And the cron table's `holds` /
 * `rerun`, which a tick taken over uses.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { claimerGone, followStep, tickWindowEnd, TICK_WINDOW_MAX_MS } from '../core/cron-claim.js'
import { parseCronClaim, type CronClaim } from '../protocol/cluster.js'
import { CronTable } from '../core/cron-table.js'
import { claimTick, openCronClaims, closeCronClaims } from '../actors/cluster-cron.js'
import { EngineRouteClaims } from '../core/route-claim.js'
import type { ClusterLink } from '../machines/contracts.js'

const it = suite('core/cron-claim')

it('parseCronClaim: an entry of the right shape is read (without a state it is claimed); anything else is refused with why', () => {
  assert.equal(parseCronClaim({ engine_id: 'e1', at: 5, state: 'done' }), { engine_id: 'e1', at: 5, state: 'done' })
  assert.equal(parseCronClaim({ engine_id: 'e1', at: 5 }), { engine_id: 'e1', at: 5, state: 'claimed' })
  assert.equal(parseCronClaim({ engine_id: 'e2', at: 6, state: 'claimed', took_over_from: 'e1', extra: 1 }), { engine_id: 'e2', at: 6, state: 'claimed', took_over_from: 'e1' })
  for (const bad of [undefined, null, 'e1', [1], {}, { engine_id: '', at: 1 }, { engine_id: 'e1' }, { engine_id: 'e1', at: Infinity }, { engine_id: 'e1', at: 1, state: 'run' }, { engine_id: 'e1', at: 1, took_over_from: 7 }]) {
    const parsed = parseCronClaim(bad)
    assert.ok('why' in parsed, JSON.stringify(bad))
  }
})

it("tickWindowEnd: the schedule's next tick, at most TICK_WINDOW_MAX_MS after this one", () => {
  assert.is(tickWindowEnd(10_000, 11_000), 11_000)
  assert.is(tickWindowEnd(0, 3_600_000), TICK_WINDOW_MAX_MS)
  assert.is(tickWindowEnd(0, undefined), TICK_WINDOW_MAX_MS)
  assert.is(tickWindowEnd(5000, 5000), 5000 + TICK_WINDOW_MAX_MS)
  assert.is(tickWindowEnd(0, 9000, 2000), 2000)
})

it('followStep: stop once done, own, gone from the bucket or past the window; take when the claimer is gone; wait otherwise', () => {
  const claimed: CronClaim = { engine_id: 'a', at: 0, state: 'claimed' }
  assert.is(followStep(claimed, 'b', 100, 1000, false), 'wait')
  assert.is(followStep(claimed, 'b', 100, 1000, true), 'take')
  assert.is(followStep({ ...claimed, state: 'done' }, 'b', 100, 1000, true), 'stop')
  assert.is(followStep(claimed, 'a', 100, 1000, true), 'stop')
  assert.is(followStep(undefined, 'b', 100, 1000, true), 'stop')
  assert.is(followStep(claimed, 'b', 1000, 1000, true), 'stop')
  // Released by its claimer (won, not run there): taken over without the claimer being gone.
  const released: CronClaim = { engine_id: 'a', at: 0, state: 'released' }
  assert.is(followStep(released, 'b', 100, 1000, false), 'take')
  assert.is(followStep(released, 'a', 100, 1000, false), 'stop')
  assert.is(followStep(released, 'b', 1000, 1000, false), 'stop')
  assert.equal(parseCronClaim({ engine_id: 'a', at: 1, state: 'released' }), { engine_id: 'a', at: 1, state: 'released' })
})

/** A claims bucket of one key, in memory, as `ClusterLink` gives it (only what claimTick uses). */
function fakeLink(engine_id: string, store: Map<string, { value: CronClaim; revision: number }>): ClusterLink {
  let rev = 0
  return {
    engine_id,
    claim: async (key: string, value: CronClaim) => {
      if (store.has(key)) return false
      store.set(key, { value, revision: ++rev })
      return rev
    },
    readClaim: async (key: string) => store.get(key),
    updateClaim: async (key: string, value: CronClaim, revision: number) => {
      if (store.get(key)?.revision !== revision) return false
      store.set(key, { value, revision: ++rev })
      return rev
    },
    ping: async () => 'alive' as const,
  } as unknown as ClusterLink
}

const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 10))
  }
}

it('claimTick: a tick won but not run here (its trigger let go of meanwhile) is released, and a follower takes it over', async () => {
  const store = new Map<string, { value: CronClaim; revision: number }>()
  const a = openCronClaims()
  const b = openCronClaims()
  const log = () => {}
  const depsA = { link: fakeLink('a', store), isMember: () => true, log, cronTicks: new Map<string, number>(), routeClaims: new EngineRouteClaims() }
  const depsB = { link: fakeLink('b', store), isMember: () => true, log, cronTicks: new Map<string, number>(), routeClaims: new EngineRouteClaims() }
  const until_ = Date.now() + 10_000
  const won: boolean[] = []
  let tookOver = 0
  claimTick(a, depsA, { type: 'cluster.claim', key: 'k', until: Date.now() + 10_000, then: (w) => (won.push(w), false), holds: () => false, takeOver: () => {} })
  await until(() => won.length === 1)
  claimTick(b, depsB, { type: 'cluster.claim', key: 'k', until: until_, then: (w) => (won.push(w), w), holds: () => true, takeOver: () => void tookOver++ })
  await until(() => won.length === 2)
  assert.equal(won, [true, false])
  // The loser follows the tick until its window ends (its table, which the cluster actor's snapshot shows); the winner follows nothing.
  assert.equal([...depsB.cronTicks], [['k', until_]])
  assert.is(depsA.cronTicks.size, 0)
  // The claimer ran nothing: not marked done, so the follower does not stop.
  await until(() => store.get('k')!.value.state !== 'claimed')
  assert.is(store.get('k')!.value.state, 'released')
  await until(() => tookOver === 1)
  await until(() => store.get('k')!.value.state === 'done')
  assert.is(store.get('k')!.value.engine_id, 'b')
  assert.is(store.get('k')!.value.took_over_from, 'a')
  // Taken over: followed no more.
  await until(() => depsB.cronTicks.size === 0)
  closeCronClaims(a)
  closeCronClaims(b)
})

it('claimTick: a tick won and run here is marked done', async () => {
  const store = new Map<string, { value: CronClaim; revision: number }>()
  const a = openCronClaims()
  let ran = 0
  claimTick(a, { link: fakeLink('a', store), isMember: () => true, log: () => {}, cronTicks: new Map(), routeClaims: new EngineRouteClaims() }, { type: 'cluster.claim', key: 'k', until: Date.now() + 10_000, then: (w) => (ran++, w), holds: () => true, takeOver: () => {} })
  await until(() => store.get('k')?.value.state === 'done')
  assert.is(ran, 1)
  closeCronClaims(a)
})

it('claimerGone: its connection ended, or no member that does not answer', () => {
  assert.is(claimerGone(true, 'gone'), true)
  assert.is(claimerGone(false, 'gone'), true)
  assert.is(claimerGone(false, 'unknown'), true)
  assert.is(claimerGone(true, 'unknown'), false)
  assert.is(claimerGone(true, 'alive'), false)
  // Not heard of yet here (it just joined, or this engine did), but it answers.
  assert.is(claimerGone(false, 'alive'), false)
})

it('CronTable: holds and reruns a subscription while it is subscribed and not running (unless overlap), not once it is gone or replaced', () => {
  const table = new CronTable((z) => z)
  const schedule = { schedule: '* * * * * *', timezone: 'UTC', overlap: false }
  const { job } = table.subscribe({ worker_id: 'w', trigger_id: 't', function_id: 'f' }, schedule, 0)
  const [sub] = table.tick(job, 1000).run
  assert.is(sub.running, 1)
  assert.ok(table.holds(sub))
  // Its run is in flight: no other run unless it allows overlap.
  assert.not.ok(table.mayRerun(sub))
  assert.not.ok(table.rerun(sub))
  table.finished(sub)
  assert.ok(table.mayRerun(sub))
  assert.ok(table.rerun(sub))
  assert.is(sub.running, 1)
  const overlapping = table.tick(table.subscribe({ worker_id: 'w', trigger_id: 'o', function_id: 'g' }, { ...schedule, overlap: true }, 0).job, 1000).run.find((s) => s.trigger_id === 'o')!
  assert.ok(table.rerun(overlapping))
  assert.is(overlapping.running, 2)
  table.subscribe({ worker_id: 'w', trigger_id: 't', function_id: 'f' }, schedule, 0)
  assert.not.ok(table.holds(sub), 'replaced')
  assert.not.ok(table.rerun(sub))
  const again = table.tick(table.job(job.key)!, 2000).run.find((s) => s.trigger_id === 't')!
  table.unsubscribe('w', 't')
  assert.not.ok(table.holds(again))
  assert.not.ok(table.rerun(again))
})

it.run()
