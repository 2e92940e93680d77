/**
 * Personal data at rest and erasure (PIPL / GDPR data minimisation), checked on the bytes of the files:
 * member keys sealed and kept only with location consent, coupon codes hashed, the data folder 0700 and its
 * files 0600; an erasure leaves no byte naming the member and stops their tokens at once; below role admin
 * members appear by pseudonym; the admin API checks the token before it reads a body; absurd token
 * lifetimes are refused; an oversized app frame is one warning line. A database of an earlier version is
 * sealed once at start-up.
 */
import t from 'tap'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import sqlite3 from 'sqlite3'
import { rpidAt, topics } from '../../edge/contract/index.js'
import { ManualClock } from '../../edge/core/clock.js'
import { startTestGateway, TEST_ADMIN, TEST_VIEWER, type TestGateway } from '../helpers/gateway.js'
import { connect, heardFor, publishJson } from '../helpers/mqtt.js'
import { query } from '../helpers/db.js'
import { waitFor } from '../helpers/net.js'
import { wsConnect } from '../helpers/ws.js'

const ERASE_ID = 'erase-me-4711'
const ERASE_KEY = 'ab'.repeat(32)
const NOLOC_ID = 'noloc-4712'
const NOLOC_KEY = 'cd'.repeat(32)
const overlay = {
  members: [
    { memberId: ERASE_ID, key: ERASE_KEY, consent: { offers: true, location: true }, tier: 'gold' },
    { memberId: NOLOC_ID, key: NOLOC_KEY, consent: { offers: true, location: false } },
  ],
}

/** every byte the gateway keeps in its data folder */
function bytesOnDisk(dir: string): Buffer {
  const files = ['aisle-edge.db', 'aisle-edge.db-wal', 'aisle-edge.db-shm'].map((f) => join(dir, f)).filter((f) => existsSync(f))
  return Buffer.concat(files.map((f) => readFileSync(f)))
}
const has = (b: Buffer, s: string) => b.includes(Buffer.from(s, 'latin1'))

function exec(file: string, sql: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, (err) => {
      if (err) return reject(err)
      db.exec(sql, (e) => db.close(() => (e ? reject(e) : resolve())))
    })
  })
}

async function offerFor(tg: TestGateway, clock: ManualClock, memberId: string, key: string): Promise<{ code: string; offerId: string; token: string }> {
  const token = await tg.gw.memberToken(memberId)
  const app = wsConnect(`${tg.gw.httpUrl.replace('http', 'ws')}/v1/member/ws`, token)
  await app.opened
  const dev = await connect(`mqtt://127.0.0.1:${tg.gw.mqttPort}`)
  await heardFor(dev, { prefix: tg.gw.prefix, scanner: 'scn-dairy', subject: (ts) => rpidAt(key, ts), clock, seconds: 11 })
  await dev.endAsync()
  const f = await waitFor(() => app.frames.find((x) => (x as { type: string }).type === 'offer') as { offer: { code: string; offerId: string } } | undefined, { what: `an offer for ${memberId}` })
  app.close()
  return { ...f.offer, token }
}

