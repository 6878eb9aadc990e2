/**
 * Log records that name workers the way people know them: every record with a
 * `worker_id` also gets `worker`, the name the worker gave (`connectWorker(url, { name })`,
 * iii-sdk's `engine::workers::register`), read from the catalog when the record is written.
 * A name is remembered until its worker's session closes, so the close record still has it
 * (the worker has left the catalog by then).
 */
import type { Logger } from '../core/options.js'

type LogFn = Logger['info']

/** Names remembered for records written after their worker left the catalog, at most. */
const MAX_KNOWN = 10_000

/** `log` with `worker` added to records that carry a `worker_id`; `nameOf` reads the catalog. */
export function namingWorkers(log: Logger, nameOf: (worker_id: string) => string | undefined): Logger {
  const known = new Map<string, string>()
  // pino says whether a level is written at all; a record that is not is not looked at.
  const enabled = (level: string) => (log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.(level) ?? true
  const named = (write: LogFn, level: string): LogFn => (fields, msg) => {
    if (!enabled(level)) return
    const worker_id = fields.worker_id
    if (typeof worker_id !== 'string' || fields.worker !== undefined) return write(fields, msg)
    const name = nameOf(worker_id) ?? known.get(worker_id)
    if (name !== undefined && msg !== 'session closed') {
      known.set(worker_id, name)
      // Bounded: a close whose record is not written (its level is off) leaves its name here.
      if (known.size > MAX_KNOWN) known.delete(known.keys().next().value!)
    } else known.delete(worker_id)
    write(name === undefined ? fields : { worker: name, ...fields }, msg)
  }
  return { debug: named(log.debug.bind(log), 'debug'), info: named(log.info.bind(log), 'info'), warn: named(log.warn.bind(log), 'warn'), error: named(log.error.bind(log), 'error') }
}
