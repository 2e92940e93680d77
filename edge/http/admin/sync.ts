/** GET /v1/admin/sync: outbox backlog and CRM sync state (CONTRACT section 8); POST .../sync/retry. */
import Type from 'typebox'
import type { SyncView } from '../services.js'
import { errors, security, type AdminRoutes } from './kit.js'

export interface SyncPort { view(): Promise<SyncView>; retry(): void }

const Iso = Type.Union([Type.String(), Type.Null()])
const Stream = Type.Object({
  destination: Type.String(), backlog: Type.Integer(), packed: Type.Integer({ description: 'of the backlog, records packed into compressed blocks (an outage)' }), oldestAgeSeconds: Type.Union([Type.Number(), Type.Null()]),
  delivered: Type.Integer({ description: 'since the gateway started' }), retried: Type.Integer(), parked: Type.Integer({ description: 'kept aside: refused by the receiver for good, or too large' }), lastSuccess: Iso, lastError: Iso, nextAttempt: Iso,
})
const SyncBody = Type.Object({
  mode: Type.Union([Type.Literal('stand-alone'), Type.Literal('http'), Type.Literal('mqtt')]),
  backlog: Type.Integer(), oldestAgeSeconds: Type.Union([Type.Number(), Type.Null()], { description: 'of the CRM stream' }), lastSuccess: Iso, lastError: Iso,
  delivered: Type.Integer(), parked: Type.Integer(),
  byStream: Type.Record(Type.String(), Type.Integer()),
  streams: Type.Object({ crm: Stream, ops: Stream }),
  budget: Type.Object({ bytes: Type.Integer(), budgetBytes: Type.Integer(), state: Type.Union([Type.Literal('ok'), Type.Literal('alarm'), Type.Literal('full')]) }),
  inbound: Type.Record(Type.String(), Type.Object({ lastPull: Iso, lastApplied: Iso, lastError: Iso, notModified: Type.Integer() })),
  recentlyParked: Type.Array(Type.Object({ stream: Type.String(), event: Type.String(), messageId: Type.String(), reason: Type.String(), parkedAt: Type.String() })),
  overrides: Type.Array(Type.Object({ resource: Type.String(), id: Type.String(), at: Type.String() }), { description: 'store edits the CRM\'s version replaced (the CRM owns members and campaigns)' }),
})

export const syncRoutes = (p: SyncPort): AdminRoutes => (app, k) => {
  app.get('/sync', {
    onRequest: k.viewer,
    schema: { tags: ['admin'], security, summary: 'outbox backlog and CRM sync state (role viewer)', response: { 200: SyncBody, ...errors } },
  }, async () => p.view())
  app.post('/sync/retry', {
    onRequest: k.operator,
    schema: { tags: ['admin'], security, summary: 'try the CRM now: end the backoff and pull every resource (role operator)', response: { 202: Type.Object({ ok: Type.Boolean() }), ...errors } },
  }, async (_req, reply) => { p.retry(); return reply.code(202).send({ ok: true }) })
}
