/**
 * The store simulator: shoppers walk the demo store, stop at zones, scan products and pay at a POS lane;
 * fixed scanners hear their phones and tags and publish what they hear exactly as real devices do
 * (CONTRACT section 2, ESPresense's own format included). Pure and clock-driven: `step(now)` returns the
 * messages due up to `now`, so the same code runs the live demo and a simulated day in seconds.
 * Shoppers' habits (how often they come, what they like, how likely they redeem) are known only here.
 */
import { rpidAt, topics, type BleSighting, type EspresenseMessage, type Layout, type ReceiptMessage, type ScanMessage } from '../../edge/contract/index.js'
import { SHOP_RADIO, bounds, centroid, dist, placedAnchors, rssiAt, type Point, type RadioModel } from './radio.js'
import { Rng } from './rng.js'

export interface SimMessage { topic: string; payload: unknown; qos: 0 | 1 }

export interface SimMember {
  memberId: string
  key: string
  consent: { offers: boolean; location: boolean }
  affinities?: Record<string, number> | undefined
}

export interface SimOffer { offerId: string; campaignId: string; code: string; zone: string; expiresAt: string }

export interface Stop { zone: string; seconds: number }
export type Item = { sku: string; qty: number; price: number }

/** Hooks through which a scenario (a simulated day) gives shoppers their habits. Defaults are random. */
export interface ShopperBehaviour<H = unknown> {
  plan(member: SimMember | null, habits: H | undefined, zones: readonly string[], rng: Rng): Stop[]
  /** what the shopper picks up at a stop */
  basket(member: SimMember | null, habits: H | undefined, zone: string, rng: Rng): Item[]
  /** at checkout: the item bought with a coupon received `dwellSeconds` into a stop, or null if it goes unused */
  redeem(member: SimMember, habits: H | undefined, offer: SimOffer, ctx: { dwellSeconds: number; receivedAt: number }, rng: Rng): Item | null
}

/** A planned arrival (scheduled mode: shoppers come when planned instead of keeping a number in the store). */
export interface Arrival<H = unknown> { at: number; member: SimMember | null; habits?: H }

export interface StoreSimOptions {
  prefix: string
  layout: Layout
  members: SimMember[]
  /** shoppers in the store at a time */
  shoppers: number
  seed: number
  scanIntervalMs?: number
  /** scanners that speak ESPresense's own topic format */
  espresenseScanners?: string[]
  /** scanners that forward raw advertisements (adv) instead of decoded ids, for iBeacon tags */
  advScanners?: string[]
  radio?: RadioModel
  /** fraction of shoppers that are members (the rest carry an anonymous iBeacon cart tag) */
  memberShare?: number
  /** minimum time before the same member comes back, ms */
  memberReturnMs?: number
  /** the first shopper heads straight for this zone (the demo's promotion) */
  firstStop?: string
  walkSpeed?: number
  /** scheduled mode: these arrivals, in time order, instead of keeping `shoppers` in the store */
  schedule?: Arrival[]
  behaviour?: ShopperBehaviour
  /** other BLE subjects the scanners hear (clerks' bands), where they are now */
  others?: () => { id: string; pos: Point }[]
}


interface Shopper {
  id: number
  member: SimMember | null
  habits: unknown
  /** when the shopper reached the current stop */
  stopSince: number | null
  /** offers received, with the dwell at the moment */
  received: { offer: SimOffer; dwellSeconds: number; at: number }[]
  tag: { uuid: string; major: number; minor: number } | null
  plan: Stop[]
  stop: number
  pos: Point
  target: Point
  dwellUntil: number | null
  /** probability this shopper redeems an offer received (habit, known only to the simulator) */
  redeemPropensity: number
  offers: SimOffer[]
  basket: Item[]
  left: boolean
}

export interface SimStats {
  shoppersSpawned: number
  membersSpawned: number
  sightingMessages: number
  sightings: number
  receipts: number
  scans: number
  couponsUsed: number
  offersReceived: number
}

