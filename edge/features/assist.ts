/**
 * Call for service at the gateway: the pure dispatcher (edge/assist) wired to its inputs (call buttons,
 * shelf scans of call codes, the member app, the gateway's own assist zones, band status, acks and
 * locations) and to its outputs (band alerts on MQTT, status frames to the member app, SQLite rows, events
 * and outbox, metrics, logs).
 */
import { randomBytes } from 'node:crypto'
import { topics } from '../contract/topics.js'
import type { Layout } from '../contract/resources.js'
import type { AssistStatusFrame } from '../contract/ws.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { Metrics } from '../core/metrics.js'
import { AutoAssist } from '../assist/auto.js'
import { AssistDispatcher, OPEN_STATES, type AssistEffect, type AssistPolicy, type AssistRequest, type AssistState } from '../assist/dispatcher.js'
import { assistFigures, stageTimes, type AssistFigures } from '../assist/figures.js'
import { zoneCentres, zoneDistance } from '../assist/geometry.js'
import type { ZoneEvent } from '../presence/types.js'
import { assistEventOp, assistEvents, assistRowOp, assistRows, assistTransitionOps, openAssistRows, rowToRecord, rowToRequest, type AssistRow } from '../storage/assist-repo.js'
import type { Store } from '../storage/store.js'
import { assistRoutes } from '../http/admin/assist.js'
import type { Feature, GatewayContext } from './feature.js'

export interface AssistConfig {
  policy: 'nearest' | 'broadcast'
  acceptTimeoutSeconds: number
  hedgeAfterSeconds: number | null
  fanoutMetres: number
  maxFanout: number
  maxOffers: number
  escalateAfterSeconds: number
  expireAfterMinutes: number
  heartbeatTimeoutSeconds: number
  closeAfterMinutes: number
  supervisors: string[]
  maxBands?: number
  zones: { zone: string; afterSeconds: number }[]
}

export interface AssistServiceDeps {
  config: AssistConfig
  layout: Layout
  store: Store
  storeId: string
  timeZone: string
  clock: Clock
  log: Logger
  metrics: Metrics
  publishAlert: (band: string, alert: unknown) => void
  sendToMember: (memberId: string, frame: AssistStatusFrame) => void
  /** the gateway pseudonym of a member (stored instead of the member id as a request's origin) */
  pseudonym: (memberId: string) => string
  /** the zone a member is located in now (null: not located, or no location consent) */
  memberZone: (memberId: string) => string | null
  newId: () => string
  /** a request changed state (after its record was queued) */
  onTransition?: (r: AssistRequest, from: AssistState | null, to: AssistState, at: number) => void
}

export const policyOf = (c: AssistConfig): AssistPolicy => ({
  mode: c.policy,
  acceptTimeoutMs: c.acceptTimeoutSeconds * 1000,
  hedgeAfterMs: c.hedgeAfterSeconds === null ? Infinity : c.hedgeAfterSeconds * 1000,
  fanoutDistance: c.fanoutMetres,
  maxFanout: c.maxFanout,
  maxOffers: c.maxOffers,
  escalateAfterMs: c.escalateAfterSeconds * 1000,
  expireAfterMs: c.expireAfterMinutes * 60_000,
  heartbeatTimeoutMs: c.heartbeatTimeoutSeconds * 1000,
  closeAfterMs: c.closeAfterMinutes * 60_000,
  supervisors: c.supervisors,
  maxBands: c.maxBands,
})

/** The contract's app status (queued | accepted | done) for a state. */
export function appStatus(state: AssistState): AssistStatusFrame['status'] {
  switch (state) {
    case 'queued': case 'offered': return 'queued'
    case 'accepted': case 'arrived': return 'accepted'
    default: return 'done'
  }
}

const BAND_SUBJECT = 'band:'

export class AssistService {
  readonly dispatcher: AssistDispatcher
  private readonly auto: AutoAssist
  private layout: Layout
  private zoneIds: Set<string>
  private buttonZones = new Map<string, string | null>()
  private names = new Map<string, string>()
  private seq = 0
  private readonly runId = Math.random().toString(16).slice(2, 10)

  constructor(private readonly d: AssistServiceDeps) {
    this.layout = d.layout
    this.zoneIds = new Set(d.layout.zones.map((z) => z.id))
    let distance = zoneDistance(zoneCentres(d.layout))
    this.dispatcher = new AssistDispatcher(policyOf(d.config), (a, b) => distance(a, b), (e) => this.effect(e), d.newId, (z) => this.names.get(z) ?? z)
    this.setDistance = (l) => { distance = zoneDistance(zoneCentres(l)) }
    this.auto = new AutoAssist(d.config.zones)
    this.indexButtons(d.layout)
    d.metrics.assistState = () => this.state()
  }

