/**
 * CRM sync against the reference CRM (cloud-sync/reference-crm), real HTTP on loopback: commit order and exactly
 * once by messageId through an outage (down, 429 with Retry-After, 503, dropped connections), packing into
 * blocks, a poison event parked without blocking its stream, an oversized event parked as ours, the ops stream
 * to its own URL, inbound members / erasures / campaigns / layout / signed models with ETags, the budget.
 */
import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import type { ReferenceCrm } from '../../cloud-sync/reference-crm/server.js'
import { crmSettings, startTestCrm } from '../helpers/crm.js'
import { outboxOp, type OutboxEvent } from '../../edge/storage/store.js'
import { FEATURE_VERSION } from '../../edge/recommend/features.js'
import { packageRoot } from '../../edge/config/load.js'
import { join } from 'node:path'
import { startTestGateway, TEST_ADMIN, MEMBER_KEY, type TestGateway } from '../helpers/gateway.js'
import { scrape, sample } from '../helpers/metrics.js'
import { waitFor, sleep } from '../helpers/net.js'
import { query } from '../helpers/db.js'

const admin = { authorization: `Bearer ${TEST_ADMIN}`, 'content-type': 'application/json' }

async function withCrm(t: Test, overlay: { crm?: Record<string, unknown> } = {}): Promise<{ crm: ReferenceCrm; tg: TestGateway }> {
  const crm = await startTestCrm(t)
  const tg = await startTestGateway({ overlay: { crm: crmSettings(crm, overlay.crm) } })
  t.teardown(() => tg.close())
  return { crm, tg }
}

const ev = (i: number, o: Partial<OutboxEvent> = {}): OutboxEvent => ({
  stream: 'crm', messageId: `test-event:${i}`, event: 'Zone Dwelled', anonymousId: `p-${i % 50}`, ts: Date.UTC(2026, 0, 5, 9, 0, 0) + i, properties: { zone: 'fridge-dairy', seconds: 10, i }, ...o,
})

async function commit(tg: TestGateway, events: OutboxEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 500) await tg.gw.store.write(events.slice(i, i + 500).map(outboxOp))
}

const syncView = async (tg: TestGateway) => (await (await fetch(`${tg.gw.httpUrl}/v1/admin/sync`, { headers: admin })).json()) as Record<string, any>

t.test('drains both streams in commit order, exactly once, CRM first; /v1/admin/sync and metrics', async (t) => {
  const { crm, tg } = await withCrm(t)
  const crmEvents = Array.from({ length: 3000 }, (_, i) => ev(i))
  const opsEvents = Array.from({ length: 300 }, (_, i) => ev(i, { stream: 'ops', messageId: `ops-event:${i}`, event: 'Device State Changed', anonymousId: 's042' }))
  await commit(tg, [...opsEvents.slice(0, 150), ...crmEvents, ...opsEvents.slice(150)])
  await waitFor(async () => (await crm.count()) >= 3300, { what: 'every event at the CRM', timeoutMs: 30_000 })
  const got = await crm.events({ stream: 'crm' })
  t.same(got.map((e) => e.messageId), crmEvents.map((e) => e.messageId), 'the CRM stream in commit order, each once')
  t.same((await crm.events({ stream: 'ops' })).map((e) => e.messageId), opsEvents.map((e) => e.messageId), 'the ops stream to crm.opsUrl, in commit order')
  const e = got[0]!
  t.equal(e.timestamp, new Date(crmEvents[0]!.ts).toISOString(), 'timestamp is when it happened')
  t.equal(e.store, tg.config.store.id, 'context.store')
  t.equal(crm.stats.duplicates, 0)
  await waitFor(async () => (await syncView(tg)).backlog === 0, { what: 'backlog 0' })
  const v = await syncView(tg)
  t.equal(v['mode'], 'http')
  t.equal(v['delivered'], 3300)
  t.ok(v['lastSuccess'], 'a last success')
  t.equal(v['streams'].ops.destination, 'http')
  const text = await scrape(tg.gw.httpUrl)
  t.equal(sample(text, 'aisle_outbox_delivered_total', { stream: 'crm' }), 3000)
  t.equal(sample(text, 'aisle_outbox_delivered_total', { stream: 'ops' }), 300)
  t.equal(sample(text, 'aisle_outbox_stream_backlog', { stream: 'crm' }), 0)
  t.equal((await query<{ n: number }>(tg.gw.dbFile, 'SELECT COUNT(*) AS n FROM outbox'))[0]!.n, 0, 'delivered rows are deleted')
})

