/**
 * The data channels of an engine: who may open which end. A channel has an id, one access
 * key per end (a ref carries the key of its own end only), a capacity (iii's
 * `buffer_size`: frames, 1–1024, default 64), and each end may be opened once. Pure: the
 * channels actor (actors/channels.ts) keeps it as its snapshot and the sockets beside it;
 * the WebSocket transport asks it whether an upgrade may open an end.
 */
import { timingSafeEqual } from 'node:crypto'
import type { ChannelRef } from '../protocol/trigger-payloads.js'

/** A reference to one end of a channel, as iii-sdk recognises it anywhere in a call's data. */
export type { ChannelRef }
export type Direction = ChannelRef['direction']

export const DEFAULT_BUFFER_SIZE = 64
export const MAX_BUFFER_SIZE = 1024
/** How long a channel may wait for an end that was never opened (iii: 5 minutes). */
export const UNOPENED_TTL_MS = 5 * 60_000

export interface ChannelEntry {
  channel_id: string
  capacity: number
  created_at: number
  /** What made it: `engine::channels::create` by a worker, or an http trigger's call. */
  origin: string
  keys: Record<Direction, string>
  opened: Record<Direction, boolean>
}

/** Whether an upgrade may open an end: `ok`, or why not. */
export type Access = 'ok' | 'unknown' | 'forbidden' | 'taken'

export const sameKey = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))

/** iii's `buffer_size`: a whole number of frames, at least 1, at most 1024 (more is taken as 1024); absent: 64. Returns it, or the refusal. */
export function bufferSize(value: unknown): number | string {
  if (value === undefined || value === null) return DEFAULT_BUFFER_SIZE
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) return `'buffer_size' must be a whole number of frames, at least 1, got ${JSON.stringify(value)}`
  return Math.min(value, MAX_BUFFER_SIZE)
}

/**
 * Another actor that owns every channel whose id starts with its prefix (provider:http
 * owns `http:…`, its calls' request bodies and responses) and answers for their keys: so
 * a call does not register its channels one by one.
 */
export interface ChannelOwner {
  access(channel_id: string, key: string, direction: Direction): Access
}

export class ChannelTable {
  private readonly channels = new Map<string, ChannelEntry>()
  private readonly owners = new Map<string, ChannelOwner>()

  get size(): number {
    return this.channels.size
  }

  /** Adds a channel; returns the refs of its two ends. */
  add(channel_id: string, keys: Record<Direction, string>, capacity: number, origin: string, now: number): { writer: ChannelRef; reader: ChannelRef } {
    this.channels.set(channel_id, { channel_id, capacity, created_at: now, origin, keys, opened: { read: false, write: false } })
    return refsOf(channel_id, keys)
  }

  get(channel_id: string): ChannelEntry | undefined {
    return this.channels.get(channel_id)
  }

  /** Hands the channels whose ids start with `prefix` to `owner`. */
  delegate(prefix: string, owner: ChannelOwner): void {
    this.owners.set(prefix, owner)
  }

  /** The owner of a delegated channel id, if it is one. */
  ownerOf(channel_id: string): ChannelOwner | undefined {
    for (const [prefix, owner] of this.owners) if (channel_id.startsWith(prefix)) return owner
    return undefined
  }

  /** Whether `key` opens the `direction` end of `channel_id` now. */
  access(channel_id: string, key: string, direction: Direction): Access {
    const owner = this.ownerOf(channel_id)
    if (owner) return owner.access(channel_id, key, direction)
    const c = this.channels.get(channel_id)
    if (!c) return 'unknown'
    if (!sameKey(c.keys[direction], key)) return 'forbidden'
    return c.opened[direction] ? 'taken' : 'ok'
  }

  /** Marks an end opened (by a socket, or by the engine itself). */
  open(channel_id: string, direction: Direction): void {
    const c = this.channels.get(channel_id)
    if (c) c.opened[direction] = true
  }

  remove(channel_id: string): boolean {
    return this.channels.delete(channel_id)
  }

  /** Channels older than `ttl` with an end never opened. */
  stale(now: number, ttl = UNOPENED_TTL_MS): string[] {
    const out: string[] = []
    for (const c of this.channels.values()) if (now - c.created_at > ttl && !(c.opened.read && c.opened.write)) out.push(c.channel_id)
    return out
  }

  /** The inspector's view: no keys. */
  toJSON() {
    return { channels: [...this.channels.values()].map(({ keys: _keys, ...c }) => c), delegated: [...this.owners.keys()] }
  }
}

export const refsOf = (channel_id: string, keys: Record<Direction, string>): { writer: ChannelRef; reader: ChannelRef } => ({
  writer: { channel_id, access_key: keys.write, direction: 'write' },
  reader: { channel_id, access_key: keys.read, direction: 'read' },
})
