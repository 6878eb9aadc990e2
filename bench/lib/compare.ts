/**
 * The engine against its baselines, figure by figure. A baseline relay runs in several
 * modes (how it corks its sockets, adapters/corked-send.ts; with the engine's node flags or
 * node's defaults, bench/lib/relays.ts); for each figure the mode that does best on it is
 * the baseline, so a ratio never flatters the engine. The ratio is paired: each round
 * measures the engine and every baseline one after another, the ratio is taken within the
 * round, and the median of the rounds' ratios is reported with their spread, so drift in
 * the machine's load between rounds cancels out.
 *
 * Which mode is best is decided without the round it is compared in (leave one out): for
 * round i, the mode with the best median over the other rounds is the baseline, and the
 * engine's figure of round i is divided by that mode's figure of round i. Picking the best
 * mode by the same rounds it is then compared in would pick, among modes that are equally
 * fast, the one whose rounds the noise favoured, and would then compare the engine against
 * that luck: in the run of 2026-12-01 03:18 (eight modes, 9 rounds of 2 s), the relay's own
 * modes, each compared so with the best of the others, came out at 0.93–1.01× on round-trip
 * calls/s at 1 in flight, and the engine at 0.87×; left out, 0.96–1.13× and 0.92×
 * (bench/NOTES.md).
 */
import { median } from './stats.js'

export interface Compared {
  /** The baseline mode picked most often (by its median over the other rounds). */
  mode: string
  /** In how many of the rounds `mode` was the pick (the others picked another mode). */
  picked: number
  /** How many rounds were compared. */
  rounds: number
  engine: number
  /** Median over rounds of the picked mode's figure in that round. */
  baseline: number
  /** Median of the per-round ratios engine ÷ baseline. */
  ratio: number
  /** Smallest and largest per-round ratio. */
  spread: [number, number]
  /** Every baseline mode's median over all rounds, for the report. */
  modes: Record<string, number>
}

type Rounds<T> = Record<string, T[]>

/** The best of `baselines` on `key` by their medians over every round but `skip` (-1: every round). */
function bestMode<T extends Record<string, number>>(rounds: Rounds<T>, baselines: string[], key: keyof T, better: 'higher' | 'lower', skip: number): string | undefined {
  let best: string | undefined
  let bestValue = NaN
  for (const b of baselines) {
    const value = median((rounds[b] ?? []).filter((_, i) => i !== skip).map((m) => m[key]))
    if (!Number.isFinite(value)) continue
    if (best === undefined || (better === 'higher' ? value > bestValue : value < bestValue)) [best, bestValue] = [b, value]
  }
  return best
}

/**
 * `rounds[target]` holds one measurement per round (the same rounds for every target).
 * `better` says whether a higher (throughput) or lower (latency, CPU) figure is better.
 */
export function compare<T extends Record<string, number>>(rounds: Rounds<T>, engine: string, baselines: string[], key: keyof T, better: 'higher' | 'lower'): Compared {
  const modes: Record<string, number> = {}
  for (const b of baselines) modes[b] = median((rounds[b] ?? []).map((m) => m[key]))
  const ratios: number[] = []
  const picks = new Map<string, number>()
  const baselineValues: number[] = []
  for (const [i, m] of (rounds[engine] ?? []).entries()) {
    // With one round there is nothing to leave it out of: the pick is by that round.
    const pick = bestMode(rounds, baselines, key, better, (rounds[engine]?.length ?? 0) > 1 ? i : -1)
    const base = pick === undefined ? NaN : (rounds[pick]?.[i]?.[key] ?? NaN)
    const ratio = m[key] / base
    if (!Number.isFinite(ratio)) continue
    ratios.push(ratio)
    baselineValues.push(base)
    picks.set(pick!, (picks.get(pick!) ?? 0) + 1)
  }
  let mode = bestMode(rounds, baselines, key, better, -1) ?? ''
  for (const [b, n] of picks) if (n > (picks.get(mode) ?? 0)) mode = b
  return {
    mode,
    picked: picks.get(mode) ?? 0,
    rounds: ratios.length,
    engine: median((rounds[engine] ?? []).map((m) => m[key])),
    baseline: median(baselineValues),
    ratio: median(ratios),
    spread: ratios.length ? [Math.min(...ratios), Math.max(...ratios)] : [NaN, NaN],
    modes,
  }
}

/** ` (relay:none)`, or ` (relay:none in 7 of 9 rounds)` when the pick changed between rounds. */
export const pickText = (c: Compared): string => (c.picked === c.rounds ? ` (${c.mode})` : ` (${c.mode} in ${c.picked} of ${c.rounds} rounds)`)

/** `0.93× (0.88–0.97×)`: the paired median and its spread. */
export const ratioText = (c: Compared): string =>
  Number.isFinite(c.ratio) ? `${c.ratio.toFixed(2)}× (${c.spread[0].toFixed(2)}–${c.spread[1].toFixed(2)})` : 'n/a'
