/** The feature definition, and proof that trainer and gateway build identical vectors. */
import t from 'tap'
import type { Campaign, Member } from '../../edge/contract/resources.js'
import { buildFeatures, categorySlug, FEATURE_DIM, FEATURE_NAMES, FEATURE_VERSION, featureVector, rfmSegment, vocabularyMisses } from '../../edge/recommend/features.js'
import { campaignDays, contextFeaturesOf, localTime, memberFeaturesOf, offerFeaturesOf } from '../../edge/recommend/inputs.js'
import { Ranker } from '../../edge/recommend/ranker.js'
import type { ModelRegistry } from '../../edge/recommend/registry.js'
import { simlogInteractions } from '../../models/adapters/simlog.js'
import { Dataset } from '../../models/train/dataset.js'

const at = (name: string) => FEATURE_NAMES.indexOf(name)

t.test('the vector', async (t) => {
  t.equal(FEATURE_DIM, FEATURE_NAMES.length)
  t.equal(new Set(FEATURE_NAMES).size, FEATURE_DIM, 'names are unique')
  t.match(FEATURE_VERSION, /^f\d+-[0-9a-f]{12}$/)
  const empty = featureVector({ member: {}, offer: {}, context: {} })
  const ones = [...empty].map((v, i) => (v ? FEATURE_NAMES[i] : null)).filter(Boolean)
  t.same(ones, ['member.tier=unknown', 'member.segment=unknown', 'member.demo.age=unknown', 'offer.category=unknown', 'offer.discount=unknown', 'offer.type=unknown', 'context.zone=unknown'], 'an unknown input is only its unknown flags')
  const v = featureVector({
    member: { tier: 'Gold', rfm: { recencyDays: 3, frequency: 8, monetary: 120 }, affinities: { dairy: 0.9 }, history: { shown: 4, redeemed: 2 }, demographics: { ageRange: '36-45', incomeBracket: 6 } },
    offer: { category: 'Dairy, Juices & Snacks', discount: { kind: 'percent', value: 20 }, campaignType: 'dwell', popularity: 0.1 },
    context: { zoneKind: 'fridge', dwellSeconds: 12, hour: 18, weekday: 5 },
  })
  t.equal(v[at('member.tier=gold')], 1)
  t.equal(v[at('member.segment=high-value')], 1)
  t.equal(v[at('member.demo.age=36-45')], 1)
  t.equal(v[at('member.affinity')], Math.fround(0.9), 'dairy affinity meets the dairy offer')
  t.equal(v[at('offer.category=dairy-juices-snacks')], 1)
  t.equal(v[at('offer.discount.depth')], Math.fround(0.2))
  t.equal(v[at('context.zone=fridge')], 1)
  t.equal(v[at('context.weekend')], 1)
  for (const x of v) t.ok(Number.isFinite(x) && x >= -1 && x <= 1)
})

t.test('duration and the affinity profile', async (t) => {
  const v = featureVector({ member: { affinities: { dairy: 0.9, 'Bakery': 0.3, beer: 0.5 } }, offer: { category: 'bakery', durationDays: 30 }, context: {} })
  t.equal(v[at('member.profile=dairy-juices-snacks')], Math.fround(0.9))
  t.equal(v[at('member.profile=bakery')], Math.fround(0.3))
  t.equal(v[at('member.profile=miscellaneous')], Math.fround(0.5), 'an unknown category name counts as miscellaneous')
  t.equal(v[at('member.affinity')], Math.fround(0.3), 'the affinity to the offer\'s own category')
  t.equal(v[at('offer.duration.known')], 1)
  t.equal(v[at('offer.duration')], Math.fround(Math.log1p(30) / 6))
  t.equal(campaignDays({ from: '2026-11-01T00:00:00Z', to: '2026-11-15T12:00:00Z' }), 14.5)
  t.equal(campaignDays({ from: '2026-11-01T00:00:00Z' }), undefined)
  const misses: string[] = []
  vocabularyMisses({ member: { tier: 'Diamond', demographics: { ageRange: '25-34' }, affinities: { dairy: 1, beer: 1 } }, offer: { category: 'Dairy, Juices & Snacks', campaignType: 'TypeA', discount: { kind: 'coupon' as 'bogo' } }, context: { zoneKind: 'freezer' } }, (f, v) => misses.push(`${f}=${v}`))
  t.same(misses, ['member.tier=Diamond', 'member.demographics.ageRange=25-34', 'member.affinities=beer', 'offer.discount.kind=coupon', 'offer.campaignType=TypeA', 'context.zoneKind=freezer'])
  const none: string[] = []
  vocabularyMisses({ member: { tier: 'GOLD', affinities: { drinks: 1 } }, offer: { category: 'Restauarant', campaignType: 'mailer-y' }, context: { zoneKind: 'fridge' } }, (f) => none.push(f))
  t.same(none, [], 'case of the tier, aliases and AMExpert spellings are known')
})

