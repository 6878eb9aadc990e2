/**
 * Why the engine could not open what it starts on: its queue store (`StoreOpenError`) or
 * its cluster's NATS (`ClusterOpenError`). Each carries a hint that fixes it. They live
 * here, apart from the adapters that throw them, so that telling them apart (as
 * `signalbox serve` does) loads neither the NATS client nor SQLite.
 */

/** Why the store could not be opened: the server is not there, or has no JetStream; the SQLite file is another engine's. */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError'
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message)
  }
}

/** Why the engine could not join its cluster: NATS is not there, or has no JetStream. */
export class ClusterOpenError extends Error {
  override readonly name = 'ClusterOpenError'
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message)
  }
}
