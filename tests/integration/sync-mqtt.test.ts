/**
 * CRM sync over MQTT (CONTRACT 7, last paragraph) against a real Mosquitto playing the cloud broker: batches on
 * `aisle-central/<storeId>/batch`, QoS 1, the envelope of 7.1, at most 500 KB a batch, in commit order; then the
 * broker goes away (the error and the backlog show in /v1/admin/sync), comes back on the same port, and what was
 * committed meanwhile arrives (a re-send only ever with the same messageId).
 *
 * The central side is a subscriber with a persistent session of its own. The test brokers keep no state on disk,
 * so the broker that comes back would know neither the gateway's session (which is the point: the gateway's
 * outbox, not the broker, holds what is not yet PUBACKed) nor the subscriber's, and whatever the gateway
 * published before the subscriber subscribed again would be PUBACKed and dropped: a race the test must not
 * depend on. So the broker that comes back starts with the subscriber's session already in its persistence
 * file, made beforehand by a short-lived broker on another port, as a cloud broker keeps its subscribers'
 * sessions across a restart. The gateway's own session is not in it.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt'
import { crmSettings, startTestCrm } from '../helpers/crm.js'
import { packageRoot } from '../../edge/config/load.js'
import type { ManualClock } from '../../edge/core/clock.js'
import { outboxOp, type OutboxEvent } from '../../edge/storage/store.js'
import { startTestGateway, TEST_ADMIN, type TestGateway } from '../helpers/gateway.js'
import { mosquittoBinary, startMosquitto } from '../helpers/mosquitto.js'
import { freePort, waitFor } from '../helpers/net.js'

const MAX_BATCH = 500 * 1024
const admin = { authorization: `Bearer ${TEST_ADMIN}` }

/** A lab Mosquitto (anonymous) on a given port that keeps its sessions in `dir` (saved when it stops). */
async function mosquittoWithSessions(port: number, dir: string): Promise<{ proc: ChildProcess; stop(): Promise<void> }> {
  const conf = readFileSync(join(packageRoot(), 'config', 'mosquitto.conf'), 'utf8')
    .replace(/^listener .*$/m, `listener ${port} 127.0.0.1`)
    .replace(/^persistence_location .*$/m, `persistence_location ${dir}/`)
    .replace(/^allow_anonymous .*$/m, 'allow_anonymous true')
    .replace(/^password_file .*$/m, '')
    .replace(/^acl_file .*$/m, '')
  const file = join(dir, `mosquitto-${port}.conf`)
  // started as root, Mosquitto would run as the user "mosquitto", who cannot write to this test's folder
  writeFileSync(file, `${conf}\nuser ${userInfo().username}\nlog_dest stderr\nlog_type error\n`)
  const proc = spawn(mosquittoBinary()!, ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr?.on('data', (d) => { stderr += String(d) })
  await waitFor(() => new Promise<boolean>((resolve) => {
    if (proc.exitCode !== null) { resolve(false); return }
    const s = createConnection({ port, host: '127.0.0.1' }, () => { s.end(); resolve(true) })
    s.on('error', () => resolve(false))
  }), { timeoutMs: 10_000, what: `mosquitto on ${port} (${stderr})` })
  return {
    proc,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r))
        proc.kill('SIGTERM')
        await exited
      }
    },
  }
}

interface Central { client: MqttClient; sessionPresent: boolean }
const seen: { bytes: number; body: { batch: Record<string, any>[]; sentAt: string } }[] = []

/** The central subscriber: persistent session, QoS 1, no reconnect of its own (the test reconnects it). */
async function central(url: string, clientId: string, topic: string, subscribe: boolean): Promise<Central> {
  const client = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 0, connectTimeout: 5000 })
  const connack = await new Promise<IConnackPacket>((resolve, reject) => { client.once('connect', resolve); client.once('error', reject) })
  const sessionPresent = connack.sessionPresent
  client.on('message', (_topic, payload) => { seen.push({ bytes: payload.length, body: JSON.parse(payload.toString('utf8')) as never }) })
  if (subscribe) await client.subscribeAsync(topic, { qos: 1 })
  return { client, sessionPresent }
}

const ev = (i: number): OutboxEvent => ({
  stream: 'crm', messageId: `mqtt-test:${i}`, ts: Date.UTC(2026, 0, 5, 9, 0, 0) + i * 1000,
  ...(i % 5 === 0
    ? { event: 'Offer Redeemed', userId: `m-${i % 3 + 1}`, properties: { offerId: `o-${i}`, campaignId: 'dairy-10s', lane: 'lane-1', i } }
    : { event: 'Zone Dwelled', anonymousId: `p-${i % 40}`, properties: { zone: 'fridge-dairy', seconds: 10 + (i % 50), note: 'n'.repeat(400 + (i % 300)), i } }),
})

async function commit(tg: TestGateway, events: OutboxEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 500) await tg.gw.store.write(events.slice(i, i + 500).map(outboxOp))
}

