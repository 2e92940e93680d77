/**
 * Nothing from outside is trusted for more than its sender may say (issue 11): a sensor cannot name a
 * member's pseudonym, a lane cannot redeem as another lane, a band cannot accept another band's call, a
 * member token cannot hold the gateway's sockets, MAC addresses are never stored or published, and floods
 * of attacker-chosen ids (subjects, open visits, bands, devices) leave memory bounded.
 */
import t from 'tap'
import mqtt from 'mqtt'
import { rpidAt, topics } from '../../edge/contract/index.js'
import { ManualClock } from '../../edge/core/clock.js'
import { MEMBER_KEY, TEST_ADMIN, startTestGateway } from '../helpers/gateway.js'
import { heardFor } from '../helpers/mqtt.js'
import { query } from '../helpers/db.js'
import { scrape, sample } from '../helpers/metrics.js'
import { sleep, waitFor } from '../helpers/net.js'
import { closedWithin, connectAs, measure, register, startSecureGateway } from '../helpers/secure.js'
import { wsConnect } from '../helpers/ws.js'

t.test('what devices say is checked against who they are', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 6, 1, 10, 0, 0))
  const tg = await startSecureGateway({ metrics: { token: 'metrics-token-0123456789' } }, { clock })
  t.teardown(() => tg.close())
  const P = tg.gw.prefix
  const metrics = async () => (await fetch(`${tg.gw.httpUrl}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789' } })).text()

  // /metrics needs its token
  t.equal((await fetch(`${tg.gw.httpUrl}/metrics`)).status, 401, '/metrics without its token')
  t.match(await metrics(), /aisle_mqtt_refusals_total/, 'with it')

  const obs = await connectAs(tg, 'it-observer', await register(tg, 'it-observer', 'observer'))
  t.teardown(() => obs.end(true))
  const published: string[] = []
  obs.on('message', (_topic, p) => published.push(String(p)))
  await obs.subscribeAsync(`${P}/events/#`)

  // a sensor naming a member's pseudonym (sniffed from P/events/dwell) to trigger offers: refused
  const scn = await connectAs(tg, 'scn-dairy', await register(tg, 'scn-dairy', 'scanner', 'fridge-dairy'))
  t.teardown(() => scn.end(true))
  await heardFor(scn, { prefix: P, scanner: 'scn-dairy', subject: (ts) => rpidAt(MEMBER_KEY, ts), clock, seconds: 3 })
  const pm = await waitFor(() => published.map((p) => (JSON.parse(p) as { subject?: string }).subject).find((s) => s?.startsWith('pm:')), { what: 'the member\'s pseudonym on P/events/dwell' })
  const tof = await connectAs(tg, 'tof-1', await register(tg, 'tof-1', 'sensor', 'fridge-dairy'))
  t.teardown(() => tof.end(true))
  await tof.publishAsync(topics.dwell(P, 'tof-1'), JSON.stringify({ zone: 'fridge-dairy', subject: pm, state: 'dwell', seconds: 30 }), { qos: 1 })
  await waitFor(async () => (await query(tg.gw.dbFile, "SELECT 1 FROM dead_letters WHERE reason = 'reserved-subject'")).length === 1, { what: 'the forged dwell dead-lettered' })
  await tg.gw.flush()
  t.same(await query(tg.gw.dbFile, "SELECT * FROM decisions WHERE trigger_kind = 'dwell'"), [], 'no decision, no offer for a member who was not there')

  // MAC addresses as subjects, in every form: refused, never stored, never published
  const macs = ['AA:BB:CC:DD:EE:21', 'aabbccddee22', 'aa-bb-cc-dd-ee-23', 'aabb.ccdd.ee24', 'mac:aabbccddee25']
  await scn.publishAsync(topics.ble(P, 'scn-dairy'), JSON.stringify(macs.map((id) => ({ id, rssi: -50, ts: clock.now() }))), { qos: 1 })
  await waitFor(async () => sample(await metrics(), 'aisle_dead_letters_total', { reason: 'mac-address' }) === 5, { what: 'five MAC subjects refused' })
  await tg.gw.flush()
  await sleep(200)
  const stored = JSON.stringify(await query(tg.gw.dbFile, 'SELECT * FROM dead_letters')) + JSON.stringify(await query(tg.gw.dbFile, 'SELECT * FROM dwell_sessions')) + published.join('')
  for (const m of macs) t.notOk(stored.toLowerCase().includes(m.toLowerCase().replace('mac:', '')), `${m} neither stored nor published`)
  const presence = await (await fetch(`${tg.gw.httpUrl}/v1/admin/presence`, { headers: { authorization: `Bearer ${TEST_ADMIN}` } })).text()
  t.notMatch(presence, /aabbccddee|AA:BB/i, 'nor tracked')

  // a lane redeeming as another lane, a band accepting another band's call: refused by the broker
  const lane = await connectAs(tg, 'lane-1', await register(tg, 'lane-1', 'lane'))
  const c1 = closedWithin(lane, 3000)
  lane.publish(topics.receipt(P, 'lane-2'), JSON.stringify({ receiptId: 'r-x', items: [], total: 0, coupons: ['A'.repeat(44)] }), { qos: 1 })
  t.ok(await c1, 'a lane publishing another lane\'s receipt is disconnected')
  await t.rejects(connectAs(tg, 'lane-invented', 'x'), /bad user name or password|Connection refused/i, 'an invented lane cannot connect at all')
  const b1 = await connectAs(tg, 'b-1', await register(tg, 'b-1', 'band'))
  const c2 = closedWithin(b1, 3000)
  b1.publish(topics.bandAck(P, 'b-2'), JSON.stringify({ alertId: 'x.0', action: 'accept' }), { qos: 1 })
  t.ok(await c2, 'a band acknowledging another band\'s alert is disconnected')
  await t.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${tg.gw.mqttPort}`, { reconnectPeriod: 0 }), /Not authorized|Connection refused/i, 'a fake band without credentials is refused')
  await tg.gw.flush()
  t.same(await query(tg.gw.dbFile, "SELECT * FROM receipts WHERE receipt_id = 'r-x'"), [], 'the forged receipt was never taken')

  // one member token, fifty app sockets: at most four stay open
  const token = await tg.gw.memberToken('m-1')
  const apps = Array.from({ length: 50 }, () => wsConnect(`${tg.gw.httpUrl.replace('http', 'ws')}/v1/member/ws`, token))
  await Promise.all(apps.map((a) => a.opened.catch(() => {})))
  await waitFor(() => apps.filter((a) => a.ws.readyState === a.ws.OPEN).length <= 4, { what: 'at most 4 sockets per member' })
  const closed = await Promise.all(apps.filter((a) => a.ws.readyState !== a.ws.OPEN).map((a) => a.closed))
  t.ok(closed.every((c) => c.code === 4008), 'the older ones were closed (4008), the newest stay')
  for (const a of apps) a.close()
})

t.test('floods of attacker-chosen ids leave memory bounded (a lab gateway: anonymous clients, the worst case)', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 6, 1, 12, 0, 0))
  const tg = await startTestGateway({ clock, overlay: { presence: { maxSubjects: 5000 }, assist: { maxBands: 200 } } })
  t.teardown(() => tg.close())
  const P = tg.gw.prefix
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${tg.gw.mqttPort}`, { reconnectPeriod: 0 })
  t.teardown(() => c.endAsync())
  const blast = async (n: number, msg: (i: number) => [string, string]) => {
    for (let i = 0; i < n; i += 1000) await Promise.all(Array.from({ length: Math.min(1000, n - i) }, (_, j) => { const [topic, payload] = msg(i + j); return c.publishAsync(topic, payload, { qos: 1 }) }))
    await tg.gw.flush()
  }
  const m = async () => scrape(tg.gw.httpUrl)

  // 60,000 dwell reports of made-up subjects that never exit
  const dwell = await measure(() => blast(60_000, (i) => [topics.dwell(P, 'tof-x'), JSON.stringify({ zone: 'fridge-dairy', subject: `watch:${i}`, state: 'dwell', seconds: 12 })]))
  t.ok(dwell.heapMB < 40, `open visits bounded: heap +${dwell.heapMB.toFixed(1)} MB after 60k dwell reports, event loop max ${dwell.lagMaxMs.toFixed(0)} ms`)

  // 30,000 made-up subjects heard by a scanner
  const subjects = await measure(() => blast(30_000, (i) => [topics.ble(P, 'scn-dairy'), JSON.stringify({ id: `tag:${i}`, rssi: -60, ts: clock.now() })]))
  const text = await m()
  t.ok(sample(text, 'aisle_presence_subjects') <= 5000 + 50, `subjects tracked capped (${sample(text, 'aisle_presence_subjects')})`)
  t.ok(sample(text, 'aisle_presence_subjects_refused') > 0, 'the rest counted')
  t.ok(subjects.heapMB < 40, `heap +${subjects.heapMB.toFixed(1)} MB after 30k made-up subjects`)

  // 20,000 made-up bands reporting for duty
  const bands = await measure(() => blast(20_000, (i) => [topics.bandStatus(P, `fake-${i}`), JSON.stringify({ clerkId: `c-${i}`, onShift: true, battery: 90, ts: clock.now() })]))
  const assist = await (await fetch(`${tg.gw.httpUrl}/v1/admin/assist`, { headers: { authorization: `Bearer ${TEST_ADMIN}` } })).text()
  const listed = (JSON.parse(assist) as { bands: unknown[] }).bands.length
  t.ok(listed <= 200, `bands tracked capped (${listed}); GET /v1/admin/assist is ${(assist.length / 1024).toFixed(0)} KB`)
  t.ok(bands.heapMB < 30, `heap +${bands.heapMB.toFixed(1)} MB after 20k made-up bands`)

  // 15,000 made-up scanners: the device registry stays bounded, and the store's own placed scanners stay known
  const devs = await measure(() => blast(15_000, (i) => [topics.ble(P, `junk-${i}`), JSON.stringify({ id: 'x:1', rssi: -70 })]))
  const devices = (await (await fetch(`${tg.gw.httpUrl}/v1/admin/devices`, { headers: { authorization: `Bearer ${TEST_ADMIN}` } })).json()) as { devices: { id: string }[] }
  t.ok(devices.devices.length <= 10_000, `device registry capped (${devices.devices.length})`)
  t.ok(devs.heapMB < 40, `heap +${devs.heapMB.toFixed(1)} MB after 15k made-up scanners`)
  t.ok(Math.max(dwell.lagMaxMs, subjects.lagMaxMs, bands.lagMaxMs, devs.lagMaxMs) < 500, 'the event loop kept turning')
})
