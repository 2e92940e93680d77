/**
 * Locators that work from anchor positions, without calibration.
 *
 * `position` tracks a subject on the floor:
 *  1. Once a locate, every candidate position of the floor grid is scored by how well the log-distance model
 *     (RSSI = P0 - 10 n log10 d) explains the subject's smoothed signals. P0, the subject's own level (its
 *     transmit power and antenna, or a phone's gain), is unknown: it is fitted per candidate, pulled towards
 *     what this subject showed over the last minute (a tag's transmit power does not change while it walks).
 *     The candidates' likelihoods give a position fix and its spread.
 *  2. A Kalman filter on position and velocity (constant velocity, walking acceleration, speed bounded by a
 *     walking pace, as ESPresense-companion tracks) turns fixes into a track.
 *  3. The zone probabilities are the track's Gaussian looked up in the zone map; they are already filtered in
 *     time (`tracks`), so the engine's zone filter only applies its switch margin.
 *  Each anchor's own gain (a scanner's antenna, a beacon's real transmit power, a shelf in front of it) is
 *  learned on line from every subject: the mean difference between what it hears and what the model predicts
 *  at the tracked positions, shrunk towards 0 until it has enough evidence.
 *
 * `centroid` is the simple baseline as a locator: the weighted centroid of the three strongest anchors
 * (weights 10^(rssi/10)), its zone through the engine's zone filter.
 */
import type { Layout } from '../contract/resources.js'
import { floorMap, hasZones, zoneScores, type FloorMap } from './floor.js'
import { signalAt, type AnchorTable, type Locator, type Readings } from './types.js'

export interface PositionSettings {
  /** RSSI falls 10 n dB per decade of distance (2 in free space; 1.7-2 measured on the walking tracks) */
  pathLossExponent: number
  /** spread of a smoothed reading around the model, dB (about 5 measured, more for reflections) */
  sigmaDb: number
  /** walking: the speed bound (m/s) and the acceleration noise of the motion model (m^2/s^3) */
  maxSpeed: number
  acceleration: number
  /** metres: the scale of the zone scores; a subject moves about 1.1 of these into a new zone (spatial hysteresis) */
  zoneScale: number
  /** dB per second an anchor loses while it is not heard (after 1 s of silence) */
  silenceDecay: number
  /** learn each anchor's gain on line */
  learnOffsets: boolean
}

export const DEFAULT_POSITION: PositionSettings = { pathLossExponent: 1.8, sigmaDb: 8, maxSpeed: 1.5, acceleration: 2, zoneScale: 0.5, silenceDecay: 3, learnOffsets: true }

/** what the model assumes a subject's level is before it has seen any (RSSI at 1 m of a typical tag) */
const TYPICAL_P0 = -59
/** the subject's level: remembered over about this many locates, and how much it may wander (dB) */
const P0_MEMORY = 60
const P0_SD = 1.5
/** anchor gains: evidence (locates) before an estimate counts fully, most remembered, largest allowed (dB) */
const OFFSET_PRIOR = 60
const OFFSET_MEMORY = 2000
const OFFSET_MAX = 10
/**
 * A fix's variance per axis: this share of its likelihood's spread (the likelihood's sigmaDb allows for errors
 * that persist for seconds, which makes the spread about twice the error of a single fix), and never below
 * FIX_VARIANCE_MIN m^2 (the model's own error).
 */
const FIX_SPREAD_SHARE = 0.5
const FIX_VARIANCE_MIN = 1
/**
 * The model fix needs at least this many anchors heard within FRESH_MS from fixed scanners. A phone or cart that
 * ranges beacons (the layout's `beacon` anchors) gets the weighted centroid of the anchors it heard lately instead,
 * as does a subject heard by fewer anchors: measured on the phone recordings (ESIIAB, Waldo), the ranking of
 * beacons is worth more than their levels (a phone's OS smooths and clips RSSI, and hears one or two beacons a
 * scan), while fixed scanners hearing a tag fit the path-loss model well. A centroid is taken as good to
 * CENTROID_VARIANCE m^2 per axis (about 2 m, near the strongest), and its zones are scored on that scale.
 */
const MODEL_MIN_ANCHORS = 3
const FRESH_MS = 2000
const CENTROID_VARIANCE = 4
/** candidate positions are scored within this distance (m) of the strongest anchors and of the track */
const WINDOW_M = 10
/** a track not updated for this long starts afresh (s) */
const TRACK_RESET_S = 10

