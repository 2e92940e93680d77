/** Admin API bearer tokens: looked up by SHA-256, never compared or stored in clear. */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Role } from '../config/schema.js'

export const sha256Hex = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex')

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 }

export interface Caller { name: string; role: Role }

declare module 'fastify' {
  interface FastifyRequest { caller?: Caller }
}

/** constant-time comparison of a presented token with the configured one */
export function tokenEquals(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

export function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization
  if (!h) return undefined
  const m = /^Bearer\s+(\S+)$/i.exec(h)
  return m?.[1]
}

export const NO_TOKENS = 'no admin token is configured on this gateway: set AISLE_ADMIN_TOKEN=<a long random token> (or list SHA-256 hashes in admin.tokens, from `aisle-edge hash-token <token>`) and restart'

/** preHandler that admits callers holding at least `role`. */
export function requireRole(tokens: Map<string, Caller>, role: Role) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const token = bearer(req)
    if (tokens.size === 0) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ statusCode: 401, error: 'Unauthorized', message: NO_TOKENS })
      return
    }
    if (!token) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ statusCode: 401, error: 'Unauthorized', message: 'missing bearer token' })
      return
    }
    const caller = tokens.get(sha256Hex(token))
    if (!caller) {
      await reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({ statusCode: 401, error: 'Unauthorized', message: 'unknown token' })
      return
    }
    if (RANK[caller.role] < RANK[role]) {
      await reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: `needs role ${role}; token ${caller.name} has ${caller.role}` })
      return
    }
    req.caller = caller
  }
}
