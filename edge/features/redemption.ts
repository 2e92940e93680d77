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
import type { StockBook, StockLevel } from '../offers/stock.js'
import { outboxOp, type Store } from '../storage/store.js'
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

export const stockOps = (rows: StockLevel[]): WriteOp[] => rows.map((r) => ({
  op: 'sql' as const,
  sql: 'INSERT INTO stock (sku, level, price, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (sku) DO UPDATE SET level = excluded.level, price = excluded.price, updated_at = excluded.updated_at',
  params: [r.sku, r.level, r.price, r.updatedAt],
}))

export class Redemptions {
  /** code -> offer, for every offer of the last weeks (codes are looked up on every receipt) */
  private readonly byCode = new Map<string, OfferRef>()
  private readonly seenReceipts = new Set<string>()
  /** member -> open exposures */
  private readonly exposures = new Map<string, Exposure[]>()

  constructor(private readonly d: RedemptionDeps) {}

  async init(): Promise<void> {
    const since = this.d.clock.now() - 35 * 86_400_000
    for (const r of await this.d.store.all<{ offer_id: string; campaign_id: string; member_id: string; trigger_kind: string; code: string; skus: string; status: string }>('SELECT offer_id, campaign_id, member_id, trigger_kind, code, skus, status FROM offers WHERE issued_at >= ?', [since])) {
      this.byCode.set(r.code, { offerId: r.offer_id, campaignId: r.campaign_id, memberId: r.member_id, triggerKind: r.trigger_kind, skus: JSON.parse(r.skus) as string[], redeemed: r.status === 'redeemed' })
    }
    for (const r of await this.d.store.all<{ receipt_id: string; member_id: string | null; ts: number; total: number }>('SELECT receipt_id, member_id, ts, total FROM receipts WHERE ts >= ?', [this.d.clock.now() - 90 * 86_400_000])) {
      this.seenReceipts.add(r.receipt_id)
      if (r.member_id) this.d.stats.add(r.member_id, r.ts, r.total)
    }
    for (const e of await this.d.store.all<{ id: number; member_id: string; campaign_id: string; offer_id: string | null; holdout: number; until: number }>('SELECT id, member_id, campaign_id, offer_id, holdout, until FROM exposures WHERE converted_at IS NULL AND until >= ?', [this.d.clock.now()])) {
      this.track({ memberId: e.member_id, campaignId: e.campaign_id, offerId: e.offer_id, holdout: e.holdout === 1, until: e.until }, e.id)
    }
  }

