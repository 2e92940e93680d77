/**
 * Locators behind one interface, chosen per store (presence.locator):
 *  - strongest: the zone of the anchor with the strongest signal (normalised by its RSSI at 1 m where known);
 *    a challenger zone must be clearly stronger (marginDb) and, through the engine's zone filter, consistently.
 *  - fingerprint: k nearest neighbours among labelled fingerprints recorded in each zone (calibration).
 *  - position: a position from anchor x/y by weighted least-squares ranging, then the zone polygon holding it.
 */
import type { Layout, Zone } from '../contract/resources.js'
import { signalAt, type AnchorTable, type Locator, type Readings } from './types.js'

// ---------------------------------------------------------------- strongest anchor

/** Zone index of each anchor (-1: a position-only anchor), from the layout. */
function anchorZoneIndex(layout: Layout, anchors: AnchorTable): Int32Array<ArrayBuffer> {
  const zi = new Map(layout.zones.map((z, i) => [z.id, i]))
  return Int32Array.from(anchors.zones, (z) => zi.get(z) ?? -1)
}

export class StrongestAnchorLocator implements Locator {
  readonly name = 'strongest'
  private zoneOf = new Int32Array(0)
  private offset = new Float64Array(0)
  private best = new Float64Array(0)
  private readonly decay: number

  /**
   * marginDb: how much stronger a zone's best anchor must be to count as clearly nearer; it sets the softness
   * of the scores (a zone `marginDb` weaker scores e^-1 of the strongest).
   */
  constructor(private readonly marginDb = 3, silenceDecayDbPerS = 3) { this.decay = silenceDecayDbPerS / 1000 }

  ready(): boolean { return true }

  setLayout(layout: Layout, anchors: AnchorTable): void {
    this.zoneOf = anchorZoneIndex(layout, anchors)
    // compare path loss, not raw RSSI: a beacon that is 6 dB louder at 1 m is not nearer
    this.offset = Float64Array.from(anchors.txPower, (tx) => (Number.isNaN(tx) ? 0 : tx + 59))
    this.best = new Float64Array(layout.zones.length)
  }

  score(r: Readings, now: number, out: Float64Array): boolean {
    const { buf, n, stride } = r
    const best = this.best
    best.fill(-Infinity)
    let top = -Infinity
    for (let i = 0, o = 0; i < n; i++, o += stride) {
      const a = buf[o]!
      const z = this.zoneOf[a]!
      if (z < 0) continue
      const signal = signalAt(buf, o, now, this.decay) - this.offset[a]!
      if (signal > best[z]!) best[z] = signal
      if (signal > top) top = signal
    }
    if (top === -Infinity) return false
    const soft = Math.max(0.5, this.marginDb)
    for (let z = 0; z < out.length; z++) out[z] = best[z] === -Infinity ? 0 : Math.exp((best[z]! - top) / soft)
    return true
  }
}

// ---------------------------------------------------------------- fingerprint k-NN

/** A labelled fingerprint: smoothed RSSI per anchor id, recorded while standing in a zone. */
export interface Fingerprint { zone: string; rssi: Record<string, number> }

export interface FingerprintModelData {
  /** anchors the model knows, in column order */
  anchors: string[]
  zones: string[]
  /** RSSI assumed for an anchor that is not heard */
  floor: number
  k: number
  samples: { zone: number; v: number[] }[]
}

/** Build the model from labelled fingerprints (most `maxPerZone` per zone, evenly spread in time). */
export function buildFingerprintModel(prints: readonly Fingerprint[], opts: { k?: number; floor?: number; maxPerZone?: number } = {}): FingerprintModelData {
  const floor = opts.floor ?? -105
  const anchors = [...new Set(prints.flatMap((p) => Object.keys(p.rssi)))].sort()
  const zones = [...new Set(prints.map((p) => p.zone))].sort()
  const col = new Map(anchors.map((a, i) => [a, i]))
  const zi = new Map(zones.map((z, i) => [z, i]))
  const perZone = new Map<string, Fingerprint[]>()
  for (const p of prints) perZone.set(p.zone, [...(perZone.get(p.zone) ?? []), p])
  const max = opts.maxPerZone ?? 300
  const samples: { zone: number; v: number[] }[] = []
  for (const [zone, list] of perZone) {
    const step = Math.max(1, list.length / max)
    for (let i = 0; i < list.length && samples.length < Infinity; i += step) {
      const p = list[Math.floor(i)]!
      const v = new Array<number>(anchors.length).fill(floor)
      for (const [a, rssi] of Object.entries(p.rssi)) v[col.get(a)!] = Math.max(floor, rssi)
      samples.push({ zone: zi.get(zone)!, v })
    }
  }
  return { anchors, zones, floor, k: opts.k ?? 5, samples }
}

