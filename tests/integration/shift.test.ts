/** The shift simulation through the real gateway: clerks with bands, calls, both dispatch policies. */
import t from 'tap'
import { runShift, supermarketLayout, shiftLayout, VARIANTS } from '../../devices/simulator/shift.js'

t.test('an hour of calls under both policies: every request reaches a clerk, arrives and is closed', async (t) => {
  const o = { layout: shiftLayout(supermarketLayout()), clerks: 6, hours: 1, callsPerHour: 24, seed: 5, start: Date.UTC(2026, 10, 24, 8, 0, 0), timeZone: 'Europe/Berlin' }
  const broadcast = await runShift(o, VARIANTS.find((v) => v.policy === 'broadcast')!)
  const nearest = await runShift(o, VARIANTS.find((v) => v.name.includes('default'))!)
  for (const r of [broadcast, nearest]) {
    t.ok(r.calls >= 10, `${r.variant}: ${r.calls} calls`)
    t.ok(r.requests >= r.calls * 0.8 && r.requests <= r.calls, `${r.variant}: a repeated call joins its open request (${r.requests} of ${r.calls})`)
    t.same(Object.keys(r.byState), ['done'], `${r.variant}: every request was served and closed by its clerk`)
    t.equal(r.arrive.count, r.requests, `${r.variant}: each clerk's arrival was seen by presence`)
    t.ok(r.arrive.median! > 0 && r.arrive.p90! < 120, `${r.variant}: arrive median ${r.arrive.median} s, p90 ${r.arrive.p90} s`)
    t.ok(r.accept.median! <= r.arrive.median!, 'accepted before arriving')
  }
  // which policy is faster depends on the store and the load (README); what holds always:
  for (const r of [broadcast, nearest]) t.ok(r.alertsPerRequest >= 1, `${r.variant}: ${r.alertsPerRequest.toFixed(1)} band alerts a request`)
})