t.test('at rest: keys sealed (and none without location consent), codes hashed, 0700 / 0600', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'aisle-priv-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const clock = new ManualClock(Date.UTC(2026, 3, 7, 10, 0, 0))
  const tg = await startTestGateway({ clock, dataDir, overlay })
  t.teardown(() => tg.close())
  const { code } = await offerFor(tg, clock, ERASE_ID, ERASE_KEY)
  const dev = await connect(`mqtt://127.0.0.1:${tg.gw.mqttPort}`)
  await publishJson(dev, topics.receipt(tg.gw.prefix, 'lane-1'), { receiptId: 'r-1', memberId: ERASE_ID, items: [{ sku: 'x', qty: 1, price: 1 }], coupons: [code], total: 1, ts: clock.now() })
  await dev.endAsync()
  await waitFor(async () => (await query(tg.gw.dbFile, "SELECT 1 FROM receipts WHERE receipt_id = 'r-1'")).length === 1, { what: 'receipt' })
  await tg.gw.flush()

  const disk = bytesOnDisk(dataDir)
  t.notOk(has(disk, ERASE_KEY) || has(disk, ERASE_KEY.toUpperCase()), 'no member key in clear')
  t.notOk(has(disk, NOLOC_KEY), 'no key of a member without location consent')
  t.notOk(has(disk, code), 'no coupon code in clear (offers, receipts)')
  const rows = await query<{ member_id: string; key_enc: string | null; body: string }>(tg.gw.dbFile, 'SELECT member_id, key_enc, body FROM members WHERE member_id IN (?, ?) ORDER BY member_id', [ERASE_ID, NOLOC_ID])
  t.match(rows[0]!.key_enc, /^v1\./, 'a consenting member\'s key is sealed')
  t.equal(rows[1]!.key_enc, null, 'no key kept without location consent')
  t.notMatch(rows[0]!.body, /"key"/)
  const mode = (f: string) => statSync(f).mode & 0o777
  t.equal(mode(dataDir), 0o700, 'data folder 0700')
  for (const f of ['aisle-edge.db', 'aisle-edge.db-wal', 'secrets.json', 'aisle-edge.lock']) if (existsSync(join(dataDir, f))) t.equal(mode(join(dataDir, f)), 0o600, `${f} 0600`)
  // redemption still works on the hash: the coupon was redeemed once
  t.equal((await query<{ status: string }>(tg.gw.dbFile, 'SELECT status FROM offers'))[0]!.status, 'redeemed')
})

