/**
 * The store IT console's live stream: one authenticated Server-Sent Events stream per open console
 * (`GET /v1/admin/live`), fed from the gateway's own bus events and in-memory state, never by polling the
 * admin API. A console gets a snapshot when it connects, then deltas: presence changes once a second,
 * bands, the call queue, devices going silent the moment housekeeping notices, dead letters, campaign
 * figures when offers are issued or redeemed, calibration progress while a session records, and the
 * gateway's health every few seconds.
 *
 * Bounded everywhere: at most `MAX_STREAMS` consoles; a console that does not read (a laptop gone to
 * sleep) is dropped once `MAX_BUFFERED` bytes wait for it and gets a fresh snapshot when it reconnects;
 * pending deltas are coalesced per subject and capped, rolling counts are per minute for the last hour.
 * When no console is open, the bus handlers return at once.
 */
import { statSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { join } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { Counter, Gauge } from 'prom-client'
import type { Campaign } from '../contract/resources.js'
import { liveRoutes } from '../http/admin/live.js'
import type { ReadyCheck } from '../http/services.js'
import { loadCampaigns } from '../storage/repos.js'
import type { AssistRequest } from '../assist/dispatcher.js'
import type { AssistFeature } from './assist.js'
import type { DevicesFeature } from './devices.js'
import type { Feature, GatewayContext } from './feature.js'
import { campaignFigures } from './figures.js'
import type { LayoutFeature } from './layout.js'
import type { OffersFeature } from './offers.js'
import type { PresenceFeature } from './presence.js'
import type { RecommenderFeature } from './recommender.js'

export const MAX_STREAMS = 32
export const MAX_BUFFERED = 2 * 1024 * 1024
const MAX_PENDING_SUBJECTS = 5000
const MAX_DEVICES_SENT = 2000
const HEALTH_EVERY_MS = 5000
const DEVICES_EVERY_MS = 5000
const PRESENCE_RESYNC_MS = 60_000
const FIGURES_MIN_MS = 5000
const ASSIST_FIGURES_MIN_MS = 10_000
const HEARTBEAT_MS = 15_000
const RECENT = 30
const HISTORY = 120

export interface LiveDeps {
  layout: LayoutFeature
  devices: DevicesFeature
  presence: PresenceFeature
  offers: OffersFeature
  assist: AssistFeature
  recommender: RecommenderFeature
  /** every feature of the gateway (readiness, and the sync feature's view when it has one); read when needed */
  features: readonly Feature[]
}

export interface Viewer { name: string; role: 'viewer' | 'operator' | 'admin' }

interface Stream {
  id: number
  viewer: Viewer
  raw: ServerResponse
  /** deltas that arrived while the snapshot was being built */
  queue: string[] | null
}

interface PresenceDelta { subject: string; zone: string | null; since: number | null; state: string }

/** Rolling per-minute counts for the last hour, by key. */
class MinuteCounts {
  private readonly buckets: { minute: number; counts: Map<string, number> }[] = []
  constructor(private readonly minutes = 60, private readonly maxKeys = 256) {}
  add(key: string, now: number, by = 1): void {
    const minute = Math.floor(now / 60_000)
    let b = this.buckets.at(-1)
    if (!b || b.minute !== minute) {
      b = { minute, counts: new Map() }
      this.buckets.push(b)
      while (this.buckets.length > this.minutes) this.buckets.shift()
    }
    if (!b.counts.has(key) && b.counts.size >= this.maxKeys) key = 'other'
    b.counts.set(key, (b.counts.get(key) ?? 0) + by)
  }
  totals(now: number): Record<string, number> {
    const since = Math.floor(now / 60_000) - this.minutes
    const out: Record<string, number> = {}
    for (const b of this.buckets) if (b.minute > since) for (const [k, n] of b.counts) out[k] = (out[k] ?? 0) + n
    return out
  }
}

/** Epoch ms of the start of the store-local day that holds `now`. */
export function startOfLocalDay(now: number, timeZone: string): number {
  const f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
  const parts = (t: number) => Object.fromEntries(f.formatToParts(t).filter((p) => p.type !== 'literal').map((p) => [p.type, Number(p.value)])) as Record<string, number>
  const p = parts(now)
  // the offset of the zone at `now`, then midnight of that local date; re-checked once for a DST change in between
  const offset = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - Math.floor(now / 1000) * 1000
  let midnight = Date.UTC(p.year!, p.month! - 1, p.day!) - offset
  const q = parts(midnight)
  if (q.hour !== 0 || q.day !== p.day) {
    const off2 = Date.UTC(q.year!, q.month! - 1, q.day!, q.hour!, q.minute!, q.second!) - midnight
    midnight = Date.UTC(p.year!, p.month! - 1, p.day!) - off2
  }
  return midnight
}

const requestView = (r: AssistRequest) => ({
  requestId: r.id, source: r.source, zone: r.zone, priority: r.priority, presses: r.presses, state: r.state,
  createdAt: r.createdAt, acceptedAt: r.acceptedAt, arrivedAt: r.arrivedAt, closedAt: r.closedAt, escalatedAt: r.escalatedAt,
  band: r.acceptedBy?.band ?? null, clerkId: r.acceptedBy?.clerkId ?? null, closeReason: r.closeReason,
  offered: r.offers.filter((o) => o.outcome === 'pending').map((o) => o.clerkId ?? o.band),
})

function campaignState(c: Campaign, retiredAt: number | null, now: number): 'active' | 'retired' | 'scheduled' | 'ended' {
  if (retiredAt !== null) return 'retired'
  if (c.from && Date.parse(c.from) > now) return 'scheduled'
  if (c.to && Date.parse(c.to) < now) return 'ended'
  return 'active'
}

export class LiveFeature implements Feature {
  readonly name = 'live'
  readonly adminRoutes
  private readonly streams = new Map<number, Stream>()
  private seq = 0
  private readonly loop = monitorEventLoopDelay({ resolution: 20 })
  private readonly dbFile: string

  // pending deltas (only collected while a console is open)
  private presence = new Map<string, PresenceDelta>()
  private presenceOverflow = false
  private bandsDirty = false
  private assistDirty = false
  private figuresDirty = false
  private assistFiguresDirty = true
  private deadLettersDirty = false
  private readonly recentOffers: { offerId: string; campaignId: string; zone: string | null; ts: number; event: 'issued' | 'redeemed' }[] = []
  private readonly recentCalls: ReturnType<typeof requestView>[] = []
  private readonly recentDeadLetters: { receivedAt: number; topic: string; device: string | null; reason: string; detail: string }[] = []
  private deviceEvents: { id: string; kind: string; online: boolean | null; silent: boolean; reason: string | null; lastSeen: number; ts: number }[] = []

  // rolling figures (kept whether or not a console is open: cheap, bounded)
  private readonly deadLetterMinutes = new MinuteCounts(60, 32)
  private readonly zoneEnters = new MinuteCounts(60, 1024)
  private readonly lagHistory: { ts: number; p99: number; max: number }[] = []

  /** performance.now() of the last push of each kind (a new console sets them back: it has the snapshot) */
  private last = { presenceFlush: 0, health: 0, devices: 0, resync: 0, figures: 0, assistFigures: 0, heartbeat: 0, calibration: 0 }
  private calibrationWasRecording = false
  private busy = { figures: false, assistFigures: false, health: false, calibration: false, campaigns: false }
  private readonly drops: Counter
  private readonly unsubscribe: (() => void)[] = []

  constructor(private readonly ctx: GatewayContext, private readonly d: LiveDeps) {
    this.dbFile = join(ctx.config.dataDir, ctx.config.storage.file)
    this.loop.enable()
    this.adminRoutes = liveRoutes({ attach: (raw, viewer) => this.attach(raw, viewer), closeAll: () => this.closeAll(), full: () => this.streams.size >= MAX_STREAMS })
    const streams = this.streams
    new Gauge({ name: 'aisle_console_streams', help: 'Open store IT console live streams', registers: [ctx.metrics.registry], collect() { this.set(streams.size) } })
    this.drops = new Counter({ name: 'aisle_console_stream_drops_total', help: 'Console live streams dropped because the console did not keep up', registers: [ctx.metrics.registry] })
    // for the alert rules (config/prometheus-rules.yml): what a chain's store IT is paged about
    const store = ctx.store
    const clock = ctx.clock
    const waiting = () => d.assist.service.dispatcher.open().filter((r) => r.arrivedAt === null)
    new Gauge({
      name: 'aisle_assist_waiting_oldest_seconds', help: 'How long the longest-waiting open call for service has waited for a clerk to arrive (0 when none)', registers: [ctx.metrics.registry],
      collect() { const now = clock.now(); this.set(waiting().reduce((m, r) => Math.max(m, (now - r.createdAt) / 1000), 0)) },
    })
    new Gauge({
      name: 'aisle_assist_waiting_over_goal', help: 'Open calls for service waiting longer than the 2-minute goal for a clerk to arrive', registers: [ctx.metrics.registry],
      collect() { const now = clock.now(); this.set(waiting().filter((r) => now - r.createdAt > 120_000).length) },
    })
    this.wire()
  }

  private get watching(): boolean { return this.streams.size > 0 }

  private wire(): void {
    const { bus, clock } = this.ctx
    const on: typeof bus.on = (e, l) => { const off = bus.on(e, l); this.unsubscribe.push(off); return off }
    on('zone', (e) => {
      if (e.state === 'enter') this.zoneEnters.add(e.zone, e.ts)
      if (!this.watching) return
      if (e.subject.startsWith('band:')) this.bandsDirty = true
      if (this.presence.size >= MAX_PENDING_SUBJECTS && !this.presence.has(e.subject)) { this.presenceOverflow = true; return }
      this.presence.set(e.subject, { subject: e.subject, zone: e.state === 'exit' ? null : e.zone, since: e.state === 'exit' ? null : e.since, state: e.state })
    })
    on('memberErased', ({ pseudonym }) => {
      if (this.watching) this.presence.set(pseudonym, { subject: pseudonym, zone: null, since: null, state: 'exit' })
    })
    on('bandStatus', () => { if (this.watching) this.bandsDirty = true })
    on('assistChanged', (a) => {
      this.assistFiguresDirty = true
      if (!this.watching) return
      this.assistDirty = true
      this.bandsDirty = true
      if (a.to === 'done' || a.to === 'cancelled' || a.to === 'expired') {
        const r = this.d.assist.service.dispatcher.list().find((x) => x.id === a.requestId)
        if (r) this.pushRecent(this.recentCalls, requestView(r))
      }
    })
    on('offerIssued', (o) => {
      this.figuresDirty = true
      if (this.watching) this.pushRecent(this.recentOffers, { offerId: o.offerId, campaignId: o.campaignId, zone: o.zone ?? null, ts: o.issuedAt, event: 'issued' })
    })
    on('offerRedeemed', (o) => {
      this.figuresDirty = true
      if (this.watching) this.pushRecent(this.recentOffers, { offerId: o.offerId, campaignId: o.campaignId, zone: null, ts: o.ts, event: 'redeemed' })
    })
    on('campaignChanged', () => {
      this.figuresDirty = true
      if (this.watching) void this.sendCampaigns()
    })
    on('deadLetter', (dl) => {
      this.deadLetterMinutes.add(dl.reason, dl.receivedAt)
      if (!this.watching) return
      this.deadLettersDirty = true
      this.pushRecent(this.recentDeadLetters, { receivedAt: dl.receivedAt, topic: dl.topic, device: dl.device, reason: dl.reason, detail: dl.detail.slice(0, 200) })
    })
    on('deviceState', (s) => {
      if (!this.watching) return
      this.deviceEvents.push(s)
      if (this.deviceEvents.length > 500) this.deviceEvents = this.deviceEvents.slice(-500)
    })
    on('layout', (l) => this.broadcast('layout', { now: clock.now(), layout: l }))
  }

  private pushRecent<T>(list: T[], item: T): void {
    list.push(item)
    if (list.length > RECENT) list.shift()
  }

  // ---------------------------------------------------------------- streams

  private async attach(raw: ServerResponse, viewer: Viewer): Promise<boolean> {
    if (this.streams.size >= MAX_STREAMS) return false
    const s: Stream = { id: ++this.seq, viewer, raw, queue: [] }
    this.streams.set(s.id, s)
    const gone = () => {
      this.streams.delete(s.id)
      if (!this.watching) this.reset()
    }
    raw.on('close', gone)
    raw.on('error', gone)
    this.ctx.log.info({ by: viewer.name, role: viewer.role, streams: this.streams.size }, 'console stream opened')
    try {
      const snap = await this.snapshot(viewer)
      if (!this.streams.has(s.id)) return true
      raw.write(`retry: 3000\nevent: snapshot\ndata: ${JSON.stringify(snap)}\n\n`)
      for (const chunk of s.queue ?? []) raw.write(chunk)
      s.queue = null
    } catch (err) {
      this.ctx.log.warn({ err }, 'console snapshot failed')
      raw.end()
    }
    return true
  }

  /** nobody is watching: drop what was collected for them */
  private reset(): void {
    this.presence.clear()
    this.presenceOverflow = false
    this.deviceEvents = []
    this.recentOffers.length = 0
    this.recentCalls.length = 0
    this.recentDeadLetters.length = 0
  }

  private broadcast(event: string, data: unknown): void {
    if (!this.watching) return
    const chunk = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
    for (const s of this.streams.values()) {
      if (s.queue) {
        if (s.queue.length < 1000) s.queue.push(chunk)
        continue
      }
      if (s.raw.writableLength > MAX_BUFFERED) {
        this.drops.inc()
        this.ctx.log.warn({ by: s.viewer.name, buffered: s.raw.writableLength }, 'console stream dropped: the console is not reading')
        this.streams.delete(s.id)
        s.raw.destroy()
        continue
      }
      s.raw.write(chunk)
    }
  }

  private closeAll(): void {
    for (const s of this.streams.values()) s.raw.end()
    this.streams.clear()
    this.reset()
  }

  // ---------------------------------------------------------------- periodic

  /**
   * Pushes are paced in real time (a console wants about one update a second whatever the gateway's clock
   * does: a simulated day runs thousands of virtual seconds a second); the data carries the gateway's time.
   */
  tick(now: number, t = performance.now()): void {
    if (!this.watching) return
    const due = (k: keyof LiveFeature['last'], every: number) => {
      if (t - this.last[k] < every) return false
      this.last[k] = t
      return true
    }
    if (due('presenceFlush', 1000)) {
      this.flushPresence(now, t)
      if (this.bandsDirty) { this.bandsDirty = false; this.broadcast('bands', { now, bands: this.bands(now) }) }
      if (this.assistDirty) { this.assistDirty = false; this.broadcast('assist', { now, open: this.openCalls(), recent: this.recentCalls }) }
      if (this.deviceEvents.length) {
        const events = this.deviceEvents
        this.deviceEvents = []
        this.broadcast('deviceState', { now, events })
      }
      if (this.deadLettersDirty) { this.deadLettersDirty = false; this.broadcast('deadLetters', { now, ...this.deadLetterFigures(now) }) }
      if (this.recentOffers.length) this.broadcast('offers', { now, recent: this.recentOffers.splice(0) })
    }
    if (due('devices', DEVICES_EVERY_MS)) this.broadcast('devices', { now, ...this.devicesView(now) })
    if (due('resync', PRESENCE_RESYNC_MS)) this.broadcast('presenceAll', { now, subjects: this.subjects(now), traffic: this.zoneEnters.totals(now) })
    if (this.figuresDirty && !this.busy.figures && due('figures', FIGURES_MIN_MS)) {
      this.figuresDirty = false
      void this.guard('figures', async () => this.broadcast('figures', { now, ...(await this.figures(now)) }))
    }
    if (this.assistFiguresDirty && !this.busy.assistFigures && due('assistFigures', ASSIST_FIGURES_MIN_MS)) {
      this.assistFiguresDirty = false
      void this.guard('assistFigures', async () => this.broadcast('assistFigures', { now, ...(await this.assistFigures(now)) }))
    }
    // while a session records, every 2 s; and once more when the last one has ended
    const recording = this.d.presence.calibration.recording
    if (recording) this.calibrationWasRecording = true
    if (!this.busy.calibration && ((recording && due('calibration', 2000)) || (this.calibrationWasRecording && !recording))) {
      if (!recording) this.calibrationWasRecording = false
      void this.guard('calibration', async () => {
        if (!recording) await this.ctx.store.queue.flush() // the session's end is a queued write
        this.broadcast('calibration', { now, calibration: await this.d.presence.calibration.status() })
      })
    }
    if (due('health', HEALTH_EVERY_MS)) void this.guard('health', async () => this.broadcast('health', { now, ...(await this.health(now)) }))
    if (due('heartbeat', HEARTBEAT_MS)) for (const s of this.streams.values()) if (!s.queue) s.raw.write(': keep-alive\n\n')
  }

  /** event-loop lag is sampled whether or not a console is open (the history is what a console shows first) */
  housekeeping(now: number): void {
    const p99 = this.loop.count > 0 ? this.loop.percentile(99) / 1e6 : 0
    const max = this.loop.count > 0 ? this.loop.max / 1e6 : 0
    this.loop.reset()
    this.lagHistory.push({ ts: now, p99: Math.round(p99 * 10) / 10, max: Math.round(max * 10) / 10 })
    if (this.lagHistory.length > HISTORY) this.lagHistory.shift()
  }

  private async guard(what: keyof LiveFeature['busy'], fn: () => Promise<void>): Promise<void> {
    if (this.busy[what]) return
    this.busy[what] = true
    try {
      await fn()
    } catch (err) {
      this.ctx.log.warn({ err, what }, 'console update failed')
    } finally {
      this.busy[what] = false
    }
  }

  private flushPresence(now: number, t: number): void {
    if (this.presenceOverflow) {
      this.presenceOverflow = false
      this.presence.clear()
      this.last.resync = t
      this.broadcast('presenceAll', { now, subjects: this.subjects(now), traffic: this.zoneEnters.totals(now) })
      return
    }
    if (this.presence.size === 0) return
    const changes = [...this.presence.values()]
    this.presence.clear()
    this.broadcast('presence', { now, changes })
  }

  // ---------------------------------------------------------------- views

  private subjects(now: number) {
    return this.d.presence.engine.snapshot(now).filter((p) => p.zone !== null).map((p) => ({ subject: p.subject, zone: p.zone, since: p.since }))
  }

  private bands(now: number) {
    const s = this.d.assist.service
    const supervisors = new Set(s.supervisors)
    return s.dispatcher.bandList().map((b) => ({
      band: b.band, clerkId: b.clerkId, status: s.bandStatusOf(b.band, now), onShift: b.onShift, battery: b.battery,
      lastHeartbeat: Number.isFinite(b.heartbeatAt) ? b.heartbeatAt : null, zone: b.zone, busyWith: b.busyWith,
      supervisor: b.clerkId !== null && supervisors.has(b.clerkId),
    }))
  }

  private openCalls() {
    return this.d.assist.service.dispatcher.open().map(requestView).sort((a, b) => a.createdAt - b.createdAt)
  }

  private devicesView(now: number) {
    const all = this.d.devices.list()
    // problems first, so a capped list still shows them
    const rank = (x: (typeof all)[number]) => (x.online === false ? 0 : x.badMessages > 0 ? 1 : 2)
    const list = all.length > MAX_DEVICES_SENT ? [...all].sort((a, b) => rank(a) - rank(b)).slice(0, MAX_DEVICES_SENT) : all
    return { devices: list, total: all.length, neverSeen: this.d.devices.missing(now) }
  }

  private deadLetterFigures(now: number) {
    return { lastHour: this.deadLetterMinutes.totals(now), recent: this.recentDeadLetters }
  }

  private async campaigns(now: number) {
    return (await loadCampaigns(this.ctx.store, true)).map((c) => ({ campaign: c.campaign, source: c.source, retiredAt: c.retiredAt, state: campaignState(c.campaign, c.retiredAt, now) }))
  }

  private async sendCampaigns(): Promise<void> {
    await this.guard('campaigns', async () => {
      const now = this.ctx.clock.now()
      this.broadcast('campaigns', { now, campaigns: await this.campaigns(now) })
    })
  }

  /** campaign figures and the day's offers in 15-minute buckets (store-local day) */
  private async figures(now: number) {
    const dayStart = startOfLocalDay(now, this.ctx.config.store.timezone)
    const bucket = 15 * 60_000
    const [campaigns, issued, redeemed] = await Promise.all([
      campaignFigures(this.ctx.store),
      this.ctx.store.all<{ b: number; n: number }>('SELECT CAST((issued_at - ?) / ? AS INTEGER) AS b, COUNT(*) AS n FROM offers WHERE issued_at >= ? GROUP BY b ORDER BY b', [dayStart, bucket, dayStart]),
      this.ctx.store.all<{ b: number; n: number }>('SELECT CAST((redeemed_at - ?) / ? AS INTEGER) AS b, COUNT(*) AS n FROM offers WHERE redeemed_at >= ? GROUP BY b ORDER BY b', [dayStart, bucket, dayStart]),
    ])
    return { campaigns, day: { start: dayStart, bucketMs: bucket, issued: issued.map((r) => [Math.floor(r.b), r.n]), redeemed: redeemed.map((r) => [Math.floor(r.b), r.n]) } }
  }

  private async assistFigures(now: number) {
    const since = startOfLocalDay(now, this.ctx.config.store.timezone)
    return { since, goalSeconds: 120, ...(await this.d.assist.service.figures(since)) }
  }

  private readiness(): Record<string, ReadyCheck> {
    const q = this.ctx.store.queue.stats
    const checks: Record<string, ReadyCheck> = { database: { ok: q.lastError === null || q.failedUnits === 0, detail: q.lastError ?? `${this.dbFile} (WAL)` } }
    for (const f of this.d.features) if (f.name !== this.name) Object.assign(checks, f.ready?.())
    return checks
  }

  /** CRM sync: the sync feature's own view when it has one (its fields may grow), else the outbox backlog */
  private async sync(now: number): Promise<Record<string, unknown>> {
    const f = this.d.features.find((x) => x.name === 'sync') as (Feature & { view?: () => Promise<Record<string, unknown>> }) | undefined
    if (f && typeof f.view === 'function') return f.view()
    const row = await this.ctx.store.get<{ n: number; oldest: number | null }>('SELECT COUNT(*) AS n, MIN(ts) AS oldest FROM outbox WHERE sent_at IS NULL')
    return { backlog: row?.n ?? 0, oldestAgeSeconds: row?.oldest == null ? null : Math.round((now - row.oldest) / 1000), lastSuccess: null, lastError: null }
  }

  private dbSize(): { bytes: number; walBytes: number } {
    const size = (f: string) => { try { return statSync(f).size } catch { return 0 } }
    return { bytes: size(this.dbFile), walBytes: size(`${this.dbFile}-wal`) }
  }

  private async health(now: number) {
    const [sync, stored] = await Promise.all([
      this.sync(now).catch((err: Error) => ({ error: err.message })),
      this.ctx.store.all<{ reason: string; n: number }>('SELECT reason, COUNT(*) AS n FROM dead_letters GROUP BY reason ORDER BY n DESC'),
    ])
    const checks = this.readiness()
    const mem = process.memoryUsage()
    return {
      ready: Object.values(checks).every((c) => c.ok),
      checks,
      sync,
      deadLetters: { stored: Object.fromEntries(stored.map((r) => [r.reason, r.n])), lastHour: this.deadLetterMinutes.totals(now) },
      eventLoop: this.lagHistory.at(-1) ?? { ts: now, p99: 0, max: 0 },
      database: this.dbSize(),
      process: { rss: mem.rss, heapUsed: mem.heapUsed, uptimeSeconds: Math.round(process.uptime()) },
      model: this.d.recommender.registry.state(),
      recommenderEnabled: this.ctx.config.recommender.enabled,
      streams: this.streams.size,
    }
  }

  private async snapshot(viewer: Viewer) {
    const now = this.ctx.clock.now()
    const [campaigns, figures, assistFigures, calibration, health] = await Promise.all([
      this.campaigns(now), this.figures(now), this.assistFigures(now), this.d.presence.calibration.status(), this.health(now),
    ])
    const c = this.ctx.config
    return {
      now,
      you: viewer,
      store: { id: c.store.id, name: c.store.name, timezone: c.store.timezone },
      version: this.ctx.version,
      layout: this.d.layout.layout,
      subjects: this.subjects(now),
      traffic: this.zoneEnters.totals(now),
      bands: this.bands(now),
      assist: { open: this.openCalls(), recent: this.recentCalls },
      assistFigures,
      devices: this.devicesView(now),
      campaigns,
      figures,
      calibration,
      health: { ...health, lagHistory: this.lagHistory },
      deadLetters: this.deadLetterFigures(now),
      presenceNote: this.d.presence.ready().presence?.detail ?? null,
    }
  }

  stop(): void {
    for (const off of this.unsubscribe) off()
    this.closeAll()
    this.loop.disable()
  }
}
