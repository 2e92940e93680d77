/**
 * Interactions in columnar buffers: each row's feature vector (built by edge/recommend/features.ts, the one
 * definition the gateway uses) is kept as its nonzero entries in large chunks, with label, weight, member,
 * offer and time in typed arrays. No per-row objects survive reading, so millions of rows fit in bounded
 * memory (50-170 bytes a row; see models/README.md for measured figures).
 *
 * Binary entries (one-hot flags, a value of exactly 1) store only their index; other values store a float32
 * beside it, exactly the float32 the gateway's Float32Array holds.
 */
import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync, statSync } from 'node:fs'
import { buildFeatures, FEATURE_DIM, POPULARITY_INDEX, popularityFeature } from '../../edge/recommend/features.js'
import { streamInteractions, ReadReport, type Interaction } from '../interactions.js'
import type { Rows, SparseRow } from './nn.js'
import { Rng } from '../../devices/simulator/rng.js'

if (FEATURE_DIM >= 128) throw new Error(`dataset.ts stores feature indices in 7 bits; FEATURE_DIM is ${FEATURE_DIM}: widen the index`)

const ONE = 0x80
/** entries per index chunk; a value chunk holds half as many (about a third to a half of the entries carry a value) */
const CHUNK = 1 << 23
const VCHUNK = CHUNK >> 1

/**
 * A typed array that grows by half when full. Sized from the expected row count, it rarely grows at all: a
 * doubling of every column at once (old and new side by side) was the peak of memory on large files.
 */
class Grow<T extends Uint8Array | Uint16Array | Uint32Array | Float32Array | Float64Array> {
  a: T
  n = 0
  constructor(private readonly make: (n: number) => T, cap = 1024) { this.a = make(Math.max(1024, cap)) }
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = this.make(Math.ceil(this.a.length * 1.5))
      b.set(this.a)
      this.a = b
    }
    this.a[this.n++] = v
  }
  /** the filled part: a view when the slack is small, else a trimmed copy */
  done(): T {
    const t = (this.n >= this.a.length * 0.9 ? this.a.subarray(0, this.n) : this.a.slice(0, this.n)) as T
    this.a = this.make(0)
    return t
  }
}

export class Dataset {
  readonly dim = FEATURE_DIM
  n = 0
  // per row (trimmed by finish())
  label!: Uint8Array
  weight!: Float32Array
  member!: Uint32Array
  offer!: Uint32Array
  ts!: Float64Array
  /** the popularity the row brought (a CRM's own figure), NaN when absent */
  popIn!: Float32Array
  /** 0: training files, 1: the --eval file */
  part!: Uint8Array
  private rowChunk!: Uint16Array
  private rowIdx!: Uint32Array
  private rowVal!: Uint32Array
  private rowLen!: Uint8Array

  readonly memberIds: string[] = []
  readonly offerIds: string[] = []
  private readonly memberIndex = new Map<string, number>()
  private readonly offerIndex = new Map<string, number>()

  private readonly idxChunks: Uint8Array[] = []
  private readonly valChunks: Float32Array[] = []
  private idxPos = CHUNK
  private valPos = VCHUNK
  private readonly scratch = new Float32Array(FEATURE_DIM)
  private g: { label: Grow<Uint8Array>; weight: Grow<Float32Array>; member: Grow<Uint32Array>; offer: Grow<Uint32Array>; ts: Grow<Float64Array>; popIn: Grow<Float32Array>; part: Grow<Uint8Array>; chunk: Grow<Uint16Array>; idx: Grow<Uint32Array>; val: Grow<Uint32Array>; len: Grow<Uint8Array> } | null

  /**
   * `expectedRows` sizes the columns (readDataset estimates it from the file sizes); `limits` bound the
   * distinct ids: a file with more is refused rather than exhausting memory.
   */
  constructor(expectedRows = 1024, private readonly limits = { members: 20_000_000, offers: 5_000_000 }) {
    const c = expectedRows
    this.g = {
      label: new Grow((n) => new Uint8Array(n), c), weight: new Grow((n) => new Float32Array(n), c), member: new Grow((n) => new Uint32Array(n), c), offer: new Grow((n) => new Uint32Array(n), c),
      ts: new Grow((n) => new Float64Array(n), c), popIn: new Grow((n) => new Float32Array(n), c), part: new Grow((n) => new Uint8Array(n), c),
      chunk: new Grow((n) => new Uint16Array(n), c), idx: new Grow((n) => new Uint32Array(n), c), val: new Grow((n) => new Uint32Array(n), c), len: new Grow((n) => new Uint8Array(n), c),
    }
  }

