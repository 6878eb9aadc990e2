/**
 * A string-keyed index for entries that come and go at a high rate (the calls in flight:
 * one added and one removed per call). The values sit in an array whose free slots are
 * reused; a `Map` holds only each key and its slot number.
 *
 * Why not a plain `Map` of the values: under steady churn (entries added and deleted all
 * the time, a few hundred alive), V8's `Map` (as in Node 20) keeps its values alive
 * through young-generation collections long after they were deleted. Measured on this
 * project's HTTP path at 100 connections (bench/NOTES.md, 2026-11-30 23:00): with the call
 * table's entries in a `Map`, each scavenge found about 2.5 MB of the 11 MB allocated since
 * the last one still alive, and promoted it (8 ms pauses, the old generation refilled
 * every few hundred milliseconds); with them here, about 0.2 MB (1.8 ms pauses), and the
 * engine spent a quarter less CPU per request. What kept them, as far as we can tell: a
 * `Map` replaces its table as deleted entries pile up, and a replaced table stays linked to
 * its successor (for iterators that were walking it), so a replaced table that reached
 * the old generation keeps the chain after it, and every value those tables held, alive
 * until the next full collection. Clearing a value before deleting it does not help. Here
 * the `Map` holds keys and small integers only, and a deleted value's slot is cleared at
 * once. (A null-prototype object as the index avoids the chain too, but makes every new
 * key a property name, which V8 interns: about 1 µs more per entry.)
 *
 * Keys are any strings (`__proto__` included). `values()` gives insertion order. The
 * array keeps its largest size (the most entries ever held at once).
 */
export class TransientIndex<V> {
  /** Each key's slot. */
  readonly #slotOf = new Map<string, number>()
  readonly #values: Array<V | undefined> = []
  /** Slots emptied by `delete`, reused before the array grows. */
  readonly #free: number[] = []

  /** How many entries it holds. */
  get size(): number {
    return this.#slotOf.size
  }

  get(key: string): V | undefined {
    const slot = this.#slotOf.get(key)
    return slot === undefined ? undefined : this.#values[slot]
  }

  /** Adds or replaces the entry of `key`. */
  set(key: string, value: V): void {
    const slot = this.#slotOf.get(key)
    if (slot !== undefined) {
      this.#values[slot] = value
      return
    }
    const free = this.#free.pop()
    if (free === undefined) {
      this.#slotOf.set(key, this.#values.length)
      this.#values.push(value)
    } else {
      this.#slotOf.set(key, free)
      this.#values[free] = value
    }
  }

  /** Removes the entry of `key` and returns its value; undefined when there was none. */
  delete(key: string): V | undefined {
    const slot = this.#slotOf.get(key)
    if (slot === undefined) return undefined
    const value = this.#values[slot]
    this.#values[slot] = undefined
    this.#free.push(slot)
    this.#slotOf.delete(key)
    return value
  }

  /** Every value, in insertion order. */
  values(): V[] {
    const out: V[] = []
    for (const slot of this.#slotOf.values()) out.push(this.#values[slot] as V)
    return out
  }
}
