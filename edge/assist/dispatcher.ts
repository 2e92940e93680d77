/**
 * Call-for-service dispatch (pure: time comes in as arguments, ids from an injected generator; what must
 * happen outside is handed to `emit` as effects: band alerts, member frames, state transitions to record).
 *
 * A request (from a call button, a shelf scan of a call code, the member app, or the gateway itself) is
 *   queued    -> offered to the nearest available clerk (policy "nearest"), or to every available clerk at
 *                once (policy "broadcast", the pager baseline)
 *   offered   -> accepted by a clerk, or after `acceptTimeoutMs` (or a decline, or the band going offline)
 *                offered to the next nearest; with hedging, the next nearest is offered it too once the
 *                newest offer has waited `hedgeAfterMs`, while that offer stays open (first to accept goes);
 *                after `maxOffers` unaccepted offers or `escalateAfterMs` the supervisors' bands are alerted
 *                too (an escalation), and offers go on, round the clerks again
 *   accepted  -> arrived when the clerk's band enters the request's zone (at once if it is already there)
 *   arrived   -> done when the clerk presses done (also allowed from accepted: presence may miss the arrival)
 * and from any open state: cancelled (the button's cancel, the app, store IT), expired (nobody accepted
 * within `expireAfterMs`). An accepted request whose band goes offline or off shift before arriving goes
 * back to queued with a higher priority and is offered again. An arrived request nobody closes is closed
 * as done after `closeAfterMs` (counted apart: no "done" time is measured for it).
 *
 * Available clerk: a band on shift, with a status heartbeat within `heartbeatTimeoutMs`, battery not empty,
 * no accepted request and no pending offer. Nearest: by the zone the band was last located in (unknown
 * locations last), ties to the clerk idle longest. Supervisors (by clerk id) get escalations, not first offers.
 *
 * Acknowledgements are idempotent: a duplicate is ignored, a late accept of an offer that timed out still
 * counts if nobody else took the request meanwhile (the clerk is on the way; the newer offer is withdrawn),
 * an accept of a request somebody else took, or that is closed, gets an alert saying so, and a clerk who
 * already has an accepted request is refused a second one (alert "busy"; the offer moves on).
 */

export type AssistState = 'queued' | 'offered' | 'accepted' | 'arrived' | 'done' | 'cancelled' | 'expired'
export const ASSIST_STATES: readonly AssistState[] = ['queued', 'offered', 'accepted', 'arrived', 'done', 'cancelled', 'expired']
export const OPEN_STATES: ReadonlySet<AssistState> = new Set(['queued', 'offered', 'accepted', 'arrived'])
export type AssistSource = 'button' | 'scan' | 'app' | 'gateway' | 'admin'

export interface AssistPolicy {
  mode: 'nearest' | 'broadcast'
  acceptTimeoutMs: number
  maxOffers: number
  escalateAfterMs: number
  expireAfterMs: number
  heartbeatTimeoutMs: number
  closeAfterMs: number
  /**
   * hedging (policy "nearest"): when the newest offer has waited this long, the next nearest clerk is offered
   * the request too, while the earlier offer stays open until its own timeout; first to accept goes.
   * Infinity (or >= acceptTimeoutMs) = one clerk at a time.
   */
  hedgeAfterMs?: number
  /** bands tracked at most (ids come from outside); default 1000 */
  maxBands?: number
  /**
   * policy "nearest": the nearest free clerk is offered the request together with every free clerk at most
   * this much further away (layout units, metres), at most `maxFanout` in all: among clerks about as near,
   * whoever reacts first goes. 0 = the nearest alone.
   */
  fanoutDistance?: number
  maxFanout?: number
  /** clerk ids of the supervisors' group */
  supervisors: readonly string[]
  /** how long a closed request still answers late acknowledgements */
  keepClosedMs?: number
}

