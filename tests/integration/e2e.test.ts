/**
 * The whole path on real parts, twice (embedded aedes and a real Mosquitto): sightings published over MQTT
 * for a consenting member's rotating pseudonym -> presence -> dwell -> offer -> the member's WebSocket;
 * the SQLite file holds the offer and its outbox row.
 */
import t, { type Test } from 'tap'
import { SignJWT } from 'jose'
import { rpidAt, topics } from '../../edge/contract/index.js'
import { ManualClock } from '../../edge/core/clock.js'
import { CouponCodec } from '../../edge/offers/coupon.js'
import { startTestGateway, MEMBER_KEY, NOCONSENT_KEY } from '../helpers/gateway.js'
import { connect, publishJson } from '../helpers/mqtt.js'
import { mosquittoBinary, startMosquitto } from '../helpers/mosquitto.js'
import { query } from '../helpers/db.js'
import { waitFor, sleep } from '../helpers/net.js'
import { wsConnect } from '../helpers/ws.js'

async function scenario(t: Test, mqttUrl?: string): Promise<void> {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 10, 0, 0))
  const tg = await startTestGateway({ clock, mqttUrl })
  t.teardown(() => tg.close())
  const { gw } = tg
  const wsUrl = `${gw.httpUrl.replace('http', 'ws')}/v1/member/ws`

  const app = wsConnect(wsUrl, await gw.memberToken('m-1'))
  const other = wsConnect(wsUrl, await gw.memberToken('m-3'), 'query')
  await Promise.all([app.opened, other.opened])

  const dev = await connect(mqttUrl ?? `mqtt://127.0.0.1:${gw.mqttPort}`)
  t.teardown(() => dev.endAsync())
  const t0 = clock.now()
  for (let i = 0; i <= 12; i++) {
    const ts = t0 + i * 1000
    clock.set(ts)
    const member = rpidAt(MEMBER_KEY, ts)
    const noConsent = rpidAt(NOCONSENT_KEY, ts)
    await publishJson(dev, topics.ble(gw.prefix, 'scn-dairy'), [{ id: member, rssi: -55, ts }, { id: noConsent, rssi: -57, ts }])
    await publishJson(dev, topics.ble(gw.prefix, 'scn-bakery'), [{ id: member, rssi: -85, ts }, { id: noConsent, rssi: -86, ts }])
  }

  const frame = await waitFor(() => app.frames.find((f) => (f as { type: string }).type === 'offer') as { type: 'offer'; offer: Record<string, string> } | undefined, { what: 'offer frame' })
  t.equal(frame.offer['campaignId'], 'dairy-10s')
  t.equal(frame.offer['zone'], 'fridge-dairy')
  t.equal(frame.offer['title'], '20% off yoghurt')
  t.ok(Date.parse(frame.offer['expiresAt']!) > clock.now(), 'offer expires in the future')
  const codec = new CouponCodec({ id: 1, key: Buffer.from(gw.secrets.couponKey, 'hex') })
  const verified = codec.verify(frame.offer['code']!, clock.now(), { campaignId: 'dairy-10s', memberId: 'm-1' })
  t.ok(verified.ok, 'the coupon verifies offline for this campaign and member')

  await gw.flush()
  const offers = await query<{ offer_id: string; member_id: string; campaign_id: string; status: string }>(gw.dbFile, 'SELECT * FROM offers')
  t.equal(offers.length, 1, 'one offer stored')
  t.equal(offers[0]!.member_id, 'm-1')
  t.equal(offers[0]!.offer_id, frame.offer['offerId'])
  const outbox = await query<{ event: string; message_id: string; user_id: string }>(gw.dbFile, "SELECT * FROM outbox WHERE stream = 'crm' ORDER BY id")
  t.ok(outbox.some((r) => r.event === 'Offer Issued' && r.message_id === `offer-issued:${frame.offer['offerId']}` && r.user_id === 'm-1'), 'its outbox row is there')

  // the member without offer consent got nothing, on the socket or in the database
  await sleep(200)
  t.same(other.frames.filter((f) => (f as { type: string }).type === 'offer'), [], 'no offer for a member without consent')
  t.equal((await query(gw.dbFile, "SELECT * FROM offers WHERE member_id = 'm-3'")).length, 0)

  // pseudonymous events on the bus: no member id, no rpid that links across windows
  const dwell = await query<{ subject: string }>(gw.dbFile, 'SELECT subject FROM dwell_sessions')
  for (const d of dwell) t.notMatch(d.subject, /m-\d/, 'dwell sessions carry no member id')

  // bad tokens: close code 4401
  const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('m-1').setExpirationTime(Math.floor(clock.now() / 1000) + 600).sign(new TextEncoder().encode('not-the-gateway-secret-at-all'))
  const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('m-1').setExpirationTime(Math.floor(clock.now() / 1000) - 3600).sign(new TextEncoder().encode(gw.secrets.memberJwtSecret))
  for (const [name, token] of [['forged', forged], ['expired', expired], ['garbage', 'abc.def.ghi'], ['missing', undefined]] as const) {
    const bad = wsConnect(wsUrl, token)
    const { code } = await bad.closed
    t.equal(code, 4401, `${name} token gets 4401`)
  }
  app.close()
  other.close()
}

t.test('end to end on the embedded broker (aedes)', (t) => scenario(t))

t.test('end to end on a real Mosquitto', { skip: mosquittoBinary() ? false : 'mosquitto is not installed (apt-get install -y mosquitto); .ci/run installs it' }, async (t) => {
  const mosq = await startMosquitto()
  t.teardown(() => mosq.stop())
  await scenario(t, mosq.url)
})
