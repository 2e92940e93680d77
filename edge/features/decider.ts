/**
 * Offer decisions: a trigger for a member (dwell, zone entry, product scan, receipt) -> the engine's
 * candidates -> ranked by the recommender (rule priority without a model) -> the engine's policy -> the
 * offer issued. The decision with every candidate's outcome and score, the exposure (for uplift), the offer
 * and its outbox row are written in one transaction. Decisions of one member run one at a time.
 */
import type { Campaign } from '../contract/resources.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { Identity, MemberView } from '../identity/identity.js'
import type { Considered, Decision, IssuedOffer, OfferEngine, TriggerEvent } from '../offers/engine.js'
import type { MemberStats } from '../offers/member-stats.js'
import { contextFeaturesOf, memberFeaturesOf, offerFeaturesOf } from '../recommend/inputs.js'
import type { Ranker, Ranking } from '../recommend/ranker.js'
import { offerIssuedOps } from '../storage/repos.js'
import type { Store } from '../storage/store.js'
import type { WriteOp } from '../storage/writer.js'

export interface DeciderDeps {
  store: Store
  storeId: string
  clock: Clock
  log: Logger
  identity: Identity
  engine: OfferEngine
  stats: MemberStats
  ranker: Ranker | null
  timeZone: string
  zoneKind: (zone: string) => string | undefined
  onIssued: (offer: IssuedOffer) => void
  onDecision?: (d: Decision, ranking: Ranking | null) => void
}

const POPULARITY_MIN_ISSUED = 10
const PRIOR = 0.05
const PRIOR_WEIGHT = 20

export function decisionOp(d: { ts: number; memberId: string; trigger: TriggerEvent; decision: Decision; ranking: Ranking | null }): WriteOp {
  const t = d.trigger
  return {
    op: 'insert', table: 'decisions',
    columns: ['ts', 'member_id', 'zone', 'trigger_kind', 'offer_id', 'campaign_id', 'model_version', 'fallback', 'considered', 'holdout'],
    row: [
      d.ts, d.memberId, 'zone' in t ? t.zone : null, t.kind, d.decision.offer?.offerId ?? null, d.decision.offer?.campaignId ?? d.decision.holdout ?? null,
      d.ranking?.scores ? d.ranking.modelVersion : null, d.ranking?.fallback ?? (d.ranking ? null : 'no-ranker'), JSON.stringify(d.decision.considered), d.decision.holdout ? 1 : 0,
    ],
  }
}

export function exposureOp(e: { memberId: string; campaignId: string; offerId: string | null; holdout: boolean; ts: number; until: number }): WriteOp {
  return { op: 'insert', table: 'exposures', columns: ['member_id', 'campaign_id', 'offer_id', 'holdout', 'ts', 'until'], row: [e.memberId, e.campaignId, e.offerId, e.holdout ? 1 : 0, e.ts, e.until] }
}

export class OfferDecider {
  /** offers shown to / redeemed by each member at this gateway */
  private readonly history = new Map<string, { shown: number; redeemed: number }>()
  /** issued / redeemed per campaign, for its popularity */
  private readonly campaignStats = new Map<string, { issued: number; redeemed: number }>()
  private readonly locks = new Map<string, Promise<void>>()
  /** an exposure was recorded: the redemption service tracks its conversion */
  onExposure: (e: { memberId: string; campaignId: string; offerId: string | null; holdout: boolean; until: number }) => void = () => {}

  constructor(private readonly d: DeciderDeps) {}

  async init(): Promise<void> {
    const rows = await this.d.store.all<{ member_id: string; campaign_id: string; redeemed: number }>("SELECT member_id, campaign_id, CASE WHEN status = 'redeemed' THEN 1 ELSE 0 END AS redeemed FROM offers")
    for (const r of rows) this.count(r.member_id, r.campaign_id, r.redeemed === 1)
  }

  private count(memberId: string, campaignId: string, redeemed: boolean): void {
    const h = this.history.get(memberId) ?? { shown: 0, redeemed: 0 }
    h.shown++
    if (redeemed) h.redeemed++
    this.history.set(memberId, h)
    const c = this.campaignStats.get(campaignId) ?? { issued: 0, redeemed: 0 }
    c.issued++
    if (redeemed) c.redeemed++
    this.campaignStats.set(campaignId, c)
  }

  /** A redemption was recorded. */
  redeemed(memberId: string, campaignId: string): void {
    const h = this.history.get(memberId)
    if (h) h.redeemed++
    const c = this.campaignStats.get(campaignId)
    if (c) c.redeemed++
  }

