/**
 * Call for service end to end on the embedded broker: buttons, bands (status, location, alerts, acks),
 * the member app, SQLite and the outbox, the admin API and /metrics; with malformed acks and a band that
 * goes offline.
 */
import t, { type Test } from 'tap'
import type { MqttClient } from 'mqtt'
import { rpidAt, topics } from '../../edge/contract/index.js'
import { ManualClock } from '../../edge/core/clock.js'
import { startTestGateway, MEMBER_KEY, TEST_ADMIN, TEST_VIEWER, type TestGateway } from '../helpers/gateway.js'
import { connect, heardFor, publishJson } from '../helpers/mqtt.js'
import { query } from '../helpers/db.js'
import { scrape, sample } from '../helpers/metrics.js'
import { waitFor } from '../helpers/net.js'
import { wsConnect } from '../helpers/ws.js'

interface Alert { alertId: string; kind: string; zone: string; text: string; priority: number; ts: number }

const overlay = {
  layout: {
    zones: [
      { id: 'fridge-dairy', kind: 'fridge', dwellSeconds: 10 },
      { id: 'bakery', kind: 'counter', name: 'Bakery counter' },
      { id: 'electronics', kind: 'aisle' },
    ],
    anchors: [
      { id: 'scn-dairy', kind: 'scanner', zone: 'fridge-dairy', x: 0, y: 0, txPower: -59 },
      { id: 'scn-bakery', kind: 'scanner', zone: 'bakery', x: 20, y: 0, txPower: -59 },
      { id: 'scn-elec', kind: 'scanner', zone: 'electronics', x: 40, y: 0, txPower: -59 },
      { id: 'btn-bakery', kind: 'button', zone: 'bakery' },
    ],
  },
  assist: { supervisors: ['c-sup'], zones: [{ zone: 'electronics', afterSeconds: 30 }] },
}

async function setup(t: Test) {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0))
  const tg = await startTestGateway({ clock, overlay })
  t.teardown(() => tg.close())
  const dev = await connect(`mqtt://127.0.0.1:${tg.gw.mqttPort}`)
  t.teardown(() => dev.endAsync())
  const alerts: { band: string; alert: Alert }[] = []
  dev.on('message', (topic, payload) => {
    const m = /\/band\/([^/]+)\/alert$/.exec(topic)
    if (m) alerts.push({ band: m[1]!, alert: JSON.parse(payload.toString()) as Alert })
  })
  await dev.subscribeAsync(`${tg.gw.prefix}/band/+/alert`, { qos: 1 })
  return { clock, tg, dev, alerts, ...helpers(tg, dev, clock, alerts) }
}

