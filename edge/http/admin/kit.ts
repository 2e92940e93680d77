/**
 * What admin routes are written with: role checks (viewer < operator < admin), the caller's name for the logs,
 * and the error body every route shares. Each feature module brings its own routes (edge/http/admin/*.ts);
 * the HTTP server registers them all under /v1/admin.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import type { Caller } from '../auth.js'

export type AdminApp = FastifyInstance<any, any, any, any, TypeBoxTypeProvider> // eslint-disable-line @typescript-eslint/no-explicit-any
export type PreHandler = (req: FastifyRequest, reply: FastifyReply) => Promise<void>

/** Role checks are `onRequest` hooks: they run before the body is parsed (use them as `onRequest: k.operator`). */
export interface AdminKit {
  viewer: PreHandler
  operator: PreHandler
  admin: PreHandler
  /** the caller's name, for the logs */
  by(req: FastifyRequest): string
  /** the caller's role ('viewer' | 'operator' | 'admin'), once a role check has passed */
  role(req: FastifyRequest): Caller['role'] | null
}

export type AdminRoutes = (app: AdminApp, kit: AdminKit) => void

export const ErrorBody = Type.Object({ statusCode: Type.Integer(), error: Type.String(), message: Type.String(), problems: Type.Optional(Type.Array(Type.Object({ path: Type.String(), value: Type.Unknown(), expected: Type.String() }))) })
export const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody }
export const security = [{ bearer: [] }]
export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])

export const badRequest = (message: string, problems?: { path: string; value: unknown; expected: string }[]) => ({ statusCode: 400, error: 'Bad Request', message, ...(problems ? { problems } : {}) })
export const notFound = (message: string) => ({ statusCode: 404, error: 'Not Found', message })
export const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString())
