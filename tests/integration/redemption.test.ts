/** Receipts and coupons end to end: single-use redemption with reasons, figures with uplift, stock, scan and receipt triggers. */
import t from 'tap'
import { createHash } from 'node:crypto'
import { rpidAt, topics } from '../../edge/contract/index.js'
import { ManualClock } from '../../edge/core/clock.js'
import { CouponCodec } from '../../edge/offers/coupon.js'
import { startTestGateway, MEMBER_KEY, OTHER_KEY, TEST_ADMIN, TEST_VIEWER, TEST_OPERATOR } from '../helpers/gateway.js'
import { connect, publishJson } from '../helpers/mqtt.js'
import { query } from '../helpers/db.js'
import { scrape, sample } from '../helpers/metrics.js'
import { waitFor } from '../helpers/net.js'
import { wsConnect } from '../helpers/ws.js'

// a holdout salt that puts m-2 in the (50%) holdout group and m-1 out of it
const inHoldout = (salt: string, id: string) => createHash('sha256').update(`${salt}:${id}`).digest().readUInt32BE(0) % 10_000 < 5000
let salt = 'test-0'
for (let i = 0; !(inHoldout(salt, 'm-2') && !inHoldout(salt, 'm-1')); i++) salt = `test-${i}`

const clock = new ManualClock(Date.UTC(2026, 10, 23, 15, 0, 0))
const tg = await startTestGateway({
  clock,
  overlay: {
    offers: { holdoutPercent: 50, holdoutSalt: salt },
    campaigns: [
      { id: 'yoghurt', title: 'Yoghurt 20%', trigger: { kind: 'dwell', zone: 'fridge-dairy', seconds: 10 }, offer: { category: 'dairy', skus: ['yog-1', 'yog-2'], discount: { kind: 'percent', value: 20 } }, validMinutes: 60 },
      { id: 'scan-cheese', title: 'Cheese deal', trigger: { kind: 'scan', sku: 'cheese-1' }, offer: { skus: ['cheese-1'], discount: { kind: 'amount', value: 1 } }, validMinutes: 60 },
      { id: 'after-bread', title: 'Butter next time', trigger: { kind: 'receipt', sku: 'bread-1' }, offer: { skus: ['butter-1'], discount: { kind: 'amount', value: 0.5 } }, validMinutes: 60 },
    ],
  },
})
t.teardown(() => tg.close())
const { gw } = tg
const dev = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
t.teardown(() => dev.endAsync())
const get = async (path: string, token = TEST_VIEWER) => (await fetch(`${gw.httpUrl}/v1/admin${path}`, { headers: { authorization: `Bearer ${token}` } })).json() as Promise<Record<string, unknown>>
const refusals = async (reason: string) => sample(await scrape(gw.httpUrl), 'aisle_coupon_refusals_total', { reason })
async function dwellAtFridge(key: string): Promise<void> {
  const t0 = clock.now()
  for (let i = 0; i <= 12; i++) {
    clock.set(t0 + i * 1000)
    await publishJson(dev, topics.ble(gw.prefix, 'scn-dairy'), { id: rpidAt(key, clock.now()), rssi: -50, ts: clock.now() })
  }
}
let receiptNo = 0
const receipt = (memberId: string | undefined, items: { sku: string; qty: number; price: number }[], coupons?: string[], receiptId = `r-${++receiptNo}`) =>
  publishJson(dev, topics.receipt(gw.prefix, 'lane-1'), { receiptId, ...(memberId ? { memberId } : {}), items, coupons, total: items.reduce((s, i) => s + i.qty * i.price, 0), ts: clock.now() })

const app = wsConnect(`${gw.httpUrl.replace('http', 'ws')}/v1/member/ws`, await gw.memberToken('m-1'))
await app.opened
t.teardown(() => app.close())

