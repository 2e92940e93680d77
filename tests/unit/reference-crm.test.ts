/** The reference central CRM (cloud-sync/reference-crm): strict batches, faults, pulls with ETags, signed manifests, /_admin. */
import t from 'tap'
import { createPublicKey, verify } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startReferenceCrm, type ReferenceCrm, type ReferenceCrmOptions } from '../../cloud-sync/reference-crm/server.js'
import type { Campaign, Layout, Member } from '../../edge/contract/resources.js'

const WRITE_KEY = 'wk-test'
const TOKEN = 'store-token-test'
type Test = { teardown(fn: () => unknown): void }

async function fresh(t: Test, o: Partial<ReferenceCrmOptions> = {}): Promise<ReferenceCrm> {
  const crm = await startReferenceCrm({ writeKey: WRITE_KEY, storeToken: TOKEN, ...o })
  t.teardown(() => crm.close())
  return crm
}

let n = 0
type Ev = Record<string, unknown>
const ev = (over: Ev = {}): Ev => ({
  type: 'track', event: 'Offer Issued', userId: 'm-1', messageId: `msg-${++n}`, timestamp: new Date().toISOString(),
  properties: { campaignId: 'c1' }, context: { store: 's042', library: { name: 'aisle-edge', version: '0.1.0' } }, ...over,
})
const basic = (user = WRITE_KEY, pass = '') => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`
const bearer = (tok = TOKEN) => `Bearer ${tok}`

function post(crm: ReferenceCrm, body: unknown, o: { path?: string; auth?: string | null } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (o.auth !== null) headers['authorization'] = o.auth ?? basic()
  return fetch(`${crm.url}${o.path ?? '/v1/batch'}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) })
}
const batch = (...events: Ev[]) => ({ batch: events, sentAt: new Date().toISOString() })

