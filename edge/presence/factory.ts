/**
 * Builds the presence engine a store's config asks for, and chooses its locator for every layout.
 *
 * presence.locator:
 *  - `auto` (the default): fingerprints once the store is calibrated; before that the position tracker where
 *    the layout has zone polygons and at least three anchors with x/y; otherwise the strongest anchor.
 *  - `fingerprint`: the same, meant for a store that will be calibrated.
 *  - `position`, `centroid`: these where the layout allows, the strongest anchor otherwise.
 *  - `strongest`: always.
 * The choice is made again on every layout (`PUT /v1/admin/layout`) and when a calibration model arrives.
 */
import type { Layout } from '../contract/resources.js'
import { Presence, type LocatorPolicy } from './engine.js'
import { FingerprintLocator, StrongestAnchorLocator, type FingerprintModelData } from './locators.js'
import { makeSmoother, type SmootherName } from './smoothing.js'
import { CentroidLocator, PositionLocator } from './tracking.js'
import type { AnchorTable, Locator, LocatorChoice, LocatorName, PresenceOptions, ZoneEvent } from './types.js'

export interface PresenceConfig extends PresenceOptions {
  locator: LocatorChoice
  smoothing: { kind: SmootherName; alpha: number; tau?: number | undefined; q: number; r: number; gate: number; window: number; percentile: number }
  marginDb: number
  pathLossExponent: number
  knn: number
  fingerprintBandwidth: number
  silenceDecay: number
  position?: { sigmaDb: number; maxSpeed: number; acceleration: number; zoneScale: number; learnGains: boolean } | undefined
  /** how often the gateway ticks the engine (ms) */
  tickMs?: number
}

type LocatorConfig = Pick<PresenceConfig, 'marginDb' | 'pathLossExponent' | 'knn' | 'fingerprintBandwidth' | 'silenceDecay' | 'position'>

export function makeLocator(name: LocatorName, cfg: LocatorConfig, model: FingerprintModelData | null = null): Locator {
  switch (name) {
    case 'strongest': return new StrongestAnchorLocator(cfg.marginDb, cfg.silenceDecay)
    case 'fingerprint': return new FingerprintLocator(model ? { ...model, k: cfg.knn } : undefined, cfg.silenceDecay, cfg.fingerprintBandwidth)
    case 'centroid': return new CentroidLocator(cfg.silenceDecay)
    case 'position': {
      const p = cfg.position
      return new PositionLocator({
        pathLossExponent: cfg.pathLossExponent, silenceDecay: cfg.silenceDecay,
        ...(p ? { sigmaDb: p.sigmaDb, maxSpeed: p.maxSpeed, acceleration: p.acceleration, zoneScale: p.zoneScale, learnOffsets: p.learnGains } : {}),
      })
    }
  }
}

/** Does the layout place zones and anchors well enough for a geometric locator? */
export function hasGeometry(layout: Layout, anchors: AnchorTable): boolean {
  let placed = 0
  for (let a = 0; a < anchors.ids.length; a++) if (!Number.isNaN(anchors.x[a]!) && !Number.isNaN(anchors.y[a]!)) placed++
  return placed >= 3 && layout.zones.some((z) => (z.polygon?.length ?? 0) >= 3)
}

/**
 * The locator choice of presence.locator as a policy the engine applies on every layout. Locators are kept
 * while they still fit (a position tracker keeps the anchor gains it learned; a calibration stays in use).
 */
export function locatorPolicy(cfg: LocatorConfig & { locator: LocatorChoice; smoothing: { kind: string } }, model: FingerprintModelData | null): LocatorPolicy {
  const choice = cfg.locator
  let calibrated: Locator | null = model ? makeLocator('fingerprint', cfg, model) : null
  const kept = new Map<LocatorName, Locator>()
  const get = (name: LocatorName, current: Locator | null): Locator => {
    if (current?.name === name && name !== 'fingerprint') return current
    let l = kept.get(name)
    if (!l) kept.set(name, (l = makeLocator(name, cfg)))
    return l
  }
  return (layout, anchors, current) => {
    if (current?.name === 'fingerprint' && current.ready()) calibrated = current
    const smoothing = `${cfg.smoothing.kind} smoothing`
    if (choice === 'strongest') return { locator: get('strongest', current), note: `strongest locator, ${smoothing}` }
    if ((choice === 'auto' || choice === 'fingerprint') && calibrated) {
      calibrated.setLayout(layout, anchors)
      if (calibrated.ready()) {
        const what = (calibrated as Locator & { describe?: () => string }).describe?.() ?? 'calibrated'
        return { locator: calibrated, note: `${choice === 'auto' ? 'auto: ' : ''}fingerprint locator (${what}), ${smoothing}` }
      }
    }
    const geometric: LocatorName = choice === 'centroid' ? 'centroid' : 'position'
    const why = choice === 'fingerprint' ? 'no calibration yet' : ''
    if (hasGeometry(layout, anchors)) {
      const l = get(geometric, current)
      l.setLayout(layout, anchors)
      if (l.ready()) {
        const note = choice === 'auto' ? `auto: ${geometric} locator (zone polygons and placed anchors, not calibrated), ${smoothing}`
          : choice === geometric ? `${geometric} locator, ${smoothing}` : `${choice} locator not usable yet (${why}): using the ${geometric} locator until then, ${smoothing}`
        return { locator: l, note }
      }
    }
    const reason = choice === 'auto' ? 'auto: strongest anchor locator (no zone polygons or fewer than 3 anchors with x/y)'
      : `${choice} locator not usable (${why || 'no zone polygons or fewer than 3 anchors with x/y in the layout'}): using the strongest anchor until then`
    return { locator: get('strongest', current), note: `${reason}, ${smoothing}` }
  }
}

export interface BuiltPresence {
  engine: Presence
  /** the locator actually in use and why, for /readyz and the logs (engine.note stays current after layouts) */
  locator: LocatorName
  note: string
}

export function buildPresence(cfg: PresenceConfig, layout: Layout, emit: (e: ZoneEvent) => void, model: FingerprintModelData | null): BuiltPresence {
  const smoother = makeSmoother(cfg.smoothing.kind, cfg.smoothing)
  const engine = new Presence(layout, cfg, emit, { smoother, policy: locatorPolicy(cfg, model) })
  return { engine, locator: engine.locator.name as LocatorName, note: engine.note }
}