t.test('erasure leaves no byte naming the member; their tokens stop at once', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'aisle-erase-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const clock = new ManualClock(Date.UTC(2026, 3, 7, 12, 0, 0))
  const tg = await startTestGateway({ clock, dataDir, overlay })
  t.teardown(() => tg.close())
  const { code, token } = await offerFor(tg, clock, ERASE_ID, ERASE_KEY)
  const pseudonym = (await (await fetch(`${tg.gw.httpUrl}/v1/admin/presence`, { headers: { authorization: `Bearer ${TEST_ADMIN}` } })).json() as { subjects: { subject: string }[] }).subjects.find((s) => s.subject.startsWith('pm:'))!.subject
  // the member also calls for help from the app (the dispatcher remembers the request)
  const app = wsConnect(`${tg.gw.httpUrl.replace('http', 'ws')}/v1/member/ws`, token)
  await app.opened
  app.send({ type: 'assist' })
  await waitFor(async () => (await query(tg.gw.dbFile, 'SELECT 1 FROM assist_requests')).length === 1, { what: 'a call for help' })
  await tg.gw.flush()
  t.ok(has(bytesOnDisk(dataDir), ERASE_ID), 'before: the member is on disk')

  const r = await fetch(`${tg.gw.httpUrl}/v1/admin/members/${ERASE_ID}`, { method: 'DELETE', headers: { authorization: `Bearer ${TEST_ADMIN}` } })
  t.equal(r.status, 200)
  t.equal((await app.closed).code, 4403, 'the open app is closed')
  await tg.gw.flush()
  const disk = bytesOnDisk(dataDir)
  for (const [what, s] of [['member id', ERASE_ID], ['pseudonym', pseudonym], ['key', ERASE_KEY], ['coupon code', code]] as const) t.notOk(has(disk, s), `no ${what} left in the database or its WAL`)
  t.same(await query(tg.gw.dbFile, "SELECT key FROM meta WHERE key LIKE 'seed:member:%' AND value IS NOT NULL AND key LIKE ?", [`%${ERASE_ID}%`]), [], 'no seeding record names the member')

  // the erased member's still valid token no longer opens the app or its QR codes
  const again = wsConnect(`${tg.gw.httpUrl.replace('http', 'ws')}/v1/member/ws`, token)
  t.equal((await again.closed).code, 4403, 'a token issued before the erasure is refused')
  t.equal((await fetch(`${tg.gw.httpUrl}/v1/member/qr?code=${'A'.repeat(44)}&token=${token}`)).status, 401)
  // in memory: the call-for-service request keeps its timings, not the member
  const assist = await (await fetch(`${tg.gw.httpUrl}/v1/admin/assist`, { headers: { authorization: `Bearer ${TEST_ADMIN}` } })).text()
  t.notOk(assist.includes(ERASE_ID) || assist.includes(pseudonym), 'the dispatcher forgot the member')
  // a member created again later gets new tokens that work
  clock.advance(60_000)
  const back = await fetch(`${tg.gw.httpUrl}/v1/admin/members/${ERASE_ID}`, { method: 'PUT', headers: { authorization: `Bearer ${TEST_ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ memberId: ERASE_ID, key: ERASE_KEY, consent: { offers: true, location: true } }) })
  t.equal(back.status, 201)
  const fresh = wsConnect(`${tg.gw.httpUrl.replace('http', 'ws')}/v1/member/ws`, await tg.gw.memberToken(ERASE_ID))
  await fresh.opened
  await waitFor(() => fresh.frames.length > 0, { what: 'hello' })
  fresh.close()
})

t.test('below role admin members appear by pseudonym; tokens before bodies; token lifetimes; big frames', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 3, 8, 10, 0, 0))
  const tg = await startTestGateway({ clock, overlay })
  t.teardown(() => tg.close())
  await offerFor(tg, clock, ERASE_ID, ERASE_KEY)
  const get = async (path: string, token: string) => fetch(`${tg.gw.httpUrl}/v1/admin${path}`, { headers: { authorization: `Bearer ${token}` } })
  await waitFor(async () => ((await (await get('/decisions', TEST_ADMIN)).json()) as { decisions: unknown[] }).decisions.length > 0, { what: 'a decision' })
  const asViewer = await (await get('/decisions', TEST_VIEWER)).text()
  t.notOk(asViewer.includes(ERASE_ID), 'a viewer sees no member id in decisions')
  const pm = (JSON.parse(asViewer) as { decisions: { memberId: string }[] }).decisions[0]!.memberId
  t.match(pm, /^pm:[0-9a-f]{16}$/)
  t.equal((await get(`/decisions?member=${ERASE_ID}`, TEST_VIEWER)).status, 403, 'nor can a viewer look a member id up')
  t.equal(((await (await get(`/decisions?member=${pm}`, TEST_VIEWER)).json()) as { decisions: unknown[] }).decisions.length, 1, 'by pseudonym it can')
  t.match(await (await get('/decisions', TEST_ADMIN)).text(), ERASE_ID, 'an admin sees member ids')
  // a dead letter naming a member and a coupon
  const dev = await connect(`mqtt://127.0.0.1:${tg.gw.mqttPort}`)
  await publishJson(dev, topics.receipt(tg.gw.prefix, 'lane-1'), `{"receiptId": "r-x", "memberId": "${ERASE_ID}", "coupons": ["${'Q'.repeat(44)}"], "items": "broken"}`)
  await dev.endAsync()
  await waitFor(async () => ((await (await get('/dead-letters', TEST_ADMIN)).json()) as { deadLetters: unknown[] }).deadLetters.length > 0, { what: 'dead letter' })
  const dlViewer = await (await get('/dead-letters', TEST_VIEWER)).text()
  t.notOk(dlViewer.includes(ERASE_ID) || dlViewer.includes('Q'.repeat(44)), 'a viewer sees neither the member id nor the code in dead letters')
  t.match(dlViewer, /pm:[0-9a-f]{16}/)

  // no token: 401 before the body is looked at, however bad or big the body is
  const noAuth = await fetch(`${tg.gw.httpUrl}/v1/admin/layout`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"zones": 42' })
  t.equal(noAuth.status, 401, 'not a schema error')
  const upload = await fetch(`${tg.gw.httpUrl}/v1/admin/models/x?sha256=${'0'.repeat(64)}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(8 * 1024 * 1024) })
  t.equal(upload.status, 401, 'an upload from a stranger is refused unread')
  t.equal((await fetch(`${tg.gw.httpUrl}/v1/admin/layout`, { method: 'PUT', headers: { authorization: `Bearer ${TEST_VIEWER}`, 'content-type': 'application/json' }, body: '{"zones": 42' })).status, 403, 'a viewer is refused before the body too')

  // member tokens valid for absurdly long are refused (member.jwt.maxLifetime)
  const secret = new TextEncoder().encode(tg.gw.secrets.memberJwtSecret)
  const now = Math.floor(clock.now() / 1000)
  const y3000 = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(ERASE_ID).setIssuedAt(now).setExpirationTime(Math.floor(Date.UTC(3000, 0, 1) / 1000)).sign(secret)
  t.equal((await wsConnect(`${tg.gw.httpUrl.replace('http', 'ws')}/v1/member/ws`, y3000).closed).code, 4401, 'a token valid until the year 3000 is refused')
  const week = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(ERASE_ID).setIssuedAt(now).setExpirationTime(now + 7 * 86_400).sign(secret)
  const ok = wsConnect(`${tg.gw.httpUrl.replace('http', 'ws')}/v1/member/ws`, week)
  await ok.opened
  await waitFor(() => ok.frames.length > 0, { what: 'hello' })

  // a frame over the limit: the socket closes, one warning line, no error with a stack
  const before = tg.logs.length
  ok.ws.send('x'.repeat(20_000))
  t.equal((await ok.closed).code, 1009)
  await waitFor(() => tg.logs.slice(before).some((l) => l.includes('frame over')), { what: 'the warning' })
  const lines = tg.logs.slice(before).map((l) => JSON.parse(l) as { level: number; msg: string; err?: unknown })
  t.equal(lines.filter((l) => l.level >= 40).length, 1, 'one warning line')
  t.notOk(lines.some((l) => l.level >= 50 || JSON.stringify(l).includes('"stack"')), 'no error, no stack')
})

t.test('a database of an earlier version is sealed once at start-up', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'aisle-upgrade-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const clock = new ManualClock(Date.UTC(2026, 3, 9, 10, 0, 0))
  let tg = await startTestGateway({ clock, dataDir, overlay })
  const { offerId } = await offerFor(tg, clock, ERASE_ID, ERASE_KEY)
  await tg.close()
  // write what an earlier version kept: the key in the body, the code in clear, a seeding key naming the member
  const oldCode = 'C'.repeat(44)
  await exec(join(dataDir, 'aisle-edge.db'), `
    UPDATE members SET body = json_set(body, '$.key', '${ERASE_KEY}'), key_enc = NULL WHERE member_id = '${ERASE_ID}';
    UPDATE offers SET code = '${oldCode}', code_enc = NULL WHERE offer_id = '${offerId}';
    INSERT INTO meta (key, value) VALUES ('seed:member:${ERASE_ID}', 'x');
    DELETE FROM meta WHERE key = 'privacy:v1';`)
  t.ok(has(bytesOnDisk(dataDir), ERASE_KEY), 'before: in clear')
  tg = await startTestGateway({ clock, dataDir, overlay })
  t.teardown(() => tg.close())
  await tg.gw.flush()
  const disk = bytesOnDisk(dataDir)
  t.notOk(has(disk, ERASE_KEY), 'the key is sealed')
  t.notOk(has(disk, oldCode), 'the code is hashed')
  t.notOk(has(disk, `seed:member:${ERASE_ID}`), 'the seeding key is hashed')
  t.match(tg.logs.join(''), /personal data at rest sealed and hashed/)
  // and the member still works: their rpids resolve (the key was unsealed into memory)
  clock.advance(86_400_000)
  const app = wsConnect(`${tg.gw.httpUrl.replace('http', 'ws')}/v1/member/ws`, await tg.gw.memberToken(ERASE_ID))
  await app.opened
  await waitFor(() => app.frames.length > 0, { what: 'hello' })
  const dev = await connect(`mqtt://127.0.0.1:${tg.gw.mqttPort}`)
  await heardFor(dev, { prefix: tg.gw.prefix, scanner: 'scn-dairy', subject: (ts) => rpidAt(ERASE_KEY, ts), clock, seconds: 11 })
  await dev.endAsync()
  await waitFor(() => app.frames.filter((f) => (f as { type: string }).type === 'offer').length >= 1, { what: 'an offer the next day' })
  app.close()
})
