/**
 * A TCP proxy in front of an engine's worker port whose connections a test can cut, as a
 * network would: both sockets destroyed, no close frame, so the engine sees the
 * connection lost (1006) and the client sees it dropped.
 */
import { createServer, connect, type Socket } from 'node:net'

export interface CutProxy {
  /** `ws://127.0.0.1:<port>` of the proxy. */
  url: string
  /** Connections through it now. */
  readonly open: number
  /** Cuts every connection through it. */
  cut(): void
  close(): Promise<void>
}

export async function cutProxy(target: string): Promise<CutProxy> {
  const { hostname, port } = new URL(target.replace(/^ws/, 'http'))
  const pairs = new Set<[Socket, Socket]>()
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname)
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    const drop = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  return {
    url: `ws://127.0.0.1:${address.port}`,
    get open() {
      return pairs.size
    },
    cut() {
      for (const [a, b] of [...pairs]) {
        a.resetAndDestroy()
        b.resetAndDestroy()
      }
      pairs.clear()
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const [a, b] of pairs) a.destroy(), b.destroy()
        server.close(() => resolve())
      }),
  }
}
