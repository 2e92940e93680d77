/** A simulated store day through the real gateway, short: both modes run and their figures hold together. */
import t from 'tap'
import { join } from 'node:path'
import { loadConfig, packageRoot } from '../../edge/config/load.js'
import { dayCampaigns, runDay, type DayOptions } from '../../devices/simulator/day.js'
import { population } from '../../devices/simulator/population.js'

t.test('a two-hour day with 300 members under rule priority', async (t) => {
  const demo = loadConfig({ file: join(packageRoot(), 'config', 'demo-store.json'), env: {} }).config
  const o: DayOptions = { members: 300, hours: 2, seed: 3, start: Date.UTC(2026, 10, 24, 8, 0), timeZone: 'Europe/Berlin', people: population(300, 3), campaigns: dayCampaigns(), layout: demo.layout }
  const r = await runDay(o, 'rules')
  t.ok(r.memberVisits > 20, `${r.memberVisits} member visits`)
  t.ok(r.offersIssued > 10, `${r.offersIssued} offers`)
  t.ok(r.offersDelivered >= r.offersIssued * 0.9, 'offers reach the apps')
  t.ok(r.offersRedeemed > 0 && r.redemptionRate < 1, `redemption ${r.redemptionRate.toFixed(2)}`)
  t.ok(r.offersPerVisitingMemberPerDay <= 3, 'the member cap holds')
  t.ok(r.holdout.exposures > 0, 'the holdout group is exposed, not sent')
  t.equal(r.offered.exposures, r.offersIssued)
})
