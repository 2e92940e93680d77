/**
 * Campaign figures: issued, delivered, seen, redeemed, redemption rate, and uplift against the holdout group
 * (the share of offered members who redeemed or bought one of the campaign's SKUs while the offer ran,
 * minus the same share among holdout members who would have got it).
 */
import type { Store } from '../storage/store.js'

export interface GroupRate { exposures: number; converted: number; rate: number | null }
export interface CampaignFigures {
  campaignId: string
  issued: number
  delivered: number
  seen: number
  dismissed: number
  redeemed: number
  redemptionRate: number | null
  offered: GroupRate
  holdout: GroupRate
  /** offered rate minus holdout rate (percentage points / 100); null until both groups have exposures */
  uplift: number | null
  /** uplift relative to the holdout rate */
  relativeUplift: number | null
}

const rate = (n: number, d: number) => (d > 0 ? n / d : null)

export async function campaignFigures(store: Store, campaignId?: string): Promise<CampaignFigures[]> {
  const where = campaignId ? 'WHERE campaign_id = ?' : ''
  const params = campaignId ? [campaignId] : []
  const offers = await store.all<{ campaign_id: string; issued: number; delivered: number; seen: number; dismissed: number; redeemed: number }>(
    `SELECT campaign_id, COUNT(*) AS issued, SUM(delivered_at IS NOT NULL) AS delivered, SUM(seen_at IS NOT NULL) AS seen,
            SUM(dismissed_at IS NOT NULL) AS dismissed, SUM(status = 'redeemed') AS redeemed
       FROM offers ${where} GROUP BY campaign_id`, params)
  const exp = await store.all<{ campaign_id: string; holdout: number; n: number; converted: number }>(
    `SELECT campaign_id, holdout, COUNT(*) AS n, SUM(converted_at IS NOT NULL) AS converted FROM exposures ${where} GROUP BY campaign_id, holdout`, params)
  const ids = [...new Set([...offers.map((o) => o.campaign_id), ...exp.map((e) => e.campaign_id)])].sort()
  return ids.map((id) => {
    const o = offers.find((x) => x.campaign_id === id) ?? { issued: 0, delivered: 0, seen: 0, dismissed: 0, redeemed: 0 }
    const g = (h: number): GroupRate => {
      const e = exp.find((x) => x.campaign_id === id && x.holdout === h)
      return { exposures: e?.n ?? 0, converted: e?.converted ?? 0, rate: rate(e?.converted ?? 0, e?.n ?? 0) }
    }
    const offered = g(0)
    const holdout = g(1)
    const uplift = offered.rate !== null && holdout.rate !== null ? offered.rate - holdout.rate : null
    return {
      campaignId: id, issued: o.issued, delivered: o.delivered, seen: o.seen, dismissed: o.dismissed, redeemed: o.redeemed,
      redemptionRate: rate(o.redeemed, o.issued), offered, holdout, uplift,
      relativeUplift: uplift !== null && holdout.rate ? uplift / holdout.rate : null,
    }
  })
}