t.test('redeem once; every other attempt refused with its reason', async (t) => {
  await dwellAtFridge(MEMBER_KEY)
  const frame = await waitFor(() => app.frames.find((f) => (f as { type: string }).type === 'offer') as { offer: { offerId: string; code: string } } | undefined, { what: 'offer' })
  const { code, offerId } = frame.offer
  await receipt('m-1', [{ sku: 'yog-1', qty: 1, price: 0.99 }], [code], 'r-100')
  await waitFor(async () => (await query<{ status: string }>(gw.dbFile, 'SELECT status FROM offers WHERE offer_id = ?', [offerId]))[0]?.status === 'redeemed', { what: 'redeemed' })
  t.equal(sample(await scrape(gw.httpUrl), 'aisle_offers_redeemed_total', { campaign: 'yoghurt' }), 1)
  await waitFor(() => app.frames.some((f) => (f as { type: string; offerId?: string }).type === 'redeemed' && (f as { offerId: string }).offerId === offerId), { what: 'the open app told the coupon was redeemed' })
  const out = await query<{ event: string; properties: string }>(gw.dbFile, "SELECT event, properties FROM outbox WHERE event = 'Offer Redeemed'")
  t.match(JSON.parse(out[0]!.properties), { offerId, campaignId: 'yoghurt', trigger: 'dwell', receiptId: 'r-100' }, 'attributed to offer, campaign and trigger')

  await receipt('m-1', [{ sku: 'yog-1', qty: 1, price: 0.99 }], [code], 'r-100')
  await receipt('m-1', [{ sku: 'yog-2', qty: 1, price: 0.99 }], [code])
  await waitFor(async () => (await refusals('already-redeemed')) === 1, { what: 'second use refused' })
  t.equal((await query(gw.dbFile, "SELECT * FROM receipts WHERE receipt_id = 'r-100'")).length, 1, 'a resent receipt counts once')

  const altered = code.slice(0, 30) + (code[30] === 'A' ? 'B' : 'A') + code.slice(31)
  const foreign = new CouponCodec({ id: 1, key: Buffer.alloc(32, 7) }).issue('yoghurt', 'm-1', clock.now() + 3_600_000)
  const expired = new CouponCodec({ id: 1, key: Buffer.from(gw.secrets.couponKey, 'hex') }).issue('yoghurt', 'm-1', clock.now() - 120_000)
  await receipt('m-1', [{ sku: 'yog-1', qty: 1, price: 1 }], [altered, foreign, expired, 'HELLO'])
  await waitFor(async () => (await refusals('bad-mac')) === 2 && (await refusals('expired')) === 1 && (await refusals('malformed')) === 1, { what: 'forged, foreign, expired and malformed refused' })
  await gw.flush()
  const attempts = await query<{ outcome: string }>(gw.dbFile, 'SELECT outcome FROM redemptions ORDER BY id')
  t.same(attempts.map((a) => a.outcome), ['redeemed', 'already-redeemed', 'bad-mac', 'bad-mac', 'expired', 'malformed'], 'every attempt is on record')
})

t.test('a coupon scanned at the till; wrong member and wrong SKU', async (t) => {
  clock.advance(86_400_000)
  app.frames.length = 0
  await dwellAtFridge(MEMBER_KEY)
  const frame = await waitFor(() => app.frames.find((f) => (f as { type: string }).type === 'offer') as { offer: { offerId: string; code: string } } | undefined, { what: 'second day offer' })
  await receipt('m-2', [{ sku: 'yog-1', qty: 1, price: 1 }], [frame.offer.code])
  await receipt('m-1', [{ sku: 'milk-1', qty: 1, price: 1 }], [frame.offer.code])
  await waitFor(async () => (await refusals('wrong-member')) === 1 && (await refusals('not-applicable')) === 1, { what: 'wrong member, not applicable' })
  await publishJson(dev, topics.scan(gw.prefix, 'till-1'), { code: frame.offer.code, kind: 'coupon' })
  await waitFor(async () => (await query<{ status: string }>(gw.dbFile, 'SELECT status FROM offers WHERE offer_id = ?', [frame.offer.offerId]))[0]?.status === 'redeemed', { what: 'redeemed by scan' })
})