// per-subject state (Float64Array): layout of the slots
const S_INIT = 0, S_T = 1, S_X = 2, S_Y = 3, S_VX = 4, S_VY = 5, S_PP = 6, S_PV = 7, S_VV = 8, S_P0 = 9, S_P0N = 10
const STATE_SIZE = 11

export class PositionLocator implements Locator {
  readonly name = 'position'
  readonly stateSize = STATE_SIZE
  readonly tracks = true
  private map: FloorMap | null = null
  private anchors: AnchorTable | null = null
  private readonly s: PositionSettings
  private readonly decay: number
  /** txPower correction per engine anchor (0 when unknown) */
  private txOff = new Float64Array(0)
  /** 1 for a beacon anchor (the subject ranges it), by engine anchor */
  private isBeacon: Uint8Array = new Uint8Array(0)
  /** learned gains by anchor id, kept across layouts for the anchors that stay */
  private readonly learned = new Map<string, { sum: number; n: number }>()
  private offSum = new Float64Array(0)
  private offN = new Float64Array(0)
  private off = new Float64Array(0)
  private offTotal = 0
  // scratch
  private heardCol = new Int32Array(0)
  private heardIdx = new Int32Array(0)
  private heardSig = new Float64Array(0)
  private heardFresh = new Uint8Array(0)
  private ll = new Float64Array(0)
  private sumV = new Float64Array(0)

  constructor(settings: Partial<PositionSettings> = {}) {
    this.s = { ...DEFAULT_POSITION, ...settings }
    this.decay = this.s.silenceDecay / 1000
  }

  ready(): boolean { return this.map !== null && hasZones(this.map) && this.map.cols >= 3 }

  setLayout(layout: Layout, anchors: AnchorTable): void {
    // keep what was learned of the anchors that are still there
    if (this.anchors) this.anchors.ids.forEach((id, a) => { if (this.offN[a]! > 0) this.learned.set(id, { sum: this.offSum[a]!, n: this.offN[a]! }) })
    const keep = new Set(anchors.ids)
    for (const id of this.learned.keys()) if (!keep.has(id)) this.learned.delete(id)
    this.anchors = anchors
    this.map = floorMap(layout, anchors, this.s.pathLossExponent)
    const A = anchors.ids.length
    this.txOff = Float64Array.from(anchors.txPower, (tx) => (Number.isNaN(tx) ? 0 : tx - TYPICAL_P0))
    this.isBeacon = anchors.beacon ?? new Uint8Array(A)
    this.offSum = new Float64Array(A)
    this.offN = new Float64Array(A)
    this.off = new Float64Array(A)
    this.offTotal = 0
    anchors.ids.forEach((id, a) => {
      const l = this.learned.get(id)
      if (l) { this.offSum[a] = l.sum; this.offN[a] = l.n; this.setOffset(a) }
    })
    this.heardCol = new Int32Array(A)
    this.heardIdx = new Int32Array(A)
    this.heardSig = new Float64Array(A)
    this.heardFresh = new Uint8Array(A)
    const cells = this.map.gnx * this.map.gny
    this.ll = new Float64Array(cells)
    this.sumV = new Float64Array(cells)
  }

  /** the learned gain of each anchor (dB, mean zero over the layout's placed anchors), for evaluation */
  offsets(): Record<string, number> {
    const out: Record<string, number> = {}
    this.anchors?.ids.forEach((id, a) => { if (this.map!.col[a]! >= 0) out[id] = Math.round(this.gain(a) * 10) / 10 })
    return out
  }

  private setOffset(a: number): void {
    const v = Math.max(-OFFSET_MAX, Math.min(OFFSET_MAX, this.offSum[a]! / (this.offN[a]! + OFFSET_PRIOR)))
    this.offTotal += v - this.off[a]!
    this.off[a] = v
  }

  private gain(a: number): number {
    const m = this.map!
    return m.cols > 0 ? this.off[a]! - this.offTotal / m.cols : 0
  }

  /** The tracked position and its standard deviation (metres), or null before the first fix. */
  position(r: Readings): { x: number; y: number; sd: number } | null {
    const st = r.track
    if (!st || st[S_INIT] !== 1) return null
    return { x: st[S_X]!, y: st[S_Y]!, sd: Math.sqrt(st[S_PP]!) }
  }

