/**
 * Processes the fault tests start and steer: a script under test/faults/procs/ forked with
 * an IPC channel, whose named tasks the test calls (each with a deadline) and whose
 * reports it collects. Every child dies with its parent (it exits when the channel
 * closes), and `Child.killAll` ends whatever a failed test left behind.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

type Pending = { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }

/** A forked helper process and its tasks. */
export class Child<Info = Record<string, unknown>> {
  static readonly all = new Set<Child<unknown>>()
  readonly proc: ChildProcess
  /** Resolves with what the child said about itself once it is ready. */
  readonly ready: Promise<Info>
  /** Resolves when the process has exited: its exit code, or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Reports the child sent of its own accord (`report(kind, data)` in the child), in order. */
  readonly reports: Array<{ kind: string; data: any; at: number }> = []
  private seq = 0
  private readonly pending = new Map<number, Pending>()
  private done = false

  constructor(
    readonly name: string,
    script: string,
    args: string[] = [],
    options: { execArgv?: string[]; readyTimeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
  ) {
    const path = fileURLToPath(new URL(`./procs/${script}.js`, import.meta.url))
    this.proc = fork(path, args, { execArgv: options.execArgv ?? [], stdio: ['ignore', 'inherit', 'pipe', 'ipc'], serialization: 'advanced', env: options.env })
    // Its errors reach the test's output; the inspector's notices (`Debugger listening…`) do not.
    createInterface({ input: this.proc.stderr! }).on('line', (line) => {
      if (!/^(Debugger (listening|attached|ending)|For help, see: https:\/\/nodejs\.org)/.test(line)) process.stderr.write(`[${name}] ${line}\n`)
    })
    Child.all.add(this as Child<unknown>)
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', (code, signal) => {
        this.done = true
        Child.all.delete(this as Child<unknown>)
        for (const p of this.pending.values()) {
          clearTimeout(p.timer)
          p.reject(new Error(`${this.name} exited (${signal ?? code}) during a task`))
        }
        this.pending.clear()
        resolve({ code, signal })
      }),
    )
    const readyMs = options.readyTimeoutMs ?? 20_000
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} not ready within ${readyMs} ms`)), readyMs)
      this.proc.once('exit', (code, signal) => (clearTimeout(timer), reject(new Error(`${name} exited (${signal ?? code}) before it was ready`))))
      this.proc.on('message', (m: any) => {
        if (m?.ready) return void (clearTimeout(timer), resolve(m.info as Info))
        if (m?.report) return void this.reports.push({ kind: m.report, data: m.data, at: Date.now() })
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

  get alive(): boolean {
    return !this.done
  }

  /** Runs a task in the child; rejects after `timeoutMs`, or if the child exits first. */
  call<T = any>(task: string, args: unknown = {}, timeoutMs = 30_000): Promise<T> {
    if (this.done) return Promise.reject(new Error(`${this.name} has exited`))
    const id = ++this.seq
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.name}: task '${task}' took longer than ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
      this.proc.send({ id, task, args })
    })
  }

  /** Sends a signal and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL') {
    if (!this.done) this.proc.kill(signal)
    return this.exited
  }

  /** Ends every child still running, at once. */
  static async killAll(): Promise<void> {
    await Promise.all([...Child.all].map((c) => c.kill('SIGKILL')))
  }
}

/** Child side: answers task calls, says it is ready, and exits when its parent goes away. */
export function serveTasks(tasks: Record<string, (args: any) => unknown>, info: Record<string, unknown> = {}): void {
  if (!process.send) throw new Error('this script is started by the fault tests (it needs an IPC channel)')
  process.on('disconnect', () => process.exit(0))
  process.on('message', async (m: any) => {
    if (!m || typeof m.id !== 'number') return
    try {
      const task = tasks[m.task]
      if (!task) throw new Error(`no task '${m.task}'`)
      const result = await task(m.args)
      process.send?.({ id: m.id, result })
    } catch (err) {
      process.send?.({ id: m.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
    }
  })
  process.send({ ready: true, info })
}

/** Child side: tells the parent something it did not ask for (a call served, a reconnect). */
export function report(kind: string, data: unknown = null): void {
  process.send?.({ report: kind, data })
}
