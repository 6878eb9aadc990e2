/**
 * core/cluster.ts alone: subjects and keys from any function id, and the membership table
 * (who is a member, who offers what, who is gone after missed heartbeats).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { callSubject, cronClaimKey, Membership, newEngineId, replySubject, token, type MemberInfo } from '../core/cluster.js'

const it = suite('core: cluster')

const member = (engine_id: string, functions: string[] = [], started_at = '2026-01-01T00:00:00.000Z'): MemberInfo => ({ engine_id, started_at, host: 'h', pid: 1, workers: 0, functions })

it('subjects and keys: any function id becomes one valid token', () => {
  for (const id of ['math::add', 'a.b.c', 'wild*card>', 'with space', 'é', '']) {
    const subject = callSubject('signalbox', id)
    assert.match(subject, /^signalbox\.call\.[A-Za-z0-9_-]*$/, subject)
    assert.is(Buffer.from(subject.slice('signalbox.call.'.length), 'base64url').toString('utf8'), id)
  }
  assert.is(replySubject('c1', 'e1-abc', 7), 'c1.reply.e1-abc.7')
  assert.is(replySubject('c1', 'e1-abc'), 'c1.reply.e1-abc.*')
  const key = cronClaimKey('* * * * * *\u0000UTC', 'report::hourly', { region: 'eu' }, 0, 1_700_000_000_000)
  assert.match(key, /^[A-Za-z0-9_-]+\.1700000000000$/)
  assert.is.not(key, cronClaimKey('* * * * * *\u0000UTC', 'report::hourly', { region: 'us' }, 0, 1_700_000_000_000), 'other metadata, another trigger')
  assert.is.not(key, cronClaimKey('* * * * * *\u0000UTC', 'report::hourly', { region: 'eu' }, 1, 1_700_000_000_000), 'the second alike trigger of an engine')
  assert.is(key, cronClaimKey('* * * * * *\u0000UTC', 'report::hourly', { region: 'eu' }, 0, 1_700_000_000_000), 'the same tick on another engine')
  assert.match(newEngineId(12345, 'a1B2-c3d4e5f6'), /^e[0-9a-z]+-[A-Za-z0-9]{1,8}$/)
  assert.is(token('x'), 'eA')
})

it('membership: beats, leaving, functions offered by the others, members unheard of for too long', () => {
  const m = new Membership('self', 3500)
  assert.ok(m.beat(member('self', ['mine', 'both']), 0), 'new')
  assert.not.ok(m.beat(member('self', ['mine', 'both']), 500), 'known')
  assert.ok(m.beat(member('b', ['both', 'theirs'], '2025-01-01T00:00:00.000Z'), 100))
  assert.equal(m.list().map((i) => i.engine_id), ['b', 'self'], 'oldest first')
  assert.not.ok(m.offers('mine'), 'only this engine offers it')
  assert.ok(m.offers('both'))
  assert.ok(m.offers('theirs'))
  assert.not.ok(m.offers('nobody'))
  // b's next entry no longer lists 'theirs'.
  m.beat(member('b', ['both'], '2025-01-01T00:00:00.000Z'), 1000)
  assert.not.ok(m.offers('theirs'))
  // Unheard of for more than 3.5 s: gone; this engine never is.
  assert.equal(m.expire(4000), [])
  assert.equal(m.expire(4501), ['b'])
  assert.not.ok(m.has('b'))
  assert.not.ok(m.offers('both'))
  assert.ok(m.has('self'))
  m.beat(member('c', ['x']), 5000)
  assert.ok(m.leave('c'))
  assert.not.ok(m.leave('c'), 'already gone')
  assert.not.ok(m.offers('x'))
})

it.run()
