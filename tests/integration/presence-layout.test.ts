/**
 * The default locator choice (`auto`) is made again when a layout arrives over PUT /v1/admin/layout: a gateway
 * started on a layout without geometry (the strongest anchor) places a shopper by position once it is sent zone
 * polygons and placed scanners, without a restart.
 */
import t from 'tap'
import type { Test } from 'tap'
import type { Layout } from '../../edge/contract/resources.js'
import { topics } from '../../edge/contract/topics.js'
import { ManualClock } from '../../edge/core/clock.js'
import { startTestGateway, TEST_ADMIN } from '../helpers/gateway.js'
import { connect, publishJson } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/net.js'

const rect = (x0: number, x1: number): [number, number][] => [[x0, 0], [x1, 0], [x1, 4], [x0, 4]]
/** two zones of 10 m; the scanner nearest the shopper at x = 13 stands in the fridge zone, at x = 9 */
const layout: Layout = {
  zones: [{ id: 'fridge-dairy', kind: 'fridge', dwellSeconds: 10, polygon: rect(0, 10) }, { id: 'bakery', kind: 'counter', polygon: rect(10, 20) }],
  anchors: [
    { id: 'scn-dairy', kind: 'scanner', zone: 'fridge-dairy', x: 0, y: 2 },
    { id: 'scn-mid', kind: 'scanner', zone: 'fridge-dairy', x: 9, y: 2 },
    { id: 'scn-bakery', kind: 'scanner', zone: 'bakery', x: 20, y: 2 },
  ],
}
const rssiAt = (x: number, ax: number) => Math.round(-59 - 18 * Math.log10(Math.max(1, Math.abs(x - ax))))

async function placedAfterLayout(t: Test, overlay: Record<string, unknown>): Promise<string | null> {
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0))
  const tg = await startTestGateway({ clock, overlay })
  t.teardown(() => tg.close())
  const { gw } = tg
  const auth = { authorization: `Bearer ${TEST_ADMIN}`, 'content-type': 'application/json' }
  const put = await fetch(`${gw.httpUrl}/v1/admin/layout`, { method: 'PUT', headers: auth, body: JSON.stringify(layout) })
  t.equal(put.status, 200, 'layout accepted')

  const dev = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
  t.teardown(() => dev.endAsync())
  // a shopper standing at x = 13 in the bakery: loudest at scn-mid (4 m, in the fridge zone), then scn-bakery (7 m)
  const t0 = clock.now()
  for (let i = 0; i <= 12; i++) {
    const ts = t0 + i * 500
    clock.set(ts)
    for (const [k, a] of layout.anchors.entries()) await publishJson(dev, topics.ble(gw.prefix, a.id), { id: 'watch:shopper', rssi: rssiAt(13, a.x!), ts: ts + k })
  }
  const placed = await waitFor(async () => {
    const r = await fetch(`${gw.httpUrl}/v1/admin/presence`, { headers: auth })
    const b = await r.json() as { subjects: { subject: string; zone: string | null }[] }
    return b.subjects.find((s) => s.zone !== null)
  }, { what: 'the shopper placed' })
  return placed.zone
}

t.test('PUT /v1/admin/layout: auto moves to the position tracker', async (t) => {
  t.equal(await placedAfterLayout(t, {}), 'bakery', 'placed by position, not by the loudest scanner (which stands in fridge-dairy)')
})

t.test('the same with the strongest anchor locator configured: the loudest scanner\'s zone', async (t) => {
  t.equal(await placedAfterLayout(t, { presence: { locator: 'strongest' } }), 'fridge-dairy')
})
