/**
 * Deadlines of calls in flight, for the invocations actor: one Node timer per distinct
 * timeout, not one per call. Calls with the same timeout fall due in the order they
 * started, so each timeout keeps its calls in a list in that order (linked through the
 * entries themselves) and one timer for the list's head. Starting a call appends it,
 * answering it unlinks it; neither touches a timer, except the first call of an idle
 * timeout (and a timer then only refs or unrefs itself: an idle list's timer stays armed,
 * unreferenced, so that one call at a time does not create and clear a timer each).
 *
 * A timer that fires expires the entries due by then, in order, and is armed again for
 * the next one. What a per-call `setTimeout` cost (a Timeout object, an async id, Node's
 * own list and priority queue, and with one call at a time a new list and a libuv timer
 * every call) is gone from the hot path; how late a deadline fires is unchanged.
 */

/** What a list holds: the caller's own record of a call, with the links this module keeps. */
export interface DeadlineEntry {
  /** `performance.now()` at which it falls due. */
  due: number
  prev?: DeadlineEntry
  next?: DeadlineEntry
  /** The list it is in, while it is in one. */
  list?: DeadlineList
}

interface DeadlineList {
  readonly ms: number
  head?: DeadlineEntry
  tail?: DeadlineEntry
  timer?: NodeJS.Timeout
  /** Whether `timer` keeps the process alive (only while the list holds entries). */
  refed: boolean
  /** Set while its timer expires entries: what is added meanwhile is armed for after. */
  firing: boolean
}

export class Deadlines<E extends DeadlineEntry> {
  private readonly lists = new Map<number, DeadlineList>()

  /** @param expire called once for each entry whose deadline passed (already removed). */
  constructor(private readonly expire: (entry: E) => void) {}

  /** Adds `entry`, due `ms` after `now` (`performance.now()`). */
  add(entry: E, ms: number, now: number): void {
    let list = this.lists.get(ms)
    if (!list) this.lists.set(ms, (list = { ms, refed: false, firing: false }))
    entry.due = now + ms
    entry.list = list
    entry.next = undefined
    entry.prev = list.tail
    if (list.tail) list.tail.next = entry
    else list.head = entry
    list.tail = entry
    if (list.firing) return
    if (!list.timer) {
      list.timer = setTimeout(() => this.fire(list), ms)
      list.refed = true
    } else if (!list.refed) {
      list.timer.ref()
      list.refed = true
    }
  }

  /** Removes `entry` (its call was answered or ended otherwise); nothing if it is in no list. */
  remove(entry: E): void {
    const list = entry.list
    if (!list) return
    if (entry.prev) entry.prev.next = entry.next
    else list.head = entry.next
    if (entry.next) entry.next.prev = entry.prev
    else list.tail = entry.prev
    entry.prev = entry.next = entry.list = undefined
    if (!list.head && list.refed) {
      list.timer?.unref()
      list.refed = false
    }
  }

  /** Clears every timer (the actor stops); entries are left as they are. */
  clear(): void {
    for (const list of this.lists.values()) clearTimeout(list.timer)
    this.lists.clear()
  }

  private fire(list: DeadlineList): void {
    list.timer = undefined
    list.refed = false
    list.firing = true
    const now = performance.now()
    try {
      while (list.head && list.head.due <= now) {
        const entry = list.head as E
        this.remove(entry)
        this.expire(entry)
      }
    } finally {
      list.firing = false
    }
    // Node's clock is whole milliseconds: a timer may fire a little before the head is due by this one.
    if (list.head) {
      list.timer = setTimeout(() => this.fire(list), Math.max(1, Math.ceil(list.head.due - now)))
      list.refed = true
    } else if (this.lists.get(list.ms) === list) this.lists.delete(list.ms)
  }
}
