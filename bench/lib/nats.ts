/**
 * A nats-server -js for the cluster scenario: on a free port of 127.0.0.1, its store in a
 * temporary folder, stopped and the folder removed by `stop()`, and killed (the folder
 * removed) when the benchmark process exits any other way (an error, SIGINT, the run's
 * time limit). The tests have their own (test/nats-server.ts): test/ and bench/ may not
 * import each other (test/layers.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

export interface NatsProc {
  /** `nats://127.0.0.1:<port>` */
  url: string
  pid: number
  stop(): Promise<void>
}

const running = new Map<ChildProcess, string>()
let hooked = false

/** Where nats-server is: on the PATH, or where Debian puts it (/usr/sbin, often off a user's PATH). */
function natsServerPath(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin']
  for (const dir of dirs) if (dir && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server')
  throw new Error('nats-server is not installed (apt-get install -y nats-server): the cluster scenario needs one')
}

export async function startNatsServer(): Promise<NatsProc> {
  const bin = natsServerPath()
  if (!hooked) {
    hooked = true
    process.on('exit', () => {
      for (const [child, dir] of running) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
        rmSync(dir, { recursive: true, force: true })
      }
    })
  }
  const dir = mkdtempSync(join(tmpdir(), 'signalbox-bench-nats-'))
  const child = spawn(bin, ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  running.set(child, dir)
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await closed
    clearTimeout(timer)
    running.delete(child)
    rmSync(dir, { recursive: true, force: true })
  }
  let log = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d))
  try {
    const port = await new Promise<string>((resolve, reject) => {
      const deadline = setTimeout(() => (clearInterval(check), reject(new Error(`nats-server did not listen within 15 s:\n${log}`))), 15_000)
      const check = setInterval(() => {
        const found = /Listening for client connections on [\d.]+:(\d+)/.exec(log)?.[1]
        if (found) (clearInterval(check), clearTimeout(deadline), resolve(found))
        else if (child.exitCode !== null) (clearInterval(check), clearTimeout(deadline), reject(new Error(`nats-server exited (${child.exitCode}):\n${log}`)))
      }, 20)
    })
    return { url: `nats://127.0.0.1:${port}`, pid: child.pid!, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
