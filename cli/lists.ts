/**
 * What `signalbox ls <list>` can list, one entry per list: the engine function that answers
 * it, the key of the array in its answer, and the table's columns. Adding a list is adding
 * an entry here (its engine function must exist). Workers are shown by the name they gave
 * (`connectWorker(url, { name })`, iii-sdk's `engine::workers::register`) with the start of
 * their id; each trigger with what it binds: its route, schedule or queue.
 */

export type Row = Record<string, any>

/** What a cell may need beyond its row. */
export interface ListContext {
  /** `name (1a2b3c4d)` for a worker id, or the id when the worker gave no name. */
  worker(worker_id: string): string
}

export interface ListSpec {
  /** For `signalbox help ls`. */
  describe: string
  /** The engine function that answers it, and what it is asked (`{}` when nothing is given). */
  fn: string
  input?: Record<string, unknown>
  /** The array in its answer. */
  key: string
  columns: ReadonlyArray<readonly [header: string, cell: (row: Row, ctx: ListContext) => unknown]>
}

const short = (worker_id: string) => worker_id.slice(0, 8)

/** What a trigger binds, in a few words: `POST /invoices`, `0 9 * * * America/New_York`, `queue emails`. */
export function boundTo(trigger: Row): string {
  const c: Row = trigger.config ?? {}
  if (trigger.trigger_type === 'http') return `${String(c.method ?? c.http_method ?? 'GET').toUpperCase()} ${c.path ?? c.api_path ?? '?'}`
  if (trigger.trigger_type === 'cron') return `${c.schedule ?? c.expression ?? '?'}${c.timezone ? ` ${c.timezone}` : ''}`
  if (trigger.trigger_type === 'queue') return `queue ${c.queue_name ?? '?'}`
  const text = JSON.stringify(c)
  return text.length > 60 ? `${text.slice(0, 59)}…` : text
}

export const LISTS: Readonly<Record<string, ListSpec>> = {
  workers: {
    describe: 'connected workers: name, runtime, pid, what they registered',
    fn: 'engine::workers::list',
    key: 'workers',
    columns: [
      ['NAME', (w) => w.name],
      ['WORKER_ID', (w) => w.worker_id],
      ['RUNTIME', (w) => (w.runtime ? `${w.runtime}${w.version ? ` ${w.version}` : ''}` : undefined)],
      ['PID', (w) => w.pid],
      ['FUNCTIONS', (w) => w.functions?.length],
      ['TRIGGERS', (w) => w.triggers],
      ['CONNECTED_AT', (w) => w.connected_at],
    ],
  },
  functions: {
    describe: 'functions offered, engine functions first, with the workers serving each',
    fn: 'engine::functions::list',
    key: 'functions',
    columns: [
      ['FUNCTION_ID', (f) => f.function_id],
      ['SERVED_BY', (f, ctx) => (f.engine ? 'engine' : (f.workers ?? []).map((id: string) => ctx.worker(id)).join(', '))],
      ['DESCRIPTION', (f) => f.description],
    ],
  },
  triggers: {
    describe: 'triggers with their route, schedule or queue, state and worker',
    fn: 'engine::registered-triggers::list',
    // Triggers bound to engine functions too (iii calls them internal and hides them by default).
    input: { include_internal: true },
    key: 'registered_triggers',
    columns: [
      ['ID', (t) => t.id],
      ['TYPE', (t) => t.trigger_type],
      ['BINDS', (t) => boundTo(t)],
      ['FUNCTION_ID', (t) => t.function_id],
      ['STATE', (t) => t.state],
      ['WORKER', (t, ctx) => ctx.worker(t.worker_id)],
      ['NEXT_RUN', (t) => t.next_run],
    ],
  },
  types: {
    describe: 'trigger types and who provides them',
    fn: 'engine::triggers::list',
    input: { include_internal: true },
    key: 'triggers',
    columns: [
      ['ID', (t) => t.id],
      ['PROVIDER', (t, ctx) => (t.worker_id === 'engine' ? 'engine' : ctx.worker(t.worker_id))],
      ['DESCRIPTION', (t) => t.description || undefined],
    ],
  },
  queues: {
    describe: 'queues: messages ready, in flight, delayed and dead-lettered, the oldest message, consumers',
    fn: 'engine::queue::list',
    key: 'queues',
    columns: [
      ['QUEUE', (q) => q.queue_name],
      ['READY', (q) => q.ready],
      ['IN_FLIGHT', (q) => q.in_flight],
      ['DELAYED', (q) => q.delayed],
      ['DEAD_LETTERED', (q) => q.dead_lettered],
      ['OLDEST', (q) => (q.oldest_message_age_seconds === undefined ? undefined : `${q.oldest_message_age_seconds} s`)],
      ['FIFO', (q) => (q.fifo ? 'yes' : 'no')],
      // In a cluster, each consumer with the engine it runs on (the counts are the shared store's).
      ['CONSUMERS', (q, ctx) => (q.consumers ?? []).map((c: Row) => `${c.trigger_id} → ${c.function_id} (${ctx.worker(c.worker_id)}${c.engine_id ? ` on ${c.engine_id}` : ''})`).join(', ')],
    ],
  },
}

/** A worker as the lists show it, given the names from `engine::workers::list`. */
export function workerLabel(names: ReadonlyMap<string, string | undefined>) {
  return (worker_id: string) => {
    const name = names.get(worker_id)
    return name ? `${name} (${short(worker_id)})` : worker_id
  }
}
