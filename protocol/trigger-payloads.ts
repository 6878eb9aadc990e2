/**
 * What each built-in trigger type hands the function it calls, and what the function may
 * answer (docs/protocol.md, section 7), as valibot schemas with their inferred types. The
 * engine builds the inputs to these shapes (actors/http-exchange.ts, actors/cron-provider.ts,
 * actors/queue-provider.ts); the worker SDK exports the types and types its handlers with
 * them (`registerFunction(id, handler, { trigger_type: 'http' })`).
 */
import * as v from 'valibot'

const headerValues = v.optional(v.union([v.string(), v.array(v.string())]))

/** One end of a data channel, as iii-sdk turns it into a stream: open it at `/ws/channels/<channel_id>?key=<access_key>&dir=<direction>` on the worker port. */
export const ChannelRefSchema = v.object({ channel_id: v.string(), access_key: v.string(), direction: v.picklist(['read', 'write']) })
export interface ChannelRef extends v.InferOutput<typeof ChannelRefSchema> {}

/** What an `http` trigger's function receives: the request, its body decoded (JSON, form, text, or `{$binary}`). */
export const HttpRequestSchema = v.object({
  /** `GET`, `POST`, … in capitals. */
  method: v.string(),
  /** The path as requested, without the query. */
  path: v.string(),
  /** The route's parameters (`/users/:id` → `{id}`), URL-decoded; a trailing `*` as `'*'`. */
  path_params: v.record(v.string(), v.string()),
  /** The query; a repeated key gives an array. */
  query_params: v.record(v.string(), v.union([v.string(), v.array(v.string())])),
  /** Headers by lower-case name. */
  headers: v.record(v.string(), headerValues),
  /** `null` when empty; parsed JSON; a form as an object; text as a string; other bytes as `{$binary, content_type}`; `null` when streamed. */
  body: v.unknown(),
  /** The request body as a stream: the read end of a data channel (iii's). */
  request_body: v.optional(ChannelRefSchema),
  /** Where the function may stream its response: the write end of a data channel (iii's). */
  response: v.optional(ChannelRefSchema),
})
/** (An interface over the inferred type, so that editors and compiler messages call it by its name.) */
export interface HttpRequest extends v.InferOutput<typeof HttpRequestSchema> {}

/** A body of bytes, base64 in `$binary`: how a function receives (and may answer) what is neither JSON, a form nor text. */
export const BinaryBodySchema = v.object({ $binary: v.string(), content_type: v.optional(v.string()) })
export interface BinaryBody extends v.InferOutput<typeof BinaryBodySchema> {}

/**
 * What an `http` trigger's function answers: `status_code` (200–599; default 200, or 204
 * without a body), `headers` (a map, or a list of `Name: value` lines), `body` (an object
 * or array goes out as JSON, a string as text, `{$binary}` as bytes).
 */
export const HttpResponseSchema = v.object({
  status_code: v.optional(v.number()),
  headers: v.optional(v.union([v.record(v.string(), v.union([v.string(), v.number(), v.array(v.string())])), v.array(v.string())])),
  body: v.optional(v.unknown()),
})
export interface HttpResponse extends v.InferOutput<typeof HttpResponseSchema> {}

/** What a `cron` trigger's function receives at each run. Times are ISO 8601 in UTC. */
export const CronEventSchema = v.object({
  trigger_id: v.string(),
  /** The tick's time, shared by every trigger on the same schedule. */
  scheduled_time: v.string(),
  /** When this trigger's run started. */
  actual_time: v.string(),
  /** The schedule's IANA time zone (default `UTC`). */
  timezone: v.string(),
})
export interface CronEvent extends v.InferOutput<typeof CronEventSchema> {}

/** One message of a queue batch. */
export const QueueMessageSchema = v.object({
  message_id: v.string(),
  body: v.unknown(),
  /** How many times it has been delivered, this time included (1 the first time). */
  receive_count: v.number(),
  /** When it was sent, ISO 8601. */
  enqueued_at: v.string(),
})
/** One message of a queue batch; `T` is the type of the bodies sent to the queue. */
export interface QueueMessage<T = unknown> extends Omit<v.InferOutput<typeof QueueMessageSchema>, 'body'> {
  body: T
}

/** What a `queue` trigger's function receives: up to `batch_size` messages of one queue. */
export const QueueBatchSchema = v.object({ queue_name: v.string(), messages: v.array(QueueMessageSchema) })
export interface QueueBatch<T = unknown> extends Omit<v.InferOutput<typeof QueueBatchSchema>, 'messages'> {
  messages: Array<QueueMessage<T>>
}

/**
 * What a `queue` trigger's function may answer: nothing (or anything else) acknowledges the
 * whole batch; `failed_message_ids` fails those messages (they come back after their
 * visibility timeout, or go to the dead-letter queue). Throwing fails them all.
 */
export const QueueResultSchema = v.object({ failed_message_ids: v.optional(v.array(v.string())) })
export interface QueueResult extends v.InferOutput<typeof QueueResultSchema> {}