export interface AssistOffer {
  alertId: string
  band: string
  clerkId: string | null
  at: number
  kind: 'assist' | 'escalation'
  outcome: 'pending' | 'accepted' | 'declined' | 'timeout' | 'offline' | 'withdrawn' | 'busy'
  /** when it stopped being pending */
  endedAt: number | null
}

export interface AssistRequest {
  id: string
  source: AssistSource
  /** the button, shelf code, or member the request came from (a repeated call from it raises priority) */
  origin: string
  memberId: string | null
  zone: string | null
  priority: 1 | 2 | 3
  presses: number
  state: AssistState
  createdAt: number
  updatedAt: number
  offers: AssistOffer[]
  escalatedAt: number | null
  acceptedBy: { band: string; clerkId: string | null } | null
  acceptedAt: number | null
  arrivedAt: number | null
  closedAt: number | null
  /** why it closed: done | auto-closed | cancelled:<by> | expired */
  closeReason: string | null
  /** times it went back to the queue after an accepting clerk dropped out */
  requeues: number
  /** rounds of offers made (one clerk a round when nearest, every free clerk when broadcast) */
  rounds: number
}

export interface BandState {
  band: string
  clerkId: string | null
  onShift: boolean
  battery: number | null
  heartbeatAt: number
  zone: string | null
  zoneAt: number | null
  /** the request this clerk has accepted and not finished */
  busyWith: string | null
  /** when the clerk last became free (for ties: the one idle longest goes) */
  freeSince: number
}

export type AckIgnored = 'unknown-alert' | 'not-yours' | 'duplicate' | 'closed' | 'taken' | 'busy' | 'late' | 'not-accepted'

export type AssistEffect =
  | { kind: 'alert'; band: string; alert: { alertId: string; kind: string; zone: string; text: string; priority: 1 | 2 | 3; ts: number } }
  | { kind: 'transition'; request: AssistRequest; from: AssistState | null; to: AssistState; reason: string; at: number }
  | { kind: 'event'; request: AssistRequest; event: 'escalated' | 'priority-raised' | 'offer-ended'; detail: string; at: number }
  | { kind: 'member'; memberId: string; requestId: string; state: AssistState; zone: string | null; detail?: string }
  | { kind: 'ack-ignored'; band: string; alertId: string; reason: AckIgnored }

export interface CallInput {
  source: AssistSource
  origin: string
  memberId?: string | null
  zone: string | null
  ts: number
  priority?: 1 | 2 | 3
}


export class AssistDispatcher {
  private readonly requests = new Map<string, AssistRequest>()
  private readonly byOrigin = new Map<string, string>()
  private readonly byAlert = new Map<string, string>()
  private readonly bands = new Map<string, BandState>()
  private readonly supervisors: Set<string>

  constructor(
    private readonly policy: AssistPolicy,
    private readonly distance: (from: string | null, to: string | null) => number,
    private readonly emit: (e: AssistEffect) => void,
    private readonly newId: () => string,
    /** how a band names a zone to a clerk (the layout's name; the id when it has none) */
    private readonly zoneName: (zone: string) => string = (z) => z,
  ) {
    this.supervisors = new Set(policy.supervisors)
  }

  // ---------------------------------------------------------------- reads

  get(id: string): AssistRequest | undefined { return this.requests.get(id) }
  list(): AssistRequest[] { return [...this.requests.values()] }
  open(): AssistRequest[] { return this.list().filter((r) => OPEN_STATES.has(r.state)) }
  bandList(): BandState[] { return [...this.bands.values()] }
  band(id: string): BandState | undefined { return this.bands.get(id) }
  /** the open request of a member, if any */
  openFor(memberId: string): AssistRequest | undefined {
    return this.open().find((r) => r.memberId === memberId)
  }

  available(b: BandState, now: number): boolean {
    return b.onShift && now - b.heartbeatAt <= this.policy.heartbeatTimeoutMs && b.battery !== 0 && b.busyWith === null && !this.hasPendingOffer(b.band)
  }

