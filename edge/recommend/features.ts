/**
 * The recommender's feature vector: one definition for the trainer (models/) and the gateway. Three blocks:
 *   member:  tier, RFM figures and segment, demographic bands, affinity to the offer's category, the member's
 *            affinity profile over all categories, past response
 *   offer:   category, brand type, breadth, discount kind and depth, campaign type, campaign duration, margin,
 *            popularity
 *   context: zone kind, dwell seconds, hour and weekday (store-local)
 * Every input may be missing: each group carries a "known" flag and missing values encode as zeros, so a model
 * trained where a group is unknown (AMExpert has no in-store context) still scores where it is known.
 * Pure: no I/O, no clock. FEATURE_VERSION changes whenever the layout of the vector changes; a model records
 * the version it was trained with and the gateway refuses a model of another version.
 */
import { createHash } from 'node:crypto'

// ---------------------------------------------------------------- inputs (the interactions format's blocks)

export interface MemberFeatures {
  tier?: string | undefined
  rfm?: { recencyDays: number; frequency: number; monetary: number } | undefined
  demographics?: {
    ageRange?: string | undefined          // 18-25 | 26-35 | 36-45 | 46-55 | 56-70 | 70+
    incomeBracket?: number | undefined     // 1 (lowest) .. 12
    familySize?: number | undefined
    children?: number | undefined
    married?: boolean | undefined
    rented?: boolean | undefined
  } | undefined
  /** category slug -> 0..1 */
  affinities?: Record<string, number> | undefined
  /** offers shown to this member before this one, and how many were redeemed */
  history?: { shown: number; redeemed: number } | undefined
}

export interface OfferFeatures {
  category?: string | undefined
  /** share of the offer's items from established (national) brands, 0..1 */
  brandEstablished?: number | undefined
  /** how many items the offer applies to */
  items?: number | undefined
  discount?: { kind: 'percent' | 'amount' | 'bogo'; value?: number | undefined } | undefined
  /** how the offer reaches the member: dwell | enter | scan | receipt (in store) or mailer-x | mailer-y (CRM mailers) */
  campaignType?: string | undefined
  /** gross margin share, 0..1 */
  margin?: number | undefined
  /** redemption rate of this offer among earlier recipients (smoothed) */
  popularity?: number | undefined
  /** how long the campaign runs, in days (a CRM mailer's validity window; a store campaign's from..to) */
  durationDays?: number | undefined
}

export interface ContextFeatures {
  zoneKind?: string | undefined
  dwellSeconds?: number | undefined
  /** store-local hour 0..23 and weekday 0 (Monday) .. 6 */
  hour?: number | undefined
  weekday?: number | undefined
}

export interface FeatureInput { member: MemberFeatures; offer: OfferFeatures; context: ContextFeatures }

// ---------------------------------------------------------------- vocabularies

export const TIERS = ['basic', 'silver', 'gold', 'platinum'] as const
export const SEGMENTS = ['high-value', 'active', 'potential', 'dormant'] as const
export const AGE_RANGES = ['18-25', '26-35', '36-45', '46-55', '56-70', '70+'] as const
/** category slugs; AMExpert's 19 categories and the store's own map onto these */
export const CATEGORIES = [
  'grocery', 'pharmaceutical', 'natural-products', 'dairy-juices-snacks', 'skin-hair-care', 'meat', 'packaged-meat',
  'prepared-food', 'bakery', 'seafood', 'flowers-plants', 'garden', 'vegetables', 'salads', 'alcohol', 'electronics',
  'travel', 'restaurant', 'miscellaneous',
] as const
export const CATEGORY_ALIASES: Record<string, (typeof CATEGORIES)[number]> = {
  dairy: 'dairy-juices-snacks', drinks: 'dairy-juices-snacks', juices: 'dairy-juices-snacks', snacks: 'dairy-juices-snacks',
  'fruit-vegetables': 'vegetables', produce: 'vegetables', 'vegetables-cut': 'vegetables', fuel: 'miscellaneous',
  restauarant: 'restaurant', 'flowers-and-plants': 'flowers-plants', 'skin-and-hair-care': 'skin-hair-care',
}
export const DISCOUNT_KINDS = ['percent', 'amount', 'bogo'] as const
export const CAMPAIGN_TYPES = ['dwell', 'enter', 'scan', 'receipt', 'mailer-x', 'mailer-y'] as const
export const ZONE_KINDS = ['fridge', 'aisle', 'counter', 'checkout', 'entrance', 'assist'] as const

