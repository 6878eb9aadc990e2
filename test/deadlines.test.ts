/**
 * actors/deadlines.ts: calls' deadlines with one timer per distinct timeout. Entries expire
 * once, in the order they fall due, never before; removed entries never; entries added
 * while a timer expires others are kept for later; an idle timeout's timer keeps nobody
 * alive; `clear` stops every timer.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Deadlines, type DeadlineEntry } from '../actors/deadlines.js'
import { until } from './harness.js'

type Entry = DeadlineEntry & { name: string; added: number }

const it = suite('deadlines')

const entry = (name: string): Entry => ({ name, due: 0, added: performance.now() })

it('entries expire in order of their deadlines, never early, and removed ones never', async () => {
  const expired: Array<{ name: string; late: number }> = []
  const d = new Deadlines<Entry>((e) => expired.push({ name: e.name, late: performance.now() - e.due }))
  const a = entry('a30')
  const b = entry('b10')
  const c = entry('c30-removed')
  const e = entry('e20')
  d.add(a, 30, a.added)
  d.add(b, 10, b.added)
  d.add(c, 30, c.added)
  d.add(e, 20, e.added)
  d.remove(c)
  d.remove(c)
  await until(() => expired.length === 3, 2000, 'three deadlines')
  assert.equal(expired.map((x) => x.name), ['b10', 'e20', 'a30'])
  for (const x of expired) assert.ok(x.late >= 0, `${x.name} expired ${-x.late} ms early`)
  await new Promise((r) => setTimeout(r, 40))
  assert.is(expired.length, 3, 'the removed entry never expires')
  d.clear()
})

it('one call at a time: each expires at its own deadline, through the same list', async () => {
  const expired: string[] = []
  const d = new Deadlines<Entry>((e) => expired.push(e.name))
  for (let i = 0; i < 100; i++) {
    const x = entry(`answered-${i}`)
    d.add(x, 15, performance.now())
    d.remove(x)
  }
  const last = entry('last')
  d.add(last, 15, performance.now())
  await until(() => expired.length === 1, 2000, 'the last deadline')
  assert.equal(expired, ['last'])
  d.clear()
})

it('an entry added while others expire waits for its own deadline', async () => {
  const expired: string[] = []
  const later = entry('later')
  const d: Deadlines<Entry> = new Deadlines<Entry>((e) => {
    expired.push(e.name)
    if (e.name === 'first') d.add(later, 10, performance.now())
  })
  d.add(entry('first'), 10, performance.now())
  await until(() => expired.length === 1, 2000, 'the first deadline')
  assert.equal(expired, ['first'])
  await until(() => expired.length === 2, 2000, 'the deadline added meanwhile')
  assert.ok(performance.now() >= later.due)
  d.clear()
})

it('an idle timeout keeps no timer referenced; clear stops the armed ones', async () => {
  const expired: string[] = []
  const d = new Deadlines<Entry>((e) => expired.push(e.name))
  const x = entry('x')
  d.add(x, 60_000, performance.now())
  const timers = () => (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  const armed = timers()
  assert.ok(armed >= 1)
  d.remove(x)
  assert.is(timers(), armed - 1, 'an unreferenced timer is not an active resource')
  d.add(x, 60_000, performance.now())
  assert.is(timers(), armed, 'referenced again while it has an entry')
  d.clear()
  assert.is(timers(), armed - 1)
  assert.equal(expired, [])
})

it.run()
