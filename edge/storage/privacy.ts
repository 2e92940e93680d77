/**
 * A database written by an earlier version kept member keys and coupon codes in clear, and named members in
 * config-seeding meta keys. Once, at start-up, in one transaction: keys are sealed (and dropped without
 * location consent), codes become keyed hashes (live ones also sealed for re-delivery), receipts' coupon
 * lists are hashed, seeding keys are hashed; then the file is compacted so the clear text is gone from it.
 */
import type { Member } from '../contract/resources.js'
import { memberHash } from '../identity/identity.js'
import { seedMemberKey } from './repos.js'
import { metaOp, type Store } from './store.js'
import type { WriteOp } from './writer.js'

const DONE = 'privacy:v1'
const CODE = /^[0-9A-HJKMNP-TV-Z]{44}$/

export async function sealPersonalData(store: Store, pepper: Buffer, now: number): Promise<{ members: number; offers: number; receipts: number; meta: number } | null> {
  if ((await store.getMeta(DONE)) !== undefined) return null
  const v = store.vault
  const ops: WriteOp[] = []
  const n = { members: 0, offers: 0, receipts: 0, meta: 0 }
  for (const r of await store.all<{ member_id: string; body: string; key_enc: string | null }>('SELECT member_id, body, key_enc FROM members')) {
    const m = JSON.parse(r.body) as Partial<Member>
    if (m.key === undefined) continue
    const { key, ...body } = m
    ops.push({ op: 'sql', sql: 'UPDATE members SET body = ?, key_enc = ? WHERE member_id = ?', params: [JSON.stringify(body), m.consent?.location && key ? v.seal(key) : null, r.member_id] })
    n.members++
  }
  for (const r of await store.all<{ offer_id: string; code: string; status: string; expires_at: number }>('SELECT offer_id, code, status, expires_at FROM offers WHERE code_enc IS NULL')) {
    if (!CODE.test(r.code)) continue
    const live = ['issued', 'delivered', 'seen'].includes(r.status) && r.expires_at > now
    ops.push({ op: 'sql', sql: 'UPDATE offers SET code = ?, code_enc = ? WHERE offer_id = ?', params: [v.codeHash(r.code), live ? v.seal(r.code) : null, r.offer_id] })
    n.offers++
  }
  for (const r of await store.all<{ receipt_id: string; coupons: string }>("SELECT receipt_id, coupons FROM receipts WHERE coupons <> '[]'")) {
    const list = JSON.parse(r.coupons) as string[]
    if (!list.some((c) => CODE.test(c.trim().toUpperCase()))) continue
    ops.push({ op: 'sql', sql: 'UPDATE receipts SET coupons = ? WHERE receipt_id = ?', params: [JSON.stringify(list.map((c) => (/^[0-9a-f]{64}$/.test(c) ? c : v.codeHash(c)))), r.receipt_id] })
    n.receipts++
  }
  for (const r of await store.all<{ key: string; value: string }>("SELECT key, value FROM meta WHERE key LIKE 'seed:member:%'")) {
    const id = r.key.slice('seed:member:'.length)
    if (/^[0-9a-f]{64}$/.test(id)) continue
    ops.push({ op: 'sql', sql: 'DELETE FROM meta WHERE key = ?', params: [r.key] }, metaOp(seedMemberKey(memberHash(pepper, id)), r.value))
    n.meta++
  }
  ops.push(metaOp(DONE, String(now)))
  await store.writeNow(ops)
  if (n.members + n.offers + n.receipts + n.meta === 0) return null
  await store.compact()
  return n
}
