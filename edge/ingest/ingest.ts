/**
 * Inbound MQTT: route by topic, check size and encoding, parse, validate against the contract schemas,
 * decode advertisements, and hand on typed events. Nothing here throws to the caller: every message that
 * cannot be used becomes a dead letter with a reason, is counted, and marks its device as sending bad data.
 */
import { isUtf8 } from 'node:buffer'
import {
  BandAckMessage, BandStatusMessage, BleSighting, BleSightingArray, ButtonMessage, DeviceStatusMessage, DwellMessage,
  EspresenseMessage, RangingMessage, ReceiptMessage, ScanMessage, RANGE_KEYWORDS, compile, describeProblems, reSubject,
  routeTopic, OWN_TOPIC, StockMessage, type Checker, type InboundKind, isMacLike, isReservedSubject, MAC_IN_TEXT,
} from '../contract/index.js'
import type { BandAckMessage as BandAck, BandStatusMessage as BandStatus, DwellMessage as Dwell, ReceiptMessage as Receipt, ScanMessage as Scan } from '../contract/inbound.js'
import type { Clock } from '../core/clock.js'
import type { CounterCell, HotCounter } from '../core/metrics.js'
import { decodeAdv } from './adv.js'
import type { DeviceKind, DeviceRegistry } from './devices.js'

export type DeadLetterReason =
  | 'oversized' | 'not-utf8' | 'bad-json' | 'invalid' | 'out-of-range' | 'unknown-topic' | 'bad-topic-id'
  | 'adv-truncated' | 'adv-malformed' | 'unknown-zone' | 'internal' | 'mac-address' | 'reserved-subject'

export interface DeadLetter {
  receivedAt: number
  topic: string
  device: string | null
  reason: DeadLetterReason
  detail: string
  size: number
  /** first 512 bytes, MAC addresses scrubbed */
  payload: Buffer
}

/**
 * One heard signal. For `ble` and `espresense` the message's device is the anchor (a fixed scanner) and `id`
 * the subject heard; for `ranging` the device is the mobile subject and `id` the fixed beacon it heard.
 * (For sightings these are the parsed, validated objects themselves: no copy per sighting.)
 */
export interface RawReading {
  id: string
  rssi: number
  txPower?: number | undefined
  /** device time, replaced by receive time when missing or too far off */
  ts: number
}

export interface IngestEvents {
  readings: { source: 'ble' | 'espresense' | 'ranging'; device: string; readings: RawReading[] }
  dwellReport: { sensor: string; msg: Dwell; ts: number }
  scan: { scanner: string; msg: Scan; ts: number }
  receipt: { lane: string; msg: Receipt; ts: number }
  button: { button: string; action: 'call' | 'cancel'; ts: number }
  bandAck: { band: string; msg: BandAck; ts: number }
  bandStatus: { band: string; msg: BandStatus; ts: number }
  deviceStatus: { device: string; online: boolean; ts: number }
  telemetry: { device: string; batteryMv: number; tempC: number | null; ts: number }
  stock: { source: string; items: { sku: string; level: number }[]; ts: number }
  deadLetter: DeadLetter
}

export type Emit = <K extends keyof IngestEvents>(event: K, payload: IngestEvents[K]) => void

export interface IngestOptions {
  prefix: string
  maxPayloadBytes: number
  clockSkewMs: number
  clock: Clock
  emit: Emit
  messages: HotCounter<'kind' | 'outcome'>
  deadLetters: HotCounter<'reason'>
  devices: DeviceRegistry
  /** zones of the current layout, for P/dwell reports */
  knownZone: (zone: string) => boolean
  onInternalError?: (err: unknown, topic: string) => void
}

const DEVICE_KIND: Record<InboundKind, DeviceKind | null> = {
  ble: 'scanner', espresense: 'espresense', ranging: null, dwell: 'sensor', scan: 'handheld', receipt: 'pos',
  button: 'button', 'band-ack': 'band', 'band-status': 'band', status: 'device', stock: 'device',
}

