/**
 * Receipts, coupon redemption and conversions.
 *  - A receipt (P/pos/<lane>/receipt) is stored once (its id de-duplicates a POS resending it) with its outbox
 *    row; it lowers stock, teaches prices, brings the member's RFM up to date, redeems its coupons and
 *    converts open exposures (a member who was offered, or would have been offered, a campaign and then bought
 *    one of its SKUs).
 *  - A coupon is redeemed once. The code is checked offline first (forged, altered, expired, foreign key),
 *    then against this gateway's offers (single use; the member on the receipt; the SKUs the offer covers).
 *    Every attempt is recorded with its outcome; refusals are counted by reason.
 *  - Coupons scanned on their own (P/scan with kind coupon) redeem the same way.
 */
import type { ReceiptMessage } from '../contract/inbound.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { CouponCodec } from '../offers/coupon.js'
import type { MemberStats } from '../offers/member-stats.js'
import type { StockBook } from '../offers/stock.js'
import { messageId, outboxOp, type Store } from '../storage/store.js'
import type { WriteOp } from '../storage/writer.js'

export type RedeemOutcome = 'redeemed' | 'malformed' | 'bad-mac' | 'expired' | 'unknown-key' | 'wrong-campaign' | 'already-redeemed' | 'wrong-member' | 'not-applicable' | 'other-store'

interface OfferRef { offerId: string; campaignId: string; memberId: string; triggerKind: string; skus: string[]; redeemed: boolean }
interface Exposure { campaignId: string; offerId: string | null; holdout: boolean; until: number; skus: ReadonlySet<string>; converted: boolean; id?: number }

export interface RedemptionDeps {
  store: Store
  storeId: string
  clock: Clock
  log: Logger
  codec: CouponCodec
  stock: StockBook
  stats: MemberStats
  /** the SKUs of a campaign, for conversions */
  campaignSkus: (campaignId: string) => readonly string[]
  onRedeemed: (o: { offerId: string; campaignId: string; memberId: string }) => void
  onRefused: (reason: RedeemOutcome) => void
  /** a receipt of a known member: receipt-triggered campaigns */
  onMemberReceipt: (memberId: string, skus: string[]) => void
}

/** A stock feed's absolute levels (prices stay as learnt). */
export const stockSetOps = (levels: readonly { sku: string; level: number }[], now: number): WriteOp[] => levels.map((r) => ({
  op: 'sql' as const,
  sql: 'INSERT INTO stock (sku, level, price, updated_at) VALUES (?, ?, NULL, ?) ON CONFLICT (sku) DO UPDATE SET level = excluded.level, updated_at = excluded.updated_at',
  params: [r.sku, r.level, now],
}))

/** A receipt lowers stored levels by what it sold (relative, so concurrent receipts add up) and teaches prices. */
export const stockSoldOps = (items: readonly { sku: string; qty: number; price: number }[], now: number): WriteOp[] => items.map((it) => ({
  op: 'sql' as const,
  sql: `INSERT INTO stock (sku, level, price, updated_at) VALUES (?, NULL, ?, ?) ON CONFLICT (sku) DO UPDATE SET
          level = CASE WHEN stock.level IS NULL THEN NULL ELSE stock.level - ? END, price = COALESCE(excluded.price, stock.price), updated_at = excluded.updated_at`,
  params: [it.sku, it.price > 0 ? it.price : null, now, it.qty],
}))

export class Redemptions {
  /** code -> offer, for every offer of the last weeks (codes are looked up on every receipt) */
  private readonly byCode = new Map<string, OfferRef>()
  /** receipts being written now (a POS resending one meanwhile is a duplicate); stored ones are found in SQLite */
  private readonly pendingReceipts = new Set<string>()
  /** member -> open exposures */
  private readonly exposures = new Map<string, Exposure[]>()

  constructor(private readonly d: RedemptionDeps) {}

  async init(): Promise<void> {
    const since = this.d.clock.now() - 35 * 86_400_000
    for (const r of await this.d.store.all<{ offer_id: string; campaign_id: string; member_id: string; trigger_kind: string; code: string; skus: string; status: string }>('SELECT offer_id, campaign_id, member_id, trigger_kind, code, skus, status FROM offers WHERE issued_at >= ?', [since])) {
      this.byCode.set(r.code, { offerId: r.offer_id, campaignId: r.campaign_id, memberId: r.member_id, triggerKind: r.trigger_kind, skus: JSON.parse(r.skus) as string[], redeemed: r.status === 'redeemed' })
    }
    for (const r of await this.d.store.all<{ receipt_id: string; member_id: string | null; ts: number; total: number }>('SELECT receipt_id, member_id, ts, total FROM receipts WHERE ts >= ?', [this.d.clock.now() - 90 * 86_400_000])) {
      if (r.member_id) this.d.stats.add(r.member_id, r.ts, r.total)
    }
    for (const e of await this.d.store.all<{ id: number; member_id: string; campaign_id: string; offer_id: string | null; holdout: number; until: number }>('SELECT id, member_id, campaign_id, offer_id, holdout, until FROM exposures WHERE converted_at IS NULL AND until >= ?', [this.d.clock.now()])) {
      this.track({ memberId: e.member_id, campaignId: e.campaign_id, offerId: e.offer_id, holdout: e.holdout === 1, until: e.until }, e.id)
    }
  }

