/** npm run train:store on a database the real gateway wrote during a simulated store day. */
import t from 'tap'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, packageRoot } from '../../edge/config/load.js'
import { dayCampaigns, runDay, type DayOptions } from '../../devices/simulator/day.js'
import { population } from '../../devices/simulator/population.js'
import { storeInteractions, trainStore } from '../../models/train/store.js'

t.test('a simulated day\'s gateway database: every offer read, the holdout kept out, a model trained', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aisle-day-db-'))
  const demo = loadConfig({ file: join(packageRoot(), 'config', 'demo-store.json'), env: {} }).config
  const db = join(dir, 'aisle.db')
  const o: DayOptions = { members: 400, hours: 3, seed: 5, start: Date.UTC(2026, 10, 24, 8, 0), timeZone: 'Europe/Berlin', people: population(400, 5), campaigns: dayCampaigns(), layout: demo.layout, keepDb: db }
  const day = await runDay(o, 'rules')
  t.ok(existsSync(db))
  const x = await storeInteractions(db, { timeZone: o.timeZone })
  t.equal(x.counts.offers, day.offersIssued, `all ${day.offersIssued} issued offers are read`)
  t.equal(x.counts.holdoutExposures, day.holdout.exposures, `${day.holdout.exposures} holdout exposures kept out`)
  t.equal(x.counts.redeemed, day.offersRedeemed, 'redemptions as the gateway recorded them')
  t.equal(x.counts.used + x.counts.stillLive + x.counts.unknownCampaign + x.counts.unknownMember, x.counts.offers)
  t.equal(x.counts.unknownCampaign + x.counts.unknownMember, 0)
  const kinds = new Map(demo.layout.zones.map((z) => [z.id, z.kind]))
  t.ok(x.interactions.every((r) => r.context.zoneKind !== undefined && r.context.dwellSeconds !== undefined), 'dwell offers carry zone kind and dwell')
  t.ok(x.interactions.some((r) => r.member.history), 'members seen twice carry their history')
  t.ok([...kinds.values()].includes(x.interactions[0]!.context.zoneKind))
  const r = await trainStore({ db, timeZone: o.timeZone, out: join(dir, 'store.onnx'), model: 'lr', name: 'store', seed: 1, quiet: true, bootstrap: 50, maxInvalid: 0 })
  t.ok(r.onnxMaxAbsDiff <= 1e-5)
  t.equal(r.rows.fit + r.rows.validation + r.rows.test, x.counts.used)
  t.ok(existsSync(join(dir, 'store.md')))
})
