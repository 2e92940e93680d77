/** GET /v1/admin/devices: every device seen on the bus (CONTRACT section 8). */
import Type from 'typebox'
import type { DeviceView } from '../../ingest/devices.js'
import { Nullable, errors, security, type AdminRoutes } from './kit.js'

export interface DevicesPort {
  list(): DeviceView[]
  /** layout anchors (scanners, buttons) never heard from */
  neverSeen?(): { id: string; kind: string; zone: string | null; silent: boolean; expectedIntervalSeconds: number | null }[]
}

const DeviceItem = Type.Object({
  id: Type.String(), kind: Type.String(), firstSeen: Type.String(), lastSeen: Type.String(), messageRate: Type.Number(), messages: Type.Integer(),
  badMessages: Type.Integer(), lastBadReason: Type.Union([Type.String(), Type.Null()]), lastBadAt: Type.Union([Type.String(), Type.Null()]),
  battery: Type.Union([Type.Number(), Type.Null()]),
  online: Type.Union([Type.Boolean(), Type.Null()], { description: 'from P/status (and its last will) and from silence; null: unknown (a kind that speaks only when used, without a status)' }),
  onlineReason: Nullable(Type.Enum(['status', 'silent', 'messages'])),
  silent: Type.Boolean({ description: 'nothing heard for longer than the kind\'s expected interval' }),
  expectedIntervalSeconds: Nullable(Type.Number()),
  statusAt: Nullable(Type.String()),
  recentBad: Type.Array(Type.Object({ reason: Type.String(), at: Type.String() }), { description: 'the last few bad messages, newest last' }),
  zone: Nullable(Type.String()),
  placed: Type.Boolean(),
})
const NeverSeen = Type.Object({ id: Type.String(), kind: Type.String(), zone: Nullable(Type.String()), silent: Type.Boolean(), expectedIntervalSeconds: Nullable(Type.Number()) })

export const deviceRoutes = (p: DevicesPort): AdminRoutes => (app, k) => {
  app.get('/devices', {
    onRequest: k.viewer,
    schema: { tags: ['admin'], security, summary: 'every device seen (role viewer)', response: { 200: Type.Object({ devices: Type.Array(DeviceItem), neverSeen: Type.Array(NeverSeen, { description: 'scanners and buttons of the layout never heard from' }) }), ...errors } },
  }, async () => ({ devices: p.list(), neverSeen: p.neverSeen?.() ?? [] }))
}