  forgetMember(memberId: string): void {
    this.history.delete(memberId)
  }

  /** resolves once the member's decisions in flight have finished */
  idle(memberId: string): Promise<void> { return this.locks.get(memberId) ?? Promise.resolve() }

  popularity(campaignId: string): number | undefined {
    const c = this.campaignStats.get(campaignId)
    if (!c || c.issued < POPULARITY_MIN_ISSUED) return undefined
    return (c.redeemed + PRIOR * PRIOR_WEIGHT) / (c.issued + PRIOR_WEIGHT)
  }

  /** Decide for one trigger; decisions of the same member are serialised. */
  decide(t: TriggerEvent, memberId: string): Promise<void> {
    const prev = this.locks.get(memberId) ?? Promise.resolve()
    const next = prev.then(() => this.decideNow(t, memberId)).catch((err) => this.d.log.error({ err }, 'offer decision failed'))
    this.locks.set(memberId, next)
    void next.finally(() => { if (this.locks.get(memberId) === next) this.locks.delete(memberId) })
    return next
  }

  /** The member as the engine sees it now: the CRM's figures brought up to date with this store's receipts. */
  private view(memberId: string): MemberView | undefined {
    const m = this.d.identity.member(memberId)
    return m ? { ...m, rfm: this.d.stats.rfm(memberId, m.rfm, this.d.clock.now()) } : undefined
  }

  private async decideNow(t: TriggerEvent, memberId: string): Promise<void> {
    // at the outbox budget no new offer is made (its record could not be kept for the CRM); counted by CRM sync
    const gate = this.d.store.outboxGate
    if (gate && !gate('crm', 'Offer Issued', true)) return
    const member = this.view(memberId)
    const { candidates, considered } = this.d.engine.candidates(t, member)
    if (!member || (candidates.length === 0 && considered.length === 0)) return
    let ranking: Ranking | null = null
    let order: Campaign[] = candidates
    let scores: Map<string, number> | null = null
    if (candidates.length > 0 && this.d.ranker) {
      const now = this.d.clock.now()
      ranking = await this.d.ranker.rank(
        memberFeaturesOf(member, this.history.get(memberId)),
        candidates.map((c) => offerFeaturesOf(c, { popularity: this.popularity(c.id) })),
        contextFeaturesOf({ zoneKind: 'zone' in t ? this.d.zoneKind(t.zone) : undefined, dwellSeconds: t.kind === 'dwell' ? t.seconds : undefined, ts: now, timeZone: this.d.timeZone }),
      )
      if (ranking.scores) {
        const s = ranking.scores
        scores = new Map(candidates.map((c, i) => [c.id, s[i]!]))
        order = [...candidates].sort((a, b) => scores!.get(b.id)! - scores!.get(a.id)! || (b.priority ?? 0) - (a.priority ?? 0))
      }
    }
    // the policy runs synchronously after ranking, so nothing else can take this member's caps meanwhile
    const decision = this.d.engine.decide(t, member, order, scores, considered as Considered[])
    this.d.onDecision?.(decision, ranking)
    const now = this.d.clock.now()
    const ops: WriteOp[] = [decisionOp({ ts: now, memberId, trigger: t, decision, ranking })]
    const offer = decision.offer
    if (offer) ops.unshift(...offerIssuedOps(offer, this.d.storeId, this.d.store.vault), exposureOp({ memberId, campaignId: offer.campaignId, offerId: offer.offerId, holdout: false, ts: now, until: offer.expiresAt }))
    if (decision.holdout) {
      const c = this.d.engine.campaign(decision.holdout)
      ops.push(exposureOp({ memberId, campaignId: decision.holdout, offerId: null, holdout: true, ts: now, until: now + (c?.validMinutes ?? 30) * 60_000 }))
    }
    try {
      await this.d.store.write(ops)
    } catch (err) {
      this.d.engine.release(decision, memberId)
      this.d.log.error({ err, campaign: offer?.campaignId }, 'decision not stored; no offer issued')
      return
    }
    if (decision.holdout) this.onExposure({ memberId, campaignId: decision.holdout, offerId: null, holdout: true, until: now + (this.d.engine.campaign(decision.holdout)?.validMinutes ?? 30) * 60_000 })
    if (!offer) return
    this.onExposure({ memberId, campaignId: offer.campaignId, offerId: offer.offerId, holdout: false, until: offer.expiresAt })
    this.count(memberId, offer.campaignId, false)
    this.d.onIssued(offer)
  }
}
