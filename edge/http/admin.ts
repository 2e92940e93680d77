/** Admin API (CONTRACT section 8): viewer reads, operator changes campaigns and devices, admin members/keys/config. */
import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { Campaign, CampaignId, Layout, Member, MemberId, ZoneId } from '../contract/index.js'
import { requireRole, type Caller } from './auth.js'
import type { GatewayServices } from './services.js'

const ErrorBody = Type.Object({ statusCode: Type.Integer(), error: Type.String(), message: Type.String(), problems: Type.Optional(Type.Array(Type.Object({ path: Type.String(), value: Type.Unknown(), expected: Type.String() }))) })
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody }
const security = [{ bearer: [] }]

const PresenceItem = Type.Object({ subject: Type.String(), zone: Type.Union([Type.String(), Type.Null()]), since: Type.Union([Type.String(), Type.Null()]), dwellSeconds: Type.Number(), lastSeen: Type.String() })
const DeviceItem = Type.Object({
  id: Type.String(), kind: Type.String(), firstSeen: Type.String(), lastSeen: Type.String(), messageRate: Type.Number(), messages: Type.Integer(),
  badMessages: Type.Integer(), lastBadReason: Type.Union([Type.String(), Type.Null()]), lastBadAt: Type.Union([Type.String(), Type.Null()]),
  battery: Type.Union([Type.Number(), Type.Null()]), online: Type.Union([Type.Boolean(), Type.Null()]), placed: Type.Boolean(),
})
const MemberItem = Type.Object({ memberId: Type.String(), consent: Type.Object({ offers: Type.Boolean(), location: Type.Boolean() }), tier: Type.Union([Type.String(), Type.Null()]), source: Type.String(), updatedAt: Type.String() })
const CampaignItem = Type.Object({ campaign: Campaign, source: Type.String(), retiredAt: Type.Union([Type.String(), Type.Null()]) })
const DeadLetterItem = Type.Object({ id: Type.Integer(), receivedAt: Type.String(), topic: Type.String(), device: Type.Union([Type.String(), Type.Null()]), reason: Type.String(), detail: Type.Union([Type.String(), Type.Null()]), size: Type.Integer(), payload: Type.String({ description: 'first 512 bytes (MACs scrubbed), as text where it is UTF-8, else base64' }) })
const SyncBody = Type.Object({ backlog: Type.Integer(), oldestAgeSeconds: Type.Union([Type.Number(), Type.Null()]), lastSuccessAt: Type.Union([Type.String(), Type.Null()]), lastError: Type.Union([Type.String(), Type.Null()]), byStream: Type.Record(Type.String(), Type.Integer()) })

