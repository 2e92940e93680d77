/**
 * Every device seen on the bus: kind, first/last seen, message rate, bad messages (with the last reasons),
 * battery and online state. Kept in memory (the hot path only bumps integers) and persisted periodically.
 * Bounded: past `max` devices, new ids are counted but not tracked, so random ids cannot exhaust memory.
 *
 * Online comes from two sources. `P/status/<id>` (`{"online"}`, also the device's last will, which the broker
 * publishes when the connection drops) applies to every record of that id, whatever kind it was seen as; an
 * offline status holds until the device speaks again. And silence: a kind with an expected interval
 * (scanners every few seconds, bands' heartbeats) is offline once nothing was heard from it for longer than
 * that. A kind without one (buttons, POS lanes: they speak when used) is online only by its status, and
 * unknown (`null`) without one.
 */
export type DeviceKind = 'scanner' | 'espresense' | 'sensor' | 'handheld' | 'pos' | 'button' | 'band' | 'device'
export const DEVICE_KINDS: readonly DeviceKind[] = ['scanner', 'espresense', 'sensor', 'handheld', 'pos', 'button', 'band', 'device']

/** why a device counts as online or not */
export type OnlineReason = 'status' | 'silent' | 'messages'

/** expected interval between messages per kind, ms; null = the kind is not expected to speak regularly */
export type ExpectedIntervals = Partial<Record<DeviceKind, number | null>>

export interface DeviceState { online: boolean | null; silent: boolean; reason: OnlineReason | null }

const RECENT_BAD = 5

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
  /** what the device (or its last will) said last on P/status; null: never */
  online: boolean | null
  /** when it said so */
  statusAt: number | null
  /** the last few bad messages' reasons, newest last */
  recentBad: { reason: string; at: number }[]
  /** the state last reported by `changes()` */
  reported: DeviceState | null
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
  /** online by P/status and silence (see above); null: unknown */
  online: boolean | null
  /** why: status (P/status or last will), silent (nothing heard for longer than expected), messages (heard recently) */
  onlineReason: OnlineReason | null
  /** nothing heard for longer than the kind's expected interval */
  silent: boolean
  expectedIntervalSeconds: number | null
  /** the last P/status, when there was one */
  statusAt: string | null
  recentBad: { reason: string; at: string }[]
  /** the zone of its layout anchor */
  zone: string | null
  placed: boolean
}

const RATE_WINDOW_MS = 30_000

/** messages before a device is expected to keep reporting */
const MIN_MESSAGES_FOR_RHYTHM = 3

/** an unprotected device silent this long may be forgotten when the registry is full */
const EVICT_AFTER_MS = 60_000

export class DeviceRegistry {
  private readonly devices = new Map<string, DeviceRecord>()
  /** id -> its records (a lane is a POS and a handheld; a status-only record has kind 'device') */
  private readonly byId = new Map<string, DeviceRecord[]>()
  private intervals: ExpectedIntervals
  untracked = 0

  /** devices never evicted to make room (registered on the broker, or placed in the layout) */
  private keep: (id: string) => boolean = () => false

  constructor(private readonly max = 10_000, intervals: ExpectedIntervals = {}) {
    this.intervals = intervals
  }

  /** which devices must stay known however full the registry gets */
  protect(keep: (id: string) => boolean): void { this.keep = keep }

  /** change the expected intervals (ms per kind) */
  setIntervals(intervals: ExpectedIntervals): void { this.intervals = intervals }

  expectedMs(kind: DeviceKind): number | null { return this.intervals[kind] ?? null }

  /**
   * The interval a device is expected to report in, once it has a rhythm: a device heard only once or twice
   * (a test publish, a one-off tool) cannot fall silent; a placed one never heard is flagged apart (neverSeen).
   */
  private rhythmMs(d: DeviceRecord): number | null {
    return d.messages + d.badMessages >= MIN_MESSAGES_FOR_RHYTHM ? this.expectedMs(d.kind) : null
  }

  private key(kind: DeviceKind, id: string): string { return `${kind}\u0000${id}` }

  private record(kind: DeviceKind, id: string, now: number): DeviceRecord | undefined {
    if (kind === 'device') {
      // P/status and P/stock name a device by id alone: they count for the device as it is known
      const known = this.byId.get(id)
      if (known?.length) return known[0]
    }
    const k = this.key(kind, id)
    let d = this.devices.get(k)
    if (!d) {
      // the store's own devices are always admitted (their number is bounded by registration and the layout)
      if (this.devices.size >= this.max && !this.evict(now) && !this.keep(id)) { this.untracked++; return undefined }
      d = { id, kind, firstSeen: now, lastSeen: now, messages: 0, badMessages: 0, lastBadReason: null, lastBadAt: null, battery: null, online: null, statusAt: null, recentBad: [], reported: null, windowStart: now, windowMessages: 0, rate: 0, dirty: true }
      this.index(d)
    }
    return d
  }

