/**
 * The subscriptions of pub/sub: which functions each topic's messages go to, plain
 * (`subscribe`) and durable (`durable:subscriber`) apart. Pure: `provider:pubsub` runs it.
 *
 * A message goes to every distinct function subscribed to its topic, once: two triggers
 * binding one function to a topic (replicas of a worker, or one worker twice) make one
 * subscriber, and the call goes to one of the function's workers, as any call does.
 */

export interface Subscription {
  worker_id: string
  trigger_id: string
  function_id: string
  topic: string
  durable: boolean
  /** The `metadata` of its `registertrigger`, for the calls it starts. */
  metadata?: unknown
}

/** A function a message goes to, with the metadata of its first subscription. */
export interface Subscriber {
  function_id: string
  metadata?: unknown
}

const holderKey = (worker_id: string, trigger_id: string) => `${worker_id}\u0000${trigger_id}`
const topicKey = (topic: string, durable: boolean) => `${durable ? 'durable' : 'plain'}\u0000${topic}`

export class TopicTable {
  private readonly byHolder = new Map<string, Subscription>()
  /** topic (and kind) → holder → subscription, in subscription order. */
  private readonly byTopic = new Map<string, Map<string, Subscription>>()

  /** Number of subscriptions. */
  get size(): number {
    return this.byHolder.size
  }

  /** Adds a subscription; one the same trigger held before is replaced. */
  add(subscription: Subscription): void {
    this.remove(subscription)
    const key = holderKey(subscription.worker_id, subscription.trigger_id)
    this.byHolder.set(key, subscription)
    const tk = topicKey(subscription.topic, subscription.durable)
    let holders = this.byTopic.get(tk)
    if (!holders) this.byTopic.set(tk, (holders = new Map()))
    holders.set(key, subscription)
  }

  /** Removes the subscription of a trigger; returns it, if it had one. */
  remove(holder: { worker_id: string; trigger_id: string }): Subscription | undefined {
    const key = holderKey(holder.worker_id, holder.trigger_id)
    const subscription = this.byHolder.get(key)
    if (!subscription) return undefined
    this.byHolder.delete(key)
    const tk = topicKey(subscription.topic, subscription.durable)
    const holders = this.byTopic.get(tk)
    holders?.delete(key)
    if (holders?.size === 0) this.byTopic.delete(tk)
    return subscription
  }

  /** The distinct functions subscribed to `topic` (plain or durable), in the order they first subscribed. */
  subscribers(topic: string, durable: boolean): Subscriber[] {
    const holders = this.byTopic.get(topicKey(topic, durable))
    if (!holders) return []
    const seen = new Map<string, Subscriber>()
    for (const s of holders.values()) {
      if (!seen.has(s.function_id)) seen.set(s.function_id, s.metadata === undefined ? { function_id: s.function_id } : { function_id: s.function_id, metadata: s.metadata })
    }
    return [...seen.values()]
  }

  /** The inspector's view: topic → its subscriptions, by kind. */
  toJSON() {
    const topics: Record<string, { plain: string[]; durable: string[] }> = {}
    for (const s of this.byHolder.values()) {
      const entry = (topics[s.topic] ??= { plain: [], durable: [] })
      entry[s.durable ? 'durable' : 'plain'].push(`${s.function_id} (${s.worker_id}:${s.trigger_id})`)
    }
    return { topics }
  }
}
