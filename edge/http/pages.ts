/** Pages for people: the index, the member app (/app). Static files under edge/http/pages/. */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyPluginAsync } from 'fastify'
import { packageRoot } from '../config/load.js'
import type { GatewayServices } from './services.js'

const PAGES = ['index.html', 'app.html'] as const

export const pageRoutes: FastifyPluginAsync<{ services: GatewayServices }> = async (app, { services: s }) => {
  const dir = join(packageRoot(), 'edge', 'http', 'pages')
  const pages = Object.fromEntries(PAGES.map((p) => [p, readFileSync(join(dir, p), 'utf8').replaceAll('{{storeId}}', s.storeId).replaceAll('{{version}}', s.version)]))
  const send = (name: (typeof PAGES)[number]) => async (_req: unknown, reply: { type(t: string): { header(k: string, v: string): { send(b: string): unknown } } }) =>
    reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:").send(pages[name]!)
  app.get('/', { schema: { hide: true } }, send('index.html'))
  app.get('/app', { schema: { hide: true } }, send('app.html'))
}
