/**
 * Every device seen on the bus: kind, first/last seen, message rate, bad messages (with the last reason),
 * battery and online state. Kept in memory (the hot path only bumps integers) and persisted periodically.
 * Bounded: past `max` devices, new ids are counted but not tracked, so random ids cannot exhaust memory.
 */
export type DeviceKind = 'scanner' | 'espresense' | 'sensor' | 'handheld' | 'pos' | 'button' | 'band' | 'device'

export interface DeviceRecord {
  id: string
  kind: DeviceKind
  firstSeen: number
  lastSeen: number
  messages: number
  badMessages: number
  lastBadReason: string | null
  lastBadAt: number | null
  battery: number | null
  online: boolean | null
  /** messages at the start of the rate window */
  windowStart: number
  windowMessages: number
  rate: number
  dirty: boolean
}

export interface DeviceView {
  id: string
  kind: DeviceKind
  firstSeen: string
  lastSeen: string
  messageRate: number
  messages: number
  badMessages: number
  lastBadReason: string | null
  lastBadAt: string | null
  battery: number | null
  online: boolean | null
  placed: boolean
}

const RATE_WINDOW_MS = 30_000

export class DeviceRegistry {
  private readonly devices = new Map<string, DeviceRecord>()
  untracked = 0

  constructor(private readonly max = 10_000) {}

  private key(kind: DeviceKind, id: string): string { return `${kind}\u0000${id}` }

  private record(kind: DeviceKind, id: string, now: number): DeviceRecord | undefined {
    const k = this.key(kind, id)
    let d = this.devices.get(k)
    if (!d) {
      if (this.devices.size >= this.max) { this.untracked++; return undefined }
      d = { id, kind, firstSeen: now, lastSeen: now, messages: 0, badMessages: 0, lastBadReason: null, lastBadAt: null, battery: null, online: null, windowStart: now, windowMessages: 0, rate: 0, dirty: true }
      this.devices.set(k, d)
    }
    return d
  }

  seen(kind: DeviceKind, id: string, now: number): void {
    const d = this.record(kind, id, now)
    if (!d) return
    d.messages++
    if (now > d.lastSeen) d.lastSeen = now
    d.dirty = true
    if (now - d.windowStart >= RATE_WINDOW_MS) {
      d.rate = (d.messages - d.windowMessages) / ((now - d.windowStart) / 1000)
      d.windowStart = now
      d.windowMessages = d.messages
    }
  }

  bad(kind: DeviceKind, id: string, reason: string, now: number): void {
    const d = this.record(kind, id, now)
    if (!d) return
    d.badMessages++
    d.lastBadReason = reason
    d.lastBadAt = now
    d.dirty = true
  }

  battery(kind: DeviceKind, id: string, pct: number, now: number): void {
    const d = this.record(kind, id, now)
    if (d) { d.battery = pct; d.dirty = true }
  }

  online(kind: DeviceKind, id: string, online: boolean, now: number): void {
    const d = this.record(kind, id, now)
    if (d) { d.online = online; d.dirty = true }
  }

  /** Load a persisted record (start-up). */
  restore(r: Omit<DeviceRecord, 'windowStart' | 'windowMessages' | 'rate' | 'dirty'>): void {
    this.devices.set(this.key(r.kind, r.id), { ...r, windowStart: r.lastSeen, windowMessages: r.messages, rate: 0, dirty: false })
  }

  /** Records changed since the last call (for persistence). */
  takeDirty(): DeviceRecord[] {
    const out: DeviceRecord[] = []
    for (const d of this.devices.values()) if (d.dirty) { d.dirty = false; out.push(d) }
    return out
  }

  get(kind: DeviceKind, id: string): DeviceRecord | undefined { return this.devices.get(this.key(kind, id)) }

  list(now: number, placed: (id: string) => boolean): DeviceView[] {
    return [...this.devices.values()].map((d) => {
      const windowMs = now - d.windowStart
      const rate = windowMs >= 5000 ? (d.messages - d.windowMessages) / (windowMs / 1000) : d.rate
      return {
        id: d.id,
        kind: d.kind,
        firstSeen: new Date(d.firstSeen).toISOString(),
        lastSeen: new Date(d.lastSeen).toISOString(),
        messageRate: Math.round(rate * 100) / 100,
        messages: d.messages,
        badMessages: d.badMessages,
        lastBadReason: d.lastBadReason,
        lastBadAt: d.lastBadAt === null ? null : new Date(d.lastBadAt).toISOString(),
        battery: d.battery,
        online: d.online,
        placed: placed(d.id),
      }
    }).sort((a, b) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id))
  }

  get size(): number { return this.devices.size }
}
