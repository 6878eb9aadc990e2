/**
 * The cluster's NATS side: one NATS connection per engine, and what the cluster actor
 * (actors/cluster.ts) does over it (the `ClusterLink` of machines/contracts.ts). Calls are
 * published on a subject per function, served by a queue group (each call reaches one of
 * the engines serving the function), and answered on the calling engine's reply subject;
 * cron ticks are claimed in a KV bucket; membership is a KV bucket of heartbeats; the
 * routes of every engine's http triggers are a KV bucket every engine watches, and their
 * claims (one function per route, cluster-wide) another; the worker-defined trigger types
 * (who provides each) are a bucket every engine watches too, and the registrations bound
 * to them travel to the provider's engine on a subject per engine.
 * Subjects and buckets are in docs/cluster.md.
 */
import { connect, createInbox, RequestError, type Msg, type NatsConnection } from '@nats-io/transport-node'
import { Kvm, type KV } from '@nats-io/kv'
import { createShared } from './jetstream-create.js'
import { lostCompareAndSet } from './kv-compare-and-set.js'
import { randomBytes } from 'node:crypto'
import * as v from 'valibot'
import {
  callQueueGroup,
  callSubject,
  clusterBuckets,
  isMemberInfo,
  isRemoteRoute,
  ListingRequest,
  listingSubject,
  newEngineId,
  parseRemoteCall,
  parseRemoteTriggerType,
  parseTypeAnswer,
  parseTypeMessage,
  pingSubject,
  replySubject,
  typeBucketKey,
  typeSubject,
  type RemoteCall,
  type RemoteReply,
} from '../protocol/cluster.js'
import { PayloadTooLargeError } from '../core/cluster.js'
import type { Closable, ClusterLink } from '../machines/contracts.js'
import { errors } from '../protocol/errors.js'
import { ClusterOpenError } from './open-errors.js'

export interface ClusterOptions {
  /** NATS server URL(s): `nats://host:4222`, or several of one NATS cluster separated by commas. */
  servers: string
  /** The cluster's name: engines with the same name on the same NATS are one cluster. Letters, digits, `_`, `-`. */
  name: string
  /** Where what goes wrong on the NATS side is told (a malformed message, a watch that failed); nowhere when absent. */
  warn?: Warn
}

export type Warn = (msg: string, data: Record<string, unknown>) => void

export { ClusterOpenError } from './open-errors.js'

/** The link, and what only its owner (the composition root) does: close the connection. */
export interface OpenCluster extends ClusterLink {
  /** Closes the NATS connection (after the cluster actor let go of what it held). */
  close(): Promise<void>
}

/** How long a cron claim may wait for NATS before the tick runs without it (ms). */
const CLAIM_WAIT_MS = 2000

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const encode = (value: unknown) => encoder.encode(JSON.stringify(value))
const decode = <T>(data: Uint8Array): T => JSON.parse(decoder.decode(data)) as T

/** How long a watch that ended waits before it starts again (ms): doubled each time, up to the most. */
const WATCH_RETRY_MS = 250
const WATCH_RETRY_MAX_MS = 5000

/**
 * Watches every key of `kv` (those there first, then each change) until closed: `handler`
 * gets a value, or undefined for a deletion. A watch that fails (or ends) is told to `warn`
 * and started again after a backoff, as long as neither it nor the connection (`closed`) is closed.
 */
export function watch(kv: Pick<KV, 'watch'>, what: string, warn: Warn, closed: () => boolean, handler: (key: string, value: Uint8Array | undefined, at: number, revision: number) => void): Closable {
  let stopped = false
  let stop: (() => void) | undefined
  let retry: NodeJS.Timeout | undefined
  let backoff = WATCH_RETRY_MS
  const run = async () => {
    // The watch outlives reconnections (the client resumes it); it ends when stopped.
    const iter = await kv.watch()
    if (stopped) return iter.stop()
    stop = () => iter.stop()
    for await (const entry of iter) {
      backoff = WATCH_RETRY_MS
      try {
        handler(entry.key, entry.operation === 'PUT' ? entry.value : undefined, entry.created.getTime(), entry.revision)
      } catch (err) {
        warn('cluster: an entry could not be read', { watch: what, key: entry.key, err: (err as Error)?.message ?? String(err) })
      }
    }
  }
  const start = () => {
    retry = undefined
    run().then(
      () => again(undefined),
      (err: unknown) => again(err),
    )
  }
  const again = (err: unknown) => {
    if (stopped || closed()) return
    warn('cluster: a watch ended; started again', { watch: what, in_ms: backoff, err: err === undefined ? 'it ended' : ((err as Error)?.message ?? String(err)) })
    retry = setTimeout(start, backoff)
    retry.unref()
    backoff = Math.min(backoff * 2, WATCH_RETRY_MAX_MS)
  }
  start()
  return {
    close: () => {
      stopped = true
      clearTimeout(retry)
      stop?.()
    },
  }
}

