/**
 * The floor as the geometric locators see it, built once per layout: where the zones are (a raster of zone
 * indices), a grid of candidate positions, and for each candidate position and placed anchor the path loss
 * 10 n log10(d) the log-distance model predicts. Everything is bounded: the raster has at most RASTER_MAX cells
 * and the path-loss table at most TABLE_MAX entries (cells grow coarser in a large store).
 */
import type { Layout } from '../contract/resources.js'
import type { AnchorTable } from './types.js'

/** a point this far outside every polygon still counts in the nearest zone (a shopper at the edge of the map) */
export const OUTSIDE_M = 2
/** a zone without a polygon covers this radius around its placed anchors */
export const ANCHOR_RADIUS_M = 2.5
const RASTER_MAX = 1 << 18
const TABLE_MAX = 1 << 20
const CELLS_MAX = 1 << 13
/** nearer than this the log-distance model says nothing useful (the near field, the body in the way) */
const MIN_DISTANCE_M = 1

export interface FloorMap {
  /** zone raster: zone index per cell, -1 outside every zone */
  raster: Int16Array
  rx0: number
  ry0: number
  rres: number
  rnx: number
  rny: number
  /** candidate positions: a grid of gnx x gny cells of gres metres from (gx0, gy0) (cell centres) */
  gx0: number
  gy0: number
  gres: number
  gnx: number
  gny: number
  /** engine anchor index -> column of the path-loss table, -1 for an anchor without x/y */
  col: Int32Array
  cols: number
  /** path loss in dB, row-major by cell: loss[cell * cols + col] */
  loss: Float32Array
  /** placed anchors' positions by column */
  ax: Float64Array
  ay: Float64Array
  /** zones with polygons, or anchors placed in zones */
  hasZones: boolean
  /** zone outlines with their bounding boxes, and the placed anchors of zones without a polygon */
  shapes: { zone: number; pts: Pt[]; x0: number; y0: number; x1: number; y1: number }[]
  discs: { zone: number; x: number; y: number }[]
}

type Pt = [number, number]

function inside(x: number, y: number, pts: readonly Pt[]): boolean {
  let c = false
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i]!, [xj, yj] = pts[j]!
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c
  }
  return c
}

