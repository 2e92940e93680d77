/**
 * Offer decisions: a dwell event of a member -> the eligible campaigns -> ranked by the recommender (or by
 * rule priority when there is no model) -> the offer issued, with the decision and its reasons recorded in
 * the same transaction as the offer and its outbox row. Decisions of one member run one at a time.
 */
import type { Campaign } from '../contract/resources.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { Identity } from '../identity/identity.js'
import type { Considered, FirstOfferStep, IssuedOffer } from '../offers/first-step.js'
import type { ZoneEvent } from '../presence/types.js'
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
  offers: FirstOfferStep
  ranker: Ranker | null
  timeZone: string
  zoneKind: (zone: string) => string | undefined
  onIssued: (offer: IssuedOffer) => void
  onDecision?: (considered: Considered[], ranking: Ranking | null) => void
}

const POPULARITY_MIN_ISSUED = 10
const PRIOR = 0.05
const PRIOR_WEIGHT = 20

export function decisionOp(d: { ts: number; memberId: string; zone: string; trigger: string; offer: IssuedOffer | null; ranking: Ranking | null; considered: Considered[] }): WriteOp {
  return {
    op: 'insert', table: 'decisions',
    columns: ['ts', 'member_id', 'zone', 'trigger_kind', 'offer_id', 'campaign_id', 'model_version', 'fallback', 'considered'],
    row: [d.ts, d.memberId, d.zone, d.trigger, d.offer?.offerId ?? null, d.offer?.campaignId ?? null, d.ranking?.scores ? d.ranking.modelVersion : null, d.ranking?.fallback ?? (d.ranking ? null : 'no-ranker'), JSON.stringify(d.considered)],
  }
}

export class OfferDecider {
  /** offers shown to / redeemed by each member at this gateway */
  private readonly history = new Map<string, { shown: number; redeemed: number }>()
  /** issued / redeemed per campaign, for its popularity */
  private readonly campaignStats = new Map<string, { issued: number; redeemed: number }>()
  private readonly locks = new Map<string, Promise<void>>()

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

  /** A redemption was recorded (issue #5 calls this). */
  redeemed(memberId: string, campaignId: string): void {
    const h = this.history.get(memberId)
    if (h) h.redeemed++
    const c = this.campaignStats.get(campaignId)
    if (c) c.redeemed++
  }

  forgetMember(memberId: string): void {
    this.history.delete(memberId)
  }

  popularity(campaignId: string): number | undefined {
    const c = this.campaignStats.get(campaignId)
    if (!c || c.issued < POPULARITY_MIN_ISSUED) return undefined
    return (c.redeemed + PRIOR * PRIOR_WEIGHT) / (c.issued + PRIOR_WEIGHT)
  }

  /** Decide for one zone event; decisions of the same member are serialised. */
  decide(e: ZoneEvent, memberId: string): Promise<void> {
    const prev = this.locks.get(memberId) ?? Promise.resolve()
    const next = prev.then(() => this.decideNow(e, memberId)).catch((err) => this.d.log.error({ err }, 'offer decision failed'))
    this.locks.set(memberId, next)
    void next.finally(() => { if (this.locks.get(memberId) === next) this.locks.delete(memberId) })
    return next
  }

  private async decideNow(e: ZoneEvent, memberId: string): Promise<void> {
    const member = this.d.identity.member(memberId)
    const { candidates, considered } = this.d.offers.eligible(e, member)
    if (!member || (candidates.length === 0 && considered.length === 0)) return
    let ranking: Ranking | null = null
    let order: Campaign[] = candidates
    if (candidates.length > 0 && this.d.ranker) {
      ranking = await this.d.ranker.rank(
        memberFeaturesOf(member, this.history.get(memberId)),
        candidates.map((c) => offerFeaturesOf(c, { popularity: this.popularity(c.id) })),
        contextFeaturesOf({ zoneKind: this.d.zoneKind(e.zone), dwellSeconds: e.seconds, ts: this.d.clock.now(), timeZone: this.d.timeZone }),
      )
      const scores = ranking.scores
      if (scores) {
        const score = new Map(candidates.map((c, i) => [c.id, scores[i]!]))
        order = [...candidates].sort((a, b) => score.get(b.id)! - score.get(a.id)! || (b.priority ?? 0) - (a.priority ?? 0))
      }
    }
    let offer: IssuedOffer | null = null
    const scoreOf = (id: string) => (ranking?.scores ? ranking.scores[candidates.findIndex((c) => c.id === id)] : undefined)
    for (const c of order) {
      const s = scoreOf(c.id)
      const score = s === undefined ? {} : { score: Math.round(s * 1e6) / 1e6 }
      if (offer === null) {
        offer = this.d.offers.issue(c, e, member)
        considered.push({ campaignId: c.id, outcome: offer ? 'chosen' : 'daily-cap', ...score })
      } else {
        considered.push({ campaignId: c.id, outcome: ranking?.scores ? 'lower-score' : 'lower-priority', ...score })
      }
    }
    this.d.onDecision?.(considered, ranking)
    const decision = decisionOp({ ts: this.d.clock.now(), memberId, zone: e.zone, trigger: 'dwell', offer, ranking, considered })
    if (!offer) {
      await this.d.store.write([decision]).catch((err) => this.d.log.error({ err }, 'decision not recorded'))
      return
    }
    try {
      await this.d.store.write([...offerIssuedOps(offer, this.d.storeId), decision])
    } catch (err) {
      this.d.offers.release(offer)
      this.d.log.error({ err, campaign: offer.campaignId }, 'offer not issued: could not be stored')
      return
    }
    this.count(memberId, offer.campaignId, false)
    this.d.onIssued(offer)
  }
}
