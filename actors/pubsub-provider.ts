/**
 * `provider:pubsub`: the topics of pub/sub (core/topic-table.ts is its snapshot). Sessions'
 * `subscribe` and `durable:subscriber` children add and remove subscriptions; `publish`
 * and `iii::durable::publish` (actors/engine-functions.ts) ask it to deliver a message.
 *
 * - `publish`: one call per distinct subscribed function, now, with the data as its input
 *   (to one of the function's workers, as any call). Its answer is not waited for; a
 *   failure is logged. A function nobody offers at that moment misses the message.
 * - `iii::durable::publish`: one copy per distinct subscribed function, stored on that
 *   subscriber's own queue (`durable:<topic>:<function_id>`) in `provider:queue`, which
 *   consumes it for the subscriber's trigger with the queue's delivery rules (its
 *   `queue_config`): retried with backoff until its receives are used up, then a dead
 *   letter; kept across restarts by a durable store; waiting while no worker offers the
 *   function or its trigger is gone. The publish is answered once every copy is stored.
 */
import type { EventObject } from 'xstate'
import type { ErrorBody } from '../protocol/messages.js'
import { errors } from '../protocol/errors.js'
import { durableQueueName } from '../core/pubsub-config.js'
import { TopicTable, type Subscriber } from '../core/topic-table.js'
import type { MessageContext } from '../core/queue-store.js'
import type { PubsubProviderEvent } from '../machines/contracts.js'
import { actorsOf, tell } from '../machines/system.js'
import { fromTable, type TableScope } from './table-actor.js'

type Scope = TableScope<TopicTable, undefined, EventObject>

const log = (scope: Scope, level: 'info' | 'warn', msg: string, data: Record<string, unknown>) => scope.sendBack({ type: 'engine.log', level, msg, data })

/** One call per subscriber, now; a failed one is logged. */
function deliver(scope: Scope, topic: string, data: unknown, subscribers: Subscriber[], context: MessageContext | undefined): void {
  const invocations = actorsOf(scope.system).invocations()
  for (const { function_id, metadata } of subscribers) {
    invocations?.send({
      type: 'invocation.start',
      source: 'pubsub',
      function_id,
      data,
      // The subscription's metadata, as other triggers pass theirs; the publisher's trace context.
      metadata,
      traceparent: context?.traceparent,
      baggage: context?.baggage,
      caller: {
        reply: (outcome) => {
          if (outcome.error !== undefined) log(scope, 'warn', 'published message failed', { topic, function_id, error: outcome.error })
        },
      },
    })
  }
}

/** One copy per subscriber, on its own queue; `reply` once all are stored (or with the first failure). */
function store(scope: Scope, topic: string, data: unknown, subscribers: Subscriber[], context: MessageContext | undefined, reply: (answer: { result: null } | { error: ErrorBody }) => void): void {
  if (subscribers.length === 0) return reply({ result: null })
  const queue = actorsOf(scope.system).queueProvider()
  if (!queue) return reply({ error: errors.queueUnavailable() })
  let pending = subscribers.length
  let failure: ErrorBody | undefined
  for (const { function_id } of subscribers) {
    queue.send({
      type: 'queue.send',
      queue_name: durableQueueName(topic, function_id),
      body: data,
      context,
      reply: (answer) => {
        if ('error' in answer) failure ??= answer.error
        if (--pending === 0) reply(failure ? { error: failure } : { result: null })
      },
    })
  }
}

export const pubsubProviderLogic = fromTable<TopicTable, PubsubProviderEvent, undefined, EventObject>({
  context: () => new TopicTable(),
  receive(scope, event) {
    const table = scope.context
    switch (event.type) {
      case 'topic.subscribe': {
        const { worker_id, trigger_id, function_id, metadata, topic, queue } = event
        const durable = queue !== undefined
        table.add(metadata === undefined ? { worker_id, trigger_id, function_id, topic, durable } : { worker_id, trigger_id, function_id, topic, durable, metadata })
        // A durable subscriber's queue is consumed by provider:queue, which answers the registration.
        if (queue) return tell(actorsOf(scope.system).queueProvider(), { type: 'queue.consume', worker_id, trigger_id, function_id, metadata, config: queue })
        tell(actorsOf(scope.system).trigger(worker_id, trigger_id), { type: 'trigger.activated' })
        return
      }
      case 'topic.unsubscribe':
        if (table.remove(event)?.durable) tell(actorsOf(scope.system).queueProvider(), { type: 'queue.stop', worker_id: event.worker_id, trigger_id: event.trigger_id })
        return
      case 'topic.publish': {
        const subscribers = table.subscribers(event.topic, event.durable)
        if (event.durable) return store(scope, event.topic, event.data, subscribers, event.context, event.reply)
        deliver(scope, event.topic, event.data, subscribers, event.context)
        event.reply({ result: null })
        return
      }
    }
  },
})
