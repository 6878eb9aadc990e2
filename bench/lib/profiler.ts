/**
 * CPU and allocation profiles of a measured window only: tasks a benchmark process serves so that the
 * orchestrator starts V8's sampling profiler when a measurement starts and writes the
 * profile when it ends (`--cpu-prof` profiles the whole life of the process, start-up,
 * warm-ups and the other target's turns included, which blurs a per-call figure).
 */
import { Session } from 'node:inspector'
import { writeFileSync } from 'node:fs'

export function profilerTasks(): Record<string, (args: any) => unknown> {
  let session: Session | undefined
  const post = <T = unknown>(method: string, params: object = {}) =>
    new Promise<T>((resolve, reject) => session!.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T))))
  /** Opens a session on this process with `domain` (`Profiler`, `HeapProfiler`) enabled. */
  const open = async (domain: string) => {
    if (session) throw new Error('already profiling')
    session = new Session()
    session.connect()
    await post(`${domain}.enable`)
  }
  /** Stops the profiler (`method` of `domain`), writes its profile to `file` and closes the session. */
  const stop = async (domain: string, method: string, file: string) => {
    if (!session) throw new Error('not profiling')
    const { profile } = await post<{ profile: object }>(`${domain}.${method}`)
    writeFileSync(file, JSON.stringify(profile))
    await post(`${domain}.disable`)
    session.disconnect()
    session = undefined
    return true
  }
  return {
    /** Starts sampling every `intervalUs` microseconds. */
    async profileStart({ intervalUs = 200 }: { intervalUs?: number } = {}) {
      await open('Profiler')
      await post('Profiler.setSamplingInterval', { interval: intervalUs })
      await post('Profiler.start')
      return true
    },
    /** Stops sampling and writes the profile (a .cpuprofile) to `file`. */
    profileStop: ({ file }: { file: string }) => stop('Profiler', 'stop', file),
    /**
     * Starts V8's sampling heap profiler: one sample per `intervalBytes` allocated on
     * average, objects the collector has freed since included, so the profile counts what
     * was allocated (the garbage a path makes), not what is still alive.
     */
    async heapStart({ intervalBytes = 4096 }: { intervalBytes?: number } = {}) {
      await open('HeapProfiler')
      await post('HeapProfiler.startSampling', { samplingInterval: intervalBytes, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
      return true
    },
    /** Stops it and writes the profile (a .heapprofile, which Chrome's DevTools opens) to `file`. */
    heapStop: ({ file }: { file: string }) => stop('HeapProfiler', 'stopSampling', file),
  }
}