export function edgeDistance(x: number, y: number, pts: readonly Pt[]): number {
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

const cache = new WeakMap<Layout, Map<number, FloorMap>>()

/** The floor map of a layout (cached per layout object and path-loss exponent). */
export function floorMap(layout: Layout, anchors: AnchorTable, pathLossExponent: number): FloorMap {
  let byN = cache.get(layout)
  const hit = byN?.get(pathLossExponent)
  if (hit && hit.col.length === anchors.ids.length) return hit
  const m = buildFloorMap(layout, anchors, pathLossExponent)
  if (!byN) cache.set(layout, (byN = new Map()))
  byN.set(pathLossExponent, m)
  return m
}

function buildFloorMap(layout: Layout, anchors: AnchorTable, n: number): FloorMap {
  const polys = layout.zones.map((z) => (z.polygon && z.polygon.length >= 3 ? (z.polygon as Pt[]) : null))
  const zoneIndex = new Map(layout.zones.map((z, i) => [z.id, i]))
  // bounds: every polygon and every placed anchor, plus a margin
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity
  const grow = (x: number, y: number) => { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y) }
  for (const p of polys) if (p) for (const [x, y] of p) grow(x, y)
  const placed: number[] = []
  for (let a = 0; a < anchors.ids.length; a++) if (!Number.isNaN(anchors.x[a]!) && !Number.isNaN(anchors.y[a]!)) { placed.push(a); grow(anchors.x[a]!, anchors.y[a]!) }
  if (!Number.isFinite(x0)) { x0 = 0; y0 = 0; x1 = 1; y1 = 1 }
  const MG = Number(process.env.MG ?? OUTSIDE_M); x0 -= MG; y0 -= MG; x1 += MG; y1 += MG
  const w = x1 - x0, h = y1 - y0

  // zone raster
  const rres = Math.max(0.25, Math.sqrt((w * h) / RASTER_MAX))
  const rnx = Math.max(1, Math.ceil(w / rres)), rny = Math.max(1, Math.ceil(h / rres))
  const raster = new Int16Array(rnx * rny).fill(-1)
  const near = new Float32Array(rnx * rny).fill(Infinity)
  let hasZones = false
  polys.forEach((p, z) => {
    if (!p) return
    hasZones = true
    let px0 = Infinity, py0 = Infinity, px1 = -Infinity, py1 = -Infinity
    for (const [x, y] of p) { px0 = Math.min(px0, x); py0 = Math.min(py0, y); px1 = Math.max(px1, x); py1 = Math.max(py1, y) }
    const i0 = Math.max(0, Math.floor((px0 - OUTSIDE_M - x0) / rres)), i1 = Math.min(rnx - 1, Math.floor((px1 + OUTSIDE_M - x0) / rres))
    const j0 = Math.max(0, Math.floor((py0 - OUTSIDE_M - y0) / rres)), j1 = Math.min(rny - 1, Math.floor((py1 + OUTSIDE_M - y0) / rres))
    for (let j = j0; j <= j1; j++) {
      const cy = y0 + (j + 0.5) * rres
      for (let i = i0; i <= i1; i++) {
        const cx = x0 + (i + 0.5) * rres
        const c = j * rnx + i
        if (near[c] === 0) continue // inside an earlier zone
        if (inside(cx, cy, p)) { raster[c] = z; near[c] = 0; continue }
        const d = edgeDistance(cx, cy, p)
        if (d <= OUTSIDE_M && d < near[c]!) { raster[c] = z; near[c] = d }
      }
    }
  })
  // zones without a polygon: around their placed anchors, where no polygon is
  for (const a of placed) {
    const z = zoneIndex.get(anchors.zones[a]!)
    if (z === undefined || polys[z]) continue
    hasZones = true
    const ax = anchors.x[a]!, ay = anchors.y[a]!
    const i0 = Math.max(0, Math.floor((ax - ANCHOR_RADIUS_M - x0) / rres)), i1 = Math.min(rnx - 1, Math.floor((ax + ANCHOR_RADIUS_M - x0) / rres))
    const j0 = Math.max(0, Math.floor((ay - ANCHOR_RADIUS_M - y0) / rres)), j1 = Math.min(rny - 1, Math.floor((ay + ANCHOR_RADIUS_M - y0) / rres))
    for (let j = j0; j <= j1; j++) for (let i = i0; i <= i1; i++) {
      const c = j * rnx + i
      if (near[c] === 0) continue
      const d = Math.hypot(x0 + (i + 0.5) * rres - ax, y0 + (j + 0.5) * rres - ay)
      if (d <= ANCHOR_RADIUS_M && (raster[c] === -1 || d < near[c]! - OUTSIDE_M)) { raster[c] = z; near[c] = d + OUTSIDE_M }
    }
  }

  // candidate positions and the path-loss table
  const cols = placed.length
  let gres = Math.max(1, Math.sqrt((w * h) / CELLS_MAX))
  if (cols > 0) gres = Math.max(gres, Math.sqrt((w * h * cols) / TABLE_MAX))
  const gnx = Math.max(1, Math.ceil(w / gres)), gny = Math.max(1, Math.ceil(h / gres))
  const col = new Int32Array(anchors.ids.length).fill(-1)
  placed.forEach((a, k) => { col[a] = k })
  const ax = Float64Array.from(placed, (a) => anchors.x[a]!)
  const ay = Float64Array.from(placed, (a) => anchors.y[a]!)
  const loss = new Float32Array(gnx * gny * cols)
  const ZH: Record<string, number> = process.env.ZH ? JSON.parse(process.env.ZH) : {}
  const hz = Float64Array.from(placed, (a) => (ZH[anchors.ids[a]!] ?? 0) - Number(process.env.SH ?? 0))
  const MD = Number(process.env.MD ?? MIN_DISTANCE_M)
  for (let j = 0; j < gny; j++) for (let i = 0; i < gnx; i++) {
    const cx = x0 + (i + 0.5) * gres, cy = y0 + (j + 0.5) * gres
    const base = (j * gnx + i) * cols
    for (let k = 0; k < cols; k++) loss[base + k] = 10 * n * Math.log10(Math.max(MD, Math.hypot(cx - ax[k]!, cy - ay[k]!, process.env.ZH ? hz[k]! : 0)))
  }
  const shapes: FloorMap['shapes'] = []
  polys.forEach((p, zone) => {
    if (!p) return
    let sx0 = Infinity, sy0 = Infinity, sx1 = -Infinity, sy1 = -Infinity
    for (const [x, y] of p) { sx0 = Math.min(sx0, x); sy0 = Math.min(sy0, y); sx1 = Math.max(sx1, x); sy1 = Math.max(sy1, y) }
    shapes.push({ zone, pts: p, x0: sx0, y0: sy0, x1: sx1, y1: sy1 })
  })
  const discs: FloorMap['discs'] = []
  for (const a of placed) {
    const z = zoneIndex.get(anchors.zones[a]!)
    if (z !== undefined && !polys[z]) discs.push({ zone: z, x: anchors.x[a]!, y: anchors.y[a]! })
  }
  return { raster, rx0: x0, ry0: y0, rres, rnx, rny, gx0: x0, gy0: y0, gres, gnx, gny, col, cols, loss, ax, ay, hasZones, shapes, discs }
}