const SKUS: Record<string, { sku: string; price: number }[]> = {
  produce: [{ sku: 'sku-app-100', price: 2.49 }, { sku: 'sku-ban-101', price: 1.29 }, { sku: 'sku-tom-102', price: 2.99 }],
  bakery: [{ sku: 'sku-brd-200', price: 2.2 }, { sku: 'sku-crs-201', price: 0.9 }],
  drinks: [{ sku: 'sku-wat-010', price: 0.79 }, { sku: 'sku-jui-011', price: 2.49 }],
  'fridge-dairy': [{ sku: 'sku-yog-001', price: 0.99 }, { sku: 'sku-yog-002', price: 1.19 }, { sku: 'sku-mlk-003', price: 1.15 }],
  electronics: [{ sku: 'sku-usb-500', price: 9.99 }, { sku: 'sku-bat-501', price: 4.99 }],
}

const TAG_UUID = '426c7565-4368-6172-6d42-6561636f6e73'

export class StoreSimulator {
  readonly stats: SimStats = { shoppersSpawned: 0, membersSpawned: 0, sightingMessages: 0, sightings: 0, receipts: 0, scans: 0, couponsUsed: 0, offersReceived: 0 }
  private readonly rng: Rng
  private readonly radio: RadioModel
  private readonly shoppers: Shopper[] = []
  private readonly scanners: ReturnType<typeof placedAnchors>
  private readonly zoneCenter = new Map<string, Point>()
  private readonly zoneBox = new Map<string, { x0: number; y0: number; x1: number; y1: number }>()
  private readonly memberLastVisit = new Map<string, number>()
  private readonly espresense: Set<string>
  private readonly advScanners: Set<string>
  private lastStep: number
  private nextScanAt: number
  private seq = 0
  private receiptSeq = 0
  private first = true

  constructor(private readonly o: StoreSimOptions, start: number) {
    this.rng = new Rng(o.seed)
    this.radio = o.radio ?? SHOP_RADIO
    this.scanners = placedAnchors(o.layout, 'scanner')
    for (const z of o.layout.zones) {
      const c = centroid(z)
      const b = bounds(z)
      if (c) this.zoneCenter.set(z.id, c)
      if (b) this.zoneBox.set(z.id, b)
    }
    this.espresense = new Set(o.espresenseScanners ?? [])
    this.advScanners = new Set(o.advScanners ?? [])
    this.lastStep = start
    this.nextScanAt = start
  }

  get inStore(): number { return this.shoppers.filter((s) => !s.left).length }

  /** A member's app received an offer (the member app client calls this). */
  offerReceived(memberId: string, offer: SimOffer): void {
    const s = this.shoppers.find((x) => !x.left && x.member?.memberId === memberId)
    this.stats.offersReceived++
    if (!s) return
    s.offers.push(offer)
    s.received.push({ offer, dwellSeconds: s.stopSince === null ? 0 : (this.lastStep - s.stopSince) / 1000, at: this.lastStep })
  }

  /** Advance to `now`; returns the messages devices publish meanwhile. */
  step(now: number): SimMessage[] {
    const out: SimMessage[] = []
    const dt = Math.max(0, (now - this.lastStep) / 1000)
    this.lastStep = now
    this.spawn(now)
    for (const s of this.shoppers) if (!s.left) this.move(s, dt, now, out)
    for (let i = this.shoppers.length - 1; i >= 0; i--) if (this.shoppers[i]!.left) this.shoppers.splice(i, 1)
    const interval = this.o.scanIntervalMs ?? 1000
    while (this.nextScanAt <= now) {
      this.scan(this.nextScanAt, out)
      this.nextScanAt += interval
    }
    return out
  }

  private nextArrival = 0

  private spawn(now: number): void {
    const schedule = this.o.schedule
    if (schedule) {
      while (this.nextArrival < schedule.length && schedule[this.nextArrival]!.at <= now) {
        const a = schedule[this.nextArrival++]!
        const s = this.newShopper(now, a)
        if (s) this.shoppers.push(s)
      }
      return
    }
    while (this.inStore < this.o.shoppers) {
      const s = this.newShopper(now)
      if (!s) return
      this.shoppers.push(s)
    }
  }

