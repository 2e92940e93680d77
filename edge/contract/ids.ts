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

/** Subject id of a clerk wristband seen as a BLE subject. */
export const bandSubject = (bandId: string): string => `band:${bandId}`