  private alive(b: BandState | undefined, now: number): boolean {
    return !!b && b.onShift && now - b.heartbeatAt <= this.policy.heartbeatTimeoutMs && b.battery !== 0
  }

  private hasPendingOffer(band: string): boolean {
    for (const r of this.requests.values()) {
      if (r.state !== 'offered' && r.state !== 'queued') continue
      if (r.offers.some((o) => o.band === band && o.outcome === 'pending' && o.kind === 'assist')) return true
    }
    return false
  }

  // ---------------------------------------------------------------- inputs

  /** A call. A repeated call from the same origin while its request is open raises that request's priority. */
  call(c: CallInput): { request: AssistRequest; created: boolean } {
    const key = `${c.source}:${c.origin}`
    const openId = this.byOrigin.get(key)
    const open = openId ? this.requests.get(openId) : undefined
    if (open && OPEN_STATES.has(open.state)) {
      open.presses++
      if (open.priority < 3) {
        open.priority = (open.priority + 1) as 1 | 2 | 3
        open.updatedAt = c.ts
        this.emit({ kind: 'event', request: snapshot(open), event: 'priority-raised', detail: `priority ${open.priority} after ${open.presses} calls`, at: c.ts })
        // the clerk it is with hears it again, louder
        for (const o of open.offers) if (o.outcome === 'pending') this.alert(o.band, o.alertId, o.kind, open, c.ts)
        if (open.acceptedBy && open.state === 'accepted') {
          const o = open.offers.find((x) => x.outcome === 'accepted')
          if (o) this.alert(o.band, o.alertId, 'reminder', open, c.ts, `Called again: ${this.place(open)}`)
        }
      }
      return { request: open, created: false }
    }
    const r: AssistRequest = {
      id: this.newId(), source: c.source, origin: c.origin, memberId: c.memberId ?? null, zone: c.zone,
      priority: c.priority ?? 1, presses: 1, state: 'queued', createdAt: c.ts, updatedAt: c.ts, offers: [],
      escalatedAt: null, acceptedBy: null, acceptedAt: null, arrivedAt: null, closedAt: null, closeReason: null, requeues: 0, rounds: 0,
    }
    this.requests.set(r.id, r)
    this.byOrigin.set(key, r.id)
    this.transition(r, 'queued', `call from ${c.source}`, c.ts, null)
    this.dispatch(r, c.ts)
    return { request: r, created: true }
  }

  /** Withdraw the open request of an origin (a button's cancel, the app). */
  cancelOrigin(source: AssistSource, origin: string, ts: number, by: string): AssistRequest | null {
    const id = this.byOrigin.get(`${source}:${origin}`)
    const r = id ? this.requests.get(id) : undefined
    if (!r || !OPEN_STATES.has(r.state)) return null
    this.close(r, 'cancelled', `cancelled:${by}`, ts)
    return r
  }

  /** Cancel by request id (store IT, or the member it belongs to). */
  cancel(id: string, ts: number, by: string, memberId?: string): AssistRequest | null {
    const r = this.requests.get(id)
    if (!r || !OPEN_STATES.has(r.state)) return null
    if (memberId !== undefined && r.memberId !== memberId) return null
    this.close(r, 'cancelled', `cancelled:${by}`, ts)
    return r
  }

  /** bands not tracked because the table was full of live ones (a flood of made-up band ids) */
  bandsRefused = 0
  private noRoomUntil = -Infinity

  /**
   * Room for one more band: bands are keyed by ids from outside, so the table is bounded (`maxBands`); when it
   * is full the band silent longest that holds nothing is forgotten, and if every band is live the new one waits.
   */
  private roomForBand(now: number): boolean {
    const max = this.policy.maxBands ?? 1000
    if (this.bands.size < max) return true
    // every band was live a moment ago: do not scan again for every new id in a flood
    if (now < this.noRoomUntil) { this.bandsRefused++; return false }
    // amortised: one scan frees a tenth of the table (the bands silent longest), not one slot per new id
    const idle = [...this.bands.values()].filter((b) => b.busyWith === null && !this.alive(b, now) && !this.hasPendingOffer(b.band))
    if (idle.length === 0) { this.bandsRefused++; this.noRoomUntil = now + 1000; return false }
    idle.sort((a, b) => a.heartbeatAt - b.heartbeatAt)
    for (const b of idle.slice(0, Math.max(1, Math.ceil(max / 10)))) this.bands.delete(b.band)
    return true
  }

