/**
 * The floor as the geometric locators see it, built once per layout: the zones' outlines, a grid of candidate
 * positions over the zones (a shopper is somewhere in the store's zones), and for each candidate position and
 * placed anchor the path loss 10 n log10(d) of the log-distance model. Bounded: at most CELLS_MAX candidates and
 * TABLE_MAX path-loss entries (cells grow coarser in a large store).
 */
import type { Layout } from '../contract/resources.js'
import type { AnchorTable } from './types.js'

/** a zone without a polygon covers this radius around its placed anchors */
export const ANCHOR_RADIUS_M = 2.5
const CELLS_MAX = 1 << 13
const TABLE_MAX = 1 << 20
/** nearer than this the log-distance model says nothing useful (the near field, the body in the way) */
const MIN_DISTANCE_M = 1
/** candidate positions reach this far beyond the zones (0: the zones are the floor; a wider margin lets a fix drift outside the anchors) */
const CANDIDATE_MARGIN_M = 0

type Pt = [number, number]

export interface FloorMap {
  /** candidate positions: a grid of gnx x gny cells of gres metres from (gx0, gy0) (cell centres); valid[c] = 1 where a subject can be */
  gx0: number
  gy0: number
  gres: number
  gnx: number
  gny: number
  valid: Uint8Array
  /** engine anchor index -> column of the path-loss table, -1 for an anchor without x/y */
  col: Int32Array
  cols: number
  /** path loss in dB, row-major by cell: loss[cell * cols + col] */
  loss: Float32Array
  /** placed anchors' positions by column */
  ax: Float64Array
  ay: Float64Array
  /** zone outlines with their bounding boxes, and the placed anchors of zones without a polygon */
  shapes: { zone: number; pts: Pt[]; x0: number; y0: number; x1: number; y1: number }[]
  discs: { zone: number; x: number; y: number }[]
}

export function inside(x: number, y: number, pts: readonly Pt[]): boolean {
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

/** The floor map of a layout (cached per layout object and path-loss exponent: engines replaying one layout share it). */
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
  const zoneIndex = new Map(layout.zones.map((z, i) => [z.id, i]))
  const shapes: FloorMap['shapes'] = []
  layout.zones.forEach((z, zone) => {
    const p = z.polygon
    if (!p || p.length < 3) return
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity
    for (const [x, y] of p) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y) }
    shapes.push({ zone, pts: p as Pt[], x0, y0, x1, y1 })
  })
  const withPolygon = new Set(shapes.map((s) => s.zone))
  const placed: number[] = []
  const discs: FloorMap['discs'] = []
  for (let a = 0; a < anchors.ids.length; a++) {
    if (Number.isNaN(anchors.x[a]!) || Number.isNaN(anchors.y[a]!)) continue
    placed.push(a)
    const z = zoneIndex.get(anchors.zones[a]!)
    if (z !== undefined && !withPolygon.has(z)) discs.push({ zone: z, x: anchors.x[a]!, y: anchors.y[a]! })
  }
  // the candidate grid covers the zones (polygons, and discs around the anchors of zones without one)
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity
  for (const s of shapes) { x0 = Math.min(x0, s.x0); y0 = Math.min(y0, s.y0); x1 = Math.max(x1, s.x1); y1 = Math.max(y1, s.y1) }
  for (const d of discs) { x0 = Math.min(x0, d.x - ANCHOR_RADIUS_M); y0 = Math.min(y0, d.y - ANCHOR_RADIUS_M); x1 = Math.max(x1, d.x + ANCHOR_RADIUS_M); y1 = Math.max(y1, d.y + ANCHOR_RADIUS_M) }
  if (!Number.isFinite(x0)) { x0 = 0; y0 = 0; x1 = 1; y1 = 1 }
  x0 -= CANDIDATE_MARGIN_M; y0 -= CANDIDATE_MARGIN_M; x1 += CANDIDATE_MARGIN_M; y1 += CANDIDATE_MARGIN_M
  const w = x1 - x0, h = y1 - y0
  const cols = placed.length
  let gres = Math.max(1, Math.sqrt((w * h) / CELLS_MAX))
  if (cols > 0) gres = Math.max(gres, Math.sqrt((w * h * cols) / TABLE_MAX))
  const gnx = Math.max(1, Math.ceil(w / gres)), gny = Math.max(1, Math.ceil(h / gres))
  const valid = new Uint8Array(gnx * gny)
  const reach = CANDIDATE_MARGIN_M + gres / 2
  for (let j = 0; j < gny; j++) for (let i = 0; i < gnx; i++) {
    const cx = x0 + (i + 0.5) * gres, cy = y0 + (j + 0.5) * gres
    let ok = false
    for (const s of shapes) {
      if (cx < s.x0 - reach || cx > s.x1 + reach || cy < s.y0 - reach || cy > s.y1 + reach) continue
      if (inside(cx, cy, s.pts) || edgeDistance(cx, cy, s.pts) <= reach) { ok = true; break }
    }
    if (!ok) for (const d of discs) if (Math.hypot(cx - d.x, cy - d.y) <= ANCHOR_RADIUS_M + reach) { ok = true; break }
    valid[j * gnx + i] = ok ? 1 : 0
  }
  const col = new Int32Array(anchors.ids.length).fill(-1)
  placed.forEach((a, k) => { col[a] = k })
  const ax = Float64Array.from(placed, (a) => anchors.x[a]!)
  const ay = Float64Array.from(placed, (a) => anchors.y[a]!)
  const loss = new Float32Array(gnx * gny * cols)
  for (let j = 0; j < gny; j++) for (let i = 0; i < gnx; i++) {
    const cx = x0 + (i + 0.5) * gres, cy = y0 + (j + 0.5) * gres
    const base = (j * gnx + i) * cols
    for (let k = 0; k < cols; k++) loss[base + k] = 10 * n * Math.log10(Math.max(MIN_DISTANCE_M, Math.hypot(cx - ax[k]!, cy - ay[k]!)))
  }
  return { gx0: x0, gy0: y0, gres, gnx, gny, valid, col, cols, loss, ax, ay, shapes, discs }
}

/** Does the map have zones a position can fall in? */
export function hasZones(m: FloorMap): boolean { return m.shapes.length > 0 || m.discs.length > 0 }

/**
 * Zone scores of a position, on a scale of `scale` metres: e^(-d^2 / 2 scale^2), d the distance from the position
 * to the zone (0 inside its polygon; for a zone without one, beyond ANCHOR_RADIUS_M of its nearest placed anchor).
 * With the engine's switch margin m, a subject moves once it is about scale * sqrt(2 ln((1 + m) / (1 - m)))
 * inside a new zone (1.1 scale at m = 0.3): spatial hysteresis. `out` is zeroed first; false when no zone is
 * within 4 scales.
 */
export function zoneScores(m: FloorMap, x: number, y: number, scale: number, out: Float64Array): boolean {
  out.fill(0)
  const far = 4 * scale
  const k = 1 / (2 * scale * scale)
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
