/** Member WebSocket frames: ack and dismiss recorded, bad frames refused with an error frame, ranging feeds presence. */
import t from 'tap'
import { rpidAt } from '../../edge/contract/index.js'
import { ManualClock } from '../../edge/core/clock.js'
import { startTestGateway, MEMBER_KEY } from '../helpers/gateway.js'
import { connect, heardFor } from '../helpers/mqtt.js'
import { query } from '../helpers/db.js'
import { waitFor } from '../helpers/net.js'
import { wsConnect } from '../helpers/ws.js'

const clock = new ManualClock(Date.UTC(2026, 10, 23, 11, 0, 0))
const tg = await startTestGateway({
  clock,
  overlay: {
    layout: { zones: [{ id: 'fridge-dairy', dwellSeconds: 10 }, { id: 'bakery' }], anchors: [{ id: 'scn-dairy', kind: 'scanner', zone: 'fridge-dairy' }, { id: 'scn-bakery', kind: 'scanner', zone: 'bakery' }, { id: 'ibeacon:426c7565-4368-6172-6d42-6561636f6e73-1-2', kind: 'beacon', zone: 'fridge-dairy' }] },
    members: [
      { memberId: 'm-1', key: MEMBER_KEY, consent: { offers: true, location: true } },
      { memberId: 'm-4', key: '44'.repeat(32), consent: { offers: true, location: false } },
    ],
  },
})
t.teardown(() => tg.close())
const { gw } = tg
const wsUrl = `${gw.httpUrl.replace('http', 'ws')}/v1/member/ws`

async function offerFor(app: ReturnType<typeof wsConnect>): Promise<string> {
  const dev = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
  await heardFor(dev, { prefix: gw.prefix, scanner: 'scn-dairy', subject: (ts) => rpidAt(MEMBER_KEY, ts), clock, seconds: 11 })
  await dev.endAsync()
  const f = await waitFor(() => app.frames.find((x) => (x as { type: string }).type === 'offer') as { offer: { offerId: string } } | undefined, { what: 'offer' })
  return f.offer.offerId
}

t.test('ack and dismiss', async (t) => {
  const app = wsConnect(wsUrl, await gw.memberToken('m-1'))
  await app.opened
  const hello = await waitFor(() => app.frames[0] as { type: string; serverTime: string } | undefined, { what: 'hello' })
  t.same(hello, { type: 'hello', serverTime: new Date(clock.now()).toISOString(), timeZone: 'Europe/Berlin' }, "the first frame carries the gateway's clock and the store's time zone")
  const offerId = await offerFor(app)
  app.send({ type: 'ack', offerId })
  await waitFor(async () => (await query<{ status: string }>(gw.dbFile, 'SELECT status FROM offers WHERE offer_id = ?', [offerId]))[0]?.status === 'seen', { what: 'seen' })
  // a second phone (or a reload) gets every live coupon, also one already seen; delivery is counted once
  const again = wsConnect(wsUrl, await gw.memberToken('m-1'))
  await again.opened
  await waitFor(() => again.frames.some((f) => (f as { offer?: { offerId: string } }).offer?.offerId === offerId), { what: 'the seen coupon again on connect' })
  again.close()
  await gw.flush()
  t.equal((await query<{ n: number }>(gw.dbFile, "SELECT COUNT(*) AS n FROM outbox WHERE event = 'Offer Delivered' AND properties LIKE ?", [`%${offerId}%`]))[0]!.n, 1, 'one Offer Delivered')
  app.send({ type: 'dismiss', offerId })
  await waitFor(async () => (await query<{ status: string }>(gw.dbFile, 'SELECT status FROM offers WHERE offer_id = ?', [offerId]))[0]?.status === 'dismissed', { what: 'dismissed' })
  const row = (await query<{ seen_at: number; dismissed_at: number; delivered_at: number }>(gw.dbFile, 'SELECT * FROM offers WHERE offer_id = ?', [offerId]))[0]!
  t.ok(row.delivered_at && row.seen_at && row.dismissed_at, 'each step has its time')
  // a member cannot touch someone else's offer
  const other = wsConnect(wsUrl, await gw.memberToken('m-4'))
  await other.opened
  other.send({ type: 'ack', offerId })
  await gw.flush()
  t.equal((await query<{ status: string }>(gw.dbFile, 'SELECT status FROM offers WHERE offer_id = ?', [offerId]))[0]!.status, 'dismissed')
  // a dismissed coupon is not sent again
  const later = wsConnect(wsUrl, await gw.memberToken('m-1'))
  await later.opened
  await waitFor(() => later.frames.length > 0, { what: 'hello' })
  await new Promise((r) => setTimeout(r, 200))
  t.same(later.frames.filter((f) => (f as { type: string }).type === 'offer'), [], 'dismissed: not shown again')
  later.close()
  app.close()
  other.close()
})

t.test('bad frames get an error frame and the socket stays open', async (t) => {
  const app = wsConnect(wsUrl, await gw.memberToken('m-1'))
  await app.opened
  app.send('not json')
  app.send({ type: 'ack' })
  app.send({ type: 'teleport', to: 'mars' })
  app.ws.send(Buffer.from([1, 2, 3]), { binary: true })
  const errors = await waitFor(() => { const e = app.frames.filter((f) => (f as { type: string }).type === 'error') as { error: string }[]; return e.length >= 4 ? e : undefined }, { what: 'error frames' })
  t.same(errors.map((e) => e.error).sort(), ['bad-json', 'binary-frame', 'invalid-frame', 'invalid-frame'])
  t.equal(app.ws.readyState, 1, 'still open')
  app.close()
})

t.test('ranging from the app feeds presence, only with location consent', async (t) => {
  const app = wsConnect(wsUrl, await gw.memberToken('m-1'))
  const noLoc = wsConnect(wsUrl, await gw.memberToken('m-4'))
  await Promise.all([app.opened, noLoc.opened])
  app.send({ type: 'ranging', beacons: [{ id: 'ibeacon:426c7565-4368-6172-6d42-6561636f6e73-1-2', rssi: -58 }] })
  noLoc.send({ type: 'ranging', beacons: [{ id: 'ibeacon:426c7565-4368-6172-6d42-6561636f6e73-1-2', rssi: -58 }] })
  const err = await waitFor(() => noLoc.frames.find((f) => (f as { type: string }).type === 'error') as { error: string } | undefined, { what: 'refusal' })
  t.equal(err.error, 'no-location-consent')
  const presence = await waitFor(async () => {
    const r = await fetch(`${gw.httpUrl}/v1/admin/presence`, { headers: { authorization: 'Bearer test-admin-token' } })
    const b = await r.json() as { subjects: { subject: string; zone: string }[] }
    return b.subjects.find((s) => s.zone === 'fridge-dairy')
  }, { what: 'subject located from app ranging' })
  t.match(presence.subject, /^pm:/, 'located under its pseudonym')
  app.close()
  noLoc.close()
})

t.test('a flood of frames closes the socket', async (t) => {
  const app = wsConnect(wsUrl, await gw.memberToken('m-1'))
  await app.opened
  for (let i = 0; i < 100; i++) app.send({ type: 'ack', offerId: `x${i}` })
  t.equal((await app.closed).code, 1008)
})