  private intern(map: Map<string, number>, list: string[], id: string, what: string, max: number): number {
    let k = map.get(id)
    if (k === undefined) {
      if (list.length >= max) throw new Error(`more than ${max} distinct ${what}s; raise the limit or split the export`)
      k = list.length
      map.set(id, k)
      list.push(id)
    }
    return k
  }

  /** Append one checked row. */
  add(r: Interaction, part = 0): void {
    const g = this.g
    if (!g) throw new Error('dataset already finished')
    const x = this.scratch
    buildFeatures(r, x, 0)
    // popularity is filled per split (target encoding without leakage), not stored with the row
    x[POPULARITY_INDEX] = 0
    x[POPULARITY_INDEX + 1] = 0
    let nnz = 0
    let nval = 0
    for (let i = 0; i < FEATURE_DIM; i++) { const v = x[i]!; if (v !== 0) { nnz++; if (v !== 1) nval++ } }
    if (this.idxPos + nnz > CHUNK || this.valPos + nval > VCHUNK) {
      if (this.idxChunks.length >= 0xffff) throw new Error('dataset too large')
      this.idxChunks.push(new Uint8Array(CHUNK))
      this.valChunks.push(new Float32Array(VCHUNK))
      this.idxPos = 0
      this.valPos = 0
    }
    const ci = this.idxChunks.length - 1
    const I = this.idxChunks[ci]!
    const V = this.valChunks[ci]!
    g.chunk.push(ci)
    g.idx.push(this.idxPos)
    g.val.push(this.valPos)
    g.len.push(nnz)
    for (let i = 0; i < FEATURE_DIM; i++) {
      const v = x[i]!
      if (v === 0) continue
      if (v === 1) I[this.idxPos++] = i | ONE
      else { I[this.idxPos++] = i; V[this.valPos++] = v }
    }
    g.label.push(r.redeemed)
    g.weight.push(r.weight ?? 1)
    g.member.push(this.intern(this.memberIndex, this.memberIds, r.memberId, 'member', this.limits.members))
    g.offer.push(this.intern(this.offerIndex, this.offerIds, r.offerId, 'offer', this.limits.offers))
    g.ts.push(Date.parse(r.ts))
    g.popIn.push(r.offer.popularity ?? NaN)
    g.part.push(part)
    this.n++
  }

  /** Trim the buffers; no more rows after this. */
  finish(): this {
    const g = this.g
    if (!g) return this
    this.label = g.label.done(); this.weight = g.weight.done(); this.member = g.member.done(); this.offer = g.offer.done()
    this.ts = g.ts.done(); this.popIn = g.popIn.done(); this.part = g.part.done()
    this.rowChunk = g.chunk.done(); this.rowIdx = g.idx.done(); this.rowVal = g.val.done(); this.rowLen = g.len.done()
    this.g = null
    this.memberIndex.clear()
    this.offerIndex.clear()
    return this
  }

  /** Row r's features, with the popularity pair from `pop` (NaN: unknown), into `into`. */
  row(r: number, into: SparseRow, pop: number): SparseRow {
    const I = this.idxChunks[this.rowChunk[r]!]!
    const V = this.valChunks[this.rowChunk[r]!]!
    let p = this.rowIdx[r]!
    let q = this.rowVal[r]!
    const len = this.rowLen[r]!
    const idx = into.idx
    const val = into.val
    for (let k = 0; k < len; k++) {
      const b = I[p++]!
      if (b & ONE) { idx[k] = b & 0x7f; val[k] = 1 } else { idx[k] = b; val[k] = V[q++]! }
    }
    let n = len
    if (!Number.isNaN(pop)) {
      idx[n] = POPULARITY_INDEX; val[n++] = 1
      idx[n] = POPULARITY_INDEX + 1; val[n++] = Math.fround(popularityFeature(pop))
    }
    into.n = n
    return into
  }

  /** Bytes the rows take (the last chunk counted as far as it is filled). */
  usedBytes(): number {
    const perRow = 1 + 4 + 4 + 4 + 8 + 4 + 1 + 2 + 4 + 4 + 1
    return this.n * perRow + (this.idxChunks.length - 1) * (CHUNK + 4 * VCHUNK) + (this.idxChunks.length ? this.idxPos + 4 * this.valPos : 0)
  }

  /** Bytes held by the buffers (for the progress line and the report). */
  bytes(): number {
    const per = this.g ? 0 : this.label.byteLength + this.weight.byteLength + this.member.byteLength + this.offer.byteLength + this.ts.byteLength + this.popIn.byteLength + this.part.byteLength + this.rowChunk.byteLength + this.rowIdx.byteLength + this.rowVal.byteLength + this.rowLen.byteLength
    return per + this.idxChunks.length * (CHUNK + 4 * VCHUNK)
  }

