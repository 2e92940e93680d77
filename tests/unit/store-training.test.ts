/** Retraining from a store's own gateway database: offers as the gateway wrote them, holdout kept out, a model that learns the store's shoppers. */
import t from 'tap'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Campaign, Layout } from '../../edge/contract/resources.js'
import { exposureOp } from '../../edge/features/decider.js'
import { localTime } from '../../edge/recommend/inputs.js'
import { campaignUpsertOps, layoutOps, memberUpsertOps, offerIssuedOps } from '../../edge/storage/repos.js'
import { Store } from '../../edge/storage/store.js'
import type { WriteOp } from '../../edge/storage/writer.js'
import { population, redeemProbability } from '../../devices/simulator/population.js'
import { Rng } from '../../devices/simulator/rng.js'
import { storeInteractions, trainStore } from '../../models/train/store.js'

const dir = mkdtempSync(join(tmpdir(), 'aisle-store-train-'))
const TZ = 'Europe/Berlin'
const START = Date.UTC(2026, 9, 5, 7)

const layout: Layout = {
  zones: [{ id: 'fridge-dairy', kind: 'fridge', dwellSeconds: 12 }, { id: 'bakery', kind: 'counter' }, { id: 'aisle-3', kind: 'aisle', dwellSeconds: 8 }],
  anchors: [],
}
const c = (id: string, zone: string, category: string, discount: Campaign['offer']['discount'], kind: 'dwell' | 'enter' = 'dwell'): Campaign => ({ id, title: id, trigger: { kind, zone, ...(kind === 'dwell' ? { seconds: 10 } : {}) }, offer: { category, skus: [`sku-${id}`], discount }, validMinutes: 45, from: '2026-10-01T00:00:00Z', to: '2026-12-31T00:00:00Z' })
const campaigns = [
  c('yoghurt-20', 'fridge-dairy', 'dairy', { kind: 'percent', value: 20 }), c('cheese-bogo', 'fridge-dairy', 'dairy', { kind: 'bogo' }),
  c('bread-1', 'bakery', 'bakery', { kind: 'amount', value: 1 }), c('croissant-20', 'bakery', 'bakery', { kind: 'percent', value: 20 }, 'enter'),
  c('juice-25', 'aisle-3', 'drinks', { kind: 'percent', value: 25 }), c('crisps-10', 'aisle-3', 'grocery', { kind: 'percent', value: 10 }),
]

/** Six weeks of a store, written with the gateway's own write ops: offers, their redemptions, holdout exposures. */
async function buildDb(file: string): Promise<{ issued: number; redeemed: number; holdout: number; live: number }> {
  const store = await Store.open(file, { now: START })
  const people = population(900, 21)
  const rng = new Rng(4)
  const ops: WriteOp[] = [...layoutOps(layout, 'config', START)]
  for (const p of people) ops.push(...memberUpsertOps(p.member, 'crm', START, store.vault))
  for (const x of campaigns) ops.push(...campaignUpsertOps(x, 'config', START))
  await store.writeNow(ops)
  const holdout = new Set(people.filter(() => rng.chance(0.1)).map((p) => p.member.memberId))
  let n = 0, redeemed = 0, held = 0, newest = 0
  const lastDay: number[] = []
  const days = 42
  for (let day = 0; day < days; day++) {
    const unit: WriteOp[] = []
    for (const p of people) {
      if (!p.member.consent.offers || !rng.chance(Math.min(1, p.habits.visitsPerWeek / 7))) continue
      let ts = START + day * 86_400_000 + rng.int(0, 11) * 3_600_000
      for (const zone of layout.zones) {
        if (!rng.chance(0.5)) continue
        const campaign = rng.pick(campaigns.filter((x) => x.trigger.zone === zone.id))
        ts += rng.int(60_000, 300_000)
        if (holdout.has(p.member.memberId)) {
          unit.push(exposureOp({ memberId: p.member.memberId, campaignId: campaign.id, offerId: null, holdout: true, ts, until: ts + 45 * 60_000 }))
          held++
          continue
        }
        const offerId = `o-${++n}`
        newest = Math.max(newest, ts)
        unit.push(...offerIssuedOps({ offerId, campaignId: campaign.id, memberId: p.member.memberId, zone: zone.id, triggerKind: campaign.trigger.kind, code: `code-${n}`, title: campaign.title, body: '', day: String(day), issuedAt: ts, expiresAt: ts + 45 * 60_000, skus: [`sku-${campaign.id}`], value: 1 }, 'store-1', store.vault))
        unit.push(exposureOp({ memberId: p.member.memberId, campaignId: campaign.id, offerId, holdout: false, ts, until: ts + 45 * 60_000 }))
        const q = redeemProbability(p.habits, campaign, { dwellSeconds: zone.dwellSeconds ?? 10, hour: localTime(ts, TZ).hour })
        // the last day's offers are not redeemed (yet): those that expire after the newest record are still live
        if (day === days - 1) { lastDay.push(ts + 45 * 60_000); continue }
        if (rng.chance(q)) {
          redeemed++
          const at = ts + 20 * 60_000
          unit.push({ op: 'sql', sql: "UPDATE offers SET status = 'redeemed', redeemed_at = ? WHERE offer_id = ?", params: [at, offerId] })
          unit.push({ op: 'insert', table: 'redemptions', columns: ['ts', 'source', 'receipt_id', 'offer_id', 'campaign_id', 'outcome', 'code_tag'], row: [at, 'receipt:1', null, offerId, campaign.id, 'redeemed', 'code'] })
        }
      }
    }
    await store.writeNow(unit)
  }
  // the newest record: a decision 10 minutes after the last offer
  newest += 10 * 60_000
  await store.writeNow([{ op: 'insert', table: 'decisions', columns: ['ts', 'member_id', 'zone', 'trigger_kind', 'considered'], row: [newest, people[0]!.member.memberId, 'bakery', 'enter', '[]'] }])
  await store.close()
  return { issued: n, redeemed, holdout: held, live: lastDay.filter((e) => e > newest).length }
}

