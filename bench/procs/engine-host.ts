/**
 * The engine under test, in its own process: `createEngine` exactly as `signalbox serve`
 * calls it (WebSocket port, HTTP port, a queue store, silent logs), plus a task channel
 * for the orchestrator to read its memory and stop it. Run with --expose-gc so memory
 * can be read after a collection; with --cpu-prof when profiling.
 */
import { getHeapSpaceStatistics } from 'node:v8'
import { createEngine } from '../../index.js'
import { serveTasks } from '../lib/rpc.js'
import { profilerTasks } from '../lib/profiler.js'
import { procMemory } from '../lib/procmem.js'

// `memory`, a SQLite file (`sqlite:<path>`), or `cluster:<nats url>`: one engine of the cluster on that
// NATS server, its queues in the JetStream store there, as `signalbox serve --cluster` runs it.
const storeArg = process.argv[2] ?? 'memory'
const where = storeArg.startsWith('cluster:')
  ? { cluster: { nats: storeArg.slice('cluster:'.length) } }
  : { store: storeArg === 'memory' ? ('memory' as const) : { sqlite: storeArg.replace(/^sqlite:/, '') } }

// The register scenario binds a probe trigger and then 10,000 more in one session: one past
// the default limit of triggers per session (docs/limits.md), so the limit is raised here.
const engine = await createEngine({ port: 0, http: { port: 0 }, ...where, logLevel: 'silent', graceMs: 1000, limits: { triggersPerSession: 20_000 } })

const gc = (globalThis as { gc?: () => void }).gc

serveTasks(
  {
    ...profilerTasks(),
    mem: async ({ collect }: { collect?: boolean }) => {
      if (collect && gc) {
        for (let i = 0; i < 3; i++) {
          gc()
          await new Promise((r) => setTimeout(r, 50))
        }
      }
      const m = process.memoryUsage()
      const space = (name: string) => getHeapSpaceStatistics().find((x) => x.space_name === name)
      return {
        ...procMemory(),
        heapUsed: m.heapUsed,
        external: m.external,
        gcExposed: Boolean(gc),
        /** What V8 holds for young objects (grown by bursts of allocation, shrunk by its memory reducer once idle). */
        newSpace: space('new_space')?.physical_space_size ?? NaN,
        /** Old-generation pages V8 holds beyond what live objects use. */
        oldSlack: (space('old_space')?.physical_space_size ?? NaN) - (space('old_space')?.space_used_size ?? NaN),
      }
    },
    /** `fast`: exit without stopping the engine (a CPU profile then leaves the teardown out). */
    exit: async ({ fast }: { fast?: boolean } = {}) => {
      if (!fast) await Promise.race([engine.stop(), new Promise((r) => setTimeout(r, 3000))])
      setTimeout(() => process.exit(0), 10)
      return true
    },
  },
  { url: engine.url, httpUrl: engine.httpUrl, pid: process.pid },
)
