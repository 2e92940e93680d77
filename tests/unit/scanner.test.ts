/**
 * The gateway's own BLE scanner, without hardware: AD structures rebuilt the way the gateway's decoder reads
 * them, the privacy filter (no MAC, ever; beacon, member and fingerprint ids; the rest dropped), the per-subject
 * rate limit and batching, the environment check, the rpid-on-air helpers, and the noble backend against a
 * fake of noble's event API.
 */
import { EventEmitter } from 'node:events'
import t from 'tap'
import { MAX_SIGHTINGS_PER_MESSAGE, RPID_SERVICE_UUID, rpidAdvertisement, rpidAt, rpidFromServiceData, rpidFromServiceUuid, rpidServiceUuid } from '../../edge/contract/index.js'
import { decodeAdv } from '../../edge/ingest/adv.js'
import { buildAdv, MAX_ADV_BYTES } from '../../devices/scanner/ad.js'
import { chunk, SightingBatcher } from '../../devices/scanner/batcher.js'
import { scannerConfigFromEnv } from '../../devices/scanner/config.js'
import { advertisementOf, NobleBackend, NobleMissing, type NobleLike, type NoblePeripheral } from '../../devices/scanner/noble.js'
import { classify, fingerprintId } from '../../devices/scanner/privacy.js'
import { Backoff, fullUuid, scrubMacs, shortUuid, type Advertisement, type BleState } from '../../devices/scanner/types.js'
import { MEMBER_KEY } from '../helpers/gateway.js'

const IBEACON_UUID = 'b9407f30-f5f8-466e-aff9-25556b57fe6d'
const ibeaconData = (major: number, minor: number, power = -59): Buffer => {
  const b = Buffer.alloc(23)
  b[0] = 0x02; b[1] = 0x15
  Buffer.from(IBEACON_UUID.replace(/-/g, ''), 'hex').copy(b, 2)
  b.writeUInt16BE(major, 18); b.writeUInt16BE(minor, 20); b.writeInt8(power, 22)
  return b
}
const EDDYSTONE = '0000feaa-0000-1000-8000-00805f9b34fb'
const PHONE_PATH = '/org/bluez/hci0/dev_5A_3C_91_0E_7D_22'

function ad(o: Partial<Advertisement> = {}): Advertisement {
  return { handle: PHONE_PATH, addressType: 'random', rssi: -60, manufacturerData: [], serviceData: [], serviceUuids: [], ts: 1_767_603_600_000, ...o }
}

t.test('UUIDs as backends spell them', async (t) => {
  t.equal(fullUuid('feaa'), EDDYSTONE)
  t.equal(fullUuid('0xFEAA'), EDDYSTONE)
  t.equal(fullUuid('d'), '0000000d-0000-1000-8000-00805f9b34fb', 'noble does not pad 16-bit UUIDs')
  t.equal(fullUuid('0000FEAA-0000-1000-8000-00805F9B34FB'), EDDYSTONE)
  t.equal(fullUuid(RPID_SERVICE_UUID.replace(/-/g, '')), RPID_SERVICE_UUID)
  t.equal(fullUuid('12345678'), '12345678-0000-1000-8000-00805f9b34fb')
  t.equal(fullUuid('not-a-uuid'), null)
  t.equal(shortUuid(EDDYSTONE), 'feaa')
  t.equal(shortUuid('12345678-0000-1000-8000-00805f9b34fb'), '12345678')
  t.equal(shortUuid(RPID_SERVICE_UUID), null)
})