  /** `P/band/<id>/status`: a heartbeat, with what changed. */
  bandStatus(band: string, s: { clerkId?: string | undefined; onShift?: boolean | undefined; battery?: number | undefined }, ts: number): void {
    if (!this.bands.has(band) && !this.roomForBand(ts)) return
    const b = this.bandState(band, ts)
    if (ts > b.heartbeatAt) b.heartbeatAt = ts
    if (s.clerkId !== undefined) b.clerkId = s.clerkId
    if (s.battery !== undefined) b.battery = s.battery
    if (s.onShift !== undefined) b.onShift = s.onShift
    if (!this.alive(b, ts)) this.bandGone(b, ts, b.onShift ? 'battery empty' : 'off shift')
    else this.dispatchAll(ts)
  }

  /** The presence engine located a band in a zone (or lost it: null). */
  bandZone(band: string, zone: string | null, ts: number): void {
    const b = this.bands.get(band)
    if (!b) {
      // a band heard on the air before any status: remember where it is, it is not available yet
      if (!this.roomForBand(ts)) return
      this.bands.set(band, { band, clerkId: null, onShift: true, battery: null, heartbeatAt: -Infinity, zone, zoneAt: ts, busyWith: null, freeSince: ts })
      return
    }
    b.zone = zone
    b.zoneAt = ts
    if (zone === null || b.busyWith === null) return
    const r = this.requests.get(b.busyWith)
    if (r && r.state === 'accepted' && r.zone === zone) {
      r.arrivedAt = ts
      this.transition(r, 'arrived', `band ${band} entered ${zone}`, ts)
    }
  }

  /** `P/band/<id>/ack`. */
  ack(band: string, alertId: string, action: 'accept' | 'decline' | 'done', ts: number): void {
    const id = this.byAlert.get(alertId)
    const r = id ? this.requests.get(id) : undefined
    if (!r) return this.ignored(band, alertId, 'unknown-alert')
    const offer = r.offers.find((o) => o.alertId === alertId && o.band === band)
    if (!offer) return this.ignored(band, alertId, 'not-yours')
    const b = this.bandState(band, ts)
    if (ts > b.heartbeatAt) b.heartbeatAt = ts // an ack is a sign of life too
    switch (action) {
      case 'accept': return this.accept(r, offer, b, ts)
      case 'decline': {
        if (offer.outcome !== 'pending') return this.ignored(band, alertId, offer.outcome === 'declined' ? 'duplicate' : 'late')
        end(offer, 'declined', ts)
        this.emit({ kind: 'event', request: snapshot(r), event: 'offer-ended', detail: `declined by ${band}`, at: ts })
        this.afterOfferEnded(r, ts, `declined by ${band}`)
        return
      }
      case 'done': {
        if (!r.acceptedBy || r.acceptedBy.band !== band) return this.ignored(band, alertId, 'not-accepted')
        if (!OPEN_STATES.has(r.state)) return this.ignored(band, alertId, r.closeReason === 'done' ? 'duplicate' : 'closed')
        this.close(r, 'done', 'done', ts)
        return
      }
    }
  }

