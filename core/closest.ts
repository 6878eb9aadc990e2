/**
 * "Did you mean …?": the known word closest to a mistyped one, by edit distance
 * (Damerau–Levenshtein: an insertion, a deletion, a substitution or two neighbours swapped
 * count one edit each), compared without regard to case. Used for CLI commands and
 * options, trigger types, function ids and cron nicknames and names.
 */

/** Edits between `a` and `b`, or `limit + 1` as soon as it is sure to be more than `limit`. */
export function editDistance(a: string, b: string, limit = Infinity): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1
  let prevPrev: number[] = []
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    let best = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prevPrev[j - 2] + 1)
      row.push(d)
      if (d < best) best = d
    }
    if (best > limit) return limit + 1
    prevPrev = prev
    prev = row
  }
  return prev[b.length]
}

/**
 * The candidate closest to `word`, if one is close enough to be a typo: at most a third of
 * the word's length in edits (at least 1, at most 3, and fewer than its letters), or the word with a prefix of its own
 * (`work` → `workers`). Ties go to the earlier candidate. Only the first 10,000 candidates
 * and words of up to 100 characters are looked at.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  if (word.length === 0 || word.length > 100) return undefined
  const w = word.toLowerCase()
  const limit = Math.min(3, Math.max(1, Math.floor(w.length / 3)))
  let best: string | undefined
  let bestDistance = limit + 1
  let seen = 0
  for (const candidate of candidates) {
    if (++seen > 10_000) break
    const c = candidate.toLowerCase()
    if (c === w) return candidate
    if (c.length > 100) continue
    // A prefix counts a little more than one edit: a real typo of another word wins over it.
    const edits = editDistance(w, c, Math.max(0, Math.ceil(bestDistance) - 1))
    const d = w.length >= 3 && c.startsWith(w) ? Math.min(edits, 1.5) : edits
    if (d < bestDistance && d < w.length) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

/** `Did you mean 'x'?` for `word` among `candidates`, or an empty string when none is close. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const match = closest(word, candidates)
  return match === undefined ? '' : `Did you mean '${match}'?`
}
