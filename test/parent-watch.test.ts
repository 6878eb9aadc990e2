/**
 * cli/parent-watch.ts alone: who counts as started by npm, and a parent already gone is
 * found at once (as when npm's shell ended while the engine was starting). The watch
 * itself, with a real npm and a real shell, is in test/cli.test.ts.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { onParentGone, parentAtStart, startedByNpm } from '../cli/parent-watch.js'

const it = suite('parent watch')

it('started by npm: npm_lifecycle_event is set (npm start, npx, npm exec, and what their scripts start)', () => {
  assert.ok(startedByNpm({ npm_lifecycle_event: 'start' }))
  assert.ok(startedByNpm({ npm_lifecycle_event: 'npx' }))
  assert.not.ok(startedByNpm({}))
  assert.not.ok(startedByNpm({ npm_config_cache: '/tmp' }))
})

it('a parent that is gone already is found at once; the parent still there is not', () => {
  assert.is(parentAtStart, process.ppid)
  let gone = 0
  const stopGone = onParentGone(() => gone++, process.ppid + 100_000)
  assert.is(gone, 1)
  stopGone()
  let stays = 0
  const stopStays = onParentGone(() => stays++)
  assert.is(stays, 0)
  stopStays()
})

it.run()
