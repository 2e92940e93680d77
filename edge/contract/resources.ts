/** Resources of CONTRACT.md section 9: layout, member, campaign. Closed objects: a typo is a clear 400. */
import Type, { type Static } from 'typebox'
import { CAMPAIGN_ID, HEX_KEY_32, MemberId, ZoneId } from './ids.js'
import { compile } from './validate.js'

const Coord = Type.Number({ minimum: -100_000, maximum: 100_000, description: 'metres' })

export const Zone = Type.Object({
  id: ZoneId,
  name: Type.Optional(Type.String({ maxLength: 100 })),
  kind: Type.Optional(Type.String({ maxLength: 48, description: 'e.g. fridge, aisle, checkout, entrance, assist' })),
  polygon: Type.Optional(Type.Array(Type.Tuple([Coord, Coord]), { minItems: 3, maxItems: 100 })),
  dwellSeconds: Type.Optional(Type.Number({ minimum: 1, maximum: 3600 })),
}, { additionalProperties: false })
export type Zone = Static<typeof Zone>

export const Anchor = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128, description: 'scanner id (its topics), beacon subject id, or button id' }),
  kind: Type.Enum(['scanner', 'beacon', 'button']),
  zone: Type.Optional(ZoneId),
  x: Type.Optional(Coord),
  y: Type.Optional(Coord),
  txPower: Type.Optional(Type.Integer({ minimum: -127, maximum: 20 })),
}, { additionalProperties: false })
export type Anchor = Static<typeof Anchor>

export const Layout = Type.Object({
  zones: Type.Array(Zone, { maxItems: 1000 }),
  anchors: Type.Array(Anchor, { maxItems: 5000 }),
}, { additionalProperties: false })
export type Layout = Static<typeof Layout>

export const Consent = Type.Object({ offers: Type.Boolean(), location: Type.Boolean() }, { additionalProperties: false })
export const Rfm = Type.Object({
  recencyDays: Type.Number({ minimum: 0 }),
  frequency: Type.Number({ minimum: 0 }),
  monetary: Type.Number({ minimum: 0 }),
}, { additionalProperties: false })

export const Member = Type.Object({
  memberId: MemberId,
  key: Type.String({ pattern: HEX_KEY_32, description: '32-byte member key, hex (rotating pseudonyms, section 5)' }),
  consent: Consent,
  tier: Type.Optional(Type.String({ maxLength: 32 })),
  rfm: Type.Optional(Rfm),
  affinities: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Number({ minimum: 0, maximum: 1 }))),
  demographics: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Union([Type.String({ maxLength: 64 }), Type.Number(), Type.Boolean(), Type.Null()]))),
}, { additionalProperties: false })
export type Member = Static<typeof Member>

export const Trigger = Type.Object({
  kind: Type.Enum(['dwell', 'enter', 'scan', 'receipt']),
  zone: Type.Optional(ZoneId),
  seconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })),
  sku: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
}, { additionalProperties: false })
export type Trigger = Static<typeof Trigger>

export const Discount = Type.Object({
  kind: Type.Enum(['percent', 'amount', 'bogo']),
  value: Type.Optional(Type.Number({ minimum: 0, maximum: 100_000 })),
}, { additionalProperties: false })

export const Campaign = Type.Object({
  id: Type.String({ pattern: CAMPAIGN_ID }),
  title: Type.String({ minLength: 1, maxLength: 80 }),
  body: Type.Optional(Type.String({ maxLength: 500 })),
  trigger: Trigger,
  eligibility: Type.Optional(Type.Object({
    segments: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 20 })),
    tiers: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 20 })),
  }, { additionalProperties: false })),
  offer: Type.Object({
    skus: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 200 })),
    category: Type.Optional(Type.String({ maxLength: 64 })),
    discount: Discount,
  }, { additionalProperties: false }),
  limits: Type.Optional(Type.Object({
    perMemberPerDay: Type.Optional(Type.Integer({ minimum: 0 })),
    perMemberPerWeek: Type.Optional(Type.Integer({ minimum: 0 })),
    cooldownMinutes: Type.Optional(Type.Number({ minimum: 0 })),
    budgetCount: Type.Optional(Type.Integer({ minimum: 0 })),
    budgetValue: Type.Optional(Type.Number({ minimum: 0 })),
  }, { additionalProperties: false })),
  validMinutes: Type.Integer({ minimum: 1, maximum: 60 * 24 * 31 }),
  priority: Type.Optional(Type.Integer({ minimum: -1000, maximum: 1000 })),
  from: Type.Optional(Type.String({ format: 'date-time' })),
  to: Type.Optional(Type.String({ format: 'date-time' })),
}, { additionalProperties: false })
export type Campaign = Static<typeof Campaign>

/** Cross-reference problems JSON Schema cannot express; `path` is relative to the layout. */
export function layoutProblems(l: Layout): { path: string; value: unknown; expected: string }[] {
  const out: { path: string; value: unknown; expected: string }[] = []
  const zones = new Set<string>()
  l.zones.forEach((z, i) => {
    if (zones.has(z.id)) out.push({ path: `zones[${i}].id`, value: z.id, expected: 'a zone id used once' })
    zones.add(z.id)
  })
  const anchors = new Set<string>()
  l.anchors.forEach((a, i) => {
    if (anchors.has(a.id)) out.push({ path: `anchors[${i}].id`, value: a.id, expected: 'an anchor id used once' })
    anchors.add(a.id)
    if (a.zone !== undefined && !zones.has(a.zone)) out.push({ path: `anchors[${i}].zone`, value: a.zone, expected: `one of the zones (${[...zones].join(', ') || 'none'})` })
  })
  return out
}

export function campaignProblems(c: Campaign, zones: ReadonlySet<string>): { path: string; value: unknown; expected: string }[] {
  const out: { path: string; value: unknown; expected: string }[] = []
  if (c.trigger.zone !== undefined && !zones.has(c.trigger.zone)) out.push({ path: 'trigger.zone', value: c.trigger.zone, expected: 'a zone of the layout' })
  if ((c.trigger.kind === 'dwell' || c.trigger.kind === 'enter') && c.trigger.zone === undefined) out.push({ path: 'trigger.zone', value: undefined, expected: `a zone (a ${c.trigger.kind} trigger needs one)` })
  if (c.trigger.kind === 'scan' && c.trigger.sku === undefined) out.push({ path: 'trigger.sku', value: undefined, expected: 'a sku (a scan trigger needs one)' })
  if (c.from !== undefined && c.to !== undefined && Date.parse(c.from) >= Date.parse(c.to)) out.push({ path: 'to', value: c.to, expected: 'a time after from' })
  if (c.offer.discount.kind !== 'bogo' && c.offer.discount.value === undefined) out.push({ path: 'offer.discount.value', value: undefined, expected: `a value (a ${c.offer.discount.kind} discount needs one)` })
  if (c.offer.discount.kind === 'percent' && (c.offer.discount.value ?? 0) > 100) out.push({ path: 'offer.discount.value', value: c.offer.discount.value, expected: 'a percentage <= 100' })
  return out
}

/** The resources' schemas compiled once, for what receives them from outside the admin API (CRM pulls, the reference CRM). */
export const resourceChecks = { member: compile<Member>(Member), campaign: compile<Campaign>(Campaign), layout: compile<Layout>(Layout) }
