/**
 * Dwell tracking: a per-subject state machine over located zones.
 * enter -> (threshold reached) dwell -> exit. A dropout shorter than the grace period does not end a visit.
 */
import type { ZoneEvent } from './types.js'

interface Visit {
  zone: string
  since: number
  /** last time the subject was located in this zone */
  lastIn: number
  dwelled: boolean
}

export class DwellTracker {
  private visits = new Map<string, Visit>()

  constructor(
    private readonly thresholdSeconds: (zone: string) => number,
    private readonly graceMs: number,
    private readonly emit: (e: ZoneEvent) => void,
  ) {}

  /** The subject was located in `zone` (or nowhere) at `now`. */
  update(subject: string, zone: string | null, now: number): void {
    const v = this.visits.get(subject)
    if (zone === null) return // nothing located: the grace timer in tick() decides
    if (v && v.zone === zone) {
      v.lastIn = now
      this.checkDwell(subject, v, now)
      return
    }
    if (v) this.exit(subject, v, now)
    const nv: Visit = { zone, since: now, lastIn: now, dwelled: false }
    this.visits.set(subject, nv)
    this.emit({ subject, zone, state: 'enter', seconds: 0, ts: now, since: now })
    this.checkDwell(subject, nv, now)
  }

  tick(now: number): void {
    for (const [subject, v] of this.visits) {
      if (now - v.lastIn > this.graceMs) {
        this.exit(subject, v, v.lastIn)
        continue
      }
      // dwell counts the time the subject was actually located in the zone
      this.checkDwell(subject, v, Math.min(now, v.lastIn))
    }
  }

  end(subject: string, now: number): void {
    const v = this.visits.get(subject)
    if (v) this.exit(subject, v, Math.min(now, v.lastIn))
  }

  get(subject: string): Readonly<Visit> | undefined { return this.visits.get(subject) }
  get size(): number { return this.visits.size }
  subjects(): IterableIterator<[string, Readonly<Visit>]> { return this.visits.entries() }

  private checkDwell(subject: string, v: Visit, now: number): void {
    if (v.dwelled) return
    const seconds = (now - v.since) / 1000
    if (seconds >= this.thresholdSeconds(v.zone)) {
      v.dwelled = true
      this.emit({ subject, zone: v.zone, state: 'dwell', seconds, ts: now, since: v.since })
    }
  }

  private exit(subject: string, v: Visit, at: number): void {
    this.visits.delete(subject)
    this.emit({ subject, zone: v.zone, state: 'exit', seconds: Math.max(0, (at - v.since) / 1000), ts: at, since: v.since })
  }
}