  /** All rows with the popularity they brought (a view for small in-memory uses and tests). */
  all(): View { return new View(this, Int32Array.from({ length: this.n }, (_, i) => i), this.popIn.slice()) }

  static fromInteractions(rows: Iterable<Interaction>): Dataset {
    const ds = new Dataset()
    for (const r of rows) ds.add(r)
    return ds.finish()
  }
}

export interface ReadOptions {
  /** the test file (--eval): its rows are the test set */
  eval?: string | undefined
  report?: ReadReport
  onProgress?: (msg: string) => void
}

/** Stream files into a dataset; bad rows are counted in the report and left out. */
export async function readDataset(files: readonly string[], o: ReadOptions = {}): Promise<{ ds: Dataset; report: ReadReport }> {
  const report = o.report ?? new ReadReport()
  const all = [...files.map((f) => ({ f, part: 0 })), ...(o.eval ? [{ f: o.eval, part: 1 }] : [])]
  const ds = new Dataset(estimateRows(all.map((x) => x.f)))
  const t0 = performance.now()
  for (const { f, part } of all) {
    const onProgress = o.onProgress ? (bytes: number, total: number) => {
      const s = (performance.now() - t0) / 1000
      o.onProgress!(`reading ${f}: ${(100 * bytes / Math.max(1, total)).toFixed(0)}%, ${ds.n.toLocaleString('en')} rows (${report.invalid} refused), ${Math.round(ds.n / Math.max(0.001, s)).toLocaleString('en')} rows/s, rss ${Math.round(process.memoryUsage.rss() / 2 ** 20)} MiB`)
    } : undefined
    for await (const { row } of streamInteractions(f, { report, ...(onProgress ? { onProgress } : {}) })) ds.add(row, part)
  }
  return { ds: ds.finish(), report }
}

/** Rows in the files, estimated from their sizes and the mean length of their first lines (+5%). */
export function estimateRows(files: readonly string[]): number {
  let rows = 0
  for (const f of files) {
    const size = statSync(f).size
    const fd = openSync(f, 'r')
    try {
      const buf = Buffer.alloc(Math.min(size, 1 << 16))
      const n = readSync(fd, buf, 0, buf.length, 0)
      let lines = 0
      for (let i = 0; i < n; i++) if (buf[i] === 10) lines++
      rows += lines > 0 ? Math.ceil((size / (n / lines)) * 1.05) : 1024
    } finally {
      closeSync(fd)
    }
  }
  return Math.min(rows, 200_000_000)
}

/** Deterministic member split: a member is in the test share by the hash of its id. */
export function memberInTest(memberId: string, share: number, salt = 'split'): boolean {
  const h = createHash('sha256').update(`${salt}:${memberId}`).digest().readUInt32BE(0)
  return h / 2 ** 32 < share
}

export interface Split { fit: Int32Array; valid: Int32Array; test: Int32Array; /** fit + valid, in row order */ train: Int32Array }

/**
 * Test: the eval file's rows if there is one, else the members whose hash falls in `testShare`. Validation:
 * `validShare` of the remaining members (another salt). No member is in two of them.
 */
export function splitDataset(ds: Dataset, testShare = 0.2, validShare = 0.15): Split {
  const hasEval = ds.part.some((p) => p === 1)
  const M = ds.memberIds.length
  const role = new Uint8Array(M) // 0 fit, 1 valid, 2 test
  for (let m = 0; m < M; m++) {
    const id = ds.memberIds[m]!
    role[m] = !hasEval && memberInTest(id, testShare) ? 2 : memberInTest(id, validShare, 'valid') ? 1 : 0
  }
  const fit: number[] = [], valid: number[] = [], test: number[] = [], train: number[] = []
  for (let r = 0; r < ds.n; r++) {
    const k = hasEval ? (ds.part[r] === 1 ? 2 : role[ds.member[r]!]!) : role[ds.member[r]!]!
    if (k === 2) test.push(r)
    else { train.push(r); (k === 1 ? valid : fit).push(r) }
  }
  return { fit: Int32Array.from(fit), valid: Int32Array.from(valid), test: Int32Array.from(test), train: Int32Array.from(train) }
}

/** How many earlier recipients it takes to move an offer's rate halfway from the prior. */
export const PRIOR_WEIGHT = 20