  /** Time passes: offer timeouts, heartbeats lost, escalation, expiry, auto-close, and queued requests. */
  tick(now: number): void {
    for (const b of this.bands.values()) {
      if (b.heartbeatAt !== -Infinity && !this.alive(b, now) && (b.busyWith !== null || this.hasPendingOffer(b.band))) this.bandGone(b, now, 'no heartbeat')
    }
    for (const r of [...this.requests.values()]) {
      if (!OPEN_STATES.has(r.state)) {
        if (r.closedAt !== null && now - r.closedAt > (this.policy.keepClosedMs ?? 3_600_000)) this.forget(r)
        continue
      }
      if ((r.state === 'queued' || r.state === 'offered') && now - r.createdAt >= this.policy.expireAfterMs) {
        this.close(r, 'expired', 'expired', now)
        continue
      }
      if (r.state === 'arrived' && r.arrivedAt !== null && now - r.arrivedAt >= this.policy.closeAfterMs) {
        this.close(r, 'done', 'auto-closed', now)
        continue
      }
      if (r.state === 'accepted' && r.acceptedAt !== null && now - r.acceptedAt >= this.policy.closeAfterMs) {
        this.close(r, 'done', 'auto-closed', now)
        continue
      }
      if (r.state === 'offered') {
        let ended = false
        for (const o of r.offers) {
          if (o.outcome === 'pending' && o.kind === 'assist' && now - o.at >= this.policy.acceptTimeoutMs) {
            end(o, 'timeout', now)
            ended = true
          }
        }
        if (ended) {
          this.emit({ kind: 'event', request: snapshot(r), event: 'offer-ended', detail: 'not accepted in time', at: now })
          this.afterOfferEnded(r, now, 'not accepted in time')
        }
        const hedge = this.policy.hedgeAfterMs ?? Infinity
        if (r.state === 'offered' && this.policy.mode === 'nearest' && hedge < this.policy.acceptTimeoutMs) {
          const newest = r.offers.reduce((t, o) => (o.kind === 'assist' && o.outcome === 'pending' ? Math.max(t, o.at) : t), -Infinity)
          if (now - newest >= hedge) this.offerNext(r, now)
        }
      }
      if (r.state === 'queued' || r.state === 'offered') this.maybeEscalate(r, now)
    }
    this.dispatchAll(now)
  }

  /** Requests that were open when the gateway stopped (bands report again on their own). */
  restore(list: AssistRequest[], now: number): void {
    for (const r of list) {
      this.requests.set(r.id, r)
      this.byOrigin.set(`${r.source}:${r.origin}`, r.id)
      for (const o of r.offers) this.byAlert.set(o.alertId, r.id)
      if (r.acceptedBy && OPEN_STATES.has(r.state)) {
        // the band has a heartbeat's time to report again before its request goes back to the queue (or, once
        // arrived, is closed)
        const b = this.bandState(r.acceptedBy.band, now)
        b.clerkId = r.acceptedBy.clerkId
        b.busyWith = r.id
      }
    }
  }

  /** Erasure: no request in memory names the member any more (their requests keep their timings). */
  forgetMember(memberId: string): void {
    for (const r of this.requests.values()) {
      if (r.memberId !== memberId && r.origin !== memberId) continue
      const key = `${r.source}:${r.origin}`
      if (this.byOrigin.get(key) === r.id) this.byOrigin.delete(key)
      r.memberId = null
      r.origin = 'erased'
    }
  }

  /** Tell every band what it holds (after a restart, once alerts can go out), so its clerk can still press done. */
  remind(now: number): void {
    for (const r of this.open()) {
      if (!r.acceptedBy) continue
      const o = r.offers.find((x) => x.band === r.acceptedBy!.band && x.outcome === 'accepted')
      if (o) this.alert(o.band, o.alertId, 'assist', r, now, `Still yours: ${this.place(r)}`)
    }
  }

  // ---------------------------------------------------------------- internals

  private bandState(band: string, ts: number): BandState {
    let b = this.bands.get(band)
    if (!b) {
      b = { band, clerkId: null, onShift: true, battery: null, heartbeatAt: ts, zone: null, zoneAt: null, busyWith: null, freeSince: ts }
      this.bands.set(band, b)
    }
    return b
  }

