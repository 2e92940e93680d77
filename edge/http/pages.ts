/**
 * Pages for people: the index, the member app (/app) and the store IT console (/console). Static files under
 * edge/http/pages/; the console's bundle is built by `npm run build` into dist/console/ and served from there
 * (everything from the gateway itself: no CDN, the store may be offline).
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { packageRoot } from '../config/load.js'
import type { GatewayServices } from './services.js'

const PAGES = ['index.html', 'app.html', 'console.html'] as const

const PAGE_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:"
/** the console runs no inline script and talks to its own origin only */
const CONSOLE_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

const ASSETS: Record<string, string> = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'console.js.map': 'application/json; charset=utf-8',
  'console.css.map': 'application/json; charset=utf-8',
}

export const pageRoutes: FastifyPluginAsync<{ services: GatewayServices }> = async (app, { services: s }) => {
  const dir = join(packageRoot(), 'edge', 'http', 'pages')
  const consoleDir = join(packageRoot(), 'dist', 'console')
  const pages = Object.fromEntries(PAGES.map((p) => [p, readFileSync(join(dir, p), 'utf8').replaceAll('{{storeId}}', s.storeId).replaceAll('{{version}}', s.version)]))
  const send = (name: (typeof PAGES)[number]) => async (_req: unknown, reply: FastifyReply) =>
    reply.type('text/html; charset=utf-8').header('content-security-policy', PAGE_CSP).send(pages[name]!)
  app.get('/', { schema: { hide: true } }, send('index.html'))
  app.get('/app', { schema: { hide: true } }, send('app.html'))
  app.get('/favicon.ico', { schema: { hide: true } }, async (_req, reply) => reply.code(204).header('cache-control', 'public, max-age=86400').send())

  // the console's bundle: read once it exists (a test may build it after the gateway started)
  const cache = new Map<string, { body: Buffer; etag: string }>()
  const asset = (file: string) => {
    let a = cache.get(file)
    if (!a) {
      try {
        const body = readFileSync(join(consoleDir, file))
        a = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` }
        cache.set(file, a)
      } catch {
        return null
      }
    }
    return a
  }
  const secure = (reply: FastifyReply) => reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer')
  app.get('/console', { schema: { hide: true } }, async (_req, reply) => {
    const js = asset('console.js')
    secure(reply).header('cache-control', 'no-cache').header('x-frame-options', 'DENY')
    if (!js) return reply.code(503).type('text/plain; charset=utf-8').send('The console is not built: run `npm run build` (it bundles edge/http/console into dist/console).')
    return reply.type('text/html; charset=utf-8').header('content-security-policy', CONSOLE_CSP).send(pages['console.html']!.replaceAll('{{build}}', js.etag.slice(1, -1)))
  })
  app.get('/console/assets/:file', { schema: { hide: true } }, async (req, reply) => {
    const file = (req.params as { file: string }).file
    const type = ASSETS[file]
    const a = type ? asset(file) : null
    if (!type || !a) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no console asset ${file.slice(0, 64)}` })
    secure(reply).header('etag', a.etag).header('cache-control', 'public, max-age=31536000, immutable')
    if (req.headers['if-none-match'] === a.etag) return reply.code(304).send()
    return reply.type(type).send(a.body)
  })
}
