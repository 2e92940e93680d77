/** Dead letters: every message ingest could not use, stored (bounded) with its reason, and browsable. */
import { randomBytes } from 'node:crypto'
import { deadLetterRoutes } from '../http/admin/dead-letters.js'
import type { DeadLetterView } from '../http/services.js'
import { deadLetterOps, pruneDeadLettersOp } from '../storage/repos.js'
import type { Feature, GatewayContext } from './feature.js'
import type { MembersFeature } from './members.js'

export class DeadLettersFeature implements Feature {
  readonly name = 'dead-letters'
  private seq = 0
  private lastPrune = 0
  private readonly runId = randomBytes(4).toString('hex')
  readonly adminRoutes = deadLetterRoutes({ list: (q, reveal) => this.list(q, reveal) })

  constructor(private readonly ctx: GatewayContext, private readonly members: MembersFeature) {
    ctx.bus.on('deadLetter', (d) => {
      ctx.store.write(deadLetterOps(d, ctx.storeId, `${this.runId}:${this.seq++}`)).catch((err) => ctx.log.warn({ err: (err as Error).message }, 'dead letter not stored'))
    })
  }

  async housekeeping(): Promise<void> {
    const max = this.ctx.config.ingest.deadLetterMax
    if (this.seq - this.lastPrune < Math.max(100, max / 10)) return
    this.lastPrune = this.seq
    await this.ctx.store.write([pruneDeadLettersOp(max)]).catch(() => {})
  }

  async stop(): Promise<void> {
    await this.ctx.store.write([pruneDeadLettersOp(this.ctx.config.ingest.deadLetterMax)]).catch(() => {})
  }

  async list(q: { reason?: string | undefined; device?: string | undefined; limit: number; before?: number | undefined }, reveal: boolean): Promise<DeadLetterView[]> {
    const where: string[] = []
    const params: (string | number)[] = []
    if (q.reason) { where.push('reason = ?'); params.push(q.reason) }
    if (q.device) { where.push('device = ?'); params.push(q.device) }
    if (q.before) { where.push('id < ?'); params.push(q.before) }
    const rows = await this.ctx.store.all<{ id: number; received_at: number; topic: string; device: string | null; reason: string; detail: string | null; size: number; payload: Buffer }>(
      `SELECT * FROM dead_letters ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, [...params, q.limit])
    const shown = (text: string) => (reveal ? text : this.pseudonymise(text))
    return rows.map((r) => ({
      id: r.id, receivedAt: new Date(r.received_at).toISOString(), topic: r.topic, device: r.device, reason: r.reason, detail: r.detail === null ? null : shown(r.detail), size: r.size,
      payload: Buffer.isBuffer(r.payload) && isText(r.payload) ? shown(r.payload.toString('utf8')) : reveal ? Buffer.from(r.payload).toString('base64') : '(binary payload: shown to role admin)',
    }))
  }

  /** what a viewer sees of a payload: member ids as the gateway's pseudonyms, no coupon codes */
  private pseudonymise(text: string): string {
    const identity = this.members.identity
    return text
      .replace(/("memberId"\s*:\s*")([^"\\]{0,128})"/g, (_m, head: string, id: string) => `${head}${identity.pseudonym(id)}"`)
      .replace(/[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{44}/g, '[coupon]')
  }
}

function isText(b: Buffer): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[\u0000-\u0008\u000e-\u001f]/.test(b.toString('utf8')) && Buffer.from(b.toString('utf8'), 'utf8').equals(b)
}
