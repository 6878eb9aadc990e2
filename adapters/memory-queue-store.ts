/**
 * The memory queue store: messages in send order per queue. Fast, and gone with the
 * process; the default when embedding. The rules are those of core/queue-store.ts.
 */
import { randomUUID } from 'node:crypto'
import { contextOf, countQueues, expiredLease, queuesWithCalls, type Delivery, type FailOptions, type QueueStore, type ReceiveOptions, type StoredMessage } from '../core/queue-store.js'

/** A message as this store keeps it: live durable calls are `call`; dead ones are messages of their dead-letter queue. */
type Kept = StoredMessage & { call: boolean }

export function createMemoryQueueStore(): QueueStore {
  const queues = new Map<string, Map<string, Kept>>()
  /** Deduplication ids seen: `queue␀id` → the first send's message id, until `expires`. */
  const seen = new Map<string, { message_id: string; expires: number }>()
  const queueOf = (name: string) => {
    let q = queues.get(name)
    if (!q) queues.set(name, (q = new Map()))
    return q
  }
  const deadLetter = (m: Kept, dlq: string, error: unknown, onDeadLetter?: (dlq: string) => void) => {
    queues.get(m.queue)?.delete(m.message_id)
    queueOf(dlq).set(m.message_id, {
      ...m,
      queue: dlq,
      source_queue: m.queue,
      source_receive_count: m.receive_count,
      receive_count: 0,
      last_error: error,
      receipt: undefined,
      visible_at: 0,
      call: false,
    })
    onDeadLetter?.(dlq)
  }
  const current = (q: Map<string, Kept> | undefined, lease: { message_id: string; receipt: string }, now: number) => {
    const m = q?.get(lease.message_id)
    return m && m.receipt === lease.receipt && m.visible_at > now ? m : undefined
  }
  const lease = (m: Kept, o: ReceiveOptions): Delivery => {
    m.receive_count += 1
    // The last error is that of the last receive: none recorded by its end means it timed out.
    // A dead letter keeps the error that sent it here until it fails here itself.
    if (m.source_queue === undefined) m.last_error = undefined
    m.receipt = randomUUID()
    m.visible_at = o.now + o.visibilityMs
    const d: Delivery = { message_id: m.message_id, body: m.body, receive_count: m.receive_count, enqueued_at: m.enqueued_at, receipt: m.receipt }
    if (m.function_id !== undefined) d.function_id = m.function_id
    if (m.message_group_id !== undefined) d.message_group_id = m.message_group_id
    if (m.source_queue !== undefined) {
      d.source_queue = m.source_queue
      d.source_receive_count = m.source_receive_count
      d.last_error = m.last_error
    }
    if (m.context) d.context = m.context
    return d
  }
  /** Dead-letters `m` if it is exhausted; true when it did. */
  const exhausted = (m: Kept, o: ReceiveOptions) => {
    if (m.receive_count < o.maxReceiveCount) return false
    deadLetter(m, o.deadLetterQueue, m.last_error ?? expiredLease(m.receive_count), o.onDeadLetter)
    return true
  }

  /** Plain receive: visible messages in send order. */
  const receivePlain = (q: Map<string, Kept>, o: ReceiveOptions): Delivery[] => {
    const out: Delivery[] = []
    for (const m of q.values()) {
      if (out.length >= o.max) break
      if (m.visible_at > o.now || m.call !== o.calls) continue
      if (o.calls && o.accept && !o.accept(m.function_id!)) continue
      if (exhausted(m, o)) continue
      out.push(lease(m, o))
    }
    return out
  }

  /** FIFO receive: the first group whose oldest message is visible, as many of its messages as are visible in a row. */
  const receiveFifo = (q: Map<string, Kept>, o: ReceiveOptions): Delivery[] => {
    const passed = new Set<string | undefined>()
    let group: string | undefined
    let found = false
    const out: Delivery[] = []
    for (const m of [...q.values()]) {
      if (m.call) continue
      const g = m.message_group_id
      if (found) {
        if (g !== group) continue
        if (out.length >= o.max || m.visible_at > o.now) break
        if (!exhausted(m, o)) out.push(lease(m, o))
        continue
      }
      if (passed.has(g)) continue
      if (m.visible_at > o.now) {
        passed.add(g)
        continue
      }
      if (exhausted(m, o)) continue
      found = true
      group = g
      out.push(lease(m, o))
    }
    return out
  }

  return {
    kind: 'memory',
    async send(queue, body, { now, delayMs = 0, function_id, message_group_id, deduplication, context }) {
      if (deduplication) {
        const key = `${queue}\u0000${deduplication.id}`
        const first = seen.get(key)
        if (first && first.expires > now) return { message_id: first.message_id, duplicate: true }
        if (seen.size >= 10_000) for (const [k, v] of seen) if (v.expires <= now) seen.delete(k)
      }
      const message_id = randomUUID()
      const m: Kept = { message_id, queue, body, enqueued_at: now, visible_at: now + delayMs, receive_count: 0, call: function_id !== undefined }
      if (function_id !== undefined) m.function_id = function_id
      if (message_group_id !== undefined) m.message_group_id = message_group_id
      const c = contextOf(context)
      if (c) m.context = c
      queueOf(queue).set(message_id, m)
      if (deduplication) seen.set(`${queue}\u0000${deduplication.id}`, { message_id, expires: now + deduplication.windowMs })
      return { message_id, duplicate: false }
    },
    async receive(queue, o) {
      const q = queues.get(queue)
      if (!q) return []
      return o.fifo && !o.calls ? receiveFifo(q, o) : receivePlain(q, o)
    },
    async ack(queue, leases, now) {
      const q = queues.get(queue)
      let n = 0
      for (const lease of leases) if (current(q, lease, now)) (q!.delete(lease.message_id), n++)
      return n
    },
    async fail(queue, leases, error, o: FailOptions) {
      const q = queues.get(queue)
      for (const lease of leases) {
        const m = current(q, lease, o.now)
        if (!m) continue
        m.last_error = error
        if (m.receive_count >= o.maxReceiveCount) deadLetter(m, o.deadLetterQueue, error, o.onDeadLetter)
        else if (o.retryDelayMs) {
          m.visible_at = o.now + o.retryDelayMs(m.receive_count)
          m.receipt = undefined
        }
      }
    },
    async nextVisibleAt(queue, calls, now) {
      let next: number | undefined
      for (const m of queues.get(queue)?.values() ?? []) {
        if (m.call !== calls || m.visible_at <= now) continue
        if (next === undefined || m.visible_at < next) next = m.visible_at
      }
      return next
    },
    async list(queue, limit) {
      return [...(queues.get(queue)?.values() ?? [])].slice(0, limit).map(({ call: _call, ...m }) => ({ ...m }))
    },
    async redrive(dlq, ids, now) {
      const q = queues.get(dlq)
      const targets = new Set<string>()
      if (!q) return { redriven: 0, queues: [] }
      let n = 0
      for (const m of [...q.values()]) {
        if (ids && !ids.includes(m.message_id)) continue
        q.delete(m.message_id)
        const target = m.source_queue ?? dlq
        const { source_queue: _s, source_receive_count: _r, ...rest } = m
        queueOf(target).set(m.message_id, { ...rest, queue: target, receive_count: 0, visible_at: now, receipt: undefined, call: m.function_id !== undefined })
        targets.add(target)
        n++
      }
      return { redriven: n, queues: [...targets] }
    },
    async callQueues() {
      return queuesWithCalls(queues, (m) => m)
    },
    async counts(now) {
      return countQueues(queues, (m) => m, now)
    },
    async close() {
      queues.clear()
      seen.clear()
    },
  }
}
