/**
 * MQTT topics of CONTRACT.md sections 2 and 3: the subscriptions the gateway makes, a fast parser that
 * routes an inbound topic to its message kind and device, and builders for outbound topics.
 */
import { reDevice } from './ids.js'

export type InboundKind =
  | 'ble' | 'espresense' | 'ranging' | 'dwell' | 'scan' | 'receipt' | 'button' | 'band-ack' | 'band-status' | 'status' | 'stock'

export const INBOUND_KINDS: readonly InboundKind[] = [
  'ble', 'espresense', 'ranging', 'dwell', 'scan', 'receipt', 'button', 'band-ack', 'band-status', 'status', 'stock',
]

export interface RoutedTopic {
  kind: InboundKind
  /** scanner, sensor, lane, button, band or device id; for ranging the subject id; for ESPresense the room (scanner). */
  device: string
  /** ESPresense only: the device id segment of the topic. */
  subject?: string
}

export type RouteError = 'unknown-topic' | 'bad-topic-id'
/** the gateway's own outbound topics, echoed back by the broker: skipped silently */
export const OWN_TOPIC = 'own'

export const defaultPrefix = (storeId: string): string => `aisle/${storeId}`

/**
 * Subscriptions: everything under the prefix and ESPresense's tree, so that a message on a topic the contract
 * does not know is seen, counted and dead-lettered rather than silently lost. The gateway's own outbound
 * topics come back too and are skipped by routeTopic.
 */
export function inboundSubscriptions(prefix: string): string[] {
  return [`${prefix}/#`, 'espresense/devices/#']
}

const ESP = 'espresense/devices/'

/** Route a topic. Allocation-light: this runs once per inbound message. */
export function routeTopic(prefix: string, topic: string): RoutedTopic | RouteError | typeof OWN_TOPIC {
  if (topic.startsWith(ESP)) {
    const rest = topic.slice(ESP.length)
    const slash = rest.lastIndexOf('/')
    if (slash <= 0) return 'unknown-topic'
    const subject = rest.slice(0, slash)
    const room = rest.slice(slash + 1)
    if (subject.includes('/')) return 'unknown-topic'
    if (!reDevice.test(room) || subject.length === 0 || subject.length > 128) return 'bad-topic-id'
    return { kind: 'espresense', device: room, subject }
  }
  if (topic.length <= prefix.length + 1 || topic.charCodeAt(prefix.length) !== 47 /* / */ || !topic.startsWith(prefix)) {
    return 'unknown-topic'
  }
  const rest = topic.slice(prefix.length + 1)
  const s1 = rest.indexOf('/')
  if (s1 < 0) return 'unknown-topic'
  const head = rest.slice(0, s1)
  const tail = rest.slice(s1 + 1)
  let kind: InboundKind
  let device: string
  switch (head) {
    case 'ble': kind = 'ble'; device = tail; break
    case 'ranging': kind = 'ranging'; device = tail; break
    case 'dwell': kind = 'dwell'; device = tail; break
    case 'scan': kind = 'scan'; device = tail; break
    case 'button': kind = 'button'; device = tail; break
    case 'status': kind = 'status'; device = tail; break
    case 'stock': kind = 'stock'; device = tail; break
    case 'pos': {
      if (!tail.endsWith('/receipt')) return 'unknown-topic'
      kind = 'receipt'; device = tail.slice(0, -'/receipt'.length); break
    }
    case 'band': {
      if (tail.endsWith('/ack')) { kind = 'band-ack'; device = tail.slice(0, -4) } else if (tail.endsWith('/status')) { kind = 'band-status'; device = tail.slice(0, -7) } else if (tail.endsWith('/alert') && !tail.slice(0, -6).includes('/')) return OWN_TOPIC
      else return 'unknown-topic'
      break
    }
    case 'events': case 'gateway': return OWN_TOPIC
    default: return 'unknown-topic'
  }
  if (device.includes('/')) return 'unknown-topic'
  if (kind === 'ranging') {
    // the subject id of a mobile subject: printable, bounded
    if (device.length === 0 || device.length > 128) return 'bad-topic-id'
    return { kind, device }
  }
  if (!reDevice.test(device)) return 'bad-topic-id'
  return { kind, device }
}

export const topics = {
  bandAlert: (prefix: string, bandId: string) => `${prefix}/band/${bandId}/alert`,
  dwellEvents: (prefix: string) => `${prefix}/events/dwell`,
  offerEvents: (prefix: string) => `${prefix}/events/offer`,
  gatewayStatus: (prefix: string) => `${prefix}/gateway/status`,
  ble: (prefix: string, scannerId: string) => `${prefix}/ble/${scannerId}`,
  ranging: (prefix: string, subjectId: string) => `${prefix}/ranging/${subjectId}`,
  dwell: (prefix: string, sensorId: string) => `${prefix}/dwell/${sensorId}`,
  scan: (prefix: string, scannerId: string) => `${prefix}/scan/${scannerId}`,
  receipt: (prefix: string, laneId: string) => `${prefix}/pos/${laneId}/receipt`,
  button: (prefix: string, buttonId: string) => `${prefix}/button/${buttonId}`,
  bandAck: (prefix: string, bandId: string) => `${prefix}/band/${bandId}/ack`,
  bandStatus: (prefix: string, bandId: string) => `${prefix}/band/${bandId}/status`,
  deviceStatus: (prefix: string, deviceId: string) => `${prefix}/status/${deviceId}`,
  stock: (prefix: string, sourceId: string) => `${prefix}/stock/${sourceId}`,
  espresense: (deviceId: string, room: string) => `espresense/devices/${deviceId}/${room}`,
}
