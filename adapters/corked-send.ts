/**
 * A WebSocket's send that writes every frame of one event-loop turn in one socket write:
 * the socket is corked at the turn's first frame and uncorked once the turn's synchronous
 * work is done (`process.nextTick`). A burst (the answers to calls that arrived in one
 * read, a second's cron fires) then costs one system call, not one per frame; order is
 * unchanged. Used by the WebSocket server and by bench/'s baseline relays alike.
 */
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

export function corkedSend(ws: WebSocket, socket: Socket): (text: string) => void {
  let corked = false
  const uncork = () => {
    corked = false
    socket.uncork()
  }
  return (text) => {
    if (!corked) {
      corked = true
      socket.cork()
      process.nextTick(uncork)
    }
    ws.send(text)
  }
}
