/** GET / PUT /v1/admin/layout (CONTRACT sections 8 and 9). */
import { Layout } from '../../contract/index.js'
import type { ProblemList } from '../services.js'
import { badRequest, errors, security, type AdminRoutes } from './kit.js'

export interface LayoutPort {
  get(): Layout
  replace(l: Layout, by: string): Promise<ProblemList | null>
}

export const layoutRoutes = (p: LayoutPort): AdminRoutes => (app, k) => {
  app.get('/layout', {
    onRequest: k.viewer,
    schema: { tags: ['admin'], security, summary: 'zones and anchors (role viewer)', response: { 200: Layout, ...errors } },
  }, async () => p.get())

  app.put('/layout', {
    onRequest: k.admin,
    schema: { tags: ['admin'], security, summary: 'replace zones and anchors; presence restarts on the new layout (role admin)', body: Layout, response: { 200: Layout, ...errors } },
  }, async (req, reply) => {
    const problems = await p.replace(req.body as Layout, k.by(req))
    if (problems) return reply.code(400).send(badRequest(problems.map((x) => `${x.path}: expected ${x.expected}`).join('; '), problems))
    return p.get()
  })
}
