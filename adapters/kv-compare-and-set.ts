/**
 * What a lost compare-and-set on a NATS KV bucket looks like. A `create` (the key must not
 * be there) or an `update` at a revision (the key must not have changed since) that
 * another writer beat is refused by nats-server with JetStream API error 10071 ("wrong
 * last sequence") or 10164 (the same, with the last sequence unknown): the codes
 * `@nats-io/kv` itself reads as "the key exists" in its `create`.
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream'

/** Whether `err` says a KV create or update lost its compare-and-set (10071, 10164; or, for an error without its code, by its text). */
export const lostCompareAndSet = (err: unknown): boolean =>
  (err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)) ||
  /wrong last sequence|key exists/i.test(String((err as Error | undefined)?.message))
