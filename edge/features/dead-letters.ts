/**
 * Dead letters: every message ingest could not use, stored (bounded) with its reason, and browsable. Central IT
 * gets them on the ops stream as counts by reason and a few samples a minute (a flood of 120k bad messages is
 * one record a minute, not 120k).
 */
import { randomBytes } from 'node:crypto'
import { deadLetterRoutes } from '../http/admin/dead-letters.js'
import type { DeadLetterView } from '../http/services.js'
import { deadLetterOps, pruneDeadLettersOp } from '../storage/repos.js'
import { outboxOp } from '../storage/store.js'
import type { Feature, GatewayContext } from './feature.js'
import type { MembersFeature } from './members.js'

export class DeadLettersFeature implements Feature {
  readonly name = 'dead-letters'
  private seq = 0
  private lastPrune = 0
  private readonly runId = randomBytes(4).toString('hex')
  readonly adminRoutes = deadLetterRoutes({ list: (q, reveal) => this.list(q, reveal) })
  /** this minute's dead letters for the ops stream: counts by reason (bounded) and the first few */
  private window = { from: 0, counts: new Map<string, number>(), samples: [] as { topic: string; device: string | null; reason: string; size: number; at: string }[], n: 0 }

  constructor(private readonly ctx: GatewayContext, private readonly members: MembersFeature) {
    ctx.bus.on('deadLetter', (d) => {
      this.seq++
      const w = this.window
      if (w.n === 0) w.from = d.receivedAt
      w.n++
      const reason = w.counts.has(d.reason) || w.counts.size < 64 ? d.reason : 'other'
      w.counts.set(reason, (w.counts.get(reason) ?? 0) + 1)
      if (w.samples.length < 5) w.samples.push({ topic: d.topic.slice(0, 200), device: d.device, reason: d.reason, size: d.size, at: new Date(d.receivedAt).toISOString() })
      ctx.store.write(deadLetterOps(d)).catch((err) => ctx.log.warn({ err: (err as Error).message }, 'dead letter not stored'))
    })
  }

  /** one ops record for the window (every minute, and at shutdown) */
  private async flushWindow(now: number, force: boolean): Promise<void> {
    const w = this.window
    if (w.n === 0 || (!force && now - w.from < 60_000)) return
    this.window = { from: 0, counts: new Map(), samples: [], n: 0 }
    await this.ctx.store.write([outboxOp({
      stream: 'ops', messageId: `dead-letters:${this.ctx.storeId}:${this.runId}:${w.from}`, event: 'Messages Dead-Lettered', anonymousId: this.ctx.storeId, ts: now,
      properties: { from: new Date(w.from).toISOString(), to: new Date(now).toISOString(), total: w.n, byReason: Object.fromEntries(w.counts), samples: w.samples, storeId: this.ctx.storeId },
    })]).catch((err) => this.ctx.log.warn({ err: (err as Error).message }, 'dead-letter counts not stored'))
  }

  async housekeeping(now: number): Promise<void> {
    await this.flushWindow(now, false)
    const max = this.ctx.config.ingest.deadLetterMax
    if (this.seq - this.lastPrune < Math.max(100, max / 10)) return
    this.lastPrune = this.seq
    await this.ctx.store.write([pruneDeadLettersOp(max)]).catch(() => {})
  }

  async stop(): Promise<void> {
    await this.flushWindow(this.ctx.clock.now(), true)
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
