/**
 * Decoding raw BLE advertisements (AD structures) into subject ids (CONTRACT section 1):
 *   iBeacon       -> ibeacon:<uuid>-<major>-<minor>        (+ its measured power)
 *   Eddystone-UID -> eddystone:<namespace 20 hex>-<instance 12 hex>
 *   Eddystone-URL -> eddystone-url:<decoded URL>
 *   Eddystone-TLM -> telemetry only (no identity): reported as such, never located
 * Trailing bytes after the last structure (zero padding, scan-response leftovers) are tolerated; a structure
 * that claims more bytes than remain is an error.
 */

export type AdvResult =
  | { ok: true; id: string; txPower?: number; frame: 'ibeacon' | 'eddystone-uid' | 'eddystone-url' }
  | { ok: true; id: null; frame: 'eddystone-tlm'; tlm: { batteryMv: number; tempC: number | null; advCount: number; uptimeS: number } }
  | { ok: false; reason: 'adv-truncated' | 'adv-unknown' | 'adv-malformed' }

const URL_SCHEMES = ['http://www.', 'https://www.', 'http://', 'https://']
const URL_CODES = ['.com/', '.org/', '.edu/', '.net/', '.info/', '.biz/', '.gov/', '.com', '.org', '.edu', '.net', '.info', '.biz', '.gov']

const int8 = (b: number): number => (b > 127 ? b - 256 : b)

export function decodeAdv(hex: string): AdvResult {
  const buf = Buffer.from(hex, 'hex')
  let i = 0
  let truncated = false
  let sawStructure = false
  while (i < buf.length) {
    const len = buf[i]!
    if (len === 0) break // padding: the rest is trailing bytes
    if (i + 1 + len > buf.length) { truncated = true; break }
    const type = buf[i + 1]!
    const data = buf.subarray(i + 2, i + 1 + len)
    sawStructure = true
    i += 1 + len
    if (type === 0xff) {
      // manufacturer specific: Apple (0x004C little-endian) iBeacon type 0x02 length 0x15
      if (data.length >= 25 && data[0] === 0x4c && data[1] === 0x00 && data[2] === 0x02 && data[3] === 0x15) {
        const u = data.subarray(4, 20).toString('hex')
        const uuid = `${u.slice(0, 8)}-${u.slice(8, 12)}-${u.slice(12, 16)}-${u.slice(16, 20)}-${u.slice(20)}`
        const major = data.readUInt16BE(20)
        const minor = data.readUInt16BE(22)
        return { ok: true, id: `ibeacon:${uuid}-${major}-${minor}`, txPower: int8(data[24]!), frame: 'ibeacon' }
      }
      if (data.length >= 4 && data[0] === 0x4c && data[1] === 0x00 && data[2] === 0x02) return { ok: false, reason: 'adv-truncated' }
    } else if (type === 0x16 && data.length >= 3 && data[0] === 0xaa && data[1] === 0xfe) {
      const frame = data[2]!
      const f = data.subarray(3)
      if (frame === 0x00) {
        if (f.length < 17) return { ok: false, reason: 'adv-truncated' }
        return { ok: true, id: `eddystone:${f.subarray(1, 11).toString('hex')}-${f.subarray(11, 17).toString('hex')}`, txPower: int8(f[0]!) - 41, frame: 'eddystone-uid' }
      }
      if (frame === 0x10) {
        if (f.length < 2) return { ok: false, reason: 'adv-truncated' }
        const scheme = URL_SCHEMES[f[1]!]
        if (scheme === undefined) return { ok: false, reason: 'adv-malformed' }
        let url = scheme
        for (const c of f.subarray(2)) {
          if (c < URL_CODES.length) url += URL_CODES[c]
          else if (c > 0x20 && c < 0x7f) url += String.fromCharCode(c)
          else return { ok: false, reason: 'adv-malformed' }
        }
        return { ok: true, id: `eddystone-url:${url}`, txPower: int8(f[0]!) - 41, frame: 'eddystone-url' }
      }
      if (frame === 0x20) {
        if (f.length < 13) return { ok: false, reason: 'adv-truncated' }
        const temp = f.readInt16BE(3)
        return {
          ok: true, id: null, frame: 'eddystone-tlm',
          tlm: { batteryMv: f.readUInt16BE(1), tempC: temp === -32768 ? null : temp / 256, advCount: f.readUInt32BE(5), uptimeS: f.readUInt32BE(9) / 10 },
        }
      }
    }
  }
  if (truncated) return { ok: false, reason: 'adv-truncated' }
  return { ok: false, reason: sawStructure ? 'adv-unknown' : 'adv-malformed' }
}
