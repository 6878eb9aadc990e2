/**
 * A fault in a cluster engine's cron claims, loaded into a `signalbox serve` child process
 * with `node --import` (test/cluster-harness.ts `serveWithCronFault`); nothing of it is in
 * the engine. It wraps the claims bucket's `create` (`@nats-io/kv`'s `Bucket`, the bucket
 * named `<cluster>-cron-claims`), as `SIGNALBOX_TEST_CRON_FAULT` says:
 *
 * - `stall:<ms>`: once a claim of this engine is written, the process stands still for
 *   `<ms>` (the thread sleeps: no timer, heartbeat or socket of it moves, as in an engine
 *   paused or dying between its claim and its run), then the claim resolves;
 * - `late:<ms>`: this engine's claims are sent `<ms>` late (it loses every race).
 */
import { Bucket } from '@nats-io/kv'

const m = /^(stall|late):(\d+)$/.exec(process.env.SIGNALBOX_TEST_CRON_FAULT ?? '')
if (!m) throw new Error(`SIGNALBOX_TEST_CRON_FAULT must be stall:<ms> or late:<ms>, got ${JSON.stringify(process.env.SIGNALBOX_TEST_CRON_FAULT)}`)
const [, kind, ms] = m
const sleep = () => new Promise((resolve) => setTimeout(resolve, Number(ms)))

const create = Bucket.prototype.create
Bucket.prototype.create = async function (this: Bucket, ...args: Parameters<Bucket['create']>) {
  if (!this.bucket.endsWith('-cron-claims')) return create.apply(this, args)
  if (kind === 'late') await sleep()
  const revision = await create.apply(this, args)
  if (kind === 'stall') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(ms))
  return revision
}
