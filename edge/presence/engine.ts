/**
 * The presence engine: per subject-anchor smoothing (pluggable, with outlier rejection) and a staleness
 * timeout, a pluggable locator that scores zones, a zone filter and dwell tracking.
 *
 * The zone filter is a hidden Markov model's forward step over the layout's zones: each second a subject
 * stays in its zone with probability stayProbability, and otherwise moves, mostly to a zone next to its own
 * (polygons within ADJACENT_M; from a zone without a polygon, anywhere alike). The locator's scores are
 * the evidence. A locator that tracks (a motion model of its own) hands over probabilities that are already
 * filtered in time: then the scores are the zone probabilities, and only the switch rule applies. Either way
 * the subject moves only when another zone's probability beats its current zone's by switchMargin, which
 * stops flip-flopping between neighbours while a real move is still seen within seconds; the visit then starts
 * when the new zone first led (the switch margin confirms a move, it does not delay when it happened).
 *
 * Readings that come in batches (a phone's ranging report: several beacons with one timestamp) are located
 * once the batch is complete: when the next batch starts, or at the next tick.
 * One map lookup per reading: everything about a subject lives in one record.
 */
import type { Layout } from '../contract/resources.js'
import { DwellTracker, type Visit } from './dwell.js'
import { edgeDistance } from './floor.js'
import { StrongestAnchorLocator } from './locators.js'
import { EmaSmoother, type Smoother } from './smoothing.js'
import type { AnchorTable, Locator, PresenceEngine, PresenceOptions, Reading, Readings, SubjectPresence, ZoneEvent } from './types.js'

/** Picks the locator for a layout (presence.locator `auto` and the fallbacks); `current` is the one running. */
export type LocatorPolicy = (layout: Layout, anchors: AnchorTable, current: Locator | null) => { locator: Locator; note: string }

interface SubjectState extends Readings {
  lastSeen: number
  visit: Visit | null
  /** zone filter: probability of each layout zone, when it was last updated, the zone the subject is in */
  post: Float64Array | null
  postAt: number
  zone: number
  /** the zone that leads the filter (-1: none yet) and since when it has led without a break */
  lead: number
  leadSince: number
  /** since when the subject has been heard without a gap longer than the exit grace period */
  heardSince: number
  /** readings come in batches with one timestamp (ranging reports): locate once a batch is complete */
  batched: boolean
  /** the anchor of the last reading, to tell a batch (same ts, another anchor) */
  lastAnchor: number
  track: Float64Array | null
}

/** entries a subject starts with; grows by doubling (a subject is heard by a handful of anchors) */
const INITIAL_ENTRIES = 4
const HEAD = 3 // anchor, ts, value
const POSTERIOR_FLOOR = 0.01
/** zones whose polygons come this close (metres) are next to each other for the zone filter */
export const ADJACENT_M = 1
/** a visit is dated back to when its zone took the lead, by at most this much (the switch margin's delay) */
const MAX_BACKDATE_MS = 5000
/** of the probability of leaving a zone, the share that goes to the zones next to it (the rest: anywhere) */
const TO_NEIGHBOURS = 0.9

export interface EngineParts {
  smoother?: Smoother
  locator?: Locator
  /** chooses the locator on every layout (and at start); without it the given locator stays */
  policy?: LocatorPolicy
}

export class Presence implements PresenceEngine {
  private subjects = new Map<string, SubjectState>()
  /** readings of new subjects not tracked because the table was full */
  refusedSubjects = 0
  get subjectCount(): number { return this.subjects.size }
  private dwellSeconds = new Map<string, number>()
  private anchorIndex = new Map<string, number>()
  private table: AnchorTable = { ids: [], zones: [], x: new Float64Array(0), y: new Float64Array(0), txPower: new Float64Array(0) }
  private readonly dwell: DwellTracker
  private readonly staleMs: number
  private readonly graceMs: number
  private readonly stride: number
  private zoneIds: string[] = []
  private scores = new Float64Array(0)
  readonly smoother: Smoother
  private loc: Locator
  private layout: Layout
  private readonly policy: LocatorPolicy | null
  private why = ''
  /** zone adjacency for the filter: neighbours of zone z are adj[adjStart[z] .. adjStart[z + 1]) */
  private adjStart = new Int32Array(1)
  private adj = new Int32Array(0)
  private moved = new Float64Array(0)

