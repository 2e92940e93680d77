/**
 * HTTP: ops routes (/healthz, /readyz, /metrics, /docs), the admin API, the member WebSocket and pages.
 * Each area is a fastify plugin; services come in through one narrow port.
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import websocket from '@fastify/websocket'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import { bearer, requireRole, tokenEquals, type Caller } from './auth.js'
import type { AdminApp, AdminKit } from './admin/kit.js'
import { memberRoutes } from './member.js'
import { pageRoutes } from './pages.js'
import type { GatewayServices } from './services.js'
import { MESSAGE_SCHEMAS } from '../contract/messages.js'

const MAX_FRAME = 16 * 1024
const MAX_HTTP_CONNECTIONS = 4096

export interface HttpOptions { host: string; port: number; services: GatewayServices }

export async function buildHttp(o: HttpOptions): Promise<FastifyInstance> {
  const s = o.services
  const app = Fastify({
    loggerInstance: s.log.child({ component: 'http' }),
    // a stranger's idle sockets do not pile up: no request in 30 s, or a request slower than that, is closed
    connectionTimeout: 0,
    keepAliveTimeout: 5000,
    requestTimeout: 30_000,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 4 * 1024 * 1024,
  }).withTypeProvider<TypeBoxTypeProvider>()

  // bounded sockets: at most this many at once (the broker has its own), headers within 10 s
  app.server.maxConnections = MAX_HTTP_CONNECTIONS
  app.server.headersTimeout = 10_000

  // Query strings and path parameters arrive as text and are coerced to their schema types; JSON bodies are
  // not: a string where a number belongs is a clear 400, not a silent conversion.
  const strict = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, allErrors: false, strict: false })
  const coercing = new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: false, allErrors: false, strict: false })
  for (const a of [strict, coercing]) addFormats.default(a)
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema))

  await app.register(swagger, {
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`) },
    openapi: {
      info: { title: 'AisleEdge gateway', version: s.version, description: 'Store gateway: operations (/healthz, /readyz, /metrics), the admin API under /v1/admin (Bearer token with role viewer, operator or admin) and the member WebSocket. The README of the repository describes each piece.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      tags: [
        { name: 'ops', description: 'health, readiness, metrics' },
        { name: 'admin', description: 'store IT: layout, devices, members, campaigns (bearer token with a role)' },
        { name: 'member', description: 'member app' },
      ],
    },
  })
  // every MQTT and WebSocket message of the contract, documented next to the HTTP API
  for (const [name, schema] of Object.entries(MESSAGE_SCHEMAS)) app.addSchema({ $id: name, ...schema })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  await app.register(websocket, {
    options: { maxPayload: MAX_FRAME },
    // a frame over the limit (or a broken client) is the client's problem: one warning line, no stack
    errorHandler: (err, socket, req) => {
      const tooBig = /max payload/i.test(err.message)
      req.log.warn({ ip: req.ip, err: err.message }, tooBig ? `member app frame over ${MAX_FRAME / 1024} KiB: socket closed (1009)` : 'member socket failed')
      socket.terminate()
    },
  })

  app.setErrorHandler((err: { statusCode?: number; validation?: unknown; message: string }, req, reply) => {
    const code = err.statusCode ?? 500
    if (code >= 500) req.log.error({ err }, 'request failed')
    void reply.code(code).send({ statusCode: code, error: code === 400 ? 'Bad Request' : code >= 500 ? 'Internal Server Error' : 'Error', message: code >= 500 ? 'internal error' : err.message })
  })

  app.get('/healthz', {
    schema: { tags: ['ops'], summary: 'the process is alive', response: { 200: Type.Object({ status: Type.Literal('ok'), version: Type.String(), uptimeSeconds: Type.Number() }) } },
  }, async () => ({ status: 'ok' as const, version: s.version, uptimeSeconds: Math.round(process.uptime()) }))

  const Check = Type.Object({ ok: Type.Boolean(), detail: Type.String() })
  const Ready = Type.Object({ ready: Type.Boolean(), checks: Type.Record(Type.String(), Check) })
  app.get('/readyz', {
    schema: { tags: ['ops'], summary: 'broker, database and model ready', response: { 200: Ready, 503: Ready } },
  }, async (_req, reply) => {
    const checks = s.ready()
    const ready = Object.values(checks).every((c) => c.ok)
    return reply.code(ready ? 200 : 503).send({ ready, checks })
  })

  app.get('/metrics', { schema: { tags: ['ops'], summary: 'Prometheus metrics (text exposition format); `Authorization: Bearer <metrics.token>` when one is set' } }, async (req, reply) => {
    if (s.metricsToken !== undefined && !tokenEquals(bearer(req), s.metricsToken)) {
      return reply.code(401).header('www-authenticate', 'Bearer realm="metrics"').send({ statusCode: 401, error: 'Unauthorized', message: 'this gateway\'s /metrics needs its metrics token (metrics.token)' })
    }
    const body = await s.metrics.registry.metrics()
    return reply.type(s.metrics.registry.contentType).send(body)
  })

  await app.register(async (admin) => {
    const tokens = s.adminTokens as Map<string, Caller>
    const kit: AdminKit = {
      viewer: requireRole(tokens, 'viewer'),
      operator: requireRole(tokens, 'operator'),
      admin: requireRole(tokens, 'admin'),
      by: (req) => req.caller?.name ?? 'unknown',
      role: (req) => req.caller?.role ?? null,
    }
    // the token is checked before anything else, body parsing included: an unauthenticated request gets 401,
    // never a schema error, and an upload from a stranger is not read (each route's role check runs next)
    admin.addHook('onRequest', kit.viewer)
    for (const routes of s.adminRoutes) routes(admin.withTypeProvider<TypeBoxTypeProvider>() as unknown as AdminApp, kit)
  }, { prefix: '/v1/admin' })
  await app.register(memberRoutes, { services: s })
  await app.register(pageRoutes, { services: s })
  return app as unknown as FastifyInstance
}