  /** An offer was issued: its code can now be redeemed. */
  issued(o: { offerId: string; campaignId: string; memberId: string; triggerKind: string; code: string; skus: string[] }): void {
    this.byCode.set(this.codeRef(o.code), { offerId: o.offerId, campaignId: o.campaignId, memberId: o.memberId, triggerKind: o.triggerKind, skus: o.skus, redeemed: false })
  }

  /** Track an exposure until it converts or runs out. */
  track(e: { memberId: string; campaignId: string; offerId: string | null; holdout: boolean; until: number }, id?: number): void {
    const list = this.exposures.get(e.memberId) ?? []
    list.push({ campaignId: e.campaignId, offerId: e.offerId, holdout: e.holdout, until: e.until, skus: new Set(this.d.campaignSkus(e.campaignId)), converted: false, ...(id !== undefined ? { id } : {}) })
    this.exposures.set(e.memberId, list)
  }

  forgetMember(memberId: string): void {
    this.exposures.delete(memberId)
    this.d.stats.forget(memberId)
    for (const [code, o] of this.byCode) if (o.memberId === memberId) this.byCode.delete(code)
  }

  /**
   * A receipt. Everything it changes in memory (coupons redeemed, exposures converted, stock, RFM) changes only
   * once its transaction has committed; a coupon it redeems is reserved meanwhile, so no other receipt or scan
   * can take it, and released if the write fails (disk full): the POS's resend then redeems it properly.
   */
  async receipt(lane: string, m: ReceiptMessage, ts: number): Promise<{ duplicate: boolean; coupons: RedeemOutcome[] }> {
    if (this.pendingReceipts.has(m.receiptId)) return { duplicate: true, coupons: [] }
    this.pendingReceipts.add(m.receiptId)
    try {
      if (await this.d.store.get('SELECT 1 AS x FROM receipts WHERE receipt_id = ?', [m.receiptId])) return { duplicate: true, coupons: [] }
      const now = this.d.clock.now()
      const skus = m.items.filter((i) => i.qty > 0).map((i) => i.sku)
      const ops: WriteOp[] = [
        { op: 'insert', table: 'receipts', conflict: 'OR IGNORE', columns: ['receipt_id', 'lane', 'member_id', 'ts', 'total', 'items', 'coupons'], row: [m.receiptId, lane, m.memberId ?? null, ts, m.total, JSON.stringify(m.items), JSON.stringify((m.coupons ?? []).map((c) => this.codeRef(c)))] },
        outboxOp({
          stream: 'crm', messageId: messageId('receipt', this.d.storeId, m.receiptId), event: 'Receipt Recorded', ts,
          ...(m.memberId ? { userId: m.memberId } : { anonymousId: `${this.d.storeId}:${lane}` }),
          properties: { receiptId: m.receiptId, storeId: this.d.storeId, lane, total: m.total, items: m.items.length, coupons: (m.coupons ?? []).length },
        }),
        ...stockSoldOps(m.items, now),
      ]
      const tx = new Pending()
      const outcomes: RedeemOutcome[] = []
      for (const code of m.coupons ?? []) outcomes.push(this.redeem(code, ops, tx, { source: `receipt:${lane}`, receiptId: m.receiptId, memberId: m.memberId, skus, ts }))
      if (m.memberId) this.convert(m.memberId, skus, ts, ops, tx)
      try {
        await this.d.store.write(ops)
      } catch (err) {
        tx.undo()
        throw err
      }
      this.d.stock.sold(m.items, now)
      if (m.memberId) this.d.stats.add(m.memberId, ts, m.total)
      tx.commit()
      if (m.memberId) this.d.onMemberReceipt(m.memberId, skus)
      return { duplicate: false, coupons: outcomes }
    } finally {
      this.pendingReceipts.delete(m.receiptId)
    }
  }

  async scan(scanner: string, code: string, ts: number): Promise<RedeemOutcome> {
    const ops: WriteOp[] = []
    const tx = new Pending()
    const r = this.redeem(code, ops, tx, { source: `scan:${scanner}`, receiptId: undefined, memberId: undefined, skus: undefined, ts })
    try {
      await this.d.store.write(ops)
    } catch (err) {
      tx.undo()
      throw err
    }
    tx.commit()
    return r
  }