  constructor(layout: Layout, private readonly opts: PresenceOptions, emit: (e: ZoneEvent) => void, parts: EngineParts = {}) {
    this.smoother = parts.smoother ?? new EmaSmoother()
    this.loc = parts.locator ?? new StrongestAnchorLocator()
    this.policy = parts.policy ?? null
    this.layout = layout
    this.stride = HEAD + this.smoother.stateSize
    this.staleMs = opts.staleSeconds * 1000
    this.graceMs = opts.exitGraceSeconds * 1000
    this.dwell = new DwellTracker((z) => this.dwellSeconds.get(z) ?? opts.defaultDwellSeconds, opts.exitGraceSeconds * 1000, emit)
    this.applyLayout(layout)
  }

  get trackedSubjects(): number { return this.subjects.size }
  get locator(): Locator { return this.loc }
  /** the locator in use and why, for /readyz and the logs */
  get note(): string { return this.why || `${this.loc.name} locator, ${this.smoother.name} smoothing` }

  /**
   * Swap the locator (a new fingerprint model) while subjects keep their smoothing and zone filter. With a
   * policy (presence.locator auto or fingerprint), a ready fingerprint locator handed in here is what the policy
   * keeps choosing on later layouts.
   */
  setLocator(locator: Locator): void {
    locator.setLayout(this.layout, this.table)
    if (this.policy) {
      const pick = this.policy(this.layout, this.table, locator)
      if (pick.locator !== locator) pick.locator.setLayout(this.layout, this.table)
      this.useLocator(pick.locator, pick.note)
    } else this.useLocator(locator, '')
  }

