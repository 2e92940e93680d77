/**
 * First locator: the anchor with the strongest smoothed signal decides the zone. A challenger zone has to
 * beat the current one by `marginDb` before the subject moves (simple hysteresis).
 */
import type { Layout } from '../contract/resources.js'
import type { Locator, SmoothedReading } from './types.js'

export class NearestAnchorLocator implements Locator {
  readonly name = 'nearest'
  private anchorZone = new Map<string, string>()
  private anchorTx = new Map<string, number>()
  private current = new Map<string, string>()

  constructor(layout: Layout, private readonly marginDb = 3) {
    this.setLayout(layout)
  }

  setLayout(layout: Layout): void {
    this.anchorZone = new Map()
    this.anchorTx = new Map()
    for (const a of layout.anchors) {
      if (a.zone !== undefined && a.kind !== 'button') this.anchorZone.set(a.id, a.zone)
      if (a.txPower !== undefined) this.anchorTx.set(a.id, a.txPower)
    }
    this.current.clear()
  }

  locate(subject: string, readings: readonly SmoothedReading[]): string | null {
    // strongest signal per zone
    let best: string | null = null
    let bestRssi = -Infinity
    let currentZoneRssi = -Infinity
    const cur = this.current.get(subject)
    for (const r of readings) {
      const zone = this.anchorZone.get(r.anchor)
      if (zone === undefined) continue
      if (r.rssi > bestRssi) { bestRssi = r.rssi; best = zone }
      if (zone === cur && r.rssi > currentZoneRssi) currentZoneRssi = r.rssi
    }
    if (best === null) return null
    if (cur !== undefined && best !== cur && currentZoneRssi > -Infinity && bestRssi - currentZoneRssi < this.marginDb) return cur
    this.current.set(subject, best)
    return best
  }

  forget(subject: string): void {
    this.current.delete(subject)
  }
}