  score(r: Readings, now: number, out: Float64Array): boolean {
    const m = this.map
    const st = r.track
    if (!m || !st || m.cols === 0) return false
    // the subject's placed anchors and their signals, corrected by known transmit power and learned gain; the
    // model fix wants anchors heard just now (an anchor silent for seconds says little about its distance)
    let k = 0, fresh = 0, beacons = 0
    for (let i = 0, o = 0; i < r.n; i++, o += r.stride) {
      const a = r.buf[o]!
      const c = m.col[a]!
      if (c < 0) continue
      this.heardCol[k] = c
      this.heardIdx[k] = a
      this.heardSig[k] = signalAt(r.buf, o, now, this.decay) - this.txOff[a]! - this.gain(a)
      if (this.isBeacon[a] === 1) beacons++
      const isFresh = now - r.buf[o + 1]! <= FRESH_MS
      this.heardFresh[k] = isFresh ? 1 : 0
      if (isFresh) fresh++
      k++
    }
    if (k === 0) return false
    // a phone ranging beacons, or too few anchors heard just now: the weighted centroid
    const byModel = fresh >= MODEL_MIN_ANCHORS && beacons * 2 < k
    let fix: { x: number; y: number; v: number } | null
    if (byModel) {
      // keep the fresh ones only, in place
      let j = 0
      for (let h = 0; h < k; h++) if (this.heardFresh[h] === 1) { this.heardCol[j] = this.heardCol[h]!; this.heardIdx[j] = this.heardIdx[h]!; this.heardSig[j] = this.heardSig[h]!; j++ }
      fix = this.fix(j, st)
    } else fix = this.centroidFix(k)
    if (!fix) return false
    this.track(st, now, fix.x, fix.y, fix.v)
    // the zones on the scale of what the fix is worth: a centroid is good to about 2 m
    return zoneScores(m, st[S_X]!, st[S_Y]!, byModel ? this.s.zoneScale : Math.max(this.s.zoneScale, Math.sqrt(CENTROID_VARIANCE)), out)
  }

