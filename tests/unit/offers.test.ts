/** First offer step and the coupon codec. */
import t from 'tap'
import { ManualClock } from '../../edge/core/clock.js'
import { CouponCodec, decodeBase32, encodeBase32 } from '../../edge/offers/coupon.js'
import { FirstOfferStep } from '../../edge/offers/first-step.js'
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

const dwellAt = (zone: string, seconds: number, ts: number) => ({ subject: 'pm:1', zone, state: 'dwell' as const, seconds, ts, since: ts - seconds * 1000 })
const member = { memberId: 'm-1', consentOffers: true, consentLocation: true }
const campaigns: Campaign[] = [
  { id: 'a', title: 'A', trigger: { kind: 'dwell', zone: 'fridge', seconds: 10 }, offer: { discount: { kind: 'percent', value: 10 } }, validMinutes: 30, priority: 1 },
  { id: 'b', title: 'B', trigger: { kind: 'dwell', zone: 'fridge', seconds: 10 }, offer: { discount: { kind: 'percent', value: 10 } }, validMinutes: 30, priority: 5 },
  { id: 'late', title: 'L', trigger: { kind: 'dwell', zone: 'fridge', seconds: 60 }, offer: { discount: { kind: 'bogo' } }, validMinutes: 30 },
]

t.test('first offer step', async (t) => {
  // 23:30 in Berlin on 23 Nov 2026 (UTC+1)
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 22, 30))
  let n = 0
  const step = new FirstOfferStep(clock, 'Europe/Berlin', codec, () => `o-${++n}`, campaigns)
  t.equal(step.decide(dwellAt('fridge', 12, clock.now()), undefined).offer, null, 'no member, no offer')
  t.equal(step.decide(dwellAt('fridge', 12, clock.now()), { ...member, consentOffers: false }).offer, null, 'no consent, no offer')
  t.equal(step.decide({ ...dwellAt('fridge', 12, clock.now()), state: 'enter' }, member).offer, null, 'enter does not trigger a dwell campaign')
  const d = step.decide(dwellAt('fridge', 12, clock.now()), member)
  t.equal(d.offer?.campaignId, 'b', 'highest priority wins')
  t.same(d.considered.map((c) => `${c.campaignId}:${c.outcome}`).sort(), ['a:lower-priority', 'b:chosen', 'late:not-triggered'])
  t.equal(d.offer?.day, '2026-11-23', 'store-local day')
  t.equal(d.offer!.expiresAt - d.offer!.issuedAt, 30 * 60_000)
  t.match(codec.verify(d.offer!.code, clock.now(), { campaignId: 'b', memberId: 'm-1' }), { ok: true })
  t.equal(step.decide(dwellAt('fridge', 12, clock.now()), member).offer?.campaignId, 'a', 'b is capped for today, a is next')
  t.equal(step.decide(dwellAt('fridge', 12, clock.now()), member).offer, null, 'both capped')
  clock.advance(45 * 60_000) // 00:15 Berlin: a new day although UTC is still the 23rd
  t.equal(step.decide(dwellAt('fridge', 12, clock.now()), member).offer?.campaignId, 'b', 'cap resets at local midnight')
})

t.test('release and restore', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0))
  const step = new FirstOfferStep(clock, 'UTC', codec, () => 'o', [campaigns[1]!])
  const o = step.decide(dwellAt('fridge', 12, clock.now()), member).offer!
  step.release(o)
  t.ok(step.decide(dwellAt('fridge', 12, clock.now()), member).offer, 'a failed write gives the cap back')
  const fresh = new FirstOfferStep(clock, 'UTC', codec, () => 'o', [campaigns[1]!])
  fresh.restore([{ memberId: 'm-1', campaignId: 'b', day: '2026-11-23' }])
  t.equal(fresh.decide(dwellAt('fridge', 12, clock.now()), member).offer, null, 'restored history keeps the cap')
  const window = new FirstOfferStep(clock, 'UTC', codec, () => 'o', [{ ...campaigns[1]!, from: '2026-12-01T00:00:00Z' }])
  t.equal(window.decide(dwellAt('fridge', 12, clock.now()), member).considered[0]?.outcome, 'inactive')
})
