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
 *
 * Used by the WebSocket server (`turn`) and by bench/'s baseline relays, which are measured
 * in every mode so that their fastest is the baseline.
 */
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

export type CorkMode = 'tick' | 'turn' | 'none'
export const CORK_MODES: readonly CorkMode[] = ['tick', 'turn', 'none']

/** The uncorks due in this turn's check phase. */
let due: Array<() => void> = []
function uncorkTurn(): void {
  const now = due
  due = []
  for (const uncork of now) uncork()
}

export function corkedSend(ws: WebSocket, socket: Socket, mode: CorkMode = 'turn'): (text: string) => void {
  if (mode === 'none') return (text) => ws.send(text)
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
      else {
        if (due.length === 0) setImmediate(uncorkTurn)
        due.push(uncork)
      }
    }
    ws.send(text)
  }
}
