/**
 * Dwell tracking: a per-subject state machine over located zones.
 * enter -> (threshold reached) dwell -> exit. A dropout shorter than the grace period does not end a visit.
 * A visit may start a little before it is reported: the zone filter confirms a move a moment after the new zone
 * took the lead, and the visit (its dwell clock, the previous visit's exit) dates from when it took the lead.
 * The visit lives in the subject's own state (no lookup of its own on the hot path).
 */
import type { ZoneEvent } from './types.js'

export interface Visit {
  zone: string
  since: number
  /** last time the subject was located in this zone */
  lastIn: number
  dwelled: boolean
  /** when the dwell event went out (a later visit cannot start before it) */
  dwellAt: number
}

export interface HasVisit { visit: Visit | null }

export class DwellTracker {
  constructor(
    private readonly thresholdSeconds: (zone: string) => number,
    private readonly graceMs: number,
    private readonly emit: (e: ZoneEvent) => void,
  ) {}

  /**
   * The subject was located in `zone` (or nowhere) at `now`; `started` is when the evidence for that zone began
   * (at most `now`): a new visit dates from then, but never before the previous visit's start or dwell event.
   */
  update(subject: string, h: HasVisit, zone: string | null, now: number, started = now): void {
    if (zone === null) return // nothing located: the grace timer in tick() decides
    let v = h.visit
    let after = -Infinity
    if (v !== null && now - v.lastIn > this.graceMs) {
      // back after longer than the grace period (and no tick in between): that visit ended back then
      this.exit(subject, h, v.lastIn)
      after = v.lastIn
      v = null
    }
    if (v !== null && v.zone === zone) {
      if (now > v.lastIn) v.lastIn = now
      if (!v.dwelled) this.checkDwell(subject, v, now)
      return
    }
    let since = Math.max(after, Math.min(now, started))
    if (v !== null) {
      since = Math.max(since, v.since, v.dwelled ? v.dwellAt : -Infinity)
      this.exit(subject, h, Math.min(v.lastIn, since))
    }
    const nv: Visit = { zone, since, lastIn: now, dwelled: false, dwellAt: 0 }
    h.visit = nv
    this.emit({ subject, zone, state: 'enter', seconds: (now - since) / 1000, ts: now, since })
    this.checkDwell(subject, nv, now)
  }

  /** Time passes: visits whose subject has not been located for the grace period end. */
  tick(subject: string, h: HasVisit, now: number): void {
    const v = h.visit
    if (v === null) return
    if (now - v.lastIn > this.graceMs) this.exit(subject, h, v.lastIn)
  }

  /** End the visit now (layout change, erasure, forgotten subject). */
  end(subject: string, h: HasVisit): void {
    if (h.visit !== null) this.exit(subject, h, h.visit.lastIn)
  }

  private checkDwell(subject: string, v: Visit, now: number): void {
    const seconds = (now - v.since) / 1000
    if (seconds >= this.thresholdSeconds(v.zone)) {
      v.dwelled = true
      v.dwellAt = now
      this.emit({ subject, zone: v.zone, state: 'dwell', seconds, ts: now, since: v.since })
    }
  }

  private exit(subject: string, h: HasVisit, at: number): void {
    const v = h.visit!
    h.visit = null
    this.emit({ subject, zone: v.zone, state: 'exit', seconds: Math.max(0, (at - v.since) / 1000), ts: at, since: v.since })
  }
}
