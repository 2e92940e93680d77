/**
 * The presence engine: per subject-anchor smoothing (pluggable, with outlier rejection) and a staleness
 * timeout, a pluggable locator, a zone filter (a new zone must hold for switchSeconds before the subject
 * moves) and dwell tracking. One map lookup per reading: everything about a subject (its packed anchor
 * entries, the locator's slot, the zone filter, its visit) lives in one record.
 */
import type { Layout } from '../contract/resources.js'
import { DwellTracker, type Visit } from './dwell.js'
import { StrongestAnchorLocator } from './locators.js'
import { EmaSmoother, type Smoother } from './smoothing.js'
import type { AnchorTable, Locator, PresenceEngine, PresenceOptions, Reading, Readings, SubjectPresence, ZoneEvent } from './types.js'

interface SubjectState extends Readings {
  lastSeen: number
  slot: unknown
  visit: Visit | null
  /** the locator's latest answer and when it was computed */
  located: string | null
  locatedAt: number
  /** zone filter: the zone the subject is in, and a challenger with the time it started winning */
  zone: string | null
  challenger: string | null
  challengerSince: number
}

/** entries a subject starts with; grows by doubling (a subject is heard by a handful of anchors) */
const INITIAL_ENTRIES = 4
const HEAD = 3 // anchor, ts, value

export interface EngineParts {
  smoother?: Smoother
  locator?: Locator
}

export class Presence implements PresenceEngine {
  private subjects = new Map<string, SubjectState>()
  private dwellSeconds = new Map<string, number>()
  private anchorIndex = new Map<string, number>()
  private table: AnchorTable = { ids: [], zones: [], x: new Float64Array(0), y: new Float64Array(0), txPower: new Float64Array(0) }
  private readonly dwell: DwellTracker
  private readonly staleMs: number
  private readonly switchMs: number
  private readonly stride: number
  readonly smoother: Smoother
  readonly locator: Locator

  constructor(layout: Layout, private readonly opts: PresenceOptions, emit: (e: ZoneEvent) => void, parts: EngineParts = {}) {
    this.smoother = parts.smoother ?? new EmaSmoother()
    this.locator = parts.locator ?? new StrongestAnchorLocator()
    this.stride = HEAD + this.smoother.stateSize
    this.staleMs = opts.staleSeconds * 1000
    this.switchMs = opts.switchSeconds * 1000
    this.dwell = new DwellTracker((z) => this.dwellSeconds.get(z) ?? opts.defaultDwellSeconds, opts.exitGraceSeconds * 1000, emit)
    this.applyLayout(layout)
  }

  get trackedSubjects(): number { return this.subjects.size }
  get anchors(): AnchorTable { return this.table }

  isAnchor(id: string): boolean { return this.anchorIndex.has(id) }

  observe(r: Reading): void {
    this.observeRaw(r.subject, r.anchor, r.rssi, r.ts)
  }

  observeRaw(subject: string, anchor: string, rssi: number, ts: number): void {
    const idx = this.anchorIndex.get(anchor)
    if (idx !== undefined) this.observeAt(subject, idx, rssi, ts)
  }

  anchorSlot(anchor: string): number {
    return this.anchorIndex.get(anchor) ?? -1
  }

  observeAt(subject: string, idx: number, rssi: number, ts: number): void {
    let s = this.subjects.get(subject)
    if (s === undefined) {
      s = {
        buf: new Float64Array(INITIAL_ENTRIES * this.stride), n: 0, stride: this.stride, lastSeen: ts, slot: this.locator.newSlot(), visit: null,
        located: null, locatedAt: -Infinity, zone: null, challenger: null, challengerSince: 0,
      }
      this.subjects.set(subject, s)
    } else if (ts < s.lastSeen - this.staleMs) return // too late to say anything about now
    const stride = this.stride
    const now = ts > s.lastSeen ? ts : s.lastSeen
    let buf = s.buf
    let n = s.n
    // one pass: find this anchor's entry and drop stale ones (swap with the last; order does not matter)
    let at = -1
    for (let i = n - 1; i >= 0; i--) {
      const o = i * stride
      if (buf[o] === idx) at = o
      else if (now - buf[o + 1]! > this.staleMs) {
        n--
        const last = n * stride
        if (at === last) at = o
        buf.copyWithin(o, last, last + stride)
      }
    }
    if (at < 0) {
      if ((n + 1) * stride > buf.length) {
        const grown = new Float64Array(buf.length * 2)
        grown.set(buf)
        s.buf = buf = grown
      }
      at = n * stride
      buf[at] = idx
      buf[at + 1] = ts
      this.smoother.init(buf, at + 2, rssi)
      n++
    } else {
      const prev = buf[at + 1]!
      if (ts < prev) { s.n = n; return } // out of order for this anchor
      if (ts - prev > this.staleMs) this.smoother.init(buf, at + 2, rssi) // an old value says nothing about now
      else this.smoother.update(buf, at + 2, rssi, ts - prev)
      buf[at + 1] = ts
    }
    s.n = n
    s.lastSeen = now
    if (now - s.locatedAt >= this.opts.locateEveryMs) {
      s.located = this.locator.locate(s.slot, s, now)
      s.locatedAt = now
    }
    this.dwell.update(subject, s, this.filter(s, s.located, now), now)
  }

