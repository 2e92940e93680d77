/** Admin API (CONTRACT sections 8 and 9): roles, validation with clear 400s, layout, presence, devices, members, campaigns, erasure. */
import t from 'tap'
import { rpidAt, topics } from '../../edge/contract/index.js'
import { ManualClock } from '../../edge/core/clock.js'
import { startTestGateway, MEMBER_KEY, TEST_ADMIN, TEST_OPERATOR, TEST_VIEWER } from '../helpers/gateway.js'
import { connect, publishJson } from '../helpers/mqtt.js'
import { query } from '../helpers/db.js'
import { waitFor } from '../helpers/net.js'
import { wsConnect } from '../helpers/ws.js'

const clock = new ManualClock(Date.UTC(2026, 10, 23, 9, 0, 0))
const tg = await startTestGateway({ clock })
t.teardown(() => tg.close())
const { gw } = tg
const api = async (method: string, path: string, token?: string, body?: unknown) => {
  const r = await fetch(`${gw.httpUrl}/v1/admin${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await r.text()
  return { status: r.status, body: text ? JSON.parse(text) as Record<string, unknown> : {} }
}

const campaign = (id: string, extra: Record<string, unknown> = {}) => ({ id, title: 'Bread deal', trigger: { kind: 'dwell', zone: 'bakery', seconds: 5 }, offer: { discount: { kind: 'amount', value: 1 } }, validMinutes: 30, ...extra })

t.test('authentication and roles', async (t) => {
  t.equal((await api('GET', '/layout')).status, 401, 'no token: 401')
  t.equal((await api('GET', '/layout', 'wrong-token')).status, 401, 'unknown token: 401')
  t.equal((await api('GET', '/layout', TEST_VIEWER)).status, 200, 'viewer reads')
  t.equal((await api('PUT', '/layout', TEST_VIEWER, gw.config.layout)).status, 403, 'viewer cannot change the layout')
  t.equal((await api('PUT', '/layout', TEST_OPERATOR, gw.config.layout)).status, 403, 'operator cannot change the layout')
  const denied = await api('PUT', '/campaigns/x1', TEST_VIEWER, campaign('x1'))
  t.equal(denied.status, 403)
  t.match(denied.body['message'], /needs role operator/)
  t.equal((await api('PUT', '/members/m-9', TEST_OPERATOR, { memberId: 'm-9', key: MEMBER_KEY, consent: { offers: true, location: true } })).status, 403, 'operator cannot change members')
  t.equal((await api('GET', '/members', TEST_OPERATOR)).status, 403, 'member list is admin only')
})

t.test('layout', async (t) => {
  const got = await api('GET', '/layout', TEST_VIEWER)
  t.same((got.body['zones'] as { id: string }[]).map((z) => z.id), ['fridge-dairy', 'bakery'])
  const badZone = await api('PUT', '/layout', TEST_ADMIN, { zones: [{ id: 'a' }], anchors: [{ id: 's1', kind: 'scanner', zone: 'nope' }] })
  t.equal(badZone.status, 400)
  t.match(badZone.body['message'], /anchors\[0\]\.zone/)
  const badShape = await api('PUT', '/layout', TEST_ADMIN, { zones: [{ id: 'Bad Zone' }], anchors: [] })
  t.equal(badShape.status, 400)
  t.match(badShape.body['message'], /zones\/0\/id/)
  const typo = await api('PUT', '/layout', TEST_ADMIN, { zones: [], anchors: [], zonez: [] })
  t.equal(typo.status, 400, 'unknown keys are refused')
  const dropsCampaignZone = await api('PUT', '/layout', TEST_ADMIN, { zones: [{ id: 'bakery' }], anchors: [] })
  t.equal(dropsCampaignZone.status, 400, 'cannot remove a zone an active campaign uses')
  t.match(dropsCampaignZone.body['message'], /campaign dairy-10s/)
  const next = { zones: [...gw.config.layout.zones, { id: 'drinks', kind: 'aisle' }], anchors: [...gw.config.layout.anchors, { id: 'scn-drinks', kind: 'scanner', zone: 'drinks', x: 10, y: 5 }] }
  const ok = await api('PUT', '/layout', TEST_ADMIN, next)
  t.equal(ok.status, 200)
  t.equal((await api('GET', '/layout', TEST_VIEWER)).body['zones'] && ((await api('GET', '/layout', TEST_VIEWER)).body['zones'] as unknown[]).length, 3)
  const stored = await query<{ source: string }>(gw.dbFile, 'SELECT source FROM layout')
  t.equal(stored[0]!.source, 'admin', 'stored with its source')
})

t.test('presence and devices are pseudonymous', async (t) => {
  const dev = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
  const ts = clock.now()
  // two scans a second apart: a subject is located once it has been heard for a locate interval
  for (const t of [ts, ts + 1000]) {
    clock.set(t)
    await publishJson(dev, topics.ble(gw.prefix, 'scn-dairy'), [{ id: rpidAt(MEMBER_KEY, t), rssi: -50, ts: t }, { id: 'ibeacon:426c7565-4368-6172-6d42-6561636f6e73-1-7', rssi: -60, ts: t }])
  }
  await publishJson(dev, topics.bandStatus(gw.prefix, 'b-7'), { battery: 41, clerkId: 'c-1', onShift: true })
  await dev.endAsync()
  const p = await waitFor(async () => {
    const r = await api('GET', '/presence', TEST_VIEWER)
    const subjects = r.body['subjects'] as { subject: string; zone: string }[]
    return subjects.length >= 2 ? subjects : undefined
  }, { what: 'presence' })
  t.ok(p.every((s) => s.zone === 'fridge-dairy'))
  t.ok(p.some((s) => /^pm:[0-9a-f]{16}$/.test(s.subject)), 'a member shows as a gateway pseudonym')
  t.notOk(JSON.stringify(p).includes('m-1'), 'no member id in presence')
  t.notOk(JSON.stringify(p).includes(rpidAt(MEMBER_KEY, ts)), 'no rpid in presence')
  const d = await waitFor(async () => {
    const list = (await api('GET', '/devices', TEST_VIEWER)).body['devices'] as { id: string; kind: string; battery: number | null; placed: boolean }[]
    return list.length >= 2 ? list : undefined
  }, { what: 'devices' })
  t.match(d.find((x) => x.id === 'scn-dairy'), { kind: 'scanner', placed: true })
  t.match(d.find((x) => x.id === 'b-7'), { kind: 'band', battery: 41 })
})

t.test('campaigns', async (t) => {
  const created = await api('PUT', '/campaigns/bread-5s', TEST_OPERATOR, campaign('bread-5s'))
  t.equal(created.status, 201)
  t.equal((await api('PUT', '/campaigns/bread-5s', TEST_OPERATOR, campaign('bread-5s', { priority: 3 }))).status, 200, 'replace')
  const mismatch = await api('PUT', '/campaigns/other', TEST_OPERATOR, campaign('bread-5s'))
  t.equal(mismatch.status, 400)
  t.match(mismatch.body['message'], /differs from the path/)
  const noZone = await api('PUT', '/campaigns/c2', TEST_OPERATOR, campaign('c2', { trigger: { kind: 'dwell', zone: 'moon' } }))
  t.equal(noZone.status, 400)
  t.match(noZone.body['message'], /trigger\.zone/)
  const badType = await api('PUT', '/campaigns/c3', TEST_OPERATOR, campaign('c3', { validMinutes: 'soon' }))
  t.equal(badType.status, 400)
  t.match(badType.body['message'], /validMinutes/)
  const list = await api('GET', '/campaigns', TEST_VIEWER)
  t.ok((list.body['campaigns'] as { campaign: { id: string } }[]).some((c) => c.campaign.id === 'bread-5s'))
  t.equal((await api('DELETE', '/campaigns/bread-5s', TEST_OPERATOR)).status, 200, 'retire')
  t.equal((await api('DELETE', '/campaigns/bread-5s', TEST_OPERATOR)).status, 404, 'retire twice: 404')
  const retired = await api('GET', '/campaigns?retired=true', TEST_VIEWER)
  t.ok((retired.body['campaigns'] as { campaign: { id: string }; retiredAt: string | null }[]).some((c) => c.campaign.id === 'bread-5s' && c.retiredAt !== null), 'retired campaigns are kept for the record')
})

t.test('members and erasure', async (t) => {
  const m9 = { memberId: 'm-9', key: 'ab'.repeat(32), consent: { offers: true, location: true }, tier: 'silver' }
  t.equal((await api('PUT', '/members/m-9', TEST_ADMIN, m9)).status, 201)
  t.equal((await api('PUT', '/members/m-9', TEST_ADMIN, { ...m9, key: 'short' })).status, 400, 'a bad key is refused')
  const list = await api('GET', '/members', TEST_ADMIN)
  t.notOk(JSON.stringify(list.body).includes('abab'), 'keys are never returned')

  // m-9 dwells and gets an offer, then is erased
  const app = wsConnect(`${gw.httpUrl.replace('http', 'ws')}/v1/member/ws`, await gw.memberToken('m-9'))
  await app.opened
  const dev = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
  const t0 = clock.now()
  for (let i = 0; i <= 11; i++) {
    clock.set(t0 + i * 1000)
    await publishJson(dev, topics.ble(gw.prefix, 'scn-dairy'), { id: rpidAt(m9.key, clock.now()), rssi: -50, ts: clock.now() })
  }
  await dev.endAsync()
  await waitFor(() => app.frames.some((f) => (f as { type: string }).type === 'offer'), { what: 'offer for m-9' })
  await gw.flush()
  t.equal((await query(gw.dbFile, "SELECT * FROM offers WHERE member_id = 'm-9'")).length, 1)

  const erased = await api('DELETE', '/members/m-9', TEST_ADMIN)
  t.equal(erased.status, 200)
  t.equal((await app.closed).code, 4403, 'the member app is disconnected')
  for (const [table, col] of [['offers', 'member_id'], ['members', 'member_id'], ['outbox', 'user_id']] as const) {
    t.equal((await query(gw.dbFile, `SELECT * FROM ${table} WHERE ${col} = 'm-9'`)).length, 0, `nothing in ${table} names the member`)
  }
  t.equal((await api('DELETE', '/members/m-9', TEST_ADMIN)).status, 404)
})

t.test('dead letters and sync state', async (t) => {
  const dev = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
  await publishJson(dev, topics.ble(gw.prefix, 'scn-dairy'), '{"id": oops')
  await dev.endAsync()
  const dl = await waitFor(async () => {
    const r = await api('GET', '/dead-letters?reason=bad-json&limit=5', TEST_VIEWER)
    const list = r.body['deadLetters'] as { reason: string; payload: string; topic: string }[]
    return list.length ? list : undefined
  }, { what: 'dead letter listed' })
  t.match(dl[0], { reason: 'bad-json', payload: '{"id": oops', topic: `${gw.prefix}/ble/scn-dairy` })
  t.equal((await api('GET', '/dead-letters?limit=5000', TEST_VIEWER)).status, 400, 'limit is bounded')
  const sync = await api('GET', '/sync', TEST_VIEWER)
  t.equal(sync.status, 200)
  t.type(sync.body['backlog'], 'number')
  t.ok((sync.body['backlog'] as number) > 0, 'outbox rows are waiting')
})
