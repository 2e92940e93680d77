/**
 * Walking distance between zones, estimated from the layout: the centre of a zone is its polygon's centroid,
 * or else the mean position of the anchors placed in it. Straight lines between centres (aisles make real
 * walks longer, but rarely change which clerk is nearest). Pure.
 */
import type { Layout } from '../contract/resources.js'

export type Point = readonly [number, number]

export function polygonCentroid(pts: readonly (readonly [number, number])[]): Point | null {
  if (pts.length === 0) return null
  let a = 0
  let cx = 0
  let cy = 0
  for (let i = 0; i < pts.length; i++) {
    const [x0, y0] = pts[i]!
    const [x1, y1] = pts[(i + 1) % pts.length]!
    const cross = x0 * y1 - x1 * y0
    a += cross
    cx += (x0 + x1) * cross
    cy += (y0 + y1) * cross
  }
  if (Math.abs(a) < 1e-9) {
    // degenerate (a line or a point): the mean of the vertices
    return [pts.reduce((s, p) => s + p[0], 0) / pts.length, pts.reduce((s, p) => s + p[1], 0) / pts.length]
  }
  return [cx / (3 * a), cy / (3 * a)]
}

/** Zone centres from a layout; zones without a polygon or placed anchors have none. */
export function zoneCentres(layout: Layout): Map<string, Point> {
  const out = new Map<string, Point>()
  for (const z of layout.zones) {
    const c = z.polygon && z.polygon.length >= 3 ? polygonCentroid(z.polygon as [number, number][]) : null
    if (c) { out.set(z.id, c); continue }
    const placed = layout.anchors.filter((a) => a.zone === z.id && a.x !== undefined && a.y !== undefined)
    if (placed.length) out.set(z.id, [placed.reduce((s, a) => s + a.x!, 0) / placed.length, placed.reduce((s, a) => s + a.y!, 0) / placed.length])
  }
  return out
}

/** Distance in layout units between two zones; 0 within a zone; Infinity when either is unknown or unplaced. */
export function zoneDistance(centres: Map<string, Point>): (a: string | null, b: string | null) => number {
  return (a, b) => {
    if (a === null || b === null) return Infinity
    if (a === b) return 0
    const pa = centres.get(a)
    const pb = centres.get(b)
    if (!pa || !pb) return Infinity
    return Math.hypot(pa[0] - pb[0], pa[1] - pb[1])
  }
}
