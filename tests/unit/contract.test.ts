/** Contract pieces: topic routing, advertisement decoding, rotating pseudonyms. */
import t from 'tap'
import { createHmac } from 'node:crypto'
import { computeRpid, routeTopic, rpidAt, rpidWindow, inboundSubscriptions } from '../../edge/contract/index.js'
import { decodeAdv } from '../../edge/ingest/adv.js'

t.test('routeTopic', async (t) => {
  const P = 'aisle/s042'
  t.same(routeTopic(P, `${P}/ble/scn-dairy-1`), { kind: 'ble', device: 'scn-dairy-1' })
  t.same(routeTopic(P, `${P}/pos/lane-2/receipt`), { kind: 'receipt', device: 'lane-2' })
  t.same(routeTopic(P, `${P}/band/b-07/ack`), { kind: 'band-ack', device: 'b-07' })
  t.same(routeTopic(P, `${P}/band/b-07/status`), { kind: 'band-status', device: 'b-07' })
  t.same(routeTopic(P, `${P}/ranging/rpid:9f2c61d0a4b3e877`), { kind: 'ranging', device: 'rpid:9f2c61d0a4b3e877' })
  t.same(routeTopic(P, 'espresense/devices/iBeacon:e5ca1ade-f007-ba11-0000-000000000000-1-3/kitchen'), { kind: 'espresense', device: 'kitchen', subject: 'iBeacon:e5ca1ade-f007-ba11-0000-000000000000-1-3' })
  t.equal(routeTopic(P, `${P}/events/dwell`), 'own', 'our own events are skipped')
  t.equal(routeTopic(P, `${P}/gateway/status`), 'own')
  t.equal(routeTopic(P, `${P}/band/b-07/alert`), 'own')
  for (const bad of [`${P}/nope/x`, `${P}/ble`, `${P}/ble/a/b`, `${P}/pos/lane/refund`, 'aisle/other/ble/x', `${P}x/ble/a`, 'espresense/devices/x', 'espresense/devices/a/b/c']) {
    t.equal(routeTopic(P, bad), 'unknown-topic', bad)
  }
  t.equal(routeTopic(P, `${P}/ble/bad id`), 'bad-topic-id')
  t.equal(routeTopic(P, `${P}/ble/${'x'.repeat(65)}`), 'bad-topic-id')
  t.same(inboundSubscriptions(P), [`${P}/#`, 'espresense/devices/#'])
})

t.test('rotating pseudonyms follow CONTRACT section 5 exactly', async (t) => {
  const key = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex')
  const now = Date.UTC(2026, 10, 23, 12, 7, 30)
  const w = Math.floor(now / 1000 / 900)
  t.equal(rpidWindow(now), w)
  const msg = Buffer.concat([Buffer.from('rpid'), Buffer.from([(w >>> 24) & 255, (w >>> 16) & 255, (w >>> 8) & 255, w & 255])])
  const expected = `rpid:${createHmac('sha256', key).update(msg).digest('hex').slice(0, 16)}`
  t.equal(computeRpid(key, w), expected)
  t.equal(rpidAt(key.toString('hex'), now), expected)
  t.match(expected, /^rpid:[0-9a-f]{16}$/)
  t.not(rpidAt(key.toString('hex'), now + 900_000), expected, 'rotates every 15 minutes')
})

const IBEACON = '0201061aff4c000215426c7565436861726d426561636f6e7338384949c5'

t.test('advertisement decoding', async (t) => {
  t.same(decodeAdv(IBEACON), { ok: true, id: 'ibeacon:426c7565-4368-6172-6d42-6561636f6e73-14392-18761', txPower: -59, frame: 'ibeacon' })
  t.match(decodeAdv(`${IBEACON}000000`), { ok: true, frame: 'ibeacon' }, 'trailing zero padding tolerated')
  t.match(decodeAdv(`${IBEACON}0509`), { ok: true, frame: 'ibeacon' }, 'a truncated structure after the beacon is tolerated')
  t.same(decodeAdv(IBEACON.slice(0, 40)), { ok: false, reason: 'adv-truncated' }, 'a truncated iBeacon is refused')
  // Eddystone-UID: flags, 16-bit UUID list (FEAA), service data
  const uid = '0201060303aafe1716aafe00e8' + '00112233445566778899' + 'aabbccddeeff' + '0000'
  t.same(decodeAdv(uid), { ok: true, id: 'eddystone:00112233445566778899-aabbccddeeff', txPower: -24 - 41, frame: 'eddystone-uid' })
  const url = '0201060303aafe0d16aafe10eb' + '03' + '676f6f676c65' + '07'
  t.same(decodeAdv(url), { ok: true, id: 'eddystone-url:https://google.com', txPower: -21 - 41, frame: 'eddystone-url' })
  const tlm = '0201060303aafe1116aafe2000' + '0bb8' + '1880' + '00000064' + '000003e8'
  t.same(decodeAdv(tlm), { ok: true, id: null, frame: 'eddystone-tlm', tlm: { batteryMv: 3000, tempC: 24.5, advCount: 100, uptimeS: 100 } })
  t.same(decodeAdv('0201060303aafe0716aafe00e80011'), { ok: false, reason: 'adv-truncated' }, 'short Eddystone-UID')
  t.same(decodeAdv('020106'), { ok: false, reason: 'adv-unknown' }, 'flags only: nothing to locate')
  t.same(decodeAdv('1aff4c00'), { ok: false, reason: 'adv-truncated' }, 'length beyond the buffer')
})
