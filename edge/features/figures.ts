/**
 * Campaign figures: issued, delivered, seen, redeemed, redemption rate, and uplift against the holdout group
 * (the share of offered members who redeemed or bought one of the campaign's SKUs while the offer ran,
 * minus the same share among holdout members who would have got it), with a 95% confidence interval:
 * Wilson score intervals for each group's rate and Newcombe's hybrid score interval (method 10 of
 * Newcombe 1998) for their difference, which keeps its coverage with the small holdout groups of a store
 * (about 10% of exposures) and with rates near 0 or 1, where the textbook Wald interval does not.
 */
import type { Store } from '../storage/store.js'

/** two-sided 95% */
export const Z95 = 1.959963984540054

export interface Interval { low: number; high: number }

/** Wilson score interval of a proportion x/n; null when n = 0. */
export function wilson(x: number, n: number, z = Z95): Interval | null {
  if (n <= 0) return null
  const p = x / n
  const z2 = z * z
  const denom = 1 + z2 / n
  const centre = (p + z2 / (2 * n)) / denom
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) }
}

/** Newcombe's hybrid score interval for p1 - p2 (x1/n1 minus x2/n2); null when a group is empty. */
export function newcombeDiff(x1: number, n1: number, x2: number, n2: number, z = Z95): Interval | null {
  const a = wilson(x1, n1, z)
  const b = wilson(x2, n2, z)
  if (!a || !b) return null
  const p1 = x1 / n1
  const p2 = x2 / n2
  const d = p1 - p2
  return {
    low: d - Math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2),
    high: d + Math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2),
  }
}

export interface GroupRate { exposures: number; converted: number; rate: number | null; /** 95% Wilson interval of the rate */ ci?: Interval | null }
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
  /** 95% confidence interval of the uplift (Newcombe hybrid score); null until both groups have exposures */
  upliftCi: (Interval & { level: number; method: 'newcombe-wilson' }) | null
  /** the interval excludes 0: the campaign moves conversion (up or down) beyond chance at 95% */
  upliftSignificant: boolean | null
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
      const n = e?.n ?? 0
      const x = e?.converted ?? 0
      return { exposures: n, converted: x, rate: rate(x, n), ci: wilson(x, n) }
    }
    const offered = g(0)
    const holdout = g(1)
    const uplift = offered.rate !== null && holdout.rate !== null ? offered.rate - holdout.rate : null
    const ci = newcombeDiff(offered.converted, offered.exposures, holdout.converted, holdout.exposures)
    return {
      campaignId: id, issued: o.issued, delivered: o.delivered, seen: o.seen, dismissed: o.dismissed, redeemed: o.redeemed,
      redemptionRate: rate(o.redeemed, o.issued), offered, holdout, uplift,
      upliftCi: ci ? { ...ci, level: 0.95, method: 'newcombe-wilson' as const } : null,
      upliftSignificant: ci ? ci.low > 0 || ci.high < 0 : null,
      relativeUplift: uplift !== null && holdout.rate ? uplift / holdout.rate : null,
    }
  })
}