  /** The likelihood-weighted mean of the candidate positions and its variance per axis. */
  private fix(k: number, st: Float64Array): { x: number; y: number; v: number } | null {
    const m = this.map!
    const s2 = this.s.sigmaDb * this.s.sigmaDb
    const hasP0 = st[S_P0N]! > 0
    const pm = hasP0 ? st[S_P0]! / st[S_P0N]! : TYPICAL_P0
    // a weak prior at first (a tag's level varies by 20 dB between makes), firm once the subject has shown it
    const pv = hasP0 ? P0_SD * P0_SD + 36 / st[S_P0N]! : 15 * 15
    const cols = m.cols
    const loss = m.loss
    const sig = this.heardSig
    const hc = this.heardCol
    // candidates: within WINDOW_M of the three strongest anchors and of the track (the subject is near what
    // hears it best; a large store's far end is not worth scoring)
    let wx0 = Infinity, wy0 = Infinity, wx1 = -Infinity, wy1 = -Infinity
    let t1 = -1, t2 = -1, t3 = -1
    for (let h = 0; h < k; h++) {
      const v = sig[h]!
      if (t1 < 0 || v > sig[t1]!) { t3 = t2; t2 = t1; t1 = h } else if (t2 < 0 || v > sig[t2]!) { t3 = t2; t2 = h } else if (t3 < 0 || v > sig[t3]!) t3 = h
    }
    for (const h of [t1, t2, t3]) {
      if (h < 0) continue
      const c = hc[h]!
      wx0 = Math.min(wx0, m.ax[c]!); wx1 = Math.max(wx1, m.ax[c]!); wy0 = Math.min(wy0, m.ay[c]!); wy1 = Math.max(wy1, m.ay[c]!)
    }
    if (st[S_INIT] === 1) {
      wx0 = Math.min(wx0, st[S_X]!); wx1 = Math.max(wx1, st[S_X]!)
      wy0 = Math.min(wy0, st[S_Y]!); wy1 = Math.max(wy1, st[S_Y]!)
    }
    const i0 = Math.max(0, Math.floor((wx0 - WINDOW_M - m.gx0) / m.gres)), i1 = Math.min(m.gnx - 1, Math.floor((wx1 + WINDOW_M - m.gx0) / m.gres))
    const j0 = Math.max(0, Math.floor((wy0 - WINDOW_M - m.gy0) / m.gres)), j1 = Math.min(m.gny - 1, Math.floor((wy1 + WINDOW_M - m.gy0) / m.gres))
    if (i1 < i0 || j1 < j0) return null
    const ll = this.ll, sumV = this.sumV
    let best = -Infinity
    const pd = s2 / k + pv
    for (let j = j0; j <= j1; j++) {
      for (let i = i0; i <= i1; i++) {
        const c = j * m.gnx + i
        if (m.valid[c] === 0) { ll[c] = -Infinity; continue }
        const base = c * cols
        let sv = 0, svv = 0
        for (let h = 0; h < k; h++) {
          const v = sig[h]! + loss[base + hc[h]!]!
          sv += v
          svv += v * v
        }
        const mean = sv / k
        // profile likelihood over P0 with its prior: spread around the fitted level, and the level against the prior
        let l: number
        l = -0.5 * ((svv - sv * mean) / s2 + ((mean - pm) * (mean - pm)) / pd)
        ll[c] = l
        sumV[c] = mean
        if (l > best) best = l
      }
    }
    let wsum = 0, fx = 0, fy = 0, fxx = 0, p0 = 0
    for (let j = j0; j <= j1; j++) {
      const cy = m.gy0 + (j + 0.5) * m.gres
      for (let i = i0; i <= i1; i++) {
        const c = j * m.gnx + i
        const d = ll[c]! - best
        if (d < -14) continue // a weight under 1e-6
        const w = Math.exp(d)
        const cx = m.gx0 + (i + 0.5) * m.gres
        wsum += w
        fx += w * cx
        fy += w * cy
        fxx += w * (cx * cx + cy * cy)
        p0 += w * sumV[c]!
      }
    }
    fx /= wsum
    fy /= wsum
    p0 /= wsum
    const v = Math.max(FIX_VARIANCE_MIN, (FIX_SPREAD_SHARE * (fxx / wsum - fx * fx - fy * fy)) / 2, (m.gres * m.gres) / 12)
    // remember the subject's level (bounded memory)
    st[S_P0] = st[S_P0]! + p0
    st[S_P0N] = st[S_P0N]! + 1
    if (st[S_P0N]! > P0_MEMORY) { st[S_P0] = (st[S_P0]! * P0_MEMORY) / st[S_P0N]!; st[S_P0N] = P0_MEMORY }
    if (this.s.learnOffsets && k >= 3) this.learn(k, fx, fy, p0)
    return { x: fx, y: fy, v }
  }

  /** Too few anchors heard just now for the model (a phone's sparse ranging): the weighted centroid of the strongest. */
  private centroidFix(k: number): { x: number; y: number; v: number } {
    const m = this.map!
    let top = -Infinity
    for (let h = 0; h < k; h++) top = Math.max(top, this.heardSig[h]!)
    let x = 0, y = 0, w = 0
    for (let h = 0; h < k; h++) { const wi = 10 ** ((this.heardSig[h]! - top) / 10); x += wi * m.ax[this.heardCol[h]!]!; y += wi * m.ay[this.heardCol[h]!]!; w += wi }
    return { x: x / w, y: y / w, v: CENTROID_VARIANCE }
  }

  /** Each heard anchor's residual at the fix teaches its gain. */
  private learn(k: number, fx: number, fy: number, p0: number): void {
    const m = this.map!
    const i = Math.min(m.gnx - 1, Math.max(0, Math.floor((fx - m.gx0) / m.gres)))
    const j = Math.min(m.gny - 1, Math.max(0, Math.floor((fy - m.gy0) / m.gres)))
    const base = (j * m.gnx + i) * m.cols
    for (let h = 0; h < k; h++) {
      const a = this.heardIdx[h]!
      // heardSig has the current gain taken out: add it back for the raw residual
      const raw = this.heardSig[h]! + this.gain(a)
      const predicted = p0 - m.loss[base + this.heardCol[h]!]!
      this.offSum[a] = this.offSum[a]! + (raw - predicted)
      this.offN[a] = this.offN[a]! + 1
      if (this.offN[a]! > OFFSET_MEMORY) { this.offSum[a] = (this.offSum[a]! * OFFSET_MEMORY) / this.offN[a]!; this.offN[a] = OFFSET_MEMORY }
      this.setOffset(a)
    }
  }

