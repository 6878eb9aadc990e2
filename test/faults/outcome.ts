/**
 * What a fault scenario reports when it passed: one row of RELIABILITY.md. The scenario's
 * assertions have already held by then (it throws otherwise); these are the words and
 * figures that describe what it did.
 */
export interface Outcome {
  /** The scenario, as the table's first column names it. */
  title: string
  /** The load it ran under. */
  load: string
  /** The faults it injected. */
  faults: string
  /** The bad inputs it tried ('-' when none). */
  badInputs: string
  /** What was lost: 'nothing', each time, or the scenario fails. */
  lost: string
  /** Figures by name (`calls survived`, `frames fuzzed`, …). */
  figures: Array<[string, string]>
  /** Memory of the engine process, when measured: heap after collection at the start and end, peak RSS. */
  memory?: { heapStart?: number; heapEnd?: number; peakRss?: number; rssEnd?: number }
  seconds: number
}

export const fmt = {
  int: (v: number) => Math.round(v).toLocaleString('en-US'),
  mb: (bytes: number | undefined) => (bytes === undefined || !Number.isFinite(bytes) ? '-' : `${(bytes / 1024 / 1024).toFixed(1)} MB`),
  ms: (v: number) => `${Math.round(v)} ms`,
  pct: (ratio: number) => `${ratio >= 0 ? '+' : ''}${(ratio * 100).toFixed(1)} %`,
}
