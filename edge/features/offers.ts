/**
 * Offers: campaigns, the decision engine and its policy, the recommender's ranking, coupons and their
 * redemption from receipts and scans, stock, conversions and campaign figures. Triggers arrive on the bus
 * (zone enter / dwell from presence, product scans after a member card, receipts); an issued offer goes out
 * on the bus (`offerIssued`: delivery pushes it to the phone) and as a pseudonymous `P/events/offer`.
 */
import { randomBytes } from 'node:crypto'
import { campaignProblems, topics, type Campaign, type OfferEvent } from '../contract/index.js'
import { offerRoutes } from '../http/admin/offers.js'
import type { DecisionView } from '../http/services.js'
import { CouponCodec } from '../offers/coupon.js'
import { OfferEngine, type IssuedOffer, type TriggerEvent } from '../offers/engine.js'
import { MemberStats } from '../offers/member-stats.js'
import { StockBook } from '../offers/stock.js'
import { campaignRetireOps, campaignUpsertOps, loadCampaigns, offersSince } from '../storage/repos.js'
import { OfferDecider } from './decider.js'
import type { Feature, GatewayContext } from './feature.js'
import { campaignFigures } from './figures.js'
import type { LayoutFeature } from './layout.js'
import type { MembersFeature } from './members.js'
import type { RecommenderFeature } from './recommender.js'
import { Redemptions, stockSetOps } from './redemption.js'

export interface OffersDeps { layout: LayoutFeature; members: MembersFeature; recommender: RecommenderFeature }

export class OffersFeature implements Feature {
  readonly name = 'offers'
  readonly engine: OfferEngine
  readonly stock = new StockBook()
  readonly redemptions: Redemptions
  readonly decider: OfferDecider
  /** handheld scanners: a member card scanned first makes the product scans that follow that member's */
  private readonly scanSessions = new Map<string, { memberId: string; until: number }>()
  readonly adminRoutes