  /** The zone filter: a challenger must be the locator's answer for switchMs before the subject moves. */
  private filter(s: SubjectState, located: string | null, now: number): string | null {
    if (located === null) return s.zone
    if (s.zone === null || located === s.zone || this.switchMs === 0) {
      s.zone = located
      s.challenger = null
      return located
    }
    if (s.challenger !== located) {
      s.challenger = located
      s.challengerSince = now
    } else if (now - s.challengerSince >= this.switchMs) {
      s.zone = located
      s.challenger = null
    }
    return s.zone
  }

  /** The locator's ranking for a subject right now (evaluation, explanations). */
  rank(subject: string, max = 3): string[] {
    const s = this.subjects.get(subject)
    return s ? this.locator.rank(s, max) : []
  }

  /** The smoothed RSSI per anchor id of a subject (calibration records these). */
  vector(subject: string, now: number): Record<string, number> | null {
    const s = this.subjects.get(subject)
    if (!s || s.n === 0) return null
    const out: Record<string, number> = {}
    for (let i = 0, o = 0; i < s.n; i++, o += s.stride) {
      if (now - s.buf[o + 1]! <= this.staleMs) out[this.table.ids[s.buf[o]!]!] = Math.round(s.buf[o + 2]! * 10) / 10
    }
    return out
  }

  /** The zone the filter holds for a subject. */
  zoneOf(subject: string): string | null {
    return this.subjects.get(subject)?.zone ?? null
  }

  tick(now: number): void {
    const forgetAfter = this.staleMs + this.opts.exitGraceSeconds * 1000
    for (const [id, s] of this.subjects) {
      this.dwell.tick(id, s, now)
      if (now - s.lastSeen > forgetAfter) {
        this.dwell.end(id, s)
        this.subjects.delete(id)
      }
    }
  }

  snapshot(now: number): SubjectPresence[] {
    const out: SubjectPresence[] = []
    for (const [subject, s] of this.subjects) {
      const v = s.visit
      out.push({
        subject,
        zone: v?.zone ?? null,
        since: v?.since ?? null,
        dwellSeconds: v ? Math.max(0, (Math.min(now, v.lastIn) - v.since) / 1000) : 0,
        lastSeen: s.lastSeen,
      })
    }
    return out
  }

  setLayout(layout: Layout): void {
    // presence restarts on a new layout: close every visit, drop all state
    for (const [id, s] of this.subjects) this.dwell.end(id, s)
    this.subjects.clear()
    this.applyLayout(layout)
  }

  forget(subject: string): void {
    const s = this.subjects.get(subject)
    if (!s) return
    this.dwell.end(subject, s)
    this.subjects.delete(subject)
  }

  private applyLayout(layout: Layout): void {
    this.dwellSeconds = new Map(layout.zones.filter((z) => z.dwellSeconds !== undefined).map((z) => [z.id, z.dwellSeconds!]))
    // anchors that place a subject: in a zone, or at a known position (for the position locator)
    const located = layout.anchors.filter((a) => a.kind !== 'button' && (a.zone !== undefined || (a.x !== undefined && a.y !== undefined)))
    this.anchorIndex = new Map(located.map((a, i) => [a.id, i]))
    this.table = {
      ids: located.map((a) => a.id),
      zones: located.map((a) => a.zone ?? ''),
      x: Float64Array.from(located, (a) => a.x ?? Number.NaN),
      y: Float64Array.from(located, (a) => a.y ?? Number.NaN),
      txPower: Float64Array.from(located, (a) => a.txPower ?? Number.NaN),
    }
    this.locator.setLayout(layout, this.table)
  }
}
