/**
 * Members at the edge: the identity resolver (rotating rpids -> gateway pseudonyms, consent), the member
 * records in SQLite, and erasure. Erasure first makes the member invisible (no new decision, delivery or
 * record can name them), lets in-flight work settle, commits the deletion of every record naming them in one
 * transaction, and only then drops them from memory and tells the other features (`memberErased`).
 */
import type { Member } from '../contract/resources.js'
import { memberRoutes } from '../http/admin/members.js'
import type { MemberSummary } from '../http/services.js'
import { Identity } from '../identity/identity.js'
import { memberEraseOps, memberUpsertOps } from '../storage/repos.js'
import { countBacklog } from '../storage/store.js'
import type { Feature, GatewayContext } from './feature.js'

/** below this size an erasure rewrites the whole file (VACUUM, about a second per 100 MB on a Pi) */
const FULL_VACUUM_BELOW = 128 * 1024 * 1024

export class MembersFeature implements Feature {
  readonly name = 'members'
  readonly identity: Identity
  private readonly beforeErase: ((memberId: string) => Promise<void>)[] = []
  readonly adminRoutes = memberRoutes({ list: () => this.list(), upsert: (m, by) => this.upsert(m, by, 'admin'), erase: (id, by) => this.erase(id, by) })

  constructor(private readonly ctx: GatewayContext, members: readonly Member[]) {
    this.identity = new Identity(Buffer.from(ctx.secrets.pepper, 'hex'))
    for (const m of members) this.identity.upsert(m)
    this.identity.advance(ctx.clock.now())
  }

  tick(now: number): void { this.identity.advance(now) }

  /** work to let finish before a member's records are deleted (e.g. an offer decision in flight) */
  onBeforeErase(fn: (memberId: string) => Promise<void>): void { this.beforeErase.push(fn) }

  /** told once an erasure has committed or failed (whatever `onBeforeErase` held is released there) */
  onAfterErase(fn: (memberId: string, ok: boolean) => void): void { this.afterErase.push(fn) }
  private readonly afterErase: ((memberId: string, ok: boolean) => void)[] = []

  async list(): Promise<MemberSummary[]> {
    const rows = await this.ctx.store.all<{ member_id: string; body: string; source: string; updated_at: number }>('SELECT member_id, body, source, updated_at FROM members ORDER BY member_id')
    return rows.map((r) => {
      const m = JSON.parse(r.body) as Member
      return { memberId: r.member_id, consent: m.consent, tier: m.tier ?? null, source: r.source, updatedAt: new Date(r.updated_at).toISOString() }
    })
  }

  async upsert(m: Member, by: string, source: string): Promise<'created' | 'updated'> {
    const existed = this.identity.member(m.memberId) !== undefined
    await this.ctx.store.writeNow([...memberUpsertOps(m, source, this.ctx.clock.now(), this.ctx.store.vault), { op: 'sql', sql: 'DELETE FROM erased_members WHERE member_hash = ?', params: [this.identity.memberHash(m.memberId)] }])
    this.identity.upsert(m)
    this.ctx.bus.emit('memberChanged', { memberId: m.memberId, change: existed ? 'updated' : 'created', source })
    this.ctx.log.info({ by, memberId: m.memberId }, existed ? 'member replaced' : 'member created')
    return existed ? 'updated' : 'created'
  }

  async erase(memberId: string, by: string): Promise<boolean> {
    const { store, clock, bus, log } = this.ctx
    const exists = this.identity.member(memberId) !== undefined || (await store.get('SELECT 1 AS x FROM members WHERE member_id = ?', [memberId])) !== undefined
    if (!exists) return false
    const pseudonym = this.identity.pseudonym(memberId)
    this.identity.hold(memberId)
    let ok = false
    try {
      for (const fn of this.beforeErase) await fn(memberId)
      await store.writeNow(memberEraseOps(memberId, this.identity.memberHash(memberId), pseudonym, clock.now()))
      ok = true
    } catch (err) {
      this.identity.release(memberId)
      throw err
    } finally {
      for (const fn of this.afterErase) { try { fn(memberId, ok) } catch { /* a listener's problem */ } }
    }
    this.identity.remove(memberId)
    bus.emit('memberErased', { memberId, pseudonym })
    // nothing of the member survives in free pages or old WAL frames
    await store.compact({ full: (await store.sizeBytes()) < FULL_VACUUM_BELOW }).catch((err) => log.warn({ err: (err as Error).message }, 'could not compact the database after an erasure'))
    store.outboxBacklog = await countBacklog(store)
    log.info({ by }, 'member erased')
    return true
  }
}
