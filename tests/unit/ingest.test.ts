/** Ingest details the fuzzer does not pin down: events handed on, ESPresense, adv items, clock skew, telemetry. */
import t from 'tap'
import { Registry } from 'prom-client'
import { ManualClock } from '../../edge/core/clock.js'
import { HotCounter } from '../../edge/core/metrics.js'
import { DeviceRegistry } from '../../edge/ingest/devices.js'
import { Ingest, scrubPayload, type IngestEvents } from '../../edge/ingest/ingest.js'

function setup() {
  const clock = new ManualClock(1_800_000_000_000)
  const events: { k: keyof IngestEvents; p: unknown }[] = []
  const r = new Registry()
  const messages = new HotCounter(r, 'm', 'm', ['kind', 'outcome'])
  const deadLetters = new HotCounter(r, 'd', 'd', ['reason'])
  const devices = new DeviceRegistry()
  const ingest = new Ingest({
    prefix: 'aisle/s1', maxPayloadBytes: 65536, clockSkewMs: 300_000, clock, messages, deadLetters, devices,
    emit: (k, p) => events.push({ k, p }), knownZone: (z) => z === 'fridge',
  })
  const send = (topic: string, v: unknown) => ingest.handle(topic, Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)))
  return { clock, events, messages, deadLetters, devices, send }
}

t.test('sightings become readings; device clocks far off are replaced by receive time', async (t) => {
  const { events, send, clock, devices } = setup()
  send('aisle/s1/ble/scn-1', [{ id: 'watch:a', rssi: -60, ts: clock.now() - 1000 }, { id: 'watch:b', rssi: -70, txPower: -59, ts: 5 }])
  const r = events[0]!.p as IngestEvents['readings']
  t.equal(events[0]!.k, 'readings')
  t.equal(r.device, 'scn-1', 'the scanner is the anchor')
  t.same(r.readings, [
    { id: 'watch:a', rssi: -60, ts: clock.now() - 1000 },
    { id: 'watch:b', rssi: -70, txPower: -59, ts: clock.now() },
  ])
  t.equal(devices.get('scanner', 'scn-1')?.messages, 1)
})

t.test('ESPresense messages are read unchanged; their MAC is never handed on', async (t) => {
  const { events, send } = setup()
  send('espresense/devices/iBeacon:e5ca1ade-f007-ba11-0000-000000000000-1-3/kitchen', { id: 'iBeacon:e5ca1ade-f007-ba11-0000-000000000000-1-3', rssi: -71.4, 'rssi@1m': -59, distance: 2.3, mac: 'a1b2c3d4e5f6', raw: 2.5, speed: 0 })
  const r = events[0]!.p as IngestEvents['readings']
  t.equal(r.device, 'kitchen')
  t.same(r.readings, [{ id: 'iBeacon:e5ca1ade-f007-ba11-0000-000000000000-1-3', rssi: -71, txPower: -59, ts: 1_800_000_000_000 }])
  t.notOk(JSON.stringify(events).includes('a1b2c3d4e5f6'))
})

t.test('raw advertisements: decoded, unknown ones skipped, truncated ones dead-lettered alone', async (t) => {
  const { events, send, messages, deadLetters } = setup()
  const ibeacon = '0201061aff4c000215426c7565436861726d426561636f6e7338384949c5'
  const tlm = '0201060303aafe1116aafe2000' + '0bb8' + '1880' + '00000064' + '000003e8'
  send('aisle/s1/ble/scn-2', [{ adv: ibeacon, rssi: -60 }, { adv: '020106', rssi: -70 }, { adv: ibeacon.slice(0, 40), rssi: -65 }, { adv: tlm, rssi: -80 }])
  const readings = events.find((e) => e.k === 'readings')!.p as IngestEvents['readings']
  t.same(readings.readings.map((r) => [r.id, r.txPower]), [['ibeacon:426c7565-4368-6172-6d42-6561636f6e73-14392-18761', -59]])
  t.equal(events.filter((e) => e.k === 'deadLetter').length, 1)
  t.match(events.find((e) => e.k === 'deadLetter')!.p, { reason: 'adv-truncated', device: 'scn-2' })
  t.match(events.find((e) => e.k === 'telemetry')!.p, { device: 'scn-2', batteryMv: 3000 })
  t.equal(messages.get(['ble', 'ok']), 1, 'the message itself was good')
  t.equal(messages.get(['ble', 'adv-ignored']), 1)
  t.equal(deadLetters.get(['adv-truncated']), 1)
})

t.test('other kinds are validated and handed on', async (t) => {
  const { events, send } = setup()
  send('aisle/s1/dwell/tof-1', { zone: 'fridge', state: 'dwell', seconds: 12 })
  send('aisle/s1/pos/lane-1/receipt', { receiptId: 'r1', memberId: 'm-1', items: [{ sku: 's', qty: 2, price: 1.25 }], coupons: ['ABC'], total: 2.5 })
  send('aisle/s1/button/btn-1', { action: 'call' })
  send('aisle/s1/band/b-1/ack', { alertId: 'a1', action: 'accept' })
  send('aisle/s1/status/scn-1', { online: false })
  send('aisle/s1/ranging/cart-7', { beacons: [{ id: 'ibeacon:x-1-1', rssi: -60 }] })
  t.same(events.map((e) => e.k), ['dwellReport', 'receipt', 'button', 'bandAck', 'deviceStatus', 'readings'])
  t.match(events[5]!.p, { source: 'ranging', device: 'cart-7', readings: [{ id: 'ibeacon:x-1-1', rssi: -60 }] })
})

t.test('scrubPayload removes MAC addresses', async (t) => {
  t.equal(scrubPayload(Buffer.from('{"mac":"AA:BB:CC:DD:EE:FF","x":"11-22-33-44-55-66","addr":"aabbccddeeff"}')).toString(), '{"mac":"[mac]","x":"[mac]","addr":"[mac]"}')
  t.equal(scrubPayload(Buffer.alloc(2000, 0x41)).length, 512)
})