t.test('AD structures are rebuilt the way the gateway decodes them', async (t) => {
  const ib = buildAdv({ flags: 0x06, serviceUuids: [], manufacturerData: [{ company: 0x004c, data: ibeaconData(4711, 101) }], serviceData: [] })
  // the same bytes an iBeacon puts on air (and the simulator's adv scanners send)
  t.equal(ib, `0201061aff4c000215${IBEACON_UUID.replace(/-/g, '')}12670065c5`)
  t.same(decodeAdv(ib!), { ok: true, id: `ibeacon:${IBEACON_UUID}-4711-101`, txPower: -59, frame: 'ibeacon' })

  const uid = Buffer.from('00e8' + '00112233445566778899' + 'a1b2c3d4e5f6' + '0000', 'hex')
  const ed = buildAdv({ flags: 0x06, serviceUuids: [EDDYSTONE], manufacturerData: [], serviceData: [{ uuid: EDDYSTONE, data: uid }] })
  t.equal(ed, `0201060303aafe1716aafe${uid.toString('hex')}`, 'flags, the 16-bit UUID list, then 16-bit service data, little-endian')
  t.same(decodeAdv(ed!), { ok: true, id: 'eddystone:00112233445566778899-a1b2c3d4e5f6', txPower: -24 - 41, frame: 'eddystone-uid' })

  const url = buildAdv({ serviceUuids: [], manufacturerData: [], serviceData: [{ uuid: EDDYSTONE, data: Buffer.from('10ee03676f6f676c6507', 'hex') }] })
  t.same(decodeAdv(url!), { ok: true, id: 'eddystone-url:https://google.com', txPower: -18 - 41, frame: 'eddystone-url' })
  const tlm = buildAdv({ serviceUuids: [], manufacturerData: [], serviceData: [{ uuid: EDDYSTONE, data: Buffer.from('20000bb81800000000640000012c', 'hex') }] })
  const dt = decodeAdv(tlm!)
  t.ok(dt.ok && dt.frame === 'eddystone-tlm' && dt.tlm.batteryMv === 3000, 'telemetry frames decode as telemetry')

  t.equal(buildAdv({ serviceUuids: [], manufacturerData: [], serviceData: [], txPower: -12 }), '020af4', 'TX power is signed')
  t.equal(buildAdv({ serviceUuids: [], manufacturerData: [], serviceData: [{ uuid: '12345678-0000-1000-8000-00805f9b34fb', data: Buffer.from([1]) }] }), '06207856341201', '32-bit service data')
  t.equal(buildAdv({ serviceUuids: [], manufacturerData: [], serviceData: [{ uuid: RPID_SERVICE_UUID, data: Buffer.from('0102030405060708', 'hex') }] }),
    rpidAdvertisement('rpid:0102030405060708').slice(6), '128-bit service data, UUID little-endian: the member app\'s form')
  t.equal(buildAdv({ serviceUuids: ['0000180f-0000-1000-8000-00805f9b34fb', '0000feaa-0000-1000-8000-00805f9b34fb', RPID_SERVICE_UUID], manufacturerData: [], serviceData: [] }),
    `05030f18aafe1107${Buffer.from(RPID_SERVICE_UUID.replace(/-/g, ''), 'hex').reverse().toString('hex')}`, 'UUID lists by size')
  t.equal(buildAdv({ serviceUuids: [], manufacturerData: [], serviceData: [] }), null, 'nothing to say: no adv')

  // the contract caps adv at 255 bytes: whole structures that do not fit are left out, never cut
  const big = Array.from({ length: 12 }, (_, i) => ({ company: 0x0100 + i, data: Buffer.alloc(25, i) }))
  const capped = buildAdv({ flags: 6, serviceUuids: [], manufacturerData: [{ company: 0x004c, data: ibeaconData(1, 2) }, ...big], serviceData: [] })!
  t.ok(capped.length / 2 <= MAX_ADV_BYTES, 'at most 255 bytes')
  t.equal((capped.length / 2 - 3 - 27) % 29, 0, 'only whole structures')
  t.ok(/^([0-9a-f]{2}){1,255}$/.test(capped), 'matches the contract\'s adv pattern')
  t.same(decodeAdv(capped), { ok: true, id: `ibeacon:${IBEACON_UUID}-1-2`, txPower: -59, frame: 'ibeacon' })
  t.equal(buildAdv({ serviceUuids: [], manufacturerData: [{ company: 1, data: Buffer.alloc(300) }], serviceData: [] }), null, 'a structure longer than AD allows is left out')
})

