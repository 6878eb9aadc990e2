/**
 * The JetStream queue store: messages live on a NATS JetStream server, so several engines
 * can share the queues and a message survives the engine that took it. The rules are
 * those of core/queue-store.ts; docs/cluster.md has the mapping onto JetStream.
 *
 * - One stream (`<name>-queues`) holds every message, one subject per queue
 *   (`<name>.queue.<queue name in base64url>`): what a message was sent with (its body,
 *   function, group, context, send time) is published there once, with `Nats-Msg-Id` set
 *   to its message id, and stays unchanged. A dead letter or a redriven message is
 *   published again, on the subject of the queue it moves to, and its old copy deleted.
 * - A KV bucket (`<name>-queue-state`) holds what changes: for each message id, its queue,
 *   its stream sequence there, its receives, its lease (receipt and `visible_at`), its last
 *   error and where a dead letter came from. Every change is a compare-and-set on the
 *   entry's revision, so of two engines (or two receives) that want the same message one
 *   gets it and the other passes it over.
 * - A KV bucket (`<name>-queue-dedup`) holds the deduplication ids: `<queue>.<id>` → the
 *   first send's message id and when the id is forgotten; creating the entry is atomic.
 *
 * The lease times are the caller's (`now`), as the interface has them, not the server's:
 * JetStream's own redelivery (AckWait, `nak` with a delay) runs on the server's clock and
 * could not honour a lease the caller times. Each engine keeps a copy of the state bucket,
 * fed by a KV watch, to choose what to lease without reading the whole bucket per receive.
 */
import { randomUUID } from 'node:crypto'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import { StoreOpenError } from './open-errors.js'
import { createShared } from './jetstream-create.js'
import { lostCompareAndSet } from './kv-compare-and-set.js'
import { contextOf, countQueues, expiredLease, queuesWithCalls, type Delivery, type FailOptions, type MessageContext, type QueueStore, type ReceiveOptions, type SendOptions, type StoredMessage } from '../core/queue-store.js'

export interface JetStreamStoreOptions {
  /** NATS server URL(s): `nats://host:4222`, or several separated by commas. */
  servers: string
  /** Prefix of the stream, subjects and buckets (letters, digits, `_`, `-`); engines that share queues share it. Default `signalbox`. */
  name?: string
}

export { StoreOpenError } from './open-errors.js'

/** What a message was sent with: the stream's copy, never changed. */
interface Envelope {
  message_id: string
  body: unknown
  enqueued_at: number
  /** When it was first visible (its delay). */
  visible_at: number
  function_id?: string
  message_group_id?: string
  context?: MessageContext
}

/**
 * What changes: the state bucket's value for a message. A stored message's fields but its
 * id (the key), body and context (in the stream), plus where it is in the stream.
 */
type State = Omit<StoredMessage, 'message_id' | 'body' | 'context'> & {
  /** The message's stream sequence, on its queue's subject. */
  seq: number
  /** A live durable call (a dead one is a message of its dead-letter queue). */
  call: boolean
}

interface Entry {
  id: string
  state: State
  revision: number
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/
const token = (text: string) => Buffer.from(text, 'utf8').toString('base64url')
const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value))
const decode = <T>(data: Uint8Array): T => JSON.parse(new TextDecoder().decode(data)) as T

/** Opens the store on the NATS server at `servers`, creating its stream and buckets if they are not there. */
export async function createJetStreamQueueStore(options: JetStreamStoreOptions): Promise<QueueStore> {
  const name = options.name ?? 'signalbox'
  if (!NAME.test(name)) throw new RangeError(`jetstream store: name must be 1 to 64 letters, digits, '_' or '-', got '${name}'`)
  const servers = options.servers.split(',').map((s) => s.trim()).filter(Boolean)
  let nc: NatsConnection
  try {
    nc = await connect({ servers, name: `signalbox ${name}`, maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: 5000 })
  } catch (err) {
    throw new StoreOpenError(`cannot reach NATS at ${options.servers}: ${(err as Error).message}`, 'start nats-server with JetStream (nats-server -js) there, or give --nats the address of one')
  }
  try {
    return await open(nc, name)
  } catch (err) {
    await nc.close().catch(() => {})
    if (err instanceof StoreOpenError) throw err
    const message = (err as Error).message
    if (/jetstream (is )?not enabled|no responders|503/i.test(message)) {
      throw new StoreOpenError(`the NATS server at ${options.servers} has no JetStream`, 'start nats-server with -js (or jetstream {} in its config)')
    }
    throw new StoreOpenError(`cannot open the queue stream on NATS at ${options.servers}: ${message}`, 'check the server with nats-server -js; docs/cluster.md says what the store creates')
  }
}