t.test('npm run train:store: the store\'s offers, holdout kept out, a model better than popularity', async (t) => {
  const db = join(dir, 'aisle.db')
  const built = await buildDb(db)
  const x = await storeInteractions(db, { timeZone: TZ })
  t.equal(x.counts.offers, built.issued, 'every issued offer is read')
  t.equal(x.counts.holdoutExposures, built.holdout, 'holdout exposures are counted and kept out')
  t.ok(built.live > 0)
  t.equal(x.counts.stillLive, built.live, 'offers still live have no outcome yet and are left out')
  t.equal(x.counts.used, built.issued - built.live)
  t.equal(x.counts.redeemed, built.redeemed)
  t.equal(x.interactions.filter((r) => r.redeemed).length, built.redeemed)
  t.ok(x.interactions.every((r) => r.offer.durationDays === 91), 'campaign duration from the campaign')
  const fridge = x.interactions.find((r) => r.campaignId === 'yoghurt-20')!
  t.same(fridge.context.zoneKind, 'fridge')
  t.equal(fridge.context.dwellSeconds, 12, 'a dwell decision fires at the zone threshold')
  t.equal(x.interactions.find((r) => r.campaignId === 'croissant-20')!.context.dwellSeconds, undefined, 'an enter trigger has no dwell')
  // the history is what the gateway knew: earlier offers, and those redeemed before this one was issued
  const byMember = new Map<string, typeof x.interactions>()
  for (const r of x.interactions) byMember.set(r.memberId, [...(byMember.get(r.memberId) ?? []), r])
  const list = [...byMember.values()].find((l) => l.length > 5)!
  t.equal(list[0]!.member.history, undefined)
  t.equal(list[3]!.member.history?.shown, 3)
  t.ok((list[3]!.member.history?.redeemed ?? 0) <= list.slice(0, 3).filter((r) => r.redeemed).length)

  const out = join(dir, 'out', 'store.onnx')
  const r = await trainStore({ db, timeZone: TZ, out, model: 'auto', name: 'store', seed: 1, quiet: true, bootstrap: 100 })
  t.same(readdirSync(join(dir, 'out')).sort(), ['store.md', 'store.onnx'])
  t.ok(r.onnxMaxAbsDiff <= 1e-5)
  t.match(r.split, /no member in both/)
  t.ok(r.model.auc > r.baselines.popularity.auc + 0.03, `AUC ${r.model.auc.toFixed(3)} against popularity ${r.baselines.popularity.auc.toFixed(3)}`)
  t.match(r.data[0], /holdout exposures kept out/)
})