const slugCache = new Map<string, (typeof CATEGORIES)[number]>()

/** 'Dairy, Juices & Snacks' -> 'dairy-juices-snacks'; unknown categories -> 'miscellaneous'. */
export function categorySlug(name: string | undefined): (typeof CATEGORIES)[number] | undefined {
  if (name === undefined || name === '') return undefined
  const cached = slugCache.get(name)
  if (cached !== undefined) return cached
  const slug = name.toLowerCase().replace(/&/g, ' ').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')
  const out = (CATEGORIES as readonly string[]).includes(slug) ? (slug as (typeof CATEGORIES)[number]) : CATEGORY_ALIASES[slug] ?? 'miscellaneous'
  if (slugCache.size < 10_000) slugCache.set(name, out)
  return out
}

/** Whether a category name maps onto the vocabulary (by slug or alias) rather than falling into miscellaneous. */
export function knownCategory(name: string): boolean {
  const slug = name.toLowerCase().replace(/&/g, ' ').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')
  return (CATEGORIES as readonly string[]).includes(slug) || CATEGORY_ALIASES[slug] !== undefined
}

const has = (values: readonly string[], v: string) => values.includes(v)

/**
 * Report every input that lies outside the vocabularies (it encodes as "unknown", or as miscellaneous for a
 * category), as (field, value). The trainer counts them before it trains, so nothing vanishes silently.
 */
export function vocabularyMisses(x: FeatureInput, miss: (field: string, value: string) => void): void {
  const m = x.member
  if (m.tier !== undefined && !has(TIERS, m.tier.toLowerCase())) miss('member.tier', m.tier)
  const age = m.demographics?.ageRange
  if (age !== undefined && !has(AGE_RANGES, age)) miss('member.demographics.ageRange', age)
  if (m.affinities) for (const k of Object.keys(m.affinities)) if (!knownCategory(k)) miss('member.affinities', k)
  const f = x.offer
  if (f.category !== undefined && f.category !== '' && !knownCategory(f.category)) miss('offer.category', f.category)
  if (f.discount !== undefined && !has(DISCOUNT_KINDS, f.discount.kind)) miss('offer.discount.kind', String(f.discount.kind))
  if (f.campaignType !== undefined && !has(CAMPAIGN_TYPES, f.campaignType)) miss('offer.campaignType', f.campaignType)
  if (x.context.zoneKind !== undefined && !has(ZONE_KINDS, x.context.zoneKind)) miss('context.zoneKind', x.context.zoneKind)
}

// ---------------------------------------------------------------- RFM segments (default rules, configurable)

export interface SegmentRule { segment: string; maxRecencyDays?: number; minRecencyDays?: number; minFrequency?: number; maxFrequency?: number; minMonetary?: number }
/** high value R<=7 days, F>=5, M>=50; active R<=15, F>=3, M>=30; potential R<=30, F 1-2, M>=20; dormant R>30 */
export const DEFAULT_SEGMENT_RULES: SegmentRule[] = [
  { segment: 'high-value', maxRecencyDays: 7, minFrequency: 5, minMonetary: 50 },
  { segment: 'active', maxRecencyDays: 15, minFrequency: 3, minMonetary: 30 },
  { segment: 'potential', maxRecencyDays: 30, minFrequency: 1, maxFrequency: 2, minMonetary: 20 },
  { segment: 'dormant', minRecencyDays: 30.000001 },
]

