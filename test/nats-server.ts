/**
 * A real `nats-server -js` for the tests of the JetStream queue store: on a free port of
 * 127.0.0.1, with its store in a folder of its own, stopped (and the folder removed) by
 * `stop()`. Without nats-server installed the tests that need it fail, saying so: CI
 * installs it (.ci/run), and a store that was never tested must not pass as one.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { until } from './harness.js'

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  url: string
  child: ChildProcess
  /** Stops the server and removes its store. */
  stop(): Promise<void>
  /** Stops the server, keeping its store; `start` brings it back on the same port with the same store. */
  pause(): Promise<void>
  start(): Promise<void>
}

/** Where nats-server is: on the PATH, or where Debian puts it (/usr/sbin, often off a user's PATH). */
export function natsServerPath(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin']
  for (const dir of dirs) if (dir && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server')
  throw new Error('nats-server is not installed, and the JetStream queue store is tested against a real one: install it (apt-get install -y nats-server; .ci/run does)')
}

/** Starts `nats-server -js` on a free port; resolves once it accepts clients. */
export async function startNats(): Promise<NatsServer> {
  const bin = natsServerPath()
  const dir = mkdtempSync(join(tmpdir(), 'signalbox-nats-'))
  let port = '-1'
  let child!: ChildProcess
  let exited = false
  let closed: Promise<void> = Promise.resolve()
  const run = async () => {
    child = spawn(bin, ['-a', '127.0.0.1', '-p', port, '-js', '-sd', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    let log = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d))
    exited = false
    const current = child
    closed = new Promise<void>((resolve) => current.once('close', () => ((exited = true), resolve())))
    port = (await until(() => {
      if (exited) throw new Error(`nats-server exited before it was ready:\n${log}`)
      return /Listening for client connections on [\d.]+:(\d+)/.exec(log)?.[1]
    }, 15_000, 'nats-server to listen'))!
  }
  const pause = async () => {
    if (!exited) child.kill('SIGTERM')
    await closed
  }
  const stop = async () => {
    await pause()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await run()
    const server: NatsServer = {
      url: `nats://127.0.0.1:${port}`,
      get child() {
        return child
      },
      stop,
      pause,
      start: run,
    }
    return server
  } catch (err) {
    await stop()
    throw err
  }
}

/**
 * One nats-server for a suite: `start` in its `before` hook, `stop` in its `after`. Each
 * store opened on it gets a name of its own (its stream, subjects and buckets), so tests
 * share the server and nothing else. A server that could not start (nats-server not
 * installed) fails each test that asks for its `url`, with the reason: uvu does not report
 * an error thrown by a suite's `before` hook.
 */
export function suiteNats() {
  let server: NatsServer | undefined
  let failure: Error | undefined
  let n = 0
  return {
    async start() {
      if (server) return
      try {
        server = await startNats()
        failure = undefined
      } catch (err) {
        failure = err as Error
      }
    },
    async stop() {
      await server?.stop()
      server = undefined
    },
    /** The server itself (to stop and start it again). */
    get server(): NatsServer {
      if (failure) throw failure
      if (!server) throw new Error("nats-server was not started (suiteNats().start() in the suite's before hook)")
      return server
    },
    get url(): string {
      if (failure) throw failure
      if (!server) throw new Error("nats-server was not started (suiteNats().start() in the suite's before hook)")
      return server.url
    },
    /** A store name not used before on this server. */
    fresh: () => `test${process.pid}-${++n}`,
  }
}