t.test('CRM batches over MQTT to a cloud Mosquitto: envelope, order, size; through a broker outage on the same port', {
  skip: mosquittoBinary() ? false : 'mosquitto is not installed (apt-get install mosquitto)',
  timeout: 120_000,
}, async (t) => {
  const crm = await startTestCrm(t)
  const mosq = await startMosquitto()
  t.teardown(() => mosq.stop())
  const dir = mkdtempSync(join(tmpdir(), 'aisle-sync-mqtt-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const stops: (() => Promise<void>)[] = []
  t.teardown(async () => { for (const s of stops.reverse()) await s().catch(() => {}) })

  const storeId = 'test'
  const topic = `aisle-central/${storeId}/batch`
  const subId = `aisle-test-central-${process.pid}`
  let sub = await central(mosq.url, subId, topic, true)
  stops.push(() => sub.client.endAsync(true))

  const tg = await startTestGateway({
    overlay: {
      store: { id: storeId },
      crm: crmSettings(crm, { mqtt: { url: mosq.url }, opsUrl: null, timeoutSeconds: 5 }),
    },
  })
  t.teardown(() => tg.close())
  const syncView = async () => (await (await fetch(`${tg.gw.httpUrl}/v1/admin/sync`, { headers: admin })).json()) as Record<string, any>
  const arrivals = () => seen.flatMap((m) => m.body.batch.map((e) => e['messageId'] as string))

  // ---- connected: every event once, in commit order, in batches of at most 500 KB
  const first = Array.from({ length: 3000 }, (_, i) => ev(i))
  await commit(tg, first)
  await waitFor(() => arrivals().length >= first.length, { what: 'the first events at the central subscriber', timeoutMs: 30_000 })
  await waitFor(async () => (await syncView())['byStream'].crm === 0, { what: 'backlog 0' })
  t.same(arrivals(), first.map((e) => e.messageId), 'each event once, in commit order')
  t.ok(seen.length > 1, `cut into ${seen.length} batches`)
  t.ok(seen.every((m) => m.bytes <= MAX_BATCH), `every batch at most 500 KB (largest ${Math.max(...seen.map((m) => m.bytes))} bytes)`)
  t.ok(seen.every((m) => !Number.isNaN(Date.parse(m.body.sentAt))), 'each batch has sentAt')
  const byId = new Map(first.map((e) => [e.messageId, e]))
  const bad = seen.flatMap((m) => m.body.batch).filter((e) => {
    const c = byId.get(e['messageId'])
    const ctx = e['context'] as Record<string, any> | undefined
    return !c || e['type'] !== 'track' || e['event'] !== c.event || e['timestamp'] !== new Date(c.ts).toISOString()
      || ctx?.['store'] !== storeId || ctx?.['library']?.name !== 'aisle-edge' || typeof ctx?.['library']?.version !== 'string'
      || (c.userId ? e['userId'] !== c.userId || 'anonymousId' in e : e['anonymousId'] !== c.anonymousId || 'userId' in e)
      || JSON.stringify(e['properties']) !== JSON.stringify(c.properties)
  })
  t.same(bad.slice(0, 3), [], 'the envelope of CONTRACT 7.1: type track, event, userId or anonymousId, properties, timestamp, messageId, context.store, context.library')
  const v1 = await syncView()
  t.equal(v1['mode'], 'mqtt')
  t.equal(v1['streams'].crm.destination, 'mqtt')
  t.equal(v1['streams'].crm.delivered, first.length, 'delivered counted on PUBACK')
  t.equal(crm.stats.batches, 0, 'no batch went to the CRM over HTTP')

  // the subscriber's session for the broker that comes back: made on a broker of its own port, saved when it stops
  const seedPort = await freePort()
  const seed = await mosquittoWithSessions(seedPort, dir)
  stops.push(() => seed.stop())
  const seeded = await central(`mqtt://127.0.0.1:${seedPort}`, subId, topic, true)
  await seeded.client.endAsync()
  await seed.stop()

  // ---- the cloud broker goes away: commits go on, the error and the backlog show (a second later, virtual time)
  ;(tg.clock as ManualClock).advance(1000)
  await sub.client.endAsync(true)
  await mosq.stop()
  const second = Array.from({ length: 2000 }, (_, i) => ev(3000 + i))
  await commit(tg, second)
  const down = await waitFor(async () => {
    const v = await syncView()
    return /cloud broker not connected/.test(v['lastError'] ?? '') && v['byStream'].crm >= second.length ? v : false
  }, { what: 'the outage in /v1/admin/sync', timeoutMs: 20_000 })
  t.match(down['lastError'], /cloud broker not connected/, `the error shows: ${down['lastError']}`)
  t.equal(down['byStream'].crm, second.length, 'the backlog shows')
  t.match(down['streams'].crm.lastError, /not connected/)
  t.ok(down['streams'].crm.nextAttempt, 'and when it tries again')
  t.match(JSON.stringify(await (await fetch(`${tg.gw.httpUrl}/readyz`)).json()), /CRM unreachable/, '/readyz says so (and stays ready)')

  // ---- back on the same port, with the subscriber's session (not the gateway's)
  const back = await mosquittoWithSessions(mosq.port, dir)
  stops.push(() => back.stop())
  await waitFor(async () => (await syncView())['byStream'].crm === 0, { what: 'the backlog delivered after the broker came back', timeoutMs: 60_000 })
  sub = await central(mosq.url, subId, topic, false)
  t.ok(sub.sessionPresent, 'the subscriber\'s session was kept by the broker that came back')
  const all = [...first, ...second].map((e) => e.messageId)
  await waitFor(() => new Set(arrivals()).size >= all.length, { what: 'every event at the central subscriber', timeoutMs: 30_000 })
  const got = arrivals()
  const known = new Set(all)
  t.same(got.filter((id) => !known.has(id)), [], 'nothing but committed events (a re-send carries the same messageId)')
  const firstArrivals = [...new Set(got)]
  t.same(firstArrivals, all, 'every event, first arrivals in commit order')
  t.comment(`${got.length - firstArrivals.length} re-sent`)
  t.ok(seen.every((m) => m.bytes <= MAX_BATCH), 'every batch at most 500 KB')
  const v2 = await syncView()
  t.equal(v2['streams'].crm.delivered, all.length, 'delivered again')
  t.ok(v2['lastSuccess'], 'a last success')
  t.notOk(/CRM unreachable/.test(JSON.stringify(await (await fetch(`${tg.gw.httpUrl}/readyz`)).json())), '/readyz no longer says unreachable')
})

