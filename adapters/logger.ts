/**
 * The engine's logger: structured records, one JSON line each, with the pino calling
 * convention (`log.warn({ ...fields }, 'message')`) so any pino logger can stand in.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'
type LogFn = (fields: Record<string, unknown>, msg: string) => void
export interface Logger {
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

/** A logger writing JSON lines at or above `level` to `write` (default: standard error). */
export function createLogger(level: LogLevel = 'info', write: (line: string) => void = (line) => process.stderr.write(line + '\n')): Logger {
  const at = (lvl: Exclude<LogLevel, 'silent'>): LogFn =>
    rank[lvl] < rank[level]
      ? () => {}
      : (fields, msg) => {
          let line: string
          try {
            line = JSON.stringify({ level: lvl, time: new Date().toISOString(), msg, ...fields })
          } catch {
            line = JSON.stringify({ level: lvl, time: new Date().toISOString(), msg })
          }
          write(line)
        }
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}
