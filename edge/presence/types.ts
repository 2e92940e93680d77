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
  /** seconds in the zone so far (enter: 0) */
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
export interface Readings { buf: Float64Array; n: number; stride: number }

/** The anchors of the current layout, by index (the engine's anchor table). */
export interface AnchorTable {
  ids: readonly string[]
  zones: readonly string[]
  /** metres, NaN when unknown */
  x: Float64Array
  y: Float64Array
  /** RSSI at 1 m, NaN when unknown */
  txPower: Float64Array
}

/**
 * Locators map a subject's fresh smoothed readings to a zone. Per-subject memory lives in a slot the locator
 * creates and the engine keeps with the subject (no extra lookup). `r` is only valid during the call.
 */
export interface Locator<Slot = unknown> {
  readonly name: string
  newSlot(): Slot
  /** zone id, or null when there is nothing to go on */
  locate(slot: Slot, r: Readings, now: number): string | null
  /** zones from most to least likely, for evaluation (top-2 accuracy) and explanations */
  rank(r: Readings, max: number): string[]
  setLayout(layout: Layout, anchors: AnchorTable): void
  /** false when the locator cannot work yet (a fingerprint locator without calibration) */
  ready(): boolean
}

export type LocatorName = 'strongest' | 'fingerprint' | 'position'

export interface PresenceOptions {
  staleSeconds: number
  defaultDwellSeconds: number
  exitGraceSeconds: number
  /** a new zone must be the locator's answer this long before the subject moves (0 = at once) */
  switchSeconds: number
  /** locate a subject at most this often; readings in between only update the smoothing (0 = every reading) */
  locateEveryMs: number
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
