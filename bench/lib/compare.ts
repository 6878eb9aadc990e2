/**
 * The engine against its baselines, figure by figure. A baseline relay runs in several
 * modes (how it corks its sockets, adapters/corked-send.ts; with the engine's node flags or
 * node's defaults, bench/lib/relays.ts); for each figure the mode that
 * does best on it is the baseline, so a ratio never flatters the engine. The ratio is
 * paired: each round measures the engine and every baseline one after another, the ratio
 * is taken within the round, and the median of the rounds' ratios is reported with their
 * spread, so drift in the machine's load between rounds cancels out.
 */
import { median } from './stats.js'

export interface Compared {
  /** The baseline mode that does best on this figure (by its median over rounds). */
  mode: string
  engine: number
  baseline: number
  /** Median of the per-round ratios engine ÷ baseline. */
  ratio: number
  /** Smallest and largest per-round ratio. */
  spread: [number, number]
  /** Every baseline mode's median, for the report. */
  modes: Record<string, number>
}

/**
 * `rounds[target]` holds one measurement per round (the same rounds for every target).
 * `better` says whether a higher (throughput) or lower (latency, CPU) figure is better.
 */
export function compare<T extends Record<string, number>>(rounds: Record<string, T[]>, engine: string, baselines: string[], key: keyof T, better: 'higher' | 'lower'): Compared {
  const med = (target: string) => median((rounds[target] ?? []).map((m) => m[key]))
  const modes: Record<string, number> = {}
  for (const b of baselines) modes[b] = med(b)
  const present = baselines.filter((b) => Number.isFinite(modes[b]))
  const best = present.reduce((a, b) => ((better === 'higher' ? modes[b] > modes[a] : modes[b] < modes[a]) ? b : a), present[0])
  const ratios = (rounds[engine] ?? []).map((m, i) => m[key] / (rounds[best]?.[i]?.[key] ?? NaN)).filter((r) => Number.isFinite(r))
  return {
    mode: best,
    engine: med(engine),
    baseline: modes[best],
    ratio: median(ratios),
    spread: ratios.length ? [Math.min(...ratios), Math.max(...ratios)] : [NaN, NaN],
    modes,
  }
}

/** `0.93× (0.88–0.97×)`: the paired median and its spread. */
export const ratioText = (c: Compared): string =>
  Number.isFinite(c.ratio) ? `${c.ratio.toFixed(2)}× (${c.spread[0].toFixed(2)}–${c.spread[1].toFixed(2)})` : 'n/a'
