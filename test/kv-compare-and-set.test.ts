/**
 * adapters/kv-compare-and-set.ts against a real nats-server: a KV create of a key that is
 * there, and an update at a revision that is no longer the key's, are lost
 * compare-and-sets; other failures are not.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { JetStreamApiError } from '@nats-io/jetstream'
import { lostCompareAndSet } from '../adapters/kv-compare-and-set.js'
import { suiteNats } from './nats-server.js'

const it = suite('kv compare-and-set')
const nats = suiteNats()
it.before(() => nats.start())
it.after(() => nats.stop())

/** The error `run` rejects with (fails the test if it resolves). */
async function refusal(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run()
  } catch (err) {
    return err
  }
  throw assert.unreachable('expected a refusal')
}

it('a create of a key that is there, and an update at a stale revision, lost their compare-and-set', async () => {
  const nc = await connect({ servers: nats.url })
  try {
    const kv = await new Kvm(nc).create(nats.fresh())
    const first = await kv.create('claim', 'a')
    const again = await refusal(() => kv.create('claim', 'b'))
    assert.ok(lostCompareAndSet(again), String(again))
    await kv.update('claim', 'c', first)
    const stale = await refusal(() => kv.update('claim', 'd', first))
    assert.ok(lostCompareAndSet(stale), String(stale))
    assert.is((await kv.get('claim'))?.string(), 'c')
  } finally {
    await nc.close()
  }
})

it('other failures are not lost compare-and-sets', async () => {
  const nc = await connect({ servers: nats.url })
  try {
    const kv = await new Kvm(nc).create(nats.fresh(), { maxValueSize: 1 })
    // Refused by the server (10054: larger than the bucket takes), not by the client.
    const tooLarge = await refusal(() => kv.create('claim', 'more than one byte'))
    assert.instance(tooLarge, JetStreamApiError)
    assert.not.ok(lostCompareAndSet(tooLarge), String(tooLarge))
    const badKey = await refusal(() => kv.create('not a key', 'x'))
    assert.not.ok(lostCompareAndSet(badKey), String(badKey))
  } finally {
    await nc.close()
  }
  // A stream-level refusal (10058: the stream name is in use) is not a key's.
  assert.not.ok(lostCompareAndSet(new JetStreamApiError({ err_code: 10058, code: 400, description: 'stream name already in use with a different configuration' })))
  assert.ok(lostCompareAndSet(new JetStreamApiError({ err_code: 10164, code: 400, description: 'x' })))
  assert.not.ok(lostCompareAndSet(new Error('timeout')))
})

it.run()
