/**
 * Sessions that only connect and leave, thousands of them, against an engine in its own
 * process (procs/engine-host.ts): half close cleanly, half drop their connection (held,
 * then released when the grace period ends). Proves that once they are gone the engine
 * holds nothing more than before they came (its actors, timers, sockets, XState's
 * scheduled events) and that its heap after forced collections is flat: within 10 % of the
 * start.
 *
 * This guards a trap of XState: a long-lived actor keeps one transition-memo entry per
 * distinct event type it ever received. A session that reached a final state would send
 * the engine `xstate.done.actor.session:<worker_id>`, a type unique to it, and the engine
 * would keep about 0.5 KB per session ever opened, forever. Sessions in this engine never
 * reach a final state (their `closed` state is not final; the engine stops them), and no
 * event sent to a long-lived actor has a type that names an id.
 */
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { until } from '../../harness.js'
import { Child } from '../child.js'
import { procMemory, tempDataDir, cleanUpEngines } from '../engine-process.js'
import { connectInspector } from '../inspector-probe.js'
import { fmt, type Outcome } from '../outcome.js'

export interface MemorySize {
  sessions: number
  /** Sessions connecting at once. */
  concurrency: number
}

export const MEMORY_SHORT: MemorySize = { sessions: 2000, concurrency: 20 }
export const MEMORY_LONG: MemorySize = { sessions: 20_000, concurrency: 20 }

type HostInfo = { url: string; pid: number; inspector: string }
type Census = Record<string, any>

/** One session: connect, be greeted, leave (cleanly, or by dropping the connection). */
function session(url: string, drop: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    const timer = setTimeout(() => (ws.terminate(), reject(new Error('no greeting within 20 s'))), 20_000)
    ws.on('error', () => {})
    ws.on('message', () => {
      clearTimeout(timer)
      if (drop) ws.terminate()
      else ws.close(1000)
    })
    ws.on('close', () => (clearTimeout(timer), resolve()))
  })
}

async function sessions(url: string, n: number, concurrency: number, offset = 0): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++
        await session(url, (i + offset) % 2 === 1)
      }
    }),
  )
}

/** Heap a session that came and went may leave behind, on average (measurement noise; the XState trap leaves 250 and more). */
const MAX_BYTES_PER_SESSION = 100

const COUNTED = ['actors', 'engineChildren', 'catalogWorkers', 'timers', 'sockets', 'scheduledEvents']

export async function sessionMemory(size: MemorySize): Promise<Outcome> {
  const started = Date.now()
  const host = new Child<HostInfo>('memory engine', 'engine-host', [join(tempDataDir(), 'queues.sqlite')], { execArgv: ['--inspect=127.0.0.1:0'] })
  try {
    const info = await host.ready
    const probe = await connectInspector(info.inspector)
    const census = (): Promise<Census> => host.call('census')
    const idle = await census()
    const settled = async (what: string) => {
      let now: Census = {}
      await until(async () => {
        now = await census()
        return COUNTED.every((k) => now[k] === idle[k])
      }, 20_000, what).catch(() => {})
      assert.equal(Object.fromEntries(COUNTED.map((k) => [k, now[k]])), Object.fromEntries(COUNTED.map((k) => [k, idle[k]])), `${what}: the engine holds what it held before anyone came`)
    }
    // Warm up, so that what is measured after is not first-use allocation.
    await sessions(info.url, Math.min(500, size.sessions / 4), size.concurrency)
    await settled('after the warm-up')
    const heapStart = await probe.heapSplit()

    const t0 = Date.now()
    await sessions(info.url, size.sessions, size.concurrency, 1)
    const churnSeconds = (Date.now() - t0) / 1000
    await settled(`after ${size.sessions} sessions`)
    const heapEnd = await probe.heapSplit()
    probe.close()
    const growth = heapEnd.program / heapStart.program - 1
    const perSession = (heapEnd.program - heapStart.program) / size.sessions
    assert.ok(
      growth <= 0.1,
      `the heap is flat after ${size.sessions} sessions: ${fmt.mb(heapStart.program)} → ${fmt.mb(heapEnd.program)} (${fmt.pct(growth)}, ${Math.round(perSession)} bytes a session) of the program's objects`,
    )
    // Sharper than the 10 %, so that a short run catches the trap too (it costs some 250 to 500 bytes a session).
    assert.ok(perSession <= MAX_BYTES_PER_SESSION, `at most ${MAX_BYTES_PER_SESSION} bytes of heap kept per session that came and went (${Math.round(perSession)})`)
    const { peakRss, rss } = procMemory(host.pid)
    return {
      title: 'Sessions that connect and leave',
      load: `${fmt.int(size.sessions)} sessions, ${size.concurrency} at once, each greeted and gone (half closing cleanly, half dropping the connection and held for the grace period)`,
      faults: 'half of the connections dropped without a close',
      badInputs: '-',
      lost: 'nothing left over: actors, timers, sockets and scheduled events as before; heap flat',
      figures: [
        ['sessions opened and closed', `${fmt.int(size.sessions)} in ${churnSeconds.toFixed(1)} s`],
        ['heap growth, program objects', `${fmt.pct(growth)} (${Math.round(perSession)} bytes a session)`],
        ['heap growth, with compiled code', fmt.pct(heapEnd.total / heapStart.total - 1)],
      ],
      memory: { heapStart: heapStart.total, heapEnd: heapEnd.total, peakRss, rssEnd: rss },
      seconds: (Date.now() - started) / 1000,
    }
  } finally {
    await host.kill('SIGKILL')
    await cleanUpEngines()
  }
}
