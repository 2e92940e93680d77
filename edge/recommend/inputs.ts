/**
 * Building the recommender's inputs from what the gateway (and the simulator) knows: the member resource
 * with its offer history, the campaign, and the moment. Pure; shared by serving and the simulator-log adapter
 * so both describe offers the same way.
 */
import type { Campaign, Member } from '../contract/resources.js'
import type { ContextFeatures, MemberFeatures, OfferFeatures } from './features.js'

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v.replace('+', ''))) ? Number(v.replace('+', '')) : undefined)
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : v === 1 || v === '1' || v === 'yes' ? true : v === 0 || v === '0' || v === 'no' ? false : undefined)

export function memberFeaturesOf(m: Pick<Member, 'tier' | 'rfm' | 'affinities' | 'demographics'>, history?: { shown: number; redeemed: number }): MemberFeatures {
  const d = m.demographics
  return {
    tier: m.tier,
    rfm: m.rfm,
    affinities: m.affinities,
    history,
    demographics: d ? {
      ageRange: typeof d['ageRange'] === 'string' ? d['ageRange'] : undefined,
      incomeBracket: num(d['incomeBracket']),
      familySize: num(d['familySize']),
      children: num(d['children']),
      married: bool(d['married']),
      rented: bool(d['rented']),
    } : undefined,
  }
}

export function offerFeaturesOf(c: Campaign, stats?: { popularity?: number | undefined; margin?: number | undefined; brandEstablished?: number | undefined }): OfferFeatures {
  return {
    category: c.offer.category,
    items: c.offer.skus?.length,
    discount: { kind: c.offer.discount.kind, value: c.offer.discount.value },
    campaignType: c.trigger.kind,
    margin: stats?.margin,
    popularity: stats?.popularity,
    brandEstablished: stats?.brandEstablished,
    durationDays: campaignDays(c),
  }
}

/** A campaign's run in days, when it has both ends. */
export function campaignDays(c: Pick<Campaign, 'from' | 'to'>): number | undefined {
  if (c.from === undefined || c.to === undefined) return undefined
  const d = (Date.parse(c.to) - Date.parse(c.from)) / 86_400_000
  return Number.isFinite(d) && d >= 0 ? d : undefined
}

const fmts = new Map<string, Intl.DateTimeFormat>()
const WEEKDAY: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 }

/** Store-local hour and weekday (0 = Monday) of an instant. */
export function localTime(ts: number, timeZone: string): { hour: number; weekday: number } {
  let f = fmts.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hour: 'numeric', hourCycle: 'h23', weekday: 'short' })
    fmts.set(timeZone, f)
  }
  let hour = 0
  let weekday = 0
  for (const p of f.formatToParts(ts)) {
    if (p.type === 'hour') hour = Number(p.value) % 24
    else if (p.type === 'weekday') weekday = WEEKDAY[p.value] ?? 0
  }
  return { hour, weekday }
}

export function contextFeaturesOf(c: { zoneKind?: string | undefined; dwellSeconds?: number | undefined; ts: number; timeZone: string }): ContextFeatures {
  const { hour, weekday } = localTime(c.ts, c.timeZone)
  return { zoneKind: c.zoneKind, dwellSeconds: c.dwellSeconds, hour, weekday }
}
