/**
 * The store IT console in a real browser (Debian's headless Chromium via playwright-core), against a gateway
 * with the demo store's layout and the store simulator running in virtual time: sign in, the map shows
 * every zone and moving shoppers, a scanner that stops publishing is flagged, an operator retires a
 * campaign and a viewer cannot, calibration runs end to end; no script errors, no request leaves the
 * gateway's origin. Screenshots of each view go to $AISLE_SCREENSHOTS (default <tmp>/aisle-console-screenshots).
 */
import t from 'tap'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { Layout } from '../../edge/contract/resources.js'
import { topics } from '../../edge/contract/topics.js'
import { ManualClock } from '../../edge/core/clock.js'
import { startTestGateway, TEST_OPERATOR, TEST_VIEWER } from '../helpers/gateway.js'
import { publishJson } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/net.js'
import { startVirtualStore } from '../helpers/virtual-store.js'
import type { SimMember } from '../../devices/simulator/store-sim.js'

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p))
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']
const ROOT = join(import.meta.dirname, '..', '..')
const SHOTS = process.env['AISLE_SCREENSHOTS'] || join(tmpdir(), 'aisle-console-screenshots')
const TAG = 'ibeacon:426c7565-4368-6172-6d42-6561636f6e73-9-9'

/** the console's bundle: built by `npm run build`; built here when a single test file runs without it */
async function ensureBundle(): Promise<void> {
  if (existsSync(join(ROOT, 'dist', 'console', 'console.js'))) return
  const { buildConsole } = await import(join(ROOT, 'edge', 'http', 'console', 'build.mjs')) as { buildConsole: () => Promise<unknown> }
  await buildConsole()
}

