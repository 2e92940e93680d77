/**
 * A simulated store day, in virtual time, through the real gateway: hundreds of members with habits known
 * only to the simulator come and go, their phones are heard by the scanners, their apps hold a WebSocket,
 * they redeem (or not) at the till by their hidden habits; a holdout group gets nothing. The same day runs
 * twice, with campaign rule priority and with a recommender trained on the store's earlier weeks (from the
 * simulator's offer log, through the real training pipeline), and the figures are compared.
 *
 *   npm run sim:day -- [--members 400] [--hours 13] [--seed 7] [--json]
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Campaign, Layout } from '../../edge/contract/resources.js'
import { loadConfig, packageRoot, deepMerge } from '../../edge/config/load.js'
import { ManualClock } from '../../edge/core/clock.js'
import { createLogger } from '../../edge/core/log.js'
import { startGateway, type Gateway } from '../../edge/gateway.js'
import { categorySlug } from '../../edge/recommend/features.js'
import { localTime } from '../../edge/recommend/inputs.js'
import { Db } from '../../edge/storage/db.js'
import { simlogInteractions } from '../../models/adapters/simlog.js'
import { writeInteractions } from '../../models/interactions.js'
import { publishModel } from '../../models/publish.js'
import { runTraining } from '../../models/train/cli.js'
import { DevicePool, adminProvision } from './device-pool.js'
import { SimMemberApp } from './member-app.js'
import { offerLog } from './offer-log.js'
import { population, redeemProbability, type Habits, type SimShopper } from './population.js'
import { Rng } from './rng.js'
import { StoreSimulator, type Arrival, type Item, type ShopperBehaviour } from './store-sim.js'

const ZONE_CATEGORY: Record<string, string> = { 'fridge-dairy': 'dairy', drinks: 'drinks', bakery: 'bakery', produce: 'produce', electronics: 'electronics' }
const SKUS: Record<string, Item[]> = {
  dairy: [{ sku: 'sku-yog-001', qty: 1, price: 0.99 }, { sku: 'sku-mlk-003', qty: 1, price: 1.15 }, { sku: 'sku-chs-004', qty: 1, price: 3.49 }],
  drinks: [{ sku: 'sku-wat-010', qty: 2, price: 0.79 }, { sku: 'sku-jui-011', qty: 1, price: 2.49 }],
  bakery: [{ sku: 'sku-brd-200', qty: 1, price: 2.2 }, { sku: 'sku-crs-201', qty: 2, price: 0.9 }],
  produce: [{ sku: 'sku-app-100', qty: 1, price: 2.49 }, { sku: 'sku-ban-101', qty: 1, price: 1.29 }],
  electronics: [{ sku: 'sku-usb-500', qty: 1, price: 9.99 }, { sku: 'sku-bat-501', qty: 1, price: 4.99 }],
}

/** The store's campaigns: several per zone, so that choosing among them matters. */
/** the admin token the simulation registers its devices with (the gateway is its own, in-process) */
const SIM_ADMIN = `sim-${process.pid}-admin-token`

export function dayCampaigns(): Campaign[] {
  const c = (id: string, zone: string, category: string, skus: string[], discount: Campaign['offer']['discount'], seconds = 10, priority = 0): Campaign => ({
    id, title: id, trigger: { kind: 'dwell', zone, seconds }, offer: { category, skus, discount }, limits: { perMemberPerDay: 1 }, validMinutes: 45, priority,
  })
  return [
    c('yoghurt-20', 'fridge-dairy', 'dairy', ['sku-yog-001'], { kind: 'percent', value: 20 }, 10, 3),
    c('milk-050', 'fridge-dairy', 'dairy', ['sku-mlk-003'], { kind: 'amount', value: 0.5 }, 10, 2),
    c('cheese-bogo', 'fridge-dairy', 'dairy', ['sku-chs-004'], { kind: 'bogo' }, 10, 1),
    c('water-bogo', 'drinks', 'drinks', ['sku-wat-010'], { kind: 'bogo' }, 10, 2),
    c('juice-25', 'drinks', 'drinks', ['sku-jui-011'], { kind: 'percent', value: 25 }, 10, 1),
    c('bread-1', 'bakery', 'bakery', ['sku-brd-200'], { kind: 'amount', value: 1 }, 10, 2),
    c('croissant-20', 'bakery', 'bakery', ['sku-crs-201'], { kind: 'percent', value: 20 }, 10, 1),
    c('apples-15', 'produce', 'produce', ['sku-app-100'], { kind: 'percent', value: 15 }, 10, 2),
    c('bananas-030', 'produce', 'produce', ['sku-ban-101'], { kind: 'amount', value: 0.3 }, 10, 1),
    c('batteries-20', 'electronics', 'electronics', ['sku-bat-501'], { kind: 'percent', value: 20 }, 20, 2),
    c('usb-2', 'electronics', 'electronics', ['sku-usb-500'], { kind: 'amount', value: 2 }, 20, 1),
  ]
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z))

