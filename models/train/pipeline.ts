/**
 * From interactions to training matrices: member split, popularity encoding without leakage, features.
 */
import { createHash } from 'node:crypto'
import { buildFeatures, FEATURE_DIM, type FeatureInput } from '../../edge/recommend/features.js'
import type { Interaction } from '../interactions.js'
import { sparse, type SparseRow } from './nn.js'
import { Rng } from '../../devices/simulator/rng.js'

/** Deterministic member split: a member is in the test share by the hash of its id. */
export function memberInTest(memberId: string, share: number, salt = 'split'): boolean {
  const h = createHash('sha256').update(`${salt}:${memberId}`).digest().readUInt32BE(0)
  return h / 2 ** 32 < share
}

export function splitByMember<T extends { memberId: string }>(rows: readonly T[], testShare: number, salt = 'split'): { train: T[]; test: T[] } {
  const train: T[] = []
  const test: T[] = []
  for (const r of rows) (memberInTest(r.memberId, testShare, salt) ? test : train).push(r)
  return { train, test }
}

const PRIOR_WEIGHT = 20

/** Smoothed redemption rate per offer from labelled rows. */
export function offerRates(rows: readonly Interaction[]): { rates: Map<string, number>; prior: number } {
  let pos = 0
  const by = new Map<string, { n: number; pos: number }>()
  for (const r of rows) {
    pos += r.redeemed
    const s = by.get(r.offerId) ?? { n: 0, pos: 0 }
    s.n++
    s.pos += r.redeemed
    by.set(r.offerId, s)
  }
  const prior = pos / Math.max(1, rows.length)
  const rates = new Map([...by].map(([k, s]) => [k, (s.pos + PRIOR_WEIGHT * prior) / (s.n + PRIOR_WEIGHT)]))
  return { rates, prior }
}

/**
 * Popularity for every row, never from the row's own label: rows of `encodeFrom` get out-of-fold rates
 * (5 folds by member), `others` get rates from all of `encodeFrom`. Rows that already carry a popularity
 * (exported by the CRM) keep it.
 */
export function withPopularity(encodeFrom: readonly Interaction[], others: readonly Interaction[][]): { own: Interaction[]; others: Interaction[][] } {
  const set = (r: Interaction, rate: number | undefined): Interaction => (r.offer.popularity !== undefined || rate === undefined ? r : { ...r, offer: { ...r.offer, popularity: rate } })
  const folds = 5
  const foldOf = (m: string) => createHash('sha256').update(`fold:${m}`).digest().readUInt32BE(0) % folds
  const own: Interaction[] = new Array(encodeFrom.length)
  for (let f = 0; f < folds; f++) {
    const { rates } = offerRates(encodeFrom.filter((r) => foldOf(r.memberId) !== f))
    encodeFrom.forEach((r, i) => { if (foldOf(r.memberId) === f) own[i] = set(r, rates.get(r.offerId)) })
  }
  const { rates } = offerRates(encodeFrom)
  return { own, others: others.map((list) => list.map((r) => set(r, rates.get(r.offerId)))) }
}

export interface Matrix { rows: SparseRow[]; dense: Float32Array; y: Uint8Array; n: number }

/**
 * Feature rows. `dropPopularity` hides the popularity of that share of rows (augmentation: the gateway
 * often scores offers whose popularity it does not know yet).
 */
export function matrix(rows: readonly Interaction[], opts: { dropPopularity?: number; seed?: number } = {}): Matrix {
  const rng = new Rng(opts.seed ?? 5)
  const dense = new Float32Array(rows.length * FEATURE_DIM)
  const y = new Uint8Array(rows.length)
  const out: SparseRow[] = []
  rows.forEach((r, i) => {
    let input: FeatureInput = { member: r.member, offer: r.offer, context: r.context }
    if (opts.dropPopularity && rng.chance(opts.dropPopularity)) input = { ...input, offer: { ...input.offer, popularity: undefined } }
    buildFeatures(input, dense, i * FEATURE_DIM)
    out.push(sparse(dense.subarray(i * FEATURE_DIM, (i + 1) * FEATURE_DIM)))
    y[i] = r.redeemed
  })
  return { rows: out, dense, y, n: rows.length }
}
