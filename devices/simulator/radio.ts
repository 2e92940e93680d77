/** Store geometry and a log-distance path-loss radio model with shadowing noise. */
import type { Anchor, Layout, Zone } from '../../edge/contract/resources.js'
import type { Rng } from './rng.js'

export interface Point { x: number; y: number }

export function centroid(z: Zone): Point | null {
  if (!z.polygon || z.polygon.length === 0) return null
  const n = z.polygon.length
  return { x: z.polygon.reduce((s, p) => s + p[0], 0) / n, y: z.polygon.reduce((s, p) => s + p[1], 0) / n }
}

export function bounds(z: Zone): { x0: number; y0: number; x1: number; y1: number } | null {
  if (!z.polygon) return null
  const xs = z.polygon.map((p) => p[0])
  const ys = z.polygon.map((p) => p[1])
  return { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) }
}

export interface RadioModel {
  /** path-loss exponent: 2 in free space, 2-3 in a shop */
  exponent: number
  /** shadowing noise, dB (one sigma) */
  sigmaDb: number
  /** weakest RSSI a scanner reports */
  floorDb: number
}

export const SHOP_RADIO: RadioModel = { exponent: 2.3, sigmaDb: 3.5, floorDb: -96 }

export function rssiAt(txPower: number, d: number, radio: RadioModel, rng: Rng): number | null {
  const rssi = Math.round(txPower - 10 * radio.exponent * Math.log10(Math.max(0.5, d)) + rng.gauss() * radio.sigmaDb)
  if (rssi < radio.floorDb) return null
  return Math.min(0, Math.max(-127, rssi))
}

export const dist = (a: Point, b: Point): number => Math.hypot(a.x - b.x, a.y - b.y)

export function placedAnchors(layout: Layout, kind: Anchor['kind']): (Anchor & Point)[] {
  return layout.anchors.filter((a): a is Anchor & Point => a.kind === kind && a.x !== undefined && a.y !== undefined)
}