function behaviour(campaigns: Map<string, Campaign>, timeZone: string): ShopperBehaviour<Habits> {
  const taste = (h: Habits | undefined, zone: string) => (h ? h.taste[categorySlug(ZONE_CATEGORY[zone] ?? 'grocery')!] ?? 0 : 0)
  return {
    plan(_m, h, zones, rng) {
      const stops = [{ zone: 'entrance', seconds: rng.range(2, 5) }]
      for (const z of zones) {
        if (!ZONE_CATEGORY[z]) continue
        if (!rng.chance(sigmoid(-0.4 + 2 * taste(h, z)))) continue
        // shoppers linger where they like the goods
        stops.push({ zone: z, seconds: Math.min(120, Math.exp(2.3 + 0.6 * taste(h, z) + rng.gauss() * 0.5)) })
      }
      for (let i = stops.length - 1; i > 1; i--) { const j = 1 + Math.floor(rng.next() * i); [stops[i], stops[j]] = [stops[j]!, stops[i]!] }
      stops.push({ zone: 'checkout', seconds: rng.range(20, 45) })
      return stops
    },
    basket(_m, h, zone, rng) {
      const items = SKUS[ZONE_CATEGORY[zone] ?? '']
      if (!items || !rng.chance(sigmoid(-1.2 + 1.5 * taste(h, zone)))) return []
      return [{ ...rng.pick(items) }]
    },
    redeem(_m, h, offer, ctx, rng) {
      const c = campaigns.get(offer.campaignId)
      if (!c || !h) return null
      const q = redeemProbability(h, c, { dwellSeconds: ctx.dwellSeconds, hour: localTime(ctx.receivedAt, timeZone).hour })
      if (!rng.chance(q)) return null
      const sku = c.offer.skus?.[0]
      const item = Object.values(SKUS).flat().find((i) => i.sku === sku)
      return item ? { ...item } : null
    },
  }
}

export interface DayReport {
  mode: 'rules' | 'model'
  members: number
  visits: number
  memberVisits: number
  offersIssued: number
  offersDelivered: number
  offersRedeemed: number
  redemptionRate: number
  offersPerVisitingMemberPerDay: number
  offered: { exposures: number; converted: number; rate: number }
  holdout: { exposures: number; converted: number; rate: number }
  uplift: number
  wallSeconds: number
  campaigns: Record<string, { issued: number; redeemed: number }>
}

export interface DayOptions { members: number; hours: number; seed: number; start: number; timeZone: string; people: SimShopper[]; campaigns: Campaign[]; layout: Layout; /** copy the gateway's database here before its data folder is removed (for npm run train:store) */ keepDb?: string
  /** sync to a CRM (tests of CRM sync through a day): the gateway's `crm` settings */
  crm?: Record<string, unknown>
  /** told of the gateway once it runs, and called every simulated minute (housekeeping, faults, checks) */
  onGateway?: (gw: Gateway) => void
  everyMinute?: (now: number, gw: Gateway) => Promise<void>
  /** after the day, before the gateway stops */
  beforeStop?: (gw: Gateway) => Promise<void>
}