t.test('vocabularies and segments', async (t) => {
  t.equal(categorySlug('Dairy, Juices & Snacks'), 'dairy-juices-snacks')
  t.equal(categorySlug('Restauarant'), 'restaurant', "AMExpert's spelling")
  t.equal(categorySlug('drinks'), 'dairy-juices-snacks')
  t.equal(categorySlug('something new'), 'miscellaneous')
  t.equal(rfmSegment({ recencyDays: 5, frequency: 6, monetary: 60 }), 'high-value')
  t.equal(rfmSegment({ recencyDays: 12, frequency: 3, monetary: 30 }), 'active')
  t.equal(rfmSegment({ recencyDays: 25, frequency: 2, monetary: 25 }), 'potential')
  t.equal(rfmSegment({ recencyDays: 45, frequency: 9, monetary: 900 }), 'dormant')
  t.equal(rfmSegment({ recencyDays: 20, frequency: 9, monetary: 10 }), undefined)
  t.same(localTime(Date.UTC(2026, 10, 23, 17, 30), 'Europe/Berlin'), { hour: 18, weekday: 0 }, 'store-local Monday 18:30')
})

t.test('trainer and gateway build identical vectors for the same inputs', async (t) => {
  const member: Member = { memberId: 'm-1', key: '11'.repeat(32), consent: { offers: true, location: true }, tier: 'silver', rfm: { recencyDays: 9, frequency: 4, monetary: 44 }, affinities: { dairy: 0.7, bakery: 0.2 }, demographics: { ageRange: '26-35', incomeBracket: 4, familySize: 3, children: 1, married: true, rented: false } }
  const campaigns: Campaign[] = [
    { id: 'c1', title: 'A', trigger: { kind: 'dwell', zone: 'fridge-dairy', seconds: 10 }, offer: { category: 'dairy', skus: ['a', 'b'], discount: { kind: 'percent', value: 20 } }, validMinutes: 30 },
    { id: 'c2', title: 'B', trigger: { kind: 'dwell', zone: 'fridge-dairy', seconds: 10 }, offer: { category: 'bakery', discount: { kind: 'bogo' } }, validMinutes: 30 },
  ]
  const ts = Date.UTC(2026, 10, 24, 9, 15)
  // trainer: the simulator's log line -> the adapter -> the trainer's matrix
  const lines = campaigns.map((campaign) => ({ ts, member, campaign, zoneKind: 'fridge', dwellSeconds: 12, timeZone: 'Europe/Berlin', redeemed: false }))
  const interactions = [...simlogInteractions(lines)].map((r) => ({ ...r, member: { ...r.member, history: { shown: 3, redeemed: 1 } } }))
  const trained = Dataset.fromInteractions(interactions).all().dense()
  // gateway: the ranker's features for the same member, campaigns and moment, captured at the model's input
  let captured: Float32Array | null = null
  const registry = { active: { version: 'x', scorer: { score: async (f: Float32Array, n: number) => { captured = f.slice(); return new Float32Array(n) } } } } as unknown as ModelRegistry
  await new Ranker(registry).rank(
    memberFeaturesOf(member, { shown: 3, redeemed: 1 }),
    campaigns.map((c) => offerFeaturesOf(c)),
    contextFeaturesOf({ zoneKind: 'fridge', dwellSeconds: 12, ts, timeZone: 'Europe/Berlin' }),
  )
  t.ok(captured)
  t.same([...captured!], [...trained], 'bit for bit')
  const direct = new Float32Array(FEATURE_DIM)
  buildFeatures({ member: memberFeaturesOf(member), offer: offerFeaturesOf(campaigns[0]!), context: {} }, direct)
  t.not(direct[at('member.history.known')], 1, 'history comes from the caller, not the member resource')
})
