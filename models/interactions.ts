/**
 * The interactions format: JSON Lines, one row per offer shown to a member (see models/README.md).
 * The feature blocks are the recommender's own inputs (edge/recommend/features.ts).
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { ContextFeatures, MemberFeatures, OfferFeatures } from '../edge/recommend/features.js'

export interface Interaction {
  /** when the offer was shown, ISO 8601 */
  ts: string
  /** pseudonymous or CRM member id; used to split by member, never as a feature */
  memberId: string
  campaignId: string
  /** the offer (coupon) shown; offers with the same id share popularity */
  offerId: string
  member: MemberFeatures
  offer: OfferFeatures
  context: ContextFeatures
  /** 1 if the member redeemed it */
  redeemed: 0 | 1
}

export async function readInteractions(file: string): Promise<Interaction[]> {
  const out: Interaction[] = []
  const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })
  let line = 0
  for await (const text of rl) {
    line++
    if (text.trim() === '') continue
    let row: Interaction
    try {
      row = JSON.parse(text) as Interaction
    } catch (err) {
      throw new Error(`${file}:${line}: not JSON (${(err as Error).message})`)
    }
    if (typeof row.memberId !== 'string' || typeof row.offerId !== 'string' || (row.redeemed !== 0 && row.redeemed !== 1) || !row.member || !row.offer || !row.context) {
      throw new Error(`${file}:${line}: needs memberId, offerId, member, offer, context and redeemed 0/1`)
    }
    out.push(row)
  }
  return out
}

export async function writeInteractions(file: string, rows: Iterable<Interaction>): Promise<number> {
  const ws = createWriteStream(file, 'utf8')
  let n = 0
  for (const r of rows) {
    if (!ws.write(`${JSON.stringify(r)}\n`)) await new Promise<void>((res) => ws.once('drain', () => res()))
    n++
  }
  await new Promise<void>((res, rej) => ws.end((err?: Error | null) => (err ? rej(err) : res())))
  return n
}