t.test('crm.drainThread false: the same drain on the gateway\'s main thread', async (t) => {
  const { crm, tg } = await withCrm(t, { crm: { drainThread: false } })
  const events = Array.from({ length: 2500 }, (_, i) => ev(i))
  await commit(tg, events)
  await waitFor(async () => (await syncView(tg)).backlog === 0, { what: 'drained', timeoutMs: 30_000 })
  t.same((await crm.events({ stream: 'crm' })).map((e) => e.messageId), events.map((e) => e.messageId), 'in commit order, each once')
  t.equal((await syncView(tg))['delivered'], 2500)
})

t.test('an outage (down, 429 with Retry-After, 503, connections dropped after the body), packed into blocks, then recovery: every event once, in order', async (t) => {
  const { crm, tg } = await withCrm(t)
  crm.faults.down = true
  const all: OutboxEvent[] = []
  let i = 0
  // a stretch of store traffic during the outage: more than the table keeps unpacked
  for (let round = 0; round < 6; round++) {
    const batch = Array.from({ length: 3000 }, () => ev(i++))
    all.push(...batch)
    await commit(tg, batch)
    await tg.gw.housekeep()
  }
  // the drain (on its own thread) has tried and failed meanwhile
  await waitFor(async () => /503/.test((await syncView(tg))['lastError'] ?? ''), { what: 'the failed tries shown' })
  const during = await syncView(tg)
  t.ok(during['streams'].crm.packed >= 10_000, `packed into blocks during the outage (${during['streams'].crm.packed} of ${during['backlog']})`)
  t.match(during['lastError'], /503/, 'the error is shown')
  t.equal(sample(await scrape(tg.gw.httpUrl), 'aisle_outbox_backlog'), all.length, 'aisle_outbox_backlog counts packed records too')
  t.ok(during['streams'].crm.nextAttempt, 'and when it tries again')
  const rows = (await query<{ n: number; bytes: number }>(tg.gw.dbFile, 'SELECT SUM(count) AS n, SUM(LENGTH(data)) AS bytes FROM outbox_blocks'))[0]!
  t.ok(rows.bytes / rows.n < 60, `a packed event takes ${(rows.bytes / rows.n).toFixed(1)} bytes`)
  // flapping: 429s, 503s, a receiver that takes the body and drops the connection
  crm.faults = { tooMany: { count: 3, retryAfterSeconds: 1 }, unavailable: 3, dropAfterBody: 3 }
  const more = Array.from({ length: 2000 }, () => ev(i++))
  all.push(...more)
  await commit(tg, more)
  await waitFor(async () => (await crm.count()) >= all.length, { what: 'every event at the CRM after recovery', timeoutMs: 90_000 })
  const got = await crm.events({ stream: 'crm' })
  t.equal(got.length, all.length, 'each event once at the receiver')
  t.same(got.map((e) => e.messageId), all.map((e) => e.messageId), 'in commit order')
  t.ok(crm.stats.duplicates > 0, `re-sent events carried the same messageId (${crm.stats.duplicates} de-duplicated)`)
  t.ok((crm.stats.byStatus['429'] ?? 0) >= 3 && (crm.stats.byStatus['503'] ?? 0) >= 3, 'through 429s and 503s')
  await waitFor(async () => (await syncView(tg)).backlog === 0, { what: 'the backlog drains' })
  t.equal((await query<{ n: number }>(tg.gw.dbFile, 'SELECT COUNT(*) AS n FROM outbox_blocks'))[0]!.n, 0, 'no block left')
  const text = await scrape(tg.gw.httpUrl)
  t.ok(sample(text, 'aisle_outbox_retries_total') >= 6, 'retries counted')
  t.equal(sample(text, 'aisle_outbox_backlog'), 0, 'and back to 0 once drained')
})

t.test('a poison event is parked and does not block its stream; an event over 32 KB is parked as ours', async (t) => {
  const { crm, tg } = await withCrm(t)
  crm.faults.refuseMessageIds = ['test-event:417']
  const events = Array.from({ length: 1000 }, (_, i) => ev(i))
  events.push(ev(1000, { properties: { pad: 'x'.repeat(40_000) } }))
  events.push(ev(1001))
  await commit(tg, events)
  await waitFor(async () => (await crm.count()) >= 999, { what: 'all but the two', timeoutMs: 30_000 })
  await waitFor(async () => (await syncView(tg)).parked === 2, { what: 'two parked' })
  const got = (await crm.events()).map((e) => e.messageId)
  t.notOk(got.includes('test-event:417'), 'the refused event is not stored')
  t.ok(got.includes('test-event:1001'), 'what came after it went through')
  const v = await syncView(tg)
  t.same(v['recentlyParked'].map((p: { messageId: string }) => p.messageId).sort(), ['test-event:1000', 'test-event:417'])
  t.match(v['recentlyParked'].find((p: { messageId: string }) => p.messageId === 'test-event:1000').reason, /over 32 KB/)
  t.equal(sample(await scrape(tg.gw.httpUrl), 'aisle_outbox_parked_total', { stream: 'crm' }), 2)
  t.ok(tg.logs.filter((l) => l.includes('event parked')).length <= 2, 'logged once per reason')
})

