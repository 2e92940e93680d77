/**
 * Presence: readings from fixed scanners (subjects heard) and from mobile subjects (beacons heard, also the
 * member app's ranging frames) go through the presence engine, which places subjects in zones and emits
 * enter / dwell / exit on the bus. Dwell sensors' own reports join the same stream. This module also
 * publishes dwell events (pseudonymous), records dwell sessions, and runs the calibration flow.
 */
import { Gauge } from 'prom-client'
import { topics, type DwellEvent } from '../contract/index.js'
import { presenceRoutes } from '../http/admin/presence.js'
import type { ReadyCheck } from '../http/services.js'
import type { Presence } from '../presence/engine.js'
import { buildPresence, makeLocator } from '../presence/factory.js'
import { dwellSessionOps } from '../storage/repos.js'
import { CalibrationService } from './calibration.js'
import type { DeliveryFeature } from './delivery.js'
import type { Feature, GatewayContext } from './feature.js'
import type { LayoutFeature } from './layout.js'
import type { MembersFeature } from './members.js'

/** visits that reached dwell and wait for their exit, at most (oldest dropped first), and for how long */
const MAX_OPEN_VISITS = 20_000
const OPEN_VISIT_MS = 6 * 3_600_000

export interface PresenceDeps { layout: LayoutFeature; members: MembersFeature; delivery: DeliveryFeature }

export class PresenceFeature implements Feature {
  readonly name = 'presence'
  readonly engine: Presence
  readonly calibration: CalibrationService
  /** visits that reached their dwell threshold, with the time they did (dwell sessions are stored on exit) */
  private readonly dwelled = new Map<string, number>()
  /** a subject being forgotten (an erasure): the exit its forgetting causes is neither published nor stored */
  private forgetting: string | null = null
  readonly adminRoutes

  private constructor(private readonly ctx: GatewayContext, private readonly d: PresenceDeps, calibration: CalibrationService, engine: Presence) {
    this.calibration = calibration
    this.engine = engine
    this.adminRoutes = presenceRoutes({ list: () => this.list(), calibration })
    this.wire()
    new Gauge({ name: 'aisle_presence_subjects', help: 'Subjects presence tracks now', registers: [ctx.metrics.registry], collect() { this.set(engine.subjectCount) } })
    new Gauge({ name: 'aisle_presence_subjects_refused', help: 'Readings of new subjects not tracked because the subject table was full (presence.maxSubjects), since start', registers: [ctx.metrics.registry], collect() { this.set(engine.refusedSubjects) } })
  }

  static async create(ctx: GatewayContext, d: PresenceDeps): Promise<PresenceFeature> {
    const { config, store, clock, log, bus } = ctx
    const identity = d.members.identity
    // the engine is built once the calibration model is loaded; calibration reads its vectors through this box
    const box: { f: PresenceFeature | null } = { f: null }
    const calibration = new CalibrationService({
      store, clock, log,
      vectors: () => box.f!.engine,
      keyOf: (s) => identity.keyOf(s),
      zones: () => d.layout.zoneIds,
      k: config.presence.knn,
      bandwidth: config.presence.fingerprintBandwidth,
      onModel: (model) => box.f?.useFingerprints(model),
    })
    const model = await calibration.init(config.presence.calibrationFile)
    const built = buildPresence(config.presence, d.layout.layout, (e) => bus.emit('zone', e), model)
    log.info({ presence: built.note }, 'presence')
    box.f = new PresenceFeature(ctx, d, calibration, built.engine)
    return box.f
  }

  /** a calibration was built: fingerprints take over (under `auto` or `fingerprint`), without a restart */
  private useFingerprints(model: Parameters<typeof makeLocator>[2]): void {
    const p = this.ctx.config.presence
    if ((p.locator !== 'fingerprint' && p.locator !== 'auto') || !model) return
    this.engine.setLocator(makeLocator('fingerprint', p, model))
    this.ctx.log.info({ presence: this.engine.note }, 'presence locator updated')
  }