export const DEAD_LETTER_PAYLOAD_BYTES = 512
const MAX_TOPIC_STORED = 256

const checkers = {
  sighting: compile<BleSighting>(BleSighting),
  sightings: compile<BleSighting[]>(BleSightingArray),
  espresense: compile<EspresenseMessage>(EspresenseMessage),
  ranging: compile<RangingMessage>(RangingMessage),
  dwell: compile<Dwell>(DwellMessage),
  scan: compile<Scan>(ScanMessage),
  receipt: compile<Receipt>(ReceiptMessage),
  button: compile<ButtonMessage>(ButtonMessage),
  bandAck: compile<BandAck>(BandAckMessage),
  bandStatus: compile<BandStatus>(BandStatusMessage),
  status: compile<DeviceStatusMessage>(DeviceStatusMessage),
  stock: compile<StockMessage>(StockMessage),
}

class Rejected {
  constructor(readonly reason: DeadLetterReason, readonly detail: string) {}
}

/** Remove MAC addresses (and "mac" fields) from a payload excerpt before it is stored. */
export function scrubPayload(buf: Buffer): Buffer {
  const head = buf.subarray(0, DEAD_LETTER_PAYLOAD_BYTES)
  if (!isUtf8(head) && !isUtf8(head.subarray(0, Math.max(0, head.length - 3)))) return Buffer.from(head)
  const text = head.toString('utf8')
    .replace(MAC_IN_TEXT, '[mac]')
    .replace(/("(?:mac|address|addr|bdaddr)"\s*:\s*)"[^"]*"/gi, '$1"[mac]"')
  return Buffer.from(text, 'utf8')
}

/** A topic as stored with a dead letter: bounded, MAC addresses scrubbed (a MAC may be the id in it). */
export function scrubTopic(topic: string): string {
  const t = topic.length > MAX_TOPIC_STORED ? `${topic.slice(0, MAX_TOPIC_STORED)}...` : topic
  return t.replace(MAC_IN_TEXT, '[mac]')
}

/** Why a subject id may not be used (a MAC address, or a prefix only the gateway gives out), or null. */
function subjectRefusal(id: string): DeadLetterReason | null {
  if (isReservedSubject(id)) return 'reserved-subject'
  if (isMacLike(id)) return 'mac-address'
  return null
}

export class Ingest {
  constructor(private readonly o: IngestOptions) {}

  private readonly okCells = new Map<string, CounterCell>()

  /** One inbound MQTT message. Never throws. */
  handle(topic: string, payload: Buffer): void {
    const now = this.o.clock.now()
    const route = routeTopic(this.o.prefix, topic)
    if (route === OWN_TOPIC) return
    if (typeof route === 'string') {
      this.dead(now, topic, null, null, 'unknown', route, route === 'unknown-topic' ? 'no handler for this topic' : 'id in topic is not valid', payload)
      return
    }
    const devKind = DEVICE_KIND[route.kind]
    if (route.kind !== 'ranging' && isMacLike(route.device)) {
      // a device named by its MAC: refused, and neither the id nor the topic is kept in clear
      this.dead(now, topic, null, null, route.kind, 'mac-address', 'a MAC address is not a device id (CONTRACT section 1): give the device a name', payload)
      return
    }
    try {
      if (payload.length > this.o.maxPayloadBytes) throw new Rejected('oversized', `${payload.length} bytes > ${this.o.maxPayloadBytes}`)
      if (!isUtf8(payload)) throw new Rejected('not-utf8', 'payload is not UTF-8 text')
      let value: unknown
      try {
        value = JSON.parse(payload.toString('utf8'))
      } catch (err) {
        throw new Rejected('bad-json', (err as Error).message.slice(0, 200))
      }
      this.dispatch(route.kind, route.device, route.subject, value, now, topic)
      if (devKind) this.o.devices.seen(devKind, route.device, now)
      let ok = this.okCells.get(route.kind)
      if (!ok) { ok = this.o.messages.cell([route.kind, 'ok']); this.okCells.set(route.kind, ok) }
      ok.n++
    } catch (err) {
      if (err instanceof Rejected) {
        this.dead(now, topic, route.device, devKind, route.kind, err.reason, err.detail, payload)
      } else {
        this.o.onInternalError?.(err, topic)
        this.dead(now, topic, route.device, devKind, route.kind, 'internal', String((err as Error)?.message ?? err).slice(0, 200), payload)
      }
    }
  }

