/**
 * GET /v1/admin/live: the store IT console's live stream (Server-Sent Events, role viewer). The browser
 * opens it with fetch and `Authorization: Bearer`, so the token never goes into a URL or a log line.
 * Events: `snapshot` first, then `presence`, `presenceAll`, `bands`, `assist`, `assistFigures`, `devices`,
 * `deviceState`, `deadLetters`, `offers`, `figures`, `campaigns`, `calibration`, `health`, `layout`;
 * each carries `now`, the gateway's clock (epoch ms).
 */
import type { ServerResponse } from 'node:http'
import Type from 'typebox'
import type { Viewer } from '../../features/live.js'
import { ErrorBody, errors, security, type AdminRoutes } from './kit.js'

export interface LivePort {
  /** start streaming to `raw` (headers are sent); false: too many consoles are open */
  attach(raw: ServerResponse, viewer: Viewer): Promise<boolean>
  closeAll(): void
  /** as many consoles are open as the gateway serves */
  full(): boolean
}

export const liveRoutes = (p: LivePort): AdminRoutes => (app, k) => {
  // open streams never end by themselves: end them before the server waits for its requests to finish
  app.addHook('preClose', async () => { p.closeAll() })

  app.get('/whoami', {
    onRequest: k.viewer,
    schema: { tags: ['admin'], security, summary: 'the holder and role of the token (role viewer)', response: { 200: Type.Object({ name: Type.String(), role: Type.String() }), ...errors } },
  }, async (req) => ({ name: k.by(req), role: k.role(req) ?? 'viewer' }))

  app.get('/live', {
    onRequest: k.viewer,
    schema: {
      tags: ['admin'], security,
      summary: 'the console\'s live stream, text/event-stream: a snapshot, then deltas from the gateway\'s own events (role viewer)',
      response: { ...errors, 503: ErrorBody },
    },
  }, async (req, reply) => {
    if (p.full()) return reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: 'too many consoles are open on this gateway' })
    reply.hijack()
    const raw = reply.raw
    req.socket.setNoDelay(true)
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
    })
    const ok = await p.attach(raw, { name: k.by(req), role: k.role(req) ?? 'viewer' })
    if (!ok) raw.end('event: error\ndata: {"message":"too many consoles are open on this gateway"}\n\n')
  })
}
