/** Call for service: requests and bands, figures, one request's steps, operator cancel. */
import Type from 'typebox'
import { ZoneId } from '../../contract/index.js'
import type { AssistService } from '../../features/assist.js'
import type { Clock } from '../../core/clock.js'
import { Nullable, errors, iso, notFound, security, type AdminRoutes } from './kit.js'

export interface AssistPort { service: AssistService; clock: Clock }

const secs = (t: number | null, from: number) => (t === null ? null : Math.round((t - from) / 100) / 10)
const AssistItem = Type.Object({
  requestId: Type.String(), source: Type.String(), origin: Type.String({ description: 'button id, shelf code, or the member\'s gateway pseudonym' }), zone: Nullable(Type.String()),
  priority: Type.Integer(), presses: Type.Integer(), state: Type.String(), createdAt: Type.String(), updatedAt: Type.String(),
  escalatedAt: Nullable(Type.String()), band: Nullable(Type.String()), clerkId: Nullable(Type.String()),
  acceptedAt: Nullable(Type.String()), arrivedAt: Nullable(Type.String()), closedAt: Nullable(Type.String()), closeReason: Nullable(Type.String()),
  acceptSeconds: Nullable(Type.Number()), arriveSeconds: Nullable(Type.Number()), doneSeconds: Nullable(Type.Number()), requeues: Type.Integer(),
  offers: Type.Array(Type.Object({ alertId: Type.String(), band: Type.String(), clerkId: Nullable(Type.String()), at: Type.String(), kind: Type.String(), outcome: Type.String() })),
})
const BandItem = Type.Object({ band: Type.String(), clerkId: Nullable(Type.String()), status: Type.String(), onShift: Type.Boolean(), battery: Nullable(Type.Number()), lastHeartbeat: Nullable(Type.String()), zone: Nullable(Type.String()), busyWith: Nullable(Type.String()), supervisor: Type.Boolean() })
const Stage = Type.Object({ count: Type.Integer(), median: Nullable(Type.Number()), p90: Nullable(Type.Number()), mean: Nullable(Type.Number()), max: Nullable(Type.Number()) })
const Stages = Type.Object({ accept: Stage, arrive: Stage, done: Stage })
const Group = Type.Record(Type.String(), Type.Object({ requests: Type.Integer(), accept: Stage, arrive: Stage, done: Stage }))
const RequestId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })

type Row = Awaited<ReturnType<AssistService['list']>>[number]
const view = (r: Row) => {
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

export const assistRoutes = ({ service: s, clock }: AssistPort): AdminRoutes => (app, k) => {
  app.get('/assist', {
    onRequest: k.viewer,
    schema: {
      tags: ['admin'], security, summary: 'call-for-service requests (newest first) and the clerks\' bands (role viewer)',
      querystring: Type.Object({
        state: Type.Optional(Type.Enum(['queued', 'offered', 'accepted', 'arrived', 'done', 'cancelled', 'expired'])), zone: Type.Optional(ZoneId),
        since: Type.Optional(Type.String({ format: 'date-time' })), limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
      }),
      response: { 200: Type.Object({ requests: Type.Array(AssistItem), bands: Type.Array(BandItem) }), ...errors },
    },
  }, async (req) => {
    const q = req.query as { state?: string; zone?: string; since?: string; limit: number }
    const rows = await s.list({ ...(q.state ? { state: q.state } : {}), ...(q.zone ? { zone: q.zone } : {}), ...(q.since ? { since: Date.parse(q.since) } : {}), limit: q.limit })
    const now = clock.now()
    const supervisors = new Set(s.supervisors)
    return {
      requests: rows.map(view),
      bands: s.dispatcher.bandList().map((b) => ({
        band: b.band, clerkId: b.clerkId, status: s.bandStatusOf(b.band, now), onShift: b.onShift, battery: b.battery,
        lastHeartbeat: Number.isFinite(b.heartbeatAt) ? iso(b.heartbeatAt) : null, zone: b.zone, busyWith: b.busyWith, supervisor: b.clerkId !== null && supervisors.has(b.clerkId),
      })),
    }
  })

  app.get('/assist/figures', {
    onRequest: k.viewer,
    schema: {
      tags: ['admin'], security, summary: 'seconds from the call to accept, to arrive and to done: overall, per zone, per clerk and per store-local hour (role viewer)',
      querystring: Type.Object({ since: Type.Optional(Type.String({ format: 'date-time', description: 'default: 24 hours ago' })), until: Type.Optional(Type.String({ format: 'date-time' })) }),
      response: { 200: Type.Object({ since: Type.String(), requests: Type.Integer(), byState: Type.Record(Type.String(), Type.Integer()), overall: Stages, byZone: Group, byClerk: Group, byHour: Group }), ...errors },
    },
  }, async (req) => {
    const q = req.query as { since?: string; until?: string }
    const since = q.since ? Date.parse(q.since) : clock.now() - 86_400_000
    const f = await s.figures(since, q.until ? Date.parse(q.until) : undefined)
    return { since: new Date(since).toISOString(), ...f }
  })

  app.get('/assist/:id', {
    onRequest: k.viewer,
    schema: {
      tags: ['admin'], security, summary: 'one request with every step it went through (role viewer)',
      params: RequestId,
      response: { 200: Type.Object({ request: AssistItem, events: Type.Array(Type.Object({ ts: Type.String(), kind: Type.String(), from: Nullable(Type.String()), to: Nullable(Type.String()), detail: Type.String() })) }), ...errors },
    },
  }, async (req, reply) => {
    const { id } = req.params as { id: string }
    const r = await s.get(id)
    if (!r) return reply.code(404).send(notFound(`no request ${id}`))
    return { request: view(r.row), events: r.events.map((e) => ({ ts: iso(e.ts)!, kind: e.kind, from: e.from_state, to: e.to_state, detail: e.detail })) }
  })

  app.post('/assist/:id/cancel', {
    onRequest: k.operator,
    schema: {
      tags: ['admin'], security, summary: 'cancel an open request; its clerk is told (role operator)',
      params: RequestId,
      response: { 200: Type.Object({ requestId: Type.String(), state: Type.String() }), ...errors },
    },
  }, async (req, reply) => {
    const { id } = req.params as { id: string }
    const r = s.dispatcher.cancel(id, clock.now(), `admin ${k.by(req)}`)
    if (!r) return reply.code(404).send(notFound(`no open request ${id}`))
    return { requestId: r.id, state: r.state }
  })
}