t.test('the privacy filter: beacons as adv, members and fingerprints as ids, the rest dropped', async (t) => {
  const on = { fingerprints: true }
  t.same(classify(ad({ manufacturerData: [{ company: 0x004c, data: ibeaconData(1, 2) }] }), on), { kind: 'beacon', key: `ibeacon:${IBEACON_UUID.replace(/-/g, '')}00010002` }, 'an iBeacon, even on a random address')
  const uid = Buffer.from('00e8' + '00112233445566778899' + 'a1b2c3d4e5f6', 'hex')
  t.same(classify(ad({ addressType: 'public', serviceData: [{ uuid: EDDYSTONE, data: uid }] }), on), { kind: 'beacon', key: 'eddystone:00112233445566778899a1b2c3d4e5f6' })
  const tlm = classify(ad({ serviceData: [{ uuid: EDDYSTONE, data: Buffer.from('20000bb81800000000640000012c', 'hex') }] }), on)
  t.equal(tlm.kind, 'beacon', 'telemetry frames go out too (the gateway decodes them as telemetry, never as a subject)')

  const rpid = rpidAt(MEMBER_KEY, Date.UTC(2026, 0, 5, 9))
  const hex = rpid.slice(5)
  t.same(classify(ad({ serviceData: [{ uuid: RPID_SERVICE_UUID, data: Buffer.from(hex, 'hex') }] }), on), { kind: 'member', key: rpid, id: rpid }, 'a member app, service data form (Android)')
  t.same(classify(ad({ serviceUuids: [rpidServiceUuid(rpid)], manufacturerData: [{ company: 0x004c, data: Buffer.from('1005031c', 'hex') }] }), on), { kind: 'member', key: rpid, id: rpid }, 'a member app, service UUID form (iOS), before any fingerprint')
  t.equal(classify(ad({ serviceData: [{ uuid: RPID_SERVICE_UUID, data: Buffer.from('0102', 'hex') }] }), on).kind, 'fingerprint', 'a malformed rpid is no member')

  // ESPresense-style fingerprints: the kind of device, never which one
  t.same(classify(ad({ manufacturerData: [{ company: 0x004c, data: Buffer.from('100519', 'hex') }], txPower: 12 }), on), { kind: 'fingerprint', key: 'apple:1005:5-12', id: 'apple:1005:5-12' })
  t.equal(fingerprintId(ad({ manufacturerData: [{ company: 0x004c, data: Buffer.concat([Buffer.from([0x12, 0x19]), Buffer.alloc(25)]) }] })), 'apple:findmy')
  t.equal(fingerprintId(ad({ manufacturerData: [{ company: 0x0006, data: Buffer.concat([Buffer.from([0x01, 0x09, 0x20, 0x02]), Buffer.alloc(23)]) }] })), 'msft:cdp:0902')
  t.equal(fingerprintId(ad({ manufacturerData: [{ company: 0x0075, data: Buffer.alloc(24) }] })), 'md:0075:26')
  t.equal(fingerprintId(ad({ serviceData: [{ uuid: '0000fd6f-0000-1000-8000-00805f9b34fb', data: Buffer.alloc(20) }] })), 'exp:20')
  t.equal(fingerprintId(ad({ serviceData: [{ uuid: '0000fe9f-0000-1000-8000-00805f9b34fb', data: Buffer.alloc(3) }], txPower: -7 })), 'sd:0xfe9f7')
  t.equal(fingerprintId(ad({ serviceUuids: ['0000fd5a-0000-1000-8000-00805f9b34fb'] })), 'ad:0xfd5a')

  t.same(classify(ad({}), on), { kind: 'drop', reason: 'unidentified' }, 'a phone advertising nothing but its address: dropped')
  t.same(classify(ad({ manufacturerData: [{ company: 0x0075, data: Buffer.alloc(24) }] }), { fingerprints: false }), { kind: 'drop', reason: 'unidentified' }, 'fingerprints can be switched off')
  for (const rssi of [127, 1, -128, -60.5, Number.NaN]) t.same(classify(ad({ rssi, manufacturerData: [{ company: 0x004c, data: ibeaconData(1, 2) }] }), on), { kind: 'drop', reason: 'bad-rssi' }, `rssi ${rssi} is not a reading`)

  // nothing published ever carries the address the handle holds
  const mac = /5a[:_-]?3c[:_-]?91[:_-]?0e[:_-]?7d[:_-]?22/i
  const cases = [
    ad({ manufacturerData: [{ company: 0x004c, data: ibeaconData(1, 2) }] }),
    ad({ serviceData: [{ uuid: RPID_SERVICE_UUID, data: Buffer.from(hex, 'hex') }] }),
    ad({ manufacturerData: [{ company: 0x004c, data: Buffer.from('100519', 'hex') }] }),
    ad({ serviceData: [{ uuid: EDDYSTONE, data: Buffer.from('20000bb81800000000640000012c', 'hex') }] }),
  ]
  for (const a of cases) {
    const c = classify(a, on)
    const published = c.kind === 'beacon' ? buildAdv(a) : c.kind === 'drop' ? '' : c.id
    t.notMatch(String(published), mac, `${c.kind}: no MAC in what is published`)
  }
})

