/** Presence (who is where, pseudonymous) and the calibration flow for store IT. */
import Type from 'typebox'
import { ZoneId } from '../../contract/index.js'
import type { CalibrationService } from '../../features/calibration.js'
import type { PresenceView } from '../services.js'
import { ErrorBody, badRequest, errors, notFound, security, type AdminRoutes } from './kit.js'

export interface PresencePort {
  list(): PresenceView[]
  calibration: Pick<CalibrationService, 'start' | 'cancel' | 'build' | 'deleteSamples' | 'status'>
}

const PresenceItem = Type.Object({ subject: Type.String(), zone: Type.Union([Type.String(), Type.Null()]), since: Type.Union([Type.String(), Type.Null()]), dwellSeconds: Type.Number(), lastSeen: Type.String() })
const Session = Type.Object({ id: Type.Integer(), zone: Type.String(), subject: Type.String(), startedAt: Type.String(), endsAt: Type.String(), state: Type.String(), samples: Type.Integer(), createdBy: Type.String() })
const Check = Type.Object({ zones: Type.Array(Type.Object({ zone: Type.String(), samples: Type.Integer(), tested: Type.Integer(), accuracy: Type.Number() })), accuracy: Type.Number(), problems: Type.Array(Type.String()) })

export const presenceRoutes = (p: PresencePort): AdminRoutes => (app, k) => {
  app.get('/presence', {
    onRequest: k.viewer,
    schema: { tags: ['admin'], security, summary: 'tracked subjects, pseudonymous (role viewer)', response: { 200: Type.Object({ subjects: Type.Array(PresenceItem) }), ...errors } },
  }, async () => ({ subjects: p.list() }))

  // ---- calibration (store IT walks each zone with a tag; CONTRACT is silent, see README)
  app.get('/calibration', {
    onRequest: k.viewer,
    schema: {
      tags: ['admin'], security, summary: 'calibration sessions, samples per zone and the active fingerprint model (role viewer)',
      response: { 200: Type.Object({ sessions: Type.Array(Session), samples: Type.Record(Type.String(), Type.Integer()), model: Type.Union([Type.Null(), Type.Object({ builtAt: Type.String(), zones: Type.Array(Type.String()), anchors: Type.Integer(), fingerprints: Type.Integer(), check: Check })]) }), ...errors },
    },
  }, async () => p.calibration.status())

  app.post('/calibration/sessions', {
    onRequest: k.operator,
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
    const b = req.body as { zone: string; subject: string; seconds: number }
    const r = await p.calibration.start(b.zone, b.subject, b.seconds, k.by(req))
    if ('problem' in r) {
      const conflict = r.problem.includes('already')
      return reply.code(conflict ? 409 : 400).send({ statusCode: conflict ? 409 : 400, error: conflict ? 'Conflict' : 'Bad Request', message: r.problem })
    }
    return reply.code(201).send(r)
  })

  app.delete('/calibration/sessions/:id', {
    onRequest: k.operator,
    schema: { tags: ['admin'], security, summary: 'stop a recording session early (role operator)', params: Type.Object({ id: Type.Integer({ minimum: 1 }) }), response: { 200: Type.Object({ id: Type.Integer(), result: Type.String() }), ...errors } },
  }, async (req, reply) => {
    const { id } = req.params as { id: number }
    if (!(await p.calibration.cancel(id))) return reply.code(404).send(notFound(`no recording session ${id}`))
    return { id, result: 'cancelled' }
  })

  app.post('/calibration/build', {
    onRequest: k.operator,
    schema: {
      tags: ['admin'], security, summary: 'check the fingerprints and make them the active model (role operator)',
      response: { 200: Type.Object({ zones: Type.Array(Type.String()), fingerprints: Type.Integer(), check: Check }), 400: Type.Object({ statusCode: Type.Integer(), error: Type.String(), message: Type.String(), check: Type.Optional(Check) }), 401: ErrorBody, 403: ErrorBody },
    },
  }, async (req, reply) => {
    const r = await p.calibration.build(k.by(req))
    if ('problems' in r) return reply.code(400).send({ ...badRequest(r.problems.join('; ')), ...(r.check ? { check: r.check } : {}) })
    return { zones: r.model.zones, fingerprints: r.model.samples.length, check: r.check }
  })

  app.delete('/calibration/samples', {
    onRequest: k.operator,
    schema: { tags: ['admin'], security, summary: 'delete calibration samples, of one zone or all (role operator)', querystring: Type.Object({ zone: Type.Optional(ZoneId) }), response: { 200: Type.Object({ deleted: Type.Integer() }), ...errors } },
  }, async (req) => ({ deleted: await p.calibration.deleteSamples((req.query as { zone?: string }).zone) }))
}
