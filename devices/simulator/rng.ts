/** Seeded randomness for reproducible simulations (mulberry32 + Box-Muller). */
export class Rng {
  private s: number
  constructor(seed: number) { this.s = seed >>> 0 || 0x9e3779b9 }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  range(a: number, b: number): number { return a + (b - a) * this.next() }
  int(a: number, b: number): number { return Math.floor(this.range(a, b + 1)) }
  pick<T>(list: readonly T[]): T { return list[Math.floor(this.next() * list.length)]! }
  chance(p: number): boolean { return this.next() < p }
  gauss(): number {
    const u = Math.max(1e-12, this.next())
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next())
  }
  hex(bytes: number): string {
    let out = ''
    for (let i = 0; i < bytes; i++) out += Math.floor(this.next() * 256).toString(16).padStart(2, '0')
    return out
  }
  /** weighted choice */
  weighted<T>(items: readonly { item: T; w: number }[]): T {
    const total = items.reduce((n, i) => n + i.w, 0)
    let r = this.next() * total
    for (const i of items) { if ((r -= i.w) <= 0) return i.item }
    return items[items.length - 1]!.item
  }
}