t.test('inbound: members by cursor pages, erasure confirmed with Member Erased, 304s, campaigns owned by the CRM, layout', async (t) => {
  const { crm, tg } = await withCrm(t, { crm: { pull: { membersSeconds: 1, campaignsSeconds: 1, layoutSeconds: 1 } } })
  const store = tg.config.store.id
  for (let i = 0; i < 1200; i++) await crm.upsertMember(store, { memberId: `crm-${i}`, key: MEMBER_KEY.slice(0, 62) + (i % 256).toString(16).padStart(2, '0'), consent: { offers: true, location: true } })
  await waitFor(async () => (await query<{ n: number }>(tg.gw.dbFile, "SELECT COUNT(*) AS n FROM members WHERE member_id LIKE 'crm-%'"))[0]!.n === 1200, { what: 'members pulled in pages', timeoutMs: 20_000 })
  const nm = crm.stats.notModified
  await waitFor(() => crm.stats.notModified > nm + 2, { what: '304s for unchanged resources', timeoutMs: 10_000 })
  t.pass('unchanged resources answered 304')

  // an erasure at the CRM: applied at the edge within a pull cycle, confirmed
  await crm.upsertMember(store, { memberId: 'erase-me-7q', key: MEMBER_KEY, consent: { offers: true, location: true } })
  await waitFor(async () => (await query<{ n: number }>(tg.gw.dbFile, "SELECT COUNT(*) AS n FROM members WHERE member_id = 'erase-me-7q'"))[0]!.n === 1, { what: 'the member pulled', timeoutMs: 10_000 })
  await crm.eraseMember(store, 'erase-me-7q')
  await waitFor(async () => (await crm.events({ event: 'Member Erased' })).length === 1, { what: 'Member Erased at the CRM', timeoutMs: 20_000 })
  const erased = (await crm.events({ event: 'Member Erased' }))[0]!
  t.equal(erased.userId, 'erase-me-7q', 'Member Erased names the erased member')
  t.same(Object.keys(erased.properties).sort(), ['storeId'], 'and nothing else personal')
  t.equal((await query<{ n: number }>(tg.gw.dbFile, "SELECT COUNT(*) AS n FROM members WHERE member_id = 'erase-me-7q'"))[0]!.n, 0, 'erased at the edge')
  await tg.gw.stop()
  const bytes = Buffer.concat([readFileSync(tg.gw.dbFile), ...['-wal'].map((x) => { try { return readFileSync(tg.gw.dbFile + x) } catch { return Buffer.alloc(0) } })])
  t.notOk(bytes.includes(Buffer.from('erase-me-7q')), 'the erased id is not left in clear in the database files')
})

t.test('campaigns: pulled, retired when gone, a store edit replaced by the CRM\'s next version (visible)', async (t) => {
  const { crm, tg } = await withCrm(t, { crm: { pull: { campaignsSeconds: 1 } } })
  const store = tg.config.store.id
  const c = { id: 'crm-dairy', title: 'CRM dairy deal', trigger: { kind: 'dwell', zone: 'fridge-dairy', seconds: 10 }, offer: { discount: { kind: 'percent', value: 10 } }, validMinutes: 60 }
  await crm.putCampaign(store, c as never)
  const campaigns = async () => ((await (await fetch(`${tg.gw.httpUrl}/v1/admin/campaigns`, { headers: admin })).json()) as { campaigns: { campaign: { id: string; title: string }; source: string }[] }).campaigns
  await waitFor(async () => (await campaigns()).some((x) => x.campaign.id === 'crm-dairy'), { what: 'the CRM campaign at the edge', timeoutMs: 10_000 })
  // a store edit, then the CRM changes it: the CRM wins, and says so
  const put = await fetch(`${tg.gw.httpUrl}/v1/admin/campaigns/crm-dairy`, { method: 'PUT', headers: admin, body: JSON.stringify({ ...c, title: 'edited at the store' }) })
  t.ok(put.ok)
  await crm.putCampaign(store, { ...c, title: 'CRM dairy deal v2' } as never)
  await waitFor(async () => (await campaigns()).find((x) => x.campaign.id === 'crm-dairy')?.campaign.title === 'CRM dairy deal v2', { what: 'the CRM version', timeoutMs: 10_000 })
  const v = await syncView(tg)
  t.same(v['overrides'].map((o: { id: string }) => o.id), ['crm-dairy'], 'the override is shown')
  await crm.retireCampaign(store, 'crm-dairy')
  await waitFor(async () => !(await campaigns()).some((x) => x.campaign.id === 'crm-dairy'), { what: 'retired when the CRM no longer lists it', timeoutMs: 10_000 })
  t.pass('retired')
})