function helpers(tg: TestGateway, dev: MqttClient, clock: ManualClock, alerts: { band: string; alert: Alert }[]) {
  const P = tg.gw.prefix
  const status = (band: string, clerkId: string, extra: Record<string, unknown> = {}) => publishJson(dev, topics.bandStatus(P, band), { clerkId, onShift: true, battery: 80, ts: clock.now(), ...extra })
  /** the band is heard by one zone's scanner for a few seconds (presence needs two locates) */
  const place = async (band: string, scanner: string) => {
    await heardFor(dev, { prefix: P, scanner, subject: `band:${band}`, clock, seconds: 2, rssi: -48 })
    clock.advance(1000)
  }
  const ack = (band: string, alertId: string, action: string) => publishJson(dev, topics.bandAck(P, band), { alertId, action, ts: clock.now() })
  const alertFor = (band: string, kind = 'assist') => waitFor(() => alerts.filter((a) => a.band === band && a.alert.kind === kind).pop(), { what: `a ${kind} alert on ${band}` })
  const api = async (path: string, token = TEST_VIEWER, init: RequestInit = {}) => {
    const r = await fetch(`${tg.gw.httpUrl}/v1/admin${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } })
    return { status: r.status, body: await r.json() as Record<string, unknown> }
  }
  const requestRow = (id?: string) => query<{ request_id: string; state: string; clerk_id: string | null; accepted_at: number | null; arrived_at: number | null; closed_at: number | null; close_reason: string | null; origin: string; member_id: string | null }>(tg.gw.dbFile, id ? 'SELECT * FROM assist_requests WHERE request_id = ?' : 'SELECT * FROM assist_requests ORDER BY created_at DESC LIMIT 1', id ? [id] : [])
  /** advance virtual time and wait for the gateway's tick to see it */
  const pass = async (ms: number) => {
    clock.advance(ms)
    await new Promise((r) => setTimeout(r, 700))
  }
  return { status, place, ack, alertFor, api, requestRow, pass }
}

t.test('a call button: the nearest clerk declines, the next accepts, walks over, arrives, done; recorded and measured', async (t) => {
  const h = await setup(t)
  await h.status('b1', 'c1')
  await h.status('b2', 'c2')
  await h.place('b1', 'scn-dairy')
  await h.place('b2', 'scn-bakery')
  await waitFor(async () => ((await h.api('/assist')).body.bands as { band: string; zone: string | null }[]).filter((b) => b.zone !== null).length === 2, { what: 'both bands located' })

  await publishJson(h.dev, topics.button(h.tg.gw.prefix, 'btn-bakery'), { action: 'call' })
  const first = await h.alertFor('b2')
  t.match(first.alert, { kind: 'assist', zone: 'bakery', priority: 1, text: 'Call button: Bakery counter' }, 'the clerk already in the bakery first, told the zone by its name')
  await h.ack('b2', first.alert.alertId, 'decline')
  const second = await h.alertFor('b1')
  t.equal(second.alert.zone, 'bakery')
  h.clock.advance(7000)
  await h.ack('b1', second.alert.alertId, 'accept')
  await waitFor(async () => (await h.requestRow())[0]?.state === 'accepted', { what: 'accepted' })
  h.clock.advance(20_000)
  await h.place('b1', 'scn-bakery')
  await waitFor(async () => (await h.requestRow())[0]?.state === 'arrived', { what: 'arrived' })
  h.clock.advance(60_000)
  await h.ack('b1', second.alert.alertId, 'done')
  const [row] = await waitFor(async () => { const r = await h.requestRow(); return r[0]?.state === 'done' ? r : null }, { what: 'done' })
  t.equal(row!.clerk_id, 'c1')
  t.equal(row!.close_reason, 'done')
  t.ok(row!.arrived_at! > row!.accepted_at!)

  const outbox = await query<{ stream: string; event: string; properties: string }>(h.tg.gw.dbFile, "SELECT stream, event, properties FROM outbox WHERE event LIKE 'Assist %' ORDER BY id")
  t.same(outbox.filter((o) => o.stream === 'crm').map((o) => o.event), ['Assist Requested', 'Assist Completed'], 'the contract events for the CRM')
  t.same(outbox.filter((o) => o.stream === 'ops').map((o) => o.event), ['Assist Offered', 'Assist Accepted', 'Assist Arrived'], 'the steps between for central IT')
  const done = JSON.parse(outbox.find((o) => o.event === 'Assist Completed')!.properties) as Record<string, unknown>
  t.match(done, { outcome: 'done', clerkId: 'c1', acceptSeconds: Number, arriveSeconds: Number, doneSeconds: Number, offers: 2, escalated: false })

  const one = await h.api(`/assist/${row!.request_id}`)
  t.equal(one.status, 200)
  t.same((one.body.events as { to: string | null }[]).filter((e) => e.to).map((e) => e.to), ['queued', 'offered', 'accepted', 'arrived', 'done'])
  t.ok((one.body.events as { kind: string; detail: string }[]).some((e) => e.kind === 'offer-ended' && /declined by b2/.test(e.detail)))
  const figures = await h.api('/assist/figures')
  t.match(figures.body, { requests: 1, byState: { done: 1 }, byZone: { bakery: { requests: 1 } }, byClerk: { c1: { requests: 1 } } })
  t.equal((figures.body.overall as { arrive: { count: number } }).arrive.count, 1)
  const text = await scrape(h.tg.gw.httpUrl)
  t.equal(sample(text, 'aisle_assist_requests_total', { state: 'done' }), 1)
  t.equal(sample(text, 'aisle_assist_seconds_count', { stage: 'arrive' }), 1)
  t.equal(sample(text, 'aisle_assist_zone_seconds_count', { stage: 'accept', zone: 'bakery' }), 1)
  t.equal(sample(text, 'aisle_assist_clerk_seconds_count', { stage: 'done', clerk: 'c1' }), 1)
  t.equal(sample(text, 'aisle_bands', { status: 'available' }), 2)
  t.equal((await h.api('/assist', 'nope')).status, 401)
})

t.test('the member app: call, live status, cancel; the clerk is told', async (t) => {
  const h = await setup(t)
  await h.status('b1', 'c1')
  await h.place('b1', 'scn-bakery')
  const app = wsConnect(`${h.tg.gw.httpUrl.replace('http', 'ws')}/v1/member/ws`, await h.tg.gw.memberToken('m-1'))
  t.teardown(() => app.close())
  await app.opened
  app.send({ type: 'assist' })
  await waitFor(() => app.frames.some((f) => (f as { type: string; error?: string }).error === 'no-zone'), { what: 'refused: not located' })
  // the member is at the fridge
  await heardFor(h.dev, { prefix: h.tg.gw.prefix, scanner: 'scn-dairy', subject: (ts) => rpidAt(MEMBER_KEY, ts), clock: h.clock, seconds: 2 })
  await waitFor(async () => ((await h.api('/presence')).body.subjects as { subject: string; zone: string | null }[]).some((x) => x.subject.startsWith('pm:') && x.zone === 'fridge-dairy'), { what: 'the member located' })
  app.send({ type: 'assist' })
  const alert = await h.alertFor('b1')
  t.equal(alert.alert.zone, 'fridge-dairy', 'sent where the member stands')
  t.match(alert.alert.text, /Customer asks for help/)
  await h.ack('b1', alert.alert.alertId, 'accept')
  const statuses = () => app.frames.filter((f) => (f as { type: string }).type === 'assist') as { status: string; state: string; requestId: string; zone?: string }[]
  await waitFor(() => statuses().some((f) => f.state === 'accepted'), { what: 'accepted frame' })
  t.same(statuses().map((f) => [f.status, f.state]), [['queued', 'queued'], ['queued', 'offered'], ['accepted', 'accepted']])
  t.equal(statuses()[0]!.zone, 'fridge-dairy')
  // reconnecting shows the open request
  const again = wsConnect(`${h.tg.gw.httpUrl.replace('http', 'ws')}/v1/member/ws`, await h.tg.gw.memberToken('m-1'))
  t.teardown(() => again.close())
  await waitFor(() => again.frames.some((f) => (f as { type: string; state?: string }).state === 'accepted'), { what: 'status on connect' })
  app.send({ type: 'assist', action: 'cancel' })
  await h.alertFor('b1', 'cancelled')
  await waitFor(() => statuses().some((f) => f.state === 'cancelled' && f.status === 'done'), { what: 'cancelled frame' })
  await h.tg.gw.flush()
  const [row] = await h.requestRow()
  t.equal(row!.state, 'cancelled')
  t.equal(row!.member_id, 'm-1')
  t.match(row!.origin, /^pm:/, 'stored under the pseudonym, not the member id')
  app.send({ type: 'assist', action: 'cancel' })
  await waitFor(() => app.frames.some((f) => (f as { error?: string }).error === 'no-open-request'), { what: 'nothing to cancel' })

  // erasure removes the link to the member
  t.equal((await h.api('/members/m-1', TEST_ADMIN, { method: 'DELETE' })).status, 200)
  const [erased] = await h.requestRow(row!.request_id)
  t.equal(erased!.member_id, null)
  t.equal(erased!.origin, 'erased')
})

t.test('robustness: malformed and unknown acks, a flooding button, a band that goes offline mid-request', async (t) => {
  const h = await setup(t)
  await h.status('b1', 'c1')
  await h.status('b2', 'c2')
  await h.place('b1', 'scn-bakery')
  await h.place('b2', 'scn-elec')
  const P = h.tg.gw.prefix
  // malformed acks are dead-lettered; unknown alerts are counted
  await publishJson(h.dev, topics.bandAck(P, 'b1'), '{"alertId":')
  await publishJson(h.dev, topics.bandAck(P, 'b1'), { alertId: 'x', action: 'explode' })
  await publishJson(h.dev, topics.bandAck(P, 'b1'), { alertId: 'no-such-alert', action: 'accept' })
  await publishJson(h.dev, topics.bandStatus(P, 'b1'), { battery: 250 })
  await waitFor(async () => (await query<{ n: number }>(h.tg.gw.dbFile, "SELECT COUNT(*) AS n FROM dead_letters WHERE topic LIKE '%/band/%'"))[0]!.n === 3, { what: 'three dead letters' })
  await waitFor(async () => sample(await scrape(h.tg.gw.httpUrl), 'aisle_assist_acks_ignored_total', { reason: 'unknown-alert' }) === 1, { what: 'unknown alert counted' })

  // a button pressed 300 times: one request, priority 3, the clerk alerted three times
  for (let i = 0; i < 300; i++) h.dev.publish(topics.button(P, 'btn-bakery'), '{"action":"call"}', { qos: 0 })
  await waitFor(async () => (await query<{ presses: number }>(h.tg.gw.dbFile, 'SELECT presses FROM assist_requests'))[0]?.presses === 3, { what: 'presses recorded' })
  await new Promise((r) => setTimeout(r, 300))
  const rows = await query<{ n: number; priority: number }>(h.tg.gw.dbFile, 'SELECT COUNT(*) AS n, MAX(priority) AS priority FROM assist_requests')
  t.same(rows[0], { n: 1, priority: 3 })
  t.same(h.alerts.filter((a) => a.band === 'b1').map((a) => a.alert.priority), [1, 2, 3])

  // b1 accepts, then its band goes silent before arriving... it is in the bakery already: use b2's zone
  const alert = h.alerts.find((a) => a.band === 'b1')!
  await h.ack('b1', alert.alert.alertId, 'accept')
  await waitFor(async () => (await h.requestRow())[0]?.state === 'arrived', { what: 'arrived at once' })
  await h.ack('b1', alert.alert.alertId, 'done')
  await waitFor(async () => (await h.requestRow())[0]?.state === 'done', { what: 'done' })

  // an app-less request in electronics: b2 (there) gets it; b1 keeps reporting, b2 goes silent after accepting
  await publishJson(h.dev, topics.scan(P, 'hand-1'), { code: 'call:fridge-dairy', kind: 'call' })
  const a2 = await waitFor(() => h.alerts.filter((a) => a.alert.zone === 'fridge-dairy').pop(), { what: 'shelf call alert' })
  await h.ack(a2.band, a2.alert.alertId, 'accept')
  await waitFor(async () => (await h.requestRow())[0]?.state === 'accepted', { what: 'accepted' })
  const other = a2.band === 'b1' ? 'b2' : 'b1'
  const clerkOf = (band: string) => `c${band.slice(1)}`
  for (let k = 0; k < 4; k++) {
    await h.pass(30_000)
    await h.status(other, clerkOf(other))
  }
  const [row] = await waitFor(async () => { const r = await h.requestRow(); return r[0]?.state === 'offered' ? r : null }, { what: 'requeued and offered again' })
  t.equal(row!.clerk_id, null)
  const again = await h.alertFor(other)
  t.equal(again.alert.zone, 'fridge-dairy')
  t.equal(again.alert.priority, 2, 'requeued with a higher priority')
  const events = await query<{ to_state: string; detail: string }>(h.tg.gw.dbFile, "SELECT to_state, detail FROM assist_events WHERE request_id = ? AND kind = 'transition' ORDER BY id", [row!.request_id])
  t.ok(events.some((e) => e.to_state === 'queued' && /no heartbeat/.test(e.detail)), 'the reason is recorded')
  // the silent band comes back and confirms its old alert: nobody has taken the request since, so it is theirs again
  await h.status(a2.band, clerkOf(a2.band))
  await h.ack(a2.band, a2.alert.alertId, 'accept')
  const [back] = await waitFor(async () => { const r = await h.requestRow(); return r[0]?.state === 'accepted' ? r : null }, { what: 'accepted again' })
  t.equal(back!.clerk_id, clerkOf(a2.band))
  await h.alertFor(other, 'taken')
  t.equal((await fetch(`${h.tg.gw.httpUrl}/healthz`)).status, 200)
})

t.test('the gateway calls a clerk for a member standing in electronics; supervisors get escalations', async (t) => {
  const h = await setup(t)
  await h.status('s1', 'c-sup')
  await h.place('s1', 'scn-dairy')
  await heardFor(h.dev, { prefix: h.tg.gw.prefix, scanner: 'scn-elec', subject: (ts) => rpidAt(MEMBER_KEY, ts), clock: h.clock, seconds: 35 })
  await waitFor(async () => (await h.requestRow())[0]?.state === 'queued', { what: 'a request from the gateway (queued: only a supervisor is on shift)' })
  const [row] = await h.requestRow()
  t.equal(row!.origin.startsWith('pm:'), true)
  for (let k = 0; k < 4; k++) {
    await h.status('s1', 'c-sup') // a heartbeat every 30 s, as bands send them
    await h.pass(30_000)
  }
  const esc = await h.alertFor('s1', 'escalation')
  t.equal(esc.alert.priority, 3)
  t.equal(esc.alert.zone, 'electronics')
  await h.ack('s1', esc.alert.alertId, 'accept')
  await waitFor(async () => (await h.requestRow())[0]?.state === 'accepted', { what: 'the supervisor took it' })
  const cancel = await h.api(`/assist/${row!.request_id}/cancel`, TEST_VIEWER, { method: 'POST' })
  t.equal(cancel.status, 403, 'cancelling needs an operator')
  const ok = await h.api(`/assist/${row!.request_id}/cancel`, TEST_ADMIN, { method: 'POST' })
  t.match(ok.body, { state: 'cancelled' })
  await h.alertFor('s1', 'cancelled')
})

t.test('a call button missing from the layout: a clerk is told the button id, and it is counted', async (t) => {
  const h = await setup(t)
  await h.status('b1', 'c1')
  await h.place('b1', 'scn-dairy')
  await publishJson(h.dev, topics.button(h.tg.gw.prefix, 'btn-unknown-7'), { action: 'call' })
  const a = await h.alertFor('b1')
  t.match(a.alert.text, /button btn-unknown-7 \(not placed in the layout/)
  await waitFor(async () => sample(await scrape(h.tg.gw.httpUrl), 'aisle_assist_unplaced_calls_total', { source: 'button' }) === 1, { what: 'counted' })
})
