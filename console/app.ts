/**
 * The operator console in the browser: one WebSocket to the engine (`/console/ws`), a
 * store of what the engine pushed, and a page per route that draws from it. The engine
 * pushes every change; nothing here polls. A page is mounted once per route (its forms
 * keep what was typed) and updates its tables in place when the store changes.
 */
import type {
  ConsoleMessage,
  ConsoleRequest,
  ConsoleResult,
  ConsoleSections,
  ConsoleWelcome,
  FeedEntry,
  QueueRow,
  TriggerRow,
  WorkerRow,
} from '../protocol/console.js'
import type { ErrorCode } from '../protocol/errors.js'
import {
  bindsOf,
  chartLines,
  count,
  deadLettersShownFor,
  engineCells,
  feedMatches,
  formatAge,
  formatMs,
  hrefOf,
  inZone,
  invokeLacks,
  keepLast,
  listedTriggers,
  MAX_MESSAGE_BYTES,
  MAX_TIMEOUT_MS,
  parseInput,
  parseRoute,
  parseTimeout,
  percent,
  preview,
  redriveLacks,
  relative,
  shortId,
  sourceOf,
  tooLarge,
  TRIGGER_STATES,
  triggerCountRows,
  triggerMatches,
  type FeedFilter,
  type ListedTrigger,
  type Route,
} from './view.js'

/** The code of a request that could not reach the engine (protocol/errors.ts). */
const DISCONNECTED = 'disconnected' satisfies ErrorCode

const TOKEN_KEY = 'signalbox.console.token'
/** Invocations the feed keeps. */
const FEED_MAX = 500
/** Rows the feed shows. */
const FEED_SHOWN = 200

// ---------------------------------------------------------------------------------------
// the store

const store: {
  connection: 'connecting' | 'open' | 'closed' | 'refused'
  welcome?: ConsoleWelcome
  refusal?: { code: string; message: string }
  sections: Partial<ConsoleSections>
  feed: FeedEntry[]
  skipped: number
} = { connection: 'connecting', sections: {}, feed: [], skipped: 0 }

const triggers = (): TriggerRow[] => store.sections.triggers ?? []
/** The registrations, then the recent failures. */
const listed = (): ListedTrigger[] => listedTriggers(triggers(), store.sections.failed_triggers ?? [])
const queues = (): QueueRow[] => store.sections.queues ?? []
const workerLabel = (worker_id: string): string => {
  if (worker_id === 'engine') return 'engine'
  const w = store.sections.workers?.find((x) => x.worker_id === worker_id)
  return w?.name ? `${w.name} (${shortId(worker_id)})` : shortId(worker_id)
}

// ---------------------------------------------------------------------------------------
// DOM helpers

type Child = Node | string | number | null | undefined | false | Child[]
type Props = Record<string, unknown>

function append(el: ParentNode, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue
    if (Array.isArray(c)) append(el, c)
    else el.append(c instanceof Node ? c : String(c))
  }
}

function setProps(el: Element, props: Props | undefined): void {
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value as EventListener)
    else if (key === 'value' && 'value' in el) (el as HTMLInputElement).value = String(value)
    else if (key === 'checked' && 'checked' in el) (el as HTMLInputElement).checked = Boolean(value)
    else el.setAttribute(key, value === true ? '' : String(value))
  }
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  setProps(el, props ?? undefined)
  append(el, children)
  return el
}

function svg(tag: string, props?: Props, ...children: Child[]): SVGElement {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag)
  setProps(el, props)
  append(el, children)
  return el
}

/**
 * Makes what `slot` holds look like `children`, changing the page in place: an element
 * that stays (same tag, same `data-key` among its siblings, or the same place among the
 * unkeyed ones) is kept with its attributes and text brought up to date, so the keyboard
 * focus, a table's sideways scroll and a checkbox's state survive every push and every
 * tick of the relative times. Table rows carry a `data-key` (their worker, trigger,
 * message…), so a row that comes or goes moves no other row's elements. Listeners are
 * those of the elements kept: an element with a listener is drawn in a keyed row, so the
 * element kept stands for the same thing. Should the focused element go, the focus goes
 * to the nearest focusable element that held it (a table's region), never to the page.
 */
function fill(slot: Element, ...children: Child[]): void {
  const active = document.activeElement
  const inside = active !== null && active !== slot && slot.contains(active)
  const holders: Element[] = []
  if (inside) for (let e = active.parentElement; e && e !== slot; e = e.parentElement) holders.push(e)
  const next = document.createDocumentFragment()
  append(next, children)
  patchChildren(slot, next)
  if (!inside || document.activeElement === active) return
  if (active.isConnected) (active as HTMLElement).focus({ preventScroll: true })
  else (holders.find((e) => e.isConnected && slot.contains(e) && (e as HTMLElement).tabIndex >= 0) as HTMLElement | undefined)?.focus({ preventScroll: true })
}

const keyOf = (n: Node): string | null => (n instanceof Element ? n.getAttribute('data-key') : null)
const sameKind = (a: Node, b: Node) => a.nodeType === b.nodeType && a.nodeName === b.nodeName && (!(a instanceof Element) || a.namespaceURI === (b as Element).namespaceURI)

