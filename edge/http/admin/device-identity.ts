/** Device identity on the broker (CONTRACT 7a): register a device and get its secret once, revoke it. */
import Type from 'typebox'
import { DeviceId, ZoneId } from '../../contract/index.js'
import { DEVICE_KINDS, type RegisteredKind } from '../../mqtt/rights.js'
import { badRequest, errors, notFound, security, Nullable, type AdminRoutes } from './kit.js'

export interface RegisteredDevice { id: string; kind: RegisteredKind; zone: string | null; createdAt: string; rotatedAt: string; createdBy: string; connections: number }

export interface DeviceIdentityPort {
  register(id: string, kind: RegisteredKind, zone: string | undefined, by: string): Promise<{ secret: string; created: boolean } | { problem: string }>
  revoke(id: string, by: string): Promise<boolean>
  list(): RegisteredDevice[]
}

const Kind = Type.Enum([...DEVICE_KINDS], { description: 'what the device is; it decides the topics it may use (device kinds and their topics: README, "Device identity and the store network")' })
const Registration = Type.Object({ id: Type.String(), kind: Type.String(), zone: Nullable(Type.String()), createdAt: Type.String(), rotatedAt: Type.String(), createdBy: Type.String(), connections: Type.Integer() })

export const deviceIdentityRoutes = (p: DeviceIdentityPort): AdminRoutes => (app, k) => {
  app.get('/devices/registered', {
    onRequest: k.viewer,
    schema: { tags: ['admin'], security, summary: 'devices allowed on the broker, with their live connections (role viewer; secrets are never shown again)', response: { 200: Type.Object({ devices: Type.Array(Registration) }), ...errors } },
  }, async () => ({ devices: p.list() }))

  app.put('/devices/:id', {
    onRequest: k.operator,
    schema: {
      tags: ['admin'], security,
      summary: 'register a device, or rotate its secret: the answer shows the secret once; its MQTT user name is the id (role operator)',
      params: Type.Object({ id: DeviceId }),
      body: Type.Object({ kind: Kind, zone: Type.Optional(ZoneId) }, { additionalProperties: false }),
      response: { 200: Type.Object({ id: Type.String(), kind: Type.String(), secret: Type.String() }), 201: Type.Object({ id: Type.String(), kind: Type.String(), secret: Type.String() }), ...errors },
    },
  }, async (req, reply) => {
    const { id } = req.params as { id: string }
    const b = req.body as { kind: RegisteredKind; zone?: string }
    const r = await p.register(id, b.kind, b.zone, k.by(req))
    if ('problem' in r) return reply.code(400).send(badRequest(r.problem))
    return reply.code(r.created ? 201 : 200).header('cache-control', 'no-store').send({ id, kind: b.kind, secret: r.secret })
  })

  app.delete('/devices/:id', {
    onRequest: k.operator,
    schema: { tags: ['admin'], security, summary: 'revoke a device: its connections are closed at once (role operator)', params: Type.Object({ id: DeviceId }), response: { 200: Type.Object({ id: Type.String(), result: Type.String() }), ...errors } },
  }, async (req, reply) => {
    const { id } = req.params as { id: string }
    if (!(await p.revoke(id, k.by(req)))) return reply.code(404).send(notFound(`no registered device ${id}`))
    return { id, result: 'revoked' }
  })
}