  private readonly setDistance: (l: Layout) => void

  async init(): Promise<void> {
    const rows = await openAssistRows(this.d.store)
    this.dispatcher.restore(rows.map(rowToRequest), this.d.clock.now())
    if (rows.length) this.d.log.info({ open: rows.length }, 'call-for-service requests restored')
  }

  setLayout(l: Layout): void {
    this.layout = l
    this.zoneIds = new Set(l.zones.map((z) => z.id))
    this.setDistance(l)
    this.indexButtons(l)
  }

  private indexButtons(l: Layout): void {
    this.buttonZones = new Map(l.anchors.filter((a) => a.kind === 'button').map((a) => [a.id, a.zone ?? null]))
    this.names = new Map(l.zones.map((z) => [z.id, z.name ?? z.id]))
  }

  // ---------------------------------------------------------------- inputs

  button(button: string, action: 'call' | 'cancel', ts: number): void {
    if (action === 'cancel') {
      if (!this.dispatcher.cancelOrigin('button', button, ts, `button ${button}`)) this.d.log.debug({ button }, 'cancel from a button with no open request')
      return
    }
    const zone = this.buttonZones.get(button) ?? null
    if (zone === null) {
      this.d.metrics.assistUnplaced.inc({ source: 'button' })
      this.d.log.warn({ button }, 'call from a button not placed in the layout: clerks are told the button id (add it as a button anchor with a zone)')
    }
    this.dispatcher.call({ source: 'button', origin: button, zone, ts })
  }

  /** A shelf scan of a call code: `call:<zone>` or a zone id, else the scanner's own zone. */
  scanCall(scanner: string, code: string, ts: number): void {
    const named = code.startsWith('call:') ? code.slice(5) : code
    const zone = this.zoneIds.has(named) ? named : (this.layout.anchors.find((a) => a.id === scanner)?.zone ?? null)
    if (zone === null) this.d.metrics.assistUnplaced.inc({ source: 'scan' })
    this.dispatcher.call({ source: 'scan', origin: code.slice(0, 64), zone, ts })
  }

  /** The member app's assist frame; returns a refusal reason, or null. */
  appCall(memberId: string, zone: string | undefined, action: 'call' | 'cancel'): string | null {
    const now = this.d.clock.now()
    if (action === 'cancel') {
      return this.dispatcher.cancelOrigin('app', memberId, now, 'member') ? null : 'no-open-request'
    }
    const where = zone !== undefined && this.zoneIds.has(zone) ? zone : this.d.memberZone(memberId)
    if (where === null) return 'no-zone'
    this.dispatcher.call({ source: 'app', origin: memberId, memberId, zone: where, ts: now })
    return null
  }

  bandStatus(band: string, s: { clerkId?: string | undefined; onShift?: boolean | undefined; battery?: number | undefined }, ts: number): void {
    this.dispatcher.bandStatus(band, s, ts)
  }

  bandAck(band: string, alertId: string, action: 'accept' | 'decline' | 'done', ts: number): void {
    this.dispatcher.ack(band, alertId, action, ts)
  }

  /** Zone events from presence: bands' locations (arrival), members in assist zones. */
  zoneEvent(e: ZoneEvent, memberId: string | undefined): void {
    if (e.subject.startsWith(BAND_SUBJECT)) {
      const band = e.subject.slice(BAND_SUBJECT.length)
      if (e.state === 'enter') this.dispatcher.bandZone(band, e.zone, e.ts)
      else if (e.state === 'exit' && this.dispatcher.band(band)?.zone === e.zone) this.dispatcher.bandZone(band, null, e.ts)
      return
    }
    if (this.auto.enabled) this.auto.zoneEvent(e.subject, memberId, e.zone, e.state, e.since)
  }

  tick(now: number): void {
    for (const due of this.auto.due(now)) {
      if (this.dispatcher.openFor(due.memberId)) continue
      this.dispatcher.call({ source: 'gateway', origin: due.memberId, memberId: due.memberId, zone: due.zone, ts: now })
      this.d.log.info({ zone: due.zone }, 'a member has stood in an assist zone: clerk called')
    }
    this.dispatcher.tick(now)
  }