export class FingerprintLocator implements Locator {
  readonly name = 'fingerprint'
  private model: FingerprintModelData | null = null
  /** training vectors minus floor, row-major M x A, and their squared norms */
  private t = new Float64Array(0)
  private norms = new Float64Array(0)
  private labels = new Int32Array(0)
  /** engine anchor index -> model column, -1 when the model does not know it */
  private colOf = new Int32Array(0)
  private q: Float64Array = new Float64Array(0)
  private qCols: number[] = []
  private anchorIds: readonly string[] = []
  private layoutZones: readonly string[] = []
  /** model zone index -> layout zone index (-1: a zone the layout no longer has) */
  private layoutZone = new Int32Array(0)
  private bestD = new Float64Array(0)
  private bestL = new Int32Array(0)

  private readonly decay: number

  /** bandwidth: dB of Euclidean distance over which a neighbour's vote fades (e^-1/2 at one bandwidth farther than the nearest) */
  constructor(model?: FingerprintModelData, silenceDecayDbPerS = 3, private readonly bandwidth = 6) {
    this.decay = silenceDecayDbPerS / 1000
    if (model) this.setModel(model)
  }

  ready(): boolean { return this.model !== null && this.model.samples.length > 0 }
  get modelData(): FingerprintModelData | null { return this.model }

  setModel(model: FingerprintModelData): void {
    this.model = model
    const A = model.anchors.length
    const M = model.samples.length
    this.t = new Float64Array(M * A)
    this.norms = new Float64Array(M)
    this.labels = new Int32Array(M)
    model.samples.forEach((s, m) => {
      let norm = 0
      for (let c = 0; c < A; c++) {
        const v = s.v[c]! - model.floor
        this.t[m * A + c] = v
        norm += v * v
      }
      this.norms[m] = norm
      this.labels[m] = s.zone
    })
    this.q = new Float64Array(A)
    this.mapAnchors()
  }

  setLayout(layout: Layout, anchors: AnchorTable): void {
    this.anchorIds = anchors.ids
    this.layoutZones = layout.zones.map((z) => z.id)
    this.mapAnchors()
  }

  private mapAnchors(): void {
    const cols = new Map((this.model?.anchors ?? []).map((a, i) => [a, i]))
    this.colOf = Int32Array.from(this.anchorIds, (id) => cols.get(id) ?? -1)
    const zi = new Map(this.layoutZones.map((z, i) => [z, i]))
    this.layoutZone = Int32Array.from(this.model?.zones ?? [], (z) => zi.get(z) ?? -1)
  }

  score(r: Readings, now: number, out: Float64Array): boolean {
    const model = this.model
    if (!model || model.samples.length === 0) return false
    const A = model.anchors.length
    const q = this.q
    const cols = this.qCols
    cols.length = 0
    let qNorm = 0
    for (let i = 0, o = 0; i < r.n; i++, o += r.stride) {
      const c = this.colOf[r.buf[o]!]!
      if (c < 0) continue
      const v = Math.max(0, signalAt(r.buf, o, now, this.decay) - model.floor)
      q[c] = v
      cols.push(c)
      qNorm += v * v
    }
    if (cols.length === 0) return false
    // k nearest fingerprints by Euclidean distance over all model anchors (unheard = floor)
    const k = Math.min(model.k, model.samples.length)
    const bestD = this.bestD.length === k ? this.bestD : (this.bestD = new Float64Array(k))
    const bestL = this.bestL.length === k ? this.bestL : (this.bestL = new Int32Array(k))
    bestD.fill(Infinity)
    bestL.fill(-1)
    const M = this.norms.length
    const t = this.t
    for (let m = 0; m < M; m++) {
      let dot = 0
      const base = m * A
      for (let j = 0; j < cols.length; j++) { const c = cols[j]!; dot += q[c]! * t[base + c]! }
      const d = qNorm + this.norms[m]! - 2 * dot
      if (d >= bestD[k - 1]!) continue
      let p = k - 1
      while (p > 0 && bestD[p - 1]! > d) { bestD[p] = bestD[p - 1]!; bestL[p] = bestL[p - 1]!; p-- }
      bestD[p] = d
      bestL[p] = this.labels[m]!
    }
    for (const c of cols) q[c] = 0
    // Gaussian-kernel votes of the k nearest (a soft k-NN: probabilities the zone filter can weigh),
    // relative to the nearest so that far-away scans still give a usable ranking; mapped to layout zones
    out.fill(0)
    const h2 = 2 * this.bandwidth * this.bandwidth
    const d0 = Math.max(0, bestD[0]!)
    for (let i = 0; i < k; i++) {
      const z = bestL[i]! < 0 ? -1 : this.layoutZone[bestL[i]!]!
      if (z >= 0) out[z] = out[z]! + Math.exp(-(Math.max(0, bestD[i]!) - d0) / h2)
    }
    return true
  }
}

