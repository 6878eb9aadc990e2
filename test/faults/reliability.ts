/**
 * RELIABILITY.md, made from what `npm run soak` wrote (soak-results.json): a table of the
 * fault scenarios it ran (load, faults, bad inputs, what was lost, figures, memory), then
 * the promises they stand behind, in plain words. The same results always make the same
 * text, so a test can check that the committed RELIABILITY.md is what the committed
 * results say.
 */
import { fmt, type Outcome } from './outcome.js'

export interface SoakResult {
  name: string
  /** The test file that runs its short size in `npm test`. */
  test: string
  ok: boolean
  seconds: number
  outcome?: Outcome
  error?: string
}

export interface SoakResults {
  /** `long` for `npm run soak`. */
  size: 'short' | 'long'
  started_at: string
  seconds: number
  commit?: string
  node: string
  machine: { cpus: number; cpu_model: string; memory_bytes: number; load_at_start: number[] }
  results: SoakResult[]
}

/** Text for one table cell: no pipes or line breaks of its own. */
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ')

function memory(m: Outcome['memory']): string {
  if (!m) return '-'
  const parts: string[] = []
  if (m.heapStart !== undefined && m.heapEnd !== undefined) parts.push(`heap ${fmt.mb(m.heapStart)} → ${fmt.mb(m.heapEnd)}`)
  if (m.peakRss !== undefined) parts.push(`peak RSS ${fmt.mb(m.peakRss)}`)
  if (m.rssEnd !== undefined) parts.push(`final RSS ${fmt.mb(m.rssEnd)}`)
  return parts.join('<br>') || '-'
}

const minutes = (seconds: number) => (seconds < 90 ? `${Math.round(seconds)} s` : `${(seconds / 60).toFixed(1)} min`)

const PROMISES = `## What signalbox promises

These are the promises the tests above stand behind. Each is also in the docs named, with
the details.

### Queues: at least once ([docs/queues.md](docs/queues.md))

- **A message is delivered at least once.** It is acknowledged only when the function
  that received it answers. An error, no answer, or its id in \`failed_message_ids\` makes
  it come back. Your function must cope with seeing a message twice.
- **Visibility timeout.** A delivered batch is leased for \`visibility_timeout\` seconds
  (default 30): nobody else gets those messages meanwhile. If the worker dies or does not
  answer in time, the batch becomes visible again when the lease ends (or after its
  \`backoff\`), and its receive is counted.
- **Dead-letter queue.** A message received \`max_receive_count\` times (default 5) moves
  to its dead-letter queue (\`<queue>.dlq\` unless the trigger names another), with the
  error of its last receive. A dead-letter queue is an ordinary queue: consume it, list it
  (\`engine::queue::dlq\`), redrive it.
- **Nothing acknowledged is lost.** With the SQLite store (\`signalbox serve\`'s default), a
  send that was answered is on disk: it survives the engine being killed with SIGKILL, and
  is delivered after a restart. The memory store (the embedded default) keeps nothing
  across a restart.
- While no worker offers a queue trigger's function, its messages wait; they do not spend
  their receives.

### When a worker dies ([docs/reconnects.md](docs/reconnects.md))

- **Calls in its hands fail at once** with \`worker_disconnected\` ("The worker serving 'f'
  disconnected before answering"); an HTTP request it was serving is answered **503** with
  \`Retry-After: 1\`. The engine cannot know whether the function ran: retry only what is
  safe to run twice.
- **Its session is held for \`reconnectGraceMs\`** (default 5 s) when the connection was
  lost rather than closed. Meanwhile its routes stay (never 404), its cron triggers keep
  their schedule, and a call for a function only it offered **waits** for a worker that
  offers it: the worker coming back, or any replica. If none comes within the grace, the
  call fails \`worker_disconnected\` ("No worker offered 'f' within … ms"), HTTP 503 with
  \`Retry-After: 1\`. After the grace its routes are gone (404).
- **A worker that comes back** (the bundled client and iii-sdk both reconnect and register
  again, then \`reattach\`) takes over: the held session is retired as soon as the new one
  holds all it held, so no route, schedule or consumer lapses.
- **Its queue batches come back** when their visibility timeout ends. **Trigger types it
  provided are released at once**; triggers other workers bound to them are parked and
  re-sent to the next worker that provides the type.
- **A worker that stops gracefully** (the bundled client's \`close()\`) unregisters its
  functions, waits until the engine has taken that in, finishes the calls in its hands,
  then closes: a rolling deploy (start the new replica, stop the old) loses no call and
  answers no 404 or 503. Replicas' cron triggers run each tick once.

### When the engine stops

- **SIGTERM or SIGINT**: \`signalbox serve\` stops taking connections, lets calls in flight
  finish for up to \`graceMs\` (default 10 s), answers those still running
  \`worker_disconnected\`, and exits 0.
- **SIGKILL**: calls in flight are lost with the process (their callers see the connection
  drop); acknowledged queue messages are not (SQLite store).

### Hostile input ([docs/limits.md](docs/limits.md), [docs/protocol.md](docs/protocol.md))

- A frame that is not a message, or a message that is malformed, is answered with an
  \`error\` frame (or the \`invocationresult\` / \`triggerregistrationresult\` it asked
  for) naming what was wrong. It never reaches another session, never closes the
  connection (except a frame over \`maxPayload\`: close 1009, or text that is not UTF-8:
  close 1007), and never changes \`Object.prototype\`.
- Every resource one connection can make the engine hold is bounded, each limit answered
  with \`too_many_requests\` (HTTP 429) or its own code, never by dropping the connection.
- The HTTP listener answers a head too large 431, a body too large 413, a body that is
  not the JSON it says it is 400, a path parameter that is not valid percent-encoding 400,
  and a path with a \`.\` or \`..\` segment (raw, encoded, or behind an encoded \`/\`) 400:
  none of these reaches a function. Clients too slow to send their headers or their
  request are cut off (408) at \`http.headersTimeoutMs\` / \`http.requestTimeoutMs\`.

### What auth protects ([docs/security.md](docs/security.md))

- **Off by default**, for development on \`127.0.0.1\`; \`signalbox serve\` refuses to listen
  on another address without tokens unless \`--insecure\` is given.
- **With tokens**, a WebSocket connection to the worker port must present one
  (\`Authorization: Bearer\`); without a valid one the upgrade is answered 401 and no
  session opens. Each token's scope says which functions its connections may register and
  call, which trigger types they may bind or provide, and whether they may call the
  \`engine::*\` functions and read \`/metrics\`. What a scope refuses is answered
  \`forbidden\`, never dropped in silence.
- **Between connections**: a session cannot unregister, answer, observe or take over
  another session's triggers, routes, calls or queue leases; answers and verdicts are
  accepted only from the session that was asked, and a reattach needs the token only the
  previous connection was given.
- **Not protected by signalbox**: the HTTP trigger listener serves whoever reaches it (your
  functions authenticate their callers), \`/healthz\` needs no token, workers connected
  in-process are trusted, and nothing is encrypted: put TLS in front (a proxy) on any
  network you do not trust.
`

