/**
 * Does a console left open leak? The demo store's layout, the store simulator in virtual time (shoppers,
 * scanners, clerks' bands, call buttons) and the console open in headless Chromium, cycling through its six
 * views, for `--hours` simulated hours at about `--speed` times real time. Measured after a warm-up and at
 * the end, each after a full garbage collection: the page's JS heap (CDP) and DOM nodes, the gateway's
 * heap and RSS (the gateway runs in this process, with the simulator), events streamed.
 *
 *   npm run bench:console -- --hours 8 --shoppers 40
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { chromium } from 'playwright-core'
import type { Layout } from '../../edge/contract/resources.js'
import { ManualClock } from '../../edge/core/clock.js'
import type { SimMember } from '../../devices/simulator/store-sim.js'
import { startTestGateway, TEST_VIEWER } from '../helpers/gateway.js'
import { startVirtualStore } from '../helpers/virtual-store.js'
import { mb, table } from './lib.js'

const { values: a } = parseArgs({ options: { hours: { type: 'string', default: '8' }, shoppers: { type: 'string', default: '40' }, speed: { type: 'string', default: '120' }, calls: { type: 'string', default: '30' } } })
const HOURS = Number(a.hours)
const SPEED = Number(a.speed)
const CALLS_PER_HOUR = Number(a.calls)
const ROOT = join(import.meta.dirname, '..', '..')
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p))
if (!CHROMIUM) { console.error('needs Debian\'s chromium (apt-get install -y chromium)'); process.exit(2) }
if (!existsSync(join(ROOT, 'dist', 'console', 'console.js'))) { console.error('build the console first: npm run build'); process.exit(2) }
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) { console.error('run with node --expose-gc (npm run bench:console does)'); process.exit(2) }

const demo = JSON.parse(readFileSync(join(ROOT, 'config', 'demo-store.json'), 'utf8')) as { store: unknown; layout: Layout; members: SimMember[]; campaigns: unknown; assist: unknown }
const clock = new ManualClock(Date.UTC(2026, 5, 16, 6, 0, 0))
const tg = await startTestGateway({ clock, overlay: { store: demo.store, layout: demo.layout, members: demo.members, campaigns: demo.campaigns, assist: demo.assist } })
const { gw } = tg
const store = await startVirtualStore({ gw, clock, layout: demo.layout, members: demo.members, shoppers: Number(a.shoppers), clerks: 4 })
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--enable-precise-memory-info'] })
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
const errors: string[] = []
page.on('pageerror', (e) => errors.push(e.message))
const cdp = await page.context().newCDPSession(page)
await cdp.send('HeapProfiler.enable')
await page.goto(`${gw.httpUrl}/console#token=${TEST_VIEWER}`)
await page.locator('[data-testid=stream-state][data-state=live]').waitFor()

const VIEWS = ['map', 'devices', 'offers', 'calls', 'calibration', 'health']
let view = 0
let nextCall = clock.now() + 60_000
let nextView = clock.now()
const buttons = demo.layout.anchors.filter((x) => x.kind === 'button').map((x) => x.id)

/** run simulated time at about SPEED x real time, cycling views every simulated 10 minutes */
async function simulate(ms: number): Promise<void> {
  const until = clock.now() + ms
  const stepMs = 1000
  while (clock.now() < until) {
    const t0 = performance.now()
    await store.advance(stepMs, 500)
    if (clock.now() >= nextCall && buttons.length) { await store.call(buttons[Math.floor(Math.random() * buttons.length)]!); nextCall = clock.now() + 3_600_000 / CALLS_PER_HOUR }
    if (clock.now() >= nextView) { nextView = clock.now() + 600_000; await page.goto(`${gw.httpUrl}/console#/${VIEWS[view++ % VIEWS.length]}`) }
    const wait = stepMs / SPEED - (performance.now() - t0)
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
  }
}

async function measure(label: string) {
  await page.goto(`${gw.httpUrl}/console#/map`)
  await new Promise((r) => setTimeout(r, 1500))
  for (let i = 0; i < 3; i++) await cdp.send('HeapProfiler.collectGarbage')
  const heap = await cdp.send('Runtime.getHeapUsage') as { usedSize: number; totalSize: number }
  const dom = await cdp.send('Memory.getDOMCounters') as { nodes: number; jsEventListeners: number }
  gc!(); gc!()
  const m = process.memoryUsage()
  const streamed = Number(/aisle_messages_total\{kind="ble",outcome="ok"\} (\d+)/.exec(await (await fetch(`${gw.httpUrl}/metrics`)).text())?.[1] ?? 0)
  return { when: label, 'simulated time': `${((clock.now() - Date.UTC(2026, 5, 16, 6, 0, 0)) / 3600_000).toFixed(1)} h`, 'page JS heap': mb(heap.usedSize), 'DOM nodes': dom.nodes, 'event listeners': dom.jsEventListeners, 'gateway heap': mb(m.heapUsed), 'gateway RSS': mb(m.rss), 'BLE messages so far': streamed.toLocaleString('en'), subjects: await page.locator('circle.subject').count() }
}

const started = performance.now()
await simulate(20 * 60_000)
const before = await measure('after 20 min warm-up')
console.log(table([before]))
await simulate(HOURS * 3_600_000)
const after = await measure(`after ${HOURS} more hours`)
const realS = (performance.now() - started) / 1000
console.log(`\n${table([before, after])}\n\n${HOURS} simulated hours in ${realS.toFixed(0)} s of real time, ${Number(a.shoppers)} shoppers, ${store.published.toLocaleString('en')} device messages, about ${CALLS_PER_HOUR} calls an hour; page errors: ${errors.length}`)
await browser.close()
await store.stop()
await tg.close()
