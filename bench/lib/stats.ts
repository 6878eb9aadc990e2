/** Small statistics helpers: percentiles by nearest rank, medians, a growable sample buffer. */

/** Nearest-rank percentile of an ascending-sorted array (p in 0..100). */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

export function median(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (finite.length === 0) return NaN
  const mid = finite.length >> 1
  return finite.length % 2 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2
}

/** Latency samples in a growable Float64Array (no per-sample allocation). */
export class Samples {
  private data = new Float64Array(1 << 14)
  length = 0
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2)
      next.set(this.data)
      this.data = next
    }
    this.data[this.length++] = v
  }
  summary(): { n: number; p50: number; p90: number; p99: number; max: number; mean: number } {
    const s = this.data.slice(0, this.length).sort()
    let sum = 0
    for (const v of s) sum += v
    return { n: s.length, p50: percentileSorted(s, 50), p90: percentileSorted(s, 90), p99: percentileSorted(s, 99), max: s.length ? s[s.length - 1] : NaN, mean: s.length ? sum / s.length : NaN }
  }
}

/** Milliseconds from a monotonic clock, sub-millisecond precision. */
export const nowMs = (): number => performance.now()

/** Wall clock in ms with sub-ms precision, comparable across processes on this machine. */
export const wallMs = (): number => performance.timeOrigin + performance.now()

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
