/** The member app page in a real browser (Debian's headless Chromium via playwright-core): a simulated dwell puts an offer on the page. */
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { rpidAt } from '../../edge/contract/index.js'
import { ManualClock } from '../../edge/core/clock.js'
import { startTestGateway, MEMBER_KEY } from '../helpers/gateway.js'
import { connect, heardFor } from '../helpers/mqtt.js'
import { query } from '../helpers/db.js'
import { waitFor } from '../helpers/net.js'

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p))
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']

t.test('an offer issued by a dwell appears live on the member app page', { skip: CHROMIUM ? false : "Debian's chromium is not installed (apt-get install -y chromium); .ci/run installs it" }, async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 11, 0, 0)) // any day: nothing on the page reads the phone's calendar
  const tg = await startTestGateway({ clock })
  t.teardown(() => tg.close())
  const { gw } = tg
  // playwright gives the browser a fresh, empty profile of its own
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  t.teardown(() => browser.close())
  // a visitor's phone set to another zone and a 12-hour clock: the page shows the store's times all the same
  const page = await browser.newPage({ viewport: { width: 420, height: 900 }, timezoneId: 'America/New_York', locale: 'en-US' })
  // the phone's clock is nowhere near the gateway's (which is virtual here): a day and a half ahead.
  // The page must judge expiry by the gateway's clock, whatever the calendar says.
  await page.clock.setFixedTime(new Date(clock.now() + 36 * 3600_000))
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(`${gw.httpUrl}/app?token=${await gw.memberToken('m-1')}`)
  await page.waitForFunction("document.getElementById('status').textContent === 'connected'")
  t.notMatch(page.url(), /token=/, 'the token is taken out of the address bar')
  t.equal(await page.locator('#signin').isVisible(), false, 'the sign-in form (with the raw token) is hidden once connected')

  const dev = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
  t.teardown(() => dev.endAsync())
  await heardFor(dev, { prefix: gw.prefix, scanner: 'scn-dairy', subject: (ts) => rpidAt(MEMBER_KEY, ts), clock, seconds: 12 })
  const card = page.locator('article.offer')
  await card.waitFor({ timeout: 10_000 })
  t.equal(await card.locator('h2').textContent(), '20% off yoghurt')
  await page.waitForFunction("(() => { const img = document.querySelector('article.offer img.qr'); return !!img && img.complete && img.naturalWidth > 0 })()")
  t.pass('the coupon shows as a QR code')
  const code = await card.locator('.code').textContent()
  const offerId = await card.getAttribute('data-offer-id')
  t.match(code, /^[0-9A-Z]{44}$/)
  const expires = (await query<{ expires_at: number }>(gw.dbFile, 'SELECT expires_at FROM offers WHERE offer_id = ?', [(await card.getAttribute('data-offer-id'))!]))[0]!.expires_at
  const storeClock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'Europe/Berlin' }).format(expires)
  t.equal(await card.locator('.meta').textContent(), `show at the till, valid until ${storeClock}`, 'expiry in the store\'s time zone, 24-hour')
  await waitFor(async () => (await query<{ status: string }>(gw.dbFile, 'SELECT status FROM offers WHERE offer_id = ?', [offerId!]))[0]?.status === 'seen', { what: 'the page acknowledged the offer' })
  await page.screenshot({ path: join(tg.dataDir, 'app.png') })
  // a reload keeps the coupon: the gateway sends every live coupon on connect
  await page.reload()
  await page.waitForFunction("document.getElementById('status').textContent === 'connected'")
  await card.waitFor({ timeout: 10_000 })
  t.equal(await card.getAttribute('data-offer-id'), offerId, 'the same coupon after a reload')
  t.equal(await page.locator('article.offer').count(), 1, 'shown once')
  await card.locator('button', { hasText: 'Dismiss' }).click()
  await card.waitFor({ state: 'detached' })
  await waitFor(async () => (await query<{ status: string }>(gw.dbFile, 'SELECT status FROM offers WHERE offer_id = ?', [offerId!]))[0]?.status === 'dismissed', { what: 'dismissed' })
  // call for help: the member stands at the fridge, no clerk is on shift in this store, so it waits queued
  await page.locator('#help').click()
  await page.locator('#help-status', { hasText: 'a clerk has been called' }).waitFor()
  t.ok(await page.locator('#help').isDisabled(), 'one call at a time')
  await page.locator('#help-cancel').click()
  await page.locator('#help-status', { hasText: 'call cancelled' }).waitFor()
  t.equal(await page.locator('#help-cancel').isHidden(), true)
  t.equal((await query<{ state: string }>(gw.dbFile, 'SELECT state FROM assist_requests'))[0]?.state, 'cancelled')
  t.same(errors, [], 'no script errors')
})