t.test('holdout members are recorded, not sent; figures show uplift', async (t) => {
  const other = wsConnect(`${gw.httpUrl.replace('http', 'ws')}/v1/member/ws`, await gw.memberToken('m-2'))
  await other.opened
  t.teardown(() => other.close())
  await dwellAtFridge(OTHER_KEY)
  const d = await waitFor(async () => ((await get('/decisions?member=m-2', TEST_ADMIN))['decisions'] as { considered: { outcome: string }[]; offerId: string | null }[])[0], { what: 'holdout decision' })
  t.equal(d.offerId, null)
  t.equal(d.considered[0]?.outcome, 'holdout')
  t.same(other.frames.filter((f) => (f as { type: string }).type === 'offer'), [], 'nothing sent')
  const f = await waitFor(async () => {
    const list = (await get('/figures?campaign=yoghurt'))['campaigns'] as { issued: number; redeemed: number; redemptionRate: number; offered: { rate: number }; holdout: { exposures: number; rate: number }; uplift: number }[]
    return list[0]?.holdout.exposures === 1 ? list[0] : undefined
  }, { what: 'figures with a holdout exposure' })
  t.match(f, { issued: 2, redeemed: 2, redemptionRate: 1 })
  t.equal(f.offered.rate, 1)
  t.equal(f.holdout.rate, 0)
  t.equal(f.uplift, 1)
  const text = await scrape(gw.httpUrl)
  t.equal(sample(text, 'aisle_campaign_uplift', { campaign: 'yoghurt' }), 1)
  t.equal(sample(text, 'aisle_campaign_offers', { campaign: 'yoghurt', stage: 'redeemed' }), 2)
  // the holdout member buys yoghurt: converted without a coupon
  await receipt('m-2', [{ sku: 'yog-2', qty: 1, price: 1 }])
  await waitFor(async () => (await query(gw.dbFile, 'SELECT * FROM exposures WHERE member_id = ? AND converted_at IS NOT NULL', ['m-2'])).length === 1, { what: 'holdout conversion' })
})

t.test('stock feed: an out-of-stock SKU is not offered', async (t) => {
  clock.advance(86_400_000)
  await publishJson(dev, topics.stock(gw.prefix, 'erp'), { items: [{ sku: 'yog-1', level: 0 }, { sku: 'yog-2', level: 0 }] })
  await waitFor(async () => ((await get('/stock'))['items'] as { sku: string; level: number }[]).filter((i) => i.level === 0).length === 2, { what: 'stock levels' })
  await dwellAtFridge(MEMBER_KEY)
  const d = await waitFor(async () => {
    const list = (await get('/decisions?member=m-1', TEST_ADMIN))['decisions'] as { ts: string; considered: { outcome: string }[] }[]
    return list.find((x) => Date.parse(x.ts) >= clock.now() - 5000)
  }, { what: 'decision' })
  t.same(d.considered.map((c) => c.outcome), ['out-of-stock'])
  const put = await fetch(`${gw.httpUrl}/v1/admin/stock`, { method: 'PUT', headers: { authorization: `Bearer ${TEST_OPERATOR}`, 'content-type': 'application/json' }, body: JSON.stringify({ items: [{ sku: 'yog-1', level: 40 }] }) })
  t.equal(put.status, 200, 'and the admin API can set levels')
})

t.test('scan and receipt triggers', async (t) => {
  app.frames.length = 0
  await publishJson(dev, topics.scan(gw.prefix, 'hs-1'), { code: 'cheese-1', kind: 'product' })
  await publishJson(dev, topics.scan(gw.prefix, 'hs-1'), { code: 'm-1', kind: 'member' })
  await publishJson(dev, topics.scan(gw.prefix, 'hs-1'), { code: 'cheese-1', kind: 'product' })
  const scanOffer = await waitFor(() => app.frames.find((f) => (f as { offer?: { campaignId: string } }).offer?.campaignId === 'scan-cheese'), { what: 'scan-triggered offer' })
  t.ok(scanOffer, 'a product scanned after the member card')
  await receipt('m-1', [{ sku: 'bread-1', qty: 1, price: 2 }])
  const receiptOffer = await waitFor(() => app.frames.find((f) => (f as { offer?: { campaignId: string } }).offer?.campaignId === 'after-bread'), { what: 'receipt-triggered offer' })
  t.ok(receiptOffer, 'bread bought: the butter coupon')
})
