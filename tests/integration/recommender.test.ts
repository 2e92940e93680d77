/** The recommender at the gateway: ranked decisions with their scores, the model registry through the admin API. */
import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rpidAt } from '../../edge/contract/index.js'
import { packageRoot } from '../../edge/config/load.js'
import { ManualClock } from '../../edge/core/clock.js'
import { createLogger } from '../../edge/core/log.js'
import { FEATURE_DIM, FEATURE_VERSION } from '../../edge/recommend/features.js'
import { ModelRegistry } from '../../edge/recommend/registry.js'
import { init } from '../../models/train/nn.js'
import { toOnnx } from '../../models/train/onnx.js'
import { startTestGateway, MEMBER_KEY, TEST_ADMIN, TEST_VIEWER } from '../helpers/gateway.js'
import { connect, heardFor } from '../helpers/mqtt.js'
import { scrape, sample } from '../helpers/metrics.js'
import { waitFor } from '../helpers/net.js'

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const silent = createLogger({ level: 'silent' })
const campaign = (id: string, category: string, discount: Record<string, unknown>) => ({ id, title: id, trigger: { kind: 'dwell', zone: 'fridge-dairy', seconds: 10 }, offer: { category, discount }, validMinutes: 30 })

t.test('decisions are ranked by the model and recorded with its version and scores', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 16, 0, 0))
  const tg = await startTestGateway({ clock, overlay: { campaigns: [campaign('yoghurt-20', 'dairy', { kind: 'percent', value: 20 }), campaign('cheese-2', 'dairy', { kind: 'amount', value: 2 }), campaign('bread-bogo', 'bakery', { kind: 'bogo' })] } })
  t.teardown(() => tg.close())
  const { gw } = tg
  const ready = await (await fetch(`${gw.httpUrl}/readyz`)).json() as { checks: { model: { detail: string } } }
  t.match(ready.checks.model.detail, /^recommender default@[0-9a-f]{12}$/)
  const dev = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
  t.teardown(() => dev.endAsync())
  await heardFor(dev, { prefix: gw.prefix, scanner: 'scn-dairy', subject: (ts) => rpidAt(MEMBER_KEY, ts), clock, seconds: 12 })
  const d = await waitFor(async () => {
    const r = await fetch(`${gw.httpUrl}/v1/admin/decisions?member=m-1`, { headers: { authorization: `Bearer ${TEST_ADMIN}` } })
    const b = await r.json() as { decisions: { modelVersion: string | null; offerId: string | null; campaignId: string; considered: { campaignId: string; outcome: string; score?: number }[] }[] }
    return b.decisions[0]
  }, { what: 'a decision' })
  t.match(d.modelVersion, /^default@/)
  t.ok(d.offerId)
  const scored = d.considered.filter((c) => c.score !== undefined)
  t.equal(scored.length, 3, 'every candidate was scored, in one batch')
  const chosen = d.considered.find((c) => c.outcome === 'chosen')!
  t.equal(chosen.campaignId, d.campaignId)
  t.ok(scored.every((c) => c.score! <= chosen.score!), 'the highest score won')
  t.same(d.considered.filter((c) => c.outcome === 'lower-score').length, 2)
  const byCampaign = await (await fetch(`${gw.httpUrl}/v1/admin/decisions?campaign=bread-bogo`, { headers: { authorization: `Bearer ${TEST_VIEWER}` } })).json() as { decisions: unknown[] }
  t.equal(byCampaign.decisions.length, 1, 'decisions where a campaign was considered')
})