  private useLocator(locator: Locator, note: string): void {
    if (locator !== this.loc) for (const s of this.subjects.values()) s.track = null // a motion model starts afresh
    this.loc = locator
    this.why = note
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
      if (this.subjects.size >= (this.opts.maxSubjects ?? 20_000) && !subject.startsWith('pm:') && !subject.startsWith('band:')) {
        this.refusedSubjects++
        return
      }
      // the first locate waits one locate interval: a subject is heard by its anchors one after another,
      // and locating on the first anchor alone would start it in the wrong zone
      s = { buf: new Float64Array(INITIAL_ENTRIES * this.stride), n: 0, stride: this.stride, lastSeen: ts, visit: null, post: null, postAt: ts, zone: -1, lead: -1, leadSince: ts, heardSince: ts, batched: false, lastAnchor: -1, track: null }
      this.subjects.set(subject, s)
    } else if (ts < s.lastSeen - this.staleMs) return // too late to say anything about now
    else if (ts - s.lastSeen > this.staleMs) {
      // back after everything it was heard by went stale: the zone filter and the track start afresh, and
      // the first locate waits one interval again (the visit it had ends by the grace period)
      s.post = null
      s.zone = -1
      s.lead = -1
      s.leadSince = ts
      s.postAt = ts
      s.track = null
    } else if (s.batched && ts > s.lastSeen && this.due(s)) {
      // a new batch starts: locate on the one before, now complete
      this.filter(s, s.lastSeen)
      this.dwell.update(subject, s, s.zone < 0 ? null : this.zoneIds[s.zone]!, s.lastSeen, this.visitStart(s, s.lastSeen))
    }
    if (ts - s.lastSeen > this.graceMs) s.heardSince = ts
    if (ts === s.lastSeen && idx !== s.lastAnchor && s.lastAnchor >= 0) s.batched = true
    s.lastAnchor = idx
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
    if (!s.batched && now - s.postAt >= this.opts.locateEveryMs && (s.post !== null || now > s.postAt || this.opts.locateEveryMs === 0)) this.filter(s, now)
    this.dwell.update(subject, s, s.zone < 0 ? null : this.zoneIds[s.zone]!, now, this.visitStart(s, now))
  }

  /** a batched subject has readings the filter has not seen, and it is time to locate */
  private due(s: SubjectState): boolean {
    return s.post === null ? s.n > 0 : s.lastSeen > s.postAt && s.lastSeen - s.postAt >= this.opts.locateEveryMs
  }

  /**
   * When a visit to the subject's current zone starts: when that zone took the lead in the filter (the switch
   * margin confirms a move a moment later), at most MAX_BACKDATE_MS before now.
   */
  private visitStart(s: SubjectState, now: number): number {
    return s.lead === s.zone ? Math.max(s.leadSince, s.heardSince, now - MAX_BACKDATE_MS) : now
  }

  /** One forward step of the zone filter with the locator's scores as evidence. */
  private filter(s: SubjectState, now: number): void {
    const sc = this.scores
    const Z = sc.length
    const size = this.loc.stateSize ?? 0
    if (size > 0 && (s.track === null || s.track.length !== size)) s.track = new Float64Array(size)
    if (Z === 0 || !this.loc.score(s, now, sc)) return
    let total = 0
    for (let z = 0; z < Z; z++) total += sc[z]!
    if (!(total > 0)) return
    let post = s.post
    if (this.loc.tracks) {
      // already filtered in time: the scores are the zone probabilities
      if (post === null) post = s.post = new Float64Array(Z)
      for (let z = 0; z < Z; z++) post[z] = sc[z]! / total
    } else {
      const eps = this.opts.evidenceFloor
      if (post === null) {
        post = s.post = new Float64Array(Z)
        for (let z = 0; z < Z; z++) post[z] = eps + sc[z]! / total
      } else {
        const stay = this.opts.stayProbability ** Math.min(10, Math.max(0.1, (now - s.postAt) / 1000))
        this.transition(post, stay)
        for (let z = 0; z < Z; z++) post[z] = post[z]! * (eps + sc[z]! / total)
      }
      let sum = 0
      for (let z = 0; z < Z; z++) sum += post[z]!
      // normalise, and never let a zone's probability fall below a floor: after a long stay somewhere, the
      // filter must still be able to follow a real move within seconds
      let renorm = 0
      for (let z = 0; z < Z; z++) {
        const p = Math.max(POSTERIOR_FLOOR, post[z]! / sum)
        post[z] = p
        renorm += p
      }
      for (let z = 0; z < Z; z++) post[z] = post[z]! / renorm
    }
    let best = 0
    for (let z = 1; z < Z; z++) if (post[z]! > post[best]!) best = z
    if (best !== s.lead) { s.lead = best; s.leadSince = now }
    s.postAt = now
    // the leader must beat the current zone by switchMargin of their combined probability: for two zones in play
    // the same as by switchMargin outright; where several share the rest (a corner, look-alike fingerprints), a
    // zone the subject has clearly left does not hold on because the others split what it lost
    const margin = this.opts.switchMargin * (post[best]! + (s.zone < 0 ? 0 : post[s.zone]!))
    if (s.zone < 0 || (best !== s.zone && post[best]! - post[s.zone]! > margin)) s.zone = best
  }

  /**
   * The prior of a forward step: a subject stays with probability `stay`; the rest of its probability moves,
   * TO_NEIGHBOURS of it to the zones next to its own and the remainder evenly to every other zone.
   */
  private transition(post: Float64Array, stay: number): void {
    const Z = post.length
    if (Z < 2) return
    const moved = this.moved
    let far = 0
    moved.fill(0)
    for (let z = 0; z < Z; z++) {
      const m = (1 - stay) * post[z]!
      const a0 = this.adjStart[z]!, a1 = this.adjStart[z + 1]!
      if (a1 > a0) {
        const each = (m * TO_NEIGHBOURS) / (a1 - a0)
        for (let k = a0; k < a1; k++) moved[this.adj[k]!] = moved[this.adj[k]!]! + each
        far += m * (1 - TO_NEIGHBOURS)
        moved[z] = moved[z]! - (m * (1 - TO_NEIGHBOURS)) / (Z - 1) // what goes anywhere does not come back
      } else {
        far += m
        moved[z] = moved[z]! - m / (Z - 1)
      }
    }
    const each = far / (Z - 1)
    for (let z = 0; z < Z; z++) post[z] = stay * post[z]! + moved[z]! + each
  }

  /** Zones by the locator's scores on the subject's current readings alone, without the filter. */
  rankNow(subject: string, max = 3): string[] {
    const s = this.subjects.get(subject)
    const sc = this.scores
    if (!s) return []
    const size = this.loc.stateSize ?? 0
    if (size > 0 && (s.track === null || s.track.length !== size)) s.track = new Float64Array(size)
    if (!this.loc.score(s, s.lastSeen, sc)) return []
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
      if (s.batched && now >= s.lastSeen && this.due(s)) {
        this.filter(s, s.lastSeen)
        this.dwell.update(id, s, s.zone < 0 ? null : this.zoneIds[s.zone]!, s.lastSeen, this.visitStart(s, s.lastSeen))
      }
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
      beacon: Uint8Array.from(located, (a) => (a.kind === 'beacon' ? 1 : 0)),
    }
    this.zoneIds = layout.zones.map((z) => z.id)
    this.scores = new Float64Array(this.zoneIds.length)
    this.moved = new Float64Array(this.zoneIds.length)
    const adj = zoneAdjacency(layout)
    this.adjStart = adj.start
    this.adj = adj.list
    if (this.policy) {
      const pick = this.policy(layout, this.table, this.loc)
      this.loc = pick.locator
      this.why = pick.note
    }
    this.loc.setLayout(layout, this.table)
  }
}

