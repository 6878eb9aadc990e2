/**
 * The console in a real browser: Debian's chromium (/usr/bin/chromium; .ci/run installs
 * it), driven headless by playwright-core, against a real engine with tokens and real
 * workers connected over its WebSocket. It signs in, sees a worker appear and leave, a
 * cron trigger's next runs in its time zone, a failing message land in the dead letters,
 * redrives it and sees it delivered, invokes a function from the page, and, with a
 * read-only token, is refused a redrive. It checks labels, contrast in both colour
 * schemes, keyboard order and the phone width, and takes a screenshot of each page.
 *
 * The screenshots go to a temporary folder, or to docs/console/ (what the README shows)
 * when SIGNALBOX_SCREENSHOTS names a folder: `npm run screenshots`. A missing browser
 * fails this test; it is never skipped.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { connectWorker } from '../client/ws-client.js'
import type { WorkerClient } from '../client/worker.js'
import { limit, startEngine, until, type TestEngine } from './harness.js'

export const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** The screenshots this test takes, each of a page as it stands in the test. */
export const SCREENSHOTS = ['login', 'overview', 'overview-dark', 'workers', 'worker', 'functions', 'triggers', 'queues', 'dead-letters', 'redriven', 'feed', 'read-only', 'phone'] as const
const shotsDir = process.env.SIGNALBOX_SCREENSHOTS ? resolve(root, process.env.SIGNALBOX_SCREENSHOTS) : mkdtempSync(join(tmpdir(), 'signalbox-shots-'))
const WAIT = 30_000

const OPS = 'ops-token-for-the-console'
const VIEWER = 'viewer-token-for-the-console'
/** May invoke billing's functions from the console, but not redrive. */
const BILLING = 'billing-token-for-the-console'
/** A worker's token: its scope has no engine, so it may not open the console. */
const WORKER = 'worker-token-for-the-console'

interface Ctx {
  engine: TestEngine
  context: BrowserContext
  page: Page
  userData: string
  workers: WorkerClient[]
  load?: NodeJS.Timeout
  orders: { fixed: boolean; delivered: unknown[] }
}

const it = suite<Ctx>('console: in the browser')

const shot = (page: Page, name: (typeof SCREENSHOTS)[number]) => page.screenshot({ path: join(shotsDir, `${name}.png`) })
const go = async (page: Page, hash: string) => {
  await page.evaluate((h) => (location.hash = h), hash)
  await page.locator('main h1').first().waitFor({ timeout: WAIT })
}
/** Text that must show up in the main part of the page. */
const shows = (page: Page, text: string | RegExp) => page.locator('main').getByText(text).first().waitFor({ timeout: WAIT })

it.before(async (ctx) => {
  ctx.workers = []
  ctx.orders = { fixed: false, delivered: [] }
  ctx.engine = await startEngine({
    auth: {
      tokens: [
        { name: 'ops', token: OPS },
        { name: 'viewer', token: VIEWER, scope: { engine: true } },
        { name: 'billing', token: BILLING, scope: { engine: true, invoke: ['billing::*'] } },
        { name: 'worker', token: WORKER, scope: { invoke: ['*'], register: ['*'] } },
      ],
    },
    console: { inspectorUrl: 'http://localhost:8080' },
  })
  const billing = await connectWorker(ctx.engine.url!, { name: 'billing', token: OPS, logger: false, reconnect: false })
  ctx.workers.push(billing)
  billing.registerFunction('billing::charge', (data: { amount?: number; fail?: boolean }) => {
    if (data?.fail) throw new Error('card declined')
    return { charged: data?.amount ?? 0, currency: 'EUR' }
  }, { description: 'Charges a card' })
  await billing.registerTrigger({ id: 'nightly', trigger_type: 'cron', function_id: 'billing::charge', config: { schedule: '0 0 9 * * *', timezone: 'America/New_York' } })
  await billing.registerTrigger({ id: 'charge', trigger_type: 'http', function_id: 'billing::charge', config: { path: '/charge', method: 'POST' } })
  const orders = await connectWorker(ctx.engine.url!, { name: 'orders', token: OPS, logger: false, reconnect: false })
  ctx.workers.push(orders)
  orders.registerFunction('orders::process', (batch: { messages: Array<{ body: unknown }> }) => {
    if (!ctx.orders.fixed) throw new Error('no stock')
    ctx.orders.delivered.push(...batch.messages.map((m) => m.body))
    return null
  })
  await orders.registerTrigger({ id: 'orders', trigger_type: 'queue', function_id: 'orders::process', config: { queue_name: 'orders', max_receive_count: 1 } })
  // Calls all along, one in seven failing, for the rates and the chart.
  let n = 0
  ctx.load = setInterval(() => void billing.invoke('billing::charge', { amount: ++n, fail: n % 7 === 0 }).catch(() => {}), 150)
})