  /** An offer was issued: its code can now be redeemed. */
  issued(o: { offerId: string; campaignId: string; memberId: string; triggerKind: string; code: string; skus: string[] }): void {
    this.byCode.set(o.code, { offerId: o.offerId, campaignId: o.campaignId, memberId: o.memberId, triggerKind: o.triggerKind, skus: o.skus, redeemed: false })
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

  async receipt(lane: string, m: ReceiptMessage, ts: number): Promise<{ duplicate: boolean; coupons: RedeemOutcome[] }> {
    if (this.seenReceipts.has(m.receiptId)) return { duplicate: true, coupons: [] }
    this.seenReceipts.add(m.receiptId)
    const now = this.d.clock.now()
    const skus = m.items.filter((i) => i.qty > 0).map((i) => i.sku)
    const ops: WriteOp[] = [
      { op: 'insert', table: 'receipts', conflict: 'OR IGNORE', columns: ['receipt_id', 'lane', 'member_id', 'ts', 'total', 'items', 'coupons'], row: [m.receiptId, lane, m.memberId ?? null, ts, m.total, JSON.stringify(m.items), JSON.stringify(m.coupons ?? [])] },
      outboxOp({
        stream: 'crm', messageId: `receipt:${this.d.storeId}:${m.receiptId}`, event: 'Receipt Recorded', ts,
        ...(m.memberId ? { userId: m.memberId } : { anonymousId: `${this.d.storeId}:${lane}` }),
        properties: { receiptId: m.receiptId, storeId: this.d.storeId, lane, total: m.total, items: m.items.length, coupons: (m.coupons ?? []).length },
      }),
      ...stockOps(this.d.stock.sold(m.items, now)),
    ]
    if (m.memberId) this.d.stats.add(m.memberId, ts, m.total)
    const outcomes: RedeemOutcome[] = []
    for (const code of m.coupons ?? []) outcomes.push(this.redeem(code, ops, { source: `receipt:${lane}`, receiptId: m.receiptId, memberId: m.memberId, skus, ts }))
    if (m.memberId) this.convert(m.memberId, skus, ts, ops)
    await this.d.store.write(ops)
    if (m.memberId) this.d.onMemberReceipt(m.memberId, skus)
    return { duplicate: false, coupons: outcomes }
  }

  async scan(scanner: string, code: string, ts: number): Promise<RedeemOutcome> {
    const ops: WriteOp[] = []
    const r = this.redeem(code, ops, { source: `scan:${scanner}`, receiptId: undefined, memberId: undefined, skus: undefined, ts })
    await this.d.store.write(ops)
    return r
  }

  /** Decide on one code and add the ops that record it. Synchronous: a code can never be redeemed twice. */
  private redeem(code: string, ops: WriteOp[], ctx: { source: string; receiptId: string | undefined; memberId: string | undefined; skus: string[] | undefined; ts: number }): RedeemOutcome {
    const tag = code.trim().slice(0, 8).toUpperCase()
    const record = (outcome: RedeemOutcome, o?: OfferRef) => {
      ops.push({ op: 'insert', table: 'redemptions', columns: ['ts', 'source', 'receipt_id', 'offer_id', 'campaign_id', 'outcome', 'code_tag'], row: [ctx.ts, ctx.source, ctx.receiptId ?? null, o?.offerId ?? null, o?.campaignId ?? null, outcome, tag] })
      if (outcome !== 'redeemed') this.d.onRefused(outcome)
      return outcome
    }
    const v = this.d.codec.verify(code, this.d.clock.now())
    if (!v.ok) return record(v.reason)
    const o = this.byCode.get(code.trim().toUpperCase())
    if (!o) return record('other-store')
    if (o.redeemed) return record('already-redeemed', o)
    if (ctx.memberId !== undefined && ctx.memberId !== o.memberId) return record('wrong-member', o)
    if (ctx.skus && o.skus.length > 0 && !ctx.skus.some((s) => o.skus.includes(s))) return record('not-applicable', o)
    o.redeemed = true
    ops.push(
      { op: 'sql', sql: "UPDATE offers SET status = 'redeemed', redeemed_at = ?, receipt_id = ?, delivered_at = COALESCE(delivered_at, ?) WHERE offer_id = ?", params: [ctx.ts, ctx.receiptId ?? null, ctx.ts, o.offerId] },
      outboxOp({ stream: 'crm', messageId: `offer-redeemed:${o.offerId}`, event: 'Offer Redeemed', userId: o.memberId, ts: ctx.ts, properties: { offerId: o.offerId, campaignId: o.campaignId, trigger: o.triggerKind, storeId: this.d.storeId, receiptId: ctx.receiptId ?? null, source: ctx.source } }),
      { op: 'sql', sql: 'UPDATE exposures SET redeemed = 1, converted_at = COALESCE(converted_at, ?) WHERE offer_id = ?', params: [ctx.ts, o.offerId] },
    )
    const e = this.exposures.get(o.memberId)?.find((x) => x.offerId === o.offerId)
    if (e) e.converted = true
    this.d.onRedeemed({ offerId: o.offerId, campaignId: o.campaignId, memberId: o.memberId })
    return record('redeemed', o)
  }

  /** A member bought something: open exposures whose campaign covers one of the SKUs convert. */
  private convert(memberId: string, skus: string[], ts: number, ops: WriteOp[]): void {
    const list = this.exposures.get(memberId)
    if (!list) return
    const open: Exposure[] = []
    for (const e of list) {
      if (e.converted || e.until < ts) continue
      if (skus.some((s) => e.skus.has(s))) {
        e.converted = true
        ops.push(e.offerId
          ? { op: 'sql', sql: 'UPDATE exposures SET converted_at = COALESCE(converted_at, ?) WHERE offer_id = ?', params: [ts, e.offerId] }
          : { op: 'sql', sql: 'UPDATE exposures SET converted_at = ? WHERE member_id = ? AND campaign_id = ? AND offer_id IS NULL AND converted_at IS NULL AND until >= ?', params: [ts, memberId, e.campaignId, ts] })
        continue
      }
      open.push(e)
    }
    if (open.length) this.exposures.set(memberId, open)
    else this.exposures.delete(memberId)
  }
}