/** One day through a gateway: `modelDir` set = the recommender ranks, unset = rule priority. */
export async function runDay(o: DayOptions, mode: 'rules' | 'model', modelDir?: string): Promise<DayReport> {
  const t0 = performance.now()
  const dataDir = mkdtempSync(join(tmpdir(), `aisle-day-${mode}-`))
  const clock = new ManualClock(o.start)
  const { config } = loadConfig({
    env: {},
    overlay: deepMerge({}, {
      store: { id: 'sim', name: 'simulated store', timezone: o.timeZone },
      dataDir, http: { host: '127.0.0.1', port: 0 }, mqtt: { url: null, embedded: { host: '127.0.0.1', port: 0 } },
      layout: o.layout, members: o.people.map((p) => p.member), campaigns: o.campaigns,
      presence: { locator: 'strongest' },
      offers: { holdoutPercent: 10, caps: { perMemberPerDay: 3, perMemberPerWeek: 10 } },
      recommender: mode === 'model' ? { enabled: true, modelDir, model: 'store' } : { enabled: false },
      log: { level: 'silent' },
      ...(o.crm ? { crm: o.crm } : {}),
    }) as Record<string, unknown>,
  })
  const gw: Gateway = await startGateway({ config, clock, log: createLogger({ level: 'silent' }), envAdminToken: SIM_ADMIN })
  o.onGateway?.(gw)
  const rng = new Rng(o.seed)
  // arrivals: each member comes with the chance their habits give, around their favourite hour
  const schedule: Arrival<Habits>[] = []
  for (const p of o.people) {
    if (!p.member.consent.location || !rng.chance(Math.min(1, p.habits.visitsPerWeek / 7))) continue
    const hour = Math.max(0, Math.min(o.hours - 0.5, p.habits.hour - 8 + rng.gauss() * 1.5))
    schedule.push({ at: o.start + hour * 3_600_000, member: p.member, habits: p.habits })
  }
  for (let i = 0; i < o.hours * 12; i++) schedule.push({ at: o.start + rng.range(0, o.hours - 0.5) * 3_600_000, member: null })
  schedule.sort((a, b) => a.at - b.at)
  const campaigns = new Map(o.campaigns.map((c) => [c.id, c]))
  const sim = new StoreSimulator({ prefix: gw.prefix, layout: o.layout, members: [], shoppers: 0, seed: o.seed + 1, schedule, behaviour: behaviour(campaigns, o.timeZone) as ShopperBehaviour }, o.start)
  // the store's devices, registered through the admin API and each on its own connection (CONTRACT 7a)
  const pool = new DevicePool({ mqttUrl: `mqtt://127.0.0.1:${gw.mqttPort}`, prefix: gw.prefix, provision: adminProvision(gw.httpUrl, SIM_ADMIN), reconnect: false })
  const apps = o.people.filter((p) => p.member.consent.offers && p.member.consent.location).map((p) => new SimMemberApp({ httpUrl: gw.httpUrl, memberId: p.member.memberId, token: () => gw.memberToken(p.member.memberId, 48 * 3600), onOffer: (id, offer) => sim.offerReceived(id, offer) }))
  await Promise.all(apps.map((a) => a.start()))
  try {
    const end = o.start + o.hours * 3_600_000
    for (let now = o.start; now <= end; now += 1000) {
      clock.set(now)
      const msgs = sim.step(now)
      if (msgs.length) await Promise.all(msgs.map((m) => pool.publish(m.topic, m.payload, 1)))
      // let decisions and deliveries of this second settle
      await new Promise((r) => setImmediate(r))
      if (o.everyMinute && (now - o.start) % 60_000 === 0) await o.everyMinute(now, gw)
    }
    await new Promise((r) => setTimeout(r, 300))
    await gw.flush()
    await o.beforeStop?.(gw)
  } finally {
    for (const a of apps) a.stop()
    await pool.stop()
  }
  const db = await Db.open(gw.dbFile, { readonly: true })
  const offers = (await db.get<{ issued: number; delivered: number; redeemed: number; members: number }>("SELECT COUNT(*) AS issued, SUM(delivered_at IS NOT NULL) AS delivered, SUM(status = 'redeemed') AS redeemed, COUNT(DISTINCT member_id) AS members FROM offers"))!
  const exp = await db.all<{ holdout: number; n: number; converted: number }>('SELECT holdout, COUNT(*) AS n, SUM(converted_at IS NOT NULL) AS converted FROM exposures GROUP BY holdout')
  const byCampaign = await db.all<{ campaign_id: string; n: number; redeemed: number }>("SELECT campaign_id, COUNT(*) AS n, SUM(status = 'redeemed') AS redeemed FROM offers GROUP BY campaign_id ORDER BY campaign_id")
  await db.close()
  await gw.stop()
  if (o.keepDb) copyFileSync(gw.dbFile, o.keepDb)
  rmSync(dataDir, { recursive: true, force: true })
  const g = (h: number) => { const e = exp.find((x) => x.holdout === h); return { exposures: e?.n ?? 0, converted: e?.converted ?? 0, rate: e && e.n ? e.converted / e.n : 0 } }
  const memberVisits = schedule.filter((a) => a.member).length
  const offered = g(0)
  const holdout = g(1)
  return {
    mode, members: o.people.length, visits: schedule.length, memberVisits,
    offersIssued: offers.issued, offersDelivered: offers.delivered ?? 0, offersRedeemed: offers.redeemed ?? 0,
    redemptionRate: offers.issued ? (offers.redeemed ?? 0) / offers.issued : 0,
    offersPerVisitingMemberPerDay: memberVisits ? offers.issued / memberVisits : 0,
    offered, holdout, uplift: offered.rate - holdout.rate,
    wallSeconds: Math.round((performance.now() - t0) / 100) / 10,
    campaigns: Object.fromEntries(byCampaign.map((c) => [c.campaign_id, { issued: c.n, redeemed: c.redeemed }])),
  }
}

