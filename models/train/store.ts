/**
 * npm run train:store -- --db <gateway data>/aisle.db --out <file.onnx> [--timezone Europe/Berlin]
 *                         [--dwell-seconds 10] [--interactions <file.jsonl>] [--model auto] [--seed 1] [--quiet]
 *
 * Retrains the recommender from one store's own decisions: every offer the gateway issued becomes an
 * interaction, labelled by whether it was redeemed, described as the gateway described it when it decided
 * (the same input builders, edge/recommend/inputs.ts):
 * - member: the member resource the gateway holds, with the history it had at that moment (offers issued
 *   earlier at this store, and those of them redeemed before this one was issued);
 * - offer: the campaign (category, SKUs, discount, trigger, duration);
 * - context: the zone's kind from the store layout; for a dwell trigger the zone's dwell threshold (the
 *   dwell a dwell decision fires at; `--dwell-seconds` for zones without their own); hour and weekday of
 *   the decision in the store's time zone.
 * Kept out of training, and counted: the holdout group's exposures (they were shown nothing: they measure
 * uplift and must not teach the model), offers still live at the newest record (their outcome is not known
 * yet), and offers of campaigns or members the store no longer has. The trainer then holds out 20% of the
 * members for its test figures, as `npm run train` does. Reads the database read-only: it can run beside a
 * live gateway, or centrally on a copy.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Campaign, Layout, Member } from '../../edge/contract/resources.js'
import { contextFeaturesOf, memberFeaturesOf, offerFeaturesOf } from '../../edge/recommend/inputs.js'
import { Db } from '../../edge/storage/db.js'
import { writeInteractions, type Interaction } from '../interactions.js'
import { runTraining, type Args, type TrainingReport } from './cli.js'

export interface StoreExtract {
  interactions: Interaction[]
  counts: { offers: number; used: number; redeemed: number; holdoutExposures: number; stillLive: number; unknownCampaign: number; unknownMember: number; asOf: string | null }
}

/** The store's issued offers as interactions (see above). */
export async function storeInteractions(dbFile: string, o: { timeZone: string; dwellSeconds?: number }): Promise<StoreExtract> {
  const db = await Db.open(dbFile, { readonly: true })
  try {
    const layout = (await db.get<{ body: string }>('SELECT body FROM layout WHERE id = 1'))
    const zones = new Map((layout ? (JSON.parse(layout.body) as Layout).zones : []).map((z) => [z.id, z]))
    const campaigns = new Map((await db.all<{ id: string; body: string }>('SELECT id, body FROM campaigns')).map((r) => [r.id, JSON.parse(r.body) as Campaign]))
    const members = new Map((await db.all<{ member_id: string; body: string }>('SELECT member_id, body FROM members')).map((r) => [r.member_id, JSON.parse(r.body) as Member]))
    const newest = (await db.get<{ t: number | null }>('SELECT MAX(t) AS t FROM (SELECT MAX(ts) AS t FROM decisions UNION ALL SELECT MAX(ts) FROM receipts UNION ALL SELECT MAX(ts) FROM redemptions UNION ALL SELECT MAX(issued_at) FROM offers)'))?.t ?? null
    const holdoutExposures = (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM exposures WHERE holdout = 1'))?.n ?? 0
    const offers = await db.all<{ offer_id: string; campaign_id: string; member_id: string; zone: string | null; trigger_kind: string; issued_at: number; expires_at: number; status: string; redeemed_at: number | null; redeemed: number }>(
      `SELECT o.offer_id, o.campaign_id, o.member_id, o.zone, o.trigger_kind, o.issued_at, o.expires_at, o.status, o.redeemed_at,
              (o.status = 'redeemed' OR o.redeemed_at IS NOT NULL OR EXISTS (SELECT 1 FROM redemptions r WHERE r.offer_id = o.offer_id AND r.outcome = 'redeemed')) AS redeemed
         FROM offers o
        WHERE o.offer_id NOT IN (SELECT offer_id FROM exposures WHERE holdout = 1 AND offer_id IS NOT NULL)
        ORDER BY o.member_id, o.issued_at, o.offer_id`)
    const counts: StoreExtract['counts'] = { offers: offers.length, used: 0, redeemed: 0, holdoutExposures, stillLive: 0, unknownCampaign: 0, unknownMember: 0, asOf: newest === null ? null : new Date(newest).toISOString() }
    const out: Interaction[] = []
    let member = ''
    let earlier: { issuedAt: number; redeemedAt: number | null }[] = []
    for (const r of offers) {
      if (r.member_id !== member) { member = r.member_id; earlier = [] }
      const shownBefore = earlier.length
      const redeemedBefore = earlier.filter((e) => e.redeemedAt !== null && e.redeemedAt < r.issued_at).length
      const redeemed = r.redeemed === 1
      earlier.push({ issuedAt: r.issued_at, redeemedAt: redeemed ? (r.redeemed_at ?? r.expires_at) : null })
      const c = campaigns.get(r.campaign_id)
      const m = members.get(r.member_id)
      if (!redeemed && newest !== null && r.expires_at > newest) { counts.stillLive++; continue }
      if (!c) { counts.unknownCampaign++; continue }
      if (!m) { counts.unknownMember++; continue }
      const zone = r.zone === null ? undefined : zones.get(r.zone)
      out.push({
        ts: new Date(r.issued_at).toISOString(),
        memberId: r.member_id,
        campaignId: r.campaign_id,
        offerId: r.campaign_id,
        member: memberFeaturesOf(m, shownBefore > 0 ? { shown: shownBefore, redeemed: redeemedBefore } : undefined),
        offer: offerFeaturesOf(c),
        context: contextFeaturesOf({ zoneKind: zone?.kind, dwellSeconds: r.trigger_kind === 'dwell' ? zone?.dwellSeconds ?? o.dwellSeconds ?? 10 : undefined, ts: r.issued_at, timeZone: o.timeZone }),
        redeemed: redeemed ? 1 : 0,
      })
      counts.used++
      if (redeemed) counts.redeemed++
    }
    return { interactions: out, counts }
  } finally {
    await db.close()
  }
}

export interface StoreTrainingArgs extends Omit<Args, 'data' | 'eval'> { db: string; timeZone: string; dwellSeconds?: number; interactions?: string }

export async function trainStore(a: StoreTrainingArgs): Promise<TrainingReport & { store: StoreExtract['counts'] }> {
  const x = await storeInteractions(a.db, { timeZone: a.timeZone, ...(a.dwellSeconds !== undefined ? { dwellSeconds: a.dwellSeconds } : {}) })
  const log = a.log ?? ((m: string) => { if (!a.quiet) console.error(m) })
  const c = x.counts
  log(`${a.db}: ${c.offers} offers issued; ${c.used} used (${c.redeemed} redeemed); kept out: ${c.holdoutExposures} holdout exposures, ${c.stillLive} offers still live at ${c.asOf}, ${c.unknownCampaign} of campaigns and ${c.unknownMember} of members the store no longer has`)
  if (x.interactions.length === 0) throw new Error(`${a.db}: no issued offers with a known outcome to learn from`)
  const dir = a.interactions ? null : mkdtempSync(join(tmpdir(), 'aisle-store-'))
  const file = a.interactions ?? join(dir!, 'store.jsonl')
  try {
    await writeInteractions(file, x.interactions)
    const report = await runTraining({ ...a, data: [file], dataLabels: [`store decisions: ${a.db} (${c.used} offers issued up to ${c.asOf}, ${c.holdoutExposures} holdout exposures kept out)`] })
    return { ...report, store: c }
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const get = (k: string) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? argv[i + 1] : undefined }
  const db = get('db')
  const out = get('out')
  if (!db || !out || !out.endsWith('.onnx')) { console.error('usage: npm run train:store -- --db <aisle.db> --out <file.onnx> [--timezone Europe/Berlin] [--dwell-seconds 10] [--interactions <file.jsonl>] [--model auto] [--seed 1] [--quiet]'); process.exitCode = 2; return }
  try {
    const r = await trainStore({
      db: resolve(db), out, timeZone: get('timezone') ?? Intl.DateTimeFormat().resolvedOptions().timeZone, model: get('model') ?? 'auto', name: get('name') ?? 'store', seed: Number(get('seed') ?? 1), quiet: argv.includes('--quiet'),
      ...(get('dwell-seconds') ? { dwellSeconds: Number(get('dwell-seconds')) } : {}), ...(get('interactions') ? { interactions: get('interactions')! } : {}),
    })
    console.log(JSON.stringify(r, null, 2))
  } catch (err) {
    console.error(`train:store failed: ${(err as Error).message}`)
    process.exitCode = 1
  }
}

if (process.argv[1] && resolve(process.argv[1]).endsWith(join('train', 'store.ts'))) void main()
