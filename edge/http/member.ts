/** Member app WebSocket (CONTRACT section 4): JWT from the Authorization header or ?token=; 4401 when bad. */
import type { FastifyPluginAsync } from 'fastify'
import type { WebSocket } from 'ws'
import QRCode from 'qrcode'
import Type from 'typebox'
import { bearer } from './auth.js'
import type { GatewayServices } from './services.js'

const MAX_EARLY_FRAMES = 20
const FRAMES_PER_SECOND = 20

export const memberRoutes: FastifyPluginAsync<{ services: GatewayServices }> = async (app, { services: s }) => {
  app.get('/v1/member/qr', {
    schema: {
      tags: ['member'],
      summary: 'a coupon code as a QR code (SVG), for the member app; needs the member token',
      querystring: Type.Object({ code: Type.String({ pattern: '^[0-9A-Za-z]{20,64}$' }), token: Type.Optional(Type.String({ maxLength: 4096 })) }),
    },
  }, async (req, reply) => {
    const q = req.query as { code: string; token?: string }
    const r = await s.memberTokens.verify(bearer(req) ?? q.token, s.clock.now())
    if (!r.ok) return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'member token required' })
    // upper case: QR's alphanumeric mode, the densest for these codes
    const svg = await QRCode.toString(q.code.toUpperCase(), { type: 'svg', errorCorrectionLevel: 'M', margin: 2 })
    return reply.type('image/svg+xml').header('cache-control', 'private, max-age=3600').send(svg)
  })

  app.get('/v1/member/ws', {
    websocket: true,
    schema: {
      tags: ['member'],
      summary: 'member app WebSocket: offers pushed live; ack, dismiss, ranging, assist frames (frames: the schemas of this document and README, "Contract notes")',
      description: 'Authorization: Bearer <JWT> or ?token=<JWT>. A bad or expired token gets close code 4401.',
      hide: false,
    },
  }, (socket: WebSocket, req) => {
    const q = req.query as Record<string, unknown>
    const token = bearer(req) ?? (typeof q['token'] === 'string' ? q['token'] : undefined)
    let memberId: string | null = null
    let closed = false
    const early: string[] = []
    let windowStart = Date.now()
    let frames = 0

    socket.on('message', (data, isBinary) => {
      const t = Date.now()
      if (t - windowStart >= 1000) { windowStart = t; frames = 0 }
      if (++frames > FRAMES_PER_SECOND) { socket.close(1008, 'too many frames'); return }
      if (isBinary) { socket.send(JSON.stringify({ type: 'error', error: 'binary-frame' })); return }
      const text = data.toString()
      if (memberId === null) {
        if (early.length < MAX_EARLY_FRAMES) early.push(text)
        return
      }
      s.hub.handleFrame(memberId, socket, text)
    })
    socket.on('close', () => {
      closed = true
      if (memberId !== null) s.hub.detach(memberId, socket)
    })
    socket.on('error', (err) => s.log.debug({ err: err.message }, 'member socket error'))

    void s.memberTokens.verify(token, s.clock.now()).then(async (r) => {
      if (closed) return
      if (!r.ok) {
        s.log.info({ reason: r.reason, ip: req.ip }, 'member socket refused')
        if (r.reason === 'revoked') socket.close(4403, 'member erased')
        else socket.close(4401, 'unauthorized')
        return
      }
      memberId = r.memberId
      await s.hub.attach(r.memberId, socket, r.exp)
      for (const text of early.splice(0)) s.hub.handleFrame(r.memberId, socket, text)
    }).catch((err) => {
      s.log.error({ err }, 'member socket setup failed')
      socket.close(1011, 'internal error')
    })
  })
}
