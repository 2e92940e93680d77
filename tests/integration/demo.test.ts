/**
 * The demo store, as a newcomer gets it: the demo config and the store simulator publishing over MQTT as
 * real devices do. In virtual time, offers reach simulated members within a minute. Then the real command
 * (`node dist/edge/main.js --demo`) starts, prints its URLs, serves them and stops cleanly on Ctrl-C.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compile, BleSighting, BleSightingArray, EspresenseMessage, ReceiptMessage, ScanMessage, routeTopic } from '../../edge/contract/index.js'
import { loadConfig, packageRoot } from '../../edge/config/load.js'
import { ManualClock } from '../../edge/core/clock.js'
import { StoreSimulator } from '../../devices/simulator/store-sim.js'
import { SimMemberApp } from '../../devices/simulator/member-app.js'
import { startTestGateway } from '../helpers/gateway.js'
import { connect } from '../helpers/mqtt.js'
import { query } from '../helpers/db.js'
import { freePort, waitFor } from '../helpers/net.js'
import { hasDist, spawnGateway } from '../helpers/process.js'

const demoFile = join(packageRoot(), 'config', 'demo-store.json')
const demo = loadConfig({ file: demoFile, env: {} }).config

t.test('simulator output is valid contract traffic', async (t) => {
  const sim = new StoreSimulator({ prefix: 'aisle/demo', layout: demo.layout, members: demo.members, shoppers: 16, seed: 1, espresenseScanners: ['scn-bakery'], advScanners: ['scn-produce'] }, 0)
  const checks = { ble1: compile(BleSighting), bleN: compile(BleSightingArray), esp: compile(EspresenseMessage), receipt: compile(ReceiptMessage), scan: compile(ScanMessage) }
  const kinds = new Map<string, number>()
  for (let now = 0; now <= 20 * 60_000; now += 500) {
    for (const m of sim.step(now)) {
      const route = routeTopic('aisle/demo', m.topic)
      if (typeof route === 'string') { t.fail(`bad topic ${m.topic}`); continue }
      kinds.set(route.kind, (kinds.get(route.kind) ?? 0) + 1)
      const ok = route.kind === 'ble' ? (Array.isArray(m.payload) ? checks.bleN.check(m.payload) : checks.ble1.check(m.payload))
        : route.kind === 'espresense' ? checks.esp.check(m.payload)
          : route.kind === 'receipt' ? checks.receipt.check(m.payload)
            : route.kind === 'scan' ? checks.scan.check(m.payload) : false
      if (!ok) t.fail(`invalid ${route.kind}: ${JSON.stringify(m.payload).slice(0, 200)}`)
    }
  }
  for (const k of ['ble', 'espresense', 'receipt', 'scan']) t.ok((kinds.get(k) ?? 0) > 0, `publishes ${k} (${kinds.get(k)})`)
  t.ok(sim.stats.membersSpawned > 0 && sim.stats.receipts > 0)
})

t.test('demo store in virtual time: offers within a minute', async (t) => {
  const start = Date.UTC(2026, 10, 23, 10, 0, 0)
  const clock = new ManualClock(start)
  const tg = await startTestGateway({ clock, overlay: { store: demo.store, presence: demo.presence, layout: demo.layout, members: demo.members, campaigns: demo.campaigns, admin: { tokens: [] } } })
  t.teardown(() => tg.close())
  const { gw } = tg
  const sim = new StoreSimulator({ prefix: gw.prefix, layout: demo.layout, members: demo.members, shoppers: 16, seed: 42, espresenseScanners: ['scn-bakery'], advScanners: ['scn-produce'], firstStop: 'fridge-dairy' }, start)
  const apps = demo.members.filter((m) => m.consent.offers).map((m) => new SimMemberApp({ httpUrl: gw.httpUrl, memberId: m.memberId, token: () => gw.memberToken(m.memberId), onOffer: (id, o) => sim.offerReceived(id, o) }))
  await Promise.all(apps.map((a) => a.start()))
  t.teardown(() => apps.forEach((a) => a.stop()))
  const dev = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
  t.teardown(() => dev.endAsync())
  let firstOfferAt: number | null = null
  for (let now = start; now <= start + 90_000; now += 250) {
    clock.set(now)
    await Promise.all(sim.step(now).map((m) => dev.publishAsync(m.topic, JSON.stringify(m.payload), { qos: 1 })))
    if (firstOfferAt === null && apps.some((a) => a.received > 0)) firstOfferAt = now
    if (firstOfferAt !== null && now - firstOfferAt > 2000) break
  }
  t.ok(firstOfferAt !== null, 'a simulated member received an offer')
  t.ok(firstOfferAt! - start <= 60_000, `first offer after ${(firstOfferAt! - start) / 1000} s of store time`)
  await gw.flush()
  const offers = await query<{ campaign_id: string; status: string }>(gw.dbFile, 'SELECT campaign_id, status FROM offers')
  t.ok(offers.some((o) => o.campaign_id === 'dairy-10s'))
  await waitFor(async () => (await query<{ status: string }>(gw.dbFile, "SELECT status FROM offers WHERE status = 'seen'")).length > 0, { what: 'the app acked the offer' })
})

t.test('the demo command', { skip: hasDist() ? false : 'dist/ not built (npm run build)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aisle-demo-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const httpPort = await freePort()
  const mqttPort = await freePort()
  const child = spawnGateway(['--demo'], { AISLE_DATA_DIR: dir, AISLE_HTTP_PORT: String(httpPort), AISLE_MQTT_PORT: String(mqttPort), AISLE_LOG_LEVEL: 'warn' })
  t.teardown(() => { if (child.proc.exitCode === null) child.proc.kill('SIGKILL') })
  const banner = await waitFor(() => { const o = child.out.join(''); return o.includes('Ctrl-C stops it') ? o : undefined }, { timeoutMs: 20_000, what: 'the start banner' })
  for (const what of ['health:', 'OpenAPI:', 'member app:', 'console:', 'admin token:', 'simulator:']) t.match(banner, what)
  const appUrl = /member app:\s+(\S+)/.exec(banner)![1]!
  t.match(appUrl, new RegExp(`^http://localhost:${httpPort}/app\\?token=`))
  t.equal((await fetch(appUrl)).status, 200, 'the member app page opens')
  t.equal((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status, 200)
  const token = /admin token:\s+(\S+)/.exec(banner)![1]!
  const devices = await waitFor(async () => {
    const r = await fetch(`http://127.0.0.1:${httpPort}/v1/admin/devices`, { headers: { authorization: `Bearer ${token}` } })
    const b = await r.json() as { devices: { id: string }[] }
    return b.devices.some((d) => d.id === 'scn-dairy-1') ? b.devices : undefined
  }, { timeoutMs: 15_000, what: 'simulated devices publishing' })
  t.ok(devices.some((d) => d.id === 'scn-dairy-1'), 'the simulator feeds the gateway over MQTT')
  const bands = await waitFor(async () => {
    const r = await fetch(`http://127.0.0.1:${httpPort}/v1/admin/assist`, { headers: { authorization: `Bearer ${token}` } })
    const b = await r.json() as { bands: { band: string; status: string; zone: string | null }[] }
    return b.bands.filter((x) => x.status === 'available' && x.zone !== null).length === 4 ? b.bands : undefined
  }, { timeoutMs: 15_000, what: 'the simulated clerks on shift and located' })
  t.same(bands.map((b) => b.band).sort(), ['band-1', 'band-2', 'band-3', 'band-4'])
  child.proc.kill('SIGINT')
  t.equal(await child.exited, 0, 'Ctrl-C shuts down cleanly')
})
