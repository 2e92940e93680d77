/**
 * Presence: raw RSSI readings in, zone presence and dwell events out. Pure: no I/O, no wall clock.
 * Both geometries feed one engine: a fixed scanner hearing a mobile subject, and a mobile subject hearing a
 * fixed beacon; either way a reading links a subject to an anchor.
 */
import type { Layout } from '../contract/resources.js'
import type { DwellState } from '../contract/inbound.js'

export interface Reading {
  /** pseudonymous subject key */
  subject: string
  /** anchor id: scanner id or fixed beacon subject id */
  anchor: string
  rssi: number
  /** RSSI at 1 m as the transmitter reports it, when known */
  txPower?: number | undefined
  ts: number
}

export interface ZoneEvent {
  subject: string
  zone: string
  state: DwellState
  /** seconds in the zone so far (enter: since when the zone filter first favoured it, usually 0-2 s) */
  seconds: number
  ts: number
  /** when the visit started */
  since: number
}

export interface SubjectPresence {
  subject: string
  zone: string | null
  since: number | null
  dwellSeconds: number
  lastSeen: number
}

/**
 * A subject's smoothed readings, packed for cache locality. Entry i starts at o = i * stride:
 * buf[o] anchor index, buf[o + 1] time of the last reading, buf[o + 2] smoothed RSSI, then smoother state.
 * Only the first `n` entries are live, and all are fresh (the engine drops stale ones before locating).
 */
export interface Readings {
  buf: Float64Array
  n: number
  stride: number
  /** the locator's own state for this subject (Locator.stateSize floats, zero at first), null when it keeps none */
  track?: Float64Array | null
}

/**
 * The signal of entry `o` at time `now`: its smoothed RSSI, lowered by `decayPerMs` for every millisecond the
 * anchor has been silent beyond a second (a phone that stops hearing a beacon has usually walked away from it).
 */
export function signalAt(buf: Float64Array, o: number, now: number, decayPerMs: number): number {
  const silent = now - buf[o + 1]! - 1000
  return silent > 0 ? buf[o + 2]! - silent * decayPerMs : buf[o + 2]!
}

/** The anchors of the current layout, by index (the engine's anchor table). */
export interface AnchorTable {
  ids: readonly string[]
  zones: readonly string[]
  /** metres, NaN when unknown */
  x: Float64Array
  y: Float64Array
  /** RSSI at 1 m, NaN when unknown */
  txPower: Float64Array
  /** 1 for a fixed beacon that mobile subjects hear (ranging), 0 for a scanner that hears them */
  beacon?: Uint8Array
}

/**
 * Locators score every zone of the layout for a subject's fresh smoothed readings: `out[z]` (z indexing
 * layout.zones) gets a non-negative weight of evidence, higher meaning more likely. The engine's zone filter
 * turns the scores into a decision over time. `r` is only valid during the call.
 */
export interface Locator {
  readonly name: string
  /**
   * Floats of per-subject state the locator keeps (a motion model's), handed back as `r.track` on every call;
   * the engine allocates them zeroed with the subject and drops them with it. 0 or absent: stateless.
   */
  readonly stateSize?: number
  /**
   * True when the scores already are a filtered probability over time (the locator has a motion model): the
   * zone filter then applies only its switch margin, instead of stacking a second layer of inertia on top.
   */
  readonly tracks?: boolean
  /** fills out[]; returns false when there is nothing to go on */
  score(r: Readings, now: number, out: Float64Array): boolean
  setLayout(layout: Layout, anchors: AnchorTable): void
  /** false when the locator cannot work yet (a fingerprint locator without calibration) */
  ready(): boolean
}

export type LocatorName = 'strongest' | 'fingerprint' | 'position' | 'centroid'
/** presence.locator: a locator, or `auto` (fingerprints once calibrated, else position where the layout has geometry, else strongest) */
export type LocatorChoice = LocatorName | 'auto'

export interface PresenceOptions {
  staleSeconds: number
  defaultDwellSeconds: number
  exitGraceSeconds: number
  /** zone filter: probability a subject is still in its zone a second later (a hidden Markov model's prior) */
  stayProbability: number
  /** zone filter: a challenger's probability must beat the current zone's by this much before the subject moves */
  switchMargin: number
  /** zone filter: evidence every zone keeps in each update (higher = one scan counts for less) */
  evidenceFloor: number
  /** locate (update the zone filter) at most this often; readings in between only smooth */
  locateEveryMs: number
  /**
   * subjects tracked at most (ids come from the air and from devices): past it, new subjects other than
   * members (pm:) and bands are not tracked until stale ones drop out; default 20,000
   */
  maxSubjects?: number
}

export interface PresenceEngine {
  observe(r: Reading): void
  /** observe() without the Reading object: the ingest hot path */
  observeRaw(subject: string, anchor: string, rssi: number, ts: number): void
  /** index of an anchor in the layout, -1 when it is not placed: resolve once per batch */
  anchorSlot(anchor: string): number
  /** observeRaw() with the anchor resolved by anchorSlot() */
  observeAt(subject: string, anchorSlot: number, rssi: number, ts: number): void
  /** advance time: dwell thresholds, stale subjects, exits */
  tick(now: number): void
  snapshot(now: number): SubjectPresence[]
  setLayout(layout: Layout): void
  forget(subject: string): void
  readonly trackedSubjects: number
}
