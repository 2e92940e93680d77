/** GET /v1/admin/dead-letters: messages that could not be used, newest first. */
import Type from 'typebox'
import type { DeadLetterView } from '../services.js'
import { errors, security, type AdminRoutes } from './kit.js'

export interface DeadLettersPort {
  /** `reveal`: payloads as received (role admin); otherwise member ids become pseudonyms and coupon codes are hidden */
  list(q: { reason?: string | undefined; device?: string | undefined; limit: number; before?: number | undefined }, reveal: boolean): Promise<DeadLetterView[]>
}

const DeadLetterItem = Type.Object({ id: Type.Integer(), receivedAt: Type.String(), topic: Type.String(), device: Type.Union([Type.String(), Type.Null()]), reason: Type.String(), detail: Type.Union([Type.String(), Type.Null()]), size: Type.Integer(), payload: Type.String({ description: 'first 512 bytes (MACs scrubbed), as text where it is UTF-8, else base64' }) })

export const deadLetterRoutes = (p: DeadLettersPort): AdminRoutes => (app, k) => {
  app.get('/dead-letters', {
    onRequest: k.viewer,
    schema: {
      tags: ['admin'], security, summary: 'messages that could not be used, newest first (role viewer)',
      querystring: Type.Object({ reason: Type.Optional(Type.String({ maxLength: 32 })), device: Type.Optional(Type.String({ maxLength: 128 })), limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }), before: Type.Optional(Type.Integer({ minimum: 1 })) }),
      response: { 200: Type.Object({ deadLetters: Type.Array(DeadLetterItem) }), ...errors },
    },
  }, async (req) => ({ deadLetters: await p.list(req.query as { limit: number }, k.role(req) === 'admin') }))
}
