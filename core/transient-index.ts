/**
 * A string-keyed index for entries that come and go at a high rate (the calls in flight:
 * one added and one removed per call). The values sit in an array whose free slots are
 * reused; a `Map` holds only each key's slot number.
 *
 * Why not a plain `Map` of the values: under steady churn (entries added and deleted all
 * the time, a few hundred alive), a V8 `Map` (Node 20) keeps its values alive through
 * young-generation collections long after they were deleted. Measured on this project's
 * HTTP path (100 connections, bench/NOTES.md): with the call table's entries in a `Map`,
 * about 23% of everything a request allocates survived each scavenge and was promoted
 * (2.5 MB a scavenge, 8 ms pauses, the old generation filling up every few hundred
 * milliseconds); with them here, about 1%. The likely cause: a `Map` replaces its table as
 * deleted entries pile up, and a replaced table stays linked to its successor (for
 * iterators that were walking it), so a replaced table that reached the old generation
 * keeps the chain after it, and every value those tables held, alive until the next full
 * collection. Clearing a value before deleting it does not help. Here the tables hold
 * small integers, and a deleted value's slot is cleared at once. (A null-prototype object
 * as the index avoids the chain too, but makes every new key a property name, which V8
 * interns: about 1 µs more per entry.)
 *
 * Keys are any strings (`__proto__` included). `values()` gives insertion order.
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
