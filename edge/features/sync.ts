/** CRM sync: the outbox's backlog and the state of the drain (cloud-sync/). */
import { syncRoutes } from '../http/admin/sync.js'
import type { SyncView } from '../http/services.js'
import type { Feature, GatewayContext } from './feature.js'

export class SyncFeature implements Feature {
  readonly name = 'sync'
  readonly adminRoutes = syncRoutes({ view: () => this.view() })

  constructor(private readonly ctx: GatewayContext) {}

  async view(): Promise<SyncView> {
    const rows = await this.ctx.store.all<{ stream: string; n: number; oldest: number | null }>('SELECT stream, COUNT(*) AS n, MIN(ts) AS oldest FROM outbox WHERE sent_at IS NULL GROUP BY stream')
    const oldest = rows.reduce<number | null>((acc, r) => (r.oldest !== null && (acc === null || r.oldest < acc) ? r.oldest : acc), null)
    return {
      backlog: rows.reduce((n, r) => n + r.n, 0),
      oldestAgeSeconds: oldest === null ? null : Math.max(0, Math.round((this.ctx.clock.now() - oldest) / 1000)),
      lastSuccessAt: null,
      lastError: 'CRM sync is not configured on this gateway yet',
      byStream: Object.fromEntries(rows.map((r) => [r.stream, r.n])),
    }
  }
}
