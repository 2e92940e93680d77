/**
 * CRM sync through a simulated store day (after Azure IoT Edge's connectivity test): the demo store's traffic
 * for two hours while the CRM is down, then flapping (429 with Retry-After, 503, connections dropped after the
 * body), up, down again; then it recovers. Every event the gateway committed arrives, each once by messageId,
 * in commit order per stream, and the backlog drains.
 */
import t from 'tap'
import { join } from 'node:path'
import { crmSettings, startTestCrm } from '../helpers/crm.js'
import { loadConfig, packageRoot } from '../../edge/config/load.js'
import { dayCampaigns, runDay } from '../../devices/simulator/day.js'
import { population } from '../../devices/simulator/population.js'
import { waitFor } from '../helpers/net.js'

t.test('a two-hour day with the CRM down, flapping, up and down again; then everything arrives once, in order', async (t) => {
  const crm = await startTestCrm(t)
  const demo = loadConfig({ file: join(packageRoot(), 'config', 'demo-store.json'), env: {} }).config
  const people = population(200, 5)
  const campaigns = dayCampaigns()
  // the CRM holds what the store runs (it owns members and campaigns)
  for (const p of people) await crm.upsertMember('sim', p.member)
  for (const c of campaigns) await crm.putCampaign('sim', c)
  const committed: Record<string, string[]> = { crm: [], ops: [] }
  const seen = new Set<string>()
  const start = Date.UTC(2026, 10, 24, 8, 0)
  const phases: string[] = []
  const r = await runDay({
    members: 200, hours: 2, seed: 5, start, timeZone: 'Europe/Berlin', people, campaigns, layout: demo.layout,
    crm: crmSettings(crm),
    onGateway: (gw) => {
      // every outbox record the gateway commits, in commit order
      const write = gw.store.write.bind(gw.store)
      gw.store.write = async (unit) => {
        await write(unit)
        for (const op of unit) {
          if (op.op !== 'insert' || op.table !== 'outbox') continue
          const id = String(op.row[1])
          if (seen.has(id)) continue
          seen.add(id)
          committed[String(op.row[0])]!.push(id)
        }
      }
    },
    everyMinute: async (now, gw) => {
      const min = (now - start) / 60_000
      const phase = min < 30 ? 'down' : min < 50 ? 'flapping' : min < 70 ? 'up' : min < 95 ? 'down' : 'flapping'
      const entering = phase !== phases[phases.length - 1]
      if (entering) phases.push(phase)
      crm.faults.down = phase === 'down'
      // flapping: answers counted in batches, not in minutes (the simulated day runs faster than the drainer
      // retries), so they are all given whenever the gateway tries, and the test does not depend on timing
      if (entering && phase === 'flapping') Object.assign(crm.faults, { tooMany: { count: 3, retryAfterSeconds: 1 }, unavailable: 3, dropAfterBody: 2 })
      await gw.housekeep()
    },
    beforeStop: async (gw) => {
      crm.faults.down = false
      await waitFor(async () => (await crm.count()) >= committed['crm']!.length + committed['ops']!.length, { what: 'every committed event at the receiver', timeoutMs: 60_000, intervalMs: 200 })
      // and the gateway knows it: nothing left in its outbox (a batch stored by a receiver that then dropped the
      // connection is sent again, and de-duplicated there)
      await waitFor(async () => (await gw.store.get<{ n: number }>('SELECT (SELECT COUNT(*) FROM outbox) + (SELECT COUNT(*) FROM outbox_blocks) AS n'))?.n === 0, { what: 'the outbox drained', timeoutMs: 60_000, intervalMs: 200 })
      await gw.housekeep()
      await gw.flush()
    },
  }, 'rules')
  t.same(phases, ['down', 'flapping', 'up', 'down', 'flapping'], 'the CRM went through each phase')
  t.ok(r.offersIssued > 5, `${r.offersIssued} offers in the day`)
  t.ok(committed['crm']!.length > 100, `${committed['crm']!.length} CRM events committed`)
  const got = await crm.events({ stream: 'crm' })
  t.equal(got.length, committed['crm']!.length, 'each CRM event once at the receiver')
  t.same(got.map((e) => e.messageId), committed['crm'], 'in commit order')
  t.same((await crm.events({ stream: 'ops' })).map((e) => e.messageId), committed['ops'], 'the ops stream too')
  t.ok(crm.stats.duplicates > 0, `batches the receiver stored before dropping the connection were sent again with the same messageIds (${crm.stats.duplicates} de-duplicated)`)
  t.comment(`receiver answers: ${JSON.stringify(crm.stats.byStatus)}`)
  t.ok((crm.stats.byStatus['429'] ?? 0) > 0 && (crm.stats.byStatus['503'] ?? 0) > 0, 'through 429s and 503s')
  const kinds = new Set(got.map((e) => e.event))
  for (const k of ['Zone Dwelled', 'Offer Issued', 'Offer Delivered']) t.ok(kinds.has(k), `${k} among them`)
})
