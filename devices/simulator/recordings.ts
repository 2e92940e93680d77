/**
 * Labelled recordings from the simulator's radio model: a tag wandering slowly inside each zone of a layout
 * while the fixed scanners hear it. Used to calibrate the demo store (npm run demo:calibrate) and as the
 * `demo` dataset of the replay tool, where it is compared with the real recordings.
 */
import type { Layout } from '../../edge/contract/resources.js'
import { SHOP_RADIO, bounds, centroid, dist, placedAnchors, rssiAt, type Point, type RadioModel } from './radio.js'
import { Rng } from './rng.js'

export interface RecordedScan { ts: number; readings: { anchor: string; rssi: number }[] }
export interface ZoneRecording { zone: string; scans: RecordedScan[] }

/** `seconds` of scans per zone: the tag drifts around the middle of the zone at shopping pace (0.3 m/s). */
export function zoneRecordings(layout: Layout, seconds: number, seed: number, radio: RadioModel = SHOP_RADIO): ZoneRecording[] {
  const rng = new Rng(seed)
  const scanners = placedAnchors(layout, 'scanner')
  const out: ZoneRecording[] = []
  for (const z of layout.zones) {
    const c = centroid(z)
    const b = bounds(z)
    if (!c || !b) continue
    let pos: Point = { ...c }
    let target: Point = { ...c }
    const scans: RecordedScan[] = []
    for (let t = 0; t < seconds; t++) {
      if (dist(pos, target) < 0.3) target = { x: c.x + rng.range(-0.3, 0.3) * (b.x1 - b.x0), y: c.y + rng.range(-0.3, 0.3) * (b.y1 - b.y0) }
      const d = dist(pos, target)
      const step = Math.min(d, 0.3)
      if (d > 0) pos = { x: pos.x + ((target.x - pos.x) / d) * step, y: pos.y + ((target.y - pos.y) / d) * step }
      const readings: { anchor: string; rssi: number }[] = []
      for (const a of scanners) {
        const rssi = rssiAt(a.txPower ?? -59, dist(pos, a), radio, rng)
        if (rssi !== null) readings.push({ anchor: a.id, rssi })
      }
      scans.push({ ts: t * 1000, readings })
    }
    out.push({ zone: z.id, scans })
  }
  return out
}