/** Weighted, smoothed redemption rate per offer from rows `from`. */
export function offerRates(ds: Dataset, from: Int32Array): { rate: (offer: number) => number | undefined; prior: number } {
  const n = new Float64Array(ds.offerIds.length)
  const pos = new Float64Array(ds.offerIds.length)
  let W = 0, P = 0
  for (const r of from) {
    const w = ds.weight[r]!
    const o = ds.offer[r]!
    n[o] = n[o]! + w
    W += w
    if (ds.label[r]) { pos[o] = pos[o]! + w; P += w }
  }
  const prior = P / Math.max(1e-12, W)
  return { prior, rate: (o) => (n[o]! > 0 ? (pos[o]! + PRIOR_WEIGHT * prior) / (n[o]! + PRIOR_WEIGHT) : undefined) }
}

/**
 * Popularity for every row, never from the row's own label: rows of `encodeFrom` get out-of-fold rates (5
 * folds by member), `others` get rates from all of `encodeFrom`. Rows that carry a popularity keep it.
 * `drop` hides the popularity of that share of `encodeFrom` rows (the gateway often scores offers whose
 * popularity it does not know yet). Returns one Float32Array per set, aligned with its indices (NaN: unknown).
 */
export function encodePopularity(ds: Dataset, encodeFrom: Int32Array, others: Int32Array[], o: { drop?: number; seed?: number } = {}): { own: Float32Array; others: Float32Array[] } {
  const folds = 5
  const O = ds.offerIds.length
  const foldOf = new Uint8Array(ds.memberIds.length)
  for (let m = 0; m < foldOf.length; m++) foldOf[m] = createHash('sha256').update(`fold:${ds.memberIds[m]}`).digest().readUInt32BE(0) % folds
  const n = new Float64Array(O * folds)
  const pos = new Float64Array(O * folds)
  const fw = new Float64Array(folds)
  const fp = new Float64Array(folds)
  for (const r of encodeFrom) {
    const f = foldOf[ds.member[r]!]!
    const k = ds.offer[r]! * folds + f
    const w = ds.weight[r]!
    n[k] = n[k]! + w
    fw[f] = fw[f]! + w
    if (ds.label[r]) { pos[k] = pos[k]! + w; fp[f] = fp[f]! + w }
  }
  const W = fw.reduce((a, b) => a + b, 0)
  const P = fp.reduce((a, b) => a + b, 0)
  const rateExcept = (offer: number, f: number): number => {
    let nn = 0, pp = 0
    for (let g = 0; g < folds; g++) if (g !== f) { nn += n[offer * folds + g]!; pp += pos[offer * folds + g]! }
    if (nn <= 0) return NaN
    const prior = (P - (f >= 0 ? fp[f]! : 0)) / Math.max(1e-12, W - (f >= 0 ? fw[f]! : 0))
    return (pp + PRIOR_WEIGHT * prior) / (nn + PRIOR_WEIGHT)
  }
  const rng = new Rng(o.seed ?? 5)
  const own = new Float32Array(encodeFrom.length)
  encodeFrom.forEach((r, i) => {
    const given = ds.popIn[r]!
    own[i] = !Number.isNaN(given) ? given : rateExcept(ds.offer[r]!, foldOf[ds.member[r]!]!)
    if (o.drop && rng.chance(o.drop)) own[i] = NaN
  })
  return { own, others: others.map((idx) => Float32Array.from(idx, (r) => (!Number.isNaN(ds.popIn[r]!) ? ds.popIn[r]! : rateExcept(ds.offer[r]!, -1)))) }
}

/** A subset of the rows with their popularity: what the training loops and the metrics read. */
export class View implements Rows {
  readonly n: number
  constructor(readonly ds: Dataset, readonly index: Int32Array, readonly pop: Float32Array) { this.n = index.length }
  label(i: number): number { return this.ds.label[this.index[i]!]! }
  weight(i: number): number { return this.ds.weight[this.index[i]!]! }
  row(i: number, into: SparseRow): SparseRow { return this.ds.row(this.index[i]!, into, this.pop[i]!) }
  labels(): Uint8Array { return Uint8Array.from(this.index, (r) => this.ds.label[r]!) }
  weights(): Float32Array { return Float32Array.from(this.index, (r) => this.ds.weight[r]!) }
  members(): Uint32Array { return Uint32Array.from(this.index, (r) => this.ds.member[r]!) }
  /** rows [start, start + count) as the gateway's dense float32 input */
  dense(start = 0, count = this.n - start): Float32Array {
    const out = new Float32Array(count * this.ds.dim)
    const buf = { idx: new Int32Array(this.ds.dim + 2), val: new Float64Array(this.ds.dim + 2), n: 0 }
    for (let i = 0; i < count; i++) {
      const row = this.row(start + i, buf)
      for (let k = 0; k < row.n; k++) out[i * this.ds.dim + row.idx[k]!] = row.val[k]!
    }
    return out
  }
}