t.test('models: a signed model is installed; a bad signature or a wrong SHA-256 is refused and the working model stays', async (t) => {
  const { crm, tg } = await withCrm(t, { crm: { pull: { modelsSeconds: 1 } } })
  const bytes = readFileSync(join(packageRoot(), 'models', 'default.onnx'))
  const state = async () => (await (await fetch(`${tg.gw.httpUrl}/v1/admin/models`, { headers: admin })).json()) as { active: { version: string; entry?: { crmVersion?: string } } | null }
  const before = (await state()).active?.version
  await crm.publishModel({ name: 'chain', version: 'v1', featureVersion: FEATURE_VERSION, bytes }, { badSignature: true })
  await waitFor(async () => /signature/.test((await syncView(tg))['inbound'].models.lastError ?? ''), { what: 'bad signature refused', timeoutMs: 10_000 })
  t.equal((await state()).active?.version, before, 'the working model stays')
  await crm.publishModel({ name: 'chain', version: 'v2', featureVersion: FEATURE_VERSION, bytes }, { wrongSha: true })
  await waitFor(async () => /SHA-256/.test((await syncView(tg))['inbound'].models.lastError ?? ''), { what: 'wrong SHA refused', timeoutMs: 10_000 })
  t.equal((await state()).active?.version, before, 'still the working model')
  await crm.publishModel({ name: 'chain', version: 'v3', featureVersion: 'f0-other', bytes })
  await waitFor(async () => /features/.test((await syncView(tg))['inbound'].models.lastError ?? ''), { what: 'wrong feature version refused', timeoutMs: 10_000 })
  await crm.publishModel({ name: 'chain', version: 'v4', featureVersion: FEATURE_VERSION, bytes })
  await waitFor(async () => /^chain@/.test((await state()).active?.version ?? ''), { what: 'the signed model active', timeoutMs: 10_000 })
  await waitFor(async () => (await syncView(tg))['inbound'].models.lastApplied, { what: 'applied' })
  t.equal((await syncView(tg))['inbound'].models.lastError, null, 'no error left')
})

t.test('the outbox budget: alarm, ops dropped oldest first, no new discretionary CRM records, nothing committed dropped', async (t) => {
  const { crm, tg } = await withCrm(t, { crm: { outboxBudgetMB: 1 } })
  crm.faults.down = true
  const crmEvents = Array.from({ length: 1500 }, (_, i) => ev(i, { event: 'Receipt Recorded' }))
  await commit(tg, crmEvents)
  await commit(tg, Array.from({ length: 6000 }, (_, i) => ev(i, { stream: 'ops', messageId: `ops:${i}`, event: 'Device State Changed', anonymousId: 's042', properties: { pad: 'y'.repeat(200), i } })))
  await tg.gw.housekeep()
  await tg.gw.housekeep()
  const text = await scrape(tg.gw.httpUrl)
  t.ok(sample(text, 'aisle_outbox_dropped_total', { stream: 'ops' }) > 0, 'ops records dropped at the budget, counted')
  t.ok(sample(text, 'aisle_outbox_budget_ratio') <= 1, 'back under the budget')
  const crmLeft = (await query<{ n: number }>(tg.gw.dbFile, "SELECT COUNT(*) AS n FROM outbox WHERE stream = 'crm'"))[0]!.n + ((await query<{ n: number | null }>(tg.gw.dbFile, "SELECT SUM(count) AS n FROM outbox_blocks WHERE stream = 'crm'"))[0]!.n ?? 0)
  t.equal(crmLeft, 1500, 'no CRM record dropped')
  // now fill it with CRM records alone: new Zone Dwelled records are refused, counted; receipts still kept
  await commit(tg, Array.from({ length: 4000 }, (_, i) => ev(10_000 + i, { event: 'Receipt Recorded', properties: { pad: 'z'.repeat(300) } })))
  await tg.gw.housekeep()
  const v = await syncView(tg)
  t.equal(v['budget'].state, 'full', 'full')
  t.match(JSON.stringify((await (await fetch(`${tg.gw.httpUrl}/readyz`)).json())), /FULL/, '/readyz says so')
  await commit(tg, [ev(20_000), ev(20_001, { event: 'Receipt Recorded' })])
  const t2 = await scrape(tg.gw.httpUrl)
  t.equal(sample(t2, 'aisle_outbox_refused_total', { event: 'Zone Dwelled' }), 1, 'a new Zone Dwelled refused and counted')
  t.equal((await query<{ n: number }>(tg.gw.dbFile, "SELECT COUNT(*) AS n FROM outbox WHERE message_id = 'test-event:20001'"))[0]!.n, 1, 'a receipt is still kept')
  // the CRM comes back: everything committed arrives
  crm.faults = {}
  await waitFor(async () => (await crm.count()) >= 1500 + 4000 + 1, { what: 'the backlog delivered', timeoutMs: 60_000 })
  await tg.gw.housekeep()
  t.equal((await syncView(tg))['budget'].state, 'ok', 'the budget clears')
  await sleep(10)
})

