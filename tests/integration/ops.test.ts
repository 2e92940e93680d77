/** Operations endpoints: health, readiness, metrics names of CONTRACT section 8, OpenAPI, pages. */
import t from 'tap'
import { startTestGateway } from '../helpers/gateway.js'

const tg = await startTestGateway()
t.teardown(() => tg.close())
const { gw } = tg

t.test('healthz and readyz', async (t) => {
  const h = await fetch(`${gw.httpUrl}/healthz`)
  t.equal(h.status, 200)
  t.match(await h.json(), { status: 'ok' })
  const r = await fetch(`${gw.httpUrl}/readyz`)
  t.equal(r.status, 200)
  t.match(await r.json(), { ready: true, checks: { broker: { ok: true }, database: { ok: true }, model: { ok: true } } })
})

t.test('metrics carry the contract names', async (t) => {
  const r = await fetch(`${gw.httpUrl}/metrics`)
  t.match(r.headers.get('content-type'), /text\/plain/)
  const text = await r.text()
  for (const name of ['aisle_messages_total', 'aisle_dead_letters_total', 'aisle_dwell_events_total', 'aisle_offers_issued_total', 'aisle_offers_delivered_total', 'aisle_offers_redeemed_total', 'aisle_assist_requests_total', 'aisle_assist_seconds', 'aisle_outbox_backlog', 'aisle_event_loop_lag_seconds']) {
    t.match(text, new RegExp(`# TYPE ${name} `), name)
  }
})

t.test('OpenAPI documents the admin API', async (t) => {
  const page = await fetch(`${gw.httpUrl}/docs`)
  t.equal(page.status, 200)
  const spec = await (await fetch(`${gw.httpUrl}/docs/json`)).json() as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { securitySchemes: Record<string, unknown> } }
  t.match(spec.openapi, /^3\./)
  for (const p of ['/v1/admin/layout', '/v1/admin/presence', '/v1/admin/devices', '/v1/admin/members/{memberId}', '/v1/admin/campaigns/{id}', '/healthz', '/readyz']) t.ok(spec.paths[p], `documents ${p}`)
  t.ok(spec.paths['/v1/admin/layout']!['put'], 'PUT layout')
  t.ok(spec.components.securitySchemes['bearer'])
  const schemas = (spec.components as unknown as { schemas: Record<string, unknown> }).schemas
  for (const m of ['mqtt.in.BleMessage', 'mqtt.in.ReceiptMessage', 'mqtt.out.DwellEvent', 'ws.server.OfferFrame', 'ws.app.RangingFrame']) t.ok(schemas[m], `documents message ${m}`)
})

t.test('pages', async (t) => {
  for (const p of ['/', '/app']) {
    const r = await fetch(`${gw.httpUrl}${p}`)
    t.equal(r.status, 200, p)
    t.match(r.headers.get('content-type'), /text\/html/)
  }
})