/**
 * Zone scores of a position known to within `sd` metres: e^(-d^2 / 2 sd^2), d the distance from the position to
 * the zone (0 inside its polygon; for a zone without one, beyond ANCHOR_RADIUS_M of its nearest placed anchor).
 * A subject must be about one sd inside a new zone before it beats the one it is leaving by the engine's switch
 * margin: the hysteresis grows with the uncertainty of the position. `out` is zeroed first; false when no zone
 * is within 4 sd.
 */
export function zoneDistanceScores(m: FloorMap, x: number, y: number, sd: number, out: Float64Array): boolean {
  out.fill(0)
  const far = 4 * sd
  const k = 1 / (2 * sd * sd)
  let any = false
  for (const s of m.shapes) {
    if (x < s.x0 - far || x > s.x1 + far || y < s.y0 - far || y > s.y1 + far) continue
    const d = inside(x, y, s.pts) ? 0 : edgeDistance(x, y, s.pts)
    if (d > far) continue
    const v = Math.exp(-d * d * k)
    if (v > out[s.zone]!) out[s.zone] = v
    any = true
  }
  for (const c of m.discs) {
    const d = Math.max(0, Math.hypot(x - c.x, y - c.y) - ANCHOR_RADIUS_M)
    if (d > far) continue
    const v = Math.exp(-d * d * k)
    if (v > out[c.zone]!) out[c.zone] = v
    any = true
  }
  return any
}

/** zone index at a point (-1: no zone there) */
export function zoneAt(m: FloorMap, x: number, y: number): number {
  const i = Math.floor((x - m.rx0) / m.rres), j = Math.floor((y - m.ry0) / m.rres)
  if (i < 0 || j < 0 || i >= m.rnx || j >= m.rny) return -1
  return m.raster[j * m.rnx + i]!
}

/** sigma points of a round Gaussian: offsets in standard deviations and their weights (5 x 5, +-1.6 sd) */
const SP = [-1.6, -0.8, 0, 0.8, 1.6]
const SPW = (() => {
  const w = new Float64Array(25)
  let t = 0
  for (let a = 0; a < 5; a++) for (let b = 0; b < 5; b++) { w[a * 5 + b] = Math.exp(-(SP[a]! ** 2 + SP[b]! ** 2) / 2); t += w[a * 5 + b]! }
  for (let i = 0; i < 25; i++) w[i] = w[i]! / t
  return w
})()

/**
 * Zone probabilities of a position known to within `sd` metres (a round Gaussian), from 25 sigma points looked
 * up in the zone raster; `out` is zeroed first. Returns false when no point lands in a zone.
 */
export function zoneScores(m: FloorMap, x: number, y: number, sd: number, out: Float64Array): boolean {
  out.fill(0)
  let any = false
  for (let a = 0; a < 5; a++) for (let b = 0; b < 5; b++) {
    const z = zoneAt(m, x + SP[a]! * sd, y + SP[b]! * sd)
    if (z < 0) continue
    out[z] = out[z]! + SPW[a * 5 + b]!
    any = true
  }
  return any
}