/** The first rule that matches, or undefined. */
export function rfmSegment(rfm: MemberFeatures['rfm'], rules: readonly SegmentRule[] = DEFAULT_SEGMENT_RULES): string | undefined {
  if (!rfm) return undefined
  for (const r of rules) {
    if (r.maxRecencyDays !== undefined && rfm.recencyDays > r.maxRecencyDays) continue
    if (r.minRecencyDays !== undefined && rfm.recencyDays < r.minRecencyDays) continue
    if (r.minFrequency !== undefined && rfm.frequency < r.minFrequency) continue
    if (r.maxFrequency !== undefined && rfm.frequency > r.maxFrequency) continue
    if (r.minMonetary !== undefined && rfm.monetary < r.minMonetary) continue
    return r.segment
  }
  return undefined
}

// ---------------------------------------------------------------- the vector

const names: string[] = []
const oneHot = (prefix: string, values: readonly string[]) => { for (const v of values) names.push(`${prefix}=${v}`); names.push(`${prefix}=unknown`) }
// member
oneHot('member.tier', TIERS)
names.push('member.rfm.known', 'member.rfm.recency', 'member.rfm.frequency', 'member.rfm.monetary')
oneHot('member.segment', SEGMENTS)
names.push('member.demo.known')
oneHot('member.demo.age', AGE_RANGES)
names.push('member.demo.income', 'member.demo.income.known', 'member.demo.family', 'member.demo.children', 'member.demo.married', 'member.demo.rented')
names.push('member.affinity.known', 'member.affinity')
// the member's whole affinity profile: with the offer's category it lets a model learn cross-category pulls
// (beer buyers take the crisps coupon), which the affinity to the offer's own category cannot express
for (const c of CATEGORIES) names.push(`member.profile=${c}`)
names.push('member.history.known', 'member.history.shown', 'member.history.redeemed', 'member.history.rate')
// offer
oneHot('offer.category', CATEGORIES)
names.push('offer.brand.known', 'offer.brand.established', 'offer.items')
oneHot('offer.discount', DISCOUNT_KINDS)
names.push('offer.discount.depth')
oneHot('offer.type', CAMPAIGN_TYPES)
names.push('offer.duration.known', 'offer.duration')
names.push('offer.margin.known', 'offer.margin', 'offer.popularity.known', 'offer.popularity')
// context
oneHot('context.zone', ZONE_KINDS)
names.push('context.dwell.known', 'context.dwell', 'context.time.known', 'context.hour.sin', 'context.hour.cos', 'context.weekday.sin', 'context.weekday.cos', 'context.weekend')

export const FEATURE_NAMES: readonly string[] = Object.freeze([...names])
export const FEATURE_DIM = FEATURE_NAMES.length
export const FEATURE_VERSION = `f${FEATURE_DIM}-${createHash('sha256').update(FEATURE_NAMES.join('\n')).digest('hex').slice(0, 12)}`

const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x)
const index = new Map(FEATURE_NAMES.map((n, i) => [n, i]))
const at = (name: string): number => {
  const i = index.get(name)
  if (i === undefined) throw new Error(`no feature ${name}`)
  return i
}
const I = {
  tier: at('member.tier=basic'), rfm: at('member.rfm.known'), segment: at('member.segment=high-value'), demo: at('member.demo.known'),
  age: at('member.demo.age=18-25'), income: at('member.demo.income'), aff: at('member.affinity.known'), profile: at(`member.profile=${CATEGORIES[0]}`), hist: at('member.history.known'),
  cat: at('offer.category=grocery'), brand: at('offer.brand.known'), disc: at('offer.discount=percent'), depth: at('offer.discount.depth'),
  type: at('offer.type=dwell'), duration: at('offer.duration.known'), margin: at('offer.margin.known'), pop: at('offer.popularity.known'), zone: at('context.zone=fridge'), dwell: at('context.dwell.known'), time: at('context.time.known'),
}

function setOneHot(out: Float32Array, o: number, start: number, values: readonly string[], value: string | undefined): void {
  const k = value === undefined ? -1 : values.indexOf(value)
  out[o + start + (k < 0 ? values.length : k)] = 1
}

