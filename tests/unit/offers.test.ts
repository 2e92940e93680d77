/** The offer decision engine and the coupon codec. */
import t from 'tap'
import { ManualClock } from '../../edge/core/clock.js'
import { CouponCodec, decodeBase32, encodeBase32 } from '../../edge/offers/coupon.js'
import type { Campaign } from '../../edge/contract/resources.js'

const KEY = Buffer.alloc(32, 9)
const codec = new CouponCodec({ id: 1, key: KEY }, [], (n) => Buffer.alloc(n, 0xab))

t.test('coupon codes', async (t) => {
  const exp = Date.UTC(2026, 10, 23, 13, 0)
  const code = codec.issue('dairy-10s', 'm-1', exp)
  t.match(code, /^[0-9A-Z]{44}$/, 'short, QR alphanumeric')
  t.match(codec.verify(code, exp - 60_000), { ok: true })
  t.match(codec.verify(code.toLowerCase(), exp - 60_000), { ok: true }, 'case-insensitive')
  t.match(codec.verify(code, exp - 60_000, { campaignId: 'dairy-10s', memberId: 'm-1' }), { ok: true })
  t.same(codec.verify(code, exp + 60_000), { ok: false, reason: 'expired' })
  t.same(codec.verify(code, exp - 60_000, { campaignId: 'other' }), { ok: false, reason: 'wrong-campaign' })
  t.same(codec.verify(code, exp - 60_000, { memberId: 'm-2' }), { ok: false, reason: 'wrong-member' })
  const chars = code.split('')
  chars[20] = chars[20] === 'A' ? 'B' : 'A'
  t.same(codec.verify(chars.join(''), exp - 60_000), { ok: false, reason: 'bad-mac' }, 'altered')
  const foreign = new CouponCodec({ id: 1, key: Buffer.alloc(32, 1) }).issue('dairy-10s', 'm-1', exp)
  t.same(codec.verify(foreign, exp - 60_000), { ok: false, reason: 'bad-mac' }, 'signed with another key')
  t.same(codec.verify(new CouponCodec({ id: 7, key: KEY }).issue('x', 'y', exp), exp - 1), { ok: false, reason: 'unknown-key' })
  t.same(codec.verify('HELLO', exp), { ok: false, reason: 'malformed' })
  t.same(codec.verify('!!!', exp), { ok: false, reason: 'malformed' })
  const rotated = new CouponCodec({ id: 2, key: Buffer.alloc(32, 3) }, [{ id: 1, key: KEY }])
  t.match(rotated.verify(code, exp - 1), { ok: true }, 'codes signed with a previous key still verify after rotation')
  const buf = Buffer.from([0, 1, 2, 250, 255, 17])
  t.same(decodeBase32(encodeBase32(buf)), buf)
})

import { OfferEngine, type OfferPolicy, type TriggerEvent } from '../../edge/offers/engine.js'
import { StockBook } from '../../edge/offers/stock.js'
import { MemberStats } from '../../edge/offers/member-stats.js'
import { DEFAULT_SEGMENT_RULES } from '../../edge/recommend/features.js'
import type { MemberView } from '../../edge/identity/identity.js'

const member = (id = 'm-1', extra: Partial<MemberView> = {}): MemberView => ({ memberId: id, consentOffers: true, consentLocation: true, tier: 'gold', rfm: { recencyDays: 3, frequency: 8, monetary: 120 }, ...extra })
const dwell = (zone = 'fridge', seconds = 12): TriggerEvent => ({ kind: 'dwell', zone, seconds })
const camp = (id: string, extra: Partial<Campaign> = {}): Campaign => ({ id, title: id, trigger: { kind: 'dwell', zone: 'fridge', seconds: 10 }, offer: { discount: { kind: 'amount', value: 2 } }, validMinutes: 30, ...extra })
const policy = (p: Partial<OfferPolicy> = {}): OfferPolicy => ({ timezone: 'Europe/Berlin', caps: { perMemberPerDay: 3, perMemberPerWeek: 10 }, quietHours: [], holdoutPercent: 0, holdoutSalt: 's', segmentRules: DEFAULT_SEGMENT_RULES, ...p })

function setup(campaigns: Campaign[], p: Partial<OfferPolicy> = {}, start = Date.UTC(2026, 10, 23, 10, 0)) {
  const clock = new ManualClock(start)
  let n = 0
  const stock = new StockBook()
  const engine = new OfferEngine(clock, policy(p), codec, () => `o-${++n}`, stock, campaigns)
  const run = (t: TriggerEvent, m: MemberView = member()) => {
    const { candidates, considered } = engine.candidates(t, m)
    return engine.decide(t, m, candidates, null, considered)
  }
  return { clock, engine, stock, run }
}
const outcome = (d: { considered: { campaignId: string; outcome: string }[] }) => Object.fromEntries(d.considered.map((c) => [c.campaignId, c.outcome]))

