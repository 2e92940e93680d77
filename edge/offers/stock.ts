/**
 * Stock and prices as the gateway knows them: levels from a stock feed (admin API or P/stock/<source>),
 * lowered by every receipt; prices from the receipts. An SKU the gateway knows nothing of counts as in stock.
 * Pure: the caller persists changes.
 */
export interface StockLevel { sku: string; level: number | null; price: number | null; updatedAt: number }

export class StockBook {
  private readonly items = new Map<string, StockLevel>()

  restore(rows: Iterable<StockLevel>): void {
    for (const r of rows) this.items.set(r.sku, { ...r })
  }

  inStock(sku: string): boolean {
    const l = this.items.get(sku)?.level
    return l === null || l === undefined || l > 0
  }

  price(sku: string): number | undefined {
    return this.items.get(sku)?.price ?? undefined
  }

  /** A stock feed: absolute levels. Apply once the rows are stored (see stockSetOps). */
  set(levels: readonly { sku: string; level: number }[], now: number): void {
    for (const { sku, level } of levels) this.items.set(sku, { sku, level, price: this.items.get(sku)?.price ?? null, updatedAt: now })
  }

  /**
   * A receipt: quantities sold lower known levels; prices are learnt. Apply once the receipt is stored (see
   * stockSoldOps, which lowers the stored level by the same quantity, so the two never drift apart).
   */
  sold(items: readonly { sku: string; qty: number; price: number }[], now: number): void {
    for (const it of items) {
      const cur = this.items.get(it.sku)
      this.items.set(it.sku, {
        sku: it.sku,
        level: cur?.level === null || cur?.level === undefined ? null : cur.level - it.qty,
        price: it.price > 0 ? it.price : cur?.price ?? null,
        updatedAt: now,
      })
    }
  }

  list(): StockLevel[] {
    return [...this.items.values()].sort((a, b) => a.sku.localeCompare(b.sku))
  }
}
