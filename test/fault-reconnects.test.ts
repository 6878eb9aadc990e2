/**
 * Reconnects and rolling deploys, short: workers in their own processes, with the bundled
 * client and with iii-sdk, cut 20 times each, and replaced twice. What they prove is in
 * test/faults/scenarios/reconnects.ts; `npm run soak` cuts 200 times and deploys 20.
 */
import { suite } from 'uvu'
import { limit } from './harness.js'
import { Child } from './faults/child.js'
import { cleanUpEngines } from './faults/engine-process.js'
import { CUTS_SHORT, DEPLOY_SHORT, cutReconnects, rollingDeploy } from './faults/scenarios/reconnects.js'

const it = suite('fault: reconnects and rolling deploys')

it.after.each(async () => {
  await Child.killAll()
  await cleanUpEngines()
})

it('the bundled client, cut 20 times under load: everything back each time, no 404, no tick twice, nothing lost', limit(() => cutReconnects('ours', CUTS_SHORT), 120_000))
it('iii-sdk, cut 20 times under load: everything back each time, no 404, no tick twice, nothing lost', limit(() => cutReconnects('iii', CUTS_SHORT), 120_000))
it('the bundled client, two rolling deploys: no 404 or 503, every call answered, one tick a second', limit(() => rollingDeploy('ours', DEPLOY_SHORT), 120_000))
it('iii-sdk, two rolling deploys: no 404 or 503, every call answered, one tick a second', limit(() => rollingDeploy('iii', DEPLOY_SHORT), 120_000))

it.run()
