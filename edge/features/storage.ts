/**
 * Storage health: /readyz reports the database failing while writes fail (disk full, I/O errors) and
 * recovers by itself: while failing, a tiny probe write is tried every few seconds, so readiness comes back
 * as soon as space does, even when nothing else is being written.
 */
import type { ReadyCheck } from '../http/services.js'
import { metaOp } from '../storage/store.js'
import type { Feature, GatewayContext } from './feature.js'

export class StorageFeature implements Feature {
  readonly name = 'storage'

  constructor(private readonly ctx: GatewayContext) {}

  async housekeeping(now: number): Promise<void> {
    const q = this.ctx.store.queue
    if (!q.failing) return
    await this.ctx.store.write([metaOp('probe', String(now))]).then(
      () => this.ctx.log.info('database writable again'),
      () => {},
    )
  }

  ready(): Record<string, ReadyCheck> {
    const q = this.ctx.store.queue
    if (q.failing) return { database: { ok: false, detail: `writes are failing: ${q.stats.lastError} (nothing is lost in memory; free disk space and it recovers by itself)` } }
    return { database: { ok: true, detail: `${this.ctx.store.file} (WAL)` } }
  }
}