t.test('the registry through the admin API: refusals keep the working model; swap and rollback', async (t) => {
  const tg = await startTestGateway()
  t.teardown(() => tg.close())
  const { gw } = tg
  const api = async (method: string, path: string, body?: Uint8Array | object, type = 'application/json') => {
    const r = await fetch(`${gw.httpUrl}/v1/admin${path}`, { method, headers: { authorization: `Bearer ${TEST_ADMIN}`, ...(body ? { 'content-type': type } : {}) }, body: body instanceof Uint8Array ? Buffer.from(body) : body ? JSON.stringify(body) : undefined })
    return { status: r.status, body: await r.json() as Record<string, unknown> }
  }
  const state = async () => (await api('GET', '/models')).body as { active: { version: string } | null; previous: { version: string } | null; lastError: string | null }
  const original = (await state()).active!.version
  t.match(original, /^default@/)

  const good = toOnnx(init({ kind: 'lr', dim: FEATURE_DIM }, 2), { featureVersion: FEATURE_VERSION })
  const corrupt = Buffer.from(good)
  corrupt.writeUInt8(corrupt.readUInt8(corrupt.length - 5) ^ 0xff, corrupt.length - 5)
  const r1 = await api('PUT', `/models/new?sha256=${sha(good)}`, corrupt, 'application/octet-stream')
  t.equal(r1.status, 400)
  t.match(r1.body['message'], /SHA-256 .* does not match/)
  const narrow = toOnnx(init({ kind: 'lr', dim: 10 }, 2), {})
  const r2 = await api('PUT', `/models/narrow?sha256=${sha(narrow)}`, narrow, 'application/octet-stream')
  t.equal(r2.status, 400)
  t.match(r2.body['message'], /takes 10 features, the gateway builds/)
  const junk = Buffer.from('not an onnx model at all')
  const r3 = await api('PUT', `/models/junk?sha256=${sha(junk)}`, junk, 'application/octet-stream')
  t.equal(r3.status, 400)
  t.match(r3.body['message'], /not a loadable ONNX model/)
  t.equal((await state()).active!.version, original, 'the working model stayed through every refusal')
  t.match((await state()).lastError, /not a loadable/)

  const r4 = await api('PUT', `/models/retrained?sha256=${sha(good)}`, good, 'application/octet-stream')
  t.equal(r4.status, 200)
  t.match(r4.body['version'], /^retrained@/)
  const after = await state()
  t.equal(after.previous!.version, original, 'the previous model is kept for rollback')
  t.same(JSON.parse(readFileSync(join(tg.dataDir, 'models', 'manifest.json'), 'utf8')).default, 'retrained', 'stored in the data folder with its manifest')
  const back = await api('POST', '/models/rollback')
  t.equal(back.body['version'], original)
  const again = await api('POST', '/models/activate', { name: 'retrained' })
  t.equal(again.status, 200)
  t.equal((await api('POST', '/models/activate', { name: 'nope' })).status, 400)
  t.equal((await fetch(`${gw.httpUrl}/v1/admin/models/rollback`, { method: 'POST', headers: { authorization: `Bearer ${TEST_VIEWER}` } })).status, 403, 'viewers cannot swap models')
})

t.test('registry: feature version and manifest checks', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aisle-models-'))
  const bytes = toOnnx(init({ kind: 'lr', dim: FEATURE_DIM }, 3), {})
  writeFileSync(join(dir, 'old.onnx'), bytes)
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ default: 'old', models: [{ name: 'old', file: 'old.onnx', sha256: sha(bytes), featureVersion: 'f10-000000000000' }] }))
  const reg = new ModelRegistry([dir, join(packageRoot(), 'models')], silent)
  t.teardown(() => reg.close())
  const r = await reg.activate()
  t.notOk(r.ok)
  t.match(!r.ok && r.error, /trained for features f10-000000000000/)
  t.equal(reg.active, null)
  const ok = await reg.activate('default')
  t.ok(ok.ok, 'the shipped default verifies against its manifest')
  t.same(reg.rollback(), { ok: false, error: 'no previous model to roll back to' })
})

t.test('without a model, offers fall back to rule priority and the reason is counted', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 16, 0, 0))
  const empty = mkdtempSync(join(tmpdir(), 'aisle-nomodel-'))
  const tg = await startTestGateway({ clock, overlay: { recommender: { modelDir: empty } } })
  t.teardown(() => tg.close())
  const { gw } = tg
  const ready = await (await fetch(`${gw.httpUrl}/readyz`)).json() as { ready: boolean; checks: { model: { detail: string } } }
  t.equal(ready.ready, true)
  t.match(ready.checks.model.detail, /no recommender model .*campaign rule priority/)
  const dev = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
  t.teardown(() => dev.endAsync())
  await heardFor(dev, { prefix: gw.prefix, scanner: 'scn-dairy', subject: (ts) => rpidAt(MEMBER_KEY, ts), clock, seconds: 12 })
  await waitFor(async () => sample(await scrape(gw.httpUrl), 'aisle_recommender_fallbacks_total', { reason: 'no-model' }) >= 1, { what: 'fallback counted' })
  const d = await waitFor(async () => {
    const b = await (await fetch(`${gw.httpUrl}/v1/admin/decisions?member=m-1`, { headers: { authorization: `Bearer ${TEST_ADMIN}` } })).json() as { decisions: { modelVersion: string | null; fallback: string | null; offerId: string | null }[] }
    return b.decisions[0]
  }, { what: 'the decision recorded' })
  t.match(d, { modelVersion: null, fallback: 'no-model' })
  t.ok(d.offerId, 'an offer is still issued')
})
