/**
 * The presence engine: per subject-anchor smoothing with a staleness timeout, a pluggable locator, and
 * dwell tracking. Readings may arrive out of order by a little; older readings than the last are ignored.
 */
import type { Layout } from '../contract/resources.js'
import { DwellTracker } from './dwell.js'
import { NearestAnchorLocator } from './nearest.js'
import type { Locator, PresenceEngine, PresenceOptions, Reading, SmoothedReading, SubjectPresence, ZoneEvent } from './types.js'

interface AnchorState { rssi: number; ts: number }
interface SubjectState { anchors: Map<string, AnchorState>; lastSeen: number; zone: string | null }

export class EmaPresenceEngine implements PresenceEngine {
  private subjects = new Map<string, SubjectState>()
  private dwellSeconds = new Map<string, number>()
  private knownAnchors = new Set<string>()
  private readonly dwell: DwellTracker
  private readonly staleMs: number

  constructor(
    layout: Layout,
    private readonly opts: PresenceOptions,
    emit: (e: ZoneEvent) => void,
    private readonly locator: Locator = new NearestAnchorLocator(layout),
  ) {
    this.staleMs = opts.staleSeconds * 1000
    this.dwell = new DwellTracker((z) => this.dwellSeconds.get(z) ?? opts.defaultDwellSeconds, opts.exitGraceSeconds * 1000, emit)
    this.applyLayout(layout)
  }

  get trackedSubjects(): number { return this.subjects.size }

  /** true when the anchor is part of the layout (readings from unknown anchors are not located) */
  isAnchor(id: string): boolean { return this.knownAnchors.has(id) }

  observe(r: Reading): void {
    if (!this.knownAnchors.has(r.anchor)) return
    let s = this.subjects.get(r.subject)
    if (!s) {
      s = { anchors: new Map(), lastSeen: r.ts, zone: null }
      this.subjects.set(r.subject, s)
    } else if (r.ts < s.lastSeen - this.staleMs) return // too late to say anything about now
    const a = s.anchors.get(r.anchor)
    if (!a) s.anchors.set(r.anchor, { rssi: r.rssi, ts: r.ts })
    else if (r.ts >= a.ts) {
      // restart the average after a gap: an old value says nothing about now
      a.rssi = r.ts - a.ts > this.staleMs ? r.rssi : a.rssi + this.opts.smoothing * (r.rssi - a.rssi)
      a.ts = r.ts
    } else return
    if (r.ts > s.lastSeen) s.lastSeen = r.ts
    const now = s.lastSeen
    const zone = this.locator.locate(r.subject, this.fresh(s, now), now)
    s.zone = zone
    this.dwell.update(r.subject, zone, now)
  }

  tick(now: number): void {
    this.dwell.tick(now)
    for (const [id, s] of this.subjects) {
      if (now - s.lastSeen > this.staleMs + this.opts.exitGraceSeconds * 1000) {
        this.dwell.end(id, now)
        this.subjects.delete(id)
        this.locator.forget(id)
      }
    }
  }

  snapshot(now: number): SubjectPresence[] {
    const out: SubjectPresence[] = []
    for (const [subject, s] of this.subjects) {
      const v = this.dwell.get(subject)
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
    for (const id of this.subjects.keys()) this.dwell.end(id, this.subjects.get(id)!.lastSeen)
    this.subjects.clear()
    this.applyLayout(layout)
    this.locator.setLayout(layout)
  }

  forget(subject: string): void {
    const s = this.subjects.get(subject)
    if (s) this.dwell.end(subject, s.lastSeen)
    this.subjects.delete(subject)
    this.locator.forget(subject)
  }

  private applyLayout(layout: Layout): void {
    this.dwellSeconds = new Map(layout.zones.filter((z) => z.dwellSeconds !== undefined).map((z) => [z.id, z.dwellSeconds!]))
    this.knownAnchors = new Set(layout.anchors.filter((a) => a.kind !== 'button' && a.zone !== undefined).map((a) => a.id))
  }

  private fresh(s: SubjectState, now: number): SmoothedReading[] {
    const out: SmoothedReading[] = []
    for (const [anchor, a] of s.anchors) {
      if (now - a.ts <= this.staleMs) out.push({ anchor, rssi: a.rssi, ts: a.ts })
      else s.anchors.delete(anchor)
    }
    return out
  }
}
