/**
 * The memory queue store: messages in insertion order per queue. Fast, and gone with the
 * process; the default when embedding.
 */
import { randomUUID } from 'node:crypto'
import { expiredLease, type Delivery, type QueueCounts, type QueueStore, type StoredMessage } from '../core/queue-store.js'

export function createMemoryQueueStore(): QueueStore {
  const queues = new Map<string, Map<string, StoredMessage>>()
  const queueOf = (name: string) => {
    let q = queues.get(name)
    if (!q) queues.set(name, (q = new Map()))
    return q
  }
  const deadLetter = (m: StoredMessage, dlq: string, error: unknown) => {
    queues.get(m.queue)?.delete(m.message_id)
    queueOf(dlq).set(m.message_id, { ...m, queue: dlq, source_queue: m.queue, last_error: error, receipt: undefined, visible_at: 0 })
  }
  const current = (q: Map<string, StoredMessage> | undefined, lease: { message_id: string; receipt: string }, now: number) => {
    const m = q?.get(lease.message_id)
    return m && m.receipt === lease.receipt && m.visible_at > now ? m : undefined
  }

  return {
    kind: 'memory',
    send(queue, body, { now, delayMs = 0, function_id }) {
      const message_id = randomUUID()
      queueOf(queue).set(message_id, { message_id, queue, body, function_id, enqueued_at: now, visible_at: now + delayMs, receive_count: 0 })
      return message_id
    },
    receive(queue, o) {
      const q = queues.get(queue)
      const out: Delivery[] = []
      if (!q) return out
      for (const m of q.values()) {
        if (out.length >= o.max) break
        if (m.visible_at > o.now || (m.function_id !== undefined) !== o.calls) continue
        if (o.calls && (m.source_queue !== undefined || (o.accept && !o.accept(m.function_id!)))) continue
        if (m.receive_count >= o.maxReceiveCount) {
          deadLetter(m, o.deadLetterQueue, m.last_error ?? expiredLease(m.receive_count))
          continue
        }
        m.receive_count += 1
        // The last error is that of the last receive: none recorded by its end means it timed out.
        m.last_error = undefined
        m.receipt = randomUUID()
        m.visible_at = o.now + o.visibilityMs
        out.push({ message_id: m.message_id, body: m.body, function_id: m.function_id, receive_count: m.receive_count, enqueued_at: m.enqueued_at, receipt: m.receipt })
      }
      return out
    },
    ack(queue, leases, now) {
      const q = queues.get(queue)
      let n = 0
      for (const lease of leases) if (current(q, lease, now)) (q!.delete(lease.message_id), n++)
      return n
    },
    fail(queue, leases, error, o) {
      const q = queues.get(queue)
      for (const lease of leases) {
        const m = current(q, lease, o.now)
        if (!m) continue
        m.last_error = error
        if (m.receive_count >= o.maxReceiveCount) deadLetter(m, o.deadLetterQueue, error)
      }
    },
    nextVisibleAt(queue, calls, now) {
      let next: number | undefined
      for (const m of queues.get(queue)?.values() ?? []) {
        if ((m.function_id !== undefined) !== calls || m.visible_at <= now) continue
        if (next === undefined || m.visible_at < next) next = m.visible_at
      }
      return next
    },
    list(queue, limit) {
      return [...(queues.get(queue)?.values() ?? [])].slice(0, limit).map((m) => ({ ...m }))
    },
    redrive(dlq, ids, now) {
      const q = queues.get(dlq)
      const targets = new Set<string>()
      if (!q) return { redriven: 0, queues: [] }
      let n = 0
      for (const m of [...q.values()]) {
        if (ids && !ids.includes(m.message_id)) continue
        q.delete(m.message_id)
        const target = m.source_queue ?? dlq
        queueOf(target).set(m.message_id, { ...m, queue: target, source_queue: undefined, receive_count: 0, visible_at: now, receipt: undefined })
        targets.add(target)
        n++
      }
      return { redriven: n, queues: [...targets] }
    },
    callQueues() {
      const out: string[] = []
      for (const [name, q] of queues) {
        for (const m of q.values()) {
          if (m.function_id !== undefined && m.source_queue === undefined) {
            out.push(name)
            break
          }
        }
      }
      return out
    },
    counts(now) {
      const out: Record<string, QueueCounts> = {}
      for (const [name, q] of queues) {
        const c: QueueCounts = { ready: 0, in_flight: 0, delayed: 0 }
        for (const m of q.values()) {
          if (m.visible_at <= now) c.ready++
          else if (m.receipt !== undefined) c.in_flight++
          else c.delayed++
        }
        if (q.size > 0) out[name] = c
      }
      return out
    },
    close() {
      queues.clear()
    },
  }
}
