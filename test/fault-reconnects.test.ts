/**
 * Reconnects and rolling deploys, short: workers in their own processes, with the bundled
 * client and with iii-sdk, cut 20 times each, and replaced twice. What they prove is in
 * test/faults/scenarios/reconnects.ts; `npm run soak` cuts 200 times and deploys 20.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { limit } from './harness.js'
import { Child } from './faults/child.js'
import { cleanUpEngines } from './faults/engine-process.js'
import { CUTS_SHORT, DEPLOY_SHORT, cutReconnects, rollingDeploy, undelivered } from './faults/scenarios/reconnects.js'

const it = suite('fault: reconnects and rolling deploys')

it.after.each(async () => {
  await Child.killAll()
  await cleanUpEngines()
})

it('the delivery check reads each worker\'s reports once per look, however many messages were acknowledged', () => {
  // The long runs acknowledge thousands of messages: a look that gathered the delivered ids
  // once per acknowledged id took longer than the whole wait (25 s for 4,700 messages).
  const ids = Array.from({ length: 5000 }, (_, n) => `m${n}`)
  let reads = 0
  const reports = [
    { kind: 'messages', data: ids.slice(0, 2500), at: 0 },
    { kind: 'tick', data: { scheduled_time: '2026-01-01T00:00:00.000Z' }, at: 0 },
    { kind: 'messages', data: ids.slice(2500, 4998), at: 0 },
  ]
  const worker = {
    get reports() {
      reads++
      return reports
    },
  }
  assert.equal(undelivered(ids, [worker]), ['m4998', 'm4999'])
  assert.is(reads, 1)
})

it('the bundled client, cut 20 times under load: everything back each time, no 404, no tick twice, nothing lost', limit(() => cutReconnects('ours', CUTS_SHORT), 120_000))
it('iii-sdk, cut 20 times under load: everything back each time, no 404, no tick twice, nothing lost', limit(() => cutReconnects('iii', CUTS_SHORT), 120_000))
it('the bundled client, two rolling deploys: no 404 or 503, every call answered, one tick a second', limit(() => rollingDeploy('ours', DEPLOY_SHORT), 120_000))
it('iii-sdk, two rolling deploys: no 404 or 503, every call answered, one tick a second', limit(() => rollingDeploy('iii', DEPLOY_SHORT), 120_000))

it.run()
