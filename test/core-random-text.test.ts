import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { RandomText } from '../core/random-text.js'

test('hex slices are hex, of the length asked, and differ', () => {
  const pool = new RandomText('hex', 30)
  const seen = new Set<string>()
  for (let i = 0; i < 200; i++) {
    const s = pool.take(16)
    assert.match(s, /^[0-9a-f]{16}$/)
    seen.add(s)
  }
  assert.is(seen.size, 200)
})

test('base64url slices have no padding and cross refills whole', () => {
  const pool = new RandomText('base64url', 33) // 44 characters per refill: two slices of 20, 4 characters left over each time
  for (let i = 0; i < 50; i++) assert.match(pool.take(20), /^[A-Za-z0-9_-]{20}$/)
  assert.match(pool.take(44), /^[A-Za-z0-9_-]{44}$/)
})

test('asking for more than one refill makes is a RangeError', () => {
  const pool = new RandomText('hex', 8)
  assert.throws(() => pool.take(17), (e: unknown) => e instanceof RangeError && /17 characters asked, 16 made/.test((e as Error).message))
})

test.run()
