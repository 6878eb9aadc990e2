/**
 * A cluster of engines on one nats-server: HTTP triggers and round trips with the load
 * spread over 1, 2 and 3 engines behind the same workers, and what a call answered on
 * another engine costs next to one answered on the caller's own engine (and on an engine
 * alone). The nats-server (-js, a free port, a temporary store) is started here and
 * stopped, its store removed, whatever happens (bench/lib/nats.ts). Each engine is
 * `createEngine({ cluster })` in its own process (bench/procs/engine-host, as `signalbox
 * serve --cluster` runs it); the workers, the caller and autocannon are processes of their
 * own. Every round measures every configuration once, in an order that rotates from round
 * to round; ratios are taken within a round (bench/lib/compare.ts).
 */
import { cpus } from 'node:os'
import { Child } from '../lib/rpc.js'
import { fmt, startAgent, startEngine, table, type Ctx, type EngineProc, type Row, type Section } from '../lib/common.js'
import { compare, ratioText, type Compared } from '../lib/compare.js'
import { machineBusyMs, procCpu } from '../lib/procmem.js'
import { median, nowMs, sleep } from '../lib/stats.js'
import { startNatsServer, type NatsProc } from '../lib/nats.js'

type Measured = {
  /** Answers per second (2xx for HTTP), p50 and p99 in ms. */
  rate: number
  p50: number
  p99: number
  n: number
  /** Every answer in the run, warm-up included (what the CPU is divided by). */
  total: number
  errors: number
  /** CPU per answer of the engines (all three of the cluster, or the engine alone), of nats-server, and of the workers. */
  enginesUs: number
  natsUs: number
  workersUs: number
  /** CPU time of every process of the scenario over the run's wall time: how many cores were busy. */
  cores: number
  /** The same for the whole machine (/proc/stat): the scenario's processes and everything else running. */
  machine: number
}

export interface ClusterOptions {
  runs?: number
  /** autocannon's run per HTTP measurement, seconds. */
  httpS?: number
  /** Each round trip and call measurement, ms (after a 300 ms warm-up). */
  callMs?: number
}

const SIZES = [1, 2, 3]
const HTTP_CONNECTIONS = 100
const RT_INFLIGHT = 64
const CALL_INFLIGHTS = [1, 64]
const CALL_TARGETS = ['alone', 'local', 'remote'] as const
const CALL_LABEL: Record<(typeof CALL_TARGETS)[number], string> = {
  alone: 'a worker of an engine alone (no cluster)',
  local: "a worker of the caller's engine (cluster)",
  remote: 'a worker of another engine (cluster)',
}
const WARMUP_MS = 300