async function open(nc: NatsConnection, name: string): Promise<QueueStore> {
  const stream = `${name}-queues`
  const subjectOf = (queue: string) => `${name}.queue.${token(queue)}`
  const jsm: JetStreamManager = await jetstreamManager(nc)
  const js: JetStreamClient = jetstream(nc)
  // Engines started together all create the stream and buckets: one that loses a create to another opens them again (adapters/jetstream-create.ts).
  await createShared(async () => {
    try {
      await jsm.streams.info(stream)
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== JetStreamApiCodes.StreamNotFound) throw err
      await jsm.streams.add({ name: stream, subjects: [`${name}.queue.*`], storage: StorageType.File, retention: RetentionPolicy.Limits })
    }
  })
  const kvm = new Kvm(nc)
  const states: KV = await createShared(() => kvm.create(`${name}-queue-state`, { history: 1 }))
  const dedup: KV = await createShared(() => kvm.create(`${name}-queue-dedup`, { history: 1 }))

  // The copy of the state bucket: entries by id and by queue, and the ids deleted at a
  // revision the watch may not have passed yet (so an older update does not bring them back).
  const entries = new Map<string, Entry>()
  const byQueue = new Map<string, Map<string, Entry>>()
  const deleted = new Map<string, number>()
  const envelopes = new Map<number, Envelope>()
  const place = (id: string, state: State | undefined, revision: number) => {
    const old = entries.get(id)
    if (old && old.revision >= revision) return
    if (!old && (deleted.get(id) ?? 0) >= revision) return
    if (old) {
      byQueue.get(old.state.queue)?.delete(id)
      if (!state || state.seq !== old.state.seq) envelopes.delete(old.state.seq)
    }
    if (!state) {
      entries.delete(id)
      deleted.set(id, revision)
      return
    }
    const entry = { id, state, revision }
    entries.set(id, entry)
    let q = byQueue.get(state.queue)
    if (!q) byQueue.set(state.queue, (q = new Map()))
    q.set(id, entry)
  }
  const status = await jsm.streams.info(`KV_${name}-queue-state`)
  const loadedUpTo = status.state.last_seq
  let watched = 0
  let loaded: () => void
  const initial = new Promise<void>((resolve) => (loaded = resolve))
  if (loadedUpTo === 0 || status.state.messages === 0) loaded!()
  const watch = await states.watch()
  let arrived: ((queue: string, call: boolean) => void) | undefined
  const watching = (async () => {
    for await (const e of watch) {
      const state = e.operation === 'PUT' ? decode<State>(e.value) : undefined
      const before = entries.get(e.key)
      place(e.key, state, e.revision)
      // A message new to this engine's copy, or moved into another queue: its consumers here may take it.
      if (arrived && state && entries.get(e.key)?.revision === e.revision && (!before || before.state.queue !== state.queue)) arrived(state.queue, state.call)
      watched = Math.max(watched, e.revision)
      // Caught up: past the last revision there was at start, or nothing left pending (that revision was removed meanwhile).
      if (watched >= loadedUpTo || e.delta === 0) loaded!()
      if (deleted.size > 1000) for (const [id, rev] of deleted) if (rev <= watched) deleted.delete(id)
    }
  })()
  await initial

  /** The messages of a queue, oldest first (by their sequence on its subject). */
  const ordered = (queue: string) => [...(byQueue.get(queue)?.values() ?? [])].sort((a, b) => a.state.seq - b.state.seq)

  /** Rereads one entry after a lost compare-and-set. */
  const refresh = async (id: string) => {
    const e = await states.get(id)
    if (e) place(id, e.operation === 'PUT' ? decode<State>(e.value) : undefined, e.revision)
  }
  /** Writes `next` over `entry` if nobody changed it meanwhile; false when somebody did. */
  const put = async (entry: Entry, next: State): Promise<boolean> => {
    try {
      const revision = await states.update(entry.id, encode(next), entry.revision)
      place(entry.id, next, revision)
      return true
    } catch (err) {
      if (!lostCompareAndSet(err)) throw err
      await refresh(entry.id)
      return false
    }
  }
  const remove = async (entry: Entry): Promise<boolean> => {
    try {
      await states.delete(entry.id, { previousSeq: entry.revision })
    } catch (err) {
      if (!lostCompareAndSet(err)) throw err
      await refresh(entry.id)
      return false
    }
    // The delete marker's revision is not returned; it is past the entry's, and no other
    // change of this id can come between (the delete was a compare-and-set).
    place(entry.id, undefined, entry.revision + 1)
    return true
  }
  const dropCopy = (seq: number) => jsm.streams.deleteMessage(stream, seq, false).catch(() => false)
  const envelopeOf = async (state: State): Promise<Envelope> => {
    const cached = envelopes.get(state.seq)
    if (cached) return cached
    const m = await jsm.streams.getMessage(stream, { seq: state.seq })
    if (!m) throw new Error(`jetstream store: message ${state.seq} of queue '${state.queue}' is missing from stream ${stream}`)
    const envelope = decode<Envelope>(m.data)
    envelopes.set(state.seq, envelope)
    return envelope
  }
  /** Publishes `envelope` on `queue`'s subject; resolves with its sequence. */
  const publish = async (queue: string, envelope: Envelope, msgID: string) => {
    const ack = await js.publish(subjectOf(queue), encode(envelope), { msgID })
    envelopes.set(ack.seq, envelope)
    return ack.seq
  }
  /** Moves `entry` to another queue (a dead-letter queue, or back from one) as `next` says; false if it changed meanwhile. */
  const move = async (entry: Entry, next: (seq: number) => State): Promise<boolean> => {
    const envelope = await envelopeOf(entry.state)
    const old = entry.state.seq
    const seq = await publish(next(0).queue, envelope, `${entry.id}.${entry.revision}`)
    if (!(await put(entry, next(seq)))) {
      await dropCopy(seq)
      envelopes.delete(seq)
      return false
    }
    await dropCopy(old)
    return true
  }
  const deadLetter = async (entry: Entry, dlq: string, error: unknown, onDeadLetter?: (dlq: string) => void) => {
    const s = entry.state
    const moved = await move(entry, (seq) => {
      const { receipt: _r, ...rest } = s
      return { ...rest, queue: dlq, seq, source_queue: s.queue, source_receive_count: s.receive_count, receive_count: 0, last_error: error ?? null, visible_at: 0, call: false }
    })
    if (moved) onDeadLetter?.(dlq)
    return moved
  }
  const current = (queue: string, lease: { message_id: string; receipt: string }, now: number) => {
    const e = byQueue.get(queue)?.get(lease.message_id)
    return e && e.state.receipt === lease.receipt && e.state.visible_at > now ? e : undefined
  }
  /** Dead-letters `entry` if it is exhausted; true when it is (moved by this call or by someone else). */
  const exhausted = async (entry: Entry, o: ReceiveOptions) => {
    if (entry.state.receive_count < o.maxReceiveCount) return false
    await deadLetter(entry, o.deadLetterQueue, entry.state.last_error ?? expiredLease(entry.state.receive_count), o.onDeadLetter)
    return true
  }
  /** Leases `entry`; undefined when someone else changed it first. */
  const lease = async (entry: Entry, o: ReceiveOptions): Promise<Delivery | undefined> => {
    const s = entry.state
    const receipt = randomUUID()
    const next: State = { ...s, receive_count: s.receive_count + 1, receipt, visible_at: o.now + o.visibilityMs }
    // The last error is that of the last receive; a dead letter keeps the one that sent it here.
    if (s.source_queue === undefined) delete next.last_error
    if (!(await put(entry, next))) return undefined
    const envelope = await envelopeOf(next)
    const d: Delivery = { message_id: entry.id, body: envelope.body, receive_count: next.receive_count, enqueued_at: s.enqueued_at, receipt }
    if (s.function_id !== undefined) d.function_id = s.function_id
    if (s.message_group_id !== undefined) d.message_group_id = s.message_group_id
    if (s.source_queue !== undefined) {
      d.source_queue = s.source_queue
      d.source_receive_count = s.source_receive_count
      d.last_error = s.last_error
    }
    if (envelope.context) d.context = envelope.context
    return d
  }

  const receivePlain = async (queue: string, o: ReceiveOptions): Promise<Delivery[]> => {
    const out: Delivery[] = []
    for (const entry of ordered(queue)) {
      if (out.length >= o.max) break
      const s = entry.state
      if (s.visible_at > o.now || s.call !== o.calls) continue
      if (o.calls && o.accept && !o.accept(s.function_id!)) continue
      if (await exhausted(entry, o)) continue
      const d = await lease(entry, o)
      if (d) out.push(d)
    }
    return out
  }

  /** The first group whose oldest message is visible: as many of its messages as are visible in a row. */
  const receiveFifo = async (queue: string, o: ReceiveOptions): Promise<Delivery[]> => {
    const passed = new Set<string | undefined>()
    let group: string | undefined
    let found = false
    const out: Delivery[] = []
    for (const entry of ordered(queue)) {
      const s = entry.state
      if (s.call) continue
      const g = s.message_group_id
      if (found) {
        if (g !== group) continue
        if (out.length >= o.max || s.visible_at > o.now) break
        if (await exhausted(entry, o)) continue
        const d = await lease(entry, o)
        if (!d) break
        out.push(d)
        continue
      }
      if (passed.has(g)) continue
      if (s.visible_at > o.now) {
        passed.add(g)
        continue
      }
      if (await exhausted(entry, o)) continue
      const d = await lease(entry, o)
      if (!d) {
        passed.add(g)
        continue
      }
      found = true
      group = g
      out.push(d)
    }
    return out
  }

  /** A deduplication id's entry: the message that holds it (its id and first stream sequence), until `expires`. */
  type Held = { message_id: string; seq: number; expires: number }
  const heldBy = async (key: string) => {
    const entry = await dedup.get(key)
    return { entry, held: entry?.operation === 'PUT' ? decode<Held>(entry.value) : undefined }
  }
  /** Claims a deduplication id for `mine`; resolves with what holds it (another send's message, if one got there first). */
  const claim = async (key: string, mine: Held, now: number): Promise<Held> => {
    for (;;) {
      const { entry, held } = await heldBy(key)
      if (held && held.expires > now) return held
      try {
        if (entry) await dedup.update(key, encode(mine), entry.revision)
        else await dedup.create(key, encode(mine))
        return mine
      } catch (err) {
        if (!lostCompareAndSet(err)) throw err
      }
    }
  }
  /** The state of a message just published (its first, not yet in the bucket). */
  const stateOf = (queue: string, envelope: Envelope, seq: number): State => {
    const state: State = { queue, seq, call: envelope.function_id !== undefined, enqueued_at: envelope.enqueued_at, visible_at: envelope.visible_at, receive_count: 0 }
    if (envelope.function_id !== undefined) state.function_id = envelope.function_id
    if (envelope.message_group_id !== undefined) state.message_group_id = envelope.message_group_id
    return state
  }
  /**
   * A send that claimed its deduplication id and stopped (the engine died) before its state
   * was written left its message in the stream only: the send with the same id that finds
   * the claim writes the state, so the message is not lost. A message that was acknowledged
   * (or moved to a dead-letter queue) is no longer at that sequence, and is left alone.
   */
  const complete = async (queue: string, held: Held) => {
    if (entries.has(held.message_id) || (await states.get(held.message_id))) return
    const m = await jsm.streams.getMessage(stream, { seq: held.seq }).catch(() => null)
    if (!m || m.subject !== subjectOf(queue)) return
    const envelope = decode<Envelope>(m.data)
    if (envelope.message_id !== held.message_id) return
    try {
      const state = stateOf(queue, envelope, held.seq)
      place(held.message_id, state, await states.create(held.message_id, encode(state)))
    } catch (err) {
      if (!lostCompareAndSet(err)) throw err
    }
  }

  /**
   * A send: the message is published to its queue's subject, then (with a deduplication id)
   * the id is claimed for it, then its state is written, which makes it visible to
   * receives. A send that loses the claim to another deletes its copy and answers the
   * other's id; nothing of it was ever visible.
   */
  const send = async (queue: string, body: unknown, o: SendOptions) => {
    const key = o.deduplication && `${token(queue)}.${token(o.deduplication.id)}`
    if (key) {
      const { held } = await heldBy(key)
      if (held && held.expires > o.now) {
        await complete(queue, held)
        return { message_id: held.message_id, duplicate: true }
      }
    }
    const message_id = randomUUID()
    const envelope: Envelope = { message_id, body: body ?? null, enqueued_at: o.now, visible_at: o.now + (o.delayMs ?? 0) }
    if (o.function_id !== undefined) envelope.function_id = o.function_id
    if (o.message_group_id !== undefined) envelope.message_group_id = o.message_group_id
    const context = contextOf(o.context)
    if (context) envelope.context = context
    const seq = await publish(queue, envelope, message_id)
    if (key) {
      const holder = await claim(key, { message_id, seq, expires: o.now + o.deduplication!.windowMs }, o.now)
      if (holder.message_id !== message_id) {
        await dropCopy(seq)
        envelopes.delete(seq)
        await complete(queue, holder)
        return { message_id: holder.message_id, duplicate: true }
      }
    }
    const state = stateOf(queue, envelope, seq)
    try {
      place(message_id, state, await states.create(message_id, encode(state)))
    } catch (err) {
      // Written already by a send with the same id that found the claim (`complete`).
      if (!lostCompareAndSet(err)) throw err
      await refresh(message_id)
    }
    return { message_id, duplicate: false }
  }

  const toStored = async (e: Entry): Promise<StoredMessage> => {
    const s = e.state
    const envelope = await envelopeOf(s)
    const m: StoredMessage = { message_id: e.id, queue: s.queue, body: envelope.body, enqueued_at: s.enqueued_at, visible_at: s.visible_at, receive_count: s.receive_count }
    if (s.function_id !== undefined) m.function_id = s.function_id
    if (s.receipt !== undefined) m.receipt = s.receipt
    if (s.last_error !== undefined) m.last_error = s.last_error
    if (s.source_queue !== undefined) m.source_queue = s.source_queue
    if (s.source_receive_count !== undefined) m.source_receive_count = s.source_receive_count
    if (s.message_group_id !== undefined) m.message_group_id = s.message_group_id
    if (envelope.context) m.context = envelope.context
    return m
  }

  let closing: Promise<void> | undefined
  return {
    kind: 'jetstream',
    onArrival(listener) {
      arrived = listener
    },
    send,
    receive: (queue, o) => (o.fifo && !o.calls ? receiveFifo(queue, o) : receivePlain(queue, o)),
    async ack(queue, leases, now) {
      let n = 0
      for (const l of leases) {
        const e = current(queue, l, now)
        if (!e || !(await remove(e))) continue
        await dropCopy(e.state.seq)
        n++
      }
      return n
    },
    async fail(queue, leases, error, o: FailOptions) {
      for (const l of leases) {
        const e = current(queue, l, o.now)
        if (!e) continue
        if (e.state.receive_count >= o.maxReceiveCount) await deadLetter(e, o.deadLetterQueue, error, o.onDeadLetter)
        else if (o.retryDelayMs) {
          const { receipt: _r, ...rest } = e.state
          await put(e, { ...rest, last_error: error ?? null, visible_at: o.now + o.retryDelayMs(e.state.receive_count) })
        } else await put(e, { ...e.state, last_error: error ?? null })
      }
    },
    async nextVisibleAt(queue, calls, now) {
      let next: number | undefined
      for (const { state: s } of byQueue.get(queue)?.values() ?? []) {
        if (s.call !== calls || s.visible_at <= now) continue
        if (next === undefined || s.visible_at < next) next = s.visible_at
      }
      return next
    },
    list: async (queue, limit) => Promise.all(ordered(queue).slice(0, limit).map(toStored)),
    async redrive(dlq, ids, now) {
      let n = 0
      const targets = new Set<string>()
      for (const e of ordered(dlq)) {
        if (ids && !ids.includes(e.id)) continue
        const target = e.state.source_queue ?? dlq
        const { source_queue: _s, source_receive_count: _c, receipt: _r, ...rest } = e.state
        if (!(await move(e, (seq) => ({ ...rest, queue: target, seq, receive_count: 0, visible_at: now, call: rest.function_id !== undefined })))) continue
        targets.add(target)
        n++
      }
      return { redriven: n, queues: [...targets] }
    },
    async callQueues() {
      return queuesWithCalls(byQueue, (e) => e.state)
    },
    async counts(now) {
      return countQueues(byQueue, (e) => e.state, now)
    },
    close() {
      closing ??= (async () => {
        watch.stop()
        await watching.catch(() => {})
        await nc.drain().catch(() => {})
      })()
      return closing
    },
  }
}