/** Brings `target`'s children in line with `source`'s, keeping those that match (keyed ones by key, the others in order). */
function patchChildren(target: ParentNode & Node, source: ParentNode & Node): void {
  const old = [...target.childNodes]
  const keyed = new Map<string, Node>()
  const unkeyed: Node[] = []
  for (const n of old) {
    const k = keyOf(n)
    if (k === null) unkeyed.push(n)
    else keyed.set(k, n)
  }
  const kept = new Set<Node>()
  let from = 0
  const wanted: Node[] = []
  for (const s of [...source.childNodes]) {
    const k = keyOf(s)
    let match: Node | undefined
    if (k !== null) {
      const m = keyed.get(k)
      if (m && sameKind(m, s)) match = m
    } else {
      for (let i = from; i < unkeyed.length; i++) {
        if (sameKind(unkeyed[i], s)) {
          match = unkeyed[i]
          from = i + 1
          break
        }
      }
    }
    if (match) {
      kept.add(match)
      patch(match, s)
      wanted.push(match)
    } else wanted.push(s)
  }
  for (const n of old) if (!kept.has(n)) n.parentNode?.removeChild(n)
  // Only what is new, or out of order, is inserted; elements in their place are not touched.
  for (let i = 0; i < wanted.length; i++) {
    const at = target.childNodes[i]
    if (at !== wanted[i]) target.insertBefore(wanted[i], at ?? null)
  }
}

/** Makes `target` (of the same kind) look like `source`: its text, or its attributes, form state and children. */
function patch(target: Node, source: Node): void {
  if (!(target instanceof Element)) {
    if (target.nodeValue !== source.nodeValue) target.nodeValue = source.nodeValue
    return
  }
  const s = source as Element
  for (const { name } of [...target.attributes]) if (!s.hasAttribute(name)) target.removeAttribute(name)
  for (const { name, value } of [...s.attributes]) if (target.getAttribute(name) !== value) target.setAttribute(name, value)
  if (target instanceof HTMLInputElement && s instanceof HTMLInputElement && target.checked !== s.checked) target.checked = s.checked
  patchChildren(target, s)
}

interface Column {
  label: string
  num?: boolean
}

/** One row of a table: its cells, and what it stands for (unique in its table), which keeps its elements across updates. */
interface Row {
  key: string
  cells: Child[]
}

/** A table in a scrollable region: `rows` of cells, or one row saying `empty`. */
function table(caption: string, columns: Array<string | Column>, rows: Row[], empty: string): HTMLElement {
  const cols = columns.map((c) => (typeof c === 'string' ? { label: c } : c))
  return h(
    'div',
    { class: 'table-wrap', role: 'region', 'aria-label': caption, tabindex: 0 },
    h(
      'table',
      null,
      h('caption', null, caption),
      h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : undefined }, c.label)))),
      h(
        'tbody',
        null,
        rows.length === 0
          ? h('tr', { class: 'empty' }, h('td', { colspan: cols.length }, empty))
          : rows.map(({ key, cells }) => h('tr', { 'data-key': key }, cells.map((cell, i) => (i === 0 ? h('th', { scope: 'row' }, cell) : h('td', { class: cols[i]?.num ? 'num' : undefined }, cell))))),
      ),
    ),
  )
}

const link = (href: string, text: Child) => h('a', { href }, text)
const state = (s: string) => h('span', { class: `state ${s}` }, s)
const outcome = (o: string) => h('span', { class: `outcome ${o === 'ok' ? 'ok' : 'bad'}` }, o)
const field = (label: string, control: HTMLElement) => h('div', { class: 'field' }, h('label', { for: control.id }, label), control)
const cards = (items: Array<[string, Child]>) => h('dl', { class: 'cards' }, items.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))))

// ---------------------------------------------------------------------------------------
// the connection

let socket: WebSocket | undefined
let retryMs = 500
/** Whether the last connection sent a token. */
let sentToken = false
let nextId = 0
const waiting = new Map<string, (r: ConsoleResult) => void>()

