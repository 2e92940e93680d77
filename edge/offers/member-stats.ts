/**
 * RFM at the edge: the CRM's figures, brought up to date with the receipts this store has seen since.
 * recency = days since the latest purchase known to either; frequency and monetary = the larger of the CRM's
 * figure and this store's receipts over the last 90 days. Pure.
 */
import type { Member } from '../contract/resources.js'

const DAY = 86_400_000
const WINDOW = 90 * DAY

export class MemberStats {
  private readonly receipts = new Map<string, { ts: number; total: number }[]>()

  add(memberId: string, ts: number, total: number): void {
    const list = this.receipts.get(memberId) ?? []
    list.push({ ts, total })
    this.receipts.set(memberId, list)
  }

  forget(memberId: string): void { this.receipts.delete(memberId) }

  rfm(memberId: string, crm: Member['rfm'], now: number): Member['rfm'] {
    const list = (this.receipts.get(memberId) ?? []).filter((r) => now - r.ts < WINDOW)
    if (list.length === 0) return crm
    const last = Math.max(...list.map((r) => r.ts))
    const days = Math.max(0, (now - last) / DAY)
    return {
      recencyDays: Math.round(Math.min(days, crm?.recencyDays ?? Infinity) * 10) / 10,
      frequency: Math.max(crm?.frequency ?? 0, list.length),
      monetary: Math.round(Math.max(crm?.monetary ?? 0, list.reduce((s, r) => s + r.total, 0)) * 100) / 100,
    }
  }
}
