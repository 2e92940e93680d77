/**
 * The offer decision engine (pure: time from the injected clock, ids and coupon nonces from injected
 * generators, stock and prices from injected views).
 *
 * A trigger (dwell at a zone, entering a zone, a product scan, a receipt) for a member goes through:
 *   1. candidates   every active campaign whose trigger matches; then consent (offers), then eligibility
 *                   (tiers, segments; RFM segments by the configurable rules)
 *   2. ranking      by the recommender, or by rule priority without a model (done by the caller, async)
 *   3. policy, in this order, on the ranked list:
 *      a. quiet hours   no offers in the store's quiet hours (store time zone)
 *      b. member caps   at most caps.perMemberPerDay (store-local day) and perMemberPerWeek (rolling 7 days)
 *                       offers to a member, across campaigns
 *      c. campaign limits, per candidate: limits.perMemberPerDay / perMemberPerWeek, cooldownMinutes since
 *                       this member last got this campaign, budgetCount and budgetValue
 *      d. stock         SKUs out of stock are dropped from the offer; an offer with none left is not made
 *      e. the best remaining candidate is chosen; the others are recorded as lower-score / lower-priority
 *      f. holdout       a member in the holdout group (a fixed share, by hash) is not sent the chosen offer:
 *                       it is recorded as `holdout`, counting towards the same caps, so that offered and
 *                       holdout members are exposed alike and uplift can be measured
 * Every candidate gets an outcome, so a decision says what was chosen and why each other one was not.
 */
import type { Campaign } from '../contract/resources.js'
import type { Clock } from '../core/clock.js'
import type { MemberView } from '../identity/identity.js'
import { DEFAULT_SEGMENT_RULES, rfmSegment, type SegmentRule } from '../recommend/features.js'
import type { CouponCodec } from './coupon.js'
import { localDay } from './time.js'
import { createHash } from 'node:crypto'

export type TriggerEvent =
  | { kind: 'dwell'; zone: string; seconds: number }
  | { kind: 'enter'; zone: string }
  | { kind: 'scan'; sku: string }
  | { kind: 'receipt'; skus: readonly string[] }

export type Outcome =
  | 'chosen' | 'holdout' | 'not-triggered' | 'no-consent' | 'not-eligible' | 'inactive' | 'quiet-hours' | 'member-cap'
  | 'capped' | 'cooldown' | 'budget-spent' | 'out-of-stock' | 'lower-score' | 'lower-priority'

export interface Considered { campaignId: string; outcome: Outcome; score?: number }

export interface IssuedOffer {
  offerId: string
  campaignId: string
  memberId: string
  zone: string
  triggerKind: string
  code: string
  title: string
  body: string
  day: string
  issuedAt: number
  expiresAt: number
  /** SKUs the coupon applies to (in stock when issued); empty = the campaign names none */
  skus: string[]
  /** estimated discount value, for value budgets */
  value: number
}

export interface OfferPolicy {
  timezone: string
  caps: { perMemberPerDay: number; perMemberPerWeek: number }
  /** store-local HH:MM ranges; from > to wraps midnight */
  quietHours: { from: string; to: string }[]
  holdoutPercent: number
  holdoutSalt: string
  segmentRules: SegmentRule[]
}

export interface Decision {
  offer: IssuedOffer | null
  considered: Considered[]
  /** a holdout member: the campaign they would have got */
  holdout: string | null
  /** when the decision was taken (the caps it reserved carry this time) */
  at?: number
}

interface Issue { campaignId: string; at: number; day: string }

const WEEK_MS = 7 * 86_400_000

export class OfferEngine {
  private campaigns = new Map<string, Campaign>()
  private readonly issues = new Map<string, Issue[]>()
  private readonly campaignSpend = new Map<string, { count: number; value: number }>()

  constructor(
    private readonly clock: Clock,
    private readonly policy: OfferPolicy,
    private readonly codec: CouponCodec,
    private readonly newId: () => string,
    private readonly stock: { inStock(sku: string): boolean; price(sku: string): number | undefined },
    campaigns: Campaign[] = [],
  ) {
    for (const c of campaigns) this.campaigns.set(c.id, c)
  }

  setCampaign(c: Campaign): void { this.campaigns.set(c.id, c) }
  removeCampaign(id: string): void { this.campaigns.delete(id) }
  listCampaigns(): Campaign[] { return [...this.campaigns.values()] }
  campaign(id: string): Campaign | undefined { return this.campaigns.get(id) }
  spend(id: string): { count: number; value: number } { return this.campaignSpend.get(id) ?? { count: 0, value: 0 } }

