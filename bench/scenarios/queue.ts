/**
 * Queue send → deliver → ack, memory and SQLite stores, batch 1 and 10, and a FIFO queue on
 * SQLite (10 message groups, batch 10, one batch per group in flight). A producer process
 * sends N messages through `engine::queue::send` (64 calls in flight) while a consumer
 * process, bound to the queue with a queue trigger (default concurrency: one batch in
 * flight), acknowledges each batch at once. messages/s = N / (first send → last ack).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fmt, startAgent, startEngine, table, type Ctx, type EngineProc, type Row, type Section } from '../lib/common.js'
import { median } from '../lib/stats.js'

type Wait = { received: number; batches: number; lastAt: number; ackedAt: number; timedOut: boolean }
type Produce = { startedAt: number; sentAt: number; errors: number }

/**
 * Messages of each kind's warm-up pass (not counted). With 1,000, the processes were still
 * compiling their paths for several runs after it: on SQLite at batch 10 the first runs of
 * one engine took 934, 765, 629, 551 and 564 ms for 5,000 messages, the memory store's 444,
 * 366, 248, 236 and 152 ms (2026-11-30, 20:00 UTC); after 5,000 the runs are level.
 */
const WARMUP_MESSAGES = 5_000

export async function queue(ctx: Ctx, options: { runs?: number; messages?: number; stores?: string[]; batches?: number[]; fifo?: boolean; cpuProfile?: string } = {}): Promise<Section> {
  const runs = options.runs ?? Math.max(3, Math.min(ctx.runs, 3))
  // SQLite is slower per message: fewer messages keep its runs short; the rate is per second either way.
  const counts: Record<string, number> = { memory: options.messages ?? 10_000, sqlite: options.messages ?? 5_000 }
  const dir = mkdtempSync(join(tmpdir(), 'signalbox-bench-'))
  const stores = [
    { name: 'memory', arg: 'memory' },
    { name: 'sqlite', arg: `sqlite:${join(dir, 'queues.sqlite')}` },
  ].filter((s) => !options.stores || options.stores.includes(s.name))
  const batches = options.batches ?? [1, 10]
  /** Measurements per store: plain queues at each batch size, and on SQLite a FIFO queue of 10 groups at batch 10. */
  const FIFO_GROUPS = 10
  const kinds = (store: string) => [...batches.map((batch) => ({ batch, groups: 0 })), ...(store === 'sqlite' && options.fifo !== false ? [{ batch: 10, groups: FIFO_GROUPS }] : [])]
  const key = (store: string, k: { batch: number; groups: number }) => `${store}:${k.batch}${k.groups ? `:fifo${k.groups}` : ''}`
  const results: Record<string, Array<{ rate: number; sendRate: number; seconds: number; batches: number; errors: number }>> = {}
  try {
    for (const store of stores) {
      const engine: EngineProc = await startEngine(`engine-${store.name}`, { store: store.arg, cpuProfile: options.cpuProfile })
      const consumer = await startAgent('consumer')
      const producer = await startAgent('producer')
      try {
        const n = counts[store.name]
        // One warm-up pass of each kind, not counted: the first run on a fresh engine pays for
        // compiling the path (its figure was the lowest of every run), as in the other scenarios.
        for (const { batch, groups } of kinds(store.name)) {
          const q = `bench_warmup_${batch}_${groups}`
          await consumer.call('queueConsumer', { url: engine.url, queue: q, batch, groups: groups || undefined })
          const waiting = consumer.call<Wait>('queueWait', { queue: q, n: WARMUP_MESSAGES, timeoutMs: 60_000 }, 90_000)
          await producer.call<Produce>('queueProduce', { url: engine.url, queue: q, n: WARMUP_MESSAGES, inflight: 64, groups: groups || undefined }, 90_000)
          if ((await waiting).timedOut) throw new Error(`${store.name} batch ${batch}: the warm-up's messages were not all delivered within 60 s`)
        }
        for (let r = 0; r < runs; r++) {
          const all = kinds(store.name)
          for (const kind of r % 2 ? [...all].reverse() : all) {
            const { batch, groups } = kind
            const q = `bench_${batch}_${groups}_${r}`
            await consumer.call('queueConsumer', { url: engine.url, queue: q, batch, groups: groups || undefined })
            const waiting = consumer.call<Wait>('queueWait', { queue: q, n, timeoutMs: 60_000 }, 90_000)
            const sent = await producer.call<Produce>('queueProduce', { url: engine.url, queue: q, n, inflight: 64, groups: groups || undefined }, 90_000)
            const got = await waiting
            const what = `${store.name} batch ${batch}${groups ? ` FIFO ${groups} groups` : ''}`
            if (got.timedOut) throw new Error(`${what}: only ${got.received} of ${n} messages delivered within 60 s`)
            const seconds = (got.ackedAt - sent.startedAt) / 1000
            const res = { rate: n / seconds, sendRate: n / ((sent.sentAt - sent.startedAt) / 1000), seconds, batches: got.batches, errors: sent.errors }
            ;(results[key(store.name, kind)] ??= []).push(res)
            ctx.log(`  run ${r + 1}/${runs} ${what}: ${fmt.int(res.rate)} msg/s end to end (sends answered at ${fmt.int(res.sendRate)}/s; ${got.batches} batches)${sent.errors ? `, ${sent.errors} send errors` : ''}`)
          }
        }
      } finally {
        await Promise.all([consumer.stop(), producer.stop(), engine.child.stop()])
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const rows: Row[] = []
  const detailRows: string[][] = []
  for (const store of stores) {
    for (const kind of kinds(store.name)) {
      const { batch, groups } = kind
      const rs = results[key(store.name, kind)]
      const rate = median(rs.map((x) => x.rate))
      // SQLite at batch 10: the figure of BENCHMARKS.md before the queue semantics (13.5k/s) is the floor.
      const target = groups ? undefined : store.name === 'sqlite' && batch === 10 ? 13_500 : undefined
      const scenario = groups ? `queue send → deliver → ack, ${store.name}, FIFO, ${groups} groups, batch ${batch}` : `queue send → deliver → ack, ${store.name}, batch ${batch}`
      rows.push({ scenario, figure: 'messages/s', value: fmt.int(rate), baseline: `sends answered at ${fmt.int(median(rs.map((x) => x.sendRate)))}/s`, target: target ? `≥ ${fmt.int(target)}/s` : '—', pass: target ? rate >= target : null })
      rs.forEach((x, i) => detailRows.push([store.name + (groups ? ` FIFO ${groups} groups` : ''), String(batch), String(i + 1), fmt.int(x.rate), fmt.s(x.seconds), fmt.int(x.sendRate), fmt.int(x.batches), String(x.errors)]))
    }
  }
  const details = [
    `One engine per store (SQLite: a fresh file in a temporary directory, WAL). Per measurement a fresh queue: the consumer (raw \`ws\`, its own process) binds a function to it with a queue trigger (\`batch_size\` 1 or 10, other options default, so one batch in flight per trigger; the FIFO queue on SQLite: \`fifo: true\`, \`concurrency\` 10, each message in one of 10 message groups, so at most one batch per group in flight) and answers each batch at once, which acknowledges it; the producer (another process) sends ${fmt.int(counts.memory)} (memory) or ${fmt.int(counts.sqlite)} (SQLite) messages through \`engine::queue::send\`, 64 calls in flight. Before the measured runs, each kind runs once with ${fmt.int(WARMUP_MESSAGES)} messages on a queue of its own, not counted (a warm-up, as in the other scenarios). The clock runs from the first send to the last acknowledgement (confirmed by a round trip on the consumer's connection after its last answer). The "baseline" column shows how fast the sends alone were answered. Runs: ${runs}.`,
    '',
    table(['store', 'batch', 'run', 'messages/s', 'seconds', 'sends answered/s', 'batches delivered', 'send errors'], detailRows),
  ].join('\n')
  return { id: 'queue', title: 'Queue send → deliver → ack', rows, details }
}
