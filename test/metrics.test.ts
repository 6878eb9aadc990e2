/**
 * The engine's own histogram for per-call figures (adapters/metrics.ts) renders exactly
 * as prom-client's Histogram does, in text and in JSON, for the same observations.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Histogram, Registry } from 'prom-client'
import { DURATION_BUCKETS, LabelledHistogram } from '../adapters/metrics.js'

const it = suite('metrics')

it('LabelledHistogram renders as prom-client’s Histogram', async () => {
  const ours = new Registry()
  const theirs = new Registry()
  const name = 'signalbox_invocation_duration_seconds'
  const mine = new LabelledHistogram({ name, help: 'Time from invocation to answer', label: 'source', buckets: DURATION_BUCKETS, registers: [ours] })
  const reference = new Histogram({ name, help: 'Time from invocation to answer', labelNames: ['source'], buckets: DURATION_BUCKETS, registers: [theirs] })
  assert.is(await ours.metrics(), await theirs.metrics(), 'nothing observed')
  const seen: Array<[string, number]> = [
    ['http', 0.0001], ['worker', 0.0005], ['http', 0.0007], ['cron', 31], ['http', 2.5], ['queue', 0], ['worker', 0.03], ['http', 12], ['engine', 0.001],
  ]
  for (let i = 0; i < 500; i++) seen.push([['http', 'worker', 'cron'][i % 3], (i * 0.37) % 40])
  for (const [source, seconds] of seen) {
    mine.observe(source, seconds)
    reference.observe({ source }, seconds)
  }
  assert.is(await ours.metrics(), await theirs.metrics())
  assert.equal(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON())
  ours.resetMetrics()
  theirs.resetMetrics()
  assert.is(await ours.metrics(), await theirs.metrics(), 'after a reset')
})

it.run()