  /**
   * Full: make room by forgetting the tenth of unprotected devices heard from longest ago (junk ids a stranger
   * made up go first; a registered or placed device is never dropped). Amortised: one scan frees many slots.
   */
  private evict(now: number): boolean {
    // nothing could be dropped a moment ago: a flood of new ids does not rescan the whole table for each one
    if (now < this.noRoomUntil) return false
    const candidates = [...this.devices.values()].filter((d) => now - d.lastSeen > EVICT_AFTER_MS && !this.keep(d.id))
    if (candidates.length === 0) {
      let oldest = Infinity
      for (const d of this.devices.values()) if (d.lastSeen < oldest) oldest = d.lastSeen
      this.noRoomUntil = Math.max(now + 1000, oldest + EVICT_AFTER_MS)
      return false
    }
    candidates.sort((a, b) => a.lastSeen - b.lastSeen)
    for (const d of candidates.slice(0, Math.max(1, Math.ceil(this.max / 10)))) {
      this.devices.delete(this.key(d.kind, d.id))
      const list = this.byId.get(d.id)
      if (list) {
        list.splice(list.indexOf(d), 1)
        if (list.length === 0) this.byId.delete(d.id)
      }
      this.removed.push(d)
      this.evicted++
    }
    return true
  }

  /** devices forgotten to make room */
  evicted = 0
  private noRoomUntil = -Infinity

  private index(d: DeviceRecord): void {
    const list = this.byId.get(d.id)
    if (d.kind === 'device' && list?.length) {
      // a status-only record (restored) of a device known by its real kind: it is that device
      this.merge(list[0]!, d)
      return
    }
    this.devices.set(this.key(d.kind, d.id), d)
    if (!list) { this.byId.set(d.id, [d]); return }
    // a device first known only by its status takes its real kind when it first speaks as one
    const stub = d.kind === 'device' ? undefined : list.find((x) => x.kind === 'device')
    if (stub) {
      this.devices.delete(this.key('device', d.id))
      list.splice(list.indexOf(stub), 1)
      this.merge(d, stub)
    }
    if (d.kind === 'device') list.push(d)
    else list.unshift(d)
  }

  private merge(into: DeviceRecord, stub: DeviceRecord): void {
    into.firstSeen = Math.min(into.firstSeen, stub.firstSeen)
    into.lastSeen = Math.max(into.lastSeen, stub.lastSeen)
    into.messages += stub.messages
    into.badMessages += stub.badMessages
    into.lastBadReason ??= stub.lastBadReason
    into.lastBadAt ??= stub.lastBadAt
    into.recentBad = [...stub.recentBad, ...into.recentBad].slice(-RECENT_BAD)
    into.battery ??= stub.battery
    if (stub.statusAt !== null && (into.statusAt === null || stub.statusAt > into.statusAt)) { into.online = stub.online; into.statusAt = stub.statusAt }
    into.windowMessages += stub.messages
    into.dirty = true
    this.removed.push(stub)
  }

  /** status-only records merged into a device's real record, for persistence to drop */
  private removed: DeviceRecord[] = []

  seen(kind: DeviceKind, id: string, now: number): void {
    const d = this.record(kind, id, now)
    if (!d) return
    d.messages++
    // an offline status (a last will, published by the broker) is no sign of life
    if (now > d.lastSeen && !(kind === 'device' && d.online === false && d.statusAt === now)) d.lastSeen = now
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
    d.recentBad.push({ reason, at: now })
    if (d.recentBad.length > RECENT_BAD) d.recentBad.shift()
    d.dirty = true
  }

  battery(kind: DeviceKind, id: string, pct: number, now: number): void {
    const d = this.record(kind, id, now)
    if (d) { d.battery = pct; d.dirty = true }
  }

  /** P/status/<id> (or its last will): applies to every record of the id */
  online(kind: DeviceKind, id: string, online: boolean, now: number): void {
    const first = this.record(kind, id, now)
    if (!first) return
    for (const d of this.byId.get(id) ?? [first]) {
      d.online = online
      d.statusAt = now
      if (online && now > d.lastSeen) d.lastSeen = now
      d.dirty = true
    }
  }

