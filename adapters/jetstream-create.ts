/**
 * Creating a JetStream stream (a KV bucket is one) that another engine may be creating at
 * the same moment. The engines of a cluster started together on a fresh NATS server all
 * create its buckets (and, with the JetStream store, its queue stream), and nats-server
 * now and then answers one of two creates of the same stream that it handles at once with
 * "subjects overlap with an existing stream" (JetStream API error 10065), though the
 * stream the other engine made is the very one asked for: about 1 create in 200 with six
 * engines starting at once (test/jetstream-create.test.ts), and an engine that got it did
 * not start. Tried again, the create finds that stream and opens it.
 */
import { JetStreamApiError } from '@nats-io/jetstream'

/** Whether a create failed only because another create of the same stream ran at once (10065, or 10058: the name already in use). */
export const lostCreateRace = (err: unknown): boolean =>
  (err instanceof JetStreamApiError && (err.code === 10065 || err.code === 10058)) || /subjects overlap with an existing stream|stream name already in use/i.test(String((err as Error | undefined)?.message))

/**
 * Runs `create` (which finds the stream if it exists and makes it if not) and, while it
 * fails for a concurrent create (`lostCreateRace`), runs it again after 20, 40, … ms, up
 * to `attempts` times in all (default 5); any other error, or the last, is thrown.
 */
export async function createShared<T>(create: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await create()
    } catch (err) {
      if (attempt >= attempts || !lostCreateRace(err)) throw err
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt))
    }
  }
}
