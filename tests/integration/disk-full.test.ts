/**
 * The disk fills up (SQLITE_FULL, made real with SQLite's max_page_count): nothing changes in memory that its
 * transaction did not record. A receipt that could not be stored is not remembered as seen, so the POS's
 * resend is processed once space is back; its coupon is not redeemed in memory only (so it cannot redeem a
 * second time after a restart); and /readyz recovers by itself.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rpidAt, topics } from '../../edge/contract/index.js'
import { ManualClock } from '../../edge/core/clock.js'
import { startTestGateway, MEMBER_KEY, type TestGateway } from '../helpers/gateway.js'
import { connect, heardFor, publishJson } from '../helpers/mqtt.js'
import { query } from '../helpers/db.js'
import { scrape, sample } from '../helpers/metrics.js'
import { waitFor } from '../helpers/net.js'
import { wsConnect } from '../helpers/ws.js'

t.test('disk full: no state in memory that is not on disk; readiness recovers', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'aisle-full-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const clock = new ManualClock(Date.UTC(2026, 5, 2, 10, 0, 0))
  let tg: TestGateway = await startTestGateway({ clock, dataDir })
  t.teardown(() => tg.close())
  const ready = async () => (await (await fetch(`${tg.gw.httpUrl}/readyz`)).json()) as { ready: boolean; checks: { database: { ok: boolean; detail: string } } }

  // an offer for m-1
  const app = wsConnect(`${tg.gw.httpUrl.replace('http', 'ws')}/v1/member/ws`, await tg.gw.memberToken('m-1'))
  await app.opened
  let dev = await connect(`mqtt://127.0.0.1:${tg.gw.mqttPort}`)
  await heardFor(dev, { prefix: tg.gw.prefix, scanner: 'scn-dairy', subject: (ts) => rpidAt(MEMBER_KEY, ts), clock, seconds: 11 })
  const { offer } = await waitFor(() => app.frames.find((f) => (f as { type: string }).type === 'offer') as { offer: { offerId: string; code: string } } | undefined, { what: 'offer' })
  app.close()
  await tg.gw.flush()

  // the disk is full: no page may be added to the database
  const writer = tg.gw.store.queue as unknown as { db: { get(sql: string): Promise<{ page_count?: number; max_page_count?: number }>; exec(sql: string): Promise<void> } }
  const pages = (await writer.db.get('PRAGMA page_count'))!.page_count!
  await writer.db.exec(`PRAGMA max_page_count = ${pages}`)
  const failedBefore = tg.gw.store.queue.stats.failedUnits
  const big = Array.from({ length: 400 }, (_, i) => ({ sku: `sku-${i}-${'x'.repeat(40)}`, qty: 1, price: 1 }))
  const receipt = { receiptId: 'r-full', memberId: 'm-1', items: [{ sku: 'yog-1', qty: 1, price: 0.99 }, ...big], coupons: [offer.code], total: 400.99, ts: clock.now() }
  await publishJson(dev, topics.receipt(tg.gw.prefix, 'lane-1'), receipt)
  await waitFor(() => tg.gw.store.queue.stats.failedUnits > failedBefore, { what: 'the receipt write failed' })
  t.match(tg.gw.store.queue.stats.lastError, /SQLITE_FULL|full/)
  const r1 = await ready()
  t.equal(r1.ready, false, 'not ready while writes fail')
  t.match(r1.checks.database.detail, /writes are failing/)
  t.equal(sample(await scrape(tg.gw.httpUrl), 'aisle_offers_redeemed_total', { campaign: 'dairy-10s' }), 0, 'nothing redeemed in memory')

  // space comes back: readiness recovers by itself (a probe write), with nothing else written
  await writer.db.exec('PRAGMA max_page_count = 1073741823')
  tg.gw.tick()
  await waitFor(async () => (await ready()).ready, { what: 'ready again', timeoutMs: 15_000 })
  t.pass('readiness recovered by itself')

  // the POS resends the receipt: it is processed now, once
  await publishJson(dev, topics.receipt(tg.gw.prefix, 'lane-1'), receipt)
  await waitFor(async () => (await query<{ status: string }>(tg.gw.dbFile, 'SELECT status FROM offers WHERE offer_id = ?', [offer.offerId]))[0]?.status === 'redeemed', { what: 'redeemed from the resend' })
  await tg.gw.flush()
  t.equal((await query<{ n: number }>(tg.gw.dbFile, "SELECT COUNT(*) AS n FROM receipts WHERE receipt_id = 'r-full'"))[0]!.n, 1)
  t.equal(sample(await scrape(tg.gw.httpUrl), 'aisle_offers_redeemed_total', { campaign: 'dairy-10s' }), 1)
  await dev.endAsync()

  // after a restart the coupon is still spent
  await tg.close()
  tg = await startTestGateway({ clock, dataDir })
  dev = await connect(`mqtt://127.0.0.1:${tg.gw.mqttPort}`)
  t.teardown(() => dev.endAsync())
  await publishJson(dev, topics.receipt(tg.gw.prefix, 'lane-1'), { ...receipt, receiptId: 'r-again', items: [{ sku: 'yog-1', qty: 1, price: 0.99 }], total: 0.99 })
  await waitFor(async () => sample(await scrape(tg.gw.httpUrl), 'aisle_coupon_refusals_total', { reason: 'already-redeemed' }) === 1, { what: 'refused: already redeemed' })
  t.pass('redeemed once, also across the restart')
})