t.test('at most a few readings per subject per second, the strongest of those merged', async (t) => {
  const b = new SightingBatcher({ maxPerSecond: 4, intervalMs: 100, maxSubjects: 3, maxMessageBytes: 60 * 1024, forgetAfterMs: 10_000 })
  const t0 = 1_000_000
  const sent: Record<string, { rssi: number; ts: number }[]> = {}
  let strongest = -128
  const expected: number[] = []
  // a beacon at 20 Hz and a phone at 3 Hz for 5 s; publish ticks every 100 ms
  for (let ms = 0; ms <= 5000; ms += 10) {
    const now = t0 + ms
    if (ms % 50 === 0) {
      const rssi = -60 - ((ms / 50) % 7)
      if (b.offer('beacon', { adv: '0201', rssi, ts: now }) !== 'merged') { if (strongest > -128) expected.push(strongest); strongest = rssi } else strongest = Math.max(strongest, rssi)
    }
    if (ms % 330 === 0) b.offer('phone', { id: 'rpid:0102030405060708', rssi: -70, ts: now })
    if (ms % 100 === 0) {
      for (const p of b.drain(now).payloads) {
        for (const s of JSON.parse(p) as { adv?: string; id?: string; rssi: number; ts: number }[]) (sent[s.adv ? 'beacon' : 'phone'] ??= []).push(s)
      }
    }
  }
  expected.push(strongest)
  const perSecond = (xs: { ts: number }[]) => {
    const n = new Map<number, number>()
    for (const x of xs) n.set(Math.floor((x.ts - t0) / 1000), (n.get(Math.floor((x.ts - t0) / 1000)) ?? 0) + 1)
    return Math.max(...n.values())
  }
  t.ok(perSecond(sent['beacon']!) <= 4, `beacon: ${perSecond(sent['beacon']!)} readings in its busiest second`)
  t.ok(sent['beacon']!.length >= 20, `and it is reported as often as that (${sent['beacon']!.length} in 5 s)`)
  t.equal(sent['phone']!.length, 16, 'a subject slower than the limit loses nothing')
  t.same(sent['beacon']!.map((s) => s.rssi), expected.slice(0, sent['beacon']!.length), 'merged readings keep the strongest RSSI heard since the last one')
  t.ok(b.merged > 0)

  // bounded: a fourth subject is refused while three are tracked; a quiet subject is forgotten
  t.equal(b.offer('third', { id: 'c', rssi: -50, ts: t0 + 5000 }), 'queued')
  t.equal(b.offer('x', { id: 'a', rssi: -50, ts: t0 + 5000 }), 'full')
  t.equal(b.overflow, 1)
  t.ok(b.drain(t0 + 20_000).payloads.some((p) => p.includes('"id":"c"')), 'a pending reading still goes out')
  b.drain(t0 + 20_100)
  t.equal(b.size, 0, 'subjects not heard for forgetAfterMs are forgotten')
  t.equal(b.offer('x', { id: 'a', rssi: -50, ts: t0 + 20_000 }), 'queued')
})

t.test('batches stay within the message size and the contract\'s 1000 sightings', async (t) => {
  const parts = Array.from({ length: 2500 }, (_, i) => JSON.stringify({ id: `md:${i}`, rssi: -70, ts: 1 }))
  const byCount = chunk(parts, 1 << 20)
  t.same(byCount.map((p) => (JSON.parse(p) as unknown[]).length), [MAX_SIGHTINGS_PER_MESSAGE, MAX_SIGHTINGS_PER_MESSAGE, 500])
  const bySize = chunk(parts, 4096)
  t.ok(bySize.every((p) => Buffer.byteLength(p) <= 4096), 'each payload within the byte limit')
  t.equal(bySize.flatMap((p) => JSON.parse(p) as unknown[]).length, 2500, 'and nothing lost')
  t.same(chunk([], 100), [])
})

