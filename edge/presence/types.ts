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
 * A subject's smoothed readings, packed for cache locality: entry i is
 * `buf[i*STRIDE]` anchor index, `buf[i*STRIDE+1]` smoothed RSSI, `buf[i*STRIDE+2]` time of the last reading.
 * Only the first `n` entries are live, all fresh (the engine prunes stale ones before locating).
 */
export interface Readings { buf: Float64Array; n: number }
export const STRIDE = 3

/**
 * Locators map a subject's fresh smoothed readings to a zone. Per-subject memory (hysteresis, a filter) lives
 * in a slot the locator creates and the engine keeps with the subject, so locating costs no extra lookup.
 * `r` belongs to the engine and is valid only during the call; `zoneOf[anchor index]` gives an anchor's zone.
 */
export interface Locator<Slot = unknown> {
  readonly name: string
  newSlot(): Slot
  /** zone id, or null when there is nothing to go on */
  locate(slot: Slot, r: Readings, zoneOf: readonly string[], now: number): string | null
  setLayout(layout: Layout, anchorIds: readonly string[]): void
}

export interface PresenceOptions {
  staleSeconds: number
  smoothing: number
  defaultDwellSeconds: number
  exitGraceSeconds: number
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
