/**
 * Identifier forms of CONTRACT.md section 1, defined once.
 * Each is a JSON-Schema string type (for validation, types and OpenAPI) plus the RegExp it compiles to.
 */
import Type from 'typebox'

export const STORE_ID = '^[a-z0-9-]{1,32}$'
export const DEVICE_ID = '^[A-Za-z0-9_.:-]{1,64}$'
export const ZONE_ID = '^[a-z0-9-]{1,48}$'
/** BLE subject as a scanner reports it: printable ASCII, no spaces or MQTT wildcards. */
export const SUBJECT_ID = '^[\\x21-\\x22\\x24-\\x2A\\x2C-\\x7E]{1,128}$'
export const RPID = '^rpid:[0-9a-f]{16}$'
export const MEMBER_ID = '^[A-Za-z0-9_.:@-]{1,64}$'
export const CAMPAIGN_ID = '^[A-Za-z0-9_.-]{1,32}$'
export const HEX_KEY_32 = '^[0-9a-fA-F]{64}$'

export const StoreId = Type.String({ pattern: STORE_ID, description: 'store id, e.g. s042' })
export const DeviceId = Type.String({ pattern: DEVICE_ID, description: 'scanner / sensor / button / band / lane id' })
export const ZoneId = Type.String({ pattern: ZONE_ID, description: 'zone id, e.g. fridge-dairy' })
export const SubjectId = Type.String({ pattern: SUBJECT_ID, description: 'BLE subject id (ibeacon:..., eddystone:..., rpid:..., band:..., or as the scanner reports it)' })
export const MemberId = Type.String({ pattern: MEMBER_ID, description: 'CRM member id' })
export const CampaignId = Type.String({ pattern: CAMPAIGN_ID, description: 'campaign id' })
/** Epoch milliseconds; where absent the gateway's receive time is used. */
export const Ts = Type.Integer({ minimum: 0, maximum: 8_640_000_000_000, description: 'epoch milliseconds' })

export const reDevice = new RegExp(DEVICE_ID)
export const reZone = new RegExp(ZONE_ID)
export const reSubject = new RegExp(SUBJECT_ID)
export const reRpid = new RegExp(RPID)
export const reMember = new RegExp(MEMBER_ID)
export const reStore = new RegExp(STORE_ID)

const MAC_FORMS = /^(?:mac[:_-]?)?(?:[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5}|[0-9a-f]{12}|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4})$/i
const MAC_LENGTHS = new Set([12, 14, 17, 15, 16, 18, 19, 20, 21])

/**
 * An id that is a MAC address in any usual form (AA:BB:CC:DD:EE:FF, aa-bb-..., aabbccddeeff, aabb.ccdd.eeff,
 * optionally behind "mac:"): never accepted as a subject or device id (CONTRACT section 1). Cheap on the hot
 * path: only ids of a MAC's lengths are matched.
 */
export function isMacLike(id: string): boolean {
  return MAC_LENGTHS.has(id.length) && MAC_FORMS.test(id)
}

/** Subject prefixes only the gateway itself gives out: a device naming one is refused (it would bypass rpid rotation). */
export function isReservedSubject(id: string): boolean {
  const c = id.charCodeAt(0)
  return (c === 112 /* p */ && id.startsWith('pm:')) || (c === 97 /* a */ && id.startsWith('anon:'))
}

/** Every form of a MAC address inside a text, for scrubbing excerpts and topics. */
export const MAC_IN_TEXT = /(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}|[0-9A-Fa-f]{12})(?![0-9A-Fa-f])/g

/** Subject id of a clerk wristband seen as a BLE subject. */
export const bandSubject = (bandId: string): string => `band:${bandId}`
