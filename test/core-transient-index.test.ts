import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { TransientIndex } from '../core/transient-index.js'

test('behaves as a Map of the same operations: get, size, delete and insertion order', () => {
  const key = fc.constantFrom('a', 'b', 'c', 'd', '__proto__', 'constructor', '0', '12', 'x-1')
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }),
    fc.record({ kind: fc.constant('delete' as const), key }),
  )
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const index = new TransientIndex<{ v: number }>()
      const model = new Map<string, { v: number }>()
      for (const o of ops) {
        if (o.kind === 'set') {
          const value = { v: o.value }
          index.set(o.key, value)
          model.set(o.key, value)
        } else {
          const had = model.get(o.key)
          model.delete(o.key)
          assert.is(index.delete(o.key), had)
        }
        assert.is(index.size, model.size)
        for (const k of ['a', '__proto__', '0', 'missing']) assert.is(index.get(k), model.get(k))
        assert.equal(index.values(), [...model.values()])
      }
    }),
  )
})

test('a deleted key is gone, deleting it again gives nothing, and a key added after it comes last', () => {
  const index = new TransientIndex<object>()
  const first = { n: 1 }
  index.set('one', first)
  index.set('two', { n: 2 })
  assert.is(index.delete('one'), first)
  assert.is(index.get('one'), undefined)
  index.set('three', { n: 3 })
  assert.equal(index.values(), [{ n: 2 }, { n: 3 }])
  assert.is(index.size, 2)
  assert.is(index.delete('one'), undefined)
})

/** Fills an index with three values and returns weak refs to them (made here, so the test's own frame holds none of them). */
function filled(index: TransientIndex<object>): Array<WeakRef<object>> {
  return ['a', 'b', 'c'].map((key) => {
    const value = { key, payload: new Array(1000).fill(key) }
    index.set(key, value)
    return new WeakRef(value)
  })
}

test('a deleted value is not kept: a full collection frees it', async () => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const index = new TransientIndex<object>()
  const refs = filled(index)
  index.delete('a')
  index.delete('c')
  // A WeakRef keeps its target until the job that made it ends.
  await new Promise((resolve) => setTimeout(resolve, 0))
  gc()
  assert.is(refs[0].deref(), undefined)
  assert.is(refs[2].deref(), undefined)
  assert.is(refs[1].deref(), index.get('b'))
})

test.run()