function get(crm: ReferenceCrm, path: string, o: { etag?: string | null; auth?: string | null } = {}) {
  const headers: Record<string, string> = {}
  if (o.auth !== null) headers['authorization'] = o.auth ?? bearer()
  if (o.etag) headers['if-none-match'] = o.etag
  return fetch(`${crm.url}${path}`, { headers })
}
function admin(crm: ReferenceCrm, method: string, path: string, body?: unknown, auth: string | null = bearer()) {
  const headers: Record<string, string> = {}
  if (auth !== null) headers['authorization'] = auth
  if (body !== undefined) headers['content-type'] = 'application/json'
  return fetch(`${crm.url}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
}

const KEY = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff'
const member = (id: string, over: Partial<Member> = {}): Member => ({ memberId: id, key: KEY, consent: { offers: true, location: true }, ...over })
const campaign = (id: string, over: Partial<Campaign> = {}): Campaign => ({
  id, title: `Campaign ${id}`, trigger: { kind: 'dwell', zone: 'fridge-dairy', seconds: 20 }, offer: { discount: { kind: 'percent', value: 10 } }, validMinutes: 30, ...over,
})
const layout: Layout = { zones: [{ id: 'fridge-dairy', name: 'Dairy' }], anchors: [{ id: 'scn-dairy-1', kind: 'scanner', zone: 'fridge-dairy' }] }

t.test('auth: Basic write key on batches, Bearer store token on pulls and /_admin', async (t) => {
  const crm = await fresh(t)
  t.equal(crm.url.startsWith('http://127.0.0.1:'), true)
  for (const auth of [null, basic('wrong'), basic(WRITE_KEY, 'secret'), bearer(WRITE_KEY), 'Basic !!!']) {
    const r = await post(crm, batch(ev()), { auth })
    t.equal(r.status, 401, `batch with ${auth}`)
  }
  t.equal((await post(crm, batch(ev()), { path: '/v1/ops/batch', auth: null })).status, 401, 'ops batch')
  for (const path of ['/v1/stores/s042/members', '/v1/stores/s042/campaigns', '/v1/stores/s042/layout', '/v1/models/manifest', '/v1/models/a/1', '/_admin/stats']) {
    t.equal((await get(crm, path, { auth: null })).status, 401, `${path} without a token`)
    t.equal((await get(crm, path, { auth: bearer('nope') })).status, 401, `${path} with a wrong token`)
    t.equal((await get(crm, path, { auth: basic() })).status, 401, `${path} with the write key`)
  }
  t.equal(await crm.count(), 0)
  t.equal((await post(crm, batch(ev()))).status, 200)
})

t.test('strict validation of every rule of CONTRACT 7.1', async (t) => {
  const crm = await fresh(t)
  const noUser = { userId: undefined }
  const cases: [string, Ev, RegExp][] = [
    ['type not track', { type: 'identify' }, /type must be "track"/],
    ['unknown event', { event: 'Device Health' }, /not one of the CRM events/],
    ['empty event', { event: '' }, /event must be a name/],
    ['both ids', { anonymousId: 'rpid:9f2c61d0a4b3e877' }, /exactly one of userId and anonymousId/],
    ['no id', noUser, /exactly one of userId and anonymousId/],
    ['empty userId', { userId: '' }, /userId must be a non-empty string/],
    ['numeric anonymousId', { ...noUser, anonymousId: 42 }, /anonymousId must be a non-empty string/],
    ['MAC with colons', { ...noUser, anonymousId: 'AA:BB:CC:DD:EE:FF' }, /looks like a MAC/],
    ['MAC with dashes', { ...noUser, anonymousId: 'aa-bb-cc-dd-ee-ff' }, /looks like a MAC/],
    ['MAC as 12 hex', { ...noUser, anonymousId: 'aabbccddeeff' }, /looks like a MAC/],
    ['MAC inside an id', { ...noUser, anonymousId: 'ble:aa:bb:cc:dd:ee:ff' }, /looks like a MAC/],
    ['no messageId', { messageId: undefined }, /messageId must be a string of 1..100/],
    ['empty messageId', { messageId: '' }, /messageId must be a string of 1..100/],
    ['messageId of 101', { messageId: 'x'.repeat(101) }, /messageId must be a string of 1..100/],
    ['numeric messageId', { messageId: 7 }, /messageId must be a string of 1..100/],
    ['no timestamp', { timestamp: undefined }, /timestamp must be an ISO 8601/],
    ['timestamp not ISO', { timestamp: 'yesterday' }, /timestamp must be an ISO 8601/],
    ['timestamp as epoch', { timestamp: Date.now() }, /timestamp must be an ISO 8601/],
    ['timestamp without zone', { timestamp: '2026-01-02T10:00:00' }, /timestamp must be an ISO 8601/],
    ['impossible timestamp', { timestamp: '2026-13-45T99:00:00Z' }, /timestamp must be an ISO 8601/],
    ['no properties', { properties: undefined }, /properties must be an object/],
    ['properties array', { properties: [1] }, /properties must be an object/],
    ['no context', { context: undefined }, /context.store/],
    ['no context.store', { context: { library: { name: 'aisle-edge', version: '1' } } }, /context.store/],
    ['bad context.store', { context: { store: 'S 042', library: { name: 'aisle-edge', version: '1' } } }, /context.store/],
    ['no library', { context: { store: 's042' } }, /context.library/],
    ['no library.version', { context: { store: 's042', library: { name: 'aisle-edge' } } }, /context.library/],
    ['event over 32 KB', { properties: { blob: 'x'.repeat(33 * 1024) } }, /at most 32768 bytes/],
  ]
  for (const [name, over, reason] of cases) {
    const bad = ev(over)
    const r = await post(crm, batch(ev(), bad, ev()))
    t.equal(r.status, 400, name)
    const body = await r.json() as { error: string; messageIds: string[] }
    t.match(body.error, reason, name)
    t.match(body.error, /^batch\[1\]: /, `${name}: names the index`)
    t.same(body.messageIds, typeof bad['messageId'] === 'string' ? [bad['messageId']] : [], `${name}: messageIds`)
  }
  const envelopes: [string, unknown, RegExp][] = [
    ['not JSON', '{"batch": [', /./],
    ['an array', [ev()], /must be an object/],
    ['no sentAt', { batch: [ev()] }, /sentAt/],
    ['bad sentAt', { batch: [ev()], sentAt: 'now' }, /sentAt/],
    ['empty batch', { batch: [], sentAt: new Date().toISOString() }, /non-empty array/],
    ['batch not an array', { batch: ev(), sentAt: new Date().toISOString() }, /non-empty array/],
  ]
  for (const [name, body, reason] of envelopes) {
    const r = await post(crm, body)
    t.equal(r.status, 400, name)
    const b = await r.json() as { error: string; messageIds: string[] }
    t.match(b.error, reason, name)
    t.same(b.messageIds, [], `${name}: no messageIds`)
  }
  t.equal(await crm.count(), 0, 'nothing of a refused batch is stored')
  t.equal(crm.stats.refused, cases.length + envelopes.length)

  const big = batch(...Array.from({ length: 20 }, () => ev({ properties: { blob: 'x'.repeat(30 * 1024) } })))
  t.equal((await post(crm, big)).status, 413, 'a batch over 500 KB')

  const good = [
    ev({ userId: undefined, anonymousId: 'rpid:9f2c61d0a4b3e877' }),
    ev({ userId: null, anonymousId: 'eddystone:00112233445566778899-aabbccddeeff' }),
    ev({ userId: undefined, anonymousId: 'ibeacon:426c7565-4368-6172-6d42-6561636f6e73-3838-4949' }),
    ev({ event: 'Member Erased', userId: 'm-9', properties: {}, timestamp: '2026-01-02T10:00:00+01:00', messageId: 'x'.repeat(100) }),
    ...['Zone Dwelled', 'Offer Delivered', 'Offer Redeemed', 'Assist Requested', 'Assist Completed', 'Receipt Recorded'].map((event) => ev({ event })),
  ]
  t.equal((await post(crm, batch(...good))).status, 200, 'valid forms are accepted')
  t.equal(await crm.count(), good.length)
})

t.test('a batch with one bad event stores nothing; messageIds lists every bad one', async (t) => {
  const crm = await fresh(t)
  const bad1 = ev({ type: 'page' }), bad2 = ev({ userId: undefined, anonymousId: '00:11:22:33:44:55' })
  const r = await post(crm, batch(ev(), bad1, ev(), bad2))
  t.equal(r.status, 400)
  const body = await r.json() as { error: string; messageIds: string[] }
  t.same(body.messageIds, [bad1['messageId'], bad2['messageId']])
  t.equal(await crm.count(), 0)
  t.same(crm.stats.byStatus, { 400: 1 })
})

t.test('dedupe by messageId; events in arrival order; the ops stream takes any event', async (t) => {
  const crm = await fresh(t)
  const a = ev({ event: 'Zone Dwelled', properties: { zone: 'fridge-dairy', seconds: 42 } }), b = ev(), c = ev({ context: { store: 's043', library: { name: 'aisle-edge', version: '0.1.0' } } })
  t.equal((await post(crm, batch(a, b))).status, 200)
  const r = await post(crm, batch(b, c, c))
  t.equal(r.status, 200)
  t.same(await r.json(), { ok: true })
  t.equal(await crm.count(), 3)
  t.same(crm.stats, { batches: 2, accepted: 3, duplicates: 2, refused: 0, notModified: 0, byStatus: { 200: 2 } })
  const all = await crm.events()
  t.same(all.map((e) => e.messageId), [a['messageId'], b['messageId'], c['messageId']])
  t.ok(all[0]!.seq < all[1]!.seq && all[1]!.seq < all[2]!.seq)
  t.match(all[0], { type: 'track', event: 'Zone Dwelled', userId: 'm-1', anonymousId: null, properties: { zone: 'fridge-dairy', seconds: 42 }, timestamp: a['timestamp'], store: 's042', stream: 'crm', context: { library: { name: 'aisle-edge' } } })
  t.ok(all[0]!.receivedAt > 0)
  t.same((await crm.events({ store: 's043' })).map((e) => e.messageId), [c['messageId']])
  t.same((await crm.events({ event: 'Zone Dwelled' })).length, 1)

  const op = ev({ event: 'Message Dead-Lettered', userId: undefined, anonymousId: 's042', messageId: a['messageId'] })
  t.equal((await post(crm, batch(op), { path: '/v1/ops/batch' })).status, 200, 'any event name on the ops stream')
  t.equal((await post(crm, batch(op))).status, 400, 'but not on the CRM stream')
  t.equal((await post(crm, batch(ev({ event: 'X', userId: undefined, anonymousId: 'aabbccddeeff' })), { path: '/v1/ops/batch' })).status, 400, 'the ops stream is strict otherwise')
  t.same((await crm.events({ stream: 'ops' })).map((e) => [e.event, e.stream]), [['Message Dead-Lettered', 'ops']], 'a messageId is unique per stream')
  t.equal((await crm.events({ stream: 'crm' })).length, 3)
})

t.test('faults: unavailable, tooMany, slowMs, dropAfterBody, refuseMessageIds, down', async (t) => {
  const crm = await fresh(t)
  crm.faults.unavailable = 2
  t.same([(await post(crm, batch(ev()))).status, (await post(crm, batch(ev()))).status, (await post(crm, batch(ev()))).status], [503, 503, 200])
  t.equal(crm.faults.unavailable, 0)

  crm.faults.tooMany = { count: 1, retryAfterSeconds: 7 }
  const r429 = await post(crm, batch(ev()))
  t.equal(r429.status, 429)
  t.equal(r429.headers.get('retry-after'), '7')
  t.equal((await post(crm, batch(ev()))).status, 200)
  t.equal(await crm.count(), 2, 'only the answered-200 batches were stored')

  crm.faults = { slowMs: 250 }
  let t0 = Date.now()
  t.equal((await post(crm, batch(ev()))).status, 200)
  t.ok(Date.now() - t0 >= 240, 'slowed')
  crm.faults = {}
  t0 = Date.now()
  await post(crm, batch(ev()))
  t.ok(Date.now() - t0 < 240, 'not slowed once cleared')

  crm.faults.dropAfterBody = 1
  const dropped = ev()
  await t.rejects(post(crm, batch(dropped)), 'the socket is destroyed without an answer')
  t.equal((await crm.events()).at(-1)?.messageId, dropped['messageId'], 'but the batch was stored')
  const retry = await post(crm, batch(dropped))
  t.equal(retry.status, 200, 'the retry is answered')
  t.equal(crm.stats.duplicates, 1, 'and de-duplicated')

  const before = await crm.count()
  crm.faults.refuseMessageIds = ['poison']
  const poison = ev({ messageId: 'poison' })
  const r400 = await post(crm, batch(ev(), poison))
  t.equal(r400.status, 400)
  t.same((await r400.json() as { messageIds: string[] }).messageIds, ['poison'])
  t.equal(await crm.count(), before, 'nothing of it stored')
  t.equal((await post(crm, batch(ev()))).status, 200, 'other batches pass')
  crm.faults = {}

  crm.faults.down = true
  t.equal((await post(crm, batch(ev()))).status, 503)
  t.equal((await post(crm, batch(ev()), { path: '/v1/ops/batch' })).status, 503)
  t.equal((await get(crm, '/v1/stores/s042/members')).status, 503)
  t.equal((await get(crm, '/v1/models/manifest')).status, 503)
  t.equal((await get(crm, '/_admin/stats')).status, 200, '/_admin keeps answering')
  crm.faults.down = false
  t.equal((await get(crm, '/v1/stores/s042/members')).status, 200)

  t.same(crm.stats.byStatus, { 503: 4, 429: 1, 200: 6, dropped: 1, 400: 1 })
  t.equal(crm.stats.batches, 13)
})

t.test('faults are applied in order: unavailable before tooMany before refuseMessageIds', async (t) => {
  const crm = await fresh(t)
  crm.faults = { unavailable: 1, tooMany: { count: 1, retryAfterSeconds: 1 }, refuseMessageIds: ['p'], dropAfterBody: 1 }
  const p = ev({ messageId: 'p' })
  t.equal((await post(crm, batch(p))).status, 503)
  t.equal((await post(crm, batch(p))).status, 429)
  t.equal((await post(crm, batch(p))).status, 400)
  t.equal(crm.faults.dropAfterBody, 1, 'a refused batch is not dropped')
  t.equal(await crm.count(), 0)
})

t.test('members: change feed with cursor paging, erasures, 304', async (t) => {
  const crm = await fresh(t, { pageSize: 2 })
  await crm.upsertMember('s042', member('m-1'))
  await crm.upsertMember('s042', member('m-2'))
  await crm.upsertMember('s042', member('m-3', { tier: 'gold' }))
  await crm.eraseMember('s042', 'm-2')
  await crm.upsertMember('s043', member('m-9'))
  type Page = { members: Member[]; erasures: string[]; cursor: string; more: boolean }
  const page = async (cursor?: string, limit?: number) => {
    const q = new URLSearchParams({ ...(cursor !== undefined ? { cursor } : {}), ...(limit !== undefined ? { limit: String(limit) } : {}) })
    const r = await get(crm, `/v1/stores/s042/members?${q}`)
    t.equal(r.status, 200)
    return { etag: r.headers.get('etag')!, body: await r.json() as Page }
  }
  const p1 = await page()
  t.same(p1.body, { members: [member('m-1'), member('m-3', { tier: 'gold' })], erasures: [], cursor: '3', more: true }, 'm-2 was erased: only its erasure remains')
  const p2 = await page(p1.body.cursor)
  t.same(p2.body, { members: [], erasures: ['m-2'], cursor: '4', more: false })
  const p3 = await page(p2.body.cursor)
  t.same(p3.body, { members: [], erasures: [], cursor: '4', more: false }, 'caught up: the cursor stays')
  t.match(p3.etag, /^"[0-9a-f]+"$/, 'a strong ETag')

  const again = await get(crm, '/v1/stores/s042/members?cursor=4', { etag: p3.etag })
  t.equal(again.status, 304)
  t.equal(await again.text(), '')
  t.equal(crm.stats.notModified, 1)
  t.equal((await get(crm, '/v1/stores/s042/members', { etag: p3.etag })).status, 200, 'another cursor: another ETag')
  t.equal((await get(crm, '/v1/stores/s042/members', { etag: p1.etag })).status, 304, 'the first page is unchanged too')

  await crm.upsertMember('s042', member('m-1', { tier: 'silver' }))
  const changed = await get(crm, '/v1/stores/s042/members?cursor=4', { etag: p3.etag })
  t.equal(changed.status, 200, 'a change invalidates the ETag')
  t.same(await changed.json(), { members: [member('m-1', { tier: 'silver' })], erasures: [], cursor: '5', more: false })
  t.same((await page(undefined, 10)).body.members.map((m) => m.memberId), ['m-3', 'm-1'], 'oldest change first; limit')
  t.same((await (await get(crm, '/v1/stores/s043/members')).json() as Page).members.map((m) => m.memberId), ['m-9'], 'per store')
  t.same(await (await get(crm, '/v1/stores/s044/members')).json(), { members: [], erasures: [], cursor: '0', more: false }, 'an unknown store is empty')
  t.equal((await get(crm, '/v1/stores/s042/members?cursor=abc')).status, 400)
  t.equal((await get(crm, '/v1/stores/s042/members?limit=0')).status, 400)
  t.equal((await get(crm, '/v1/stores/S_42/members')).status, 400)

  await t.rejects(crm.upsertMember('s042', { ...member('m-4'), key: 'short' }), /invalid member/)
  await t.rejects(crm.upsertMember('s042', { ...member('m-4'), nickname: 'x' } as Member), /invalid member/)
  await t.rejects(crm.upsertMember('S 042', member('m-4')), /invalid store id/)
  await t.rejects(crm.eraseMember('s042', 'bad id'), /invalid member id/)
})

t.test('campaigns and layout: ETags, 304, 404, validation', async (t) => {
  const crm = await fresh(t)
  const empty = await get(crm, '/v1/stores/s042/campaigns')
  t.same(await empty.json(), { campaigns: [] })
  await crm.putCampaign('s042', campaign('c2'))
  await crm.putCampaign('s042', campaign('c1', { trigger: { kind: 'scan', sku: '4011' } }))
  const r = await get(crm, '/v1/stores/s042/campaigns')
  const etag = r.headers.get('etag')!
  t.same(await r.json(), { campaigns: [campaign('c1', { trigger: { kind: 'scan', sku: '4011' } }), campaign('c2')] })
  t.not(etag, empty.headers.get('etag'))
  t.equal((await get(crm, '/v1/stores/s042/campaigns', { etag })).status, 304)
  await crm.retireCampaign('s042', 'c2')
  const after = await get(crm, '/v1/stores/s042/campaigns', { etag })
  t.equal(after.status, 200)
  t.same((await after.json() as { campaigns: Campaign[] }).campaigns.map((c) => c.id), ['c1'], 'a retired campaign is no longer listed')
  await t.rejects(crm.putCampaign('s042', { ...campaign('c3'), validMinutes: 0 }), /invalid campaign/)
  await t.rejects(crm.putCampaign('s042', campaign('c3', { trigger: { kind: 'dwell' } })), /trigger.zone/)
  await t.rejects(crm.putCampaign('s042', campaign('c3', { offer: { discount: { kind: 'percent', value: 150 } } })), /percentage/)

  t.equal((await get(crm, '/v1/stores/s042/layout')).status, 404, 'no layout: managed at the store')
  await crm.setLayout('s042', layout)
  const l = await get(crm, '/v1/stores/s042/layout')
  t.equal(l.status, 200)
  t.same(await l.json(), layout)
  t.equal((await get(crm, '/v1/stores/s042/layout', { etag: l.headers.get('etag')! })).status, 304)
  await crm.setLayout('s042', { ...layout, zones: [...layout.zones, { id: 'bakery' }] })
  t.equal((await get(crm, '/v1/stores/s042/layout', { etag: l.headers.get('etag')! })).status, 200)
  await t.rejects(crm.putCampaign('s042', campaign('c4', { trigger: { kind: 'dwell', zone: 'nowhere' } })), /a zone of the layout/, 'zones checked against a known layout')
  await t.rejects(crm.setLayout('s042', { zones: [], anchors: [{ id: 'a', kind: 'scanner', zone: 'nowhere' }] }), /invalid layout/)
  await t.rejects(crm.setLayout('s042', { zones: [{ id: 'Bad Zone' }], anchors: [] }), /invalid layout/)
  await crm.setLayout('s042', null)
  t.equal((await get(crm, '/v1/stores/s042/layout')).status, 404)
})

t.test('model manifest: latest version per name, Ed25519 signatures, bytes', async (t) => {
  const crm = await fresh(t)
  const pub = createPublicKey(crm.publicKeyPem)
  t.equal(pub.asymmetricKeyType, 'ed25519')
  const signed = (m: { name: string; version: string; sha256: string; featureVersion: string; signature: string }) =>
    verify(null, Buffer.from(`${m.name}\n${m.version}\n${m.sha256}\n${m.featureVersion}`, 'utf8'), pub, Buffer.from(m.signature, 'base64'))
  const bytes1 = new Uint8Array([1, 2, 3]), bytes2 = new Uint8Array([4, 5, 6, 7])
  await crm.publishModel({ name: 'offer-ranker', version: '1.0.0', featureVersion: 'f1', bytes: bytes1 })
  await crm.publishModel({ name: 'offer-ranker', version: '1.1.0', featureVersion: 'f2', bytes: bytes2 })
  await crm.publishModel({ name: 'dwell', version: '3', featureVersion: 'f1', bytes: bytes1 }, { badSignature: true })
  await crm.publishModel({ name: 'zz-sha', version: '1', featureVersion: 'f1', bytes: bytes1 }, { wrongSha: true })
  type Manifest = { models: { name: string; version: string; sha256: string; featureVersion: string; url: string; signature: string }[] }
  const r = await get(crm, '/v1/models/manifest')
  const m = await r.json() as Manifest
  t.same(m.models.map((x) => [x.name, x.version, x.featureVersion]), [['dwell', '3', 'f1'], ['offer-ranker', '1.1.0', 'f2'], ['zz-sha', '1', 'f1']])
  const [dwell, ranker, wrong] = m.models
  t.equal(ranker!.url, '/v1/models/offer-ranker/1.1.0')
  t.equal(signed(ranker!), true, 'the signature verifies with publicKeyPem')
  t.equal(signed(dwell!), false, 'badSignature does not')
  t.equal(signed(wrong!), true, 'wrongSha is signed as published')
  const dl = await get(crm, ranker!.url)
  t.equal(dl.headers.get('content-type'), 'application/octet-stream')
  const got = new Uint8Array(await dl.arrayBuffer())
  t.same([...got], [...bytes2])
  const { createHash } = await import('node:crypto')
  t.equal(createHash('sha256').update(got).digest('hex'), ranker!.sha256)
  const wrongBytes = new Uint8Array(await (await get(crm, wrong!.url)).arrayBuffer())
  t.not(createHash('sha256').update(wrongBytes).digest('hex'), wrong!.sha256, 'wrongSha: the bytes do not match')
  t.equal((await get(crm, '/v1/models/manifest', { etag: r.headers.get('etag')! })).status, 304)
  t.equal((await get(crm, '/v1/models/offer-ranker/9.9')).status, 404)
  t.equal((await get(crm, '/v1/models/offer-ranker/1.0.0')).status, 200, 'older versions stay downloadable')
  await t.rejects(crm.publishModel({ name: 'bad name', version: '1', featureVersion: 'f', bytes: bytes1 }), /model name/)
})

t.test('/_admin: faults, events, stats, setters over HTTP', async (t) => {
  const crm = await fresh(t)
  t.equal((await admin(crm, 'PUT', '/_admin/faults', { unavailable: 1 }, null)).status, 401)
  t.equal((await admin(crm, 'PUT', '/_admin/faults', { unavailable: -1 })).status, 400)
  t.equal((await admin(crm, 'PUT', '/_admin/faults', { typo: true })).status, 400)
  t.equal((await admin(crm, 'PUT', '/_admin/faults', { unavailable: 1, down: false })).status, 200)
  t.same(crm.faults, { unavailable: 1, down: false })
  t.equal((await post(crm, batch(ev()))).status, 503)
  t.same(await (await admin(crm, 'GET', '/_admin/faults')).json(), { unavailable: 0, down: false })
  await admin(crm, 'PUT', '/_admin/faults', {})
  t.same(crm.faults, {}, 'PUT replaces')

  const e1 = ev({ event: 'Zone Dwelled' }), e2 = ev(), e3 = ev({ context: { store: 's043', library: { name: 'aisle-edge', version: '1' } } })
  await post(crm, batch(e1, e2, e3))
  await post(crm, batch(ev({ event: 'Device Health' })), { path: '/v1/ops/batch' })
  type Events = { events: { messageId: string; seq: number; stream: string }[]; last: number }
  const all = await (await admin(crm, 'GET', '/_admin/events')).json() as Events
  t.equal(all.events.length, 4)
  t.equal(all.last, all.events[3]!.seq)
  const after = await (await admin(crm, 'GET', `/_admin/events?after=${all.events[0]!.seq}&limit=1`)).json() as Events
  t.same(after.events.map((e) => e.messageId), [e2['messageId']])
  t.same((await (await admin(crm, 'GET', '/_admin/events?event=Zone%20Dwelled')).json() as Events).events.map((e) => e.messageId), [e1['messageId']])
  t.same((await (await admin(crm, 'GET', '/_admin/events?store=s043')).json() as Events).events.map((e) => e.messageId), [e3['messageId']])
  t.same((await (await admin(crm, 'GET', '/_admin/events?stream=ops')).json() as Events).events.map((e) => e.stream), ['ops'])
  t.equal((await admin(crm, 'GET', '/_admin/events?after=x')).status, 400)
  t.match(await (await admin(crm, 'GET', '/_admin/stats')).json(), { batches: 3, accepted: 4, byStatus: { 200: 2, 503: 1 } })

  t.equal((await admin(crm, 'PUT', '/_admin/stores/s042/members/m-1', member('m-1'))).status, 204)
  t.equal((await admin(crm, 'PUT', '/_admin/stores/s042/members/m-2', member('m-1'))).status, 400, 'the path id must match')
  t.equal((await admin(crm, 'PUT', '/_admin/stores/s042/members/m-2', { ...member('m-2'), key: 'nope' })).status, 400, 'validated')
  t.equal((await admin(crm, 'DELETE', '/_admin/stores/s042/members/m-1')).status, 204)
  t.same(await (await get(crm, '/v1/stores/s042/members')).json(), { members: [], erasures: ['m-1'], cursor: '2', more: false })

  t.equal((await admin(crm, 'PUT', '/_admin/stores/s042/campaigns/c1', campaign('c1'))).status, 204)
  t.equal((await admin(crm, 'PUT', '/_admin/stores/s042/campaigns/c1', { ...campaign('c1'), title: '' })).status, 400)
  t.same(await (await get(crm, '/v1/stores/s042/campaigns')).json(), { campaigns: [campaign('c1')] })
  t.equal((await admin(crm, 'DELETE', '/_admin/stores/s042/campaigns/c1')).status, 204)
  t.same(await (await get(crm, '/v1/stores/s042/campaigns')).json(), { campaigns: [] })

  t.equal((await admin(crm, 'PUT', '/_admin/stores/s042/layout', layout)).status, 204)
  t.same(await (await get(crm, '/v1/stores/s042/layout')).json(), layout)
  t.equal((await admin(crm, 'PUT', '/_admin/stores/s042/layout', { zones: 'x' })).status, 400)
  t.equal((await admin(crm, 'DELETE', '/_admin/stores/s042/layout')).status, 204)
  t.equal((await get(crm, '/v1/stores/s042/layout')).status, 404)

  const up = await fetch(`${crm.url}/_admin/models/ranker/2?featureVersion=f1&badSignature=1`, { method: 'PUT', headers: { authorization: bearer(), 'content-type': 'application/octet-stream' }, body: new Uint8Array([9, 9]) })
  t.equal(up.status, 204)
  const man = await (await get(crm, '/v1/models/manifest')).json() as { models: { name: string }[] }
  t.same(man.models.map((x) => x.name), ['ranker'])
  t.equal(await (await admin(crm, 'GET', '/_admin/public-key')).text(), crm.publicKeyPem)
})

t.test('a database file keeps the data across restarts; a given signing key is used', async (t) => {
  const { generateKeyPairSync } = await import('node:crypto')
  const dbFile = join(mkdtempSync(join(tmpdir(), 'aisle-refcrm-')), 'crm.sqlite')
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const first = await startReferenceCrm({ writeKey: WRITE_KEY, storeToken: TOKEN, dbFile, signingKey: privateKey })
  t.equal(first.publicKeyPem, publicKey.export({ type: 'spki', format: 'pem' }).toString())
  const e = ev()
  await post(first, batch(e))
  await first.upsertMember('s042', member('m-1'))
  await first.close()
  const second = await fresh(t, { dbFile })
  t.equal(await second.count(), 1)
  t.equal((await post(second, batch(e))).status, 200)
  t.equal(second.stats.duplicates, 1, 'a retry after a restart is still de-duplicated')
  t.same((await (await get(second, '/v1/stores/s042/members')).json() as { members: Member[] }).members, [member('m-1')])
  await t.rejects(startReferenceCrm({ writeKey: WRITE_KEY, storeToken: TOKEN, signingKey: generateKeyPairSync('x25519').privateKey }), /Ed25519/)
})