// ---------------------------------------------------------------- position from anchor x/y

interface Poly { index: number; pts: [number, number][] }

export class PositionLocator implements Locator {
  readonly name = 'position'
  private anchors: AnchorTable | null = null
  private polys: Poly[] = []
  private readonly xs: number[] = []
  private readonly ys: number[] = []
  private readonly ds: number[] = []

  /** pathLossExponent: 2 in free space, 2-3.5 indoors; defaultTxPower: RSSI at 1 m when an anchor does not say */
  private readonly decay: number
  constructor(private readonly pathLossExponent = 2.5, private readonly defaultTxPower = -59, silenceDecayDbPerS = 3) { this.decay = silenceDecayDbPerS / 1000 }

  ready(): boolean { return this.polys.length > 0 && this.anchors !== null && this.anchors.x.some((x) => !Number.isNaN(x)) }

  setLayout(layout: Layout, anchors: AnchorTable): void {
    this.anchors = anchors
    this.polys = layout.zones
      .map((z, index) => ({ z, index }))
      .filter((x): x is { z: Zone & { polygon: [number, number][] }; index: number } => (x.z.polygon?.length ?? 0) >= 3)
      .map(({ z, index }) => ({ index, pts: z.polygon }))
  }

  /** Estimated position, or null without placed anchors. */
  position(r: Readings, now: number): { x: number; y: number } | null {
    const a = this.anchors
    if (!a) return null
    const xs = this.xs, ys = this.ys, ds = this.ds
    xs.length = 0; ys.length = 0; ds.length = 0
    for (let i = 0, o = 0; i < r.n; i++, o += r.stride) {
      const idx = r.buf[o]!
      const x = a.x[idx]!, y = a.y[idx]!
      if (Number.isNaN(x) || Number.isNaN(y)) continue
      const tx = Number.isNaN(a.txPower[idx]!) ? this.defaultTxPower : a.txPower[idx]!
      xs.push(x); ys.push(y)
      ds.push(Math.max(0.3, 10 ** ((tx - signalAt(r.buf, o, now, this.decay)) / (10 * this.pathLossExponent))))
    }
    if (xs.length === 0) return null
    // weighted centroid as the start, weights 1/d^2
    let px = 0, py = 0, wsum = 0
    for (let i = 0; i < xs.length; i++) { const w = 1 / (ds[i]! * ds[i]!); px += w * xs[i]!; py += w * ys[i]!; wsum += w }
    px /= wsum; py /= wsum
    if (xs.length < 3) return { x: px, y: py }
    // Gauss-Newton on sum w_i (|p - a_i| - d_i)^2
    for (let it = 0; it < 8; it++) {
      let h11 = 0, h12 = 0, h22 = 0, g1 = 0, g2 = 0
      for (let i = 0; i < xs.length; i++) {
        const dx = px - xs[i]!, dy = py - ys[i]!
        const dist = Math.max(1e-6, Math.hypot(dx, dy))
        const w = 1 / (ds[i]! * ds[i]!)
        const res = dist - ds[i]!
        const jx = dx / dist, jy = dy / dist
        h11 += w * jx * jx; h12 += w * jx * jy; h22 += w * jy * jy
        g1 += w * jx * res; g2 += w * jy * res
      }
      const det = h11 * h22 - h12 * h12
      if (Math.abs(det) < 1e-12) break
      const sx = (h22 * g1 - h12 * g2) / det
      const sy = (h11 * g2 - h12 * g1) / det
      px -= sx; py -= sy
      if (sx * sx + sy * sy < 1e-4) break
    }
    return { x: px, y: py }
  }

  /** zones by distance of the estimated position to their polygon: e^(-d^2 / 2 sigma^2), sigma = 1.5 m */
  score(r: Readings, now: number, out: Float64Array): boolean {
    const p = this.position(r, now)
    if (!p) return false
    out.fill(0)
    for (const z of this.polys) {
      const d = inside(p.x, p.y, z.pts) ? 0 : edgeDistance(p.x, p.y, z.pts)
      out[z.index] = Math.exp(-(d * d) / (2 * 1.5 * 1.5))
    }
    return true
  }
}

function inside(x: number, y: number, pts: [number, number][]): boolean {
  let c = false
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i]!, [xj, yj] = pts[j]!
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c
  }
  return c
}

function edgeDistance(x: number, y: number, pts: [number, number][]): number {
  let best = Infinity
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [ax, ay] = pts[j]!, [bx, by] = pts[i]!
    const dx = bx - ax, dy = by - ay
    const len2 = dx * dx + dy * dy
    const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / len2))
    best = Math.min(best, Math.hypot(x - (ax + t * dx), y - (ay + t * dy)))
  }
  return best
}
