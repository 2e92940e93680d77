/**
 * 10,000+ hostile messages of many shapes, interleaved with good ones, published over MQTT to a running
 * gateway: every good one is processed, every bad one dead-lettered with the right reason, the gateway
 * keeps serving, and nothing hostile leaks (prototype pollution, MAC addresses in stored payloads).
 */
import t from 'tap'
import { startTestGateway } from '../helpers/gateway.js'
import { connect } from '../helpers/mqtt.js'
import { query } from '../helpers/db.js'
import { scrape, sample } from '../helpers/metrics.js'
import { waitFor } from '../helpers/net.js'
import { fuzzStream } from './hostile.js'

t.test('hostile stream', async (t) => {
  const tg = await startTestGateway()
  t.teardown(() => tg.close())
  const { gw } = tg
  const stream = fuzzStream(gw.prefix, 'fridge-dairy', 10_000, 7, () => tg.clock.now())
  const bad = stream.filter((m) => m.expect !== null)
  const good = stream.filter((m) => m.expect === null)
  t.ok(bad.length >= 10_000, `${bad.length} hostile messages`)
  t.ok(good.length > 5_000, `${good.length} good messages interleaved`)

  const dev = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
  t.teardown(() => dev.endAsync())
  for (let i = 0; i < stream.length; i += 500) {
    await Promise.all(stream.slice(i, i + 500).map((m) => dev.publishAsync(m.topic, m.payload, { qos: 1 })))
  }

  const total = stream.length
  await waitFor(async () => {
    const text = await scrape(gw.httpUrl)
    return sample(text, 'aisle_messages_total') >= total
  }, { timeoutMs: 60_000, what: 'all messages handled' })
  const text = await scrape(gw.httpUrl)
  t.equal(sample(text, 'aisle_messages_total', { outcome: 'ok' }), good.length, 'every good message processed')
  t.equal(sample(text, 'aisle_messages_total', { outcome: 'dead-letter' }), bad.length, 'every hostile message dead-lettered')

  const expected = new Map<string, number>()
  for (const m of bad) expected.set(m.expect!, (expected.get(m.expect!) ?? 0) + 1)
  for (const [reason, n] of expected) t.equal(sample(text, 'aisle_dead_letters_total', { reason }), n, `reason ${reason}: ${n}`)

  await gw.flush()
  const rows = await query<{ reason: string; n: number }>(gw.dbFile, 'SELECT reason, COUNT(*) AS n FROM dead_letters GROUP BY reason')
  const stored = new Map(rows.map((r) => [r.reason, r.n]))
  t.same(Object.fromEntries(stored), Object.fromEntries(expected), 'each dead letter stored with its reason')
  const outbox = await query<{ n: number }>(gw.dbFile, "SELECT COUNT(*) AS n FROM outbox WHERE stream = 'ops' AND event LIKE '%Dead-Lettered'")
  t.ok(outbox[0]!.n <= 1, `dead letters reach the ops stream as counts a minute, not one record each (${outbox[0]!.n} records for ${bad.length})`)

  const sizes = await query<{ maxlen: number }>(gw.dbFile, 'SELECT MAX(length(payload)) AS maxlen FROM dead_letters')
  t.ok(sizes[0]!.maxlen <= 512 + 64, 'stored payload excerpts are bounded')
  const leaks = await query<{ n: number }>(gw.dbFile, "SELECT COUNT(*) AS n FROM dead_letters WHERE CAST(payload AS TEXT) LIKE '%aabbccddeeff%'")
  t.equal(leaks[0]!.n, 0, 'no MAC address kept in dead letters')
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'no prototype pollution')

  // still serving
  const health = await fetch(`${gw.httpUrl}/healthz`)
  t.equal(health.status, 200)
  const devices = await (await fetch(`${gw.httpUrl}/v1/admin/devices`, { headers: { authorization: 'Bearer test-admin-token' } })).json() as { devices: { badMessages: number }[] }
  t.ok(devices.devices.some((d) => d.badMessages > 0), 'devices sending bad data are marked')
})

t.test('the dead-letter table stays bounded', async (t) => {
  const tg = await startTestGateway({ overlay: { ingest: { deadLetterMax: 100 } } })
  const { gw } = tg
  const dev = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
  await Promise.all(Array.from({ length: 600 }, (_, i) => dev.publishAsync(`${gw.prefix}/ble/scn-x`, `garbage ${i}`, { qos: 1 })))
  await dev.endAsync()
  await waitFor(async () => sample(await scrape(gw.httpUrl), 'aisle_dead_letters_total') >= 600, { what: 'dead letters counted' })
  const file = gw.dbFile
  await tg.gw.stop()
  const rows = await query<{ n: number; maxid: number }>(file, 'SELECT COUNT(*) AS n, MAX(id) AS maxid FROM dead_letters')
  t.ok(rows[0]!.n <= 100, `kept ${rows[0]!.n} of 600`)
  t.equal(rows[0]!.maxid, 600, 'the newest are kept')
  const ops = await query<{ properties: string }>(file, "SELECT properties FROM outbox WHERE stream = 'ops' AND event = 'Messages Dead-Lettered'")
  t.equal(ops.length, 1, 'one ops record for the minute, written at shutdown')
  const p = JSON.parse(ops[0]!.properties) as { total: number; byReason: Record<string, number>; samples: unknown[] }
  t.equal(p.total, 600, 'it counts all 600')
  t.equal(Object.values(p.byReason).reduce((a, b) => a + b, 0), 600, 'by reason')
  t.ok(p.samples.length > 0 && p.samples.length <= 5, 'with a few samples')
  await tg.close()
})
