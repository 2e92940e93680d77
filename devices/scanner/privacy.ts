/**
 * The privacy filter: what an advertisement may be published as. A MAC address is never published, of
 * any device: phones advertise from random addresses precisely so that they cannot be followed, and the
 * gateway never stores a MAC (CONTRACT section 1) even of a public-address device. What identifies a
 * subject without one:
 *   beacon      iBeacon (Apple 0x004C, type 0x02 0x15) and Eddystone UID / URL / TLM (service 0xFEAA):
 *               published as the raw advertisement (`adv`), decoded by the gateway itself
 *   member      a member app's rotating pseudonym (edge/contract/rpid.ts: service data under
 *               RPID_SERVICE_UUID, or a service UUID with RPID_UUID_PREFIX): published as `id: rpid:<hex>`
 *   fingerprint an ESPresense-style id built from the kind of advertisement, never from the address
 *               (`apple:1006:10-12`, `msft:cdp:0920`, `md:0075:26`, `sd:0xfe9f`, `ad:...`): optional, shared
 *               by every device of a kind, so it says "a Samsung phone", not which one
 * Everything else is dropped and counted. Device names are never used (they are often a person's name).
 */
import { reSubject, rpidFromServiceData, rpidFromServiceUuid } from '../../edge/contract/index.js'
import { shortUuid, type Advertisement } from './types.js'

export type Classified =
  /** key: what the rate limit counts per subject (in memory only) */
  | { kind: 'beacon'; key: string }
  | { kind: 'member' | 'fingerprint'; key: string; id: string }
  | { kind: 'drop'; reason: DropReason }

export type DropReason = 'unidentified' | 'bad-rssi' | 'bad-id'

export const DROP_REASONS: readonly DropReason[] = ['unidentified', 'bad-rssi', 'bad-id']

const APPLE = 0x004c
const MICROSOFT = 0x0006
const EDDYSTONE = '0000feaa-0000-1000-8000-00805f9b34fb'
const EXPOSURE = '0000fd6f-0000-1000-8000-00805f9b34fb'

const hex = (b: Buffer, from = 0, to = b.length): string => b.subarray(from, to).toString('hex')
const h2 = (n: number): string => (n & 0xff).toString(16).padStart(2, '0')
const h4 = (n: number): string => (n & 0xffff).toString(16).padStart(4, '0')

export interface PrivacyOptions {
  /** publish ESPresense-style fingerprint ids of devices that carry no beacon or member id (default true) */
  fingerprints: boolean
}

/** The frame key of a beacon advertisement, or null. */
function beaconKey(ad: Advertisement): string | null {
  for (const m of ad.manufacturerData) {
    const d = m.data
    if (m.company === APPLE && d.length >= 23 && d[0] === 0x02 && d[1] === 0x15) return `ibeacon:${hex(d, 2, 22)}`
  }
  for (const s of ad.serviceData) {
    if (s.uuid !== EDDYSTONE || s.data.length < 1) continue
    const d = s.data
    if (d[0] === 0x00 && d.length >= 18) return `eddystone:${hex(d, 2, 18)}`
    if (d[0] === 0x10 && d.length >= 3) return `eddystone-url:${hex(d, 2)}`
    // telemetry carries no identity: one per advertiser, keyed by its handle (never published)
    if (d[0] === 0x20 && d.length >= 14) return `eddystone-tlm:${ad.handle}`
  }
  return null
}

function memberId(ad: Advertisement): string | null {
  for (const s of ad.serviceData) {
    const id = rpidFromServiceData(s.uuid, s.data)
    if (id) return id
  }
  for (const u of ad.serviceUuids) {
    const id = rpidFromServiceUuid(u)
    if (id) return id
  }
  return null
}

/** ESPresense's fingerprint forms (lib/BleFingerprint), restricted to those that do not contain the address. */
export function fingerprintId(ad: Advertisement): string | null {
  const tx = ad.txPower === undefined ? '' : String(-ad.txPower)
  for (const m of ad.manufacturerData) {
    const d = m.data
    const len = d.length + 2 // ESPresense counts the company id bytes
    if (m.company === APPLE) {
      if (d.length < 2) continue
      if (d[0] === 0x12 && len === 29) return 'apple:findmy'
      return `apple:${h2(d[0]!)}${h2(d[1]!)}:${len}${tx}`
    }
    if (m.company === MICROSOFT && len === 29) return `msft:cdp:${h2(d[1]!)}${h2(d[3]!)}`
    if (m.company !== 0x0000 && m.company !== 0xffff) return `md:${h4(m.company)}:${len}${tx}`
  }
  const sd: string[] = []
  for (const s of ad.serviceData) {
    if (s.uuid === EXPOSURE) return `exp:${s.data.length}`
    const short = shortUuid(s.uuid)
    sd.push(short === null ? s.uuid : `0x${short}`)
  }
  if (sd.length) return `sd:${sd.join('')}${tx}`
  if (ad.serviceUuids.length) {
    return `ad:${ad.serviceUuids.map((u) => { const s = shortUuid(u); return s === null ? u : `0x${s}` }).join('')}${tx}`
  }
  return null
}

export function classify(ad: Advertisement, opts: PrivacyOptions): Classified {
  if (!Number.isInteger(ad.rssi) || ad.rssi < -127 || ad.rssi > 0) return { kind: 'drop', reason: 'bad-rssi' }
  const beacon = beaconKey(ad)
  if (beacon) return { kind: 'beacon', key: beacon }
  const member = memberId(ad)
  if (member) return { kind: 'member', key: member, id: member }
  if (!opts.fingerprints) return { kind: 'drop', reason: 'unidentified' }
  const fp = fingerprintId(ad)
  if (fp === null) return { kind: 'drop', reason: 'unidentified' }
  if (fp.length > 128 || !reSubject.test(fp)) return { kind: 'drop', reason: 'bad-id' }
  return { kind: 'fingerprint', key: fp, id: fp }
}