t.test('triggers, consent and eligibility', async (t) => {
  const { run } = setup([
    camp('dwell-10'), camp('dwell-60', { trigger: { kind: 'dwell', zone: 'fridge', seconds: 60 } }),
    camp('enter', { trigger: { kind: 'enter', zone: 'fridge' } }),
    camp('scan', { trigger: { kind: 'scan', sku: 'sku-1' } }),
    camp('receipt', { trigger: { kind: 'receipt', sku: 'sku-9' } }),
    camp('silver-only', { eligibility: { tiers: ['silver'] }, priority: 9 }),
    camp('dormant-only', { eligibility: { segments: ['dormant'] }, priority: 9 }),
  ])
  const d = run(dwell())
  t.same(outcome(d), { 'dwell-10': 'chosen', 'dwell-60': 'not-triggered', 'silver-only': 'not-eligible', 'dormant-only': 'not-eligible' })
  t.equal(d.offer?.triggerKind, 'dwell')
  t.same(outcome(run({ kind: 'enter', zone: 'fridge' }, member('e'))), { enter: 'chosen' })
  t.same(outcome(run({ kind: 'scan', sku: 'sku-1' }, member('s'))), { scan: 'chosen' })
  t.same(outcome(run({ kind: 'scan', sku: 'sku-2' }, member('s'))), {}, 'another sku triggers nothing')
  t.same(outcome(run({ kind: 'receipt', skus: ['sku-3', 'sku-9'] }, member('r'))), { receipt: 'chosen' })
  t.same(outcome(run(dwell(), member('m-2', { consentOffers: false }))), { 'dwell-10': 'no-consent', 'dwell-60': 'not-triggered', 'silver-only': 'no-consent', 'dormant-only': 'no-consent' })
  t.same(outcome(run(dwell(), member('m-3', { rfm: { recencyDays: 60, frequency: 1, monetary: 5 } }))), { 'dwell-10': 'lower-priority', 'dwell-60': 'not-triggered', 'silver-only': 'not-eligible', 'dormant-only': 'chosen' }, 'a dormant member is eligible for the dormant campaign, which has priority')
})

t.test('quiet hours in the store time zone, also across midnight', async (t) => {
  const { run, clock } = setup([camp('a')], { quietHours: [{ from: '21:30', to: '07:00' }] }, Date.UTC(2026, 10, 23, 20, 45)) // 21:45 Berlin
  t.same(outcome(run(dwell())), { a: 'quiet-hours' })
  clock.set(Date.UTC(2026, 10, 24, 5, 59)) // 06:59
  t.same(outcome(run(dwell())), { a: 'quiet-hours' })
  clock.set(Date.UTC(2026, 10, 24, 6, 0)) // 07:00
  t.same(outcome(run(dwell())), { a: 'chosen' })
})

t.test('member caps across campaigns, campaign caps, cooldown', async (t) => {
  const { run, clock } = setup([camp('a', { limits: { perMemberPerDay: 5, cooldownMinutes: 60 } }), camp('b'), camp('c')], { caps: { perMemberPerDay: 2, perMemberPerWeek: 3 } })
  t.equal(run(dwell()).offer?.campaignId, 'a')
  t.same(outcome(run(dwell())), { a: 'cooldown', b: 'chosen', c: 'lower-priority' })
  t.same(outcome(run(dwell())), { a: 'member-cap', b: 'member-cap', c: 'member-cap' }, 'two a day across campaigns')
  clock.advance(24 * 3_600_000)
  t.same(outcome(run(dwell())), { a: 'chosen', b: 'lower-priority', c: 'lower-priority' }, 'a new day, cooldown over')
  t.same(outcome(run(dwell())), { a: 'member-cap', b: 'member-cap', c: 'member-cap' }, 'three a week')
  clock.advance(7 * 24 * 3_600_000)
  t.equal(run(dwell()).offer?.campaignId, 'a', 'a rolling week')
  t.same(outcome(run(dwell(), member('m-9'))), { a: 'chosen', b: 'lower-priority', c: 'lower-priority' }, 'caps are per member')
})