  /** Online, silent and why, now. */
  state(d: DeviceRecord, now: number): DeviceState {
    const interval = this.rhythmMs(d)
    const silent = interval !== null && now - d.lastSeen > interval
    if (d.online === false && d.statusAt !== null && d.statusAt >= d.lastSeen) return { online: false, silent, reason: 'status' }
    if (interval !== null) return silent ? { online: false, silent, reason: 'silent' } : { online: true, silent, reason: d.online === true ? 'status' : 'messages' }
    if (d.online === true) return { online: true, silent, reason: 'status' }
    return { online: null, silent, reason: null }
  }

  /**
   * Devices whose online state changed since the last call (housekeeping calls it every few seconds: a
   * device that falls silent is noticed within its expected interval plus that).
   */
  changes(now: number): { record: DeviceRecord; from: DeviceState | null; to: DeviceState }[] {
    const out: { record: DeviceRecord; from: DeviceState | null; to: DeviceState }[] = []
    for (const d of this.devices.values()) {
      const s = this.state(d, now)
      const r = d.reported
      if (r && r.online === s.online && r.silent === s.silent && r.reason === s.reason) continue
      d.reported = s
      out.push({ record: d, from: r, to: s })
    }
    return out
  }

  /** devices by kind that are silent now */
  silentByKind(now: number): Map<DeviceKind, number> {
    const out = new Map<DeviceKind, number>()
    for (const d of this.devices.values()) {
      const interval = this.rhythmMs(d)
      if (interval !== null && now - d.lastSeen > interval) out.set(d.kind, (out.get(d.kind) ?? 0) + 1)
    }
    return out
  }

  /** devices by kind and state (online, offline, unknown) now */
  countByState(now: number): Map<string, number> {
    const out = new Map<string, number>()
    for (const d of this.devices.values()) {
      const s = this.state(d, now)
      const k = `${d.kind}\u0000${s.online === null ? 'unknown' : s.online ? 'online' : 'offline'}`
      out.set(k, (out.get(k) ?? 0) + 1)
    }
    return out
  }

  /** Load a persisted record (start-up). An offline status holds until the device speaks again. */
  restore(r: Omit<DeviceRecord, 'windowStart' | 'windowMessages' | 'rate' | 'dirty' | 'statusAt' | 'recentBad' | 'reported'>): void {
    this.index({
      ...r, statusAt: r.online === null ? null : r.lastSeen,
      recentBad: r.lastBadReason !== null && r.lastBadAt !== null ? [{ reason: r.lastBadReason, at: r.lastBadAt }] : [],
      reported: null, windowStart: r.lastSeen, windowMessages: r.messages, rate: 0, dirty: false,
    })
  }

  /** status-only records merged away since the last call (for persistence to delete) */
  takeRemoved(): DeviceRecord[] {
    const out = this.removed
    this.removed = []
    return out
  }

  /** Records changed since the last call (for persistence). */
  takeDirty(): DeviceRecord[] {
    const out: DeviceRecord[] = []
    for (const d of this.devices.values()) if (d.dirty) { d.dirty = false; out.push(d) }
    return out
  }

  get(kind: DeviceKind, id: string): DeviceRecord | undefined { return this.devices.get(this.key(kind, id)) }

  /** every record of an id (a lane can be a POS and a handheld) */
  byIdOf(id: string): readonly DeviceRecord[] { return this.byId.get(id) ?? [] }

  has(id: string): boolean { return (this.byId.get(id)?.length ?? 0) > 0 }

  list(now: number, placed: (id: string) => boolean, zoneOf: (id: string) => string | null = () => null): DeviceView[] {
    return [...this.devices.values()].map((d) => this.view(d, now, placed, zoneOf)).sort((a, b) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id))
  }

  view(d: DeviceRecord, now: number, placed: (id: string) => boolean, zoneOf: (id: string) => string | null = () => null): DeviceView {
    {
      const windowMs = now - d.windowStart
      const rate = windowMs >= 5000 ? (d.messages - d.windowMessages) / (windowMs / 1000) : d.rate
      const st = this.state(d, now)
      const interval = this.expectedMs(d.kind)
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
        online: st.online,
        onlineReason: st.reason,
        silent: st.silent,
        expectedIntervalSeconds: interval === null ? null : interval / 1000,
        statusAt: d.statusAt === null ? null : new Date(d.statusAt).toISOString(),
        recentBad: d.recentBad.map((b) => ({ reason: b.reason, at: new Date(b.at).toISOString() })),
        zone: zoneOf(d.id),
        placed: placed(d.id),
      }
    }
  }

  get size(): number { return this.devices.size }
}
