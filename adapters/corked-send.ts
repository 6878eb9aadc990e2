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
 *   Linux's TCP autocorking does for small writes). A socket whose last turn with frames
 *   had more than one is busy: its next turn is corked from the first frame, as with
 *   `turn`, until a turn brings it one frame alone. So a lone frame (one HTTP request at a
 *   time, one call in flight) leaves at once instead of waiting for the check phase
 *   (except the first one after a busy turn, however much later it comes: it waits for
 *   its turn's check phase), and under load (many requests, many calls in flight) each
 *   turn's frames leave in one write, not two.
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

/**
 * `auto`: the turn's first frame at once and the frames after it in this turn corked until
 * its end; corked from the first frame while the socket is busy (its last turn with
 * frames had more than one).
 */
function autoCorked(ws: WebSocket, socket: Socket): (text: string) => void {
  /** Frames sent in this turn (reset in its check phase). */
  let frames = 0
  /** Its last turn with frames had more than one. */
  let busy = false
  let corked = false
  const endTurn = () => {
    busy = frames > 1
    frames = 0
    if (!corked) return
    corked = false
    socket.uncork()
  }
  return (text) => {
    if (frames++ === 0) atTurnEnd(endTurn)
    if (!corked && (busy || frames > 1)) {
      corked = true
      socket.cork()
    }
    ws.send(text)
  }
}
