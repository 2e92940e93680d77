/**
 * The raw advertisement (AD structures, Core Specification Supplement part A) rebuilt from what a backend
 * reports, for the `adv` field of a sighting (CONTRACT section 2). BlueZ and noble hand over parsed fields,
 * not the bytes on air, so the bytes are put back together in the order advertisers use:
 *   Flags (0x01), service UUID lists (0x03 / 0x05 / 0x07), Manufacturer Specific Data (0xFF),
 *   Service Data (0x16 16-bit, 0x20 32-bit, 0x21 128-bit), TX Power Level (0x0A).
 * The gateway's decoder (edge/ingest/adv.ts) walks the structures and takes the first iBeacon or Eddystone
 * frame it finds. The result is at most MAX_ADV_BYTES (the contract's 255): a structure that would not fit
 * is left out, and so is one longer than an AD structure can be.
 */
import { shortUuid, type Advertisement } from './types.js'

export const MAX_ADV_BYTES = 255
/** an AD structure's length byte counts the type byte and the data */
const MAX_AD_DATA = 254

const T_FLAGS = 0x01
const T_UUID16 = 0x03
const T_UUID32 = 0x05
const T_UUID128 = 0x07
const T_TX_POWER = 0x0a
const T_SVC16 = 0x16
const T_SVC32 = 0x20
const T_SVC128 = 0x21
const T_MANUFACTURER = 0xff

/** A 128-bit UUID's 16 bytes in air order (little-endian). */
export function uuidBytesLe(full: string): Buffer {
  return Buffer.from(full.replace(/-/g, ''), 'hex').reverse()
}

function structure(type: number, data: Buffer): Buffer | null {
  if (data.length > MAX_AD_DATA) return null
  const b = Buffer.allocUnsafe(2 + data.length)
  b[0] = data.length + 1
  b[1] = type
  data.copy(b, 2)
  return b
}

function serviceData(uuid: string, data: Buffer): Buffer | null {
  const short = shortUuid(uuid)
  if (short !== null && short.length === 4) {
    const h = Buffer.allocUnsafe(2); h.writeUInt16LE(parseInt(short, 16), 0)
    return structure(T_SVC16, Buffer.concat([h, data]))
  }
  if (short !== null) {
    const h = Buffer.allocUnsafe(4); h.writeUInt32LE(parseInt(short, 16), 0)
    return structure(T_SVC32, Buffer.concat([h, data]))
  }
  return structure(T_SVC128, Buffer.concat([uuidBytesLe(uuid), data]))
}

function uuidLists(uuids: readonly string[]): Buffer[] {
  const u16: Buffer[] = []
  const u32: Buffer[] = []
  const u128: Buffer[] = []
  for (const u of uuids) {
    const short = shortUuid(u)
    if (short !== null && short.length === 4) { const b = Buffer.allocUnsafe(2); b.writeUInt16LE(parseInt(short, 16), 0); u16.push(b) } else if (short !== null) { const b = Buffer.allocUnsafe(4); b.writeUInt32LE(parseInt(short, 16), 0); u32.push(b) } else u128.push(uuidBytesLe(u))
  }
  const out: Buffer[] = []
  for (const [type, list] of [[T_UUID16, u16], [T_UUID32, u32], [T_UUID128, u128]] as const) {
    if (!list.length) continue
    const s = structure(type, Buffer.concat(list))
    if (s) out.push(s)
  }
  return out
}

/** The AD structures of an advertisement, as a Buffer (empty when there is nothing to say). */
export function buildAdvBytes(ad: Pick<Advertisement, 'flags' | 'serviceUuids' | 'manufacturerData' | 'serviceData' | 'txPower'>): Buffer {
  const parts: (Buffer | null)[] = []
  if (ad.flags !== undefined) parts.push(structure(T_FLAGS, Buffer.from([ad.flags & 0xff])))
  if (ad.serviceUuids.length) parts.push(...uuidLists(ad.serviceUuids))
  for (const m of ad.manufacturerData) {
    const h = Buffer.allocUnsafe(2); h.writeUInt16LE(m.company & 0xffff, 0)
    parts.push(structure(T_MANUFACTURER, Buffer.concat([h, m.data])))
  }
  for (const s of ad.serviceData) parts.push(serviceData(s.uuid, s.data))
  if (ad.txPower !== undefined && ad.txPower >= -127 && ad.txPower <= 127) {
    const b = Buffer.allocUnsafe(1); b.writeInt8(ad.txPower, 0)
    parts.push(structure(T_TX_POWER, b))
  }
  const kept: Buffer[] = []
  let size = 0
  for (const p of parts) {
    if (!p || size + p.length > MAX_ADV_BYTES) continue
    kept.push(p)
    size += p.length
  }
  return kept.length === 1 ? kept[0]! : Buffer.concat(kept, size)
}

/** `adv` hex of CONTRACT section 2, or null when no structure could be built. */
export function buildAdv(ad: Parameters<typeof buildAdvBytes>[0]): string | null {
  const b = buildAdvBytes(ad)
  return b.length ? b.toString('hex') : null
}