// ---------------------------------------------------------------------------------------
// cron claims (the claims bucket): see core/cron-claim.ts

/** Races `op` against `CLAIM_WAIT_MS`: its outcome may come after the wait, and nobody waits for it then. */
async function inTime<T>(op: Promise<T>): Promise<T> {
  op.catch(() => {})
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([op, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer from NATS within ${CLAIM_WAIT_MS} ms`)), CLAIM_WAIT_MS)))])
  } finally {
    clearTimeout(timer)
  }
}

/** A key of a claims bucket: its value as written (undefined when not JSON: its reader refuses it) and revision; undefined when absent or deleted. */
async function readEntry(kv: KV, key: string): Promise<{ value: unknown; revision: number } | undefined> {
  const entry = await inTime(kv.get(key))
  if (!entry || entry.operation !== 'PUT') return undefined
  let value: unknown
  try {
    value = decode<unknown>(entry.value)
  } catch {
    value = undefined
  }
  return { value, revision: entry.revision }
}

/** The claims bucket's part of the link: `claim`, `readClaim`, `updateClaim` (machines/contracts.ts). */
function cronClaims(claims: KV, connected: () => boolean): Pick<ClusterLink, 'claim' | 'readClaim' | 'updateClaim'> {
  return {
    async claim(key, value) {
      if (!connected()) throw new Error('NATS is not reachable')
      try {
        return await inTime(claims.create(key, encode(value)))
      } catch (err) {
        if (lostCompareAndSet(err)) return false
        throw err
      }
    },
    readClaim: (key) => readEntry(claims, key),
    async updateClaim(key, value, revision) {
      try {
        return await inTime(claims.update(key, encode(value), revision))
      } catch (err) {
        if (lostCompareAndSet(err)) return false
        throw err
      }
    },
  }
}

// ---------------------------------------------------------------------------------------
// route claims (the route claims bucket): see core/route-claim.ts

/** The route claims bucket's part of the link: read, create, compare-and-set, delete (machines/contracts.ts). */
function routeClaims(kv: KV, connected: () => boolean): Pick<ClusterLink, 'readRouteClaim' | 'writeRouteClaim' | 'deleteRouteClaim'> {
  return {
    // While NATS is not reachable, not waited for: the route is bound on this engine alone.
    readRouteClaim: (key) => (connected() ? readEntry(kv, key) : Promise.reject(new Error('NATS is not reachable'))),
    async writeRouteClaim(key, value, revision) {
      try {
        return await inTime(revision === undefined ? kv.create(key, encode(value)) : kv.update(key, encode(value), revision))
      } catch (err) {
        if (lostCompareAndSet(err)) return false
        throw err
      }
    },
    async deleteRouteClaim(key, revision) {
      try {
        await inTime(kv.delete(key, { previousSeq: revision }))
        return true
      } catch (err) {
        if (lostCompareAndSet(err)) return false
        throw err
      }
    },
  }
}

/** Connects to NATS and opens the cluster's buckets (creating them if they are not there). */
/** JSON of `data`, or undefined when it is not JSON (a malformed entry or answer, refused by its parser). */
function decodeOrUndefined(data: Uint8Array): unknown {
  try {
    return decode<unknown>(data)
  } catch {
    return undefined
  }
}

export async function openCluster(options: ClusterOptions): Promise<OpenCluster> {
  const { name } = options
  const engine_id = newEngineId(process.pid, randomBytes(6).toString('hex'))
  const servers = options.servers.split(',').map((s) => s.trim()).filter(Boolean)
  let nc: NatsConnection
  try {
    nc = await connect({ servers, name: `signalbox ${name} ${engine_id}`, maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: 5000 })
  } catch (err) {
    throw new ClusterOpenError(`cannot reach NATS at ${options.servers}: ${(err as Error).message}`, 'start nats-server with JetStream (nats-server -js) there, or give --cluster the address of one')
  }
  let claims: KV
  let members: KV
  let routes: KV
  let routeClaimsKv: KV
  let types: KV
  try {
    const kvm = new Kvm(nc)
    const buckets = clusterBuckets(name)
    // A claim is kept 10 min (longer than any tick may be late); an entry outlives its engine's last heartbeat by 10 s.
    // Engines started together all create the buckets: one that loses a create to another is told so, and opens the bucket again (adapters/jetstream-create.ts).
    claims = await createShared(() => kvm.create(buckets.cronClaims, { history: 1, ttl: 600_000 }))
    members = await createShared(() => kvm.create(buckets.engines, { history: 1, ttl: 10_000 }))
    routes = await createShared(() => kvm.create(buckets.routes, { history: 1 }))
    routeClaimsKv = await createShared(() => kvm.create(buckets.routeClaims, { history: 1 }))
    types = await createShared(() => kvm.create(buckets.triggerTypes, { history: 1 }))
  } catch (err) {
    await nc.close().catch(() => {})
    const message = (err as Error).message
    if (/jetstream (is )?not enabled|no responders|503/i.test(message)) throw new ClusterOpenError(`the NATS server at ${options.servers} has no JetStream`, 'start nats-server with -js (or jetstream {} in its config)')
    throw new ClusterOpenError(`cannot open the cluster's buckets on NATS at ${options.servers}: ${message}`, 'check the server with nats-server -js; docs/cluster.md says what the cluster creates')
  }

  // Whether NATS is reachable now: a claim made while it is not is not waited for.
  let connected = true
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') connected = false
      else if (status.type === 'reconnect') connected = true
    }
  })().catch(() => {})

  const warn = options.warn ?? (() => {})
  /**
   * A callback of a subscription, guarded: one that throws inside nats-core's read loop
   * stops the connection's reading, and every later call to this engine would time out.
   */
  const guarded =
    (what: string, callback: (msg: Msg) => void) =>
    (err: Error | null, msg: Msg): void => {
      if (err) return
      try {
        callback(msg)
      } catch (e) {
        warn('cluster: a message could not be handled', { what, subject: msg.subject, err: (e as Error)?.message ?? String(e) })
      }
    }

  const publish = (subject: string, value: unknown, reply?: string) => {
    // A closed connection (the engine stopping) drops it: the caller's timeout answers.
    if (nc.isClosed()) return
    const data = encode(value)
    const max = nc.info?.max_payload
    // nats-core would throw, past the server's limit: said here with the sizes.
    if (max !== undefined && data.length > max) throw new PayloadTooLargeError(data.length, max)
    nc.publish(subject, data, reply === undefined ? undefined : { reply })
  }

  /** Answers a call; an answer NATS refuses (larger than the server's max_payload) is answered with why. */
  const answerOn = (reply: string, answer: RemoteReply, function_id: string) => {
    try {
      publish(reply, answer)
    } catch (err) {
      try {
        publish(reply, { error: errors.engineError(`the answer of '${function_id}' could not cross the cluster: ${(err as Error).message}`) })
      } catch {
        // The connection is gone: the caller's engine answers when the serving engine is taken for gone, or at its timeout.
      }
    }
  }

  return {
    engine_id,
    name,
    call(call: RemoteCall, call_no: number | undefined) {
      publish(callSubject(name, call.function_id), call, call_no === undefined ? undefined : replySubject(name, engine_id, call_no))
    },
    replies(handler) {
      // Other engines ask whether this one is there (see `ping`).
      const pings = nc.subscribe(pingSubject(name, engine_id), { callback: guarded('ping', (msg) => void (msg.reply && publish(msg.reply, 1))) })
      const prefix = replySubject(name, engine_id, 0).slice(0, -1)
      const sub = nc.subscribe(replySubject(name, engine_id), {
        callback: guarded('reply', (msg) => {
          const call_no = Number(msg.subject.slice(prefix.length))
          // NATS itself answers a request nobody subscribes to: status 503, no data.
          if (msg.headers?.code === 503) return handler(call_no, { no_responders: true })
          try {
            handler(call_no, decode<RemoteReply>(msg.data))
          } catch {
            // Not JSON: not from an engine of this cluster.
          }
        }),
      })
      return { close: () => (sub.unsubscribe(), pings.unsubscribe()) }
    },
    serve(function_id, handler) {
      const sub = nc.subscribe(callSubject(name, function_id), {
        queue: callQueueGroup(name),
        callback: guarded('call', (msg) => {
          const reply = msg.reply
          let body: unknown
          try {
            body = decode<unknown>(msg.data)
          } catch (err) {
            // Answered to its sender when it says where; the engine serves on.
            warn('cluster: a call that is not JSON was refused', { function_id, subject: msg.subject })
            if (reply) answerOn(reply, { error: errors.invalidMessage(`cluster: the call of '${function_id}' is not valid JSON: ${(err as Error).message.slice(0, 200)}`) }, function_id)
            return
          }
          const parsed = parseRemoteCall(function_id, body)
          if ('why' in parsed) {
            warn('cluster: a malformed call was refused', { function_id, subject: msg.subject, why: parsed.why })
            if (reply) answerOn(reply, { error: errors.invalidMessage(`cluster: the call of '${function_id}' was refused: ${parsed.why}`) }, function_id)
            return
          }
          handler(parsed.call, reply ? (answer) => answerOn(reply, answer, function_id) : undefined)
        }),
      })
      // Drained, not unsubscribed: the calls NATS already routed here are still answered.
      return { close: () => void (nc.isClosed() ? undefined : sub.drain().catch(() => {})) }
    },
    ...cronClaims(claims, () => connected),
    ...routeClaims(routeClaimsKv, () => connected),
    async beat(info) {
      await members.put(engine_id, encode(info))
    },
    async leave() {
      await members.delete(engine_id)
    },
    members(handler) {
      return watch(members, 'members', warn, () => nc.isClosed(), (key, value, at) => {
        if (value === undefined) return handler(key, undefined, at)
        const info = decode<unknown>(value)
        if (!isMemberInfo(key, info)) throw new Error('not a membership entry')
        handler(key, info, at)
      })
    },
    gather(function_id, data, engines, maxWaitMs) {
      // Until each engine named has answered (by its id), or the time is up: an answer from
      // something else is kept for the actor to refuse, and does not end the wait.
      if (engines.length === 0 || nc.isClosed()) return Promise.resolve([])
      return new Promise((resolve) => {
        const answers: unknown[] = []
        const waiting = new Set(engines)
        const inbox = createInbox()
        let ended = false
        const end = () => {
          if (ended) return
          ended = true
          clearTimeout(timer)
          sub.unsubscribe()
          resolve(answers)
        }
        const timer = setTimeout(end, maxWaitMs)
        const sub = nc.subscribe(inbox, {
          callback: guarded('listing answer', (msg) => {
            // NATS itself: nobody subscribes to the listing subject.
            if (msg.headers?.code === 503) return end()
            let answer: unknown
            try {
              answer = decode(msg.data)
            } catch {
              return warn('cluster: an answer to a listing that is not JSON was refused', { function_id, bytes: msg.data.length })
            }
            answers.push(answer)
            const from = (answer as { engine_id?: unknown } | null)?.engine_id
            if (typeof from === 'string' && waiting.delete(from) && waiting.size === 0) end()
          }),
        })
        try {
          publish(listingSubject(name), { function_id, data, from: engine_id } satisfies ListingRequest, inbox)
        } catch {
          // NATS unreachable: the listing is this engine's part alone.
          end()
        }
      })
    },
    listings(handler) {
      const sub = nc.subscribe(listingSubject(name), {
        callback: guarded('listing', (msg) => {
          if (!msg.reply) return
          const asked = decodeOrUndefined(msg.data)
          if (!v.is(ListingRequest, asked) || asked.from === engine_id) return
          const reply = msg.reply
          handler(asked.function_id, asked.data).then(
            (answer) => answerOn(reply, { engine_id, ...answer } as RemoteReply, asked.function_id),
            () => {},
          )
        }),
      })
      return { close: () => sub.unsubscribe() }
    },
    async ping(other) {
      if (nc.isClosed()) return 'unknown'
      try {
        await nc.request(pingSubject(name, other), undefined, { timeout: 1000 })
        return 'alive'
      } catch (err) {
        // NATS answers a request nobody subscribes to at once: the engine's connection is gone.
        return err instanceof RequestError && err.isNoResponders() ? 'gone' : 'unknown'
      }
    },
    async putRoute(key, entry) {
      if (entry) await routes.put(key, encode(entry))
      else await routes.delete(key)
    },
    routes(handler) {
      return watch(routes, 'routes', warn, () => nc.isClosed(), (key, value) => {
        if (value === undefined) return handler(key, undefined)
        const entry = decode<unknown>(value)
        if (!isRemoteRoute(key, entry)) throw new Error('not a route entry')
        handler(key, entry)
      })
    },
    async claimType(entry, gone) {
      const key = typeBucketKey(entry.trigger_type)
      const value = encode(entry)
      // A few rounds at most: each lost round means another engine changed the key meanwhile.
      for (let round = 0; round < 5; round++) {
        try {
          return { won: true, revision: await types.create(key, value) }
        } catch (err) {
          if (!lostCompareAndSet(err)) throw err
        }
        const current = await types.get(key)
        if (!current || current.operation !== 'PUT') continue
        const parsed = parseRemoteTriggerType(key, decodeOrUndefined(current.value))
        const holder = 'entry' in parsed ? parsed.entry : undefined
        // This engine's own (an earlier worker of it), a malformed entry, or an engine gone: taken over.
        if (holder && holder.engine_id !== engine_id && !(await gone(holder.engine_id))) return { won: false, holder }
        try {
          return { won: true, revision: await types.update(key, value, current.revision) }
        } catch (err) {
          if (!lostCompareAndSet(err)) throw err
        }
      }
      throw new Error(`the key of trigger type '${entry.trigger_type}' kept changing`)
    },
    async deleteType(key, revision) {
      try {
        await types.delete(key, { previousSeq: revision })
      } catch (err) {
        // Taken over since: it is another engine's now.
        if (!lostCompareAndSet(err)) throw err
      }
    },
    types(handler) {
      return watch(types, 'trigger-types', warn, () => nc.isClosed(), (key, value, _at, revision) => {
        if (value === undefined) return handler(key, undefined, revision)
        const parsed = parseRemoteTriggerType(key, decode<unknown>(value))
        if ('why' in parsed) throw new Error(parsed.why)
        handler(key, parsed.entry, revision)
      })
    },
    typeMessages(handler) {
      const sub = nc.subscribe(typeSubject(name, engine_id), {
        callback: guarded('types', (msg) => {
          let body: unknown
          try {
            body = decode<unknown>(msg.data)
          } catch {
            body = undefined
          }
          const parsed = parseTypeMessage(body)
          const reply = msg.reply
          if ('why' in parsed) {
            warn('cluster: a malformed types message was refused', { subject: msg.subject, why: parsed.why })
            if (reply) answerOn(reply, { error: errors.invalidMessage(`cluster: a types message was refused: ${parsed.why}`) }, 'trigger types')
            return
          }
          handler(parsed.message, reply ? (answer) => answerOn(reply, answer as RemoteReply, parsed.message.trigger_type) : undefined)
        }),
      })
      return { close: () => sub.unsubscribe() }
    },
    async sendType(other, message) {
      if (nc.isClosed()) return 'unknown'
      if (message.op !== 'register') {
        publish(typeSubject(name, other), message)
        return 'sent'
      }
      try {
        const answer = await nc.request(typeSubject(name, other), encode(message), { timeout: 2000 })
        return parseTypeAnswer(decodeOrUndefined(answer.data))
      } catch (err) {
        if (err instanceof RequestError && err.isNoResponders()) return 'gone'
        if (err instanceof PayloadTooLargeError) throw err
        return 'unknown'
      }
    },
    async close() {
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close())
    },
  }
}