/** Train the store's model on its earlier weeks (the simulator's offer log, exploration policy). */
export async function trainStoreModel(o: DayOptions, weeks: number, dir: string): Promise<Record<string, unknown>> {
  const zoneKind = new Map(o.layout.zones.map((z) => [z.id, z.kind ?? 'aisle']))
  const log = [...offerLog({ members: o.people.length, days: weeks * 7, seed: o.seed + 100, start: o.start - weeks * 7 * 86_400_000, timeZone: o.timeZone, people: o.people, campaigns: o.campaigns.map((c) => ({ campaign: c, zoneKind: zoneKind.get(c.trigger.zone ?? '') ?? 'aisle' })) })]
  const file = join(dir, 'history.jsonl')
  await writeInteractions(file, simlogInteractions(log))
  const report = await runTraining({ data: [file], out: join(dir, 'store.onnx'), model: 'auto', name: 'store', seed: 1, quiet: true, dataLabels: [`simulator offer log: ${log.length} offers shown over ${weeks} weeks to ${o.people.length} members`] })
  await publishModel({ model: report.file, dir, name: 'store' })
  return report as unknown as Record<string, unknown>
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const num = (k: string, d: number) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? Number(argv[i + 1]) : d }
  const members = num('members', 400)
  const hours = num('hours', 13)
  const seed = num('seed', 7)
  const demo = loadConfig({ file: join(packageRoot(), 'config', 'demo-store.json'), env: {} }).config
  const timeZone = 'Europe/Berlin'
  const start = Date.UTC(2026, 10, 24, 7, 0, 0) // 08:00 in Berlin, a Tuesday
  const o: DayOptions = { members, hours, seed, start, timeZone, people: population(members, seed), campaigns: dayCampaigns(), layout: demo.layout }
  const dir = mkdtempSync(join(tmpdir(), 'aisle-day-model-'))
  try {
    const model = await trainStoreModel(o, 4, dir) as { model: { architecture: string; auc: number }; baselines: { logistic: { auc: number } } }
    console.error(`store model: ${model.model.architecture}, AUC ${model.model.auc.toFixed(3)} on held-out members (logistic ${model.baselines.logistic.auc.toFixed(3)})`)
    const rules = await runDay(o, 'rules')
    console.error(`rules: ${rules.wallSeconds} s`)
    const withModel = await runDay(o, 'model', dir)
    console.error(`model: ${withModel.wallSeconds} s`)
    if (argv.includes('--json')) { console.log(JSON.stringify({ model, rules, withModel }, null, 2)); return }
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`
    const rows: [string, (r: DayReport) => string][] = [
      ['member visits', (r) => String(r.memberVisits)],
      ['offers issued', (r) => String(r.offersIssued)],
      ['offers per visiting member', (r) => r.offersPerVisitingMemberPerDay.toFixed(2)],
      ['offers redeemed', (r) => String(r.offersRedeemed)],
      ['redemption rate', (r) => pct(r.redemptionRate)],
      ['offered: redeemed or bought', (r) => `${pct(r.offered.rate)} (${r.offered.converted}/${r.offered.exposures})`],
      ['holdout: bought', (r) => `${pct(r.holdout.rate)} (${r.holdout.converted}/${r.holdout.exposures})`],
      ['uplift against holdout', (r) => `${(100 * r.uplift).toFixed(1)} points`],
    ]
    console.log(`\nA simulated day: ${members} members, ${hours} h, seed ${seed}, holdout 10%\n`)
    console.log(`${''.padEnd(30)}${'rule priority'.padEnd(18)}recommender`)
    for (const [name, f] of rows) console.log(`${name.padEnd(30)}${f(rules).padEnd(18)}${f(withModel)}`)
    console.log('\nper campaign (issued / redeemed)')
    for (const id of o.campaigns.map((c) => c.id)) console.log(`  ${id.padEnd(28)}${`${rules.campaigns[id]?.issued ?? 0} / ${rules.campaigns[id]?.redeemed ?? 0}`.padEnd(18)}${withModel.campaigns[id]?.issued ?? 0} / ${withModel.campaigns[id]?.redeemed ?? 0}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] && resolve(process.argv[1]).endsWith('day.ts')) void main()
