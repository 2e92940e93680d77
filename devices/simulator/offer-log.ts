/**
 * The simulator's offer log: simulated members visit a store over days; when one stands at a zone, the
 * store shows a campaign for that zone picked at random (exploration: no model decides, so the log is fit
 * to learn from), and the member redeems it or not according to their hidden habits. One JSON line per
 * offer shown, in the simulator's own words (the member and campaign resources, zone kind, dwell, time);
 * models/adapters/simlog.ts turns it into interactions.
 *
 *   npm run sim:offer-log -- --members 400 --days 28 --out <file.jsonl>
 */
import { createWriteStream } from 'node:fs'
import { resolve } from 'node:path'
import type { Campaign, Member } from '../../edge/contract/resources.js'
import { localTime } from '../../edge/recommend/inputs.js'
import { population, redeemProbability, SIM_CATEGORIES, type SimShopper } from './population.js'
import { Rng } from './rng.js'

export interface OfferLogLine {
  ts: number
  member: Member
  campaign: Campaign
  zoneKind: string
  dwellSeconds: number
  timeZone: string
  redeemed: boolean
}

const ZONES: { kind: string; categories: readonly string[] }[] = [
  { kind: 'fridge', categories: ['dairy', 'meat'] },
  { kind: 'aisle', categories: ['drinks', 'grocery', 'pharmaceutical', 'produce'] },
  { kind: 'counter', categories: ['bakery', 'meat'] },
  { kind: 'assist', categories: ['electronics'] },
  { kind: 'checkout', categories: ['grocery', 'drinks'] },
]

/** A catalogue of campaigns across categories, discount kinds and depths. */
export function catalogue(rng: Rng): Campaign[] {
  const out: Campaign[] = []
  let n = 0
  for (const cat of SIM_CATEGORIES) {
    for (const [kind, value] of [['percent', 10], ['percent', 25], ['amount', 2], ['bogo', undefined]] as const) {
      n++
      out.push({
        id: `sim-c${n}`, title: `${cat} ${kind}`, trigger: { kind: rng.chance(0.7) ? 'dwell' : 'enter', zone: 'z', seconds: 10 },
        offer: { category: cat, skus: Array.from({ length: rng.int(1, 12) }, (_, i) => `sku-${cat}-${i}`), discount: { kind, ...(value !== undefined ? { value } : {}) } },
        validMinutes: 30,
      })
    }
  }
  return out
}

export interface OfferLogOptions {
  members: number
  days: number
  seed: number
  start: number
  timeZone: string
  /** the population (default: population(members, seed + 1)) */
  people?: SimShopper[]
  /** the store's campaigns and the kind of zone each is shown in (default: a catalogue across categories) */
  campaigns?: { campaign: Campaign; zoneKind: string }[]
}

/** Offers shown at random among the campaigns of the zone a member stands in (an exploration policy). */
export function* offerLog(opts: OfferLogOptions): Generator<OfferLogLine> {
  const rng = new Rng(opts.seed)
  const people = (opts.people ?? population(opts.members, opts.seed + 1)).filter((p) => p.member.consent.offers)
  const shown = opts.campaigns ?? catalogue(rng).map((campaign) => ({ campaign, zoneKind: ZONES.find((z) => z.categories.includes(campaign.offer.category ?? ''))!.kind }))
  const zoneKinds = [...new Set(shown.map((s) => s.zoneKind))]
  for (let day = 0; day < opts.days; day++) {
    for (const p of people) {
      if (!rng.chance(Math.min(1, p.habits.visitsPerWeek / 7))) continue
      const hour = Math.max(8, Math.min(20, Math.round(p.habits.hour + rng.gauss() * 2)))
      let ts = opts.start + day * 86_400_000 + hour * 3_600_000 + rng.int(0, 3_000_000)
      const stops = rng.int(1, 3)
      for (let s = 0; s < stops; s++) {
        const zoneKind = rng.pick(zoneKinds)
        const dwellSeconds = Math.round(Math.exp(rng.gauss() * 0.6) * 15)
        const campaign = rng.pick(shown.filter((x) => x.zoneKind === zoneKind)).campaign
        const zone = { kind: zoneKind }
        const { hour: localHour } = localTime(ts, opts.timeZone)
        const q = redeemProbability(p.habits, campaign, { dwellSeconds, hour: localHour })
        yield { ts, member: p.member, campaign, zoneKind: zone.kind, dwellSeconds, timeZone: opts.timeZone, redeemed: rng.chance(q) }
        ts += rng.int(60_000, 600_000)
      }
    }
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const get = (k: string, d?: string) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? argv[i + 1] : d }
  const out = get('out')
  if (!out) { console.error('usage: npm run sim:offer-log -- [--members 400] [--days 28] [--seed 11] --out <file.jsonl>'); process.exitCode = 2; return }
  const ws = createWriteStream(out)
  let n = 0
  let r = 0
  for (const line of offerLog({ members: Number(get('members', '400')), days: Number(get('days', '28')), seed: Number(get('seed', '11')), start: Date.UTC(2026, 9, 5), timeZone: 'Europe/Berlin' })) {
    if (!ws.write(`${JSON.stringify(line)}\n`)) await new Promise<void>((res) => ws.once('drain', () => res()))
    n++
    if (line.redeemed) r++
  }
  await new Promise<void>((res) => ws.end(() => res()))
  console.log(`${n} offers shown, ${r} redeemed (${((100 * r) / Math.max(1, n)).toFixed(1)}%), written to ${out}`)
}

if (process.argv[1] && resolve(process.argv[1]).endsWith('offer-log.ts')) void main()
