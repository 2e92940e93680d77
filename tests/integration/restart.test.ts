/**
 * Crash safety: kill the gateway process (SIGKILL) after offers were issued; start it again on the same
 * database; nothing committed is lost, the offline queue survives, and the daily cap still holds.
 */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import mqtt from 'mqtt'
import { rpidAt, topics } from '../../edge/contract/index.js'
import { testStore, MEMBER_KEY, OTHER_KEY } from '../helpers/gateway.js'
import { query } from '../helpers/db.js'
import { freePort, sleep, waitFor } from '../helpers/net.js'
import { hasDist, spawnGateway, waitReady } from '../helpers/process.js'
import { scrape, sample } from '../helpers/metrics.js'
import { wsConnect } from '../helpers/ws.js'

const SECRET = 'restart-test-secret-0123456789'

t.test('SIGKILL and restart', { skip: hasDist() ? false : 'dist/ is not built: npm test builds it first (npm run build)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aisle-restart-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const httpPort = await freePort()
  const mqttPort = await freePort()
  const cfg = testStore({
    layout: { zones: [{ id: 'fridge-dairy', kind: 'fridge', dwellSeconds: 2 }, { id: 'bakery' }] },
    campaigns: [{ id: 'dairy-2s', title: 'Yoghurt deal', trigger: { kind: 'dwell', zone: 'fridge-dairy', seconds: 2 }, offer: { discount: { kind: 'percent', value: 10 } }, validMinutes: 60 }],
    member: { jwt: { alg: 'HS256', secret: SECRET } },
    http: { host: '127.0.0.1', port: httpPort },
    mqtt: { embedded: { host: '127.0.0.1', port: mqttPort } },
    log: { level: 'warn' },
  })
  const file = join(dir, 'store.json')
  writeFileSync(file, JSON.stringify(cfg))
  const env = { AISLE_CONFIG: file, AISLE_DATA_DIR: dir, AISLE_SIMULATOR: 'off' }
  const httpUrl = `http://127.0.0.1:${httpPort}`
  const dbFile = join(dir, 'aisle-edge.db')
  const token = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))

  const dwellAtFridge = async (keys: string[], seconds: number) => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { reconnectPeriod: 0 })
    const end = Date.now() + seconds * 1000
    while (Date.now() < end) {
      const ts = Date.now()
      await c.publishAsync(topics.ble('aisle/test', 'scn-dairy'), JSON.stringify(keys.map((k) => ({ id: rpidAt(k, ts), rssi: -55, ts }))), { qos: 1 })
      await sleep(200)
    }
    await c.endAsync()
  }

  // first life: two members dwell; m-1 is connected, m-2 is not
  let child = spawnGateway([], env)
  t.teardown(() => { if (child.proc.exitCode === null) child.proc.kill('SIGKILL') })
  await waitReady(httpUrl, child)
  const app1 = wsConnect(`ws://127.0.0.1:${httpPort}/v1/member/ws`, await token('m-1'))
  await app1.opened
  await dwellAtFridge([MEMBER_KEY, OTHER_KEY], 3.2)
  await waitFor(() => app1.frames.some((f) => (f as { type: string }).type === 'offer'), { what: 'offer for m-1' })
  const before = await waitFor(async () => {
    const rows = await query<{ offer_id: string; member_id: string; status: string }>(dbFile, 'SELECT offer_id, member_id, status FROM offers ORDER BY member_id')
    return rows.length === 2 ? rows : undefined
  }, { what: 'two offers committed' })
  const outboxBefore = await query<{ message_id: string }>(dbFile, "SELECT message_id FROM outbox WHERE event = 'Offer Issued'")

  child.proc.kill('SIGKILL')
  await child.exited
  app1.close()

  const after = await query<{ offer_id: string; member_id: string }>(dbFile, 'SELECT offer_id, member_id FROM offers ORDER BY member_id')
  t.same(after.map((r) => r.offer_id), before.map((r) => r.offer_id), 'every committed offer survives SIGKILL')
  const outboxAfter = await query<{ message_id: string }>(dbFile, "SELECT message_id FROM outbox WHERE event = 'Offer Issued'")
  t.same(outboxAfter, outboxBefore, 'and so do their outbox rows')

  // second life on the same database
  child = spawnGateway([], env)
  await waitReady(httpUrl, child)
  const app2 = wsConnect(`ws://127.0.0.1:${httpPort}/v1/member/ws`, await token('m-2'))
  await app2.opened
  const queued = await waitFor(() => app2.frames.find((f) => (f as { type: string }).type === 'offer') as { offer: { offerId: string } } | undefined, { what: 'queued offer for m-2' })
  t.equal(queued.offer.offerId, before.find((r) => r.member_id === 'm-2')!.offer_id, 'the offer m-2 missed is delivered after the restart')

  await dwellAtFridge([MEMBER_KEY], 3.2)
  await waitFor(async () => sample(await scrape(httpUrl), 'aisle_offer_decisions_total', { outcome: 'capped' }) >= 1, { what: 'daily cap decision' })
  const final = await query(dbFile, "SELECT * FROM offers WHERE member_id = 'm-1'")
  t.equal(final.length, 1, 'the daily cap still holds after the restart')
  app2.close()

  child.proc.kill('SIGTERM')
  t.equal(await child.exited, 0, 'SIGTERM shuts down cleanly')
})
