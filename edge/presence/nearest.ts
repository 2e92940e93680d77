/**
 * First locator: the anchor with the strongest smoothed signal decides the zone. A challenger zone has to
 * beat the current one by `marginDb` before the subject moves (simple hysteresis).
 */
import type { Layout } from '../contract/resources.js'
import { STRIDE, type Locator, type Readings } from './types.js'

export interface NearestSlot { current: string | null }

export class NearestAnchorLocator implements Locator<NearestSlot> {
  readonly name = 'nearest'
  constructor(private readonly marginDb = 3) {}

  newSlot(): NearestSlot { return { current: null } }

  setLayout(_layout: Layout, _anchors: readonly string[]): void {}

  locate(slot: NearestSlot, r: Readings, zoneOf: readonly string[]): string | null {
    let best: string | null = null
    let bestRssi = -Infinity
    let currentRssi = -Infinity
    const cur = slot.current
    const buf = r.buf
    for (let i = 0, o = 0; i < r.n; i++, o += STRIDE) {
      const rssi = buf[o + 1]!
      const zone = zoneOf[buf[o]!]!
      if (rssi > bestRssi) { bestRssi = rssi; best = zone }
      if (zone === cur && rssi > currentRssi) currentRssi = rssi
    }
    if (best === null) return null
    if (cur !== null && best !== cur && currentRssi > -Infinity && bestRssi - currentRssi < this.marginDb) return cur
    slot.current = best
    return best
  }
}