  /** How a code is kept in storage and memory. */
  private codeRef(code: string): string { return this.d.store.vault.codeHash(code) }

  /**
   * Decide on one code and add the ops that record it. Synchronous: a code can never be redeemed twice (it is
   * reserved at once; `tx` releases it if the write fails, and reports the redemption once it commits).
   */
  private redeem(code: string, ops: WriteOp[], tx: Pending, ctx: { source: string; receiptId: string | undefined; memberId: string | undefined; skus: string[] | undefined; ts: number }): RedeemOutcome {
    const tag = code.trim().slice(0, 8).toUpperCase()
    const record = (outcome: RedeemOutcome, o?: OfferRef) => {
      ops.push({ op: 'insert', table: 'redemptions', columns: ['ts', 'source', 'receipt_id', 'offer_id', 'campaign_id', 'outcome', 'code_tag'], row: [ctx.ts, ctx.source, ctx.receiptId ?? null, o?.offerId ?? null, o?.campaignId ?? null, outcome, tag] })
      if (outcome !== 'redeemed') tx.after(() => this.d.onRefused(outcome))
      return outcome
    }
    const v = this.d.codec.verify(code, this.d.clock.now())
    if (!v.ok) return record(v.reason)
    const o = this.byCode.get(this.codeRef(code))
    if (!o) return record('other-store')
    if (o.redeemed) return record('already-redeemed', o)
    if (ctx.memberId !== undefined && ctx.memberId !== o.memberId) return record('wrong-member', o)
    if (ctx.skus && o.skus.length > 0 && !ctx.skus.some((s) => o.skus.includes(s))) return record('not-applicable', o)
    o.redeemed = true
    tx.onUndo(() => { o.redeemed = false })
    ops.push(
      { op: 'sql', sql: "UPDATE offers SET status = 'redeemed', code_enc = NULL, redeemed_at = ?, receipt_id = ?, delivered_at = COALESCE(delivered_at, ?) WHERE offer_id = ?", params: [ctx.ts, ctx.receiptId ?? null, ctx.ts, o.offerId] },
      outboxOp({ stream: 'crm', messageId: `offer-redeemed:${o.offerId}`, event: 'Offer Redeemed', userId: o.memberId, ts: ctx.ts, properties: { offerId: o.offerId, campaignId: o.campaignId, trigger: o.triggerKind, storeId: this.d.storeId, receiptId: ctx.receiptId ?? null, source: ctx.source } }),
      { op: 'sql', sql: 'UPDATE exposures SET redeemed = 1, converted_at = COALESCE(converted_at, ?) WHERE offer_id = ?', params: [ctx.ts, o.offerId] },
    )
    const e = this.exposures.get(o.memberId)?.find((x) => x.offerId === o.offerId)
    if (e && !e.converted) {
      e.converted = true
      tx.onUndo(() => { e.converted = false })
    }
    tx.after(() => this.d.onRedeemed({ offerId: o.offerId, campaignId: o.campaignId, memberId: o.memberId }))
    return record('redeemed', o)
  }

  /** A member bought something: open exposures whose campaign covers one of the SKUs convert. */
  private convert(memberId: string, skus: string[], ts: number, ops: WriteOp[], tx: Pending): void {
    const list = this.exposures.get(memberId)
    if (!list) return
    for (const e of list) {
      if (e.converted || e.until < ts || !skus.some((s) => e.skus.has(s))) continue
      e.converted = true
      tx.onUndo(() => { e.converted = false })
      ops.push(e.offerId
        ? { op: 'sql', sql: 'UPDATE exposures SET converted_at = COALESCE(converted_at, ?) WHERE offer_id = ?', params: [ts, e.offerId] }
        : { op: 'sql', sql: 'UPDATE exposures SET converted_at = ? WHERE member_id = ? AND campaign_id = ? AND offer_id IS NULL AND converted_at IS NULL AND until >= ?', params: [ts, memberId, e.campaignId, ts] })
    }
    // once stored, the member's list keeps only what can still convert
    tx.after(() => {
      const open = (this.exposures.get(memberId) ?? []).filter((e) => !e.converted && e.until >= ts)
      if (open.length) this.exposures.set(memberId, open)
      else this.exposures.delete(memberId)
    })
  }
}

/** What one write reserves in memory (undone if it fails) and what it reports once it commits. */
class Pending {
  private readonly undos: (() => void)[] = []
  private readonly afters: (() => void)[] = []
  onUndo(fn: () => void): void { this.undos.push(fn) }
  after(fn: () => void): void { this.afters.push(fn) }
  undo(): void { for (const fn of this.undos.reverse()) fn() }
  commit(): void { for (const fn of this.afters) fn() }

}
