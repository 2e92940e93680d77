/**
 * Rotating member pseudonyms (CONTRACT section 5):
 *   rpid = hex(HMAC-SHA256(memberKey, "rpid" || u32be(floor(unixSeconds / 900))))[0..16]
 */
import { createHmac } from 'node:crypto'

export const RPID_WINDOW_SECONDS = 900
const LABEL = Buffer.from('rpid', 'ascii')

export function rpidWindow(epochMs: number): number {
  return Math.floor(epochMs / 1000 / RPID_WINDOW_SECONDS)
}

export function computeRpid(memberKey: Buffer, window: number): string {
  const msg = Buffer.alloc(8)
  LABEL.copy(msg, 0)
  msg.writeUInt32BE(window >>> 0, 4)
  return `rpid:${createHmac('sha256', memberKey).update(msg).digest('hex').slice(0, 16)}`
}

/** The rpid a member's app advertises at a given time. */
export function rpidAt(memberKeyHex: string, epochMs: number): string {
  return computeRpid(Buffer.from(memberKeyHex, 'hex'), rpidWindow(epochMs))
}

/**
 * How a member app puts its rpid on the air. CONTRACT section 5 defines the value; the AD structure is
 * AisleEdge's choice (README, "The gateway's own BLE scanner"), and a scanner recognises either form:
 *  - Service Data with a 128-bit UUID (AD type 0x21): RPID_SERVICE_UUID followed by the 8 rpid bytes.
 *    Android apps can advertise this in the background (AdvertiseData.addServiceData).
 *  - A 128-bit service UUID (AD type 0x06 / 0x07) whose first 8 bytes are RPID_UUID_PREFIX and whose last
 *    8 bytes are the rpid: for apps that may only advertise service UUIDs (iOS, in the foreground).
 * No MAC is involved: phones advertise from random addresses, and a scanner publishes only `rpid:<16 hex>`.
 */
export const RPID_SERVICE_UUID = '84cdef2a-9b4d-4ccd-8f84-e0ef4a770bab'
export const RPID_UUID_PREFIX = '602ac196-92a8-4b7a'

const HEX16 = /^[0-9a-f]{16}$/

/** The service-UUID form of an rpid (`rpid:<16 hex>` or the bare 16 hex). */
export function rpidServiceUuid(rpid: string): string {
  const hex = rpid.startsWith('rpid:') ? rpid.slice(5) : rpid
  if (!HEX16.test(hex)) throw new Error('an rpid is 16 lower-case hex digits')
  return `${RPID_UUID_PREFIX}-${hex.slice(0, 4)}-${hex.slice(4)}`
}

/** `rpid:<16 hex>` from a service UUID of the prefixed form, else null. `uuid`: 128-bit, with dashes. */
export function rpidFromServiceUuid(uuid: string): string | null {
  if (uuid.length !== 36 || !uuid.toLowerCase().startsWith(`${RPID_UUID_PREFIX}-`)) return null
  const hex = (uuid.slice(19, 23) + uuid.slice(24)).toLowerCase()
  return HEX16.test(hex) ? `rpid:${hex}` : null
}

/** `rpid:<16 hex>` from Service Data under RPID_SERVICE_UUID, else null. */
export function rpidFromServiceData(uuid: string, data: Uint8Array): string | null {
  if (data.length !== 8 || uuid.toLowerCase() !== RPID_SERVICE_UUID) return null
  return `rpid:${Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex')}`
}

/** The whole advertisement (AD structures, hex) of a member app in the Service Data form: flags, then the rpid. */
export function rpidAdvertisement(rpid: string): string {
  const hex = rpid.startsWith('rpid:') ? rpid.slice(5) : rpid
  if (!HEX16.test(hex)) throw new Error('an rpid is 16 lower-case hex digits')
  const uuidLe = Buffer.from(RPID_SERVICE_UUID.replace(/-/g, ''), 'hex').reverse().toString('hex')
  return `020106${(1 + 16 + 8).toString(16).padStart(2, '0')}21${uuidLe}${hex}`
}