  /** Erasure: the member's requests lose their link to the member. */
  forgetMember(memberId: string, subject: string): void {
    this.auto.forget(subject)
    this.dispatcher.forgetMember(memberId)
  }

  /** The status frame of the member's open request (sent when the app connects). */
  statusFor(memberId: string): AssistStatusFrame | null {
    const r = this.dispatcher.openFor(memberId)
    return r ? this.frame(r.id, r.state, r.zone) : null
  }

  // ---------------------------------------------------------------- reads

  state(): { open: Record<string, number>; bands: Record<string, number> } {
    const now = this.d.clock.now()
    const open: Record<string, number> = { queued: 0, offered: 0, accepted: 0, arrived: 0 }
    for (const r of this.dispatcher.open()) open[r.state] = (open[r.state] ?? 0) + 1
    const bands: Record<string, number> = { available: 0, busy: 0, offered: 0, 'off-shift': 0, offline: 0 }
    for (const b of this.dispatcher.bandList()) bands[this.bandStatusOf(b.band, now)]!++
    return { open, bands }
  }

  bandStatusOf(band: string, now: number): 'available' | 'busy' | 'offered' | 'off-shift' | 'offline' {
    const b = this.dispatcher.band(band)!
    if (!b.onShift) return 'off-shift'
    if (now - b.heartbeatAt > this.d.config.heartbeatTimeoutSeconds * 1000 || b.battery === 0) return 'offline'
    if (b.busyWith !== null) return 'busy'
    return this.dispatcher.available(b, now) ? 'available' : 'offered'
  }

  async list(q: { since?: number; state?: string; zone?: string; limit?: number }): Promise<AssistRow[]> {
    return assistRows(this.d.store, q)
  }

  get supervisors(): readonly string[] { return this.d.config.supervisors }

  async get(id: string): Promise<{ row: AssistRow; events: Awaited<ReturnType<typeof assistEvents>> } | null> {
    const row = await this.d.store.get<AssistRow>('SELECT * FROM assist_requests WHERE request_id = ?', [id])
    if (!row) return null
    return { row, events: await assistEvents(this.d.store, id) }
  }

  async figures(since: number, until?: number): Promise<AssistFigures> {
    const rows = await assistRows(this.d.store, { since, ...(until !== undefined ? { until } : {}) })
    return assistFigures(rows.map(rowToRecord), this.d.timeZone)
  }

  // ---------------------------------------------------------------- effects

  private storedOrigin(r: AssistRequest): string {
    if (r.source === 'app' || r.source === 'gateway') return r.memberId !== null ? this.d.pseudonym(r.memberId) : r.origin === 'erased' ? 'erased' : r.origin
    return r.origin
  }

  private frame(requestId: string, state: AssistState, zone: string | null): AssistStatusFrame {
    return { type: 'assist', status: appStatus(state), requestId, state, ...(zone !== null ? { zone } : {}) }
  }

  private effect(e: AssistEffect): void {
    const m = this.d.metrics
    switch (e.kind) {
      case 'alert':
        this.d.publishAlert(e.band, e.alert)
        return
      case 'member':
        this.d.sendToMember(e.memberId, this.frame(e.requestId, e.state, e.zone))
        return
      case 'ack-ignored':
        m.assistAcksIgnored.inc({ reason: e.reason })
        this.d.log.debug({ band: e.band, alertId: e.alertId, reason: e.reason }, 'band acknowledgement changed nothing')
        return
      case 'event': {
        if (e.event === 'escalated') {
          m.assistEscalations.inc()
          this.d.log.warn({ requestId: e.request.id, zone: e.request.zone, detail: e.detail }, 'call for service escalated to the supervisors')
        }
        this.write([assistRowOp(e.request, this.storedOrigin(e.request)), assistEventOp(e.request.id, e.at, e.event, null, null, e.detail)])
        return
      }
      case 'transition': {
        const r = e.request
        m.assistRequests.inc({ state: e.to })
        const t = stageTimes({ zone: r.zone, clerkId: r.acceptedBy?.clerkId ?? null, state: r.state, createdAt: r.createdAt, acceptedAt: r.acceptedAt, arrivedAt: r.arrivedAt, closedAt: r.closedAt, closeReason: r.closeReason })
        const stage = e.to === 'accepted' ? 'accept' : e.to === 'arrived' ? 'arrive' : e.to === 'done' ? 'done' : null
        const secs = stage === null ? null : t[stage]
        if (stage !== null && secs !== null) {
          m.assistSeconds.observe({ stage }, secs)
          m.assistZoneSeconds.observe({ stage, zone: r.zone ?? 'unknown' }, secs)
          if (r.acceptedBy?.clerkId) m.assistClerkSeconds.observe({ stage, clerk: r.acceptedBy.clerkId }, secs)
        }
        const level = e.to === 'expired' ? 'warn' : 'info'
        this.d.log[level]({ requestId: r.id, zone: r.zone, from: e.from, to: e.to, reason: e.reason, clerk: r.acceptedBy?.clerkId ?? undefined }, `call for service ${e.to}`)
        this.write(assistTransitionOps({ request: r, storedOrigin: this.storedOrigin(r), from: e.from, to: e.to, reason: e.reason, at: e.at, storeId: this.d.storeId, seq: `${this.runId}:${this.seq++}` }))
        this.d.onTransition?.(r, e.from, e.to, e.at)
        return
      }
    }
  }

