/**
 * adapters/cluster.ts `watch` over a stand-in for a KV bucket: a watch that fails, or ends,
 * is logged and started again with a backoff while it is open; an entry its handler
 * refuses is logged and the watch goes on; once closed, it is not started again.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { KV } from '@nats-io/kv'
import { watch } from '../adapters/cluster.js'
import { until } from './harness.js'

const it = suite('cluster: watches started again')

interface Entry {
  key: string
  operation: 'PUT' | 'DEL'
  value: Uint8Array
  created: Date
}

const entry = (key: string): Entry => ({ key, operation: 'PUT', value: new TextEncoder().encode(key), created: new Date() })

/** A bucket whose watches go as `plan` says, one step per watch: fail, end after entries, or stay open with entries. */
function bucket(plan: Array<{ fail: string } | { entries: Entry[]; open?: boolean }>) {
  let n = 0
  const stopped: number[] = []
  const kv = {
    async watch() {
      const step = plan[Math.min(n++, plan.length - 1)]
      if ('fail' in step) throw new Error(step.fail)
      const me = n
      let stop!: () => void
      const ended = new Promise<void>((resolve) => (stop = resolve))
      return {
        stop: () => (stopped.push(me), stop()),
        async *[Symbol.asyncIterator]() {
          for (const e of step.entries) yield e
          if (step.open) await ended
        },
      }
    },
  } as unknown as Pick<KV, 'watch'>
  return { kv, watches: () => n, stopped }
}

it('a watch that fails or ends is logged and started again; a refused entry is logged; closed, it stays closed', async () => {
  const { kv, watches, stopped } = bucket([{ fail: 'no JetStream yet' }, { fail: 'no JetStream yet' }, { entries: [entry('a'), entry('bad')] }, { entries: [entry('b')], open: true }])
  const warnings: Array<{ msg: string; data: Record<string, unknown> }> = []
  const seen: string[] = []
  const w = watch(kv, 'members', (msg, data) => warnings.push({ msg, data }), () => false, (key) => {
    if (key === 'bad') throw new Error('not a membership entry')
    seen.push(key)
  })
  await until(() => seen.includes('b'), 5000, 'the fourth watch to bring b')
  assert.equal(seen, ['a', 'b'])
  assert.is(watches(), 4)
  const ended = warnings.filter((w) => w.msg === 'cluster: a watch ended; started again')
  assert.equal(ended.map((w) => w.data.err), ['no JetStream yet', 'no JetStream yet', 'it ended'])
  // The backoff doubles while watches fail, and starts over once one brought entries.
  assert.equal(ended.map((w) => w.data.in_ms), [250, 500, 250])
  assert.ok(warnings.some((w) => w.msg === 'cluster: an entry could not be read' && w.data.key === 'bad' && w.data.err === 'not a membership entry'))
  w.close()
  assert.equal(stopped, [4], 'the open watch stopped')
})

it('a watch whose connection is closed is not started again', async () => {
  const { kv, watches } = bucket([{ fail: 'connection closed' }, { entries: [], open: true }])
  const warnings: string[] = []
  let asked = false
  const w = watch(kv, 'routes', (msg) => warnings.push(msg), () => (asked = true), () => {})
  await until(() => asked, 1000, 'the failed watch to ask whether the connection is closed')
  assert.is(watches(), 1)
  assert.equal(warnings, [])
  w.close()
})

it.run()