/** The member block, except the affinity (which depends on the offer). */
function encodeMember(m: MemberFeatures, out: Float32Array, o: number, rules: readonly SegmentRule[]): void {
  setOneHot(out, o, I.tier, TIERS, m.tier?.toLowerCase())
  if (m.rfm) {
    out[o + I.rfm] = 1
    out[o + I.rfm + 1] = clamp01(Math.log1p(Math.max(0, m.rfm.recencyDays)) / 6)
    out[o + I.rfm + 2] = clamp01(Math.log1p(Math.max(0, m.rfm.frequency)) / 4)
    out[o + I.rfm + 3] = clamp01(Math.log1p(Math.max(0, m.rfm.monetary)) / 8)
  }
  setOneHot(out, o, I.segment, SEGMENTS, rfmSegment(m.rfm, rules))
  const d = m.demographics
  if (d) {
    out[o + I.demo] = 1
    setOneHot(out, o, I.age, AGE_RANGES, d.ageRange)
    if (d.incomeBracket !== undefined) { out[o + I.income] = clamp01(d.incomeBracket / 12); out[o + I.income + 1] = 1 }
    if (d.familySize !== undefined) out[o + I.income + 2] = clamp01(d.familySize / 5)
    if (d.children !== undefined) out[o + I.income + 3] = d.children > 0 ? 1 : 0
    if (d.married !== undefined) out[o + I.income + 4] = d.married ? 1 : 0
    if (d.rented !== undefined) out[o + I.income + 5] = d.rented ? 1 : 0
  } else {
    setOneHot(out, o, I.age, AGE_RANGES, undefined)
  }
  if (m.history && m.history.shown > 0) {
    const { shown, redeemed } = m.history
    out[o + I.hist] = 1
    out[o + I.hist + 1] = clamp01(Math.log1p(shown) / 5)
    out[o + I.hist + 2] = clamp01(Math.log1p(redeemed) / 3)
    out[o + I.hist + 3] = clamp01((redeemed + 0.1) / (shown + 2)) // smoothed towards a low prior
  }
}

/** A member's affinities by category slug (the largest where several names share a slug). */
function affinitySlugs(a: Record<string, number> | undefined, out: Map<string, number> = new Map()): Map<string, number> | null {
  if (!a) return null
  out.clear()
  for (const [k, v] of Object.entries(a)) {
    const slug = categorySlug(k)
    if (slug !== undefined) out.set(slug, Math.max(out.get(slug) ?? 0, v))
  }
  return out
}

/** The member's affinity profile (every category it has a figure for). */
function encodeProfile(affinities: Map<string, number> | null, out: Float32Array, o: number): void {
  if (!affinities) return
  for (const [slug, v] of affinities) {
    const k = CATEGORY_INDEX.get(slug)
    if (k !== undefined) out[o + I.profile + k] = clamp01(v)
  }
}
const CATEGORY_INDEX = new Map<string, number>(CATEGORIES.map((c, i) => [c, i]))

/** The popularity feature's value for a redemption rate: log-odds of a smoothed rate, scaled to 0..1. */
export function popularityFeature(rate: number): number {
  // rare and common offers both stay distinguishable
  const r = Math.min(0.999, Math.max(0.0001, rate))
  return clamp01((Math.log(r / (1 - r)) + 9.2) / 16)
}
/** Where the popularity pair (known flag, value) sits in the vector: the trainer fills it per split. */
export const POPULARITY_INDEX = I.pop