  private constructor(private readonly ctx: GatewayContext, private readonly d: OffersDeps, campaigns: Campaign[]) {
    const { config, secrets, clock, log, store, storeId, metrics: m, bus } = ctx
    const identity = d.members.identity
    const codec = new CouponCodec({ id: config.coupon.keyId, key: Buffer.from(config.coupon.key ?? secrets.couponKey, 'hex') })
    const memberStats = new MemberStats()
    this.engine = new OfferEngine(clock, { timezone: config.store.timezone, ...config.offers }, codec, () => `o-${randomBytes(9).toString('base64url')}`, this.stock, campaigns)
    const decider: OfferDecider = new OfferDecider({
      store, storeId, clock, log, identity, engine: this.engine, stats: memberStats, ranker: d.recommender.ranker, timeZone: config.store.timezone,
      zoneKind: (z) => d.layout.layout.zones.find((x) => x.id === z)?.kind,
      onIssued: (o) => this.issued(o),
      onDecision: (dd) => { for (const c of dd.considered) m.decisions.inc([c.outcome]) },
    })
    this.decider = decider
    this.redemptions = new Redemptions({
      store, storeId, clock, log, codec, stock: this.stock, stats: memberStats,
      campaignSkus: (id) => this.engine.campaign(id)?.offer.skus ?? [],
      onRedeemed: (o) => {
        m.offersRedeemed.inc({ campaign: o.campaignId })
        decider.redeemed(o.memberId, o.campaignId)
        bus.emit('offerRedeemed', { offerId: o.offerId, campaignId: o.campaignId, ts: clock.now(), memberId: o.memberId })
        log.info({ offerId: o.offerId, campaign: o.campaignId }, 'offer redeemed')
      },
      onRefused: (reason) => m.couponRefusals.inc([reason]),
      onMemberReceipt: (memberId, skus) => { void decider.decide({ kind: 'receipt', skus }, memberId) },
    })
    decider.onExposure = (e) => this.redemptions.track(e)
    m.figures = () => campaignFigures(store)
    this.adminRoutes = offerRoutes({
      campaigns: { list: (r) => this.listCampaigns(r), upsert: (c, by) => this.upsertCampaign(c, by, 'admin'), retire: (id, by) => this.retireCampaign(id, by, 'admin') },
      decisions: (q, reveal) => this.decisions(q, reveal),
      figures: (id) => campaignFigures(store, id),
      stock: {
        list: () => this.stock.list().map((x) => ({ sku: x.sku, level: x.level, price: x.price, updatedAt: new Date(x.updatedAt).toISOString() })),
        set: async (items) => { const now = clock.now(); await store.writeNow(stockSetOps(items, now)); this.stock.set(items, now) },
      },
    })

    // a layout that drops a zone a campaign triggers in is refused until the campaign changes
    d.layout.addCheck((_l, zones) => this.engine.listCampaigns().flatMap((c) => campaignProblems(c, zones).map((p) => ({ path: `(campaign ${c.id}) ${p.path}`, value: p.value, expected: `${p.expected}: retire or change the campaign first` }))))
    d.members.onBeforeErase((memberId) => decider.idle(memberId))
    bus.on('memberErased', ({ memberId }) => {
      this.engine.forgetMember(memberId)
      decider.forgetMember(memberId)
      this.redemptions.forgetMember(memberId)
      for (const [k, v] of this.scanSessions) if (v.memberId === memberId) this.scanSessions.delete(k)
    })
    bus.on('zone', (e) => {
      if (e.state === 'dwell') this.decide(e.subject, { kind: 'dwell', zone: e.zone, seconds: e.seconds })
      else if (e.state === 'enter') this.decide(e.subject, { kind: 'enter', zone: e.zone })
    })
    bus.on('receipt', ({ lane, msg, ts }) => {
      this.redemptions.receipt(lane, msg, ts).catch((err) => log.error({ err: (err as Error).message, receipt: msg.receiptId }, 'receipt not stored: nothing of it was applied; a resend of it will be processed'))
    })
    bus.on('stock', ({ items, ts }) => {
      store.write(stockSetOps(items, ts)).then(() => this.stock.set(items, ts), (err) => log.error({ err }, 'stock not stored'))
    })
    bus.on('scan', ({ scanner, msg, ts }) => {
      if (msg.kind === 'coupon') {
        void this.redemptions.scan(scanner, msg.code, ts).catch((err) => log.error({ err }, 'coupon scan not stored'))
        return
      }
      if (msg.kind === 'member') {
        if (identity.member(msg.code)) this.scanSessions.set(scanner, { memberId: msg.code, until: ts + config.offers.scanSessionMinutes * 60_000 })
        return
      }
      if (msg.kind === 'call') return // call for service
      const session = this.scanSessions.get(scanner)
      if (!session || session.until < ts) { this.scanSessions.delete(scanner); return }
      void decider.decide({ kind: 'scan', sku: msg.code }, session.memberId)
    })
  }

  static async create(ctx: GatewayContext, d: OffersDeps, campaigns: Campaign[]): Promise<OffersFeature> {
    const { store, clock, config, log } = ctx
    if (!config.coupon.key) log.warn('coupon.key is not set: using a key generated for this gateway; POS lanes elsewhere in the chain cannot verify its coupons until the chain key is configured')
    const f = new OffersFeature(ctx, d, campaigns)
    f.stock.restore((await store.all<{ sku: string; level: number | null; price: number | null; updated_at: number }>('SELECT * FROM stock')).map((r) => ({ sku: r.sku, level: r.level, price: r.price, updatedAt: r.updated_at })))
    const weekAgo = clock.now() - 8 * 86_400_000
    f.engine.restore([
      ...(await offersSince(store, weekAgo)).map((r) => ({ memberId: r.member_id, campaignId: r.campaign_id, issuedAt: r.issued_at, value: r.value ?? 0 })),
      ...(await store.all<{ member_id: string; campaign_id: string; ts: number }>('SELECT member_id, campaign_id, ts FROM exposures WHERE holdout = 1 AND ts >= ?', [weekAgo])).map((r) => ({ memberId: r.member_id, campaignId: r.campaign_id, issuedAt: r.ts, value: 0, holdout: true })),
    ])
    await f.redemptions.init()
    await f.decider.init()
    return f
  }

