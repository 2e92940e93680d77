/**
 * AMExpert 2019 coupon redemption -> interactions. Read from ../shared/data at run time, never copied.
 *
 *   npm run adapt:amexpert -- [--data ../shared/data] --out <file.jsonl>
 *
 * One row per labelled (campaign, coupon, customer) of train.csv. The offer is the coupon: its category is the
 * most common category of the items it maps to, brandEstablished the share of established-brand items, items
 * how many; the campaign's X/Y type becomes mailer-x/mailer-y. The member gets the demographics where the
 * customer has them (703 of 1,428) and a history: coupons shown and redeemed in campaigns that ended before
 * this campaign started, with affinities from the categories of those earlier redemptions. The shown time is
 * the campaign's start, the duration its start to end. There is no in-store context in this data.
 */
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { categorySlug } from '../../edge/recommend/features.js'
import { writeInteractions, type Interaction } from '../interactions.js'

/** A small RFC 4180 reader: quoted fields ("Dairy, Juices & Snacks"), CRLF or LF. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') { field += '"'; i++ } else quoted = false
      } else field += ch
    } else if (ch === '"') quoted = true
    else if (ch === ',') { row.push(field); field = '' } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++
      row.push(field); rows.push(row); row = []; field = ''
    } else field += ch
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row) }
  return rows.filter((r) => r.length > 1 || r[0] !== '')
}

function table(dir: string, name: string): Record<string, string>[] {
  const [head, ...rows] = parseCsv(readFileSync(join(dir, name), 'utf8'))
  return rows.map((r) => Object.fromEntries(head!.map((h, i) => [h, r[i] ?? ''])))
}

/** dd/mm/yy -> epoch ms (UTC) */
const date = (s: string): number => {
  const [d, m, y] = s.split('/').map(Number)
  return Date.UTC(2000 + y!, m! - 1, d!)
}

export function amexpertInteractions(dataDir: string): Interaction[] {
  const dir = join(dataDir, 'amexpert-2019-coupon-redemption')
  const campaigns = new Map(table(dir, 'campaign_data.csv').map((c) => [c['campaign_id']!, { type: c['campaign_type']!, start: date(c['start_date']!), end: date(c['end_date']!) }]))
  const items = new Map(table(dir, 'item_data.csv').map((i) => [i['item_id']!, { category: i['category']!, established: i['brand_type'] === 'Established' }]))
  const couponItems = new Map<string, string[]>()
  for (const r of table(dir, 'coupon_item_mapping.csv')) couponItems.set(r['coupon_id']!, [...(couponItems.get(r['coupon_id']!) ?? []), r['item_id']!])
  const coupons = new Map<string, { category: string | undefined; established: number | undefined; items: number }>()
  for (const [coupon, list] of couponItems) {
    const cats = new Map<string, number>()
    let est = 0
    for (const id of list) {
      const it = items.get(id)
      if (!it) continue
      cats.set(it.category, (cats.get(it.category) ?? 0) + 1)
      if (it.established) est++
    }
    const top = [...cats].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0]
    coupons.set(coupon, { category: top, established: list.length ? est / list.length : undefined, items: list.length })
  }
  const demo = new Map(table(dir, 'customer_demographics.csv').map((d) => [d['customer_id']!, d]))
  const train = table(dir, 'train.csv')

  // history: per customer, rows of earlier campaigns (ended before this one started)
  const byCustomer = new Map<string, { end: number; redeemed: boolean; category: string | undefined }[]>()
  for (const r of train) {
    const c = campaigns.get(r['campaign_id']!)!
    byCustomer.set(r['customer_id']!, [...(byCustomer.get(r['customer_id']!) ?? []), { end: c.end, redeemed: r['redemption_status'] === '1', category: coupons.get(r['coupon_id']!)?.category }])
  }
  const num = (s: string | undefined) => (s === undefined || s === '' ? undefined : Number(s.replace('+', '')))

  return train.map((r): Interaction => {
    const c = campaigns.get(r['campaign_id']!)!
    const k = coupons.get(r['coupon_id']!)
    const d = demo.get(r['customer_id']!)
    const past = (byCustomer.get(r['customer_id']!) ?? []).filter((h) => h.end < c.start)
    const redeemedCats = past.filter((h) => h.redeemed && h.category).map((h) => categorySlug(h.category)!)
    const affinities: Record<string, number> = {}
    for (const cat of redeemedCats) affinities[cat] = (affinities[cat] ?? 0) + 1 / redeemedCats.length
    return {
      ts: new Date(c.start).toISOString(),
      memberId: `amx-${r['customer_id']}`,
      campaignId: `amx-c${r['campaign_id']}`,
      offerId: `amx-k${r['coupon_id']}`,
      member: {
        ...(d ? {
          demographics: {
            ageRange: d['age_range'] || undefined,
            incomeBracket: num(d['income_bracket']),
            familySize: num(d['family_size']),
            children: num(d['no_of_children']) ?? 0,
            married: d['marital_status'] === '' ? undefined : d['marital_status'] === 'Married',
            rented: d['rented'] === '' ? undefined : d['rented'] === '1',
          },
        } : {}),
        ...(past.length ? { history: { shown: past.length, redeemed: past.filter((h) => h.redeemed).length } } : {}),
        ...(redeemedCats.length ? { affinities } : {}),
      },
      offer: {
        category: k?.category,
        brandEstablished: k?.established,
        items: k?.items,
        campaignType: c.type === 'X' ? 'mailer-x' : 'mailer-y',
        durationDays: Math.round((c.end - c.start) / 86_400_000),
      },
      context: {},
      redeemed: r['redemption_status'] === '1' ? 1 : 0,
    }
  })
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const get = (k: string) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? argv[i + 1] : undefined }
  const out = get('out')
  if (!out) { console.error('usage: npm run adapt:amexpert -- [--data ../shared/data] --out <file.jsonl>'); process.exitCode = 2; return }
  const rows = amexpertInteractions(resolve(get('data') ?? '../shared/data'))
  const n = await writeInteractions(out, rows)
  console.log(`${n} interactions (${rows.filter((r) => r.redeemed).length} redeemed) written to ${out}`)
}

if (process.argv[1] && resolve(process.argv[1]).endsWith('amexpert.ts')) void main()