/** The text of RELIABILITY.md for `results`. */
export function renderReliability(results: SoakResults): string {
  const passed = results.results.filter((r) => r.ok)
  const failed = results.results.filter((r) => !r.ok)
  const m = results.machine
  const lines = [
    '# Reliability: faults survived, and shown',
    '',
    '<!-- generated by npm run soak from soak-results.json (test/faults/reliability.ts); do not edit by hand -->',
    '',
    `What signalbox went through in its last \`npm run soak\`, and lived. Every row is a test: the same scenario runs in a short size in \`npm test\` (the file named), and in the size shown here in \`npm run soak\`. Each uses real processes (\`signalbox serve\` from \`dist/cli.js\`, workers in processes of their own), real sockets and real signals, and fails if anything in the column "lost" is not nothing.`,
    '',
    `Run ${results.started_at.slice(0, 16).replace('T', ' ')} UTC${results.commit ? ` at commit \`${results.commit.slice(0, 12)}\`` : ''}, ${results.size === 'long' ? 'soak sizes' : 'short sizes'}, ${minutes(results.seconds)} in all; Node ${results.node}, ${m.cpus} CPUs (${m.cpu_model}), ${fmt.mb(m.memory_bytes)} of memory, load average ${m.load_at_start.map((l) => l.toFixed(1)).join(' / ')} at the start (the machine was shared). ${passed.length} of ${results.results.length} scenarios passed.`,
    '',
    '| test | load | faults injected | bad inputs tried | lost | figures | memory (engine) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ]
  for (const r of results.results) {
    const o = r.outcome
    if (!r.ok || !o) {
      lines.push(`| ${cell(r.name)} ([test](${r.test})) | - | - | - | **FAILED**: ${cell((r.error ?? 'no outcome').slice(0, 300))} | - | - |`)
      continue
    }
    const figures = o.figures.map(([k, v]) => `${cell(k)}: ${cell(v)}`).join('<br>')
    lines.push(`| ${cell(o.title)} ([test](${r.test}), ${minutes(r.seconds)}) | ${cell(o.load)} | ${cell(o.faults)} | ${cell(o.badInputs)} | ${cell(o.lost)} | ${figures} | ${memory(o.memory)} |`)
  }
  if (failed.length > 0) lines.push('', `**${failed.length} scenario${failed.length > 1 ? 's' : ''} failed**: ${failed.map((r) => r.name).join(', ')}.`)
  lines.push('', 'Run them: `npm run soak` (long sizes, minutes; writes soak-results.json and this file), `npm test` (short sizes, among every other test).', '', PROMISES)
  return lines.join('\n')
}
