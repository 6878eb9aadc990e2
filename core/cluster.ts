/**
 * The cluster's pure part: the table the cluster actor keeps (actors/cluster.ts), which is
 * its snapshot: the membership (who beat last when, who is gone, who provides each
 * worker-defined trigger type), the calls this engine sent to other engines, the types its
 * own workers provide as claimed in the types bucket, its route claims, and the cron ticks
 * it follows. What engines send each other, and the names of subjects and buckets, are
 * protocol/cluster.ts; the NATS side is adapters/cluster.ts; docs/cluster.md has the design.
 */
import { typeBucketKey, type CallSource, type MemberInfo, type RemoteTriggerType } from '../protocol/cluster.js'
import { EngineRouteClaims } from './route-claim.js'

/** A message NATS would refuse: larger than the server's `max_payload`. */
export class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError'
  constructor(
    readonly bytes: number,
    readonly max: number,
  ) {
    super(`the message is ${bytes} bytes, more than the NATS server's max_payload of ${max}`)
  }
}

/**
 * The engines of the cluster as one engine sees them: each member's last entry and when
 * it was last heard of (its heartbeat, on this engine's clock). A member not heard of for
 * `deadAfterMs` is gone, as is one whose entry was deleted (a clean stop).
 */
export class Membership {
  private readonly members = new Map<string, { info: MemberInfo; seen: number }>()
  /** How many members offer each function. */
  private readonly offered = new Map<string, number>()
  /** Changes whenever a function comes to be offered in the cluster, or is offered no more (not at every heartbeat). */
  offeredVersion = 0
  /** The types bucket as the watch brought it, by key: who provides each worker-defined type, anywhere in the cluster. */
  private readonly types = new Map<string, RemoteTriggerType>()

  /** @param self this engine's id; @param deadAfterMs how long a member may go unheard before it is gone. */
  constructor(
    readonly self: string,
    readonly deadAfterMs: number,
  ) {}

  /** An entry was written at `now`: returns true when the engine is new. */
  beat(info: MemberInfo, now: number): boolean {
    const known = this.members.get(info.engine_id)
    // Counted up first: a function still offered never drops to none between the two.
    this.count(info.functions, 1)
    if (known) this.count(known.info.functions, -1)
    this.members.set(info.engine_id, { info, seen: now })
    return !known
  }

  /** The engine left (its entry deleted): returns true when it was a member. */
  leave(engine_id: string): boolean {
    const known = this.members.get(engine_id)
    if (!known) return false
    this.count(known.info.functions, -1)
    return this.members.delete(engine_id)
  }

  /** Whether an engine other than this one offers `function_id`, as its last entry said. */
  offers(function_id: string): boolean {
    const n = this.offered.get(function_id) ?? 0
    if (n === 0) return false
    return n > (this.members.get(this.self)?.info.functions.includes(function_id) ? 1 : 0)
  }

  private count(functions: readonly string[] | undefined, by: 1 | -1): void {
    for (const id of functions ?? []) {
      const was = this.offered.get(id) ?? 0
      const n = was + by
      if (n > 0) this.offered.set(id, n)
      else this.offered.delete(id)
      if ((was > 0) !== (n > 0)) this.offeredVersion++
    }
  }

  /** A key of the types bucket was written (`entry`) or deleted: returns what it held before. */
  setType(key: string, entry: RemoteTriggerType | undefined): RemoteTriggerType | undefined {
    const before = this.types.get(key)
    if (entry) this.types.set(key, entry)
    else this.types.delete(key)
    return before
  }

  /**
   * Who provides `trigger_type` on another engine that is a member: the types bucket's
   * entry, unless it is this engine's own (the catalog says those) or its engine is not
   * (or no longer) a member.
   */
  typeHolder(trigger_type: string): RemoteTriggerType | undefined {
    const entry = this.types.get(typeBucketKey(trigger_type))
    return entry && entry.engine_id !== this.self && this.members.has(entry.engine_id) ? entry : undefined
  }

  /** The types bucket's entries that name `engine_id`, with their keys. */
  typesOf(engine_id: string): Array<[string, RemoteTriggerType]> {
    return [...this.types].filter(([, entry]) => entry.engine_id === engine_id)
  }

  /** The worker-defined types other member engines provide (for a refusal's suggestion). */
  remoteTypes(): string[] {
    return [...this.types.values()].filter((e) => e.engine_id !== this.self && this.members.has(e.engine_id)).map((e) => e.trigger_type)
  }

  /** Removes and returns the members not heard of since `now - deadAfterMs` (never this engine). */
  expire(now: number): string[] {
    const gone: string[] = []
    for (const [id, { seen }] of this.members) {
      if (id !== this.self && now - seen > this.deadAfterMs) {
        this.leave(id)
        gone.push(id)
      }
    }
    return gone
  }

  has(engine_id: string): boolean {
    return this.members.has(engine_id)
  }

  /** The members, by engine id, oldest first. */
  list(): MemberInfo[] {
    return [...this.members.values()].map((m) => m.info).sort((a, b) => a.started_at.localeCompare(b.started_at) || a.engine_id.localeCompare(b.engine_id))
  }

  /**
   * What the inspector shows: `members`, each as its last heartbeat said; `trigger_types`,
   * the types bucket as the watch brought it, sorted by type: who provides each
   * worker-defined type (`worker_id`, `worker`) on which engine (`engine_id`), and whether
   * that engine is a member (`member`: false while its key outlives it).
   */
  toJSON() {
    return {
      members: this.list(),
      trigger_types: [...this.types.values()]
        .map((entry) => ({ ...entry, member: this.members.has(entry.engine_id) }))
        .sort((a, b) => (a.trigger_type < b.trigger_type ? -1 : a.trigger_type > b.trigger_type ? 1 : 0)),
    }
  }
}