  private write(ops: Parameters<Store['write']>[0]): void {
    this.d.store.write(ops).catch((err) => this.d.log.error({ err }, 'call-for-service record not stored'))
  }
}

export { OPEN_STATES }

// ---------------------------------------------------------------- the feature module

export interface AssistFeatureDeps {
  layout: import('./layout.js').LayoutFeature
  members: import('./members.js').MembersFeature
  presence: import('./presence.js').PresenceFeature
  delivery: import('./delivery.js').DeliveryFeature
}

/** Call for service as a gateway feature: its inputs from the bus and the member app, its routes, its clock. */
export class AssistFeature implements Feature {
  readonly name = 'assist'
  readonly adminRoutes

  private readonly clock: GatewayContext['clock']

  private constructor(readonly service: AssistService, ctx: GatewayContext, d: AssistFeatureDeps) {
    const { bus } = ctx
    this.clock = ctx.clock
    const s = service
    const identity = d.members.identity
    this.adminRoutes = assistRoutes({ service: s, clock: ctx.clock })
    bus.on('button', ({ button, action, ts }) => s.button(button, action, ts))
    bus.on('bandStatus', ({ band, msg, ts }) => s.bandStatus(band, msg, ts))
    bus.on('bandAck', ({ band, msg, ts }) => s.bandAck(band, msg.alertId, msg.action, ts))
    bus.on('scan', ({ scanner, msg, ts }) => { if (msg.kind === 'call') s.scanCall(scanner, msg.code, ts) })
    bus.on('zone', (e) => s.zoneEvent(e, e.subject.startsWith('pm:') ? identity.memberOfKey(e.subject) : undefined))
    bus.on('layout', (l) => s.setLayout(l))
    bus.on('memberErased', ({ memberId, pseudonym }) => s.forgetMember(memberId, pseudonym))
    d.delivery.handleAssist((memberId, zone, action) => s.appCall(memberId, zone, action))
    d.delivery.onConnect((memberId) => { const f = s.statusFor(memberId); return f ? [f] : [] })
  }

  static async create(ctx: GatewayContext, d: AssistFeatureDeps): Promise<AssistFeature> {
    const identity = d.members.identity
    const service = new AssistService({
      config: ctx.config.assist, layout: d.layout.layout, store: ctx.store, storeId: ctx.storeId, timeZone: ctx.config.store.timezone, clock: ctx.clock, log: ctx.log, metrics: ctx.metrics,
      publishAlert: (band, alert) => ctx.publish(topics.bandAlert(ctx.prefix, band), alert, 1),
      sendToMember: (memberId, frame) => d.delivery.hub.send(memberId, frame),
      pseudonym: (memberId) => identity.pseudonym(memberId),
      memberZone: (memberId) => (identity.member(memberId)?.consentLocation ? d.presence.zoneOf(identity.pseudonym(memberId)) : null),
      newId: () => `as-${randomBytes(6).toString('base64url')}`,
      onTransition: (r, from, to, at) => ctx.bus.emit('assistChanged', { requestId: r.id, from, to, zone: r.zone, band: r.acceptedBy?.band ?? null, clerkId: r.acceptedBy?.clerkId ?? null, priority: r.priority, createdAt: r.createdAt, ts: at }),
    })
    await service.init()
    return new AssistFeature(service, ctx, d)
  }

  /** the broker is up: bands holding a restored request are told again */
  start(): void { this.service.dispatcher.remind(this.clock.now()) }

  tick(now: number): void { this.service.tick(now) }
}
