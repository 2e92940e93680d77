/** GET /v1/admin/sync: outbox backlog and CRM sync state (CONTRACT section 8). */
import Type from 'typebox'
import type { SyncView } from '../services.js'
import { errors, security, type AdminRoutes } from './kit.js'

export interface SyncPort { view(): Promise<SyncView> }

const SyncBody = Type.Object({ backlog: Type.Integer(), oldestAgeSeconds: Type.Union([Type.Number(), Type.Null()]), lastSuccessAt: Type.Union([Type.String(), Type.Null()]), lastError: Type.Union([Type.String(), Type.Null()]), byStream: Type.Record(Type.String(), Type.Integer()) })

export const syncRoutes = (p: SyncPort): AdminRoutes => (app, k) => {
  app.get('/sync', {
    onRequest: k.viewer,
    schema: { tags: ['admin'], security, summary: 'outbox backlog and CRM sync state (role viewer)', response: { 200: SyncBody, ...errors } },
  }, async () => p.view())
}