/**
 * One call this engine sent to another engine of the cluster, waiting for its answer. The
 * cluster actor's record of a call extends it with what it needs to answer the call (its
 * callback, its timer): one object per call.
 */
export interface CallAcross {
  readonly function_id: string
  readonly source: CallSource
  /** `performance.now()` when it was sent. */
  readonly started: number
  /** Its timeout (ms): it fails `invocation_timeout` here after that. */
  readonly timeout_ms: number
  /** The engine that took it, once that engine said so (`{taken}`). */
  taken_by?: string
}

/**
 * The calls this engine sent to other engines, by number (the last token of their reply
 * subject), until each is answered, fails or times out. Void calls are never here (nobody
 * answers them).
 */
export class CallsAcross<C extends CallAcross = CallAcross> {
  private readonly calls = new Map<number, C>()
  private next = 0

  get size(): number {
    return this.calls.size
  }

  /** Records a call about to be sent; returns its number. */
  open(call: C): number {
    const call_no = ++this.next
    this.calls.set(call_no, call)
    return call_no
  }

  get(call_no: number): C | undefined {
    return this.calls.get(call_no)
  }

  /** Removes a call (answered, failed or timed out) and returns it; undefined when it was not here. */
  close(call_no: number): C | undefined {
    const call = this.calls.get(call_no)
    if (call) this.calls.delete(call_no)
    return call
  }

  /** The numbers of the calls in flight. */
  numbers(): number[] {
    return [...this.calls.keys()]
  }

  /** The numbers of the calls `engine_id` took. */
  takenBy(engine_id: string): number[] {
    const numbers: number[] = []
    for (const [call_no, call] of this.calls) if (call.taken_by === engine_id) numbers.push(call_no)
    return numbers
  }

  /** The engines that took calls of this one and have not answered them yet. */
  holders(): Set<string> {
    const engines = new Set<string>()
    for (const call of this.calls.values()) if (call.taken_by !== undefined) engines.add(call.taken_by)
    return engines
  }

  /**
   * The calls as the inspector shows them at `clock` (a `performance.now()`), oldest first:
   * `call_no`, `function_id`, `source`, `engine_id` (the engine that took it; null until
   * one did), `age_ms` (how long it has been in flight, whole ms), `timeout_ms`.
   */
  view(clock: number) {
    return [...this.calls].map(([call_no, c]) => ({
      call_no,
      function_id: c.function_id,
      source: c.source,
      engine_id: c.taken_by ?? null,
      age_ms: Math.max(0, Math.round(clock - c.started)),
      timeout_ms: c.timeout_ms,
    }))
  }

  toJSON() {
    return this.view(performance.now())
  }
}

/** A worker-defined type a local worker provides, as claimed in the types bucket. */
export interface OwnType {
  worker_id: string
  /** The key's revision once the claim is won; undefined while it is being made (or failed, to be made again). */
  revision?: number
  claiming: boolean
  /** Its worker provides it no more: its key is being deleted. */
  releasing?: boolean
}

/**
 * Where an own type's claim stands: `claiming` (the create is on its way), `held` (the key
 * is this engine's, at `revision`), `releasing` (its key is being deleted), `unclaimed` (a
 * claim NATS could not make: made again at the next heartbeat).
 */
export const ownTypeClaim = (own: OwnType): 'claiming' | 'held' | 'releasing' | 'unclaimed' =>
  own.releasing ? 'releasing' : own.claiming ? 'claiming' : own.revision !== undefined ? 'held' : 'unclaimed'

/**
 * The cluster actor's table, its snapshot: the membership, the calls in flight to other
 * engines, the types this engine's workers provide as claimed in the types bucket, this
 * engine's route claims, and the cron ticks it lost and follows. Changed in place by the
 * actor as its events and NATS's answers come; `toJSON` is what the inspector shows.
 */
export class ClusterTable<C extends CallAcross = CallAcross> {
  readonly membership: Membership
  readonly calls = new CallsAcross<C>()
  /** The types local workers provide, claimed (or being claimed) in the types bucket, by type. */
  readonly ownTypes = new Map<string, OwnType>()
  /** The claims of routes this engine's http triggers hold (core/route-claim.ts). */
  readonly routeClaims = new EngineRouteClaims()
  /** The cron ticks this engine lost and follows until they are done, taken over, or their window ends: by claim key, the window's end (ms since the epoch). */
  readonly cronTicks = new Map<string, number>()

  /** @param self this engine's id; @param deadAfterMs how long a member may go unheard before it is gone. */
  constructor(self: string, deadAfterMs: number) {
    this.membership = new Membership(self, deadAfterMs)
  }

  /**
   * What the inspector shows at `clock` (a `performance.now()`): `engine_id` (this
   * engine), `members` and `trigger_types` (`Membership.toJSON`), `own_types` (each type a
   * local worker provides: its worker, where its claim stands (`ownTypeClaim`), and the
   * key's revision once held), `calls` (`CallsAcross.view`), `route_claims`
   * (`EngineRouteClaims.toJSON`), `cron_ticks` (each followed tick's claim key and the end
   * of its window, ISO).
   */
  view(clock: number) {
    return {
      engine_id: this.membership.self,
      ...this.membership.toJSON(),
      own_types: [...this.ownTypes].map(([trigger_type, own]) => ({ trigger_type, worker_id: own.worker_id, claim: ownTypeClaim(own), ...(own.revision === undefined ? {} : { revision: own.revision }) })),
      calls: this.calls.view(clock),
      route_claims: this.routeClaims.toJSON(),
      cron_ticks: [...this.cronTicks].map(([key, until]) => ({ key, until: new Date(until).toISOString() })),
    }
  }

  toJSON() {
    return this.view(performance.now())
  }
}

