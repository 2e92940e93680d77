/**
 * Calibration: store IT walks each zone with a phone or tag; once a second the engine's smoothed signal
 * vector for that subject is recorded as a labelled fingerprint. The first seconds of a session are not
 * recorded while the filters settle. The same recorder feeds the replay tool and the gateway.
 */
import type { Fingerprint } from './locators.js'

export interface VectorSource { vector(subject: string, now: number): Record<string, number> | null }

export interface SessionSpec { zone: string; subject: string; startedAt: number; seconds: number }

export class CalibrationRecorder {
  private lastAt = -Infinity
  readonly prints: Fingerprint[] = []

  constructor(readonly spec: SessionSpec, private readonly settleMs = 3000, private readonly everyMs = 1000) {}

  get endsAt(): number { return this.spec.startedAt + this.spec.seconds * 1000 }
  done(now: number): boolean { return now >= this.endsAt }

  /** Call on every tick (or after each reading); records at most one fingerprint per `everyMs`. */
  sample(src: VectorSource, now: number): Fingerprint | null {
    if (now < this.spec.startedAt + this.settleMs || now > this.endsAt || now - this.lastAt < this.everyMs) return null
    const v = src.vector(this.spec.subject, now)
    if (!v || Object.keys(v).length === 0) return null
    this.lastAt = now
    const p: Fingerprint = { zone: this.spec.zone, rssi: v }
    this.prints.push(p)
    return p
  }
}
