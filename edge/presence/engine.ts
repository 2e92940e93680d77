/**
 * The presence engine: per subject-anchor smoothing with a staleness timeout, a pluggable locator, and
 * dwell tracking. One map lookup per reading: everything about a subject (its anchors, the locator's slot,
 * its visit) lives in one record. Readings may arrive a little out of order; ones too old to matter are dropped.
 */
import type { Layout } from '../contract/resources.js'
import { DwellTracker, type Visit } from './dwell.js'
import { NearestAnchorLocator } from './nearest.js'
import { STRIDE, type Locator, type PresenceEngine, type PresenceOptions, type Reading, type Readings, type SubjectPresence, type ZoneEvent } from './types.js'

interface SubjectState extends Readings {
  lastSeen: number
  slot: unknown
  visit: Visit | null
}

/** entries a subject starts with; grows by doubling (a subject is heard by a handful of anchors) */
const INITIAL_ENTRIES = 4

export class EmaPresenceEngine implements PresenceEngine {
  private subjects = new Map<string, SubjectState>()
  private dwellSeconds = new Map<string, number>()
  /** anchor id -> index into anchorZones */
  private anchorIndex = new Map<string, number>()
  private anchorZones: string[] = []
  private readonly dwell: DwellTracker
  private readonly staleMs: number
  private readonly alpha: number

  constructor(
    layout: Layout,
    private readonly opts: PresenceOptions,
    emit: (e: ZoneEvent) => void,
    private readonly locator: Locator = new NearestAnchorLocator(),
  ) {
    this.staleMs = opts.staleSeconds * 1000
    this.alpha = opts.smoothing
    this.dwell = new DwellTracker((z) => this.dwellSeconds.get(z) ?? opts.defaultDwellSeconds, opts.exitGraceSeconds * 1000, emit)
    this.applyLayout(layout)
  }

  get trackedSubjects(): number { return this.subjects.size }

  /** true when the anchor is part of the layout (readings from unknown anchors are not located) */
  isAnchor(id: string): boolean { return this.anchorIndex.has(id) }

  observe(r: Reading): void {
    this.observeRaw(r.subject, r.anchor, r.rssi, r.ts)
  }

  observeRaw(subject: string, anchor: string, rssi: number, ts: number): void {
    const idx = this.anchorIndex.get(anchor)
    if (idx !== undefined) this.observeAt(subject, idx, rssi, ts)
  }

  /** Index of an anchor in the current layout, or -1: look it up once for a whole batch from one scanner. */
  anchorSlot(anchor: string): number {
    return this.anchorIndex.get(anchor) ?? -1
  }

  /** observeRaw() with the anchor already resolved by anchorSlot(). */
  observeAt(subject: string, idx: number, rssi: number, ts: number): void {
    let s = this.subjects.get(subject)
    if (s === undefined) {
      s = { buf: new Float64Array(INITIAL_ENTRIES * STRIDE), n: 0, lastSeen: ts, slot: this.locator.newSlot(), visit: null }
      this.subjects.set(subject, s)
    } else if (ts < s.lastSeen - this.staleMs) return // too late to say anything about now
    const now = ts > s.lastSeen ? ts : s.lastSeen
    let buf = s.buf
    let n = s.n
    // one pass: find this anchor's entry and drop stale ones (swap with the last; order does not matter)
    let at = -1
    for (let i = n - 1; i >= 0; i--) {
      const o = i * STRIDE
      if (buf[o] === idx) at = o
      else if (now - buf[o + 2]! > this.staleMs) {
        n--
        const last = n * STRIDE
        if (at === last) at = o
        buf[o] = buf[last]!
        buf[o + 1] = buf[last + 1]!
        buf[o + 2] = buf[last + 2]!
      }
    }
    if (at < 0) {
      if ((n + 1) * STRIDE > buf.length) {
        const grown = new Float64Array(buf.length * 2)
        grown.set(buf)
        s.buf = buf = grown
      }
      at = n * STRIDE
      buf[at] = idx
      buf[at + 1] = rssi
      buf[at + 2] = ts
      n++
    } else if (ts >= buf[at + 2]!) {
      // restart the average after a gap: an old value says nothing about now
      buf[at + 1] = ts - buf[at + 2]! > this.staleMs ? rssi : buf[at + 1]! + this.alpha * (rssi - buf[at + 1]!)
      buf[at + 2] = ts
    } else {
      s.n = n
      return
    }
    s.n = n
    s.lastSeen = now
    this.dwell.update(subject, s, this.locator.locate(s.slot, s, this.anchorZones, now), now)
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
    const located = layout.anchors.filter((a) => a.kind !== 'button' && a.zone !== undefined)
    this.anchorIndex = new Map(located.map((a, i) => [a.id, i]))
    this.anchorZones = located.map((a) => a.zone!)
    this.locator.setLayout(layout, located.map((a) => a.id))
  }
}