  private wire(): void {
    const { bus, clock, config, store, storeId, metrics, prefix } = this.ctx
    const identity = this.d.members.identity
    const presence = this.engine
    const calibration = this.calibration
    bus.on('readings', ({ source, device, readings }) => {
      if (source === 'ranging') {
        // a mobile subject heard fixed beacons
        const subject = identity.keyOf(device, readings[0]!.ts)
        for (let i = 0; i < readings.length; i++) presence.observeRaw(subject, readings[i]!.id, readings[i]!.rssi, readings[i]!.ts)
        return
      }
      // a fixed scanner heard mobile subjects
      const slot = presence.anchorSlot(device)
      if (slot < 0) return // a scanner not placed in the layout: seen in /devices, not located
      for (let i = 0; i < readings.length; i++) {
        const r = readings[i]!
        presence.observeAt(identity.keyOf(r.id, r.ts), slot, r.rssi, r.ts)
      }
      if (calibration.recording) calibration.tick(readings[readings.length - 1]!.ts)
    })
    // the member app's ranging frame: the same as P/ranging, with the member as the subject (location consent only)
    this.d.delivery.handleRanging((memberId, beacons, ts) => {
      const member = identity.member(memberId)
      if (!member?.consentLocation) return 'no-location-consent'
      const subject = identity.pseudonym(memberId)
      const now = clock.now()
      const at = ts !== undefined && Math.abs(ts - now) <= config.ingest.clockSkewSeconds * 1000 ? ts : now
      for (const b of beacons) presence.observe({ subject, anchor: b.id, rssi: b.rssi, ts: at })
      return null
    })
    bus.on('dwellReport', ({ sensor, msg, ts }) => {
      const subject = msg.subject !== undefined ? identity.keyOf(msg.subject) : `anon:${sensor}`
      const seconds = msg.seconds ?? 0
      bus.emit('zone', { subject, zone: msg.zone, state: msg.state, seconds, ts, since: ts - seconds * 1000 })
    })
    bus.on('zone', (e) => {
      if (e.subject === this.forgetting) return
      metrics.dwellEvents.inc([e.state])
      this.ctx.publish(topics.dwellEvents(prefix), { subject: e.subject, zone: e.zone, state: e.state, seconds: Math.round(e.seconds * 10) / 10, ts: e.ts } satisfies DwellEvent)
      const visit = `${e.subject}|${e.zone}|${e.since}`
      if (e.state === 'dwell') {
        if (this.dwelled.size >= MAX_OPEN_VISITS) this.dwelled.delete(this.dwelled.keys().next().value!)
        this.dwelled.set(visit, e.ts)
      } else if (e.state === 'exit' && this.dwelled.has(visit)) {
        const dwellAt = this.dwelled.get(visit)!
        this.dwelled.delete(visit)
        const memberId = identity.memberOfKey(e.subject)
        const member = memberId === undefined ? undefined : identity.member(memberId)
        const userId = member?.consentLocation ? member.memberId : undefined
        store.write(dwellSessionOps(e, dwellAt, e.subject.startsWith('anon:') ? `sensor:${e.subject.slice(5)}` : 'presence', userId, storeId)).catch((err) => this.ctx.log.warn({ err: (err as Error).message }, 'dwell session not stored'))
      }
    })
    bus.on('layout', (l) => presence.setLayout(l))
    bus.on('memberErased', ({ pseudonym }) => {
      this.forgetting = pseudonym
      try { presence.forget(pseudonym) } finally { this.forgetting = null }
      for (const k of this.dwelled.keys()) if (k.startsWith(`${pseudonym}|`)) this.dwelled.delete(k)
    })
  }

  tick(now: number): void {
    this.engine.tick(now)
    this.calibration.tick(now)
  }

  ready(): Record<string, ReadyCheck> { return { presence: { ok: true, detail: this.engine.note } } }

  /** dwell sessions waiting for their exit are bounded: a visit open for hours (a sensor that never says exit) is dropped */
  housekeeping(now: number): void {
    for (const [k, at] of this.dwelled) {
      if (now - at < OPEN_VISIT_MS && this.dwelled.size <= MAX_OPEN_VISITS) break
      this.dwelled.delete(k)
    }
  }

  list() {
    return this.engine.snapshot(this.ctx.clock.now()).map((p) => ({
      subject: p.subject, zone: p.zone, since: p.since === null ? null : new Date(p.since).toISOString(),
      dwellSeconds: Math.round(p.dwellSeconds * 10) / 10, lastSeen: new Date(p.lastSeen).toISOString(),
    }))
  }

  /** the zone a subject (by presence key) is placed in now */
  zoneOf(subject: string): string | null { return this.engine.zoneOf(subject) }
}
