/**
 * A WebSocket's send that gathers frames into fewer socket writes: the socket is corked at
 * the first frame and uncorked later, so the frames written meanwhile leave in one
 * `writev`. Order is unchanged. Modes:
 *
 * - `tick`: uncorked once the current callback's synchronous work is done
 *   (`process.nextTick`). Gathers what one callback writes: the answers to calls that
 *   arrived in one read, a second's cron fires.
 * - `turn`: uncorked in the event loop's check phase (one `setImmediate` for every socket
 *   corked in that turn). Gathers also what separate callbacks of one turn write: the calls
 *   of many HTTP requests read in one poll are one write to their worker, not one each.
 * - `none`: every frame is written when sent (ws itself writes a frame's header and
 *   payload in one `writev`).
 * - `auto`: the first frame of a turn is written when sent, as with `none`; a second one in
 *   the same turn corks the socket until the turn's check phase, as with `turn` (what
 *   Linux's TCP autocorking does for small writes). A lone frame (one HTTP request at a
 *   time, one call in flight) leaves at once instead of waiting for the check phase, and a
 *   turn's burst still leaves in two writes, not one each.
 *
 * Used by the WebSocket server (`auto`) and by bench/'s baseline relays, which are measured
 * in every mode so that their fastest is the baseline.
 */
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

export type CorkMode = 'tick' | 'turn' | 'none' | 'auto'
export const CORK_MODES: readonly CorkMode[] = ['tick', 'turn', 'none', 'auto']

/** What is due in this turn's check phase: uncorks, and (`auto`) the end of a socket's turn. */
let due: Array<() => void> = []
function uncorkTurn(): void {
  const now = due
  due = []
  for (const uncork of now) uncork()
}
/** Runs `fn` in this turn's check phase (one `setImmediate` for all of them). */
function atTurnEnd(fn: () => void): void {
  if (due.length === 0) setImmediate(uncorkTurn)
  due.push(fn)
}

export function corkedSend(ws: WebSocket, socket: Socket, mode: CorkMode = 'auto'): (text: string) => void {
  if (mode === 'none') return (text) => ws.send(text)
  if (mode === 'auto') return autoCorked(ws, socket)
  let corked = false
  const uncork = () => {
    corked = false
    socket.uncork()
  }
  return (text) => {
    if (!corked) {
      corked = true
      socket.cork()
      if (mode === 'tick') process.nextTick(uncork)
      else atTurnEnd(uncork)
    }
    ws.send(text)
  }
}

/** `auto`: the turn's first frame at once, the frames after it in this turn corked until its end. */
function autoCorked(ws: WebSocket, socket: Socket): (text: string) => void {
  /** A frame went out in this turn (reset in its check phase). */
  let sent = false
  let corked = false
  const endTurn = () => {
    sent = false
    if (!corked) return
    corked = false
    socket.uncork()
  }
  return (text) => {
    if (!sent) {
      sent = true
      atTurnEnd(endTurn)
    } else if (!corked) {
      corked = true
      socket.cork()
    }
    ws.send(text)
  }
}