export async function cluster(ctx: Ctx, options: ClusterOptions = {}): Promise<Section> {
  const runs = options.runs ?? ctx.runs
  const httpS = options.httpS ?? 1.5
  const callMs = options.callMs ?? 1200
  const t0 = nowMs()
  const nats = await startNatsServer()
  const engines: EngineProc[] = []
  const agents: Child[] = []
  try {
    // Engine 1 first (it creates the cluster's buckets), then everything else at once; an
    // engine of a cluster connects to NATS and opens its store and buckets before it is
    // ready, which takes longer than 15 s on a busy machine.
    const clustered = (i: number) => startEngine(`cluster-engine-${i + 1}`, { store: `cluster:${nats.url}`, readyTimeoutMs: 60_000 })
    engines.push(await clustered(0))
    const size = SIZES[SIZES.length - 1]
    const starting = Promise.all([
      Promise.all(Array.from({ length: size - 1 }, (_, i) => clustered(i + 1))),
      startEngine('engine-alone'),
      Promise.all(Array.from({ length: size }, (_, i) => startAgent(`cluster-worker-${i + 1}`))),
      startAgent('caller'),
      startAgent('autocannon'),
    ])
    const [more, alone, workers, caller, loader] = await starting
    engines.push(...more)
    const started = nowMs()
    agents.push(...workers, caller, loader)
    // The same workers behind every configuration: each worker process has a connection to
    // every engine and serves the functions there, so each engine has as many local
    // replicas as there are workers; the http route is registered once, on engine 1, and the
    // others hold it from the cluster's routes bucket. `bench::remote` is served on engine 2 only.
    const route = { id: 'hello', function_id: 'bench::http', path: '/hello', method: 'GET' }
    for (const [w, worker] of workers.entries()) {
      for (const [i, e] of engines.entries()) {
        await worker.call('serve', { url: e.url, functions: ['bench::http'], reply: 'http', routes: w === 0 && i === 0 ? [route] : [] })
        await worker.call('serve', { url: e.url, functions: i === 1 ? ['bench::echo', 'bench::remote'] : ['bench::echo'], reply: 'echo' })
      }
      await worker.call('serve', { url: alone.url, functions: ['bench::echo'], reply: 'echo' })
    }
    const served = nowMs()
    for (const e of engines) await untilServed(`${e.httpUrl}/hello`)
    const s = (from: number, to: number) => `${((to - from) / 1000).toFixed(1)} s`
    ctx.log(`  nats-server, ${engines.length} engines of a cluster, an engine alone, ${workers.length} workers: ready in ${s(t0, nowMs())} (processes ${s(t0, started)}, workers' connections ${s(started, served)}, the route on every listener ${s(served, nowMs())})`)

    const everyPid = [nats.pid, alone.pid, ...engines.map((e) => e.pid), ...agents.map((a) => a.pid)]
    /** Runs `load`, reading the CPU time of every process around it. */
    const measured = async (path: EngineProc[], load: () => Promise<{ rate: number; p50: number; p99: number; n: number; total: number; errors: number }>): Promise<Measured> => {
      const before = everyPid.map(cpuOf)
      const machine0 = machineBusyMs()
      const start = nowMs()
      const l = await load()
      const wall = nowMs() - start
      const machine = (machineBusyMs() - machine0) / wall
      const used = everyPid.map((pid, i) => cpuOf(pid) - before[i])
      const of = (pids: number[]) => pids.reduce((sum, pid) => sum + used[everyPid.indexOf(pid)], 0)
      const perAnswer = (ms: number) => (ms * 1000) / Math.max(1, l.total)
      return {
        ...l,
        enginesUs: perAnswer(of(path.map((e) => e.pid))),
        natsUs: perAnswer(of([nats.pid])),
        workersUs: perAnswer(of(workers.map((w) => w.pid))),
        cores: used.reduce((a, b) => a + b, 0) / wall,
        machine,
      }
    }

    const http: Record<string, Measured[]> = {}
    const rt: Record<string, Measured[]> = {}
    const calls: Record<string, Measured[]> = {}
    const line = (what: string, m: Measured, unit: string) =>
      ctx.log(`  ${what}: ${fmt.int(m.rate)} ${unit}/s p50 ${fmt.ms(m.p50)} p99 ${fmt.ms(m.p99)} engines ${m.enginesUs.toFixed(1)} µs nats ${m.natsUs.toFixed(1)} µs per answer, ${m.cores.toFixed(2)} cores busy (machine ${m.machine.toFixed(2)})${m.errors ? ` errors ${m.errors}` : ''}`)
    for (let r = 0; r < runs; r++) {
      const rotated = <T>(xs: readonly T[]) => xs.map((_, i) => xs[(i + r) % xs.length])
      for (const k of rotated(SIZES)) {
        const urls = engines.slice(0, k).map((e) => `${e.httpUrl}/hello`)
        const m = await measured(engines, async () => {
          const a = await loader.call('autocannon', { url: urls, connections: HTTP_CONNECTIONS, durationS: httpS, warmupS: r === 0 ? 1 : 0 }, (httpS + 2) * 1000 + 30_000)
          return { rate: a.reqPerSec, p50: a.p50, p99: a.p99, n: a.n, total: a.total, errors: a.errors + a.timeouts + a.non2xx }
        })
        ;(http[k] ??= []).push(m)
        line(`round ${r + 1}/${runs} HTTP, ${HTTP_CONNECTIONS} connections over ${k} engine${k > 1 ? 's' : ''}`, m, 'req')
      }
      for (const k of rotated(SIZES)) {
        const m = await measured(engines, () => wsLoad(caller, engines.slice(0, k).map((e) => e.url), 'bench::echo', RT_INFLIGHT, callMs))
        ;(rt[k] ??= []).push(m)
        line(`round ${r + 1}/${runs} round trip, ${RT_INFLIGHT} in flight over ${k} engine${k > 1 ? 's' : ''}`, m, 'calls')
      }
      for (const inflight of CALL_INFLIGHTS) {
        for (const target of rotated(CALL_TARGETS)) {
          const m = await measured(target === 'alone' ? [alone] : engines, () =>
            wsLoad(caller, [target === 'alone' ? alone.url : engines[0].url], target === 'remote' ? 'bench::remote' : 'bench::echo', inflight, callMs),
          )
          ;(calls[`${target}:${inflight}`] ??= []).push(m)
          line(`round ${r + 1}/${runs} call answered by ${target}, ${inflight} in flight`, m, 'calls')
        }
      }
    }
    return summarize({ runs, httpS, callMs, http, rt, calls, workers: workers.length })
  } finally {
    // Every process this scenario started (those that started before a failure too), then NATS,
    // which the engines need to stop in order.
    await Child.stopAll()
    await nats.stop()
  }
}

