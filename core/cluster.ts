/**
 * The cluster's pure part: the membership table each engine keeps (who beat last when, who
 * is gone, who provides each worker-defined trigger type). What engines send each other,
 * and the names of subjects and buckets, are protocol/cluster.ts; the NATS side is
 * adapters/cluster.ts; the actor that holds the subscriptions is actors/cluster.ts;
 * docs/cluster.md has the design.
 */
import { typeBucketKey, type MemberInfo, type RemoteTriggerType } from '../protocol/cluster.js'

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

  toJSON() {
    return this.list()
  }
}