function connect(): void {
  store.connection = 'connecting'
  redraw()
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/console/ws`)
  socket = ws
  ws.addEventListener('open', () => {
    const token = sessionStorage.getItem(TOKEN_KEY) ?? undefined
    sentToken = token !== undefined
    ws.send(JSON.stringify({ type: 'hello', token } satisfies ConsoleRequest))
  })
  ws.addEventListener('message', (e) => receive(JSON.parse(String(e.data)) as ConsoleMessage))
  ws.addEventListener('close', () => {
    if (socket !== ws) return
    for (const [id, done] of waiting) done({ type: 'result', id, ok: false, error: { code: DISCONNECTED, message: 'The connection to the engine ended before it answered' }, ms: 0 })
    waiting.clear()
    if (store.connection === 'refused') return redraw()
    store.connection = 'closed'
    redraw()
    // Reconnect: the engine may be restarting.
    setTimeout(connect, retryMs)
    retryMs = Math.min(retryMs * 2, 10_000)
  })
}

function receive(message: ConsoleMessage): void {
  switch (message.type) {
    case 'welcome': {
      const signedIn = view?.login === true
      store.welcome = message
      store.connection = 'open'
      store.refusal = undefined
      retryMs = 500
      if (signedIn) mount(true)
      break
    }
    case 'refused':
      store.connection = 'refused'
      store.refusal = message.error
      // A token the engine does not know, or one that may not open the console: asked for again, not kept.
      if (message.error.code === 'unauthorized' || message.error.code === 'forbidden') sessionStorage.removeItem(TOKEN_KEY)
      mount()
      break
    case 'state':
      Object.assign(store.sections, message.sections)
      break
    case 'feed':
      store.feed = keepLast(store.feed, message.entries, FEED_MAX)
      store.skipped += message.skipped
      feedArrived(message.entries)
      break
    case 'result':
      waiting.get(message.id)?.(message)
      waiting.delete(message.id)
      break
  }
  redraw()
}

/** Sends a request and resolves with its result. */
function ask(message: Exclude<ConsoleRequest, { type: 'hello' }>): Promise<ConsoleResult> {
  return new Promise((resolve) => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return resolve({ type: 'result', id: message.id, ok: false, error: { code: DISCONNECTED, message: 'Not connected to the engine' }, ms: 0 })
    waiting.set(message.id, resolve)
    socket.send(JSON.stringify(message))
  })
}
const newId = () => `r${++nextId}`

// ---------------------------------------------------------------------------------------
// the header

function drawHeader(): void {
  const badge = document.getElementById('connection')!
  const text = { connecting: 'connecting…', open: 'live', closed: 'disconnected: reconnecting…', refused: 'not signed in' }[store.connection]
  badge.textContent = text
  badge.className = `badge ${store.connection}`
  const who = document.getElementById('who')!
  const w = store.welcome
  if (w && store.connection === 'open') {
    const can = [mayAnything(w) ? 'invoke' : '', w.rights.redrive ? 'redrive' : ''].filter(Boolean)
    who.textContent = `${w.identity ? `token ${w.identity}` : 'no auth'} · ${can.length > 0 ? `may ${can.join(' and ')}` : 'read-only'} · v${w.version}`
  } else who.textContent = ''
  const inspector = document.getElementById('inspector') as HTMLAnchorElement
  if (w?.inspector_url) {
    inspector.href = w.inspector_url
    inspector.hidden = false
  } else inspector.hidden = true
  ;(document.getElementById('forget') as HTMLButtonElement).hidden = sessionStorage.getItem(TOKEN_KEY) === null
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav.pages a')) {
    if (a.dataset.page === route.page) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
}
const mayAnything = (w: ConsoleWelcome) => w.rights.invoke.length > 0

// ---------------------------------------------------------------------------------------
// pages

interface View {
  el: HTMLElement
  update(): void
  /** The sign-in form, which the console leaves once signed in. */
  login?: boolean
}

function overviewPage(): View {
  const top = h('div')
  const chart = h('section', { class: 'chart', 'aria-labelledby': 'chart-title' })
  const rest = h('div')
  const el = h('div', null, h('h1', { tabindex: -1 }, 'Overview'), top, chart, rest)
  return {
    el,
    update() {
      const o = store.sections.overview
      if (!o) return fill(top, h('p', { class: 'note' }, 'Waiting for the engine…'))
      const up = (Date.now() - Date.parse(o.started_at)) / 1000
      fill(
        top,
        cards([
          ['Engine', `v${o.version}`],
          ['Uptime', formatAge(up)],
          ['Sessions', [count(o.sessions), o.held_sessions > 0 ? h('small', null, ` (${o.held_sessions} held)`) : null]],
          ['Functions', count(o.functions)],
          ['Calls / s', count(o.calls_per_second)],
          ['Error rate', [percent(o.error_rate), h('small', null, ' last min')]],
          ['Calls in flight', count(o.calls_in_flight)],
        ]),
      )
      const W = 600
      const H = 100
      const lines = chartLines(o.series, W, H)
      const total = o.series.reduce((n, p) => n + p.calls, 0)
      const errs = o.series.reduce((n, p) => n + p.errors, 0)
      fill(
        chart,
        h('h2', { id: 'chart-title' }, 'Calls per second, last minute'),
        h('p', { class: 'legend' }, h('span', { class: 'k-calls' }, 'calls'), h('span', { class: 'k-errors' }, 'errors'), h('span', null, `scale: 0–${lines.max} per second`)),
        svg(
          'svg',
          { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': `${total} calls and ${errs} errors in the last minute; the busiest second had ${lines.max === 1 && total === 0 ? 0 : lines.max} calls` },
          svg('line', { class: 'axis', x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5 }),
          svg('polyline', { class: 'calls', points: lines.calls, 'vector-effect': 'non-scaling-stroke' }),
          svg('polyline', { class: 'errors', points: lines.errors, 'vector-effect': 'non-scaling-stroke' }),
        ),
      )
      const states = TRIGGER_STATES.filter((s) => s !== 'failed')
      fill(
        rest,
        h('h2', null, 'Triggers'),
        table(
          'Triggers by type and state; failed: registrations that failed recently, no longer registered',
          ['Type', ...states.map((s) => ({ label: s, num: true })), { label: 'registered', num: true }, { label: 'failed', num: true }],
          triggerCountRows(o.triggers).map((r) => ({
            key: r.trigger_type,
            cells: [
              link(hrefOf('triggers', r.trigger_type), r.trigger_type),
              ...r.states.map(count),
              count(r.registered),
              r.failed > 0 ? h('span', { class: 'error-text' }, count(r.failed)) : '0',
            ],
          })),
          'No triggers yet',
        ),
        h('h2', null, 'Queues'),
        cards([
          ['Queues', link(hrefOf('queues'), count(o.queues.queues))],
          ['Ready', count(o.queues.ready)],
          ['In flight', count(o.queues.in_flight)],
          ['Delayed', count(o.queues.delayed)],
          ['Dead-lettered', count(o.queues.dead_lettered)],
        ]),
        // In a cluster only: every engine this one hears of.
        o.cluster
          ? [
              h('h2', null, 'Cluster'),
              table(
                `Engines of the cluster (${o.cluster.engines.length})`,
                ['Engine', 'Host', 'Address', { label: 'Workers', num: true }, { label: 'Functions', num: true }, 'Started'],
                engineCells(o.cluster, Date.now()).map((e) => ({
                  key: e.engine_id,
                  cells: [[e.engine_id, e.note ? h('small', null, ` (${e.note})`) : null], e.host, e.address, e.workers, e.functions, h('span', { title: e.started_at }, e.started)],
                })),
                'No engine heard of yet',
              ),
            ]
          : null,
      )
    },
  }
}

function workersPage(): View {
  const slot = h('div')
  const el = h('div', null, h('h1', { tabindex: -1 }, 'Workers'), slot)
  return {
    el,
    update() {
      const now = Date.now()
      const rows = (store.sections.workers ?? []).map((w) => ({
        key: w.worker_id,
        cells: [
          [link(hrefOf('workers', w.worker_id), w.name ?? shortId(w.worker_id)), w.held_until ? [' ', state('held')] : null],
          w.runtime ? `${w.runtime}${w.version ? ` ${w.version}` : ''}` : '–',
          h('span', { title: w.connected_at }, relative(w.connected_at, now)),
          w.address ?? '–',
          count(w.functions.length),
          count(w.triggers),
          count(w.in_flight),
        ],
      }))
      fill(
        slot,
        table(
          'Connected workers',
          ['Name', 'Runtime', 'Connected', 'Address', { label: 'Functions', num: true }, { label: 'Triggers', num: true }, { label: 'Calls in flight', num: true }],
          rows,
          'No workers are connected',
        ),
      )
    },
  }
}

/** A failed registration's worker: as the console knows it while it is connected, else by the name it gave. */
const failedWorkerLabel = (t: ListedTrigger): string =>
  store.sections.workers?.some((w) => w.worker_id === t.worker_id) || !t.failure?.worker_name ? workerLabel(t.worker_id) : `${t.failure.worker_name} (${shortId(t.worker_id)})`

/** A trigger's state; for a failed registration also its error and when it failed. */
function stateCell(t: ListedTrigger, now: number): Child {
  const f = t.failure
  if (!f) return state(t.state)
  return [
    state('failed'),
    h('div', { class: 'failure' }, h('code', null, f.code), f.message ? `: ${f.message}` : ''),
    h('div', { class: 'muted', title: f.at }, `failed ${relative(f.at, now)}${f.from === 'resending' ? ', when re-sent to a new provider' : ''}`),
  ]
}

/** An active cron trigger's next runs in its time zone, a queue trigger's queue, else nothing. */
function nextRunsCell(t: ListedTrigger, now: number): Child {
  if (t.failure) return '–'
  if (t.next_runs) {
    return h(
      'ul',
      { class: 'runs', 'aria-label': `next runs in ${t.timezone}` },
      t.next_runs.map((r, i) => h('li', null, `${inZone(r, t.timezone)} ${t.timezone}`, i === 0 ? h('span', { class: 'muted' }, ` (${relative(r, now)})`) : null)),
    )
  }
  return t.trigger_type === 'queue' ? link(hrefOf('queues', String(t.config.queue_name ?? '')), String(t.config.queue_name ?? '')) : '–'
}

function triggerTable(caption: string, list: ListedTrigger[], showWorker: boolean): HTMLElement {
  const now = Date.now()
  return table(
    caption,
    ['ID', 'Type', 'Binds', 'Function', 'State', 'Next runs', ...(showWorker ? ['Worker'] : [])],
    list.map((t) => ({
      key: t.failure ? `failed/${t.failure.seq}` : `${t.worker_id}/${t.id}`,
      cells: [
        h('code', null, t.id),
        t.trigger_type,
        t.failure && !t.failure.config_kept ? '–' : h('code', null, bindsOf(t)),
        link(hrefOf('functions', t.function_id), h('code', null, t.function_id)),
        stateCell(t, now),
        nextRunsCell(t, now),
        ...(showWorker ? [link(hrefOf('workers', t.worker_id), t.failure ? failedWorkerLabel(t) : workerLabel(t.worker_id))] : []),
      ],
    })),
    'No triggers',
  )
}

function workerPage(worker_id: string): View {
  const slot = h('div')
  const title = h('h1', { tabindex: -1 }, 'Worker')
  const el = h('div', null, h('p', null, link(hrefOf('workers'), '← All workers')), title, slot)
  return {
    el,
    update() {
      const w: WorkerRow | undefined = store.sections.workers?.find((x) => x.worker_id === worker_id)
      title.textContent = `Worker ${w?.name ?? shortId(worker_id)}`
      if (!w) return fill(slot, h('p', { class: 'note', role: 'status' }, `Worker ${worker_id} is not connected (it left, or never was).`))
      const now = Date.now()
      fill(
        slot,
        h(
          'dl',
          { class: 'details' },
          [
            ['Worker id', h('code', null, w.worker_id)],
            ['Runtime', w.runtime ? `${w.runtime}${w.version ? ` ${w.version}` : ''}` : '–'],
            ['Process id', w.pid ?? '–'],
            ['Connected since', `${inZone(w.connected_at, Intl.DateTimeFormat().resolvedOptions().timeZone)} (${relative(w.connected_at, now)})`],
            ['Address', w.address ?? '–'],
            ['Calls in flight', count(w.in_flight)],
            ...(w.held_until ? ([['Held until', `${w.held_until} (its connection was lost)`]] as Array<[string, Child]>) : []),
          ].map(([k, v]) => [h('dt', null, k as string), h('dd', null, v as Child)]),
        ),
        h('h2', null, 'Functions'),
        table('Functions it serves', ['Function'], w.functions.map((f) => ({ key: f, cells: [link(hrefOf('functions', f), h('code', null, f))] })), 'It serves no functions'),
        h('h2', null, 'Trigger types it provides'),
        table(
          'Trigger types it provides',
          ['Type', 'Description'],
          (store.sections.trigger_types ?? []).filter((t) => t.worker_id === worker_id).map((t) => ({ key: t.id, cells: [h('code', null, t.id), t.description ?? '–'] })),
          'It provides no trigger types',
        ),
        h('h2', null, 'Triggers it registered'),
        triggerTable('Triggers it registered, and those of its registrations that failed recently', listed().filter((t) => t.worker_id === worker_id), false),
      )
    },
  }
}

function functionsPage(selected?: string): View {
  const invokeSlot = h('div')
  const slot = h('div')
  const el = h('div', null, h('h1', { tabindex: -1 }, 'Functions'), invokeSlot, slot)
  const panel = selected === undefined ? undefined : invokePanel(selected)
  if (panel) fill(invokeSlot, panel.el)
  return {
    el,
    update() {
      panel?.update()
      // The workers' functions first, then the engine's own.
      const list = [...(store.sections.functions ?? [])].sort((a, b) => Number(a.engine ?? false) - Number(b.engine ?? false))
      const rows = list.map((f) => ({
        key: f.function_id,
        cells: [
          [h('code', null, f.function_id), f.description ? h('div', { class: 'muted' }, f.description) : null],
          f.engine ? 'engine' : [count(f.workers.length), f.workers.length > 0 ? h('div', { class: 'muted' }, f.workers.map(workerLabel).join(', ')) : null, f.held.length > 0 ? h('div', null, state('held'), ` ${f.held.length}`) : null],
          count(f.calls),
          h('span', { class: f.errors > 0 ? 'error-text' : undefined }, count(f.errors)),
          formatMs(f.p50_ms),
          formatMs(f.p99_ms),
          link(hrefOf('functions', f.function_id), ['Invoke', h('span', { class: 'visually-hidden' }, ` ${f.function_id}`)]),
        ],
      }))
      fill(
        slot,
        table(
          'Functions, with calls since the engine started and latency over the last calls',
          ['Function', 'Replicas', { label: 'Calls', num: true }, { label: 'Errors', num: true }, { label: 'p50', num: true }, { label: 'p99', num: true }, ''],
          rows,
          'No functions',
        ),
      )
    },
  }
}

/** The invoke form of a function; `update` follows what the token may do (the engine says it once connected). */
function invokePanel(function_id: string): { el: HTMLElement; update(): void } {
  const input = h('textarea', { id: 'invoke-input', spellcheck: 'false', 'aria-describedby': 'invoke-hint invoke-problem', autocomplete: 'off' }) as HTMLTextAreaElement
  input.value = '{\n  \n}'
  const problem = h('p', { id: 'invoke-problem', class: 'error-text', 'aria-live': 'polite' })
  const timeout = h('input', { id: 'invoke-timeout', type: 'number', min: 1, max: MAX_TIMEOUT_MS, step: 1, inputmode: 'numeric', placeholder: 'engine default' }) as HTMLInputElement
  const result = h('section', { class: 'result', 'aria-live': 'polite', 'aria-label': 'Result' })
  const button = h('button', { type: 'submit', 'aria-describedby': 'invoke-denied' }, 'Invoke')
  const denied = h('p', { id: 'invoke-denied', class: 'note' })
  let busy = false
  const lacks = () => invokeLacks(store.welcome?.rights, function_id)
  const update = () => {
    const why = lacks()
    button.disabled = busy || why !== undefined
    denied.textContent = why === undefined ? '' : `This token may not invoke ${function_id}: ${why}. The engine would refuse, so Invoke is turned off.`
    denied.hidden = why === undefined
  }
  /** Shows why nothing was sent, in the result area. */
  const notSent = (text: string) => fill(result, h('p', null, h('span', { class: 'bad' }, text)))
  const check = () => {
    const parsed = parseInput(input.value)
    problem.textContent = parsed.ok ? '' : parsed.error
    input.setAttribute('aria-invalid', String(!parsed.ok))
    return parsed
  }
  input.addEventListener('input', check)
  const submit = async (e?: Event) => {
    e?.preventDefault()
    if (busy || lacks() !== undefined) return
    const parsed = check()
    if (!parsed.ok) return input.focus()
    const wait = parseTimeout(timeout.value, timeout.validity.badInput)
    timeout.setAttribute('aria-invalid', String(!wait.ok))
    if (!wait.ok) {
      notSent(wait.error)
      return timeout.focus()
    }
    const request = { type: 'invoke' as const, id: newId(), function_id, data: parsed.value, timeout_ms: wait.value }
    const large = tooLarge(new TextEncoder().encode(JSON.stringify(request)).length, store.welcome?.max_message_bytes ?? MAX_MESSAGE_BYTES)
    if (large) {
      notSent(large)
      return input.focus()
    }
    busy = true
    update()
    fill(result, h('p', null, `Invoking ${function_id}…`))
    const r = await ask(request)
    busy = false
    update()
    fill(
      result,
      h('p', null, r.ok ? h('span', { class: 'ok' }, 'ok') : h('span', { class: 'bad' }, `error: ${r.error?.code ?? 'error'}`), ` in ${formatMs(r.ms)}`),
      h('pre', { id: 'invoke-result', tabindex: 0 }, JSON.stringify(r.ok ? r.result : r.error, null, 2) ?? 'undefined'),
    )
  }
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void submit(e)
  })
  const format = h('button', { type: 'button', class: 'quiet' }, 'Format')
  format.addEventListener('click', () => {
    const parsed = check()
    if (parsed.ok && parsed.value !== undefined) input.value = JSON.stringify(parsed.value, null, 2)
  })
  const form = h(
    'form',
    { 'aria-labelledby': 'invoke-title' },
    h('label', { for: 'invoke-input' }, 'Input (JSON)'),
    input,
    problem,
    h('p', { id: 'invoke-hint', class: 'muted' }, 'Ctrl+Enter invokes. Empty input sends no data.'),
    h('div', { class: 'toolbar' }, field('Timeout (ms)', timeout), button, format, link(hrefOf('functions'), 'Close')),
    denied,
  )
  form.addEventListener('submit', (e) => void submit(e))
  update()
  return { el: h('section', { class: 'panel' }, h('h2', { id: 'invoke-title' }, 'Invoke ', h('code', null, function_id)), form, result), update }
}

function triggersPage(type?: string): View {
  const typeSelect = h('select', { id: 'trigger-type' }) as HTMLSelectElement
  const stateSelect = h('select', { id: 'trigger-state' }, ['all', ...TRIGGER_STATES].map((s) => h('option', { value: s }, s))) as HTMLSelectElement
  const slot = h('div')
  const types = h('div')
  const el = h('div', null, h('h1', { tabindex: -1 }, 'Triggers'), h('div', { class: 'toolbar' }, field('Type', typeSelect), field('State', stateSelect)), slot, h('h2', null, 'Trigger types'), types)
  let chosen = type ?? 'all'
  typeSelect.addEventListener('change', () => {
    chosen = typeSelect.value
    history.replaceState(null, '', chosen === 'all' ? hrefOf('triggers') : hrefOf('triggers', chosen))
    view.update()
  })
  stateSelect.addEventListener('change', () => view.update())
  const view: View = {
    el,
    update() {
      const all = listed()
      const known = [...new Set([...(store.sections.trigger_types ?? []).map((t) => t.id), ...all.map((t) => t.trigger_type)])].sort()
      const options = ['all', ...known]
      if ([...typeSelect.options].map((o) => o.value).join() !== options.join()) {
        typeSelect.replaceChildren(...options.map((t) => h('option', { value: t }, t)))
      }
      typeSelect.value = options.includes(chosen) ? chosen : 'all'
      const list = all.filter((t) => triggerMatches(t, typeSelect.value, stateSelect.value))
      const failed = all.filter((t) => t.failure).length
      fill(slot, triggerTable(`Triggers: ${all.length - failed} registered, ${failed} failed recently; ${list.length} shown`, list, true))
      fill(
        types,
        table(
          'Trigger types and who provides them',
          ['Type', 'Provided by', 'Description'],
          (store.sections.trigger_types ?? []).map((t) => ({ key: t.id, cells: [h('code', null, t.id), t.worker_id === 'engine' ? 'engine' : link(hrefOf('workers', t.worker_id), workerLabel(t.worker_id)), t.description ?? '–'] })),
          'No trigger types',
        ),
      )
    },
  }
  return view
}

function queuesPage(): View {
  const slot = h('div')
  const el = h('div', null, h('h1', { tabindex: -1 }, 'Queues'), slot)
  return {
    el,
    update() {
      fill(
        slot,
        table(
          'Queues that hold messages or have triggers',
          ['Queue', { label: 'Ready', num: true }, { label: 'In flight', num: true }, { label: 'Delayed', num: true }, { label: 'Dead-lettered', num: true }, { label: 'Oldest', num: true }, 'FIFO', 'Consumers'],
          queues().map((q) => ({
            key: q.queue_name,
            cells: [
              link(hrefOf('queues', q.queue_name), q.queue_name),
              count(q.ready),
              count(q.in_flight),
              count(q.delayed),
              h('span', { class: q.dead_lettered > 0 ? 'error-text' : undefined }, count(q.dead_lettered)),
              formatAge(q.oldest_message_age_seconds),
              q.fifo ? 'yes' : 'no',
              q.consumers.length === 0 ? '–' : q.consumers.map((c) => c.function_id).join(', '),
            ],
          })),
          'No queues yet',
        ),
      )
    },
  }
}

interface DeadLetter {
  message_id: string
  body?: unknown
  receive_count?: number
  source_queue?: string
  source_receive_count?: number
  last_error?: unknown
  function_id?: string
  enqueued_at?: string
}

function queuePage(name: string): View {
  const title = h('h1', { tabindex: -1 }, 'Queue ', h('code', null, name))
  const counts = h('div')
  const dlqTitle = h('h2', { id: 'dlq-title' }, 'Dead letters')
  const status = h('p', { id: 'dlq-status', role: 'status', 'aria-live': 'polite' })
  const list = h('div')
  const deliveries = h('div')
  const selected = new Set<string>()
  let letters: DeadLetter[] = []
  let loadedKey = ''
  let loading = false
  let dlq = ''
  const redriveSelected = h('button', { type: 'button', id: 'redrive-selected', 'aria-describedby': 'redrive-denied' }, 'Redrive selected')
  const redriveAll = h('button', { type: 'button', id: 'redrive-all', 'aria-describedby': 'redrive-denied' }, 'Redrive all')
  // Why the redrive controls are off, when the token may not redrive (the engine would refuse).
  const denied = h('p', { id: 'redrive-denied', class: 'note', hidden: true })
  const lacks = () => redriveLacks(store.welcome?.rights)
  const el = h(
    'div',
    null,
    h('p', null, link(hrefOf('queues'), '← All queues')),
    title,
    counts,
    h('section', { 'aria-labelledby': 'dlq-title' }, dlqTitle, h('div', { class: 'toolbar' }, redriveSelected, redriveAll), denied, status, list),
    h('section', { 'aria-labelledby': 'deliveries-title' }, h('h2', { id: 'deliveries-title' }, 'Deliveries'), deliveries),
  )

  const load = async () => {
    loading = true
    const r = await ask({ type: 'dead-letters', id: newId(), dead_letter_queue: dlq, limit: 200 })
    loading = false
    if (r.ok) {
      letters = ((r.result as { messages?: DeadLetter[] }).messages ?? []) as DeadLetter[]
      for (const id of [...selected]) if (!letters.some((m) => m.message_id === id)) selected.delete(id)
    } else status.textContent = `Could not list dead letters: ${r.error?.message ?? r.error?.code}`
    drawLetters()
  }
  const redrive = async (ids: string[] | undefined) => {
    status.textContent = 'Redriving…'
    const r = await ask({ type: 'redrive', id: newId(), dead_letter_queue: dlq, message_ids: ids })
    if (r.ok) {
      const n = (r.result as { redriven?: number }).redriven ?? 0
      status.textContent = `Redriven ${n} message${n === 1 ? '' : 's'}: ${n === 0 ? 'nothing to deliver' : 'watch the deliveries below'}.`
      selected.clear()
      void load()
    } else {
      status.textContent = `Refused: ${r.error?.message ?? r.error?.code}`
      status.classList.add('error-text')
    }
  }
  redriveSelected.addEventListener('click', () => {
    status.classList.remove('error-text')
    if (selected.size === 0) status.textContent = 'Select the messages to redrive first.'
    else void redrive([...selected])
  })
  redriveAll.addEventListener('click', () => {
    status.classList.remove('error-text')
    void redrive(undefined)
  })

  function drawLetters(): void {
    const why = lacks()
    redriveSelected.textContent = selected.size > 0 ? `Redrive selected (${selected.size})` : 'Redrive selected'
    redriveSelected.disabled = redriveAll.disabled = why !== undefined
    denied.hidden = why === undefined
    denied.textContent = why === undefined ? '' : `This token may not redrive dead letters: ${why}. The engine would refuse, so the redrive controls are turned off.`
    fill(
      list,
      table(
        `Messages in ${dlq}`,
        ['Message', 'Body', { label: 'Receives', num: true }, 'Last error', 'From', ''],
        letters.map((m) => {
          const box = h('input', { type: 'checkbox', id: `sel-${m.message_id}`, checked: selected.has(m.message_id), disabled: why !== undefined }) as HTMLInputElement
          box.addEventListener('change', () => {
            if (box.checked) selected.add(m.message_id)
            else selected.delete(m.message_id)
            redriveSelected.textContent = selected.size > 0 ? `Redrive selected (${selected.size})` : 'Redrive selected'
          })
          const one = h('button', { type: 'button', class: 'quiet', disabled: why !== undefined, 'aria-describedby': why === undefined ? undefined : 'redrive-denied' }, 'Redrive', h('span', { class: 'visually-hidden' }, ` message ${m.message_id}`))
          one.addEventListener('click', () => void redrive([m.message_id]))
          const err = m.last_error as { code?: string; message?: string } | undefined
          return {
            key: m.message_id,
            cells: [
              h('span', null, box, ' ', h('label', { for: `sel-${m.message_id}`, class: 'mono', title: m.message_id }, shortId(m.message_id))),
              h('pre', null, preview(m.body, 300)),
              count(m.source_receive_count ?? m.receive_count ?? 0),
              err ? h('span', null, h('code', null, err.code ?? 'error'), err.message ? `: ${err.message}` : '') : '–',
              m.source_queue ?? '–',
              one,
            ],
          }
        }),
        'No dead letters',
      ),
    )
  }

  return {
    el,
    update() {
      const all = queues()
      const q = all.find((x) => x.queue_name === name)
      dlq = deadLettersShownFor(name, all, triggers())
      const d = all.find((x) => x.queue_name === dlq)
      dlqTitle.textContent = dlq === name ? 'Dead letters (its messages)' : `Dead letters (in ${dlq})`
      fill(
        counts,
        q
          ? cards([
              ['Ready', count(q.ready)],
              ['In flight', count(q.in_flight)],
              ['Delayed', count(q.delayed)],
              ['Dead-lettered', count(q.dead_lettered)],
              ['Oldest', formatAge(q.oldest_message_age_seconds)],
              ['FIFO', q.fifo ? 'yes' : 'no'],
            ])
          : h('p', { class: 'note' }, 'This queue holds no messages and has no triggers.'),
      )
      // The dead letters are asked for again when the counts that show them change.
      const key = [dlq, q?.dead_lettered, d?.ready, d?.in_flight, d?.delayed].join('|')
      if (key !== loadedKey && !loading && store.connection === 'open') {
        loadedKey = key
        void load()
      }
      drawLetters()
      const consumers = new Set((q?.consumers ?? []).map((c) => c.function_id))
      for (const t of triggers()) if (t.trigger_type === 'queue' && t.config.queue_name === name) consumers.add(t.function_id)
      const recent = store.feed.filter((e) => e.source === 'queue' && consumers.has(e.function_id)).slice(-20).reverse()
      fill(
        deliveries,
        table(
          `Recent deliveries from ${name}`,
          ['Ended', 'Function', { label: 'Duration', num: true }, 'Outcome'],
          recent.map((e) => ({ key: String(e.seq), cells: [new Date(e.at).toLocaleTimeString(), h('code', null, e.function_id), formatMs(e.ms), outcome(e.outcome)] })),
          'No deliveries seen since this page opened',
        ),
      )
    },
  }
}

// The feed page keeps its filter and pause while mounted; what arrived while paused is counted.
let feedHeld = 0
let feedPaused = false
let feedFrozen: FeedEntry[] = []
function feedArrived(entries: FeedEntry[]): void {
  if (feedPaused) feedHeld += entries.length
}

function feedPage(): View {
  const filter: FeedFilter = { text: '', outcome: 'all' }
  const text = h('input', { id: 'feed-filter', type: 'search', placeholder: 'function, source, outcome', autocomplete: 'off' }) as HTMLInputElement
  const outcomeSelect = h('select', { id: 'feed-outcome' }, h('option', { value: 'all' }, 'all'), h('option', { value: 'ok' }, 'ok'), h('option', { value: 'errors' }, 'errors')) as HTMLSelectElement
  const pause = h('button', { type: 'button', id: 'feed-pause', 'aria-pressed': 'false' }, 'Pause')
  const clear = h('button', { type: 'button', class: 'quiet' }, 'Clear')
  const status = h('p', { class: 'muted', id: 'feed-status' })
  const slot = h('div')
  const el = h('div', null, h('h1', { tabindex: -1 }, 'Live feed'), h('div', { class: 'toolbar' }, field('Filter', text), field('Outcome', outcomeSelect), pause, clear), status, slot)
  feedPaused = false
  feedHeld = 0
  text.addEventListener('input', () => ((filter.text = text.value), view.update()))
  outcomeSelect.addEventListener('change', () => ((filter.outcome = outcomeSelect.value as FeedFilter['outcome']), view.update()))
  pause.addEventListener('click', () => {
    feedPaused = !feedPaused
    feedFrozen = feedPaused ? [...store.feed] : []
    feedHeld = 0
    pause.setAttribute('aria-pressed', String(feedPaused))
    pause.textContent = feedPaused ? 'Resume' : 'Pause'
    view.update()
  })
  clear.addEventListener('click', () => {
    store.feed = []
    feedFrozen = []
    store.skipped = 0
    view.update()
  })
  const view: View = {
    el,
    update() {
      const all = triggers()
      const source = (e: FeedEntry) => sourceOf(e, all)
      const shown = (feedPaused ? feedFrozen : store.feed).filter((e) => feedMatches(e, source(e), filter)).slice(-FEED_SHOWN).reverse()
      status.textContent =
        `${shown.length} shown` +
        (store.skipped > 0 ? `; ${count(store.skipped)} not sent by the engine (too many at once)` : '') +
        (feedPaused ? `; paused: ${feedHeld} new since` : '')
      fill(
        slot,
        table(
          'Invocations as they end, latest first',
          ['Ended', 'Function', 'Source', { label: 'Duration', num: true }, 'Outcome'],
          shown.map((e) => ({ key: String(e.seq), cells: [new Date(e.at).toLocaleTimeString(), h('code', null, e.function_id), source(e), formatMs(e.ms), outcome(e.outcome)] })),
          feedPaused ? 'Nothing matches (paused)' : 'No invocations yet: they appear here as they end',
        ),
      )
    },
  }
  return view
}

function loginPage(): View {
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' }) as HTMLInputElement
  const r = store.refusal
  const form = h(
    'form',
    null,
    h('label', { for: 'token' }, 'Token'),
    input,
    h('p', { class: 'muted' }, 'Kept for this tab only (sessionStorage), sent to the engine when the console connects.'),
    h('button', { type: 'submit' }, 'Open the console'),
  )
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    sessionStorage.setItem(TOKEN_KEY, input.value.trim())
    store.refusal = undefined
    connect()
  })
  const refused = r?.code === 'forbidden' || sentToken
  const message = r?.code === 'forbidden' ? r.message : sentToken ? 'The engine did not accept that token.' : 'This engine requires a token.'
  const el = h('div', { class: 'login' }, h('h1', { tabindex: -1 }, 'Sign in'), h('p', { role: 'alert', class: refused ? 'error-text' : undefined }, message), form)
  setTimeout(() => input.focus(), 0)
  return { el, update() {}, login: true }
}

// ---------------------------------------------------------------------------------------
// routing and drawing

let route: Route = parseRoute(location.hash)
let view: View | undefined

function viewOf(r: Route): View {
  if (store.connection === 'refused') return loginPage()
  switch (r.page) {
    case 'workers':
      return r.param ? workerPage(r.param) : workersPage()
    case 'functions':
      return functionsPage(r.param)
    case 'triggers':
      return triggersPage(r.param)
    case 'queues':
      return r.param ? queuePage(r.param) : queuesPage()
    case 'feed':
      return feedPage()
    default:
      return overviewPage()
  }
}

/** Mounts the page of the current route; `focus` moves the keyboard focus to its heading. */
function mount(focus = false): void {
  route = parseRoute(location.hash)
  view = viewOf(route)
  const main = document.getElementById('main')!
  main.replaceChildren(view.el)
  view.update()
  drawHeader()
  const name = view.el.querySelector('h1')?.textContent
  document.title = name ? `${name} · signalbox console` : 'signalbox console'
  if (focus) view.el.querySelector<HTMLElement>('h1')?.focus()
}

let drawing = false
function redraw(): void {
  if (drawing) return
  drawing = true
  requestAnimationFrame(() => {
    drawing = false
    drawHeader()
    view?.update()
  })
}

window.addEventListener('hashchange', () => mount(true))
document.getElementById('forget')!.addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY)
  store.welcome = undefined
  socket?.close()
})
// Relative times ("3 s ago", uptime) move on by themselves: the page is drawn again each
// second, and `fill` changes only the text that changed.
setInterval(() => view && store.connection === 'open' && route.page !== 'feed' && redraw(), 1000)

mount()
connect()