/** CPU time of a process so far, ms (0 once it is gone). */
function cpuOf(pid: number): number {
  try {
    const c = procCpu(pid)
    return c.user + c.system
  } catch {
    return 0
  }
}

async function wsLoad(caller: Child, urls: string[], function_id: string, inflight: number, durationMs: number) {
  const l = await caller.call('wsLoad', { url: urls, function_id, inflight, warmupMs: WARMUP_MS, durationMs }, durationMs + 30_000)
  return { rate: l.callsPerSec, p50: l.p50, p99: l.p99, n: l.n, total: l.total, errors: l.errors }
}

/** Resolves once GET `url` answers 200 (the route reached that engine through the cluster). */
async function untilServed(url: string, timeoutMs = 10_000): Promise<void> {
  const end = nowMs() + timeoutMs
  for (;;) {
    const status = await fetch(url).then(
      (res) => res.text().then(() => res.status),
      () => 0,
    )
    if (status === 200) return
    if (nowMs() > end) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${status})`)
    await sleep(25)
  }
}

function summarize(input: { runs: number; httpS: number; callMs: number; http: Record<string, Measured[]>; rt: Record<string, Measured[]>; calls: Record<string, Measured[]>; workers: number }): Section {
  const { runs, httpS, callMs, http, rt, calls, workers } = input
  const rows: Row[] = []
  const med = (ms: Measured[] | undefined, key: keyof Measured) => median((ms ?? []).map((m) => m[key]))
  const against = (c: Compared, baselineName: string, value: (v: number) => string) => ({ value: value(c.engine), baseline: `${value(c.baseline)} (${baselineName})`, ratio: ratioText(c) })
  const engines = (k: number) => `${k} engine${k > 1 ? 's' : ''}`

  // Spread over 1, 2, 3 engines: each configuration against 1 engine, within rounds.
  const spreadRows = (results: Record<string, Measured[]>, scenario: (k: number) => string, unit: string) => {
    for (const k of SIZES.slice(1)) {
      const rate = compare(results, String(k), ['1'], 'rate', 'higher')
      const p99 = compare(results, String(k), ['1'], 'p99', 'lower')
      rows.push({ scenario: scenario(k), figure: unit, ...against(rate, '1 engine', fmt.int), target: '— (2 cores: see the section)', pass: null })
      rows.push({ scenario: scenario(k), figure: 'p99 latency', ...against(p99, '1 engine', fmt.ms), target: '—', pass: null })
    }
  }
  spreadRows(http, (k) => `cluster: HTTP trigger → WS worker, ${HTTP_CONNECTIONS} connections over ${engines(k)}`, 'req/s')
  spreadRows(rt, (k) => `cluster: invocation round trip, ${RT_INFLIGHT} in flight over ${engines(k)}`, 'calls/s')

  // A call answered on another engine against one answered on the caller's engine; that one against an engine alone.
  const at = (inflight: number) => Object.fromEntries(CALL_TARGETS.map((t) => [t, calls[`${t}:${inflight}`] ?? []]))
  const remote1 = (key: 'p50' | 'p99') => compare(at(1), 'remote', ['local'], key, 'lower')
  const crossScenario = 'cluster: call answered on another engine'
  rows.push({ scenario: `${crossScenario}, 1 in flight`, figure: 'p50 latency', ...against(remote1('p50'), "caller's engine", fmt.ms), target: '—', pass: null })
  rows.push({ scenario: `${crossScenario}, 1 in flight`, figure: 'p99 latency', ...against(remote1('p99'), "caller's engine", fmt.ms), target: '—', pass: null })
  rows.push({ scenario: `${crossScenario}, ${CALL_INFLIGHTS[1]} in flight`, figure: 'calls/s', ...against(compare(at(CALL_INFLIGHTS[1]), 'remote', ['local'], 'rate', 'higher'), "caller's engine", fmt.int), target: '—', pass: null })
  const localScenario = "cluster: call answered on the caller's engine"
  rows.push({ scenario: `${localScenario}, 1 in flight`, figure: 'p50 latency', ...against(compare(at(1), 'local', ['alone'], 'p50', 'lower'), 'engine alone', fmt.ms), target: '≈ 1× (a local call never looks at the cluster)', pass: null })
  rows.push({ scenario: `${localScenario}, ${CALL_INFLIGHTS[1]} in flight`, figure: 'calls/s', ...against(compare(at(CALL_INFLIGHTS[1]), 'local', ['alone'], 'rate', 'higher'), 'engine alone', fmt.int), target: '≈ 1×', pass: null })

  // Medians per configuration, and every round.
  const medianRow = (label: string, ms: Measured[] | undefined) => [
    label,
    fmt.int(med(ms, 'rate')),
    fmt.ms(med(ms, 'p50')),
    fmt.ms(med(ms, 'p99')),
    `${med(ms, 'enginesUs').toFixed(1)} µs`,
    `${med(ms, 'natsUs').toFixed(1)} µs`,
    `${med(ms, 'workersUs').toFixed(1)} µs`,
    med(ms, 'cores').toFixed(2),
    med(ms, 'machine').toFixed(2),
  ]
  const head = (unit: string) => ['', `${unit}/s`, 'p50', 'p99', `engines' CPU per ${unit}`, `nats-server's`, `workers'`, 'cores busy', 'machine']
  const roundRows: string[][] = []
  const addRounds = (what: string, ms: Measured[] | undefined) => {
    for (const [i, m] of (ms ?? []).entries()) roundRows.push([what, String(i + 1), fmt.int(m.rate), fmt.ms(m.p50), fmt.ms(m.p99), String(m.errors), `${m.enginesUs.toFixed(1)} µs`, `${m.natsUs.toFixed(1)} µs`, m.cores.toFixed(2), m.machine.toFixed(2)])
  }
  for (const k of SIZES) addRounds(`HTTP, ${engines(k)}`, http[k])
  for (const k of SIZES) addRounds(`round trip, ${engines(k)}`, rt[k])
  for (const inflight of CALL_INFLIGHTS) for (const t of CALL_TARGETS) addRounds(`call, ${t}, ${inflight} in flight`, calls[`${t}:${inflight}`])

  const callRows = CALL_INFLIGHTS.flatMap((inflight) =>
    CALL_TARGETS.map((t) => {
      const [label, ...rest] = medianRow(CALL_LABEL[t], calls[`${t}:${inflight}`])
      return [label, String(inflight), ...rest]
    }),
  )
  const cores = cpus().length
  const busy = (results: Record<string, Measured[]>, key: 'cores' | 'machine') => SIZES.map((k) => med(results[k], key).toFixed(2)).join(', ')
  const ratioOf = (results: Record<string, Measured[]>, k: number) => fmt.x(compare(results, String(k), ['1'], 'rate', 'higher').ratio)
  const details = [
    `A nats-server -js of the scenario's own (a free port, a temporary store, removed after), three engines of one cluster on it (bench/procs/engine-host.ts with \`cluster\`, as \`signalbox serve --cluster\` runs them, each in its own process, its queues in the JetStream store), an engine alone (no cluster) for the call comparison, ${workers} worker processes (raw \`ws\`), a caller process and autocannon's process. **The same workers** stand behind every configuration: each worker process holds a connection to every engine and serves \`bench::http\` and \`bench::echo\` on each, so every engine has ${workers} local replicas of each function and a request or call is answered by a worker of the engine that took it (local replicas first, docs/cluster.md); the http route \`GET /hello\` is registered once, on engine 1, and engines 2 and 3 serve it from the cluster's routes bucket. With 1, 2 or 3 engines, the load is spread over the first 1, 2 or 3 engines' listeners; the engines not in use stay up (they only beat every second).`,
    '',
    `- **HTTP trigger:** autocannon, ${HTTP_CONNECTIONS} connections dealt round robin over the engines' HTTP listeners, ${httpS} s per measurement (a 1 s warm-up in the first round). Every worker answers \`{status_code: 200, body: 'hello'}\`.`,
    `- **Round trip:** the caller keeps ${RT_INFLIGHT} \`invokefunction\` calls of \`bench::echo\` in flight, dealt over one connection to each engine in use, ${callMs / 1000} s after a ${WARMUP_MS} ms warm-up.`,
    `- **A call across engines next to a local one:** the caller, on engine 1, calls \`bench::echo\` (served by engine 1's own workers: a local call, which never looks at the cluster) or \`bench::remote\` (served only on engine 2, by the same worker processes: the call crosses NATS to engine 2 and its answer comes back, with a \`taken\` notice between), or \`bench::echo\` on the engine alone; 1 and ${CALL_INFLIGHTS[1]} calls in flight, ${callMs / 1000} s each after a ${WARMUP_MS} ms warm-up. Every engine, worker and the caller has a process of its own, so each message between them wakes another process.`,
    '',
    `Each round measures every configuration once, in an order rotated from round to round (${runs} rounds); each figure is the median over rounds, and each ratio the median of the ratios taken within a round, with their smallest and largest in brackets. CPU per answer is each group of processes' user + system CPU time from /proc over the measurement (warm-up included), divided by the answers: the engines' is the three cluster engines together (the engine alone for \`alone\`). "Cores busy" is the CPU time of every process of the scenario (the engines, nats-server, the workers, the caller and autocannon) over the measurement's wall time; "machine" is the same for every process of the machine (/proc/stat), the scenario's and others'.`,
    '',
    `**What limits these figures on this ${cores}-core machine.** Every process of the scenario shares its ${cores} cores: the engines, nats-server, the ${workers} workers, the caller and autocannon, and so does whatever else runs on the machine meanwhile. An engine runs its work on one thread, so one engine can use about one core; with 1, 2 and 3 engines the scenario's processes kept ${busy(http, 'cores')} cores busy under HTTP load (the whole machine ${busy(http, 'machine')}) and ${busy(rt, 'cores')} under the round trip (the machine ${busy(rt, 'machine')}). A second engine can only take the part of the second core that autocannon, the workers and nats-server leave, and a third has no core of its own at all: it takes its time from the other engines and the load generator, and adds an event loop, context switches and colder caches. So the engines' throughput cannot grow with their number here, beyond what the second core has spare (HTTP ${ratioOf(http, 2)} and ${ratioOf(http, 3)} of one engine's with 2 and 3 engines, the round trip ${ratioOf(rt, 2)} and ${ratioOf(rt, 3)}); a cluster adds throughput when its engines have cores, or machines, of their own, which cannot be measured on this machine. What these rows do show is that the engines serve a route registered on one of them, and calls to local workers, without going through NATS (nats-server's CPU per answer stays near zero for them), and what spreading costs when the cores are taken. The cost of a call across engines is measured fairly here: it is latency and CPU on the call's path (two more NATS hops and the \`taken\` notice, and nats-server's work), though at 1 call in flight each hop wakes a process that may wait for a core.`,
    '',
    'Medians, HTTP trigger:',
    '',
    table(head('request'), SIZES.map((k) => medianRow(engines(k), http[k]))),
    '',
    'Medians, round trip:',
    '',
    table(head('call'), SIZES.map((k) => medianRow(engines(k), rt[k]))),
    '',
    'Medians, one call answered by:',
    '',
    table(['', 'in flight', 'calls/s', 'p50', 'p99', "engines' CPU per call", "nats-server's", "workers'", 'cores busy', 'machine'], callRows),
    '',
    table(['measurement', 'round', 'answers/s', 'p50', 'p99', 'errors', "engines' CPU per answer", "nats-server's", 'cores busy', 'machine'], roundRows),
  ].join('\n')
  return { id: 'cluster', title: 'A cluster of engines on NATS', rows, details, raw: { http, rt, calls } }
}