t.test('the console in a browser', { skip: CHROMIUM ? false : "Debian's chromium is not installed (apt-get install -y chromium); .ci/run installs it" }, async (t) => {
  await ensureBundle()
  rmSync(SHOTS, { recursive: true, force: true })
  mkdirSync(SHOTS, { recursive: true })
  t.comment(`screenshots in ${SHOTS}`)

  const demo = JSON.parse(readFileSync(join(ROOT, 'config', 'demo-store.json'), 'utf8')) as { store: unknown; layout: Layout; members: SimMember[]; campaigns: unknown; assist: unknown }
  const clock = new ManualClock(Date.UTC(2026, 5, 16, 8, 30, 0))
  const tg = await startTestGateway({ clock, overlay: { store: demo.store, layout: demo.layout, members: demo.members, campaigns: demo.campaigns, assist: demo.assist } })
  t.teardown(() => tg.close())
  const { gw } = tg
  const origin = new URL(gw.httpUrl).origin
  const store = await startVirtualStore({ gw, clock, layout: demo.layout, members: demo.members, shoppers: 12, clerks: 3 })
  t.teardown(() => store.stop())
  await store.advance(40_000)
  store.run({ stepMs: 500, everyMs: 100 })

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  t.teardown(() => browser.close())
  const problems: string[] = []
  const offOrigin: string[] = []
  const watch = (page: Page, who: string) => {
    page.on('pageerror', (e) => problems.push(`${who}: ${e.message}`))
    // (the refusals this test provokes on purpose, a wrong token and a viewer's DELETE, are logged by the browser as 401 and 403)
    page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) problems.push(`${who} console: ${m.text()}`) })
    page.on('request', (r) => { if (!r.url().startsWith('data:') && new URL(r.url()).origin !== origin) offOrigin.push(r.url()) })
    page.on('dialog', (d) => { void d.accept() })
  }
  const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const page = await ctx.newPage()
  watch(page, 'operator')
  // the browser's calendar is a day and a half off the gateway's: every age and timer on the page is judged by the gateway's clock
  await page.clock.setFixedTime(new Date(clock.now() + 36 * 3600_000))

  await t.test('sign in', async (t) => {
    await page.goto(`${gw.httpUrl}/console`)
    await page.getByTestId('token').fill('not-a-token')
    await page.getByTestId('signin').click()
    await page.getByText('This token is not known to the gateway.').waitFor()
    await page.getByTestId('token').fill(TEST_OPERATOR)
    await page.getByTestId('signin').click()
    await page.locator('[data-testid=stream-state][data-state=live]').waitFor()
    t.notMatch(page.url(), /token/, 'the token is never in the address')
    t.equal(await page.evaluate("sessionStorage.getItem('aisle-console-token')"), TEST_OPERATOR, 'kept in session storage')
    t.match(await page.locator('header.top').textContent(), /operator/)
    t.notOk(tg.logs.some((l) => l.includes(TEST_OPERATOR)), 'nor in the gateway\'s logs')
  })

  await t.test('the map shows every zone, moving shoppers, clerks and a call', async (t) => {
    const zones = demo.layout.zones.map((z) => z.id)
    await waitFor(async () => (await page.locator('svg.store-map g.zone').count()) === zones.length, { what: 'every zone drawn' })
    t.same((await page.locator('svg.store-map g.zone').evaluateAll((els) => els.map((e) => e.getAttribute('data-zone')))).sort(), [...zones].sort(), 'every zone of the layout')
    await waitFor(async () => (await page.locator('circle.subject').count()) >= 4, { what: 'shoppers on the map', timeoutMs: 15_000 })
    const where = async () => new Map(await page.locator('circle.subject').evaluateAll((els) => els.map((e) => [e.getAttribute('data-subject')!, e.getAttribute('data-zone')!] as [string, string])))
    const before = await where()
    const moved = await waitFor(async () => {
      const now = await where()
      return [...now].filter(([s, z]) => before.has(s) && before.get(s) !== z).length > 0 || undefined
    }, { what: 'a shopper moving to another zone', timeoutMs: 20_000 })
    t.ok(moved, 'shoppers move from zone to zone while the simulator runs')
    await page.locator('svg.store-map g.band').first().waitFor()
    t.pass('clerks\' bands are on the map')
    await store.call('btn-dairy-1')
    await page.locator('svg.store-map g.call').first().waitFor()
    t.match(await page.locator('svg.store-map g.call .timer').first().textContent(), /\d:\d\d/, 'the call shows its state and timer')
    await shot(page, 'map')
    await page.locator('svg.store-map g.zone[data-zone=fridge-dairy]').click({ position: { x: 20, y: 40 } })
    await page.locator('.zone-panel').getByText('20% off yoghurt').waitFor()
    t.pass('a zone shows the campaigns that trigger there')
    await shot(page, 'map-zone')
  })

  await t.test('a scanner that stops publishing is flagged', async (t) => {
    await page.goto(`${gw.httpUrl}/console#/devices`)
    await page.locator('tr[data-device=scn-electronics][data-state=online]').waitFor()
    store.mute('scn-electronics')
    await page.locator('tr[data-device=scn-electronics][data-state=silent]').waitFor({ timeout: 20_000 })
    await page.locator('.toast', { hasText: 'scn-electronics went silent' }).waitFor()
    t.pass('flagged silent, with a notice')
    t.match(await (await fetch(`${gw.httpUrl}/metrics`)).text(), /aisle_devices_silent\{kind="scanner"\} 1\b/, 'and counted in /metrics')
    await page.locator('svg.store-map').count() // (the map flags it too: see map.png after this test)
    await shot(page, 'devices')
    store.unmute('scn-electronics')
  })

  await t.test('an operator retires a campaign and activates it again', async (t) => {
    await page.goto(`${gw.httpUrl}/console#/offers`)
    await page.locator('tr[data-campaign=drinks-2for1][data-state=active]').waitFor()
    await page.getByTestId('retire-drinks-2for1').click()
    await page.locator('tr[data-campaign=drinks-2for1]').waitFor({ state: 'detached' })
    const r = await (await fetch(`${gw.httpUrl}/v1/admin/campaigns?retired=true`, { headers: { authorization: `Bearer ${TEST_OPERATOR}` } })).json() as { campaigns: { campaign: { id: string }; retiredAt: string | null }[] }
    t.ok(r.campaigns.find((c) => c.campaign.id === 'drinks-2for1')?.retiredAt, 'retired at the gateway')
    await shot(page, 'offers')
    await page.getByText(/show 1 retired/).click()
    await page.getByTestId('activate-drinks-2for1').click()
    await page.locator('tr[data-campaign=drinks-2for1][data-state=active]').waitFor()
    t.pass('active again')
  })

  await t.test('a viewer sees no controls it may not use, and the gateway refuses it', async (t) => {
    const vctx = await browser.newContext({ viewport: { width: 1024, height: 1366 } }) // a tablet, upright
    const v = await vctx.newPage()
    watch(v, 'viewer')
    await v.goto(`${gw.httpUrl}/console#token=${TEST_VIEWER}`)
    await v.locator('[data-testid=stream-state][data-state=live]').waitFor()
    t.notMatch(v.url(), /token/, 'a #token= link is taken out of the address at once')
    await v.goto(`${gw.httpUrl}/console#/offers`)
    await v.locator('tr[data-campaign=dairy-10s]').waitFor()
    t.equal(await v.locator('[data-testid^=retire-]').count(), 0, 'no retire buttons')
    t.equal(await v.getByText('New campaign').count(), 0, 'no new campaign')
    t.equal(await v.locator('button', { hasText: 'Edit' }).count(), 0, 'no edit')
    await shot(v, 'offers-viewer-tablet')
    await v.goto(`${gw.httpUrl}/console#/calibration`)
    await v.locator('[data-testid=cal-table]').waitFor()
    t.equal(await v.getByTestId('cal-start').count() + await v.getByTestId('cal-build').count(), 0, 'no calibration controls')
    const status = await v.evaluate("fetch('/v1/admin/campaigns/dairy-10s', { method: 'DELETE', headers: { authorization: 'Bearer ' + sessionStorage.getItem('aisle-console-token') } }).then((r) => r.status)")
    t.equal(status, 403, 'and the gateway refuses a viewer that tries anyway')
    await v.goto(`${gw.httpUrl}/console#/map`)
    await v.locator('svg.store-map g.zone').first().waitFor()
    await shot(v, 'map-tablet')
    await vctx.close()
  })

  await t.test('calibration end to end', async (t) => {
    await store.pause() // the walk is timed by hand below
    await page.goto(`${gw.httpUrl}/console#/calibration`)
    const walk = async (zone: 'drinks' | 'entrance', seconds: number) => {
      await page.getByTestId('cal-zone').selectOption(zone)
      await page.getByTestId('cal-subject').fill(TAG)
      await page.locator('input[type=number]').fill('20')
      await page.getByTestId('cal-start').click()
      await page.locator('.progress-row').waitFor()
      for (let i = 0; i < seconds; i++) {
        const ts = clock.advance(1000)
        const j = (i % 5) - 2
        const [near, far] = zone === 'drinks' ? ['scn-drinks', 'scn-entrance'] : ['scn-entrance', 'scn-drinks']
        await publishJson(store.client, topics.ble(gw.prefix, near), { id: TAG, rssi: -54 + j, ts })
        await publishJson(store.client, topics.ble(gw.prefix, far), { id: TAG, rssi: -84 - j, ts })
        gw.tick()
        if (i === 8) await page.getByTestId('cal-samples').filter({ hasText: /^[1-9]\d* samples$/ }).waitFor()
      }
      await page.locator('.progress-row').waitFor({ state: 'detached' })
      await page.locator(`tr[data-zone=${zone}] td.num`).first().filter({ hasText: /^[1-9]\d*$/ }).waitFor()
    }
    await walk('drinks', 22)
    t.pass('progress shows while the zone is walked; the session ends on its own')
    await walk('entrance', 22)
    await page.getByTestId('cal-build').click()
    await page.getByTestId('cal-result').filter({ hasText: 'model built' }).waitFor()
    t.match(await page.locator('tr[data-zone=drinks]').textContent(), /\d+%/, 'accuracy per zone')
    const cal = await (await fetch(`${gw.httpUrl}/v1/admin/calibration`, { headers: { authorization: `Bearer ${TEST_OPERATOR}` } })).json() as { model: { zones: string[] } | null }
    t.same(cal.model?.zones, ['drinks', 'entrance'], 'the model the console built is the active one')
    await shot(page, 'calibration')
    store.run({ stepMs: 500, everyMs: 100 })
  })

  await t.test('calls and health', async (t) => {
    await page.goto(`${gw.httpUrl}/console#/calls`)
    await page.locator('[data-testid=bands-table] tr[data-band]').first().waitFor()
    await shot(page, 'calls')
    await page.goto(`${gw.httpUrl}/console#/health`)
    await page.locator('[data-testid=checks] li').first().waitFor()
    t.match(await page.locator('[data-testid=checks]').textContent(), /database.*broker|broker.*database/s)
    await shot(page, 'health')
  })

  await t.test('register a device and show its secret once (CONTRACT 7a)', async (t) => {
    const doc = await (await fetch(`${gw.httpUrl}/docs/json`)).json() as { paths: Record<string, Record<string, unknown>> }
    if (!doc.paths['/v1/admin/devices/{id}']?.['put']) {
      t.comment('PUT /v1/admin/devices/{id} is not in this gateway yet: the console offers no registration (checked), the flow is tested once it lands')
      await page.goto(`${gw.httpUrl}/console#/devices`)
      await page.getByTestId('devices-table').waitFor()
      t.equal(await page.getByTestId('register-open').count(), 0, 'no register button without the endpoint')
      return
    }
    await page.goto(`${gw.httpUrl}/console#/devices`)
    await page.getByTestId('register-open').click()
    await page.getByTestId('register-id').fill('scn-new-1')
    await page.getByTestId('register-kind').selectOption('scanner')
    await page.getByTestId('register-submit').click()
    const secret = await page.getByTestId('device-secret').textContent()
    t.ok(secret && secret.length >= 16, 'the secret is shown')
    await shot(page, 'device-registered')
  })

  t.same(problems, [], 'no script errors')
  t.same(offOrigin, [], 'no request leaves the gateway\'s origin')
  await ctx.close()
})
