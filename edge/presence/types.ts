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

/** A smoothed view of one subject: anchor -> smoothed RSSI, only fresh anchors. */
export interface SmoothedReading { anchor: string; rssi: number; ts: number }

/** Locators map a subject's smoothed readings to a zone; they may keep per-subject state (hysteresis). */
export interface Locator {
  readonly name: string
  /** zone id, or null when there is nothing to go on */
  locate(subject: string, readings: readonly SmoothedReading[], now: number): string | null
  forget(subject: string): void
  setLayout(layout: Layout): void
}

export interface PresenceOptions {
  staleSeconds: number
  smoothing: number
  defaultDwellSeconds: number
  exitGraceSeconds: number
}

export interface PresenceEngine {
  observe(r: Reading): void
  /** advance time: dwell thresholds, stale subjects, exits */
  tick(now: number): void
  snapshot(now: number): SubjectPresence[]
  setLayout(layout: Layout): void
  forget(subject: string): void
  readonly trackedSubjects: number
}