  private ignored(band: string, alertId: string, reason: AckIgnored): void {
    this.emit({ kind: 'ack-ignored', band, alertId, reason })
  }

  private accept(r: AssistRequest, offer: AssistOffer, b: BandState, ts: number): void {
    if (r.acceptedBy?.band === b.band && OPEN_STATES.has(r.state)) return this.ignored(b.band, offer.alertId, 'duplicate')
    if (!OPEN_STATES.has(r.state)) {
      this.alert(b.band, offer.alertId, 'closed', r, ts, `No longer needed: ${this.place(r)}`)
      return this.ignored(b.band, offer.alertId, 'closed')
    }
    if (r.acceptedBy) {
      this.alert(b.band, offer.alertId, 'taken', r, ts, `Already taken: ${this.place(r)}`)
      return this.ignored(b.band, offer.alertId, 'taken')
    }
    if (b.busyWith !== null && b.busyWith !== r.id) {
      const other = this.requests.get(b.busyWith)
      this.alert(b.band, offer.alertId, 'busy', r, ts, `Finish ${other ? this.place(other) : 'your call'} first`)
      if (offer.outcome === 'pending') {
        end(offer, 'busy', ts)
        this.afterOfferEnded(r, ts, `${b.band} is busy`)
      }
      return this.ignored(b.band, offer.alertId, 'busy')
    }
    // accepted: this offer wins, the others are withdrawn
    for (const o of r.offers) {
      if (o === offer) continue
      if (o.outcome === 'pending') {
        end(o, 'withdrawn', ts)
        this.alert(o.band, o.alertId, 'taken', r, ts, `Taken by another clerk: ${this.place(r)}`)
      }
    }
    const late = offer.outcome !== 'pending'
    offer.outcome = 'accepted'
    offer.endedAt = ts
    r.acceptedBy = { band: b.band, clerkId: b.clerkId }
    r.acceptedAt = ts
    b.busyWith = r.id
    this.transition(r, 'accepted', `${b.clerkId ?? b.band} accepted${late ? ' (late)' : ''}`, ts)
    if (r.zone !== null && b.zone === r.zone) {
      r.arrivedAt = ts
      this.transition(r, 'arrived', `band ${b.band} already in ${r.zone}`, ts)
    }
    // clerks whose offers were withdrawn are free for whoever waits
    this.dispatchAll(ts)
  }

  /** An offer ended without acceptance: offer the next clerk now, or wait in the queue. */
  private afterOfferEnded(r: AssistRequest, ts: number, why: string): void {
    if (r.state !== 'offered') return
    if (r.offers.some((o) => o.outcome === 'pending' && o.kind === 'assist')) return
    this.maybeEscalate(r, ts)
    if (!this.offerNext(r, ts)) this.transition(r, 'queued', `${why}; no clerk available`, ts)
  }

  private maybeEscalate(r: AssistRequest, now: number): void {
    if (r.escalatedAt !== null) return
    // tries: offers that ended unaccepted (nearest), or whole rounds that did (broadcast)
    const tries = this.policy.mode === 'broadcast'
      ? r.rounds - (r.offers.some((o) => o.kind === 'assist' && o.outcome === 'pending') ? 1 : 0)
      : r.offers.filter((o) => o.kind === 'assist' && o.outcome !== 'pending' && o.outcome !== 'accepted' && o.outcome !== 'withdrawn').length
    if (tries < this.policy.maxOffers && now - r.createdAt < this.policy.escalateAfterMs) return
    r.escalatedAt = now
    let n = 0
    for (const b of this.bands.values()) {
      if (!b.clerkId || !this.supervisors.has(b.clerkId) || !this.alive(b, now)) continue
      const alertId = `${r.id}.e${n}`
      r.offers.push({ alertId, band: b.band, clerkId: b.clerkId, at: now, kind: 'escalation', outcome: 'pending', endedAt: null })
      this.byAlert.set(alertId, r.id)
      this.alert(b.band, alertId, 'escalation', r, now, `Nobody has taken: ${this.place(r)}`)
      n++
    }
    this.emit({ kind: 'event', request: snapshot(r), event: 'escalated', detail: n ? `${n} supervisor band(s) alerted` : 'no supervisor available', at: now })
  }