export const adminRoutes: FastifyPluginAsync<{ services: GatewayServices }> = async (fastify, { services: s }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const tokens = s.adminTokens as Map<string, Caller>
  const viewer = requireRole(tokens, 'viewer')
  const operator = requireRole(tokens, 'operator')
  const admin = requireRole(tokens, 'admin')
  const by = (req: { caller?: Caller }) => req.caller?.name ?? 'unknown'

  app.get('/layout', {
    preHandler: viewer,
    schema: { tags: ['admin'], security, summary: 'zones and anchors (role viewer)', response: { 200: Layout, ...errors } },
  }, async () => s.layout())

  app.put('/layout', {
    preHandler: admin,
    schema: { tags: ['admin'], security, summary: 'replace zones and anchors; presence restarts on the new layout (role admin)', body: Layout, response: { 200: Layout, ...errors } },
  }, async (req, reply) => {
    const problems = await s.setLayout(req.body, by(req))
    if (problems) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: problems.map((p) => `${p.path}: expected ${p.expected}`).join('; '), problems })
    return s.layout()
  })

  app.get('/presence', {
    preHandler: viewer,
    schema: { tags: ['admin'], security, summary: 'tracked subjects, pseudonymous (role viewer)', response: { 200: Type.Object({ subjects: Type.Array(PresenceItem) }), ...errors } },
  }, async () => ({ subjects: s.presence() }))

  app.get('/devices', {
    preHandler: viewer,
    schema: { tags: ['admin'], security, summary: 'every device seen (role viewer)', response: { 200: Type.Object({ devices: Type.Array(DeviceItem) }), ...errors } },
  }, async () => ({ devices: s.devices() }))

  app.get('/dead-letters', {
    preHandler: viewer,
    schema: {
      tags: ['admin'], security, summary: 'messages that could not be used, newest first (role viewer)',
      querystring: Type.Object({ reason: Type.Optional(Type.String({ maxLength: 32 })), device: Type.Optional(Type.String({ maxLength: 128 })), limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }), before: Type.Optional(Type.Integer({ minimum: 1 })) }),
      response: { 200: Type.Object({ deadLetters: Type.Array(DeadLetterItem) }), ...errors },
    },
  }, async (req) => ({ deadLetters: await s.deadLetters(req.query) }))

  app.get('/sync', {
    preHandler: viewer,
    schema: { tags: ['admin'], security, summary: 'outbox backlog and CRM sync state (role viewer)', response: { 200: SyncBody, ...errors } },
  }, async () => s.sync())

  // ---- recommender models and decisions
  const ModelEntry = Type.Object({ name: Type.String(), file: Type.String(), sha256: Type.String(), featureVersion: Type.String(), architecture: Type.Optional(Type.String()), trainedAt: Type.Optional(Type.String()), auc: Type.Optional(Type.Number()) })
  const ModelState = Type.Object({
    active: Type.Union([Type.Null(), Type.Object({ version: Type.String(), name: Type.String(), architecture: Type.Union([Type.String(), Type.Null()]), trainedAt: Type.Union([Type.String(), Type.Null()]), loadedAt: Type.String() })]),
    previous: Type.Union([Type.Null(), Type.Object({ version: Type.String() })]),
    lastError: Type.Union([Type.String(), Type.Null()]),
    available: Type.Array(ModelEntry),
  })
  const Swap = Type.Object({ version: Type.String() })
  const refused = (error: string) => ({ statusCode: 400, error: 'Bad Request', message: error })
  app.get('/models', { preHandler: viewer, schema: { tags: ['admin'], security, summary: 'the active recommender model, the previous one and those available (role viewer)', response: { 200: ModelState, ...errors } } }, async () => s.models.state())
  app.post('/models/activate', {
    preHandler: admin,
    schema: { tags: ['admin'], security, summary: 'load a model from the manifest and swap it in; the working model stays if it is refused (role admin)', body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' }) }, { additionalProperties: false }), response: { 200: Swap, ...errors } },
  }, async (req, reply) => {
    const r = await s.models.activate(req.body.name)
    return r.ok ? { version: r.version } : reply.code(400).send(refused(r.error))
  })
  app.post('/models/rollback', {
    preHandler: admin,
    schema: { tags: ['admin'], security, summary: 'go back to the previous model (role admin)', response: { 200: Swap, ...errors } },
  }, async (_req, reply) => {
    const r = await s.models.rollback()
    return r.ok ? { version: r.version } : reply.code(400).send(refused(r.error))
  })
  app.register(async (raw) => {
    raw.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: 32 * 1024 * 1024 }, (_req, body, done) => done(null, body))
    raw.withTypeProvider<TypeBoxTypeProvider>().put('/models/:name', {
      preHandler: admin,
      schema: {
        tags: ['admin'], security, summary: 'upload an ONNX model (application/octet-stream) with its SHA-256; checked, stored and swapped in (role admin)',
        params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' }) }),
        querystring: Type.Object({ sha256: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }) }),
        response: { 200: Swap, ...errors },
      },
    }, async (req, reply) => {
      if (!Buffer.isBuffer(req.body)) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: 'send the model as application/octet-stream' })
      const r = await s.models.upload(req.params.name, req.body, req.query.sha256)
      return r.ok ? { version: r.version } : reply.code(400).send(refused(r.error))
    })
  })

  const DecisionItem = Type.Object({
    id: Type.Integer(), ts: Type.String(), memberId: Type.String(), zone: Type.Union([Type.String(), Type.Null()]), trigger: Type.String(),
    offerId: Type.Union([Type.String(), Type.Null()]), campaignId: Type.Union([Type.String(), Type.Null()]),
    modelVersion: Type.Union([Type.String(), Type.Null()]), fallback: Type.Union([Type.String(), Type.Null()]),
    considered: Type.Array(Type.Object({ campaignId: Type.String(), outcome: Type.String(), score: Type.Optional(Type.Number()) })),
  })
  app.get('/decisions', {
    preHandler: viewer,
    schema: {
      tags: ['admin'], security, summary: 'offer decisions with their reasons, newest first (role viewer)',
      querystring: Type.Object({ member: Type.Optional(MemberId), campaign: Type.Optional(CampaignId), limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }),
      response: { 200: Type.Object({ decisions: Type.Array(DecisionItem) }), ...errors },
    },
  }, async (req) => ({ decisions: await s.decisions(req.query) }))

  // ---- campaign figures and stock
  const Rate = Type.Object({ exposures: Type.Integer(), converted: Type.Integer(), rate: Type.Union([Type.Number(), Type.Null()]) })
  const Figures = Type.Object({
    campaignId: Type.String(), issued: Type.Integer(), delivered: Type.Integer(), seen: Type.Integer(), dismissed: Type.Integer(), redeemed: Type.Integer(),
    redemptionRate: Type.Union([Type.Number(), Type.Null()]), offered: Rate, holdout: Rate,
    uplift: Type.Union([Type.Number(), Type.Null()]), relativeUplift: Type.Union([Type.Number(), Type.Null()]),
  })
  app.get('/figures', {
    preHandler: viewer,
    schema: { tags: ['admin'], security, summary: 'per campaign: issued, delivered, seen, redeemed, redemption rate, uplift against the holdout group (role viewer)', querystring: Type.Object({ campaign: Type.Optional(CampaignId) }), response: { 200: Type.Object({ campaigns: Type.Array(Figures) }), ...errors } },
  }, async (req) => ({ campaigns: await s.figures(req.query.campaign) }))
  const StockItem = Type.Object({ sku: Type.String(), level: Type.Union([Type.Number(), Type.Null()]), price: Type.Union([Type.Number(), Type.Null()]), updatedAt: Type.String() })
  app.get('/stock', { preHandler: viewer, schema: { tags: ['admin'], security, summary: 'stock levels and prices as the gateway knows them (role viewer)', response: { 200: Type.Object({ items: Type.Array(StockItem) }), ...errors } } }, async () => ({ items: s.stock.list() }))
  app.put('/stock', {
    preHandler: operator,
    schema: {
      tags: ['admin'], security, summary: 'set stock levels (a stock feed); an SKU at 0 or below is never offered (role operator)',
      body: Type.Object({ items: Type.Array(Type.Object({ sku: Type.String({ minLength: 1, maxLength: 64 }), level: Type.Number({ minimum: -1_000_000, maximum: 1_000_000 }) }, { additionalProperties: false }), { minItems: 1, maxItems: 10_000 }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ updated: Type.Integer() }), ...errors },
    },
  }, async (req) => { await s.stock.set(req.body.items); return { updated: req.body.items.length } })

  // ---- call for service
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString())
  const secs = (t: number | null, from: number) => (t === null ? null : Math.round((t - from) / 100) / 10)
  const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])
  const AssistItem = Type.Object({
    requestId: Type.String(), source: Type.String(), origin: Type.String({ description: 'button id, shelf code, or the member\'s gateway pseudonym' }), zone: Nullable(Type.String()),
    priority: Type.Integer(), presses: Type.Integer(), state: Type.String(), createdAt: Type.String(), updatedAt: Type.String(),
    escalatedAt: Nullable(Type.String()), band: Nullable(Type.String()), clerkId: Nullable(Type.String()),
    acceptedAt: Nullable(Type.String()), arrivedAt: Nullable(Type.String()), closedAt: Nullable(Type.String()), closeReason: Nullable(Type.String()),
    acceptSeconds: Nullable(Type.Number()), arriveSeconds: Nullable(Type.Number()), doneSeconds: Nullable(Type.Number()), requeues: Type.Integer(),
    offers: Type.Array(Type.Object({ alertId: Type.String(), band: Type.String(), clerkId: Nullable(Type.String()), at: Type.String(), kind: Type.String(), outcome: Type.String() })),
  })
  const BandItem = Type.Object({ band: Type.String(), clerkId: Nullable(Type.String()), status: Type.String(), onShift: Type.Boolean(), battery: Nullable(Type.Number()), lastHeartbeat: Nullable(Type.String()), zone: Nullable(Type.String()), busyWith: Nullable(Type.String()), supervisor: Type.Boolean() })
  const view = (r: Awaited<ReturnType<GatewayServices['assist']['list']>>[number]) => {
    const offers = JSON.parse(r.offers) as { alertId: string; band: string; clerkId: string | null; at: number; kind: string; outcome: string }[]
    return {
      requestId: r.request_id, source: r.source, origin: r.origin, zone: r.zone, priority: r.priority, presses: r.presses, state: r.state,
      createdAt: iso(r.created_at)!, updatedAt: iso(r.updated_at)!, escalatedAt: iso(r.escalated_at), band: r.band_id, clerkId: r.clerk_id,
      acceptedAt: iso(r.accepted_at), arrivedAt: iso(r.arrived_at), closedAt: iso(r.closed_at), closeReason: r.close_reason,
      acceptSeconds: secs(r.accepted_at, r.created_at), arriveSeconds: secs(r.arrived_at, r.created_at),
      doneSeconds: r.state === 'done' && r.close_reason === 'done' ? secs(r.closed_at, r.created_at) : null, requeues: r.requeues,
      offers: offers.map((o) => ({ ...o, at: iso(o.at)! })),
    }
  }
  app.get('/assist', {
    preHandler: viewer,
    schema: {
      tags: ['admin'], security, summary: 'call-for-service requests (newest first) and the clerks\' bands (role viewer)',
      querystring: Type.Object({
        state: Type.Optional(Type.Enum(['queued', 'offered', 'accepted', 'arrived', 'done', 'cancelled', 'expired'])), zone: Type.Optional(ZoneId),
        since: Type.Optional(Type.String({ format: 'date-time' })), limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
      }),
      response: { 200: Type.Object({ requests: Type.Array(AssistItem), bands: Type.Array(BandItem) }), ...errors },
    },
  }, async (req) => {
    const q = req.query
    const rows = await s.assist.list({ ...(q.state ? { state: q.state } : {}), ...(q.zone ? { zone: q.zone } : {}), ...(q.since ? { since: Date.parse(q.since) } : {}), limit: q.limit })
    const now = s.clock.now()
    const supervisors = new Set(s.assist.supervisors)
    return {
      requests: rows.map(view),
      bands: s.assist.dispatcher.bandList().map((b) => ({
        band: b.band, clerkId: b.clerkId, status: s.assist.bandStatusOf(b.band, now), onShift: b.onShift, battery: b.battery,
        lastHeartbeat: Number.isFinite(b.heartbeatAt) ? iso(b.heartbeatAt) : null, zone: b.zone, busyWith: b.busyWith, supervisor: b.clerkId !== null && supervisors.has(b.clerkId),
      })),
    }
  })
  const Stage = Type.Object({ count: Type.Integer(), median: Nullable(Type.Number()), p90: Nullable(Type.Number()), mean: Nullable(Type.Number()), max: Nullable(Type.Number()) })
  const Stages = Type.Object({ accept: Stage, arrive: Stage, done: Stage })
  const Group = Type.Record(Type.String(), Type.Object({ requests: Type.Integer(), accept: Stage, arrive: Stage, done: Stage }))
  app.get('/assist/figures', {
    preHandler: viewer,
    schema: {
      tags: ['admin'], security, summary: 'seconds from the call to accept, to arrive and to done: overall, per zone, per clerk and per store-local hour (role viewer)',
      querystring: Type.Object({ since: Type.Optional(Type.String({ format: 'date-time', description: 'default: 24 hours ago' })), until: Type.Optional(Type.String({ format: 'date-time' })) }),
      response: { 200: Type.Object({ since: Type.String(), requests: Type.Integer(), byState: Type.Record(Type.String(), Type.Integer()), overall: Stages, byZone: Group, byClerk: Group, byHour: Group }), ...errors },
    },
  }, async (req) => {
    const since = req.query.since ? Date.parse(req.query.since) : s.clock.now() - 86_400_000
    const f = await s.assist.figures(since, req.query.until ? Date.parse(req.query.until) : undefined)
    return { since: new Date(since).toISOString(), ...f }
  })
  app.get('/assist/:id', {
    preHandler: viewer,
    schema: {
      tags: ['admin'], security, summary: 'one request with every step it went through (role viewer)',
      params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
      response: { 200: Type.Object({ request: AssistItem, events: Type.Array(Type.Object({ ts: Type.String(), kind: Type.String(), from: Nullable(Type.String()), to: Nullable(Type.String()), detail: Type.String() })) }), ...errors },
    },
  }, async (req, reply) => {
    const r = await s.assist.get(req.params.id)
    if (!r) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no request ${req.params.id}` })
    return { request: view(r.row), events: r.events.map((e) => ({ ts: iso(e.ts)!, kind: e.kind, from: e.from_state, to: e.to_state, detail: e.detail })) }
  })
  app.post('/assist/:id/cancel', {
    preHandler: operator,
    schema: {
      tags: ['admin'], security, summary: 'cancel an open request; its clerk is told (role operator)',
      params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
      response: { 200: Type.Object({ requestId: Type.String(), state: Type.String() }), ...errors },
    },
  }, async (req, reply) => {
    const r = s.assist.dispatcher.cancel(req.params.id, s.clock.now(), `admin ${by(req)}`)
    if (!r) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no open request ${req.params.id}` })
    return { requestId: r.id, state: r.state }
  })

  // ---- calibration (store IT walks each zone with a tag; CONTRACT is silent, see README)
  const Session = Type.Object({ id: Type.Integer(), zone: Type.String(), subject: Type.String(), startedAt: Type.String(), endsAt: Type.String(), state: Type.String(), samples: Type.Integer(), createdBy: Type.String() })
  const Check = Type.Object({ zones: Type.Array(Type.Object({ zone: Type.String(), samples: Type.Integer(), tested: Type.Integer(), accuracy: Type.Number() })), accuracy: Type.Number(), problems: Type.Array(Type.String()) })
  app.get('/calibration', {
    preHandler: viewer,
    schema: {
      tags: ['admin'], security, summary: 'calibration sessions, samples per zone and the active fingerprint model (role viewer)',
      response: { 200: Type.Object({ sessions: Type.Array(Session), samples: Type.Record(Type.String(), Type.Integer()), model: Type.Union([Type.Null(), Type.Object({ builtAt: Type.String(), zones: Type.Array(Type.String()), anchors: Type.Integer(), fingerprints: Type.Integer(), check: Check })]) }), ...errors },
    },
  }, async () => s.calibration.status())

  app.post('/calibration/sessions', {
    preHandler: operator,
    schema: {
      tags: ['admin'], security, summary: 'record fingerprints of a tag or phone walked around a zone (role operator)',
      body: Type.Object({
        zone: ZoneId,
        subject: Type.String({ minLength: 1, maxLength: 128, description: 'the tag or phone as the scanners report it, e.g. ibeacon:...-1-7' }),
        seconds: Type.Integer({ minimum: 10, maximum: 900, default: 60 }),
      }, { additionalProperties: false }),
      response: { 201: Session, ...errors, 409: ErrorBody },
    },
  }, async (req, reply) => {
    const r = await s.calibration.start(req.body.zone, req.body.subject, req.body.seconds, by(req))
    if ('problem' in r) return reply.code(r.problem.includes('already') ? 409 : 400).send({ statusCode: r.problem.includes('already') ? 409 : 400, error: r.problem.includes('already') ? 'Conflict' : 'Bad Request', message: r.problem })
    return reply.code(201).send(r)
  })

  app.delete('/calibration/sessions/:id', {
    preHandler: operator,
    schema: { tags: ['admin'], security, summary: 'stop a recording session early (role operator)', params: Type.Object({ id: Type.Integer({ minimum: 1 }) }), response: { 200: Type.Object({ id: Type.Integer(), result: Type.String() }), ...errors } },
  }, async (req, reply) => {
    if (!(await s.calibration.cancel(req.params.id))) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no recording session ${req.params.id}` })
    return { id: req.params.id, result: 'cancelled' }
  })

  app.post('/calibration/build', {
    preHandler: operator,
    schema: {
      tags: ['admin'], security, summary: 'check the fingerprints and make them the active model (role operator)',
      response: { 200: Type.Object({ zones: Type.Array(Type.String()), fingerprints: Type.Integer(), check: Check }), 400: Type.Object({ statusCode: Type.Integer(), error: Type.String(), message: Type.String(), check: Type.Optional(Check) }), 401: ErrorBody, 403: ErrorBody },
    },
  }, async (req, reply) => {
    const r = await s.calibration.build(by(req))
    if ('problems' in r) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: r.problems.join('; '), ...(r.check ? { check: r.check } : {}) })
    return { zones: r.model.zones, fingerprints: r.model.samples.length, check: r.check }
  })

  app.delete('/calibration/samples', {
    preHandler: operator,
    schema: { tags: ['admin'], security, summary: 'delete calibration samples, of one zone or all (role operator)', querystring: Type.Object({ zone: Type.Optional(ZoneId) }), response: { 200: Type.Object({ deleted: Type.Integer() }), ...errors } },
  }, async (req) => ({ deleted: await s.calibration.deleteSamples(req.query.zone) }))

  app.get('/members', {
    preHandler: admin,
    schema: { tags: ['admin'], security, summary: 'members known at the edge, without keys (role admin)', response: { 200: Type.Object({ members: Type.Array(MemberItem) }), ...errors } },
  }, async () => ({ members: await s.members.list() }))

  app.put('/members/:memberId', {
    preHandler: admin,
    schema: { tags: ['admin'], security, summary: 'create or replace a member (role admin)', params: Type.Object({ memberId: MemberId }), body: Member, response: { 200: Type.Object({ memberId: Type.String(), result: Type.String() }), 201: Type.Object({ memberId: Type.String(), result: Type.String() }), ...errors } },
  }, async (req, reply) => {
    if (req.body.memberId !== req.params.memberId) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `memberId in the body (${req.body.memberId}) differs from the path (${req.params.memberId})` })
    const result = await s.members.upsert(req.body, by(req))
    return reply.code(result === 'created' ? 201 : 200).send({ memberId: req.params.memberId, result })
  })

  app.delete('/members/:memberId', {
    preHandler: admin,
    schema: { tags: ['admin'], security, summary: 'erase a member: every record naming them at the edge (role admin)', params: Type.Object({ memberId: MemberId }), response: { 200: Type.Object({ memberId: Type.String(), result: Type.String() }), ...errors } },
  }, async (req, reply) => {
    const found = await s.members.erase(req.params.memberId, by(req))
    if (!found) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no member ${req.params.memberId}` })
    return { memberId: req.params.memberId, result: 'erased' }
  })

  app.get('/campaigns', {
    preHandler: viewer,
    schema: { tags: ['admin'], security, summary: 'campaigns (role viewer)', querystring: Type.Object({ retired: Type.Boolean({ default: false }) }), response: { 200: Type.Object({ campaigns: Type.Array(CampaignItem) }), ...errors } },
  }, async (req) => ({ campaigns: await s.campaigns.list(req.query.retired) }))

  app.put('/campaigns/:id', {
    preHandler: operator,
    schema: { tags: ['admin'], security, summary: 'create or replace a campaign (role operator)', params: Type.Object({ id: CampaignId }), body: Campaign, response: { 200: Type.Object({ id: Type.String(), result: Type.String() }), 201: Type.Object({ id: Type.String(), result: Type.String() }), ...errors } },
  }, async (req, reply) => {
    if (req.body.id !== req.params.id) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `id in the body (${req.body.id}) differs from the path (${req.params.id})` })
    const r = await s.campaigns.upsert(req.body, by(req))
    if ('problems' in r) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: r.problems.map((p) => `${p.path}: expected ${p.expected}`).join('; '), problems: r.problems })
    return reply.code(r.result === 'created' ? 201 : 200).send({ id: req.params.id, result: r.result })
  })

  app.delete('/campaigns/:id', {
    preHandler: operator,
    schema: { tags: ['admin'], security, summary: 'retire a campaign: no new offers; issued coupons stay valid (role operator)', params: Type.Object({ id: CampaignId }), response: { 200: Type.Object({ id: Type.String(), result: Type.String() }), ...errors } },
  }, async (req, reply) => {
    const found = await s.campaigns.retire(req.params.id, by(req))
    if (!found) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no active campaign ${req.params.id}` })
    return { id: req.params.id, result: 'retired' }
  })
}
