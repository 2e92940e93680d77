/**
 * Simulated members with habits known only to the simulator: how often they come, what they like, how
 * price-sensitive they are, and whether standing longer at a shelf makes them more likely to redeem. What the
 * gateway sees of them (tier, RFM, affinities, demographics) is a noisy view of those habits, as a CRM's is.
 */
import type { Campaign, Member } from '../../edge/contract/resources.js'
import { categorySlug } from '../../edge/recommend/features.js'
import { Rng } from './rng.js'

export interface Habits {
  /** visits a week */
  visitsPerWeek: number
  /** log-odds of redeeming an average offer */
  base: number
  /** per category slug, -1 (dislike) .. 1 (loves) */
  taste: Record<string, number>
  /** how much a deeper discount helps, 0..3 */
  priceSensitivity: number
  /** how much a longer dwell helps, 0..1.5 */
  dwellEffect: number
  /** favourite shopping hour */
  hour: number
}

export interface SimShopper { member: Member; habits: Habits }

export const SIM_CATEGORIES = ['dairy', 'bakery', 'drinks', 'produce', 'electronics', 'meat', 'pharmaceutical', 'grocery'] as const

const AGES = ['18-25', '26-35', '36-45', '46-55', '56-70', '70+'] as const

export function population(n: number, seed: number): SimShopper[] {
  const rng = new Rng(seed)
  const out: SimShopper[] = []
  for (let i = 0; i < n; i++) {
    const taste: Record<string, number> = {}
    for (const c of SIM_CATEGORIES) taste[categorySlug(c)!] = Math.max(-1, Math.min(1, rng.gauss() * 0.6))
    const visitsPerWeek = Math.max(0.2, Math.exp(rng.gauss() * 0.7) * 1.5)
    const income = rng.int(1, 12)
    const habits: Habits = {
      visitsPerWeek,
      base: -2.6 + rng.gauss() * 0.7 + (visitsPerWeek > 2 ? 0.4 : 0),
      taste,
      priceSensitivity: Math.max(0, 1.5 + rng.gauss() * 0.8 - income / 12),
      dwellEffect: Math.max(0, 0.6 + rng.gauss() * 0.4),
      hour: rng.int(8, 20),
    }
    const frequency = Math.round(visitsPerWeek * 4)
    const recencyDays = Math.round(Math.min(90, rng.range(0.5, 2) * 7 / visitsPerWeek))
    const monetary = Math.round(frequency * rng.range(15, 60))
    const affinities: Record<string, number> = {}
    // the CRM's affinities: purchase shares, a noisy view of taste
    for (const c of SIM_CATEGORIES) affinities[c] = Math.round(Math.max(0, Math.min(1, 0.5 + taste[categorySlug(c)!]! * 0.4 + rng.gauss() * 0.15)) * 100) / 100
    out.push({
      habits,
      member: {
        memberId: `sim-${String(i + 1).padStart(4, '0')}`,
        key: rng.hex(32),
        consent: { offers: rng.chance(0.85), location: rng.chance(0.9) },
        tier: frequency >= 10 ? 'gold' : frequency >= 5 ? 'silver' : 'basic',
        rfm: { recencyDays, frequency, monetary },
        affinities,
        demographics: { ageRange: rng.pick(AGES), incomeBracket: income, familySize: rng.int(1, 5), children: rng.int(0, 3), married: rng.chance(0.5), rented: rng.chance(0.3) },
      },
    })
  }
  return out
}

/** The member's real (hidden) chance of redeeming this offer in this moment. */
export function redeemProbability(h: Habits, c: Campaign, ctx: { dwellSeconds: number; hour: number }): number {
  const cat = categorySlug(c.offer.category) ?? 'miscellaneous'
  const d = c.offer.discount
  const depth = d.kind === 'percent' ? (d.value ?? 0) / 100 : d.kind === 'amount' ? Math.min(1, (d.value ?? 0) / 10) : 0.5
  const z = h.base + 1.6 * (h.taste[cat] ?? -0.3) + h.priceSensitivity * depth + h.dwellEffect * Math.log1p(ctx.dwellSeconds) / Math.log1p(30) - 0.05 * Math.abs(ctx.hour - h.hour)
  return 1 / (1 + Math.exp(-z))
}
