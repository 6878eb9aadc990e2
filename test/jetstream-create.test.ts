/**
 * adapters/jetstream-create.ts: a create that lost to a concurrent create of the same
 * stream is run again; any other failure is not. Then against a real nats-server: many
 * engines' worth of bucket creates at once, as engines started together make them, all
 * succeed (without the retry, about 1 create in 200 failed with "subjects overlap with an
 * existing stream").
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { JetStreamApiError } from '@nats-io/jetstream'
import { createShared, lostCreateRace } from '../adapters/jetstream-create.js'
import { suiteNats } from './nats-server.js'

const it = suite('jetstream create')
const nats = suiteNats()
it.before(() => nats.start())
it.after(() => nats.stop())

it('a create that lost a race is run again, and its result returned', async () => {
  let calls = 0
  const result = await createShared(async () => {
    if (++calls < 3) throw new Error('subjects overlap with an existing stream')
    return 'opened'
  })
  assert.is(result, 'opened')
  assert.is(calls, 3)
})

it('any other failure is thrown at once; a race lost every time, after the last attempt', async () => {
  let calls = 0
  const other = await createShared(async () => {
    calls++
    throw new Error('insufficient resources')
  }).catch((err: Error) => err.message)
  assert.is(other, 'insufficient resources')
  assert.is(calls, 1)
  calls = 0
  const lost = await createShared(async () => {
    calls++
    throw new Error('subjects overlap with an existing stream')
  }, 3).catch((err: Error) => err.message)
  assert.is(lost, 'subjects overlap with an existing stream')
  assert.is(calls, 3)
  assert.ok(lostCreateRace(new Error('stream name already in use with a different configuration')))
  assert.not.ok(lostCreateRace(new Error('stream not found')))
  // By the server's error code, whatever the text says.
  assert.ok(lostCreateRace(new JetStreamApiError({ err_code: 10065, code: 400, description: 'x' })))
  assert.ok(lostCreateRace(new JetStreamApiError({ err_code: 10058, code: 400, description: 'x' })))
  assert.not.ok(lostCreateRace(new JetStreamApiError({ err_code: 10059, code: 404, description: 'x' })))
})

it('six engines creating the same five buckets at once, 60 times over: every create succeeds', async () => {
  const failures: string[] = []
  for (let round = 0; round < 60; round++) {
    const name = nats.fresh()
    const opened = await Promise.allSettled(Array.from({ length: 6 }, () => connect({ servers: nats.url })))
    const conns = opened.flatMap((c) => (c.status === 'fulfilled' ? [c.value] : []))
    try {
      assert.is(conns.length, 6, 'six connections')
      const results = await Promise.allSettled(
        conns.map(async (nc) => {
          const kvm = new Kvm(nc)
          // The cluster's five buckets, two of them with a TTL, in the order an engine creates them.
          for (const [bucket, ttl] of [['a', 600_000], ['b', 10_000], ['c', 0], ['d', 0], ['e', 0]] as const) {
            await createShared(() => kvm.create(`${name}-${bucket}`, { history: 1, ...(ttl ? { ttl } : {}) }))
          }
        }),
      )
      for (const r of results) if (r.status === 'rejected') failures.push(String((r.reason as Error).message))
    } finally {
      await Promise.all(conns.map((nc) => nc.close()))
    }
  }
  assert.equal(failures, [])
})

it.run()
