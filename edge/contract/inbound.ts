/**
 * MQTT inbound messages (CONTRACT.md section 2). Devices may add fields of their own: inbound objects
 * accept additional properties (forward compatibility, ESPresense sends many), but every field we read is typed.
 */
import Type, { type Static } from 'typebox'
import { DeviceId, MemberId, SubjectId, Ts, ZoneId } from './ids.js'

export const Rssi = Type.Integer({ minimum: -127, maximum: 0, description: 'received signal strength, dBm' })
export const TxPower = Type.Integer({ minimum: -127, maximum: 20, description: 'RSSI at 1 m, dBm' })

export const BleSighting = Type.Object({
  id: Type.Optional(SubjectId),
  adv: Type.Optional(Type.String({ pattern: '^([0-9a-fA-F]{2}){1,255}$', description: 'raw advertisement (AD structures), hex' })),
  rssi: Rssi,
  txPower: Type.Optional(TxPower),
  ts: Type.Optional(Ts),
}, { description: 'one sighting by a fixed scanner; at least one of id / adv' })
export type BleSighting = Static<typeof BleSighting>
export const MAX_SIGHTINGS_PER_MESSAGE = 1000
export const BleSightingArray = Type.Array(BleSighting, { minItems: 1, maxItems: MAX_SIGHTINGS_PER_MESSAGE })
export const BleMessage = Type.Union([BleSighting, BleSightingArray], { description: 'P/ble/<scannerId>' })

/** ESPresense firmware's own message on espresense/devices/<id>/<room>; only the fields we use are typed. */
export const EspresenseMessage = Type.Object({
  id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  rssi: Type.Number({ minimum: -127, maximum: 0 }),
  'rssi@1m': Type.Optional(Type.Number({ minimum: -127, maximum: 20 })),
  distance: Type.Optional(Type.Number({ minimum: 0 })),
}, { description: 'espresense/devices/<id>/<room>' })
export type EspresenseMessage = Static<typeof EspresenseMessage>

export const RangingBeacon = Type.Object({ id: SubjectId, rssi: Rssi })
export const RangingMessage = Type.Object({
  beacons: Type.Array(RangingBeacon, { minItems: 0, maxItems: 200 }),
  ts: Type.Optional(Ts),
}, { description: 'P/ranging/<subjectId>: fixed beacons heard by a mobile subject' })
export type RangingMessage = Static<typeof RangingMessage>

export const DwellState = Type.Enum(['enter', 'dwell', 'exit'])
export type DwellState = Static<typeof DwellState>
export const DwellMessage = Type.Object({
  zone: ZoneId,
  subject: Type.Optional(SubjectId),
  state: DwellState,
  seconds: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400 })),
  ts: Type.Optional(Ts),
}, { description: 'P/dwell/<sensorId>' })
export type DwellMessage = Static<typeof DwellMessage>

export const ScanKind = Type.Enum(['product', 'member', 'coupon', 'call'])
export const ScanMessage = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 256 }),
  kind: Type.Optional(ScanKind),
  ts: Type.Optional(Ts),
}, { description: 'P/scan/<scannerId>' })
export type ScanMessage = Static<typeof ScanMessage>

export const ReceiptItem = Type.Object({
  sku: Type.String({ minLength: 1, maxLength: 64 }),
  qty: Type.Number({ minimum: -10_000, maximum: 10_000 }),
  price: Type.Number({ minimum: -1_000_000, maximum: 1_000_000 }),
})
export const ReceiptMessage = Type.Object({
  receiptId: Type.String({ minLength: 1, maxLength: 64 }),
  memberId: Type.Optional(MemberId),
  items: Type.Array(ReceiptItem, { maxItems: 1000 }),
  coupons: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 100 })),
  total: Type.Number({ minimum: -10_000_000, maximum: 10_000_000 }),
  ts: Type.Optional(Ts),
}, { description: 'P/pos/<laneId>/receipt' })
export type ReceiptMessage = Static<typeof ReceiptMessage>

export const ButtonMessage = Type.Object({
  action: Type.Enum(['call', 'cancel']),
  ts: Type.Optional(Ts),
}, { description: 'P/button/<buttonId>' })
export type ButtonMessage = Static<typeof ButtonMessage>

export const BandAckMessage = Type.Object({
  alertId: Type.String({ minLength: 1, maxLength: 64 }),
  action: Type.Enum(['accept', 'decline', 'done']),
  ts: Type.Optional(Ts),
}, { description: 'P/band/<bandId>/ack' })
export type BandAckMessage = Static<typeof BandAckMessage>

export const BandStatusMessage = Type.Object({
  battery: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
  clerkId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  onShift: Type.Optional(Type.Boolean()),
  ts: Type.Optional(Ts),
}, { description: 'P/band/<bandId>/status' })
export type BandStatusMessage = Static<typeof BandStatusMessage>

/** Additive to the contract: a stock feed (a store's inventory system), absolute levels per SKU. */
export const StockMessage = Type.Object({
  items: Type.Array(Type.Object({ sku: Type.String({ minLength: 1, maxLength: 64 }), level: Type.Number({ minimum: -1_000_000, maximum: 1_000_000 }) }), { minItems: 1, maxItems: 10_000 }),
  ts: Type.Optional(Ts),
}, { description: 'P/stock/<sourceId> (addition: stock levels)' })
export type StockMessage = Static<typeof StockMessage>

export const DeviceStatusMessage = Type.Object({
  online: Type.Boolean(),
}, { description: 'P/status/<deviceId> (also the device last will)' })
export type DeviceStatusMessage = Static<typeof DeviceStatusMessage>

export { DeviceId }