/**
 * Which zones are next to which: polygons within ADJACENT_M of each other. A zone without a polygon has no
 * listed neighbours: it moves to, and is reached from, every zone alike (the filter's even share), which keeps
 * a layout without polygons linear in its zones. CSR form: neighbours of z are list[start[z] .. start[z + 1]).
 */
export function zoneAdjacency(layout: Layout): { start: Int32Array<ArrayBuffer>; list: Int32Array<ArrayBuffer> } {
  const zones = layout.zones
  const Z = zones.length
  const start = new Int32Array(Z + 1)
  const list: number[] = []
  const boxes = zones.map((z) => {
    const p = z.polygon
    if (!p || p.length < 3) return null
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity
    for (const [x, y] of p) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y) }
    return { x0, y0, x1, y1, p }
  })
  for (let i = 0; i < Z; i++) {
    start[i] = list.length
    const a = boxes[i]
    for (let j = 0; j < Z; j++) {
      if (j === i) continue
      const b = boxes[j]
      if (!a || !b) continue
      if (a.x0 > b.x1 + ADJACENT_M || b.x0 > a.x1 + ADJACENT_M || a.y0 > b.y1 + ADJACENT_M || b.y0 > a.y1 + ADJACENT_M) continue
      if (polygonGap(a.p, b.p) <= ADJACENT_M) list.push(j)
    }
  }
  start[Z] = list.length
  return { start, list: Int32Array.from(list) }
}

/** smallest distance between two polygons' outlines (0 when they touch or cross) */
function polygonGap(a: [number, number][], b: [number, number][]): number {
  let best = Infinity
  for (const [x, y] of a) best = Math.min(best, edgeDistance(x, y, b))
  for (const [x, y] of b) best = Math.min(best, edgeDistance(x, y, a))
  return best
}

