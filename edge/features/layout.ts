/**
 * The store's layout (zones and anchors): seeded from config, replaced through the admin API (or CRM sync).
 * Other features add checks a new layout must pass (a campaign naming a zone that would vanish) and hear the
 * `layout` event once the new layout is committed.
 */
import { layoutProblems, type Layout } from '../contract/index.js'
import { layoutRoutes } from '../http/admin/layout.js'
import type { ProblemList, ReadyCheck } from '../http/services.js'
import { layoutOps } from '../storage/repos.js'
import type { Feature, GatewayContext } from './feature.js'

export class LayoutFeature implements Feature {
  readonly name = 'layout'
  private current: Layout
  private zones: Set<string>
  private placed: Set<string>
  private readonly checks: ((l: Layout, zones: ReadonlySet<string>) => ProblemList)[] = []
  readonly adminRoutes = layoutRoutes({ get: () => this.current, replace: (l, by) => this.replace(l, by, 'admin') })

  constructor(private readonly ctx: GatewayContext, initial: Layout) {
    this.current = initial
    this.zones = new Set(initial.zones.map((z) => z.id))
    this.placed = new Set(initial.anchors.map((a) => a.id))
  }

  get layout(): Layout { return this.current }
  get zoneIds(): ReadonlySet<string> { return this.zones }
  hasZone(zone: string): boolean { return this.zones.has(zone) }
  /** an anchor of the layout (scanner, beacon, button) */
  isPlaced(id: string): boolean { return this.placed.has(id) }

  ready(): Record<string, ReadyCheck> {
    const l = this.current
    if (l.zones.length === 0) return { layout: { ok: false, detail: 'no zones in the layout yet: send one with PUT /v1/admin/layout (role admin), or add layout.zones and layout.anchors to the config file' } }
    const anchors = l.anchors.filter((a) => a.kind !== 'button').length
    if (anchors === 0) return { layout: { ok: true, detail: `${l.zones.length} zones but no scanners or beacons placed: nothing is located until anchors are added to the layout` } }
    return { layout: { ok: true, detail: `${l.zones.length} zones, ${anchors} scanners and beacons` } }
  }

  /** a check a new layout must pass (problems are reported to the caller, nothing is applied) */
  addCheck(check: (l: Layout, zones: ReadonlySet<string>) => ProblemList): void { this.checks.push(check) }

  /** Validate, commit, then switch: in memory only once the transaction has committed. */
  async replace(l: Layout, by: string, source: string): Promise<ProblemList | null> {
    const problems = layoutProblems(l)
    const zones = new Set(l.zones.map((z) => z.id))
    for (const c of this.checks) problems.push(...c(l, zones))
    if (problems.length) return problems
    await this.ctx.store.writeNow(layoutOps(l, source, this.ctx.clock.now()))
    this.current = l
    this.zones = zones
    this.placed = new Set(l.anchors.map((a) => a.id))
    this.ctx.bus.emit('layout', l)
    this.ctx.log.info({ by, zones: l.zones.length, anchors: l.anchors.length }, 'layout replaced; presence restarted')
    return null
  }
}