t.test('configuration from the environment, one line per problem', async (t) => {
  const ok = scannerConfigFromEnv({ AISLE_SCANNER_ID: 'scn-dairy', AISLE_STORE_ID: 's042' })
  t.ok(ok.ok)
  if (ok.ok) t.same(ok.config, { mqttUrl: 'mqtt://127.0.0.1:1883', scannerId: 'scn-dairy', prefix: 'aisle/s042', adapter: 'hci0', backend: 'node-ble', intervalMs: 250, maxPerSecond: 4, fingerprints: true, secret: undefined, logLevel: 'info' })
  const full = scannerConfigFromEnv({ AISLE_SCANNER_ID: 'scn-1', AISLE_TOPIC_PREFIX: 'chain/s1', AISLE_STORE_ID: 'ignored', AISLE_MQTT_URL: 'mqtts://gw.local:8883', AISLE_BLE_ADAPTER: 'hci1', AISLE_BLE_BACKEND: 'noble', AISLE_SCANNER_INTERVAL_MS: '100', AISLE_SCANNER_MAX_PER_SECOND: '2', AISLE_BLE_FINGERPRINTS: 'off', AISLE_DEVICE_SECRET: 's3cret', AISLE_LOG_LEVEL: 'debug' })
  t.ok(full.ok && full.config.prefix === 'chain/s1' && full.config.backend === 'noble' && full.config.secret === 's3cret' && !full.config.fingerprints && full.config.intervalMs === 100)

  const bad = scannerConfigFromEnv({ AISLE_SCANNER_ID: 'scn dairy', AISLE_MQTT_URL: 'http://x', AISLE_BLE_ADAPTER: 'bt0', AISLE_BLE_BACKEND: 'bluez', AISLE_SCANNER_INTERVAL_MS: '1000', AISLE_SCANNER_MAX_PER_SECOND: 'x', AISLE_BLE_FINGERPRINTS: 'maybe', AISLE_LOG_LEVEL: 'loud' })
  t.notOk(bad.ok)
  if (!bad.ok) {
    t.equal(bad.problems.length, 9, 'every problem, not just the first')
    for (const name of ['AISLE_SCANNER_ID', 'AISLE_STORE_ID', 'AISLE_MQTT_URL', 'AISLE_BLE_ADAPTER', 'AISLE_BLE_BACKEND', 'AISLE_SCANNER_INTERVAL_MS', 'AISLE_SCANNER_MAX_PER_SECOND', 'AISLE_BLE_FINGERPRINTS', 'AISLE_LOG_LEVEL']) {
      t.equal(bad.problems.filter((p) => p.startsWith(`${name} = `)).length, 1, `one line for ${name}`)
    }
    t.ok(bad.problems.every((p) => !p.includes('\n') && p.includes(': expected ')))
  }
  const prefix = scannerConfigFromEnv({ AISLE_SCANNER_ID: 'a', AISLE_TOPIC_PREFIX: 'aisle/#' })
  t.ok(!prefix.ok && prefix.problems[0]!.startsWith('AISLE_TOPIC_PREFIX'))
  const secret = scannerConfigFromEnv({ AISLE_SCANNER_ID: 'a', AISLE_STORE_ID: 's1', AISLE_DEVICE_SECRET: 'x'.repeat(2000) })
  t.ok(!secret.ok && !secret.problems[0]!.includes('xxxx'), 'a bad secret is never echoed')
  t.ok(scannerConfigFromEnv({ AISLE_SCANNER_ID: 'a', AISLE_STORE_ID: 's1', AISLE_BLE_BACKEND: '' }).ok, 'an empty variable counts as unset')
})

