/**
 * The scanner's MQTT side with a scripted BLE backend and a broker that checks credentials (as the gateway's
 * will once CONTRACT 7a is enforced): user name = scanner id and password = AISLE_DEVICE_SECRET when set,
 * the last will, a refused secret reported once and clearly (never echoed), sightings not queued while the
 * broker is away, and the status back when it returns.
 */
import { createServer, type AddressInfo, type Server } from 'node:net'
import { Aedes } from 'aedes'
import t from 'tap'
import type { ScannerConfig } from '../../devices/scanner/config.js'
import { Scanner, type ScannerLog } from '../../devices/scanner/scanner.js'
import type { Advertisement, BackendSink, BleBackend } from '../../devices/scanner/types.js'
import { waitFor } from '../helpers/net.js'

class ScriptedBackend implements BleBackend {
  readonly name = 'node-ble' as const
  sink: BackendSink | null = null
  async start(sink: BackendSink): Promise<void> { this.sink = sink; sink.state('scanning') }
  async stop(): Promise<void> { this.sink?.state('stopped'); this.sink = null }
  beacon(minor: number, ts: number): void {
    const data = Buffer.from(`0215b9407f30f5f8466eaff925556b57fe6d0001${minor.toString(16).padStart(4, '0')}c5`, 'hex')
    const ad: Advertisement = { handle: '/org/bluez/hci0/dev_C4_7C_8D_6A_3B_01', addressType: 'public', rssi: -61, flags: 6, manufacturerData: [{ company: 0x4c, data }], serviceData: [], serviceUuids: [], ts }
    this.sink?.advertisement(ad)
  }
}

interface Connect { clientId: string; username?: string; password?: string; will?: { topic: string; payload: string; retain: boolean | undefined; qos: number | undefined } }

