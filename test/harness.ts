/**
 * Test helpers: engines that clean up after themselves, a capturing logger, waiting
 * without fixed sleeps, and a per-test time limit (uvu has none of its own).
 */
import { createEngine, type Engine, type EngineOptions } from '../adapters/engine.js'
import type { Logger } from '../adapters/logger.js'
import type { Test } from 'uvu'

/** A logger that keeps every record, for assertions on what was logged. */
export function captureLogger(): Logger & { records: Array<{ level: string; msg: string } & Record<string, unknown>> } {
  const records: Array<{ level: string; msg: string } & Record<string, unknown>> = []
  const at = (level: string) => (fields: Record<string, unknown>, msg: string) => records.push({ ...fields, level, msg })
  return { records, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

/** Starts an engine (WebSocket and HTTP on free ports) with a capturing logger. */
export async function startEngine(options: EngineOptions = {}): Promise<Engine & { log: ReturnType<typeof captureLogger> }> {
  const log = captureLogger()
  const engine = await createEngine({ port: 0, http: { port: 0 }, logger: log, graceMs: 1000, ...options })
  return Object.assign(engine, { log })
}

/** Resolves once `check` returns a truthy value; fails after `ms`. */
export async function until<T>(check: () => T | Promise<T>, ms = 3000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Waits `ms` milliseconds (only to show that something does NOT happen). */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Wraps a test body with a time limit, so a hang fails the test instead of the run. */
export function limit<A extends unknown[]>(fn: (...args: A) => Promise<unknown> | unknown, ms = 10_000) {
  return async (...args: A) => {
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        Promise.resolve(fn(...args)),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`test took longer than ${ms} ms`)), ms))),
      ])
    } finally {
      clearTimeout(timer)
    }
  }
}

/** Number of live timers in this process (Node's own count of active resources). */
export const activeTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

/** An engine as the tests start it. */
export type TestEngine = Awaited<ReturnType<typeof startEngine>>

/** What each test of an engine suite gets: its own engine, and what it opened, to close after it. */
export interface EngineCtx {
  engine: TestEngine
  closers: Array<() => unknown>
}

/**
 * Gives every test of `it` a fresh engine (started with `options(ctx)`), and afterwards
 * closes what the test pushed on `ctx.closers` (last first), then the engine, then `after`.
 */
export function eachWithEngine<C extends EngineCtx>(
  it: Test<C>,
  options: (ctx: C) => EngineOptions = () => ({}),
  after?: (ctx: C) => void,
): void {
  it.before.each(async (ctx) => {
    ctx.closers = []
    ctx.engine = await startEngine(options(ctx))
  })
  it.after.each(async (ctx) => {
    for (const close of ctx.closers.reverse()) await close()
    // No engine when it could not start (its store's server missing): the test failed saying why.
    await ctx.engine?.stop()
    after?.(ctx)
  })
}
