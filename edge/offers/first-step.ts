/**
 * The first offer step: a campaign "dwell >= N s at zone Z" for a member who consented to offers, at most
 * `limits.perMemberPerDay` (default 1) a day per campaign. Split in two so a recommender can rank between:
 * `eligible` lists the campaigns that may be offered now, `issue` creates the offer and takes its cap.
 * Pure: time from the injected clock, ids and coupon nonces from injected generators. Issue #5 replaces it
 * with the full decision engine behind the same shape.
 */
import type { Campaign } from '../contract/resources.js'
import type { MemberView } from '../identity/identity.js'
import type { Clock } from '../core/clock.js'
import type { ZoneEvent } from '../presence/types.js'
import type { CouponCodec } from './coupon.js'
import { localDay } from './time.js'

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
}

export type Skip = 'no-consent' | 'not-triggered' | 'inactive' | 'daily-cap' | 'lower-priority' | 'lower-score'
export interface Considered { campaignId: string; outcome: 'chosen' | Skip; score?: number }

export class FirstOfferStep {
  private campaigns = new Map<string, Campaign>()
  /** member|campaign|day -> count */
  private issuedToday = new Map<string, number>()

  constructor(
    private readonly clock: Clock,
    private readonly timezone: string,
    private readonly codec: CouponCodec,
    private readonly newId: () => string,
    campaigns: Campaign[] = [],
  ) {
    for (const c of campaigns) this.campaigns.set(c.id, c)
  }

  setCampaign(c: Campaign): void { this.campaigns.set(c.id, c) }
  removeCampaign(id: string): void { this.campaigns.delete(id) }
  listCampaigns(): Campaign[] { return [...this.campaigns.values()] }

  /** Re-learn today's issues after a restart. */
  restore(rows: Iterable<{ memberId: string; campaignId: string; day: string }>): void {
    for (const r of rows) {
      const k = `${r.memberId}|${r.campaignId}|${r.day}`
      this.issuedToday.set(k, (this.issuedToday.get(k) ?? 0) + 1)
    }
  }

  /** Undo the cap reservation of an offer whose write failed. */
  release(o: IssuedOffer): void {
    const k = `${o.memberId}|${o.campaignId}|${o.day}`
    const n = (this.issuedToday.get(k) ?? 1) - 1
    if (n <= 0) this.issuedToday.delete(k)
    else this.issuedToday.set(k, n)
  }

  forgetMember(memberId: string): void {
    for (const k of this.issuedToday.keys()) if (k.startsWith(`${memberId}|`)) this.issuedToday.delete(k)
  }

  private capped(c: Campaign, memberId: string, day: string): boolean {
    return (this.issuedToday.get(`${memberId}|${c.id}|${day}`) ?? 0) >= (c.limits?.perMemberPerDay ?? 1)
  }

  /** Campaigns this zone event may trigger for this member now, and why the others may not. */
  eligible(e: ZoneEvent, member: MemberView | undefined): { candidates: Campaign[]; considered: Considered[] } {
    const now = this.clock.now()
    const considered: Considered[] = []
    const candidates: Campaign[] = []
    if (e.state !== 'dwell' || !member) return { candidates, considered }
    const day = localDay(now, this.timezone)
    for (const c of this.campaigns.values()) {
      if (c.trigger.kind !== 'dwell' || c.trigger.zone !== e.zone) continue
      if (e.seconds < (c.trigger.seconds ?? 0)) { considered.push({ campaignId: c.id, outcome: 'not-triggered' }); continue }
      if (!member.consentOffers) { considered.push({ campaignId: c.id, outcome: 'no-consent' }); continue }
      if ((c.from && now < Date.parse(c.from)) || (c.to && now > Date.parse(c.to))) { considered.push({ campaignId: c.id, outcome: 'inactive' }); continue }
      if (this.capped(c, member.memberId, day)) { considered.push({ campaignId: c.id, outcome: 'daily-cap' }); continue }
      candidates.push(c)
    }
    // rule priority, the order without a model
    candidates.sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || a.id.localeCompare(b.id))
    return { candidates, considered }
  }

  /** Create the offer for a chosen campaign and take its cap; null if the cap was taken meanwhile. */
  issue(c: Campaign, e: ZoneEvent, member: MemberView): IssuedOffer | null {
    const now = this.clock.now()
    const day = localDay(now, this.timezone)
    if (this.capped(c, member.memberId, day)) return null
    const expiresAt = now + c.validMinutes * 60_000
    const offer: IssuedOffer = {
      offerId: this.newId(),
      campaignId: c.id,
      memberId: member.memberId,
      zone: e.zone,
      triggerKind: c.trigger.kind,
      code: this.codec.issue(c.id, member.memberId, expiresAt),
      title: c.title,
      body: c.body ?? '',
      day,
      issuedAt: now,
      expiresAt,
    }
    const k = `${member.memberId}|${c.id}|${day}`
    this.issuedToday.set(k, (this.issuedToday.get(k) ?? 0) + 1)
    return offer
  }

  /** The rule-priority decision in one step (no recommender): the first eligible campaign. */
  decide(e: ZoneEvent, member: MemberView | undefined): { offer: IssuedOffer | null; considered: Considered[] } {
    const { candidates, considered } = this.eligible(e, member)
    if (candidates.length === 0 || !member) return { offer: null, considered }
    const offer = this.issue(candidates[0]!, e, member)
    candidates.forEach((c, i) => considered.push({ campaignId: c.id, outcome: i === 0 && offer ? 'chosen' : 'lower-priority' }))
    return { offer, considered }
  }
}