async function broker(secret: string | null): Promise<{ url: string; port: number; connects: Connect[]; published: { topic: string; payload: string; retain: boolean }[]; close(): Promise<void> }> {
  const connects: Connect[] = []
  const published: { topic: string; payload: string; retain: boolean }[] = []
  const aedes = await Aedes.createBroker({
    preConnect(_client, packet, cb) {
      const w = packet.will
      connects.push({
        clientId: packet.clientId,
        ...(packet.username !== undefined ? { username: packet.username } : {}),
        ...(packet.password !== undefined ? { password: String(packet.password) } : {}),
        ...(w ? { will: { topic: w.topic, payload: String(w.payload), retain: w.retain, qos: w.qos } } : {}),
      })
      cb(null, true)
    },
    authenticate(_client, username, password, done) {
      if (secret === null) return done(null, true)
      if (username === 'scn-x' && String(password) === secret) return done(null, true)
      const err = Object.assign(new Error('bad user name or password'), { returnCode: 4 as const })
      done(err, false)
    },
  })
  aedes.on('publish', (packet, client) => { if (client) published.push({ topic: packet.topic, payload: String(packet.payload), retain: packet.retain }) })
  const server: Server = createServer(aedes.handle)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    url: `mqtt://127.0.0.1:${port}`, port, connects, published,
    async close() {
      await new Promise<void>((r) => aedes.close(() => r()))
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

const config = (url: string, secret?: string): ScannerConfig => ({ mqttUrl: url, scannerId: 'scn-x', prefix: 'aisle/s1', adapter: 'hci0', backend: 'node-ble', intervalMs: 100, maxPerSecond: 4, fingerprints: true, secret, logLevel: 'debug' })

function capture(): { log: ScannerLog; lines: string[] } {
  const lines: string[] = []
  const line = (level: string) => (o: object, msg: string) => { lines.push(JSON.stringify({ level, ...o, msg })) }
  return { lines, log: { info: line('info'), warn: line('warn'), error: line('error'), debug: line('debug') } }
}

t.test('credentials, last will, status and sightings', async (t) => {
  const b = await broker('s3cret-of-scn-x')
  t.teardown(() => b.close())
  const backend = new ScriptedBackend()
  const { log } = capture()
  let now = Date.UTC(2026, 0, 5, 9)
  const scanner = new Scanner({ config: config(b.url, 's3cret-of-scn-x'), backend, log, clock: { now: () => now }, statsEveryMs: 0, version: '0.1.0' })
  await scanner.start()
  t.teardown(() => scanner.stop())
  await waitFor(() => b.published.some((p) => p.topic === 'aisle/s1/status/scn-x'), { what: 'status' })
  t.match(b.connects[0], { clientId: 'aisle-scanner-scn-x', username: 'scn-x', password: 's3cret-of-scn-x', will: { topic: 'aisle/s1/status/scn-x', payload: '{"online":false}', retain: true, qos: 1 } }, 'CONTRACT 7a credentials and an offline last will')
  const status = b.published.find((p) => p.topic === 'aisle/s1/status/scn-x')!
  t.ok(status.retain, 'status is retained')
  t.same(JSON.parse(status.payload), { online: true, ble: 'scanning', backend: 'node-ble', adapter: 'hci0', ts: now, version: '0.1.0' })

  for (let i = 0; i < 3; i++) { backend.beacon(i, now); now += 10 }
  await waitFor(() => b.published.some((p) => p.topic === 'aisle/s1/ble/scn-x'), { what: 'sightings' })
  const batch = JSON.parse(b.published.find((p) => p.topic === 'aisle/s1/ble/scn-x')!.payload) as { adv: string; rssi: number; ts: number }[]
  t.equal(batch.length, 3, 'three beacons in one batch')
  t.ok(batch.every((s) => s.adv.startsWith('0201061aff4c000215') && s.rssi === -61), 'as raw advertisements')

  await scanner.stop()
  const last = b.published.filter((p) => p.topic === 'aisle/s1/status/scn-x').at(-1)!
  t.same(JSON.parse(last.payload), { online: false, ts: now }, 'offline on a clean stop')
  t.ok(last.retain)
})

t.test('no secret: no credentials; a wrong secret: one clear line, never the secret', async (t) => {
  const open = await broker(null)
  t.teardown(() => open.close())
  const anon = new Scanner({ config: config(open.url), backend: new ScriptedBackend(), log: capture().log, statsEveryMs: 0 })
  await anon.start()
  await waitFor(() => open.connects.length > 0, { what: 'connect' })
  t.notOk('username' in open.connects[0]! || 'password' in open.connects[0]!, 'anonymous without AISLE_DEVICE_SECRET')
  await anon.stop()

  const strict = await broker('right')
  t.teardown(() => strict.close())
  const { log, lines } = capture()
  const refused = new Scanner({ config: config(strict.url, 'wrong-secret-value'), backend: new ScriptedBackend(), log, statsEveryMs: 0, reconnectMs: { lost: 100, refused: 300 } })
  await refused.start()
  t.teardown(() => refused.stop())
  await waitFor(() => strict.connects.length >= 3, { timeoutMs: 10_000, what: 'retries' })
  const complaints = lines.filter((l) => l.includes('AISLE_DEVICE_SECRET'))
  t.equal(complaints.length, 1, 'the refusal is reported once, not at every retry')
  t.match(complaints[0], /refused scn-x's credentials/)
  t.notOk(lines.some((l) => l.includes('wrong-secret-value')), 'the secret is never logged')
  t.equal(refused.connected, false)
})

t.test('while the broker is away sightings are dropped, not queued; the status comes back with it', async (t) => {
  const b = await broker(null)
  const backend = new ScriptedBackend()
  let now = Date.UTC(2026, 0, 5, 9)
  const scanner = new Scanner({ config: config(b.url), backend, log: capture().log, clock: { now: () => now }, statsEveryMs: 0, reconnectMs: { lost: 100, refused: 100 } })
  await scanner.start()
  t.teardown(() => scanner.stop())
  await waitFor(() => scanner.connected, { what: 'connected' })
  await b.close()
  await waitFor(() => !scanner.connected, { what: 'disconnected' })
  for (let i = 0; i < 5; i++) { backend.beacon(i, now); now += 10 }
  await waitFor(() => scanner.stats.offline === 5, { what: 'sightings counted as dropped' })

  // the broker back on the same port
  const again = await Aedes.createBroker()
  const published: string[] = []
  again.on('publish', (p, client) => { if (client) published.push(p.topic) })
  const server = createServer(again.handle)
  await new Promise<void>((r) => server.listen(b.port, '127.0.0.1', r))
  t.teardown(async () => {
    await new Promise<void>((r) => again.close(() => r()))
    await new Promise<void>((r) => server.close(() => r()))
  })
  await waitFor(() => published.includes('aisle/s1/status/scn-x'), { timeoutMs: 10_000, what: 'status after reconnecting' })
  await new Promise((r) => setTimeout(r, 300))
  t.notOk(published.includes('aisle/s1/ble/scn-x'), 'the old sightings were not replayed')
  backend.beacon(9, now)
  await waitFor(() => published.includes('aisle/s1/ble/scn-x'), { what: 'new sightings' })
})

t.test('a stop while the broker vanishes does not hang (systemd would SIGKILL it)', async (t) => {
  const b = await broker(null)
  const scanner = new Scanner({ config: config(b.url), backend: new ScriptedBackend(), log: capture().log, statsEveryMs: 0 })
  await scanner.start()
  await waitFor(() => scanner.connected, { what: 'connected' })
  await b.close()
  // the client may still believe it is connected: the offline status can get no PUBACK
  await scanner.stop()
  t.equal(scanner.connected, false, 'stopped')
})

t.test('a backend that cannot run at all: start fails and leaves nothing connected', async (t) => {
  const b = await broker(null)
  t.teardown(() => b.close())
  const broken: BleBackend = { name: 'noble', start: async () => { throw new Error('AISLE_BLE_BACKEND=noble, but @abandonware/noble is not installed') }, stop: async () => {} }
  const scanner = new Scanner({ config: config(b.url), backend: broken, log: capture().log, statsEveryMs: 0 })
  await t.rejects(scanner.start(), /not installed/)
  t.equal(scanner.connected, false)
})