  /** Kalman filter on position and velocity, the same on both axes (round covariance), speed bounded. */
  private track(st: Float64Array, now: number, zx: number, zy: number, R: number): void {
    const dt = (now - st[S_T]!) / 1000
    if (st[S_INIT] !== 1 || dt > TRACK_RESET_S || dt < 0) {
      st[S_INIT] = 1
      st[S_T] = now
      st[S_X] = zx; st[S_Y] = zy; st[S_VX] = 0; st[S_VY] = 0
      st[S_PP] = R; st[S_PV] = 0; st[S_VV] = this.s.maxSpeed * this.s.maxSpeed / 4
      return
    }
    const q = this.s.acceleration
    // predict
    let x = st[S_X]! + st[S_VX]! * dt
    let y = st[S_Y]! + st[S_VY]! * dt
    let pp = st[S_PP]! + 2 * dt * st[S_PV]! + dt * dt * st[S_VV]! + (q * dt * dt * dt) / 3
    let pv = st[S_PV]! + dt * st[S_VV]! + (q * dt * dt) / 2
    let vv = st[S_VV]! + q * dt
    // update with the fix
    const S = pp + R
    const kp = pp / S, kv = pv / S
    const ix = zx - x, iy = zy - y
    x += kp * ix; y += kp * iy
    let vx = st[S_VX]! + kv * ix, vy = st[S_VY]! + kv * iy
    const npp = (1 - kp) * pp, npv = (1 - kp) * pv, nvv = vv - kv * pv
    pp = npp; pv = npv; vv = Math.max(1e-6, nvv)
    const speed = Math.hypot(vx, vy)
    if (speed > this.s.maxSpeed) { vx *= this.s.maxSpeed / speed; vy *= this.s.maxSpeed / speed }
    st[S_T] = now
    st[S_X] = x; st[S_Y] = y; st[S_VX] = vx; st[S_VY] = vy
    st[S_PP] = pp; st[S_PV] = pv; st[S_VV] = vv
  }
}

/** The weighted centroid of the three strongest anchors (weights 10^(rssi/10)), zones scored on a 1.5 m scale. */
export class CentroidLocator implements Locator {
  readonly name = 'centroid'
  private map: FloorMap | null = null
  private txOff = new Float64Array(0)
  private readonly decay: number
  constructor(silenceDecayDbPerS = 3, private readonly scale = 1.5) { this.decay = silenceDecayDbPerS / 1000 }

  ready(): boolean { return this.map !== null && hasZones(this.map) && this.map.cols >= 2 }

  setLayout(layout: Layout, anchors: AnchorTable): void {
    this.map = floorMap(layout, anchors, DEFAULT_POSITION.pathLossExponent)
    this.txOff = Float64Array.from(anchors.txPower, (tx) => (Number.isNaN(tx) ? 0 : tx - TYPICAL_P0))
  }

  position(r: Readings, now: number): { x: number; y: number } | null {
    const m = this.map
    if (!m) return null
    // the three strongest placed anchors
    let c1 = -1, c2 = -1, c3 = -1, s1 = -Infinity, s2 = -Infinity, s3 = -Infinity
    for (let i = 0, o = 0; i < r.n; i++, o += r.stride) {
      const a = r.buf[o]!
      const c = m.col[a]!
      if (c < 0) continue
      const s = signalAt(r.buf, o, now, this.decay) - this.txOff[a]!
      if (s > s1) { c3 = c2; s3 = s2; c2 = c1; s2 = s1; c1 = c; s1 = s } else if (s > s2) { c3 = c2; s3 = s2; c2 = c; s2 = s } else if (s > s3) { c3 = c; s3 = s }
    }
    if (c1 < 0) return null
    let x = 0, y = 0, w = 0
    for (const [c, s] of [[c1, s1], [c2, s2], [c3, s3]] as const) {
      if (c < 0) continue
      const wi = 10 ** ((s - s1) / 10)
      x += wi * m.ax[c]!; y += wi * m.ay[c]!; w += wi
    }
    return { x: x / w, y: y / w }
  }

  score(r: Readings, now: number, out: Float64Array): boolean {
    const p = this.position(r, now)
    return p !== null && zoneScores(this.map!, p.x, p.y, this.scale, out)
  }
}