t.test('rpid on the air (edge/contract/rpid.ts)', async (t) => {
  const rpid = rpidAt(MEMBER_KEY, Date.UTC(2026, 0, 5, 9))
  const uuid = rpidServiceUuid(rpid)
  t.match(uuid, /^602ac196-92a8-4b7a-[0-9a-f]{4}-[0-9a-f]{12}$/)
  t.equal(rpidFromServiceUuid(uuid), rpid)
  t.equal(rpidFromServiceUuid(uuid.toUpperCase()), rpid)
  t.equal(rpidFromServiceUuid(RPID_SERVICE_UUID), null)
  t.equal(rpidFromServiceData(RPID_SERVICE_UUID, Buffer.from(rpid.slice(5), 'hex')), rpid)
  t.equal(rpidFromServiceData(RPID_SERVICE_UUID, Buffer.alloc(7)), null)
  t.equal(rpidFromServiceData(EDDYSTONE, Buffer.alloc(8)), null)
  const air = rpidAdvertisement(rpid)
  t.equal(air.length / 2, 3 + 26, 'flags and one 26-byte structure: fits a legacy 31-byte advertisement')
  t.throws(() => rpidServiceUuid('rpid:xyz'))
})

t.test('backoff and log scrubbing', async (t) => {
  const b = new Backoff(100, 1000, () => 0.5)
  t.same([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1000, 1000])
  b.reset()
  t.equal(b.next(), 100)
  const jitter = new Backoff(1000, 1000, () => 0)
  t.equal(jitter.next(), 750, 'jitter spreads a fleet\'s retries')
  t.equal(scrubMacs('Does Not Exist: /org/bluez/hci0/dev_5A_3C_91_0E_7D_22 (5a:3c:91:0e:7d:22)'), 'Does Not Exist: /org/bluez/hci0/dev_[mac] ([mac])')
})

class FakeNoble extends EventEmitter implements NobleLike {
  state = 'unknown'
  scans: boolean[] = []
  stops = 0
  _peripherals: Record<string, unknown> = {}
  _discoveredPeripheralUUids: Record<string, unknown> = {}
  _bindings = { _gap: { _discoveries: {} as Record<string, unknown> } }
  startScanning(_uuids: string[], allowDuplicates: boolean, cb?: (err?: Error | null) => void): void {
    this.scans.push(allowDuplicates)
    setImmediate(() => { this.emit('scanStart', !allowDuplicates); cb?.(null) })
  }
  stopScanning(cb?: () => void): void { this.stops++; setImmediate(() => { this.emit('scanStop'); cb?.() }) }
  power(state: string): void { this.state = state; this.emit('stateChange', state) }
  see(p: NoblePeripheral): void {
    this._peripherals[p.id] = p
    this._discoveredPeripheralUUids[p.id] = true
    this._bindings._gap._discoveries[p.id.replace(/(..)(?!$)/g, '$1:')] = {}
    this.emit('discover', p)
  }
}

const tick = () => new Promise((r) => setImmediate(r))

t.test('noble: peripherals become advertisements', async (t) => {
  const a = advertisementOf({
    id: '5a3c910e7d22', addressType: 'random', rssi: -67,
    advertisement: { txPowerLevel: -4, manufacturerData: Buffer.concat([Buffer.from([0x4c, 0x00]), ibeaconData(7, 8)]), serviceData: [{ uuid: 'feaa', data: Buffer.from('20', 'hex') }], serviceUuids: ['d', RPID_SERVICE_UUID.replace(/-/g, '')] },
  }, 42)
  t.same(a.manufacturerData, [{ company: 0x004c, data: ibeaconData(7, 8) }], 'the company id split off noble\'s manufacturerData')
  t.same(a.serviceData.map((s) => s.uuid), [EDDYSTONE])
  t.same(a.serviceUuids, ['0000000d-0000-1000-8000-00805f9b34fb', RPID_SERVICE_UUID])
  t.equal(a.txPower, -4)
  t.equal(a.addressType, 'random')
  t.same(decodeAdv(buildAdv(a)!), { ok: true, id: `ibeacon:${IBEACON_UUID}-7-8`, txPower: -59, frame: 'ibeacon' })
  t.same(advertisementOf({ id: 'x', rssi: -50, advertisement: { manufacturerData: Buffer.from([1]) } }, 1).manufacturerData, [], 'a manufacturer field too short for a company id is left out')
})