  private dispatchAll(now: number): void {
    const queued = [...this.requests.values()].filter((r) => r.state === 'queued')
    if (queued.length === 0) return
    queued.sort((a, b) => b.priority - a.priority || a.createdAt - b.createdAt)
    for (const r of queued) this.dispatch(r, now)
  }

  private dispatch(r: AssistRequest, now: number): void {
    if (r.state !== 'queued') return
    this.offerNext(r, now)
  }

  /** Offer the request to the next clerk(s); false when nobody is available. */
  private offerNext(r: AssistRequest, now: number): boolean {
    const free = [...this.bands.values()].filter((b) => this.available(b, now) && !(b.clerkId && this.supervisors.has(b.clerkId)))
    if (free.length === 0) return false
    let chosen: BandState[]
    if (this.policy.mode === 'broadcast') {
      chosen = free
    } else {
      const tried = new Set(r.offers.filter((o) => o.kind === 'assist').map((o) => o.band))
      let pool = free.filter((b) => !tried.has(b.band))
      if (pool.length === 0) {
        // everyone has had it once: round again, but not back to a clerk who let it go less than a timeout ago
        const lastEnd = new Map<string, number>()
        for (const o of r.offers) if (o.kind === 'assist') lastEnd.set(o.band, Math.max(lastEnd.get(o.band) ?? -Infinity, o.endedAt ?? o.at))
        pool = free.filter((b) => now - (lastEnd.get(b.band) ?? -Infinity) >= this.policy.acceptTimeoutMs)
        if (pool.length === 0) return false
      }
      pool.sort((a, b) => this.distance(a.zone, r.zone) - this.distance(b.zone, r.zone) || a.freeSince - b.freeSince || (a.band < b.band ? -1 : 1))
      const d0 = this.distance(pool[0]!.zone, r.zone)
      const extra = this.policy.fanoutDistance ?? 0
      chosen = Number.isFinite(d0) && extra > 0
        ? pool.filter((b) => this.distance(b.zone, r.zone) - d0 <= extra).slice(0, Math.max(1, this.policy.maxFanout ?? 3))
        : [pool[0]!]
    }
    r.rounds++
    for (const b of chosen) {
      const alertId = `${r.id}.${r.offers.length}`
      r.offers.push({ alertId, band: b.band, clerkId: b.clerkId, at: now, kind: 'assist', outcome: 'pending', endedAt: null })
      this.byAlert.set(alertId, r.id)
      this.alert(b.band, alertId, 'assist', r, now)
    }
    const to = chosen.map((b) => b.clerkId ?? b.band).join(', ')
    if (r.state === 'offered') this.emit({ kind: 'event', request: snapshot(r), event: 'offer-ended', detail: `offered to ${to}`, at: now })
    else this.transition(r, 'offered', `offered to ${to}`, now)
    return true
  }

  /** A band dropped out (no heartbeat, off shift, battery empty): its offers end, its accepted request goes back. */
  private bandGone(b: BandState, now: number, why: string): void {
    for (const r of this.requests.values()) {
      if (!OPEN_STATES.has(r.state)) continue
      let ended = false
      for (const o of r.offers) {
        if (o.band === b.band && o.outcome === 'pending') {
          end(o, 'offline', now)
          if (o.kind === 'assist') ended = true
        }
      }
      if (ended && r.state === 'offered') {
        this.emit({ kind: 'event', request: snapshot(r), event: 'offer-ended', detail: `band ${b.band}: ${why}`, at: now })
        this.afterOfferEnded(r, now, `band ${b.band}: ${why}`)
      }
    }
    if (b.busyWith !== null) {
      const r = this.requests.get(b.busyWith)
      if (r && r.state === 'arrived') {
        // the clerk got there: the customer was served, even if the band never says done
        this.close(r, 'done', `band ${b.band} ${why} after arriving`, now)
        return
      }
      if (r && r.state === 'accepted') {
        for (const o of r.offers) if (o.band === b.band && o.outcome === 'accepted') end(o, 'offline', now)
        b.busyWith = null
        r.acceptedBy = null
        r.acceptedAt = null
        r.requeues++
        if (r.priority < 3) r.priority = (r.priority + 1) as 1 | 2 | 3
        this.transition(r, 'queued', `clerk's band ${b.band}: ${why}`, now)
        this.offerNext(r, now)
      }
    }
  }

