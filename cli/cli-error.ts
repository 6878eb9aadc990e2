/**
 * An error the command line reports to a person: one line saying what was wrong, then one
 * line with the hint that fixes it, and an exit code: 2 when the command line (or the
 * configuration) made no sense, 1 when the command failed.
 */
export class CliError extends Error {
  override readonly name = 'CliError'
  constructor(
    message: string,
    /** What to do about it, if there is something to say. */
    readonly hint?: string,
    /** 2: a command line or configuration that makes no sense; 1: the command failed. */
    readonly exitCode: 1 | 2 = 2,
  ) {
    super(message)
  }

  /** The text for standard error: `signalbox: <message>` and, on its own line, `hint: <hint>`. */
  render(): string {
    return `signalbox: ${this.message}\n${this.hint ? `hint: ${this.hint}\n` : ''}`
  }
}