t.test('noble backend: scans with duplicates once powered on, survives stops and failures, forgets old peripherals', async (t) => {
  const fake = new FakeNoble()
  let loads = 0
  const sigint = process.listeners('SIGINT').length
  const backend = new NobleBackend({
    adapter: 'hci1', maxPeripherals: 3, backoffMinMs: 5, backoffMaxMs: 20,
    load: async (deviceId) => {
      t.equal(deviceId, 1, 'hci1 is HCI device 1')
      if (++loads === 1) throw new Error('EAFNOSUPPORT, Address family not supported by protocol')
      process.on('SIGINT', () => process.exit(1)) // what noble's bindings do at init
      return fake
    },
  })
  const states: BleState[] = []
  const ads: Advertisement[] = []
  await backend.start({ advertisement: (a) => ads.push(a), state: (s) => states.push(s) })
  t.same(states, ['starting', 'no-adapter'], 'no HCI socket: reported, and retried')
  await new Promise((r) => setTimeout(r, 60))
  t.equal(loads, 2)
  t.equal(process.listeners('SIGINT').length, sigint, 'noble\'s SIGINT exit handler is removed (the scanner stops noble itself)')

  fake.power('unauthorized')
  t.equal(states.at(-1), 'adapter-error')
  fake.power('poweredOn')
  await tick(); await tick()
  t.same(fake.scans, [true], 'scanning with allowDuplicates, so RSSI keeps coming')
  t.equal(states.at(-1), 'scanning')

  for (let i = 0; i < 5; i++) fake.see({ id: `5a3c910e7d2${i}`, addressType: 'random', rssi: -60 - i, advertisement: { manufacturerData: Buffer.concat([Buffer.from([0x4c, 0x00]), ibeaconData(1, i)]) } })
  t.equal(ads.length, 5)
  t.same(Object.keys(fake._peripherals), ['5a3c910e7d22', '5a3c910e7d23', '5a3c910e7d24'], 'noble\'s own peripheral table is kept to maxPeripherals')
  t.same(Object.keys(fake._bindings._gap._discoveries), ['5a:3c:91:0e:7d:22', '5a:3c:91:0e:7d:23', '5a:3c:91:0e:7d:24'])

  // someone stops the scan (or the controller resets): scanning again after a backoff
  fake.emit('scanStop')
  t.equal(states.at(-1), 'adapter-error')
  await new Promise((r) => setTimeout(r, 60))
  t.same(fake.scans, [true, true])
  t.equal(states.at(-1), 'scanning')

  fake.power('poweredOff')
  t.equal(states.at(-1), 'adapter-error')
  fake.power('poweredOn')
  await tick(); await tick()
  t.equal(fake.scans.length, 3)

  await backend.stop()
  t.equal(fake.stops, 1, 'stop() stops scanning')
  t.equal(states.at(-1), 'stopped')
  fake.see({ id: 'aa', rssi: -50, advertisement: {} })
  t.equal(ads.length, 5, 'nothing after stop')
})

t.test('noble backend: a failing bind (no such adapter) is retried with a fresh instance', async (t) => {
  const made: FakeNoble[] = []
  const backend = new NobleBackend({
    adapter: 'hci0', backoffMinMs: 5, backoffMaxMs: 10,
    load: async () => {
      const f = new FakeNoble()
      made.push(f)
      if (made.length === 1) setImmediate(() => f.emit('warning', 'Initialization of USB device failed: ENODEV, No such device'))
      else setImmediate(() => f.power('poweredOn'))
      return f
    },
  })
  const states: BleState[] = []
  await backend.start({ advertisement: () => {}, state: (s) => states.push(s) })
  await new Promise((r) => setTimeout(r, 80))
  t.equal(made.length, 2)
  t.ok(states.includes('no-adapter'))
  t.equal(states.at(-1), 'scanning')
  t.same(made[1]!.scans, [true])
  await backend.stop()
  t.throws(() => new NobleBackend({ adapter: 'bt0' }), /hci<N>/)
  const missing = new NobleBackend({ adapter: 'hci0', load: async () => { throw new NobleMissing('AISLE_BLE_BACKEND=noble, but @abandonware/noble is not installed') } })
  await t.rejects(missing.start({ advertisement: () => {}, state: () => {} }), /not installed/, 'noble missing is a configuration problem: start fails, no retrying')
})