  /** a coupon code is kept (sealed) only while it may be re-sent to the member's app */
  async housekeeping(now: number): Promise<void> {
    await this.ctx.store.write([{ op: 'sql', sql: 'UPDATE offers SET code_enc = NULL WHERE code_enc IS NOT NULL AND expires_at <= ?', params: [now] }]).catch(() => {})
  }

  private decide(subject: string, t: TriggerEvent): void {
    const memberId = this.d.members.identity.memberOfKey(subject)
    if (memberId === undefined) return
    void this.decider.decide(t, memberId)
  }

  /** an offer was issued and its transaction committed */
  private issued(offer: IssuedOffer): void {
    this.redemptions.issued(offer)
    this.ctx.metrics.offersIssued.inc([offer.campaignId])
    this.ctx.log.info({ offerId: offer.offerId, campaign: offer.campaignId, zone: offer.zone }, 'offer issued')
    this.ctx.bus.emit('offerIssued', offer)
    this.ctx.publish(topics.offerEvents(this.ctx.prefix), { offerId: offer.offerId, campaignId: offer.campaignId, zone: offer.zone, ts: offer.issuedAt } satisfies OfferEvent)
  }

  async listCampaigns(includeRetired: boolean) {
    return (await loadCampaigns(this.ctx.store, includeRetired)).map((c) => ({ campaign: c.campaign, source: c.source, retiredAt: c.retiredAt === null ? null : new Date(c.retiredAt).toISOString() }))
  }

  async upsertCampaign(c: Campaign, by: string, source: string) {
    const problems = campaignProblems(c, this.d.layout.zoneIds)
    if (problems.length) return { problems }
    const existed = this.engine.listCampaigns().some((x) => x.id === c.id)
    await this.ctx.store.writeNow(campaignUpsertOps(c, source, this.ctx.clock.now()))
    this.engine.setCampaign(c)
    this.ctx.log.info({ by, campaign: c.id }, existed ? 'campaign replaced' : 'campaign created')
    this.ctx.bus.emit('campaignChanged', { campaignId: c.id, change: existed ? 'updated' : 'created', ts: this.ctx.clock.now(), source })
    return { result: existed ? 'updated' as const : 'created' as const }
  }

  async retireCampaign(id: string, by: string, source: string): Promise<boolean> {
    if (!this.engine.listCampaigns().some((x) => x.id === id)) return false
    await this.ctx.store.writeNow(campaignRetireOps(id, this.ctx.clock.now()))
    this.engine.removeCampaign(id)
    this.ctx.log.info({ by, campaign: id }, 'campaign retired')
    this.ctx.bus.emit('campaignChanged', { campaignId: id, change: 'retired', ts: this.ctx.clock.now(), source })
    return true
  }

  async decisions(q: { member?: string | undefined; campaign?: string | undefined; limit: number }, reveal: boolean): Promise<DecisionView[] | { refused: string }> {
    const identity = this.d.members.identity
    const where: string[] = []
    const params: (string | number)[] = []
    if (q.member) {
      let id: string | undefined = q.member
      if (!reveal) {
        if (!q.member.startsWith('pm:')) return { refused: 'below role admin, members are named by their pseudonym (pm:...), as /presence and /assist show them' }
        id = identity.memberOfKey(q.member)
        if (id === undefined) return []
      }
      where.push('member_id = ?')
      params.push(id)
    }
    if (q.campaign) { where.push('(campaign_id = ? OR instr(considered, ?) > 0)'); params.push(q.campaign, `"campaignId":"${q.campaign}"`) }
    const rows = await this.ctx.store.all<{ id: number; ts: number; member_id: string; zone: string | null; trigger_kind: string; offer_id: string | null; campaign_id: string | null; model_version: string | null; fallback: string | null; considered: string }>(
      `SELECT * FROM decisions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, [...params, q.limit])
    return rows.map((r) => ({ id: r.id, ts: new Date(r.ts).toISOString(), memberId: reveal ? r.member_id : identity.pseudonym(r.member_id), zone: r.zone, trigger: r.trigger_kind, offerId: r.offer_id, campaignId: r.campaign_id, modelVersion: r.model_version, fallback: r.fallback, considered: JSON.parse(r.considered) as { campaignId: string; outcome: string; score?: number }[] }))
  }
}
