/**
 * The device registry: every scanner, lane, band and button seen, persisted every few seconds. Online comes
 * from `P/status/<id>` (and its last will) and from silence: a device heard from less often than its kind's
 * expected interval (`devices.expectedIntervalSeconds`) is flagged within a second of the gateway's clock, logged,
 * told on the bus (`deviceState`) and counted in /metrics (`aisle_devices_silent{kind}`, `aisle_devices{kind,state}`).
 * A scanner placed in the layout that has never been heard counts as silent once the gateway has been up
 * for its interval.
 */
import { Gauge } from 'prom-client'
import { deviceRoutes } from '../http/admin/devices.js'
import { DEVICE_KINDS, DeviceRegistry, type DeviceKind, type DeviceView, type ExpectedIntervals } from '../ingest/devices.js'
import { deviceUpsertOps, loadDevices } from '../storage/repos.js'
import type { Feature, GatewayContext } from './feature.js'
import type { LayoutFeature } from './layout.js'

export function expectedIntervals(c: Record<string, number | null | undefined> | undefined): ExpectedIntervals {
  const out: ExpectedIntervals = {}
  for (const k of DEVICE_KINDS) {
    const v = c?.[k]
    out[k] = v === null || v === undefined ? null : v * 1000
  }
  return out
}

/** A layout anchor a device should be at (scanners and buttons), with no record yet. */
export interface MissingDevice { id: string; kind: 'scanner' | 'button'; zone: string | null; silent: boolean; expectedIntervalSeconds: number | null }

export class DevicesFeature implements Feature {
  readonly name = 'devices'
  readonly registry: DeviceRegistry
  readonly adminRoutes = deviceRoutes({ list: () => this.list(), neverSeen: () => this.missing(this.ctx.clock.now()) })
  private readonly startedAt: number
  private zones = new Map<string, string | null>()

  private constructor(private readonly ctx: GatewayContext, private readonly layout: LayoutFeature) {
    this.registry = new DeviceRegistry(10_000, expectedIntervals(ctx.config.devices?.expectedIntervalSeconds))
    this.startedAt = ctx.clock.now()
    this.indexZones()
    ctx.bus.on('layout', () => this.indexZones())
    const reg = this.registry
    const self = this
    new Gauge({
      name: 'aisle_devices_silent', help: 'Devices heard from less often than their kind\'s expected interval (devices.expectedIntervalSeconds), by kind; placed scanners never heard count too',
      labelNames: ['kind'], registers: [ctx.metrics.registry],
      collect() {
        this.reset()
        const now = ctx.clock.now()
        const silent = reg.silentByKind(now)
        const missing = self.missing(now).filter((m) => m.silent).length
        if (missing) silent.set('scanner', (silent.get('scanner') ?? 0) + missing)
        for (const k of DEVICE_KINDS) if (reg.expectedMs(k) !== null || silent.has(k)) this.set({ kind: k }, silent.get(k) ?? 0)
      },
    })
    new Gauge({
      name: 'aisle_devices', help: 'Devices known, by kind and state (online, offline, unknown)', labelNames: ['kind', 'state'], registers: [ctx.metrics.registry],
      collect() {
        this.reset()
        for (const [k, n] of reg.countByState(ctx.clock.now())) {
          const [kind, state] = k.split('\u0000') as [string, string]
          this.set({ kind, state }, n)
        }
      },
    })
  }

  static async create(ctx: GatewayContext, layout: LayoutFeature, registered: (id: string) => boolean = () => false): Promise<DevicesFeature> {
    const f = new DevicesFeature(ctx, layout)
    // the registry is bounded: made-up ids make way; the store's own devices never do
    f.registry.protect((id) => registered(id) || layout.isPlaced(id))
    for (const d of await loadDevices(ctx.store)) f.registry.restore(d)
    return f
  }

  private indexZones(): void {
    this.zones = new Map(this.layout.layout.anchors.map((a) => [a.id, a.zone ?? null]))
  }

  zoneOf(id: string): string | null { return this.zones.get(id) ?? null }

  list(): DeviceView[] {
    return this.registry.list(this.ctx.clock.now(), (id) => this.layout.isPlaced(id), (id) => this.zoneOf(id))
  }

  /** scanners and buttons of the layout never heard from */
  missing(now: number): MissingDevice[] {
    const out: MissingDevice[] = []
    for (const a of this.layout.layout.anchors) {
      if ((a.kind !== 'scanner' && a.kind !== 'button') || this.registry.has(a.id)) continue
      const interval = this.registry.expectedMs(a.kind === 'scanner' ? 'scanner' : 'button')
      out.push({ id: a.id, kind: a.kind, zone: a.zone ?? null, silent: interval !== null && now - this.startedAt > interval, expectedIntervalSeconds: interval === null ? null : interval / 1000 })
    }
    return out
  }

  private lastCheck = -Infinity

  /** Online state changes: silence is noticed here, once a second of the gateway's clock. */
  tick(now: number): void {
    if (now - this.lastCheck < 1000 && now >= this.lastCheck) return
    this.lastCheck = now
    this.check(now)
  }

  private check(now: number): void {
    for (const c of this.registry.changes(now)) {
      const d = c.record
      // the first report of a device is its state at start-up or when first heard: only changes are news
      if (c.from !== null || c.to.online === false) {
        this.ctx.bus.emit('deviceState', { id: d.id, kind: d.kind, online: c.to.online, silent: c.to.silent, reason: c.to.reason, lastSeen: d.lastSeen, ts: now })
        if (c.to.online === false && (c.from === null || c.from.online !== false)) this.ctx.log.warn({ device: d.id, kind: d.kind, reason: c.to.reason, lastSeen: new Date(d.lastSeen).toISOString() }, c.to.reason === 'silent' ? 'device silent' : 'device offline')
        else if (c.to.online === true && c.from?.online === false) this.ctx.log.info({ device: d.id, kind: d.kind }, 'device back online')
      }
    }
  }

  /** Persistence of what changed. */
  async housekeeping(): Promise<void> {
    const removed = this.registry.takeRemoved()
    const dirty = this.registry.takeDirty()
    const ops = [
      ...removed.map((d) => ({ op: 'sql' as const, sql: 'DELETE FROM devices WHERE device_id = ? AND kind = ?', params: [d.id, d.kind] })),
      ...deviceUpsertOps(dirty),
    ]
    if (ops.length) await this.ctx.store.write(ops).catch((err) => this.ctx.log.warn({ err }, 'device records not stored'))
  }

  stop(): Promise<void> { return this.housekeeping() }
}

export type { DeviceKind }
