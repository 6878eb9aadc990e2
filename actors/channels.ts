/**
 * `channels`: the engine's data channels (iii's streams between workers, and the request
 * bodies and responses of http triggers). Its snapshot is the pure table of channels and
 * who may open which end (core/channel-table.ts); beside it, as handles, each channel's
 * relay (core/channel-relay.ts) and the sockets attached to it.
 *
 * A worker opens an end with a WebSocket at `/ws/channels/<id>?key=…&dir=read|write` on
 * the worker port; the transport checks the key against the table and hands the socket
 * over (`channel.connect`). Binary frames are bytes, text frames are messages; a close ends
 * the stream. A channel is released when both ends are done with it, when the call it was
 * made for ends (`channel.release`), or when an end was never opened within 5 minutes.
 * The channels of http calls (`http:…`) are provider:http's own (`channel.delegate`): it
 * answers for their keys and takes their sockets, so a call registers nothing here.
 */
import type { EventObject } from 'xstate'
import { ChannelTable, type Direction } from '../core/channel-table.js'
import type { Relay } from '../core/channel-relay.js'
import type { ChannelSocket, ChannelsEvent } from '../machines/contracts.js'
import { fromTable, type TableScope } from './table-actor.js'

type Owner = Extract<ChannelsEvent, { type: 'channel.delegate' }>['owner']

interface Handles {
  relays: Map<string, Relay>
  sockets: Map<string, Set<ChannelSocket>>
  sweep: NodeJS.Timeout
}

type Scope = TableScope<ChannelTable, undefined, EventObject> & { handles: Handles }

/** How often channels whose end was never opened are looked for. */
const SWEEP_MS = 30_000

function release(scope: Scope, channel_id: string): void {
  const { relays, sockets } = scope.handles
  const relay = relays.get(channel_id)
  relays.delete(channel_id)
  scope.context.remove(channel_id)
  relay?.abort()
  for (const socket of sockets.get(channel_id) ?? []) socket.close(1000, 'channel released')
  sockets.delete(channel_id)
}

/** Joins a worker's socket to the end of `relay` it opened: a writer's frames in, a reader's out. */
export function attachSocket(relay: Relay, direction: Direction, socket: ChannelSocket): void {
  if (direction === 'write') {
    relay.attachWriter({ pause: () => socket.pause(), resume: () => socket.resume(), stop: () => socket.close(1000, 'reader closed') })
    socket.onFrame((data, binary) => relay.push(binary ? { binary: true, data: data as Uint8Array } : { binary: false, data: data as string }))
    socket.onClose((clean) => relay.finish(clean))
  } else {
    relay.attachReader({
      deliver: (frame, done) => socket.send(frame.data, frame.binary, done),
      end: (clean) => socket.close(clean ? 1000 : 1011, clean ? 'stream complete' : 'writer broke off'),
    })
    socket.onClose(() => relay.readerClosed())
  }
}

/** Attaches a worker's socket to the end it opened (or hands it to the channel's owner). */
function connect(scope: Scope, channel_id: string, direction: Direction, socket: ChannelSocket): void {
  // A delegated channel's owner registered itself with its `connect` (`channel.delegate`).
  const owner = scope.context.ownerOf(channel_id) as Owner | undefined
  if (owner) return owner.connect(channel_id, direction, socket)
  const table = scope.context
  const relay = scope.handles.relays.get(channel_id)
  const entry = table.get(channel_id)
  if (!relay || !entry) return socket.close(1008, 'no such channel')
  if (entry.opened[direction]) return socket.close(1008, `the ${direction} end is already open`)
  table.open(channel_id, direction)
  let set = scope.handles.sockets.get(channel_id)
  if (!set) scope.handles.sockets.set(channel_id, (set = new Set()))
  set.add(socket)
  attachSocket(relay, direction, socket)
}

export const channelsLogic = fromTable<ChannelTable, ChannelsEvent, undefined, EventObject, Handles>({
  context: () => new ChannelTable(),
  open(scope) {
    const sweep = setInterval(() => {
      for (const channel_id of scope.context.stale(Date.now())) release(scope as Scope, channel_id)
    }, SWEEP_MS)
    sweep.unref()
    return { relays: new Map(), sockets: new Map(), sweep }
  },
  receive(scope, event) {
    switch (event.type) {
      case 'channel.create':
        scope.context.add(event.channel_id, event.keys, event.capacity, event.origin, Date.now())
        if (event.engineEnd) scope.context.open(event.channel_id, event.engineEnd)
        scope.handles.relays.set(event.channel_id, event.relay)
        return
      case 'channel.connect':
        return connect(scope, event.channel_id, event.direction, event.socket)
      case 'channel.release':
        return release(scope, event.channel_id)
      case 'channel.delegate':
        return scope.context.delegate(event.prefix, event.owner)
    }
  },
  close(scope) {
    clearInterval(scope.handles.sweep)
    for (const channel_id of [...scope.handles.relays.keys()]) release(scope, channel_id)
  },
})