it.after(async (ctx) => {
  clearInterval(ctx.load)
  await ctx.context?.close()
  for (const w of ctx.workers) await w.close()
  await ctx.engine?.stop()
  if (ctx.userData) rmSync(ctx.userData, { recursive: true, force: true })
})

it('chromium is installed, and starts headless with a fresh profile', limit(async (ctx) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does)`)
  mkdirSync(shotsDir, { recursive: true })
  ctx.userData = mkdtempSync(join(tmpdir(), 'signalbox-chromium-'))
  ctx.context = await chromium.launchPersistentContext(ctx.userData, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 800 }, colorScheme: 'light' })
  ctx.page = ctx.context.pages()[0] ?? (await ctx.context.newPage())
  const errors: string[] = []
  ctx.page.on('pageerror', (e) => errors.push(e.message))
  ctx.page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
  Object.assign(ctx, { errors })
}, 60_000))

it('asks for a token, keeps it for the tab only, and opens live', limit(async ({ page, engine }) => {
  await page.goto(engine.consoleUrl!)
  await shows(page, 'This engine requires a token.')
  const token = page.getByLabel('Token')
  await token.waitFor({ timeout: WAIT })
  await shot(page, 'login')
  await token.fill('not-the-right-token')
  await page.getByRole('button', { name: 'Open the console' }).click()
  await shows(page, 'The engine did not accept that token.')
  assert.is(await page.evaluate(() => sessionStorage.getItem('signalbox.console.token')), null, 'a refused token is not kept')
  // A token the engine knows, but whose scope may not open the console, is not kept either.
  await page.getByLabel('Token').fill(WORKER)
  await page.getByRole('button', { name: 'Open the console' }).click()
  await shows(page, /Token 'worker' may not open the console/)
  assert.is(await page.evaluate(() => sessionStorage.getItem('signalbox.console.token')), null, 'a forbidden token is not kept')
  await page.getByLabel('Token').fill(OPS)
  await page.getByRole('button', { name: 'Open the console' }).click()
  await page.locator('#connection', { hasText: 'live' }).waitFor({ timeout: WAIT })
  await page.locator('#who', { hasText: 'token ops' }).waitFor({ timeout: WAIT })
  assert.is(await page.evaluate(() => sessionStorage.getItem('signalbox.console.token')), OPS)
  assert.is(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage')
  const inspector = page.getByRole('link', { name: /Stately inspector/ })
  assert.is(await inspector.getAttribute('href'), 'http://localhost:8080')
  await shows(page, 'Overview')
}, 90_000))

it('sees a worker appear, its page with its triggers and trigger types, and sees it leave', limit(async (ctx) => {
  const { page } = ctx
  await go(page, '#/workers')
  await page.getByRole('link', { name: 'billing' }).waitFor({ timeout: WAIT })
  assert.is(await page.getByRole('link', { name: 'inventory' }).count(), 0)
  const inventory = await connectWorker(ctx.engine.url!, { name: 'inventory', token: OPS, logger: false, reconnect: false })
  inventory.registerFunction('inventory::count', () => ({ items: 3 }))
  inventory.registerTriggerType({ id: 'stock-level', description: 'Fires when stock runs low' }, { registerTrigger: () => undefined, unregisterTrigger: () => undefined })
  await inventory.registerTrigger({ id: 'recount', trigger_type: 'cron', function_id: 'inventory::count', config: { schedule: '0 */15 * * * *' } })
  await page.getByRole('link', { name: 'inventory' }).waitFor({ timeout: WAIT })
  const row = page.locator('tr', { has: page.getByRole('link', { name: 'inventory' }) })
  await row.getByText(/^127\.0\.0\.1:\d+$/).waitFor({ timeout: WAIT })
  await row.getByText(/^node/).waitFor({ timeout: WAIT })
  await shot(page, 'workers')
  await page.getByRole('link', { name: 'inventory' }).click()
  await page.locator('main h1', { hasText: 'Worker inventory' }).waitFor({ timeout: WAIT })
  await shows(page, 'stock-level')
  await shows(page, 'Fires when stock runs low')
  await shows(page, 'recount')
  await shows(page, '0 */15 * * * *')
  await shot(page, 'worker')
  await inventory.close()
  await shows(page, /is not connected/)
  await go(page, '#/workers')
  await page.getByRole('link', { name: 'billing' }).waitFor({ timeout: WAIT })
  await page.getByRole('link', { name: 'inventory' }).waitFor({ state: 'detached', timeout: WAIT })
}, 120_000))

it("shows a cron trigger's next runs in its time zone", limit(async ({ page }) => {
  await go(page, '#/triggers')
  const row = page.locator('tr', { has: page.getByText('nightly', { exact: true }) })
  await row.getByText(/09:00:00 America\/New_York/).first().waitFor({ timeout: WAIT })
  assert.is(await row.locator('ul.runs li').count(), 3)
  await row.getByText(/\(in \d/).waitFor({ timeout: WAIT })
  await page.locator('tr', { has: page.getByText('charge', { exact: true }) }).getByText('POST /charge').waitFor({ timeout: WAIT })
  await page.getByLabel('Type', { exact: true }).selectOption('cron')
  await page.locator('tr', { has: page.getByText('charge', { exact: true }) }).waitFor({ state: 'detached', timeout: WAIT })
  await page.getByLabel('Type', { exact: true }).selectOption('all')
}, 60_000))

it('a registration that fails is listed as failed, with its error, and offered in the state filter', limit(async ({ page, workers }) => {
  await go(page, '#/triggers')
  const result = await workers[0].registerTrigger({ id: 'weekly', trigger_type: 'cron', function_id: 'billing::charge', config: { schedule: 'every monday' } })
  assert.is(result.error?.code, 'invalid_config')
  const row = page.locator('tr', { has: page.getByText('weekly', { exact: true }) })
  await row.locator('.state.failed').waitFor({ timeout: WAIT })
  await row.locator('.failure', { hasText: `invalid_config: ${result.error!.message}` }).waitFor({ timeout: WAIT })
  await row.getByText('every monday', { exact: true }).waitFor({ timeout: WAIT })
  await row.getByRole('link', { name: /^billing \(/ }).waitFor({ timeout: WAIT })
  const states = await page.getByLabel('State').locator('option').allTextContents()
  assert.equal(states, ['all', 'pending', 'active', 'parked', 'resending', 'failed'])
  await page.getByLabel('State').selectOption('failed')
  await page.locator('tr', { has: page.getByText('nightly', { exact: true }) }).waitFor({ state: 'detached', timeout: WAIT })
  assert.is(await row.count(), 1, 'the failed one stays')
  await page.getByLabel('State').selectOption('all')
  await page.locator('tr', { has: page.getByText('nightly', { exact: true }) }).waitFor({ timeout: WAIT })
  await shot(page, 'triggers')
}, 60_000))

it('invokes a function from the page with a JSON editor and sees the result', limit(async ({ page }) => {
  await go(page, '#/functions')
  const row = page.locator('tr', { has: page.getByText('billing::charge', { exact: true }) })
  await row.waitFor({ timeout: WAIT })
  await row.getByRole('link', { name: /Invoke/ }).click()
  const input = page.getByLabel('Input (JSON)')
  await input.fill('{"amount": oops}')
  await shows(page, /^Not JSON/)
  assert.is(await input.getAttribute('aria-invalid'), 'true')
  await input.fill('{\n  "amount": 42\n}')
  await page.getByRole('button', { name: 'Invoke', exact: true }).click()
  await page.locator('#invoke-result', { hasText: '"charged": 42' }).waitFor({ timeout: WAIT })
  await shows(page, /^ok$/)
  // Ctrl+Enter invokes too; an error comes back as one.
  await input.fill('{"fail": true}')
  await input.press('Control+Enter')
  await page.locator('#invoke-result', { hasText: 'card declined' }).waitFor({ timeout: WAIT })
  // A timeout the engine would not take, and an input too large for a console message, are not sent; the result area says why.
  const result = page.getByRole('region', { name: 'Result' })
  await page.getByLabel('Timeout (ms)').fill('0')
  await input.press('Control+Enter')
  await result.getByText(/^Not sent: the timeout must be a whole number of milliseconds from 1 to 600.000/).waitFor({ timeout: WAIT })
  assert.is(await page.getByLabel('Timeout (ms)').getAttribute('aria-invalid'), 'true')
  await page.getByLabel('Timeout (ms)').fill('')
  await page.evaluate(() => {
    const editor = document.getElementById('invoke-input') as HTMLTextAreaElement
    editor.value = JSON.stringify({ blob: 'x'.repeat(17 * 1024 * 1024) })
    editor.dispatchEvent(new Event('input'))
  })
  await page.getByRole('button', { name: 'Invoke', exact: true }).click()
  await result.getByText(/^Not sent: with its input the request is 17 MiB of JSON, and the engine takes at most 16 MiB in one console message/).waitFor({ timeout: WAIT })
  assert.is(await page.locator('#connection').textContent(), 'live', 'the connection stays open')
  await input.fill('{"amount": 42}')
  await page.getByLabel('Timeout (ms)').fill('5000')
  await input.press('Control+Enter')
  await page.locator('#invoke-result', { hasText: '"charged": 42' }).waitFor({ timeout: WAIT })
  await row.locator('td').nth(1).filter({ hasText: /^[1-9]/ }).waitFor({ timeout: WAIT })
  await shot(page, 'functions')
}, 60_000))

it('sees a failing message land in the dead letters, redrives it and sees it delivered', limit(async (ctx) => {
  const { page, workers } = ctx
  await workers[1].invoke('engine::queue::send', { queue_name: 'orders', body: { order: 1, item: 'tea' } })
  await go(page, '#/queues')
  const queueRow = page.locator('tr', { has: page.getByRole('link', { name: 'orders', exact: true }) })
  await queueRow.locator('td').nth(3).filter({ hasText: /^1$/ }).waitFor({ timeout: WAIT })
  await shot(page, 'queues')
  await page.getByRole('link', { name: 'orders', exact: true }).click()
  await page.locator('main h1', { hasText: 'Queue orders' }).waitFor({ timeout: WAIT })
  const letter = page.locator('tr', { hasText: '{"order":1,"item":"tea"}' })
  await letter.waitFor({ timeout: WAIT })
  await letter.getByText('no stock').waitFor({ timeout: WAIT })
  await page.locator('tr', { hasText: 'orders::process' }).getByText('error').first().waitFor({ timeout: WAIT })
  await shot(page, 'dead-letters')
  ctx.orders.fixed = true
  await letter.getByRole('checkbox').check()
  await page.getByRole('button', { name: 'Redrive selected (1)' }).click()
  await page.locator('#dlq-status', { hasText: 'Redriven 1 message' }).waitFor({ timeout: WAIT })
  await shows(page, 'No dead letters')
  await until(() => ctx.orders.delivered.length === 1, WAIT, 'the worker to get the redriven message')
  await page.locator('section[aria-labelledby="deliveries-title"] tr', { hasText: 'orders::process' }).getByText('ok', { exact: true }).first().waitFor({ timeout: WAIT })
  await page.locator('.cards div', { hasText: 'Dead-lettered' }).getByText('0', { exact: true }).waitFor({ timeout: WAIT })
  await shot(page, 'redriven')
}, 90_000))

it('the live feed shows invocations as they end, filters them, and pauses', limit(async ({ page }) => {
  await go(page, '#/feed')
  await page.locator('tbody tr', { hasText: 'billing::charge' }).first().waitFor({ timeout: WAIT })
  await page.getByLabel('Filter').fill('orders')
  await page.locator('tbody tr', { hasText: 'orders::process' }).first().waitFor({ timeout: WAIT })
  assert.is(await page.locator('tbody tr', { hasText: 'billing::charge' }).count(), 0)
  await page.locator('tbody tr', { hasText: 'queue orders' }).first().waitFor({ timeout: WAIT })
  await page.getByLabel('Filter').fill('')
  await page.getByLabel('Outcome').selectOption('errors')
  await page.locator('tbody tr', { hasText: 'billing::charge' }).filter({ hasText: 'error' }).first().waitFor({ timeout: WAIT })
  assert.is(await page.locator('tbody tr', { hasText: /ok$/ }).count(), 0, 'no ok row among the errors')
  await page.getByLabel('Outcome').selectOption('all')
  const pause = page.getByRole('button', { name: 'Pause' })
  await pause.click()
  assert.is(await page.getByRole('button', { name: 'Resume' }).getAttribute('aria-pressed'), 'true')
  const frozen = await page.locator('tbody tr').first().textContent()
  await page.locator('#feed-status', { hasText: /paused: [1-9]\d* new since/ }).waitFor({ timeout: WAIT })
  assert.is(await page.locator('tbody tr').first().textContent(), frozen, 'nothing moves while paused')
  await page.getByRole('button', { name: 'Resume' }).click()
  await shot(page, 'feed')
}, 60_000))

it('the overview: version, uptime, sessions, functions, triggers by type and state, live rates and chart, queue totals; dark too', limit(async ({ page }) => {
  await go(page, '#/overview')
  const card = (name: string) => page.locator('.cards div', { has: page.locator('dt', { hasText: name }) }).locator('dd')
  await card('Engine').filter({ hasText: /^v\d+\.\d+\.\d+/ }).waitFor({ timeout: WAIT })
  await card('Sessions').filter({ hasText: /^2$/ }).waitFor({ timeout: WAIT })
  await card('Calls / s').filter({ hasText: /^[1-9]/ }).waitFor({ timeout: WAIT })
  await card('Error rate').filter({ hasText: /^[1-9][\d.]* %/ }).waitFor({ timeout: WAIT })
  // cron: nightly registered; weekly failed (its config was refused).
  const cron = page.locator('tr', { has: page.getByRole('link', { name: 'cron', exact: true }) })
  await cron.locator('td').nth(4).filter({ hasText: /^1$/ }).waitFor({ timeout: WAIT })
  await cron.locator('td').nth(5).filter({ hasText: /^1$/ }).waitFor({ timeout: WAIT })
  const points = await page.locator('svg polyline.calls').getAttribute('points')
  assert.is(points!.split(' ').length, 60)
  assert.ok(points!.split(' ').some((p) => Number(p.split(',')[1]) < 100), 'the chart shows calls')
  await shot(page, 'overview')
  await page.emulateMedia({ colorScheme: 'dark' })
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor)
  assert.is(bg, 'rgb(15, 20, 25)', 'the dark background follows the system')
  await shot(page, 'overview-dark')
  await page.emulateMedia({ colorScheme: 'light' })
}, 60_000))

/** WCAG contrast of two CSS colours (#rrggbb). */
const contrast = (a: string, b: string) => {
  const lum = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl
  }
  const [x, y] = [lum(a), lum(b)].sort((m, n) => n - m)
  return (x + 0.05) / (y + 0.05)
}

it('accessibility: every control has a label, the colours have contrast in both schemes, the keyboard reaches everything in order', limit(async ({ page }) => {
  for (const hash of ['#/overview', '#/workers', '#/functions/billing::charge', '#/triggers', '#/queues/orders', '#/feed']) {
    await go(page, hash)
    const unlabeled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, textarea, button')]
        .filter((el) => !(el as HTMLElement).hidden)
        .filter((el) => {
          const labels = (el as HTMLInputElement).labels
          const name = el.getAttribute('aria-label') ?? (labels && labels.length > 0 ? labels[0].textContent : el.tagName === 'BUTTON' ? el.textContent : '')
          return !name || name.trim() === ''
        })
        .map((el) => el.outerHTML.slice(0, 80)),
    )
    assert.equal(unlabeled, [], `${hash}: controls without a label`)
    assert.is(await page.locator('main h1').count(), 1, `${hash}: one heading`)
  }
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme })
    const vars = await page.evaluate(() => {
      const s = getComputedStyle(document.documentElement)
      return Object.fromEntries(['bg', 'panel', 'text', 'muted', 'accent', 'ok', 'bad', 'warn'].map((k) => [k, s.getPropertyValue(`--${k}`).trim()]))
    })
    for (const [fg, bg] of [['text', 'bg'], ['text', 'panel'], ['muted', 'bg'], ['muted', 'panel'], ['accent', 'bg'], ['accent', 'panel'], ['ok', 'bg'], ['bad', 'bg'], ['bad', 'panel'], ['warn', 'bg'], ['bg', 'accent'], ['bg', 'warn']]) {
      const ratio = contrast(vars[fg], vars[bg])
      assert.ok(ratio >= 4.5, `${scheme}: --${fg} on --${bg} has contrast ${ratio.toFixed(2)}, under 4.5`)
    }
  }
  await page.emulateMedia({ colorScheme: 'light' })
  // From the top of the page: the skip link, then the header, then the pages in order.
  await page.reload()
  await page.locator('#connection', { hasText: 'live' }).waitFor({ timeout: WAIT })
  const order: string[] = []
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press('Tab')
    order.push(await page.evaluate(() => document.activeElement?.textContent?.trim() ?? ''))
  }
  assert.is(order[0], 'Skip to the page')
  const pages = ['Overview', 'Workers', 'Functions', 'Triggers', 'Queues', 'Live feed']
  const at = pages.map((p) => order.lastIndexOf(p))
  assert.ok(at.every((i, k) => i > 0 && (k === 0 || i > at[k - 1])), `the pages in order: ${JSON.stringify(order)}`)
  // Enter on a page link goes there, and the focus goes to its heading.
  await page.getByRole('link', { name: 'Queues' }).focus()
  await page.keyboard.press('Enter')
  await page.locator('main h1', { hasText: 'Queues' }).waitFor({ timeout: WAIT })
  await until(() => page.evaluate(() => document.activeElement?.tagName === 'H1'), WAIT, 'the focus on the heading')
}, 90_000))

/** Where the keyboard focus is: in the main part of the page, which element, and the table region holding it. */
interface Stop {
  label: string
  inMain: boolean
}

it('the keyboard focus stays where it is while tables update (pushes, relative times), and Enter on a row link navigates', limit(async (ctx) => {
  const { page, workers } = ctx
  const [billing, orders] = workers
  // Live traffic besides the calls all along: a trigger of the first worker that comes and
  // goes (the rows after it move), and messages through the orders queue (its deliveries).
  let registered = false
  let sent = 0
  const churn = setInterval(() => {
    if (registered) billing.unregisterTrigger('churn')
    else void billing.registerTrigger({ id: 'churn', trigger_type: 'cron', function_id: 'billing::charge', config: { schedule: '0 0 3 * * *' } })
    registered = !registered
    void orders.invoke('engine::queue::send', { queue_name: 'orders', body: { order: 100 + ++sent, item: 'churn' } }).catch(() => {})
  }, 400)
  try {
    // How many changes the page made inside its tables, counted by the test.
    await page.evaluate(() => {
      const w = window as unknown as { tableChanges: number; watcher?: MutationObserver }
      w.tableChanges = 0
      w.watcher?.disconnect()
      w.watcher = new MutationObserver((list) => {
        for (const m of list) {
          const at = m.target instanceof Element ? m.target : m.target.parentElement
          if (at?.closest('.table-wrap')) w.tableChanges++
        }
      })
      w.watcher.observe(document.getElementById('main')!, { subtree: true, childList: true, characterData: true, attributes: true })
    })
    const tableChanges = () => page.evaluate(() => (window as unknown as { tableChanges: number }).tableChanges)
    // Each page with tables, and how many times to press Tab on it (fewer than it has stops, so the focus stays in it).
    const pages: Array<[hash: string, tabs: number]> = [
      ['#/overview', 5],
      ['#/workers', 3],
      ['#/triggers', 7],
      ['#/functions', 5],
      ['#/queues/orders', 4],
      ['#/feed', 5],
    ]
    for (const [hash, tabs] of pages) {
      await go(page, hash)
      await page.locator('main h1').focus()
      const before = await tableChanges()
      const reached: string[] = []
      for (let i = 0; i < tabs; i++) {
        await page.keyboard.press('Tab')
        const el = await page.evaluateHandle(() => document.activeElement!)
        const stop: Stop = await el.evaluate((e) => ({
          label: `${e.tagName.toLowerCase()}${e.classList.length > 0 ? `.${[...e.classList].join('.')}` : ''} "${(e.getAttribute('aria-label') ?? e.textContent ?? '').trim().slice(0, 40)}"`,
          inMain: document.getElementById('main')!.contains(e),
        }))
        reached.push(stop.label)
        assert.ok(stop.inMain, `${hash}: Tab ${i + 1} reached ${stop.label}, outside the page's main part (${JSON.stringify(reached)})`)
        // A deliberate pause across redraws: the relative times tick every second, and pushes come all the time.
        await page.waitForTimeout(1500)
        const after = await el.evaluate((e) => {
          const now = document.activeElement
          const region = e.closest('.table-wrap')
          return {
            same: now === e,
            now: now ? `${now.tagName.toLowerCase()}${now.classList.length > 0 ? `.${[...now.classList].join('.')}` : ''}` : 'nothing',
            // A row that left the table takes its links with it: the focus then goes to the table's region.
            gone: !e.isConnected,
            onRegion: region !== null && now === region,
          }
        })
        assert.is.not(after.now, 'body', `${hash}: the focus fell to the page from ${stop.label}`)
        assert.ok(after.same || (after.gone && after.onRegion), `${hash}: the focus left ${stop.label} for ${after.now}`)
      }
      assert.ok((await tableChanges()) > before, `${hash}: its tables changed while the focus was in them (else this proves nothing)`)
      if (hash === '#/triggers') {
        // Below the trigger that comes and goes: its row moves up and down, the focus stays on its link.
        const link = page.locator('tr', { hasText: 'orders::process' }).getByRole('link', { name: 'orders::process' })
        await link.focus()
        const el = await page.evaluateHandle(() => document.activeElement!)
        const changes = await tableChanges()
        await page.waitForTimeout(1500)
        assert.ok(await el.evaluate((e) => document.activeElement === e), '#/triggers: the focus stays on a link below a row that came or went')
        assert.ok((await tableChanges()) > changes, '#/triggers: the table changed meanwhile')
      }
      // Enter on a row's link goes where it points.
      if (hash === '#/workers' || hash === '#/triggers') {
        const href = await page.evaluate(() => (document.activeElement instanceof HTMLAnchorElement && document.activeElement.closest('tbody') ? document.activeElement.getAttribute('href') : null))
        assert.ok(href, `${hash}: the last Tab reached a link in a row (${JSON.stringify(reached)})`)
        await page.keyboard.press('Enter')
        await until(() => page.evaluate((h) => location.hash === h && document.activeElement?.tagName === 'H1', href), WAIT, `${hash}: Enter to go to ${href}`)
      }
    }
  } finally {
    clearInterval(churn)
    if (registered) billing.unregisterTrigger('churn')
    await page.evaluate(() => (window as unknown as { watcher?: MutationObserver }).watcher?.disconnect())
  }
}, 180_000))

