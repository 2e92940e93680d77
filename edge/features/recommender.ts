/** The recommender: the model registry (verified ONNX models, hot swap, rollback) and the ranker offers use. */
import { join } from 'node:path'
import { packageRoot } from '../config/load.js'
import { modelRoutes } from '../http/admin/models.js'
import type { ReadyCheck } from '../http/services.js'
import { ModelRegistry } from '../recommend/registry.js'
import { Ranker } from '../recommend/ranker.js'
import type { Feature, GatewayContext } from './feature.js'

export class RecommenderFeature implements Feature {
  readonly name = 'recommender'
  readonly registry: ModelRegistry
  /** null when the recommender is switched off (campaign rule priority) */
  readonly ranker: Ranker | null
  readonly adminRoutes

  private constructor(private readonly ctx: GatewayContext) {
    const { config, log, clock, metrics } = ctx
    const registry = new ModelRegistry([join(config.dataDir, 'models'), config.recommender.modelDir ?? join(packageRoot(), 'models')], log, () => clock.now())
    this.registry = registry
    this.ranker = config.recommender.enabled ? new Ranker(registry, (reason) => metrics.recommenderFallbacks.inc([reason])) : null
    this.adminRoutes = modelRoutes({
      state: () => registry.state(),
      activate: (name) => registry.activate(name),
      rollback: async () => registry.rollback(),
      upload: (name, bytes, sha) => registry.upload(join(config.dataDir, 'models'), name, bytes, sha),
    })
  }

  static async create(ctx: GatewayContext): Promise<RecommenderFeature> {
    const f = new RecommenderFeature(ctx)
    if (ctx.config.recommender.enabled) {
      const r = await f.registry.activate(ctx.config.recommender.model ?? undefined)
      if (!r.ok) ctx.log.warn({ error: r.error }, 'no recommender model: offers are ranked by campaign rule priority')
    }
    return f
  }

  ready(): Record<string, ReadyCheck> {
    const r = this.registry
    const detail = !this.ctx.config.recommender.enabled ? 'recommender off: campaign rule priority'
      : r.active ? `recommender ${r.active.version}` : `no recommender model (${r.state().lastError ?? 'none'}): campaign rule priority`
    return { model: { ok: true, detail } }
  }

  stop(): Promise<void> | void { return this.registry.close() }
}
