/** GET /v1/admin/devices: every device seen on the bus (CONTRACT section 8). */
import Type from 'typebox'
import type { DeviceView } from '../../ingest/devices.js'
import { errors, security, type AdminRoutes } from './kit.js'

export interface DevicesPort { list(): DeviceView[] }

const DeviceItem = Type.Object({
  id: Type.String(), kind: Type.String(), firstSeen: Type.String(), lastSeen: Type.String(), messageRate: Type.Number(), messages: Type.Integer(),
  badMessages: Type.Integer(), lastBadReason: Type.Union([Type.String(), Type.Null()]), lastBadAt: Type.Union([Type.String(), Type.Null()]),
  battery: Type.Union([Type.Number(), Type.Null()]), online: Type.Union([Type.Boolean(), Type.Null()]), placed: Type.Boolean(),
})

export const deviceRoutes = (p: DevicesPort): AdminRoutes => (app, k) => {
  app.get('/devices', {
    onRequest: k.viewer,
    schema: { tags: ['admin'], security, summary: 'every device seen (role viewer)', response: { 200: Type.Object({ devices: Type.Array(DeviceItem) }), ...errors } },
  }, async () => ({ devices: p.list() }))
}