it('at phone width nothing overflows sideways (tables scroll in their own region), and every page link is in sight', limit(async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 })
  // The page list wraps rather than scrolling its last links out of sight.
  const nav = await page.evaluate(() => {
    const list = document.querySelector('nav.pages') as HTMLElement
    return {
      scrolls: list.scrollWidth > list.clientWidth,
      outside: [...list.querySelectorAll('a')].filter((a) => {
        const r = a.getBoundingClientRect()
        return r.left < 0 || r.right > window.innerWidth || r.width === 0
      }).map((a) => a.textContent),
    }
  })
  assert.equal(nav, { scrolls: false, outside: [] })
  for (const hash of ['#/overview', '#/workers', '#/functions', '#/triggers', '#/queues/orders', '#/feed']) {
    await go(page, hash)
    const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth])
    assert.ok(scroll <= width, `${hash}: the page is ${scroll} px wide in a ${width} px window`)
  }
  await go(page, '#/overview')
  await page.locator('.cards dd').first().waitFor({ timeout: WAIT })
  await shot(page, 'phone')
  await page.setViewportSize({ width: 1280, height: 800 })
}, 60_000))

it('a read-only token reads everything; its redrive and invoke controls are off, saying why; a token that may invoke but not redrive is told what it lacks', limit(async (ctx) => {
  ctx.orders.fixed = false
  const delivered = ctx.orders.delivered.length
  await ctx.workers[1].invoke('engine::queue::send', { queue_name: 'orders', body: { order: 2, item: 'cake' } })
  // A new tab: its own sessionStorage, so it asks for a token again.
  const page = await ctx.context.newPage()
  try {
    await page.goto(ctx.engine.consoleUrl!)
    await page.getByLabel('Token').fill(VIEWER)
    await page.getByRole('button', { name: 'Open the console' }).click()
    await page.locator('#who', { hasText: 'token viewer · read-only' }).waitFor({ timeout: WAIT })
    await go(page, '#/queues/orders')
    const letter = page.locator('tr', { hasText: '{"order":2,"item":"cake"}' })
    await letter.waitFor({ timeout: WAIT })
    const note = page.locator('#redrive-denied', { hasText: "This token may not redrive dead letters: its scope has no 'invoke' patterns: it is read-only. The engine would refuse" })
    await note.waitFor({ timeout: WAIT })
    for (const control of [page.getByRole('button', { name: 'Redrive all' }), page.getByRole('button', { name: 'Redrive selected' }), letter.getByRole('button', { name: /^Redrive/ }), letter.getByRole('checkbox')]) {
      assert.ok(await control.isDisabled(), `${control}: off`)
    }
    assert.match((await page.getByRole('button', { name: 'Redrive all' }).getAttribute('aria-describedby')) ?? '', /redrive-denied/)
    await shot(page, 'read-only')
    assert.is(await letter.count(), 1, 'the dead letter is still there')
    assert.is(ctx.orders.delivered.length, delivered, 'nothing was delivered')
    await go(page, '#/functions/billing::charge')
    await page.locator('#invoke-denied', { hasText: "This token may not invoke billing::charge: its scope has no 'invoke' patterns: it is read-only" }).waitFor({ timeout: WAIT })
    assert.ok(await page.getByRole('button', { name: 'Invoke', exact: true }).isDisabled(), 'Invoke is off')
    await page.getByLabel('Input (JSON)').press('Control+Enter')
    assert.is(await page.getByRole('region', { name: 'Result' }).textContent(), '', 'Ctrl+Enter sends nothing either')
  } finally {
    await page.close()
  }
  // A token that may invoke billing's functions, but not redrive: told what it lacks, not that it is read-only.
  const billing = await ctx.context.newPage()
  try {
    await billing.goto(ctx.engine.consoleUrl!)
    await billing.getByLabel('Token').fill(BILLING)
    await billing.getByRole('button', { name: 'Open the console' }).click()
    await billing.locator('#who', { hasText: 'token billing · may invoke' }).waitFor({ timeout: WAIT })
    await go(billing, '#/queues/orders')
    const note = billing.locator('#redrive-denied')
    await note.filter({ hasText: "its scope's 'invoke' patterns (billing::*) do not match 'engine::queue::dlq'" }).waitFor({ timeout: WAIT })
    assert.not.match((await note.textContent()) ?? '', /read-only/)
    assert.ok(await billing.getByRole('button', { name: 'Redrive all' }).isDisabled())
    await go(billing, '#/functions/billing::charge')
    assert.ok(await billing.getByRole('button', { name: 'Invoke', exact: true }).isEnabled(), 'it may invoke billing::charge')
    assert.is(await billing.locator('#invoke-denied').isHidden(), true)
  } finally {
    await billing.close()
  }
  // "Forget token" in the first tab signs it out.
  await ctx.page.getByRole('button', { name: 'Forget token' }).click()
  await ctx.page.getByLabel('Token').waitFor({ timeout: WAIT })
}, 90_000))

it('the page raised no script errors; every screenshot was taken; the README shows those of docs/console/', limit(async (ctx) => {
  assert.equal((ctx as unknown as { errors: string[] }).errors, [])
  for (const name of SCREENSHOTS) assert.ok(existsSync(join(shotsDir, `${name}.png`)), `${name}.png taken`)
  const kept = readdirSync(join(root, 'docs', 'console')).filter((f) => f.endsWith('.png')).sort()
  assert.equal(kept, SCREENSHOTS.map((s) => `${s}.png`).sort(), 'docs/console/ holds exactly the screenshots this test takes (npm run screenshots)')
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const shown = [...readme.matchAll(/\(docs\/console\/([\w-]+)\.png\)/g)].map((m) => m[1])
  assert.ok(shown.length >= 3, 'the README shows the console')
  for (const name of shown) assert.ok((SCREENSHOTS as readonly string[]).includes(name), `the README shows docs/console/${name}.png, which this test takes`)
}))

it.run()
