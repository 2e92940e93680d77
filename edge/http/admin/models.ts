/** The recommender's models: state, activate, rollback, upload (role admin to change). */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import type { RegistryState } from '../../recommend/registry.js'
import { badRequest, errors, security, type AdminRoutes } from './kit.js'

type Swapped = { ok: true; version: string } | { ok: false; error: string }
export interface ModelsPort {
  state(): RegistryState
  activate(name: string): Promise<Swapped>
  rollback(): Promise<Swapped>
  upload(name: string, bytes: Uint8Array, sha256: string): Promise<Swapped>
}

const ModelEntry = Type.Object({ name: Type.String(), file: Type.String(), sha256: Type.String(), featureVersion: Type.String(), architecture: Type.Optional(Type.String()), trainedAt: Type.Optional(Type.String()), auc: Type.Optional(Type.Number()) })
const ModelState = Type.Object({
  active: Type.Union([Type.Null(), Type.Object({ version: Type.String(), name: Type.String(), architecture: Type.Union([Type.String(), Type.Null()]), trainedAt: Type.Union([Type.String(), Type.Null()]), loadedAt: Type.String() })]),
  previous: Type.Union([Type.Null(), Type.Object({ version: Type.String() })]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  available: Type.Array(ModelEntry),
})
const Swap = Type.Object({ version: Type.String() })
const ModelName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' })

export const modelRoutes = (p: ModelsPort): AdminRoutes => (app, k) => {
  app.get('/models', { onRequest: k.viewer, schema: { tags: ['admin'], security, summary: 'the active recommender model, the previous one and those available (role viewer)', response: { 200: ModelState, ...errors } } }, async () => p.state())
  app.post('/models/activate', {
    onRequest: k.admin,
    schema: { tags: ['admin'], security, summary: 'load a model from the manifest and swap it in; the working model stays if it is refused (role admin)', body: Type.Object({ name: ModelName }, { additionalProperties: false }), response: { 200: Swap, ...errors } },
  }, async (req, reply) => {
    const r = await p.activate((req.body as { name: string }).name)
    return r.ok ? { version: r.version } : reply.code(400).send(badRequest(r.error))
  })
  app.post('/models/rollback', {
    onRequest: k.admin,
    schema: { tags: ['admin'], security, summary: 'go back to the previous model (role admin)', response: { 200: Swap, ...errors } },
  }, async (_req, reply) => {
    const r = await p.rollback()
    return r.ok ? { version: r.version } : reply.code(400).send(badRequest(r.error))
  })
  app.register(async (raw) => {
    raw.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: 32 * 1024 * 1024 }, (_req, body, done) => done(null, body))
    raw.withTypeProvider<TypeBoxTypeProvider>().put('/models/:name', {
      onRequest: k.admin,
      schema: {
        tags: ['admin'], security, summary: 'upload an ONNX model (application/octet-stream) with its SHA-256; checked, stored and swapped in (role admin)',
        params: Type.Object({ name: ModelName }),
        querystring: Type.Object({ sha256: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }) }),
        response: { 200: Swap, ...errors },
      },
    }, async (req, reply) => {
      if (!Buffer.isBuffer(req.body)) return reply.code(400).send(badRequest('send the model as application/octet-stream'))
      const r = await p.upload(req.params.name, req.body, req.query.sha256)
      return r.ok ? { version: r.version } : reply.code(400).send(badRequest(r.error))
    })
  })
}
