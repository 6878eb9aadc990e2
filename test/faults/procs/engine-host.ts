/**
 * An engine in its own process, started with `createEngine` as `signalbox serve` starts it
 * (a WebSocket port, an HTTP listener, a SQLite store, silent logs), that reports on
 * itself when its parent asks: its census (the actors alive in its system, what its
 * providers' snapshots hold, XState's scheduled events, Node's timers and sockets). Run
 * with --inspect=127.0.0.1:0, it says where its debugger listens, so that the parent can
 * read its heap (inspector-probe.ts). The engine is not changed: the census reads the same
 * snapshots the Stately inspector shows.
 */
import { url as inspectorUrl } from 'node:inspector'
import { createEngine } from '../../../index.js'
import { serveTasks } from '../child.js'

const [storeFile] = process.argv.slice(2)
const engine = await createEngine({ port: 0, http: { port: 0 }, store: storeFile ? { sqlite: storeFile } : 'memory', logLevel: 'silent', graceMs: 1000 })

const snapshotOf = (id: string): any => (engine.actor.system.get(id) as { getSnapshot(): any } | undefined)?.getSnapshot()
const plain = (context: { toJSON?: () => any } | undefined) => (context?.toJSON ? context.toJSON() : context)

serveTasks(
  {
    census: () => {
      const actors = Object.keys(engine.actor.system.getAll())
      const kinds: Record<string, number> = {}
      for (const id of actors) {
        const kind = id.startsWith('trigger:') ? 'trigger' : id.startsWith('session:') ? (id.split(':').length > 2 ? 'session type child' : 'session') : id
        kinds[kind] = (kinds[kind] ?? 0) + 1
      }
      const resources: Record<string, number> = {}
      for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1
      const routes = plain(snapshotOf('provider:http')?.context)?.routes ?? []
      const jobs = plain(snapshotOf('provider:cron')?.context)?.jobs ?? []
      const queues = plain(snapshotOf('provider:queue')?.context)?.queues ?? {}
      const calls = plain(snapshotOf('invocations')?.context)
      const catalog = snapshotOf('catalog')?.context
      const scheduled = (engine.actor.system as unknown as { getSnapshot(): { _scheduledEvents: Record<string, unknown> } }).getSnapshot()._scheduledEvents
      return {
        actors: actors.length,
        actorKinds: kinds,
        engineChildren: Object.keys(engine.actor.getSnapshot().children).length,
        catalogWorkers: Object.keys(catalog?.workers ?? {}).length,
        catalogFunctions: Object.keys(catalog?.functions ?? {}).length,
        routes: routes.length,
        cronJobs: jobs.length,
        queueConsumers: Object.values(queues as Record<string, { consumers?: unknown[] }>).reduce((n, q) => n + (q.consumers?.length ?? 0), 0),
        queueBatchesInFlight: Object.values(queues as Record<string, { consumers?: Array<{ in_flight: number }>; calls_in_flight?: number }>).reduce(
          (n, q) => n + (q.consumers ?? []).reduce((m, c) => m + c.in_flight, 0) + (q.calls_in_flight ?? 0),
          0,
        ),
        callsInFlight: calls?.in_flight ?? NaN,
        scheduledEvents: Object.keys(scheduled).length,
        timers: resources.Timeout ?? 0,
        sockets: (resources.TCPSocketWrap ?? 0) + (resources.PipeWrap ?? 0),
        resources,
      }
    },
    stop: async () => {
      await engine.stop()
      setTimeout(() => process.exit(0), 10)
      return true
    },
  },
  { url: engine.url, httpUrl: engine.httpUrl, controlUrl: engine.url!.replace(/^ws:/, 'http:'), pid: process.pid, inspector: inspectorUrl() },
)
