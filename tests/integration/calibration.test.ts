/** The calibration flow through the admin API: record fingerprints per zone, build, and locate with them. */
import t from 'tap'
import { rpidAt, topics } from '../../edge/contract/index.js'
import { ManualClock } from '../../edge/core/clock.js'
import { startTestGateway, MEMBER_KEY, TEST_OPERATOR, TEST_VIEWER } from '../helpers/gateway.js'
import { connect, publishJson } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/net.js'

const clock = new ManualClock(Date.UTC(2026, 10, 23, 7, 0, 0))
const tg = await startTestGateway({ clock, overlay: { presence: { locator: 'fingerprint' } } })
t.teardown(() => tg.close())
const { gw } = tg
const api = async (method: string, path: string, token: string, body?: unknown) => {
  const r = await fetch(`${gw.httpUrl}/v1/admin${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined })
  return { status: r.status, body: await r.json() as Record<string, unknown> }
}
const TAG = 'ibeacon:426c7565-4368-6172-6d42-6561636f6e73-9-9'
const dev = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
t.teardown(() => dev.endAsync())

/** a subject stands in a zone: the near scanner hears it strongly, the far one weakly, with a little noise */
async function stand(subject: (ts: number) => string, zone: 'fridge-dairy' | 'bakery', seconds: number): Promise<void> {
  for (let i = 0; i < seconds; i++) {
    const ts = clock.advance(1000)
    const jitter = (i % 5) - 2
    const [dairy, bakery] = zone === 'fridge-dairy' ? [-55 + jitter, -82 - jitter] : [-83 + jitter, -54 - jitter]
    await publishJson(dev, topics.ble(gw.prefix, 'scn-dairy'), { id: subject(ts), rssi: dairy, ts })
    await publishJson(dev, topics.ble(gw.prefix, 'scn-bakery'), { id: subject(ts), rssi: bakery, ts })
  }
}

t.test('before calibration the fingerprint locator falls back', async (t) => {
  const r = await (await fetch(`${gw.httpUrl}/readyz`)).json() as { checks: { presence: { detail: string } } }
  t.match(r.checks.presence.detail, /fingerprint locator not usable \(no calibration yet\)/)
  const st = await api('GET', '/calibration', TEST_VIEWER)
  t.equal(st.body['model'], null)
})

t.test('record, build, locate', async (t) => {
  t.equal((await api('POST', '/calibration/sessions', TEST_VIEWER, { zone: 'fridge-dairy', subject: TAG, seconds: 20 })).status, 403, 'viewers cannot record')
  t.equal((await api('POST', '/calibration/sessions', TEST_OPERATOR, { zone: 'moon', subject: TAG, seconds: 20 })).status, 400, 'unknown zone')
  const s1 = await api('POST', '/calibration/sessions', TEST_OPERATOR, { zone: 'fridge-dairy', subject: TAG, seconds: 20 })
  t.equal(s1.status, 201)
  t.equal((await api('POST', '/calibration/sessions', TEST_OPERATOR, { zone: 'bakery', subject: TAG, seconds: 20 })).status, 409, 'one session per tag at a time')
  await stand(() => TAG, 'fridge-dairy', 22)
  const tooFew = await api('POST', '/calibration/build', TEST_OPERATOR)
  t.equal(tooFew.status, 400)
  t.match(tooFew.body['message'], /at least 2 zones/)

  t.equal((await api('POST', '/calibration/sessions', TEST_OPERATOR, { zone: 'bakery', subject: TAG, seconds: 20 })).status, 201)
  await stand(() => TAG, 'bakery', 22)
  const status = await waitFor(async () => {
    const st = await api('GET', '/calibration', TEST_VIEWER)
    const samples = st.body['samples'] as Record<string, number>
    const done = (st.body['sessions'] as { state: string }[]).every((x) => x.state === 'done')
    return done && (samples['bakery'] ?? 0) >= 15 && (samples['fridge-dairy'] ?? 0) >= 15 ? st : undefined
  }, { what: 'samples in both zones' })
  t.ok((status.body['sessions'] as { state: string }[]).every((s) => s.state === 'done'), 'sessions end on their own')

  const built = await api('POST', '/calibration/build', TEST_OPERATOR)
  t.equal(built.status, 200)
  t.same(built.body['zones'], ['bakery', 'fridge-dairy'])
  t.ok((built.body['check'] as { accuracy: number }).accuracy >= 0.9, 'the time-split check passes')
  const ready = await (await fetch(`${gw.httpUrl}/readyz`)).json() as { checks: { presence: { detail: string } } }
  t.match(ready.checks.presence.detail, /^fingerprint locator \(2 zones/)

  // a member now located by the fingerprints
  await stand((ts) => rpidAt(MEMBER_KEY, ts), 'bakery', 4)
  const p = await waitFor(async () => {
    const r = await api('GET', '/presence', TEST_VIEWER)
    return (r.body['subjects'] as { subject: string; zone: string }[]).find((x) => x.subject.startsWith('pm:') && x.zone === 'bakery')
  }, { what: 'member located in the bakery' })
  t.ok(p)

  const del = await api('DELETE', '/calibration/samples?zone=bakery', TEST_OPERATOR)
  t.ok((del.body['deleted'] as number) >= 15)
})