  private ts(ts: number | undefined, now: number): number {
    if (ts === undefined) return now
    return Math.abs(ts - now) > this.o.clockSkewMs ? now : ts
  }

  private valid<T>(checker: Checker<T>, value: unknown): T {
    if (checker.check(value)) return value
    const problems = checker.problems(value)
    const range = problems.length > 0 && problems.every((p) => RANGE_KEYWORDS.has(p.keyword))
    throw new Rejected(range ? 'out-of-range' : 'invalid', describeProblems(problems).slice(0, 300))
  }

  private dispatch(kind: InboundKind, device: string, subject: string | undefined, value: unknown, now: number, topic: string): void {
    const emit = this.o.emit
    switch (kind) {
      case 'ble': {
        const items = Array.isArray(value) ? this.valid(checkers.sightings, value) : [this.valid(checkers.sighting, value)]
        let readings = items as RawReading[]
        let skipped = false
        const skew = this.o.clockSkewMs
        for (let i = 0; i < items.length; i++) {
          const s = items[i]!
          const t = s.ts
          if (t === undefined || t - now > skew || now - t > skew) s.ts = now
          if (s.id !== undefined) {
            const why = subjectRefusal(s.id)
            if (why === null) continue
            skipped = true
            this.deadItem(now, topic, device, why, `sighting ${i}: ${why === 'mac-address' ? 'a MAC address is not a subject id' : 'subject ids with this prefix are the gateway\'s own'}`, s)
            s.id = undefined
            continue
          }
          // raw advertisement: decode in place; undecodable items are left out of the batch
          {
            if (s.adv === undefined) throw new Rejected('invalid', `${Array.isArray(value) ? `/${i}` : '/'} needs id or adv`)
            const d = decodeAdv(s.adv)
            if (!d.ok) {
              skipped = true
              if (d.reason === 'adv-unknown') this.o.messages.inc(['ble', 'adv-ignored'])
              else this.deadItem(now, topic, device, d.reason, `sighting ${i}: advertisement could not be decoded`, s)
              continue
            }
            if (d.id === null) {
              skipped = true
              emit('telemetry', { device, batteryMv: d.tlm.batteryMv, tempC: d.tlm.tempC, ts: s.ts ?? now })
              continue
            }
            if (!reSubject.test(d.id)) {
              skipped = true
              this.deadItem(now, topic, device, 'adv-malformed', `sighting ${i}: decoded id is not a valid subject id`, s)
              continue
            }
            s.id = d.id
            s.txPower ??= d.txPower
          }
        }
        if (skipped) readings = readings.filter((r) => r.id !== undefined)
        if (readings.length) emit('readings', { source: 'ble', device, readings })
        return
      }
      case 'espresense': {
        const m = this.valid(checkers.espresense, value)
        const id = subject!
        if (!reSubject.test(id)) throw new Rejected('bad-topic-id', 'ESPresense device id is not a valid subject id')
        const why = subjectRefusal(id)
        if (why) throw new Rejected(why, why === 'mac-address' ? 'ESPresense reports this device by its MAC address: not used (set the node to publish fingerprint ids)' : 'subject ids with this prefix are the gateway\'s own')
        const rssi = Math.round(m.rssi)
        const tx = m['rssi@1m']
        emit('readings', { source: 'espresense', device, readings: [{ id, rssi, txPower: tx === undefined ? undefined : Math.round(tx), ts: now }] })
        return
      }
      case 'ranging': {
        const m = this.valid(checkers.ranging, value)
        if (!reSubject.test(device)) throw new Rejected('bad-topic-id', 'ranging subject id is not valid')
        const why = subjectRefusal(device)
        if (why) throw new Rejected(why, 'a mobile subject may not be named by a MAC address or a gateway pseudonym')
        const ts = this.ts(m.ts, now)
        if (m.beacons.length) emit('readings', { source: 'ranging', device, readings: m.beacons.map((b) => ({ id: b.id, rssi: b.rssi, ts })) })
        return
      }
      case 'dwell': {
        const m = this.valid(checkers.dwell, value)
        if (!this.o.knownZone(m.zone)) throw new Rejected('unknown-zone', `zone ${m.zone} is not in the layout`)
        const why = m.subject === undefined ? null : subjectRefusal(m.subject)
        if (why) throw new Rejected(why, why === 'reserved-subject' ? 'a sensor may not name a gateway pseudonym (pm:): it would bypass rpid rotation' : 'a MAC address is not a subject id')
        emit('dwellReport', { sensor: device, msg: m, ts: this.ts(m.ts, now) })
        return
      }
      case 'scan': { const m = this.valid(checkers.scan, value); emit('scan', { scanner: device, msg: m, ts: this.ts(m.ts, now) }); return }
      case 'receipt': { const m = this.valid(checkers.receipt, value); emit('receipt', { lane: device, msg: m, ts: this.ts(m.ts, now) }); return }
      case 'button': { const m = this.valid(checkers.button, value); emit('button', { button: device, action: m.action, ts: this.ts(m.ts, now) }); return }
      case 'band-ack': { const m = this.valid(checkers.bandAck, value); emit('bandAck', { band: device, msg: m, ts: this.ts(m.ts, now) }); return }
      case 'band-status': {
        const m = this.valid(checkers.bandStatus, value)
        if (m.battery !== undefined) this.o.devices.battery('band', device, m.battery, now)
        emit('bandStatus', { band: device, msg: m, ts: this.ts(m.ts, now) })
        return
      }
      case 'stock': {
        const m = this.valid(checkers.stock, value)
        emit('stock', { source: device, items: m.items, ts: this.ts(m.ts, now) })
        return
      }
      case 'status': {
        const m = this.valid(checkers.status, value)
        this.o.devices.online('device', device, m.online, now)
        emit('deviceStatus', { device, online: m.online, ts: now })
        return
      }
    }
  }

  /** One bad sighting inside an otherwise good batch: dead-lettered alone, the rest of the batch proceeds. */
  private deadItem(now: number, topic: string, device: string, reason: DeadLetterReason, detail: string, item: unknown): void {
    this.o.deadLetters.inc([reason])
    this.o.devices.bad('scanner', device, reason, now)
    const payload = Buffer.from(JSON.stringify(item))
    this.o.emit('deadLetter', { receivedAt: now, topic: scrubTopic(topic), device, reason, detail, size: payload.length, payload: scrubPayload(payload) })
  }

  private dead(now: number, topic: string, device: string | null, devKind: DeviceKind | null, kind: string, reason: DeadLetterReason, detail: string, payload: Buffer): void {
    this.o.messages.inc([kind, 'dead-letter'])
    this.o.deadLetters.inc([reason])
    if (device !== null && devKind !== null) this.o.devices.bad(devKind, device, reason, now)
    this.o.emit('deadLetter', {
      receivedAt: now,
      topic: scrubTopic(topic),
      device: device === null ? null : device.slice(0, 128),
      reason,
      detail,
      size: payload.length,
      payload: scrubPayload(payload),
    })
  }
}
