/**
 * Where the worker client says what happens to it that its author should know: attempts to
 * reach an engine that is not up yet, and registrations the engine refused. Anything with
 * pino's calling convention (`log.warn({ ...fields }, 'message')`) will do; by default a
 * worker writes one line per event to standard error.
 */

type LogFn = (fields: Record<string, unknown>, msg: string) => void

/** A logger with pino's calling convention: every message is a whole sentence, the fields say the same as data. */
export interface WorkerLogger {
  info: LogFn
  warn: LogFn
  error: LogFn
}

/** One line per event on standard error: `signalbox worker 'mailer': <message>`. */
export function stderrLogger(name?: string): WorkerLogger {
  const line: LogFn = (_fields, msg) => void process.stderr.write(`signalbox worker${name === undefined ? '' : ` '${name}'`}: ${msg}\n`)
  return { info: line, warn: line, error: line }
}

/** A logger that says nothing. */
export const silentLogger: WorkerLogger = { info: () => {}, warn: () => {}, error: () => {} }
