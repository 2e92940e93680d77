/**
 * The presence engine: per subject-anchor smoothing (pluggable, with outlier rejection) and a staleness
 * timeout, a pluggable locator that scores zones, a zone filter and dwell tracking.
 *
 * The zone filter is a hidden Markov model's forward step over the layout's zones: each second a subject
 * stays in its zone with probability stayProbability, and the locator's scores are the evidence. The subject
 * moves only when another zone's probability beats its current zone's by switchMargin, which stops
 * flip-flopping between neighbours while a real move is still seen within seconds.
 * One map lookup per reading: everything about a subject lives in one record.
 */
import type { Layout } from '../contract/resources.js'
import { DwellTracker, type Visit } from './dwell.js'
import { StrongestAnchorLocator } from './locators.js'
import { EmaSmoother, type Smoother } from './smoothing.js'
import type { AnchorTable, Locator, PresenceEngine, PresenceOptions, Reading, Readings, SubjectPresence, ZoneEvent } from './types.js'

interface SubjectState extends Readings {
  lastSeen: number
  visit: Visit | null
  /** zone filter: probability of each layout zone, when it was last updated, the zone the subject is in */
  post: Float64Array | null
  postAt: number
  zone: number
}

/** entries a subject starts with; grows by doubling (a subject is heard by a handful of anchors) */
const INITIAL_ENTRIES = 4
const HEAD = 3 // anchor, ts, value
const POSTERIOR_FLOOR = 0.01

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
  private readonly stride: number
  private zoneIds: string[] = []
  private scores = new Float64Array(0)
  readonly smoother: Smoother
  private loc: Locator
  private layout: Layout

  constructor(layout: Layout, private readonly opts: PresenceOptions, emit: (e: ZoneEvent) => void, parts: EngineParts = {}) {
    this.smoother = parts.smoother ?? new EmaSmoother()
    this.loc = parts.locator ?? new StrongestAnchorLocator()
    this.layout = layout
    this.stride = HEAD + this.smoother.stateSize
    this.staleMs = opts.staleSeconds * 1000
    this.dwell = new DwellTracker((z) => this.dwellSeconds.get(z) ?? opts.defaultDwellSeconds, opts.exitGraceSeconds * 1000, emit)
    this.applyLayout(layout)
  }

  get trackedSubjects(): number { return this.subjects.size }
  get locator(): Locator { return this.loc }

  /** Swap the locator (a new fingerprint model) while subjects keep their smoothing and zone filter. */
  setLocator(locator: Locator): void {
    locator.setLayout(this.layout, this.table)
    this.loc = locator
  }
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
      // the first locate waits one locate interval: a subject is heard by its anchors one after another,
      // and locating on the first anchor alone would start it in the wrong zone
      s = { buf: new Float64Array(INITIAL_ENTRIES * this.stride), n: 0, stride: this.stride, lastSeen: ts, visit: null, post: null, postAt: ts, zone: -1 }
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
    if (now - s.postAt >= this.opts.locateEveryMs && (s.post !== null || now > s.postAt || this.opts.locateEveryMs === 0)) this.filter(s, now)
    this.dwell.update(subject, s, s.zone < 0 ? null : this.zoneIds[s.zone]!, now)
  }

  /** One forward step of the zone filter with the locator's scores as evidence. */
  private filter(s: SubjectState, now: number): void {
    const sc = this.scores
    const Z = sc.length
    if (Z === 0 || !this.loc.score(s, now, sc)) return
    let total = 0
    for (let z = 0; z < Z; z++) total += sc[z]!
    if (!(total > 0)) return
    const eps = this.opts.evidenceFloor
    let post = s.post
    if (post === null) {
      post = s.post = new Float64Array(Z)
      for (let z = 0; z < Z; z++) post[z] = eps + sc[z]! / total
    } else {
      const stay = this.opts.stayProbability ** Math.min(10, Math.max(0.1, (now - s.postAt) / 1000))
      const move = Z > 1 ? (1 - stay) / (Z - 1) : 0
      for (let z = 0; z < Z; z++) post[z] = (stay * post[z]! + move * (1 - post[z]!)) * (eps + sc[z]! / total)
    }
    let sum = 0
    let best = 0
    for (let z = 0; z < Z; z++) {
      sum += post[z]!
      if (post[z]! > post[best]!) best = z
    }
    // normalise, and never let a zone's probability fall below a floor: after a long stay somewhere, the
    // filter must still be able to follow a real move within seconds
    let renorm = 0
    for (let z = 0; z < Z; z++) {
      const p = Math.max(POSTERIOR_FLOOR, post[z]! / sum)
      post[z] = p
      renorm += p
    }
    for (let z = 0; z < Z; z++) post[z] = post[z]! / renorm
    s.postAt = now
    if (s.zone < 0 || (best !== s.zone && post[best]! - post[s.zone]! > this.opts.switchMargin)) s.zone = best
  }

  /** Zones by the locator's scores on the subject's current readings alone, without the filter. */
  rankNow(subject: string, max = 3): string[] {
    const s = this.subjects.get(subject)
    const sc = this.scores
    if (!s || !this.loc.score(s, s.lastSeen, sc)) return []
    return [...sc].map((p, z) => ({ p, z })).filter((x) => x.p > 0).sort((a, b) => b.p - a.p).slice(0, max).map((x) => this.zoneIds[x.z]!)
  }

  /** Zones by the filter's probability for a subject right now (evaluation, explanations). */
  rank(subject: string, max = 3): string[] {
    const post = this.subjects.get(subject)?.post
    if (!post) return []
    return [...post].map((p, z) => ({ p, z })).sort((a, b) => b.p - a.p).slice(0, max).map((x) => this.zoneIds[x.z]!)
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
    const z = this.subjects.get(subject)?.zone ?? -1
    return z < 0 ? null : this.zoneIds[z]!
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
    this.layout = layout
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
    this.zoneIds = layout.zones.map((z) => z.id)
    this.scores = new Float64Array(this.zoneIds.length)
    this.loc.setLayout(layout, this.table)
  }
}
