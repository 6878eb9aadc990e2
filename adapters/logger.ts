/**
 * The engine's logger: pino, one structured record per line. In a terminal the records
 * are pretty-printed (pino-pretty), still one line each; otherwise they are JSON with a string `level`, an ISO
 * `time` and `msg`. Anything with pino's calling convention (`log.warn({ ...fields },
 * 'message')`) can stand in for it.
 */
import { pino } from 'pino'
import pretty from 'pino-pretty'
import type { Logger, LogLevel } from '../core/options.js'

export type { Logger, LogLevel }

export interface LoggerOptions {
  /** Pretty-print for people. Default: when standard error is a terminal. */
  pretty?: boolean
}

/** A pino logger writing to standard error at or above `level`. */
export function createLogger(level: LogLevel = 'info', options: LoggerOptions = {}): Logger {
  const human = options.pretty ?? process.stderr.isTTY === true
  // Pretty: one line per record, every field after the message (errors too, which
  // pino-pretty would otherwise spread over several lines).
  const stream = human
    ? pretty({ destination: 2, sync: true, colorize: true, singleLine: true, errorLikeObjectKeys: [], translateTime: 'SYS:HH:MM:ss.l' })
    : pino.destination({ dest: 2, sync: true })
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  )
}