  private newShopper(now: number, arrival?: Arrival): Shopper | null {
    const entrance = this.zoneCenter.get('entrance') ?? [...this.zoneCenter.values()][0]
    if (!entrance) return null
    let member: SimMember | null = arrival ? arrival.member : null
    const eligible = arrival ? [] : this.o.members.filter((m) => m.consent.location && !this.shoppers.some((s) => !s.left && s.member?.memberId === m.memberId) && now - (this.memberLastVisit.get(m.memberId) ?? -Infinity) >= (this.o.memberReturnMs ?? 10 * 60_000))
    if (arrival?.member) this.stats.membersSpawned++
    else if (eligible.length && (this.first || this.rng.chance(this.o.memberShare ?? 0.5))) {
      member = this.first ? eligible.find((m) => m.consent.offers) ?? eligible[0]! : this.rng.pick(eligible)
      this.memberLastVisit.set(member.memberId, now)
      this.stats.membersSpawned++
    }
    const plan = this.o.behaviour ? this.o.behaviour.plan(member, arrival?.habits, [...this.zoneCenter.keys()], this.rng) : this.plan(member)
    const id = ++this.seq
    this.stats.shoppersSpawned++
    this.first = false
    return {
      id, member, habits: arrival?.habits, stopSince: null, received: [],
      tag: member ? null : { uuid: TAG_UUID, major: 100, minor: id % 65536 },
      plan, stop: 0,
      pos: { x: entrance.x + this.rng.range(-1, 1), y: entrance.y + this.rng.range(-1, 1) },
      target: this.spot(plan[0]!.zone),
      dwellUntil: null,
      redeemPropensity: member ? this.rng.range(0.2, 0.8) : 0,
      offers: [], basket: [], left: false,
    }
  }

  private plan(member: SimMember | null): Stop[] {
    const zones = [...this.zoneCenter.keys()].filter((z) => z !== 'entrance' && z !== 'checkout')
    const stops: Stop[] = [{ zone: 'entrance', seconds: this.rng.range(2, 6) }]
    if (this.first && this.o.firstStop && this.zoneCenter.has(this.o.firstStop)) stops.push({ zone: this.o.firstStop, seconds: this.rng.range(18, 30) })
    const n = this.rng.int(2, 4)
    for (let i = 0; i < n; i++) {
      const zone = this.rng.weighted(zones.map((z) => ({ item: z, w: 0.3 + (member?.affinities?.[z === 'fridge-dairy' ? 'dairy' : z] ?? 0.3) })))
      if (stops.some((s) => s.zone === zone)) continue
      stops.push({ zone, seconds: this.rng.range(6, 40) })
    }
    if (this.zoneCenter.has('checkout')) stops.push({ zone: 'checkout', seconds: this.rng.range(20, 50) })
    return stops
  }

  private spot(zone: string): Point {
    const b = this.zoneBox.get(zone)
    const c = this.zoneCenter.get(zone)!
    if (!b) return c
    // somewhere in the middle half of the zone
    return { x: c.x + this.rng.range(-0.25, 0.25) * (b.x1 - b.x0), y: c.y + this.rng.range(-0.25, 0.25) * (b.y1 - b.y0) }
  }

  private move(s: Shopper, dt: number, now: number, out: SimMessage[]): void {
    const stop = s.plan[s.stop]!
    if (s.dwellUntil !== null) {
      // standing: small sway
      s.pos = { x: s.pos.x + this.rng.gauss() * 0.05 * dt, y: s.pos.y + this.rng.gauss() * 0.05 * dt }
      if (now >= s.dwellUntil) this.leaveStop(s, stop, now, out)
      return
    }
    const d = dist(s.pos, s.target)
    const stepM = (this.o.walkSpeed ?? 1.1) * dt
    if (d <= stepM) {
      s.pos = s.target
      s.dwellUntil = now + stop.seconds * 1000
      s.stopSince = now
      if (this.o.behaviour) {
        if (stop.zone !== 'checkout') s.basket.push(...this.o.behaviour.basket(s.member, s.habits, stop.zone, this.rng))
        return
      }
      const items = SKUS[stop.zone]
      if (items && stop.zone !== 'checkout' && this.rng.chance(0.6)) {
        const item = this.rng.pick(items)
        s.basket.push({ sku: item.sku, qty: this.rng.int(1, 2), price: item.price })
        if (this.rng.chance(0.3)) {
          this.stats.scans++
          out.push({ topic: topics.scan(this.o.prefix, `hs-${stop.zone}`), payload: { code: item.sku, kind: 'product', ts: now } satisfies ScanMessage, qos: 0 })
        }
      }
      return
    }
    s.pos = { x: s.pos.x + ((s.target.x - s.pos.x) / d) * stepM, y: s.pos.y + ((s.target.y - s.pos.y) / d) * stepM }
  }

