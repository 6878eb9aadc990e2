/**
 * Parent ↔ child control for the benchmark processes: the orchestrator forks each
 * process with an IPC channel and calls named tasks in it. Every call has a deadline,
 * every child exits when its parent goes away, and `stopAll` ends whatever is left.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

type Pending = { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }

/** A forked benchmark process with its task interface. */
export class Child {
  static readonly all = new Set<Child>()
  readonly proc: ChildProcess
  readonly ready: Promise<Record<string, unknown>>
  private seq = 0
  private readonly pending = new Map<number, Pending>()
  private exited = false
  private readonly exitPromise: Promise<number | null>

  constructor(
    readonly name: string,
    script: string,
    args: string[] = [],
    options: { execArgv?: string[]; readyTimeoutMs?: number } = {},
  ) {
    // A script from another build (`/path/to/dist/bench/procs/engine-host.js`) when given as a path.
    const path = script.startsWith('/') ? script : fileURLToPath(new URL(`../procs/${script}.js`, import.meta.url))
    this.proc = fork(path, args, { execArgv: options.execArgv ?? [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' })
    Child.all.add(this)
    this.exitPromise = new Promise((resolve) =>
      this.proc.once('exit', (code) => {
        this.exited = true
        Child.all.delete(this)
        for (const p of this.pending.values()) {
          clearTimeout(p.timer)
          p.reject(new Error(`${this.name} exited (code ${code}) during a call`))
        }
        this.pending.clear()
        resolve(code)
      }),
    )
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} not ready within ${options.readyTimeoutMs ?? 15_000} ms`)), options.readyTimeoutMs ?? 15_000)
      this.proc.once('exit', (code) => (clearTimeout(timer), reject(new Error(`${name} exited (code ${code}) before it was ready`))))
      this.proc.on('message', (m: any) => {
        if (m?.ready) {
          clearTimeout(timer)
          resolve(m.info ?? {})
          return
        }
        const p = m && this.pending.get(m.id)
        if (!p) return
        this.pending.delete(m.id)
        clearTimeout(p.timer)
        if (m.error !== undefined) p.reject(new Error(`${this.name}: ${m.error}`))
        else p.resolve(m.result)
      })
    })
    this.ready.catch(() => {})
  }

  get pid(): number {
    return this.proc.pid!
  }

  /** Runs a task in the child; rejects after `timeoutMs`. */
  call<T = any>(method: string, args: unknown = {}, timeoutMs = 60_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`))
    const id = ++this.seq
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.name}: ${method} took longer than ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
      this.proc.send({ id, method, args })
    })
  }

  /** Asks the child to exit (task `exit`), then SIGTERM, then SIGKILL. */
  async stop(graceMs = 5000, exitArgs: Record<string, unknown> = {}): Promise<void> {
    if (this.exited) return
    this.call('exit', exitArgs, graceMs).catch(() => {})
    const t1 = setTimeout(() => this.exited || this.proc.kill('SIGTERM'), graceMs)
    const t2 = setTimeout(() => this.exited || this.proc.kill('SIGKILL'), graceMs + 2000)
    await this.exitPromise
    clearTimeout(t1)
    clearTimeout(t2)
  }

  /** Ends the process at once (SIGKILL), for engines whose orderly shutdown is not under test. */
  async kill(): Promise<void> {
    if (this.exited) return
    this.proc.kill('SIGKILL')
    await this.exitPromise
  }

  static async stopAll(): Promise<void> {
    await Promise.all([...Child.all].map((c) => c.stop(3000)))
  }

  /** Last resort on the way out: SIGKILL every child still running, by pid. */
  static killAllNow(): void {
    for (const c of Child.all) if (!c.exited) c.proc.kill('SIGKILL')
  }
}

/** Child side: answers task calls, reports ready, and exits when the parent goes away. */
export function serveTasks(tasks: Record<string, (args: any) => unknown>, info: Record<string, unknown> = {}): void {
  if (!process.send) throw new Error('run me through the benchmark orchestrator (needs an IPC channel)')
  process.on('disconnect', () => process.exit(0))
  process.on('message', async (m: any) => {
    if (!m || typeof m.id !== 'number') return
    const task = tasks[m.method]
    if (m.method === 'exit' && !task) {
      process.send!({ id: m.id, result: true })
      setTimeout(() => process.exit(0), 10)
      return
    }
    try {
      if (!task) throw new Error(`no task '${m.method}'`)
      const result = await task(m.args)
      process.send!({ id: m.id, result })
    } catch (err) {
      process.send!({ id: m.id, error: err instanceof Error ? err.stack ?? err.message : String(err) })
    }
  })
  process.send({ ready: true, info })
}