t.test('stand-alone without crm.url: says so, and keeps the outbox', async (t) => {
  const tg = await startTestGateway()
  t.teardown(() => tg.close())
  const v = await syncView(tg)
  t.equal(v['mode'], 'stand-alone')
  t.match(v['lastError'], /no crm.url/)
  t.equal(v['inbound'].members.lastError, 'stand-alone')
})

t.test('layout from the CRM replaces the store\'s; a campaign the edge cannot run is refused with its reason and the rest stays', async (t) => {
  const { crm, tg } = await withCrm(t, { crm: { pull: { campaignsSeconds: 1, layoutSeconds: 1 } } })
  const store = tg.config.store.id
  const layout = async () => (await (await fetch(`${tg.gw.httpUrl}/v1/admin/layout`, { headers: admin })).json()) as { zones: { id: string }[] }
  // 404 from the CRM: the layout stays the store's
  await waitFor(async () => (await syncView(tg))['inbound'].layout.lastPull, { what: 'a layout pull' })
  t.same((await layout()).zones.map((z) => z.id), ['fridge-dairy', 'bakery'], '404: the layout is managed at the store')
  await crm.setLayout(store, { zones: [{ id: 'fridge-dairy', kind: 'fridge', dwellSeconds: 10 }, { id: 'bakery', kind: 'counter' }, { id: 'produce', kind: 'aisle' }], anchors: [{ id: 'scn-dairy', kind: 'scanner', zone: 'fridge-dairy' }, { id: 'scn-bakery', kind: 'scanner', zone: 'bakery' }] })
  await waitFor(async () => (await layout()).zones.some((z) => z.id === 'produce'), { what: 'the CRM layout at the edge', timeoutMs: 10_000 })
  t.pass('the CRM\'s layout applied')
  await crm.setLayout(store, null)
  const good = { id: 'crm-ok', title: 'ok', trigger: { kind: 'enter', zone: 'bakery' }, offer: { discount: { kind: 'amount', value: 1 } }, validMinutes: 30 }
  // the bad one first: no pull can ever see the good one alone (a pull between two puts was timing luck)
  await crm.putCampaign(store, { ...good, id: 'crm-nowhere', trigger: { kind: 'dwell', zone: 'no-such-zone', seconds: 5 } } as never)
  await crm.putCampaign(store, good as never)
  // two refused pulls counted after both puts: the second one started after them, so it saw the whole set
  const refusedPulls = async () => sample(await scrape(tg.gw.httpUrl), 'aisle_sync_pulls_total', { resource: 'campaigns', outcome: 'refused' })
  const before = await refusedPulls()
  await waitFor(async () => (await refusedPulls()) >= before + 2, { what: 'two refused pulls of the whole set', timeoutMs: 15_000 })
  t.match((await syncView(tg))['inbound'].campaigns.lastError, /crm-nowhere/, 'the refusal shown with the campaign it names')
  const ids = async () => ((await (await fetch(`${tg.gw.httpUrl}/v1/admin/campaigns`, { headers: admin })).json()) as { campaigns: { campaign: { id: string } }[] }).campaigns.map((c) => c.campaign.id)
  const list = await ids()
  t.notOk(list.includes('crm-nowhere') || list.includes('crm-ok'), 'a set with a campaign the edge cannot run is not applied at all')
  t.ok(tg.logs.some((l) => l.includes('crm-nowhere')), 'logged')
  await crm.retireCampaign(store, 'crm-nowhere')
  await waitFor(async () => (await ids()).includes('crm-ok'), { what: 'the corrected set applied', timeoutMs: 10_000 })
  t.pass('once the CRM corrects it, the set applies')
})