  private leaveStop(s: Shopper, stop: Stop, now: number, out: SimMessage[]): void {
    s.dwellUntil = null
    s.stopSince = null
    if (stop.zone === 'checkout') this.checkout(s, now, out)
    s.stop++
    if (s.stop >= s.plan.length) { s.left = true; return }
    s.target = this.spot(s.plan[s.stop]!.zone)
  }

  private checkout(s: Shopper, now: number, out: SimMessage[]): void {
    if (s.basket.length === 0) s.basket.push({ sku: 'sku-brd-200', qty: 1, price: 2.2 })
    const b = this.o.behaviour
    let coupons: string[]
    if (b && s.member) {
      coupons = []
      for (const r of s.received) {
        if (Date.parse(r.offer.expiresAt) <= now) continue
        const item = b.redeem(s.member, s.habits, r.offer, { dwellSeconds: r.dwellSeconds, receivedAt: r.at }, this.rng)
        if (item) { coupons.push(r.offer.code); s.basket.push(item) }
      }
    } else {
      coupons = s.offers.filter((o) => Date.parse(o.expiresAt) > now && this.rng.chance(s.redeemPropensity)).map((o) => o.code)
    }
    this.stats.couponsUsed += coupons.length
    this.stats.receipts++
    const total = Math.round(s.basket.reduce((n, i) => n + i.qty * i.price, 0) * 100) / 100
    out.push({
      topic: topics.receipt(this.o.prefix, `lane-${1 + (s.id % 3)}`),
      payload: { receiptId: `r-${now.toString(36)}-${++this.receiptSeq}`, ...(s.member ? { memberId: s.member.memberId } : {}), items: s.basket, ...(coupons.length ? { coupons } : {}), total, ts: now } satisfies ReceiptMessage,
      qos: 1,
    })
  }

  private subjectOf(s: Shopper, now: number): { id: string; adv?: string } {
    if (s.member) return { id: rpidAt(s.member.key, now) }
    const t = s.tag!
    const adv = `0201061aff4c000215${t.uuid.replace(/-/g, '')}${t.major.toString(16).padStart(4, '0')}${t.minor.toString(16).padStart(4, '0')}c5`
    return { id: `ibeacon:${t.uuid}-${t.major}-${t.minor}`, adv }
  }

  private scan(now: number, out: SimMessage[]): void {
    for (const a of this.scanners) {
      const heard: BleSighting[] = []
      for (const s of this.shoppers) {
        if (s.left) continue
        const rssi = rssiAt(a.txPower ?? -59, dist(s.pos, a), this.radio, this.rng)
        if (rssi === null) continue
        const subj = this.subjectOf(s, now)
        if (this.espresense.has(a.id)) {
          this.stats.sightingMessages++
          this.stats.sightings++
          out.push({ topic: topics.espresense(subj.id, a.id), payload: { id: subj.id, rssi, 'rssi@1m': a.txPower ?? -59, distance: Math.round(dist(s.pos, a) * 100) / 100 } satisfies EspresenseMessage, qos: 0 })
          continue
        }
        heard.push(this.advScanners.has(a.id) && subj.adv ? { adv: subj.adv, rssi, ts: now } : { id: subj.id, rssi, ts: now })
      }
      for (const x of this.o.others?.() ?? []) {
        const rssi = rssiAt(a.txPower ?? -59, dist(x.pos, a), this.radio, this.rng)
        if (rssi === null) continue
        if (this.espresense.has(a.id)) {
          this.stats.sightingMessages++
          this.stats.sightings++
          out.push({ topic: topics.espresense(x.id, a.id), payload: { id: x.id, rssi, 'rssi@1m': a.txPower ?? -59, distance: Math.round(dist(x.pos, a) * 100) / 100 } satisfies EspresenseMessage, qos: 0 })
        } else {
          heard.push({ id: x.id, rssi, ts: now })
        }
      }
      if (heard.length) {
        this.stats.sightingMessages++
        this.stats.sightings += heard.length
        out.push({ topic: topics.ble(this.o.prefix, a.id), payload: heard, qos: 0 })
      }
    }
  }
}