  /** Re-learn issued offers and holdout exposures after a restart (caps, cooldowns, budgets). */
  restore(rows: Iterable<{ memberId: string; campaignId: string; issuedAt: number; value: number; holdout?: boolean }>): void {
    for (const r of rows) this.take(r.memberId, r.campaignId, r.issuedAt, r.value, !r.holdout)
  }

  forgetMember(memberId: string): void { this.issues.delete(memberId) }

  /** Deterministic holdout: the same member is always in or out for a given salt. */
  isHoldout(memberId: string): boolean {
    if (this.policy.holdoutPercent <= 0) return false
    const h = createHash('sha256').update(`${this.policy.holdoutSalt}:${memberId}`).digest().readUInt32BE(0)
    return (h % 10_000) < this.policy.holdoutPercent * 100
  }

  inQuietHours(ts: number): boolean {
    if (this.policy.quietHours.length === 0) return false
    const hm = new Intl.DateTimeFormat('en-GB', { timeZone: this.policy.timezone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ts)
    return this.policy.quietHours.some(({ from, to }) => (from <= to ? hm >= from && hm < to : hm >= from || hm < to))
  }

  /** Stage 1: the campaigns this trigger may lead to for this member, in rule-priority order. */
  candidates(t: TriggerEvent, member: MemberView | undefined): { candidates: Campaign[]; considered: Considered[] } {
    const now = this.clock.now()
    const considered: Considered[] = []
    const candidates: Campaign[] = []
    if (!member) return { candidates, considered }
    const segment = rfmSegment(member.rfm, this.policy.segmentRules)
    for (const c of this.campaigns.values()) {
      if (!matches(c, t)) continue
      if (t.kind === 'dwell' && t.seconds < (c.trigger.seconds ?? 0)) { considered.push({ campaignId: c.id, outcome: 'not-triggered' }); continue }
      if ((c.from && now < Date.parse(c.from)) || (c.to && now > Date.parse(c.to))) { considered.push({ campaignId: c.id, outcome: 'inactive' }); continue }
      if (!member.consentOffers) { considered.push({ campaignId: c.id, outcome: 'no-consent' }); continue }
      const e = c.eligibility
      if ((e?.tiers?.length && !e.tiers.map((x) => x.toLowerCase()).includes((member.tier ?? '').toLowerCase())) || (e?.segments?.length && (segment === undefined || !e.segments.includes(segment)))) {
        considered.push({ campaignId: c.id, outcome: 'not-eligible' })
        continue
      }
      candidates.push(c)
    }
    candidates.sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || a.id.localeCompare(b.id))
    return { candidates, considered }
  }

  /** Stage 3: apply the policy to the ranked candidates and issue the best one left (taking caps and budget). */
  decide(t: TriggerEvent, member: MemberView, ranked: readonly Campaign[], scores: ReadonlyMap<string, number> | null, considered: Considered[]): Decision {
    const now = this.clock.now()
    const score = (id: string) => { const s = scores?.get(id); return s === undefined ? {} : { score: Math.round(s * 1e6) / 1e6 } }
    const all = (outcome: Outcome) => { for (const c of ranked) considered.push({ campaignId: c.id, outcome, ...score(c.id) }); return { offer: null, considered, holdout: null } }
    if (ranked.length === 0) return { offer: null, considered, holdout: null }
    if (this.inQuietHours(now)) return all('quiet-hours')
    const holdout = this.isHoldout(member.memberId)
    let held: string | null = null
    const day = localDay(now, this.policy.timezone)
    const mine = this.recent(member.memberId, now)
    if (mine.filter((i) => i.day === day).length >= this.policy.caps.perMemberPerDay || mine.length >= this.policy.caps.perMemberPerWeek) return all('member-cap')
    let offer: IssuedOffer | null = null
    for (const c of ranked) {
      if (offer || held) { considered.push({ campaignId: c.id, outcome: scores ? 'lower-score' : 'lower-priority', ...score(c.id) }); continue }
      const blocked = this.blocked(c, member.memberId, now)
      if (blocked) { considered.push({ campaignId: c.id, outcome: blocked, ...score(c.id) }); continue }
      const skus = (c.offer.skus ?? []).filter((s) => this.stock.inStock(s))
      if ((c.offer.skus?.length ?? 0) > 0 && skus.length === 0) { considered.push({ campaignId: c.id, outcome: 'out-of-stock', ...score(c.id) }); continue }
      const value = this.estimateValue(c, skus)
      if (c.limits?.budgetValue !== undefined && this.spend(c.id).value + value > c.limits.budgetValue) { considered.push({ campaignId: c.id, outcome: 'budget-spent', ...score(c.id) }); continue }
      if (holdout) {
        // the offer this member would have got: recorded, never sent, and counted towards the same caps
        held = c.id
        this.take(member.memberId, c.id, now, 0, false)
        considered.push({ campaignId: c.id, outcome: 'holdout', ...score(c.id) })
        continue
      }
      const expiresAt = now + c.validMinutes * 60_000
      offer = {
        offerId: this.newId(), campaignId: c.id, memberId: member.memberId, zone: 'zone' in t ? t.zone : '', triggerKind: t.kind,
        code: this.codec.issue(c.id, member.memberId, expiresAt), title: c.title, body: c.body ?? '', day, issuedAt: now, expiresAt, skus, value,
      }
      this.take(member.memberId, c.id, now, value)
      considered.push({ campaignId: c.id, outcome: 'chosen', ...score(c.id) })
    }
    return { offer, considered, holdout: held, at: now }
  }

