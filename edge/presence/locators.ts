/**
 * Locators behind one interface, chosen per store (presence.locator):
 *  - strongest: the zone of the anchor with the strongest signal (normalised by its RSSI at 1 m where known);
 *    a challenger zone must be clearly stronger (marginDb) and, through the engine's zone filter, consistently.
 *  - fingerprint: k nearest neighbours among labelled fingerprints recorded in each zone (calibration).
 * The locators that work from anchor positions (position, centroid) are in tracking.ts.
 */
import type { Layout } from '../contract/resources.js'
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
  /** what the calibration holds, for /readyz and the logs */
  describe(): string { return this.model ? `${this.model.zones.length} zones, ${this.model.samples.length} fingerprints` : 'no calibration' }
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
