/** Campaigns (CONTRACT section 9), offer decisions, campaign figures and stock. */
import Type from 'typebox'
import { Campaign, CampaignId, MemberId } from '../../contract/index.js'
import type { CampaignFigures } from '../../features/figures.js'
import type { CampaignView, DecisionView, ProblemList } from '../services.js'
import { badRequest, errors, notFound, security, type AdminRoutes } from './kit.js'

export interface OffersPort {
  campaigns: {
    list(includeRetired: boolean): Promise<CampaignView[]>
    upsert(c: Campaign, by: string): Promise<{ result: 'created' | 'updated' } | { problems: ProblemList }>
    retire(id: string, by: string): Promise<boolean>
  }
  /** `reveal`: member ids as they are (role admin); otherwise members appear, and are filtered, by pseudonym */
  decisions(q: { member?: string | undefined; campaign?: string | undefined; limit: number }, reveal: boolean): Promise<DecisionView[] | { refused: string }>
  figures(campaignId?: string): Promise<CampaignFigures[]>
  stock: {
    list(): { sku: string; level: number | null; price: number | null; updatedAt: string }[]
    set(items: { sku: string; level: number }[]): Promise<void>
  }
}

const CampaignItem = Type.Object({ campaign: Campaign, source: Type.String(), retiredAt: Type.Union([Type.String(), Type.Null()]) })
const IdResult = Type.Object({ id: Type.String(), result: Type.String() })
const DecisionItem = Type.Object({
  id: Type.Integer(), ts: Type.String(), memberId: Type.String(), zone: Type.Union([Type.String(), Type.Null()]), trigger: Type.String(),
  offerId: Type.Union([Type.String(), Type.Null()]), campaignId: Type.Union([Type.String(), Type.Null()]),
  modelVersion: Type.Union([Type.String(), Type.Null()]), fallback: Type.Union([Type.String(), Type.Null()]),
  considered: Type.Array(Type.Object({ campaignId: Type.String(), outcome: Type.String(), score: Type.Optional(Type.Number()) })),
})
const Interval = Type.Object({ low: Type.Number(), high: Type.Number() })
const Rate = Type.Object({ exposures: Type.Integer(), converted: Type.Integer(), rate: Type.Union([Type.Number(), Type.Null()]), ci: Type.Optional(Type.Union([Interval, Type.Null()], { description: '95% Wilson score interval of the rate' })) })
const Figures = Type.Object({
  campaignId: Type.String(), issued: Type.Integer(), delivered: Type.Integer(), seen: Type.Integer(), dismissed: Type.Integer(), redeemed: Type.Integer(),
  redemptionRate: Type.Union([Type.Number(), Type.Null()]), offered: Rate, holdout: Rate,
  uplift: Type.Union([Type.Number(), Type.Null()]), relativeUplift: Type.Union([Type.Number(), Type.Null()]),
  upliftCi: Type.Union([Type.Object({ low: Type.Number(), high: Type.Number(), level: Type.Number(), method: Type.Literal('newcombe-wilson') }), Type.Null()], { description: '95% confidence interval of the uplift (Newcombe hybrid score interval of the difference of two proportions)' }),
  upliftSignificant: Type.Union([Type.Boolean(), Type.Null()], { description: 'the interval excludes 0' }),
})
const StockItem = Type.Object({ sku: Type.String(), level: Type.Union([Type.Number(), Type.Null()]), price: Type.Union([Type.Number(), Type.Null()]), updatedAt: Type.String() })

export const offerRoutes = (p: OffersPort): AdminRoutes => (app, k) => {
  app.get('/campaigns', {
    onRequest: k.viewer,
    schema: { tags: ['admin'], security, summary: 'campaigns (role viewer)', querystring: Type.Object({ retired: Type.Boolean({ default: false }) }), response: { 200: Type.Object({ campaigns: Type.Array(CampaignItem) }), ...errors } },
  }, async (req) => ({ campaigns: await p.campaigns.list((req.query as { retired: boolean }).retired) }))

  app.put('/campaigns/:id', {
    onRequest: k.operator,
    schema: { tags: ['admin'], security, summary: 'create or replace a campaign (role operator)', params: Type.Object({ id: CampaignId }), body: Campaign, response: { 200: IdResult, 201: IdResult, ...errors } },
  }, async (req, reply) => {
    const body = req.body as Campaign
    const { id } = req.params as { id: string }
    if (body.id !== id) return reply.code(400).send(badRequest(`id in the body (${body.id}) differs from the path (${id})`))
    const r = await p.campaigns.upsert(body, k.by(req))
    if ('problems' in r) return reply.code(400).send(badRequest(r.problems.map((x) => `${x.path}: expected ${x.expected}`).join('; '), r.problems))
    return reply.code(r.result === 'created' ? 201 : 200).send({ id, result: r.result })
  })

  app.delete('/campaigns/:id', {
    onRequest: k.operator,
    schema: { tags: ['admin'], security, summary: 'retire a campaign: no new offers; issued coupons stay valid (role operator)', params: Type.Object({ id: CampaignId }), response: { 200: IdResult, ...errors } },
  }, async (req, reply) => {
    const { id } = req.params as { id: string }
    if (!(await p.campaigns.retire(id, k.by(req)))) return reply.code(404).send(notFound(`no active campaign ${id}`))
    return { id, result: 'retired' }
  })

  app.get('/decisions', {
    onRequest: k.viewer,
    schema: {
      tags: ['admin'], security, summary: 'offer decisions with their reasons, newest first (role viewer; members by pseudonym below role admin)',
      querystring: Type.Object({ member: Type.Optional(MemberId), campaign: Type.Optional(CampaignId), limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }),
      response: { 200: Type.Object({ decisions: Type.Array(DecisionItem) }), ...errors },
    },
  }, async (req, reply) => {
    const r = await p.decisions(req.query as { limit: number }, k.role(req) === 'admin')
    if ('refused' in r) return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: r.refused })
    return { decisions: r }
  })

  app.get('/figures', {
    onRequest: k.viewer,
    schema: { tags: ['admin'], security, summary: 'per campaign: issued, delivered, seen, redeemed, redemption rate, uplift against the holdout group (role viewer)', querystring: Type.Object({ campaign: Type.Optional(CampaignId) }), response: { 200: Type.Object({ campaigns: Type.Array(Figures) }), ...errors } },
  }, async (req) => ({ campaigns: await p.figures((req.query as { campaign?: string }).campaign) }))

  app.get('/stock', { onRequest: k.viewer, schema: { tags: ['admin'], security, summary: 'stock levels and prices as the gateway knows them (role viewer)', response: { 200: Type.Object({ items: Type.Array(StockItem) }), ...errors } } }, async () => ({ items: p.stock.list() }))
  app.put('/stock', {
    onRequest: k.operator,
    schema: {
      tags: ['admin'], security, summary: 'set stock levels (a stock feed); an SKU at 0 or below is never offered (role operator)',
      body: Type.Object({ items: Type.Array(Type.Object({ sku: Type.String({ minLength: 1, maxLength: 64 }), level: Type.Number({ minimum: -1_000_000, maximum: 1_000_000 }) }, { additionalProperties: false }), { minItems: 1, maxItems: 10_000 }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ updated: Type.Integer() }), ...errors },
    },
  }, async (req) => {
    const { items } = req.body as { items: { sku: string; level: number }[] }
    await p.stock.set(items)
    return { updated: items.length }
  })
}