t.test('budgets by count and by value', async (t) => {
  const { run, stock } = setup([camp('two', { limits: { budgetCount: 2 }, priority: 2 }), camp('value', { offer: { skus: ['s1'], discount: { kind: 'percent', value: 50 } }, limits: { budgetValue: 5 } })])
  stock.sold([{ sku: 's1', qty: 1, price: 4 }], 0)
  t.equal(run(dwell(), member('a')).offer?.campaignId, 'two')
  t.equal(run(dwell(), member('b')).offer?.campaignId, 'two')
  const d = run(dwell(), member('c'))
  t.same(outcome(d), { two: 'budget-spent', value: 'chosen' })
  t.equal(d.offer!.value, 2, '50% of the 4.00 SKU')
  t.equal(run(dwell(), member('d')).offer?.campaignId, 'value', '4.00 of 5.00 spent')
  t.same(outcome(run(dwell(), member('e'))), { two: 'budget-spent', value: 'budget-spent' })
})

t.test('stock: out-of-stock SKUs are never offered', async (t) => {
  const { run, stock } = setup([camp('yog', { offer: { skus: ['y1', 'y2'], discount: { kind: 'bogo' } }, priority: 5 }), camp('any')])
  stock.set([{ sku: 'y1', level: 0 }], 0)
  const d = run(dwell(), member('a'))
  t.same(d.offer?.skus, ['y2'], 'the coupon covers only what is in stock')
  stock.sold([{ sku: 'y2', qty: 3, price: 1 }], 0)
  t.ok(stock.inStock('y2'), 'unknown level: assumed in stock')
  stock.set([{ sku: 'y2', level: 2 }], 0)
  stock.sold([{ sku: 'y2', qty: 2, price: 1 }], 0)
  t.notOk(stock.inStock('y2'), 'sold out by receipts')
  t.same(outcome(run(dwell(), member('b'))), { yog: 'out-of-stock', any: 'chosen' })
})

t.test('holdout: a fixed share, recorded, never sent, counted like an offer', async (t) => {
  const { engine, run } = setup([camp('a'), camp('b')], { holdoutPercent: 10 })
  const ids = Array.from({ length: 4000 }, (_, i) => `m-${i}`)
  const share = ids.filter((id) => engine.isHoldout(id)).length / ids.length
  t.ok(share > 0.08 && share < 0.12, `about 10% (${share})`)
  const h = ids.find((id) => engine.isHoldout(id))!
  t.equal(engine.isHoldout(h), true, 'deterministic')
  const d = run(dwell(), member(h))
  t.equal(d.offer, null)
  t.equal(d.holdout, 'a')
  t.same(outcome(d), { a: 'holdout', b: 'lower-priority' })
  t.same(outcome(run(dwell(), member(h))), { a: 'capped', b: 'holdout' }, 'the same caps as an offered member')
  // a holdout decision whose write failed gives its caps back
  const again = setup([camp('a')], { holdoutPercent: 10 })
  const hd = again.run(dwell(), member(h))
  t.equal(hd.holdout, 'a')
  again.engine.release(hd, h)
  t.equal(again.run(dwell(), member(h)).holdout, 'a', 'not capped by a decision that was never stored')
})

t.test('ranked by scores; release gives caps and budget back; restore', async (t) => {
  const { engine, run } = setup([camp('a', { priority: 9 }), camp('b', { limits: { budgetCount: 1 } })])
  const m = member()
  const { candidates, considered } = engine.candidates(dwell(), m)
  const d = engine.decide(dwell(), m, [...candidates].reverse(), new Map([['a', 0.1], ['b', 0.7]]), considered)
  t.same(d.considered, [{ campaignId: 'b', outcome: 'chosen', score: 0.7 }, { campaignId: 'a', outcome: 'lower-score', score: 0.1 }])
  engine.release(d, m.memberId)
  t.same(engine.spend('b'), { count: 0, value: 0 })
  t.equal(run(dwell(), member('x')).offer?.campaignId, 'a')
  const fresh = setup([camp('a')]).engine
  fresh.restore([{ memberId: 'm-1', campaignId: 'a', issuedAt: Date.UTC(2026, 10, 23, 9, 0), value: 2 }])
  const r = fresh.candidates(dwell(), member())
  t.same(fresh.decide(dwell(), member(), r.candidates, null, r.considered).considered, [{ campaignId: 'a', outcome: 'capped' }], 'restored issues keep the caps')
})

t.test('RFM at the edge', async (t) => {
  const s = new MemberStats()
  const now = Date.UTC(2026, 10, 23)
  t.same(s.rfm('m', { recencyDays: 40, frequency: 2, monetary: 30 }, now), { recencyDays: 40, frequency: 2, monetary: 30 }, 'no receipts: the CRM figures')
  s.add('m', now - 2 * 86_400_000, 25)
  s.add('m', now - 86_400_000, 30)
  t.same(s.rfm('m', { recencyDays: 40, frequency: 1, monetary: 30 }, now), { recencyDays: 1, frequency: 2, monetary: 55 })
})
