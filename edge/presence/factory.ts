/** Builds the presence engine a store's config asks for. */
import type { Layout } from '../contract/resources.js'
import { Presence } from './engine.js'
import { FingerprintLocator, PositionLocator, StrongestAnchorLocator, type FingerprintModelData } from './locators.js'
import { makeSmoother, type SmootherName } from './smoothing.js'
import type { Locator, LocatorName, PresenceOptions, ZoneEvent } from './types.js'

export interface PresenceConfig extends PresenceOptions {
  locator: LocatorName
  smoothing: { kind: SmootherName; alpha: number; q: number; r: number; gate: number; window: number; percentile: number }
  marginDb: number
  pathLossExponent: number
  knn: number
  fingerprintBandwidth: number
  silenceDecay: number
}

export function makeLocator(name: LocatorName, cfg: Pick<PresenceConfig, 'marginDb' | 'pathLossExponent' | 'knn' | 'fingerprintBandwidth' | 'silenceDecay'>, model: FingerprintModelData | null = null): Locator {
  switch (name) {
    case 'strongest': return new StrongestAnchorLocator(cfg.marginDb, cfg.silenceDecay)
    case 'position': return new PositionLocator(cfg.pathLossExponent, -59, cfg.silenceDecay)
    case 'fingerprint': return new FingerprintLocator(model ? { ...model, k: cfg.knn } : undefined, cfg.silenceDecay, cfg.fingerprintBandwidth)
  }
}

export interface BuiltPresence {
  engine: Presence
  /** the locator actually in use and why, for /readyz and the logs */
  locator: LocatorName
  note: string
}

export function buildPresence(cfg: PresenceConfig, layout: Layout, emit: (e: ZoneEvent) => void, model: FingerprintModelData | null): BuiltPresence {
  const smoother = makeSmoother(cfg.smoothing.kind, cfg.smoothing)
  let name: LocatorName = cfg.locator
  let note = `${cfg.locator} locator, ${smoother.name} smoothing`
  let locator = makeLocator(name, cfg, model)
  const engine = new Presence(layout, cfg, emit, { smoother, locator })
  if (!locator.ready()) {
    const why = name === 'fingerprint' ? 'no calibration yet' : 'no zone polygons or anchor positions in the layout'
    name = 'strongest'
    locator = makeLocator(name, cfg)
    note = `${cfg.locator} locator not usable (${why}): using the strongest anchor until then`
    return { engine: new Presence(layout, cfg, emit, { smoother, locator }), locator: name, note }
  }
  return { engine, locator: name, note }
}