/** The offer block and the member's affinity to the offer's category. */
function encodeOffer(f: OfferFeatures, affinities: Map<string, number> | null, out: Float32Array, o: number): void {
  const cat = categorySlug(f.category)
  if (affinities && cat !== undefined) {
    const a = affinities.get(cat)
    if (a !== undefined) { out[o + I.aff] = 1; out[o + I.aff + 1] = clamp01(a) }
  }
  setOneHot(out, o, I.cat, CATEGORIES, cat)
  if (f.brandEstablished !== undefined) { out[o + I.brand] = 1; out[o + I.brand + 1] = clamp01(f.brandEstablished) }
  if (f.items !== undefined) out[o + I.brand + 2] = clamp01(Math.log1p(Math.max(0, f.items)) / 8)
  setOneHot(out, o, I.disc, DISCOUNT_KINDS, f.discount?.kind)
  if (f.discount) {
    const v = f.discount.value ?? 0
    out[o + I.depth] = f.discount.kind === 'percent' ? clamp01(v / 100) : f.discount.kind === 'amount' ? clamp01(v / 20) : 0.5
  }
  setOneHot(out, o, I.type, CAMPAIGN_TYPES, f.campaignType)
  if (f.durationDays !== undefined) { out[o + I.duration] = 1; out[o + I.duration + 1] = clamp01(Math.log1p(Math.max(0, f.durationDays)) / 6) }
  if (f.margin !== undefined) { out[o + I.margin] = 1; out[o + I.margin + 1] = clamp01(f.margin) }
  if (f.popularity !== undefined) {
    out[o + I.pop] = 1
    out[o + I.pop + 1] = popularityFeature(f.popularity)
  }
}

function encodeContext(c: ContextFeatures, out: Float32Array, o: number): void {
  setOneHot(out, o, I.zone, ZONE_KINDS, c.zoneKind)
  if (c.dwellSeconds !== undefined) { out[o + I.dwell] = 1; out[o + I.dwell + 1] = clamp01(Math.log1p(Math.max(0, c.dwellSeconds)) / 6) }
  if (c.hour !== undefined && c.weekday !== undefined) {
    out[o + I.time] = 1
    out[o + I.time + 1] = Math.sin((2 * Math.PI * c.hour) / 24)
    out[o + I.time + 2] = Math.cos((2 * Math.PI * c.hour) / 24)
    out[o + I.time + 3] = Math.sin((2 * Math.PI * c.weekday) / 7)
    out[o + I.time + 4] = Math.cos((2 * Math.PI * c.weekday) / 7)
    out[o + I.time + 5] = c.weekday >= 5 ? 1 : 0
  }
}

/** Write the vector of one (member, offer, context) into out[o .. o + FEATURE_DIM). */
export function buildFeatures(x: FeatureInput, out: Float32Array, o = 0, rules: readonly SegmentRule[] = DEFAULT_SEGMENT_RULES): void {
  out.fill(0, o, o + FEATURE_DIM)
  encodeMember(x.member, out, o, rules)
  const affinities = affinitySlugs(x.member.affinities)
  encodeProfile(affinities, out, o)
  encodeOffer(x.offer, affinities, out, o)
  encodeContext(x.context, out, o)
}

/**
 * The vectors of one decision, row after row into `out`: the member and context blocks are encoded once and
 * copied, only the offer block differs (the same values as buildFeatures, which the tests check).
 */
const batchTemplate = new Float32Array(FEATURE_DIM)
const batchAffinities = new Map<string, number>()

export function buildFeatureBatch(member: MemberFeatures, offers: readonly OfferFeatures[], context: ContextFeatures, out: Float32Array, rules: readonly SegmentRule[] = DEFAULT_SEGMENT_RULES): void {
  // synchronous from start to end, so one module-level template and map serve every call
  const template = batchTemplate
  template.fill(0)
  encodeMember(member, template, 0, rules)
  encodeContext(context, template, 0)
  const affinities = affinitySlugs(member.affinities, batchAffinities)
  encodeProfile(affinities, template, 0)
  for (let i = 0; i < offers.length; i++) {
    const o = i * FEATURE_DIM
    out.set(template, o)
    encodeOffer(offers[i]!, affinities, out, o)
  }
}

/** A convenience for tests and the trainer: one vector. */
export function featureVector(x: FeatureInput, rules?: readonly SegmentRule[]): Float32Array {
  const out = new Float32Array(FEATURE_DIM)
  buildFeatures(x, out, 0, rules)
  return out
}
