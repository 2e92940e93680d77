/**
 * Nothing queued for the gateway is dropped. On an external broker the gateway keeps a persistent session
 * (clean: false, QoS 1): what devices publish while it is down (a receipt, a bad message) is delivered the
 * moment it reconnects, before it could subscribe again, and must be processed. (With the embedded broker
 * there is no broker while the gateway is down; ingest subscribes before the broker accepts any device.)
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { topics } from '../../edge/contract/index.js'
import { ManualClock } from '../../edge/core/clock.js'
import { startTestGateway } from '../helpers/gateway.js'
import { mosquittoBinary, startMosquitto } from '../helpers/mosquitto.js'
import { connect } from '../helpers/mqtt.js'
import { query } from '../helpers/db.js'
import { waitFor } from '../helpers/net.js'

t.test('20 QoS 1 messages published while the gateway is down are all processed', { skip: mosquittoBinary() ? false : 'mosquitto is not installed (apt-get install -y mosquitto); .ci/run installs it' }, async (t) => {
  const mosq = await startMosquitto()
  t.teardown(() => mosq.stop())
  const dataDir = mkdtempSync(join(tmpdir(), 'aisle-queued-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const clock = new ManualClock(Date.UTC(2026, 2, 3, 10, 0, 0))
  const opts = { mqttUrl: mosq.url, dataDir, clock, clientId: 'aisle-edge-queued-test' }
  const first = await startTestGateway(opts)
  await waitFor(() => first.gw.ready()['broker']?.ok, { what: 'connected with a persistent session' })
  await first.close()

  const dev = await connect(mosq.url, 'lane-1-device')
  const P = first.gw.prefix
  for (let i = 0; i < 10; i++) {
    await dev.publishAsync(topics.receipt(P, 'lane-1'), JSON.stringify({ receiptId: `r-${i}`, items: [{ sku: 'sku-1', qty: 1, price: 2 }], total: 2, ts: clock.now() }), { qos: 1 })
    await dev.publishAsync(topics.receipt(P, 'lane-1'), '{"receiptId": "broken"', { qos: 1 })
  }
  await dev.endAsync()

  const second = await startTestGateway(opts)
  t.teardown(() => second.close())
  await waitFor(async () => {
    await second.gw.flush()
    const r = await query<{ n: number }>(second.gw.dbFile, 'SELECT COUNT(*) AS n FROM receipts')
    const d = await query<{ n: number }>(second.gw.dbFile, "SELECT COUNT(*) AS n FROM dead_letters WHERE reason = 'bad-json'")
    return r[0]!.n === 10 && d[0]!.n === 10
  }, { what: '10 receipts and 10 dead letters', timeoutMs: 15_000 })
  t.pass('all 20 processed')
})
