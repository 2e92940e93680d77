/**
 * Device identity on the broker (CONTRACT section 7a): what each kind of device may publish and subscribe
 * to, and how device secrets are kept. Pure: no I/O.
 */
import { createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'

export const DEVICE_KINDS = ['scanner', 'espresense', 'lane', 'band', 'button', 'sensor', 'cart', 'observer', 'inventory'] as const
export type RegisteredKind = (typeof DEVICE_KINDS)[number]

export interface DeviceIdentity { id: string; kind: RegisteredKind }

/** Topics a device may publish on: its own, and nothing else (CONTRACT 7a; `inventory` for P/stock is an addition). */
export function publishRights(kind: RegisteredKind, id: string, prefix: string): string[] {
  const own = [`${prefix}/status/${id}`]
  switch (kind) {
    case 'scanner': return [`${prefix}/ble/${id}`, ...own]
    // ESPresense firmware, unchanged, also publishes its own telemetry and status under espresense/rooms/<room>/
    case 'espresense': return [`espresense/devices/+/${id}`, `espresense/rooms/${id}/#`, ...own]
    case 'lane': return [`${prefix}/pos/${id}/receipt`, `${prefix}/scan/${id}`, ...own]
    case 'band': return [`${prefix}/band/${id}/ack`, `${prefix}/band/${id}/status`, ...own]
    case 'button': return [`${prefix}/button/${id}`, ...own]
    case 'sensor': return [`${prefix}/dwell/${id}`, `${prefix}/scan/${id}`, ...own]
    case 'cart': return [`${prefix}/ranging/${id}`, ...own]
    case 'inventory': return [`${prefix}/stock/${id}`, ...own]
    case 'observer': return own
  }
}

/** Filters a device may subscribe to: a band its alerts, an ESPresense node its settings, an observer P/# read-only. */
export function subscribeRights(kind: RegisteredKind, id: string, prefix: string): string[] {
  switch (kind) {
    case 'band': return [`${prefix}/band/${id}/alert`]
    case 'espresense': return [`espresense/rooms/${id}/#`, 'espresense/settings/#']
    case 'observer': return [`${prefix}/#`]
    default: return []
  }
}

/** MQTT topic matching (a rights pattern with + and # against a concrete topic). */
export function topicMatches(pattern: string, topic: string): boolean {
  if (pattern === topic) return true
  const p = pattern.split('/')
  const t = topic.split('/')
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '#') return i <= t.length
    if (i >= t.length) return false
    if (p[i] !== '+' && p[i] !== t[i]) return false
  }
  return p.length === t.length
}

/** A subscription filter lies within a rights filter (e.g. P/events/# within P/#). */
export function filterWithin(filter: string, right: string): boolean {
  const f = filter.split('/')
  const r = right.split('/')
  for (let i = 0; i < r.length; i++) {
    if (r[i] === '#') return true
    if (i >= f.length) return false
    if (f[i] === '#') return false
    if (r[i] === '+') { if (f[i] === '#') return false; continue }
    if (f[i] === '+' || f[i] !== r[i]) return false
  }
  return f.length === r.length
}

/** A device secret: 32 random bytes, base64url (shown once). */
export const newSecret = (): string => randomBytes(24).toString('base64url')

/**
 * How the gateway keeps a secret: an HMAC under its pepper (secrets are random, so a fast keyed hash is
 * enough, and checking one costs microseconds, not the milliseconds a password hash would let a flood burn).
 */
export function secretHash(pepper: Buffer, secret: string): string {
  return createHmac('sha256', pepper).update(`device-secret:${secret}`).digest('hex')
}

export function secretMatches(pepper: Buffer, secret: string, stored: string): boolean {
  const a = Buffer.from(secretHash(pepper, secret), 'hex')
  const b = Buffer.from(stored, 'hex')
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * Mosquitto's password file format for the same secret ($7$: PBKDF2-SHA512, 101 iterations, 12-byte salt, as
 * mosquitto_passwd writes it), computed when the device is registered so the secret itself is never kept.
 */
export function mosquittoHash(secret: string, iterations = 101, salt = randomBytes(12)): string {
  const hash = pbkdf2Sync(secret, salt, iterations, 64, 'sha512')
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`
}