  private close(r: AssistRequest, to: 'done' | 'cancelled' | 'expired', reason: string, ts: number): void {
    for (const o of r.offers) {
      if (o.outcome === 'pending') {
        end(o, 'withdrawn', ts)
        this.alert(o.band, o.alertId, to === 'cancelled' ? 'cancelled' : 'closed', r, ts, `${to === 'cancelled' ? 'Cancelled' : 'No longer needed'}: ${this.place(r)}`)
      }
    }
    if (r.acceptedBy) {
      const b = this.bands.get(r.acceptedBy.band)
      if (b && b.busyWith === r.id) {
        b.busyWith = null
        b.freeSince = ts
        if (to === 'cancelled') {
          const o = r.offers.find((x) => x.outcome === 'accepted')
          if (o) this.alert(b.band, o.alertId, 'cancelled', r, ts, `Cancelled: ${this.place(r)}`)
        }
      }
    }
    r.closedAt = ts
    r.closeReason = reason
    this.transition(r, to, reason, ts)
    // the clerk is free: whoever waits gets offered
    this.dispatchAll(ts)
  }

  private forget(r: AssistRequest): void {
    this.requests.delete(r.id)
    const key = `${r.source}:${r.origin}`
    if (this.byOrigin.get(key) === r.id) this.byOrigin.delete(key)
    for (const o of r.offers) if (this.byAlert.get(o.alertId) === r.id) this.byAlert.delete(o.alertId)
  }

  private transition(r: AssistRequest, to: AssistState, reason: string, at: number, from: AssistState | null = r.state): void {
    r.state = to
    r.updatedAt = at
    this.emit({ kind: 'transition', request: snapshot(r), from, to, reason, at })
    if (r.memberId !== null) this.emit({ kind: 'member', memberId: r.memberId, requestId: r.id, state: to, zone: r.zone, detail: reason })
  }

  private alert(band: string, alertId: string, kind: string, r: AssistRequest, ts: number, text?: string): void {
    const what = r.source === 'app' || r.source === 'gateway' ? 'Customer asks for help' : r.source === 'scan' ? 'Shelf call' : 'Call button'
    this.emit({
      kind: 'alert', band,
      alert: { alertId, kind, zone: r.zone ?? 'unknown', text: (text ?? `${what}: ${this.place(r)}`).slice(0, 200), priority: kind === 'escalation' ? 3 : r.priority, ts },
    })
  }

  /** Where a request is, in words a clerk reads on a band: the zone's name, or what is known (the button, the code). */
  private place(r: AssistRequest): string {
    if (r.zone !== null) return this.zoneName(r.zone)
    if (r.source === 'button') return `button ${r.origin} (not placed in the layout: ask the caller where)`
    if (r.source === 'scan') return `shelf code ${r.origin} (place unknown)`
    return 'place unknown'
  }
}

function end(o: AssistOffer, outcome: AssistOffer['outcome'], at: number): void {
  o.outcome = outcome
  o.endedAt = at
}

function snapshot(r: AssistRequest): AssistRequest {
  return { ...r, offers: r.offers.map((o) => ({ ...o })), acceptedBy: r.acceptedBy ? { ...r.acceptedBy } : null }
}
