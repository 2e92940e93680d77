/** The console's live stream (SSE): authenticated, a snapshot then deltas from the gateway's own events, and it ends cleanly at shutdown. */
import t from 'tap'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { ManualClock } from '../../edge/core/clock.js'
import { startTestGateway, TEST_VIEWER, TEST_OPERATOR } from '../helpers/gateway.js'
import { connect, heardFor, publishJson } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/net.js'

interface Ev { event: string; data: Record<string, unknown> }

async function openStream(url: string, token: string, signal: AbortSignal): Promise<{ status: number; events: Ev[]; done: Promise<void> }> {
  const res = await fetch(`${url}/v1/admin/live`, { headers: { authorization: `Bearer ${token}` }, signal })
  const events: Ev[] = []
  if (res.status !== 200) return { status: res.status, events, done: Promise.resolve() }
  const parser = createParser({ onEvent: (m: EventSourceMessage) => events.push({ event: m.event ?? 'message', data: JSON.parse(m.data) as Record<string, unknown> }) })
  const done = (async () => {
    const dec = new TextDecoder()
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(dec.decode(chunk, { stream: true }))
    } catch { /* aborted */ }
  })()
  return { status: res.status, events, done }
}

t.test('live stream: snapshot, presence and device deltas, roles, shutdown', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 2, 10, 9, 0, 0))
  const tg = await startTestGateway({ clock })
  let closed = false
  t.teardown(async () => { if (!closed) await tg.close() })
  const { gw } = tg
  const ac = new AbortController()
  t.teardown(() => ac.abort())

  t.equal((await fetch(`${gw.httpUrl}/v1/admin/live`)).status, 401, 'no token: 401')
  t.equal((await fetch(`${gw.httpUrl}/v1/admin/live`, { headers: { authorization: 'Bearer nope' } })).status, 401)
  const who = await (await fetch(`${gw.httpUrl}/v1/admin/whoami`, { headers: { authorization: `Bearer ${TEST_OPERATOR}` } })).json()
  t.same(who, { name: 'operator', role: 'operator' })

  const s = await openStream(gw.httpUrl, TEST_VIEWER, ac.signal)
  t.equal(s.status, 200)
  const snap = await waitFor(() => s.events.find((e) => e.event === 'snapshot'), { what: 'snapshot' })
  t.match(snap.data, { now: clock.now(), you: { name: 'viewer', role: 'viewer' }, store: { id: 'test' }, layout: { zones: [{ id: 'fridge-dairy' }, { id: 'bakery' }] } })
  t.match(snap.data['devices'], { devices: [], neverSeen: [{ id: 'scn-dairy', kind: 'scanner', zone: 'fridge-dairy', silent: false }, { id: 'scn-bakery', kind: 'scanner', zone: 'bakery' }] }, 'placed scanners never heard are listed')
  t.match(snap.data['health'], { checks: { database: { ok: true }, broker: { ok: true } }, sync: { backlog: 0 }, eventLoop: {}, database: {} })

  const dev = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
  t.teardown(() => dev.endAsync())
  await heardFor(dev, { prefix: gw.prefix, scanner: 'scn-dairy', subject: 'ibeacon:426c7565-4368-6172-6d42-6561636f6e73-7-7', clock, seconds: 4 })
  await waitFor(() => { gw.tick(); return s.events.some((e) => e.event === 'presence' && JSON.stringify(e.data).includes('"zone":"fridge-dairy"')) }, { what: 'a presence delta', timeoutMs: 8000 })
  t.pass('the subject shows up in a presence delta')
  const devices = await waitFor(() => s.events.find((e) => e.event === 'devices' && (e.data['devices'] as unknown[]).length > 0), { what: 'devices', timeoutMs: 8000 })
  t.match(devices.data, { devices: [{ id: 'scn-dairy', kind: 'scanner', online: true, zone: 'fridge-dairy' }] })

  // the scanner falls silent: 31 s without a message
  clock.advance(31_000)
  gw.tick()
  const st = await waitFor(() => s.events.find((e) => e.event === 'deviceState'), { what: 'deviceState', timeoutMs: 8000 })
  t.match(st.data, { events: [{ id: 'scn-dairy', online: false, silent: true, reason: 'silent' }] })
  const metrics = await (await fetch(`${gw.httpUrl}/metrics`)).text()
  t.match(metrics, /aisle_devices_silent\{kind="scanner"\} 2/, 'the silent scanner and the one never heard')
  t.match(metrics, /aisle_console_streams 1/)

  // P/status and its last will
  await publishJson(dev, `${gw.prefix}/status/scn-dairy`, { online: false })
  await waitFor(async () => {
    const r = await (await fetch(`${gw.httpUrl}/v1/admin/devices`, { headers: { authorization: `Bearer ${TEST_VIEWER}` } })).json() as { devices: { id: string; online: boolean; onlineReason: string; kind: string }[] }
    return r.devices.length === 1 && r.devices[0]!.onlineReason === 'status' && r.devices[0]!.kind === 'scanner'
  }, { what: 'offline by status, on the scanner itself' })
  t.pass('P/status offline lands on the scanner record')

  // shutdown ends the stream instead of hanging on it
  closed = true
  await tg.close()
  await s.done
  t.pass('the gateway stopped with a console open')
})
