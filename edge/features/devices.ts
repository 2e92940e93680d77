/** The device registry: every scanner, lane, band and button seen, persisted every few seconds. */
import { deviceRoutes } from '../http/admin/devices.js'
import { DeviceRegistry } from '../ingest/devices.js'
import { deviceUpsertOps, loadDevices } from '../storage/repos.js'
import type { Feature, GatewayContext } from './feature.js'
import type { LayoutFeature } from './layout.js'

export class DevicesFeature implements Feature {
  readonly name = 'devices'
  readonly registry = new DeviceRegistry()
  readonly adminRoutes = deviceRoutes({ list: () => this.registry.list(this.ctx.clock.now(), (id) => this.layout.isPlaced(id)) })

  private constructor(private readonly ctx: GatewayContext, private readonly layout: LayoutFeature) {}

  static async create(ctx: GatewayContext, layout: LayoutFeature): Promise<DevicesFeature> {
    const f = new DevicesFeature(ctx, layout)
    for (const d of await loadDevices(ctx.store)) f.registry.restore(d)
    return f
  }

  async housekeeping(): Promise<void> {
    const dirty = this.registry.takeDirty()
    if (dirty.length) await this.ctx.store.write(deviceUpsertOps(dirty)).catch((err) => this.ctx.log.warn({ err }, 'device records not stored'))
  }

  stop(): Promise<void> { return this.housekeeping() }
}
