/** Members at the edge (CONTRACT sections 8 and 9): list without keys, upsert, erase. Role admin. */
import Type from 'typebox'
import { Member, MemberId } from '../../contract/index.js'
import type { MemberSummary } from '../services.js'
import { badRequest, errors, notFound, security, type AdminRoutes } from './kit.js'

export interface MembersPort {
  list(): Promise<MemberSummary[]>
  upsert(m: Member, by: string): Promise<'created' | 'updated'>
  erase(memberId: string, by: string): Promise<boolean>
}

const MemberItem = Type.Object({ memberId: Type.String(), consent: Type.Object({ offers: Type.Boolean(), location: Type.Boolean() }), tier: Type.Union([Type.String(), Type.Null()]), source: Type.String(), updatedAt: Type.String() })
const Result = Type.Object({ memberId: Type.String(), result: Type.String() })

export const memberRoutes = (p: MembersPort): AdminRoutes => (app, k) => {
  app.get('/members', {
    onRequest: k.admin,
    schema: { tags: ['admin'], security, summary: 'members known at the edge, without keys (role admin)', response: { 200: Type.Object({ members: Type.Array(MemberItem) }), ...errors } },
  }, async () => ({ members: await p.list() }))

  app.put('/members/:memberId', {
    onRequest: k.admin,
    schema: { tags: ['admin'], security, summary: 'create or replace a member (role admin)', params: Type.Object({ memberId: MemberId }), body: Member, response: { 200: Result, 201: Result, ...errors } },
  }, async (req, reply) => {
    const body = req.body as Member
    const { memberId } = req.params as { memberId: string }
    if (body.memberId !== memberId) return reply.code(400).send(badRequest(`memberId in the body (${body.memberId}) differs from the path (${memberId})`))
    const result = await p.upsert(body, k.by(req))
    return reply.code(result === 'created' ? 201 : 200).send({ memberId, result })
  })

  app.delete('/members/:memberId', {
    onRequest: k.admin,
    schema: { tags: ['admin'], security, summary: 'erase a member: every record naming them at the edge (role admin)', params: Type.Object({ memberId: MemberId }), response: { 200: Result, ...errors } },
  }, async (req, reply) => {
    const { memberId } = req.params as { memberId: string }
    if (!(await p.erase(memberId, k.by(req)))) return reply.code(404).send(notFound(`no member ${memberId}`))
    return { memberId, result: 'erased' }
  })
}
