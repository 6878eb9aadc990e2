/**
 * `signalbox serve` as a child process of a test, on free ports, the way a user starts it:
 * the built CLI, given `args` after the listeners' flags; it resolves once the ready line
 * is printed, and fails with its stderr if the process exits first. `children` keeps the
 * process until it exits, so the test's cleanup can kill what is left. `env` is added to
 * the process's environment; `nodeArgs` go to node before the CLI (a fault to `--import`).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { until } from './harness.js'

const cli = fileURLToPath(new URL('../cli.js', import.meta.url))

export interface ServeProcess {
  child: ChildProcess
  url: string
  httpUrl: string
  stderr: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export async function startServe(args: string[], children: Set<ChildProcess>, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<ServeProcess> {
  const child = spawn(process.execPath, [...nodeArgs, cli, 'serve', '--host', '127.0.0.1', '--port', '0', '--http-port', '0', '--log-level', 'error', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // No config file of the working folder applies.
    env: { ...process.env, SIGNALBOX_CONFIG: '', ...env },
  })
  children.add(child)
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => (children.delete(child), resolve({ code, signal }))),
  )
  const [url, httpUrl] = await Promise.race([
    until(() => /^signalbox ready (ws:\/\/\S+) (http:\/\/\S+)\n/.exec(out)?.slice(1, 3), 15_000, 'the ready line') as Promise<string[]>,
    exited.then(({ code }) => {
      throw new Error(`serve exited (${code}) before it was ready: ${err}`)
    }),
  ])
  return { child, url, httpUrl, stderr: () => err, exited }
}