  /**
   * Undo what a decision reserved (the member's caps, the campaign's budget), when its write failed: the policy
   * reserves at once so that concurrent decisions cannot overspend, and gives back what was never recorded.
   */
  release(d: Decision, memberId: string): void {
    const o = d.offer
    if (o) {
      this.unTake(o.memberId, o.campaignId, o.issuedAt)
      const s = this.campaignSpend.get(o.campaignId)
      if (s) { s.count--; s.value -= o.value }
    }
    if (d.holdout && d.at !== undefined) this.unTake(memberId, d.holdout, d.at)
  }

  private unTake(memberId: string, campaignId: string, at: number): void {
    const list = this.issues.get(memberId)
    const i = list?.findIndex((x) => x.campaignId === campaignId && x.at === at) ?? -1
    if (list && i >= 0) list.splice(i, 1)
  }

  private take(memberId: string, campaignId: string, at: number, value: number, spends = true): void {
    const list = this.issues.get(memberId) ?? []
    list.push({ campaignId, at, day: localDay(at, this.policy.timezone) })
    this.issues.set(memberId, list)
    if (!spends) return
    const s = this.campaignSpend.get(campaignId) ?? { count: 0, value: 0 }
    s.count++
    s.value += value
    this.campaignSpend.set(campaignId, s)
  }

  /** This member's issues of the last 7 days (older ones are dropped). */
  private recent(memberId: string, now: number): Issue[] {
    const list = this.issues.get(memberId)
    if (!list) return []
    const fresh = list.filter((i) => now - i.at < WEEK_MS)
    if (fresh.length !== list.length) this.issues.set(memberId, fresh)
    return fresh
  }

  /** Why a campaign may not go to this member now (its own limits), or null. */
  private blocked(c: Campaign, memberId: string, now: number): Outcome | null {
    const l = c.limits
    const mine = this.recent(memberId, now).filter((i) => i.campaignId === c.id)
    const day = localDay(now, this.policy.timezone)
    if (mine.filter((i) => i.day === day).length >= (l?.perMemberPerDay ?? 1)) return 'capped'
    if (l?.perMemberPerWeek !== undefined && mine.length >= l.perMemberPerWeek) return 'capped'
    const last = mine[mine.length - 1]
    if (l?.cooldownMinutes !== undefined && last && now - last.at < l.cooldownMinutes * 60_000) return 'cooldown'
    if (l?.budgetCount !== undefined && this.spend(c.id).count >= l.budgetCount) return 'budget-spent'
    return null
  }

  /** Discount value of an offer: the amount, or the percentage of the dearest SKU's price (when known). */
  private estimateValue(c: Campaign, skus: readonly string[]): number {
    const d = c.offer.discount
    if (d.kind === 'amount') return d.value ?? 0
    const price = Math.max(0, ...skus.map((s) => this.stock.price(s) ?? 0))
    if (d.kind === 'percent') return Math.round(price * (d.value ?? 0)) / 100
    return price
  }
}

function matches(c: Campaign, t: TriggerEvent): boolean {
  const tr = c.trigger
  if (tr.kind !== t.kind) return false
  switch (t.kind) {
    case 'dwell': case 'enter': return tr.zone === t.zone
    case 'scan': return tr.sku === undefined || tr.sku === t.sku
    case 'receipt': return tr.sku === undefined || t.skus.includes(tr.sku)
  }
}

export { DEFAULT_SEGMENT_RULES }
