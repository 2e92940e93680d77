/**
 * A small fuzzer for the inbound MQTT contract: seeded generators of good messages and of hostile ones,
 * each hostile one labelled with the dead-letter reason the gateway must give it.
 */
import { Rng } from '../../devices/simulator/rng.js'

export interface FuzzMessage {
  topic: string
  payload: Buffer
  /** null for a good message, else the reason it must be dead-lettered with */
  expect: string | null
  shape: string
}

const enc = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))

export function generators(prefix: string, knownZone: string, rng: Rng, now: () => number = Date.now) {
  const P = prefix
  const dev = () => `scn-${rng.int(1, 20)}`
  const subj = () => rng.pick([`ibeacon:426c7565-4368-6172-6d42-6561636f6e73-1-${rng.int(1, 500)}`, `rpid:${rng.hex(8)}`, `watch:w${rng.int(1, 50)}`, `band:b-${rng.int(1, 9)}`])
  const rssi = () => rng.int(-110, -30)
  const sighting = () => ({ id: subj(), rssi: rssi(), ...(rng.chance(0.5) ? { ts: now() } : {}) })

  const good: Record<string, () => FuzzMessage> = {
    'ble-single': () => ({ topic: `${P}/ble/${dev()}`, payload: enc(sighting()), expect: null, shape: 'ble-single' }),
    'ble-array': () => ({ topic: `${P}/ble/${dev()}`, payload: enc(Array.from({ length: rng.int(1, 50) }, sighting)), expect: null, shape: 'ble-array' }),
    'ble-adv': () => ({ topic: `${P}/ble/${dev()}`, payload: enc({ adv: `0201061aff4c000215426c7565436861726d426561636f6e730001${rng.int(0, 65535).toString(16).padStart(4, '0')}c5`, rssi: rssi() }), expect: null, shape: 'ble-adv' }),
    'ble-extra-fields': () => ({ topic: `${P}/ble/${dev()}`, payload: enc({ ...sighting(), vendor: { x: [1, 2, 3] }, note: 'extra' }), expect: null, shape: 'ble-extra-fields' }),
    'proto-pollution': () => ({ topic: `${P}/ble/${dev()}`, payload: Buffer.from(`{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"id":"x:1","rssi":-60}`), expect: null, shape: 'proto-pollution' }),
    espresense: () => ({ topic: `espresense/devices/${subj()}/${dev()}`, payload: enc({ id: 'ignored', rssi: rssi(), 'rssi@1m': -59, distance: rng.range(0.5, 10), mac: 'aabbccddeeff' }), expect: null, shape: 'espresense' }),
    ranging: () => ({ topic: `${P}/ranging/cart-${rng.int(1, 30)}`, payload: enc({ beacons: [{ id: subj(), rssi: rssi() }] }), expect: null, shape: 'ranging' }),
    dwell: () => ({ topic: `${P}/dwell/tof-${rng.int(1, 5)}`, payload: enc({ zone: knownZone, state: rng.pick(['enter', 'dwell', 'exit']), seconds: rng.int(0, 100) }), expect: null, shape: 'dwell' }),
    scan: () => ({ topic: `${P}/scan/hs-${rng.int(1, 5)}`, payload: enc({ code: `sku-${rng.int(1, 999)}`, kind: 'product' }), expect: null, shape: 'scan' }),
    receipt: () => ({ topic: `${P}/pos/lane-${rng.int(1, 3)}/receipt`, payload: enc({ receiptId: `r-${rng.hex(6)}`, items: [{ sku: 'sku-1', qty: 1, price: 1.5 }], total: 1.5 }), expect: null, shape: 'receipt' }),
    button: () => ({ topic: `${P}/button/btn-${rng.int(1, 5)}`, payload: enc({ action: rng.pick(['call', 'cancel']) }), expect: null, shape: 'button' }),
    'band-ack': () => ({ topic: `${P}/band/b-${rng.int(1, 5)}/ack`, payload: enc({ alertId: `a-${rng.int(1, 99)}`, action: rng.pick(['accept', 'decline', 'done']) }), expect: null, shape: 'band-ack' }),
    'band-status': () => ({ topic: `${P}/band/b-${rng.int(1, 5)}/status`, payload: enc({ battery: rng.int(0, 100), onShift: rng.chance(0.5) }), expect: null, shape: 'band-status' }),
    status: () => ({ topic: `${P}/status/dev-${rng.int(1, 5)}`, payload: enc({ online: rng.chance(0.5), fw: '1.2.3' }), expect: null, shape: 'status' }),
  }

  const hostile: Record<string, () => FuzzMessage> = {
    'truncated-json': () => { const s = JSON.stringify(sighting()); return { topic: `${P}/ble/${dev()}`, payload: enc(s.slice(0, rng.int(1, s.length - 1))), expect: 'bad-json', shape: 'truncated-json' } },
    'empty-payload': () => ({ topic: `${P}/ble/${dev()}`, payload: Buffer.alloc(0), expect: 'bad-json', shape: 'empty-payload' }),
    'ascii-noise': () => ({ topic: `${P}/scan/${dev()}`, payload: enc(`not json ${rng.hex(8)} {`), expect: 'bad-json', shape: 'ascii-noise' }),
    'trailing-comma': () => ({ topic: `${P}/button/${dev()}`, payload: enc('{"action":"call",}'), expect: 'bad-json', shape: 'trailing-comma' }),
    'deep-nesting': () => ({ topic: `${P}/ble/${dev()}`, payload: enc('['.repeat(20_000) + ']'.repeat(20_000)), expect: 'invalid', shape: 'deep-nesting' }),
    'binary-garbage': () => { const b = Buffer.from(rng.hex(rng.int(4, 300)), 'hex'); b[0] = 0xff; return { topic: `${P}/ble/${dev()}`, payload: b, expect: 'not-utf8', shape: 'binary-garbage' } },
    'overlong-utf8': () => ({ topic: `${P}/scan/${dev()}`, payload: Buffer.from([0x7b, 0xc0, 0xaf, 0x7d]), expect: 'not-utf8', shape: 'overlong-utf8' }),
    oversized: () => ({ topic: `${P}/ble/${dev()}`, payload: enc({ id: 'x:1', rssi: -50, pad: 'a'.repeat(65_536 + rng.int(1, 4000)) }), expect: 'oversized', shape: 'oversized' }),
    'rssi-wrong-type': () => ({ topic: `${P}/ble/${dev()}`, payload: enc({ id: subj(), rssi: rng.pick(['-50', null, true, [], {}]) }), expect: 'invalid', shape: 'rssi-wrong-type' }),
    'rssi-float': () => ({ topic: `${P}/ble/${dev()}`, payload: enc({ id: subj(), rssi: -50.5 }), expect: 'invalid', shape: 'rssi-float' }),
    'rssi-positive': () => ({ topic: `${P}/ble/${dev()}`, payload: enc({ id: subj(), rssi: rng.int(1, 200) }), expect: 'out-of-range', shape: 'rssi-positive' }),
    'rssi-too-low': () => ({ topic: `${P}/ble/${dev()}`, payload: enc([{ id: subj(), rssi: -60 }, { id: subj(), rssi: rng.int(-100000, -128) }]), expect: 'out-of-range', shape: 'rssi-too-low' }),
    'battery-150': () => ({ topic: `${P}/band/b-1/status`, payload: enc({ battery: 150 }), expect: 'out-of-range', shape: 'battery-150' }),
    'missing-rssi': () => ({ topic: `${P}/ble/${dev()}`, payload: enc({ id: subj() }), expect: 'invalid', shape: 'missing-rssi' }),
    'no-id-no-adv': () => ({ topic: `${P}/ble/${dev()}`, payload: enc({ rssi: -60 }), expect: 'invalid', shape: 'no-id-no-adv' }),
    'empty-array': () => ({ topic: `${P}/ble/${dev()}`, payload: enc([]), expect: 'invalid', shape: 'empty-array' }),
    'too-many-sightings': () => ({ topic: `${P}/ble/${dev()}`, payload: enc(Array.from({ length: 1001 }, () => ({ id: 'x:1', rssi: -60 }))), expect: 'invalid', shape: 'too-many-sightings' }),
    'id-with-space': () => ({ topic: `${P}/ble/${dev()}`, payload: enc({ id: 'bad id', rssi: -60 }), expect: 'invalid', shape: 'id-with-space' }),
    'id-control-chars': () => ({ topic: `${P}/ble/${dev()}`, payload: enc({ id: 'x\u0000y\u001b[31m', rssi: -60 }), expect: 'invalid', shape: 'id-control-chars' }),
    'id-too-long': () => ({ topic: `${P}/ble/${dev()}`, payload: enc({ id: 'x'.repeat(129), rssi: -60 }), expect: 'invalid', shape: 'id-too-long' }),
    'adv-not-hex': () => ({ topic: `${P}/ble/${dev()}`, payload: enc({ adv: 'zz11', rssi: -60 }), expect: 'invalid', shape: 'adv-not-hex' }),
    'json-null': () => ({ topic: `${P}/receipt/x`, payload: enc('null'), expect: 'unknown-topic', shape: 'json-null-unknown-topic' }),
    'json-scalar': () => ({ topic: `${P}/button/${dev()}`, payload: enc(rng.pick(['42', '"call"', 'true', 'null'])), expect: 'invalid', shape: 'json-scalar' }),
    'bad-enum': () => ({ topic: `${P}/button/${dev()}`, payload: enc({ action: 'explode' }), expect: 'invalid', shape: 'bad-enum' }),
    'negative-ts': () => ({ topic: `${P}/scan/${dev()}`, payload: enc({ code: 'c', ts: -5 }), expect: 'out-of-range', shape: 'negative-ts' }),
    'ts-string': () => ({ topic: `${P}/scan/${dev()}`, payload: enc({ code: 'c', ts: 'yesterday' }), expect: 'invalid', shape: 'ts-string' }),
    'receipt-items-object': () => ({ topic: `${P}/pos/lane-1/receipt`, payload: enc({ receiptId: 'r', items: { sku: 'a' }, total: 1 }), expect: 'invalid', shape: 'receipt-items-object' }),
    'dwell-unknown-zone': () => ({ topic: `${P}/dwell/tof-1`, payload: enc({ zone: 'no-such-zone', state: 'enter' }), expect: 'unknown-zone', shape: 'dwell-unknown-zone' }),
    'dwell-bad-zone-id': () => ({ topic: `${P}/dwell/tof-1`, payload: enc({ zone: 'Bad Zone!', state: 'enter' }), expect: 'invalid', shape: 'dwell-bad-zone-id' }),
    'unknown-topic': () => ({ topic: rng.pick([`${P}/foo/bar`, `${P}/ble`, `${P}/pos/lane-1/refund`, `${P}/band/b-1/reboot`, `${P}/ble/a/b`]), payload: enc(sighting()), expect: 'unknown-topic', shape: 'unknown-topic' }),
    'bad-device-id': () => ({ topic: `${P}/ble/${rng.pick(['bad id', 'é-scanner', 'x'.repeat(65), 'semi;colon'])}`, payload: enc(sighting()), expect: 'bad-topic-id', shape: 'bad-device-id' }),
    'espresense-bad-rssi': () => ({ topic: `espresense/devices/${subj()}/${dev()}`, payload: enc({ id: 'x', rssi: 'strong' }), expect: 'invalid', shape: 'espresense-bad-rssi' }),
    'ranging-bad-beacons': () => ({ topic: `${P}/ranging/cart-1`, payload: enc({ beacons: 'all of them' }), expect: 'invalid', shape: 'ranging-bad-beacons' }),
    'huge-number': () => ({ topic: `${P}/ble/${dev()}`, payload: enc('{"id":"x:1","rssi":-1e400}'), expect: 'invalid', shape: 'huge-number' }),
    'unicode-bom': () => ({ topic: `${P}/button/${dev()}`, payload: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), enc({ action: 'call' })]), expect: 'bad-json', shape: 'unicode-bom' }),
  }
  return { good, hostile }
}

/** n hostile messages interleaved with good ones (about one good per hostile), in a seeded order. */
export function fuzzStream(prefix: string, knownZone: string, hostileCount: number, seed = 7, now: () => number = Date.now): FuzzMessage[] {
  const rng = new Rng(seed)
  const { good, hostile } = generators(prefix, knownZone, rng, now)
  const hostileKinds = Object.keys(hostile)
  const goodKinds = Object.keys(good)
  const out: FuzzMessage[] = []
  let h = 0
  while (h < hostileCount) {
    if (rng.chance(0.5)) out.push(good[rng.pick(goodKinds)]!())
    else { out.push(hostile[hostileKinds[h % hostileKinds.length]!]!()); h++ }
  }
  return out
}
