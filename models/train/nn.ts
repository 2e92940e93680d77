/**
 * Small ranking models trained with logistic loss and Adam, hand-written over Float64Arrays (inputs are
 * short, mostly one-hot vectors; a numerics library would bring a native build or a large dependency for a
 * few hundred lines). Correctness is tested: gradients against finite differences, convergence on data with
 * a known answer (tests/unit/nn.test.ts).
 *
 *   lr:  z = b + w.x
 *   mlp: z = b2 + w2 . relu(W1^T x + b1)            (W1 is D x H, row-major)
 *   fm:  z = b + w.x + 1/2 sum_f [ (sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2 ]   (V is D x K)
 *   p = sigmoid(z)
 */
import { Rng } from '../../devices/simulator/rng.js'

export type Kind = 'lr' | 'mlp' | 'fm'

export interface ModelSpec { kind: Kind; dim: number; hidden?: number; factors?: number }

export interface Params {
  spec: ModelSpec
  /** lr/fm: w (D), b (1); mlp: W1 (D*H), b1 (H), w2 (H), b2 (1); fm: V (D*K) */
  w: Float64Array
  b: Float64Array
  W1: Float64Array
  b1: Float64Array
  V: Float64Array
}

export function init(spec: ModelSpec, seed = 1): Params {
  const rng = new Rng(seed)
  const D = spec.dim
  const H = spec.kind === 'mlp' ? spec.hidden ?? 32 : 0
  const K = spec.kind === 'fm' ? spec.factors ?? 8 : 0
  const p: Params = {
    spec,
    w: new Float64Array(spec.kind === 'mlp' ? H : D),
    b: new Float64Array(1),
    W1: new Float64Array(D * H),
    b1: new Float64Array(H),
    V: new Float64Array(D * K),
  }
  const he = Math.sqrt(2 / Math.max(1, D))
  for (let i = 0; i < p.W1.length; i++) p.W1[i] = rng.gauss() * he
  if (spec.kind === 'mlp') for (let j = 0; j < H; j++) p.w[j] = rng.gauss() * Math.sqrt(1 / H)
  for (let i = 0; i < p.V.length; i++) p.V[i] = rng.gauss() * 0.01
  return p
}

/** A row as its nonzero entries (inputs are mostly one-hot): the first `n` of idx/val. */
export interface SparseRow { idx: Int32Array; val: Float64Array; n: number }

export function sparse(x: Float32Array | Float64Array): SparseRow {
  const idx: number[] = []
  const val: number[] = []
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) { idx.push(i); val.push(x[i]!) }
  return { idx: Int32Array.from(idx), val: Float64Array.from(val), n: idx.length }
}

/** A reusable row buffer for `dim` features. */
export function scratchRow(dim: number): SparseRow {
  return { idx: new Int32Array(dim), val: new Float64Array(dim), n: 0 }
}

/**
 * Labelled rows, read one at a time into a caller's buffer: the trainer's columnar views (dataset.ts) and
 * plain arrays (tests) both serve the training loops.
 */
export interface Rows {
  readonly n: number
  label(i: number): number
  /** how many shown offers the row stands for (sampled negatives weigh more) */
  weight(i: number): number
  /** the row's features; may return `into` filled, or a row of its own */
  row(i: number, into: SparseRow): SparseRow
}

export function arrayRows(xs: readonly SparseRow[], ys: ArrayLike<number>, ws?: ArrayLike<number>): Rows {
  return { n: xs.length, label: (i) => ys[i]!, weight: (i) => (ws ? ws[i]! : 1), row: (i) => xs[i]! }
}

const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)))

/** Scratch buffers sized for one model, reused across rows. */
export class Work {
  readonly h: Float64Array
  readonly a: Float64Array
  readonly s: Float64Array
  constructor(spec: ModelSpec) {
    this.h = new Float64Array(spec.hidden ?? 32)
    this.a = new Float64Array(spec.hidden ?? 32)
    this.s = new Float64Array(spec.factors ?? 8)
  }
}

/** The logit of one row (fills the scratch buffers the gradient needs). */
export function logit(p: Params, x: SparseRow, wk: Work): number {
  const { idx, val } = x
  const nnz = x.n
  const D = p.spec.dim
  switch (p.spec.kind) {
    case 'lr': {
      let z = p.b[0]!
      for (let n = 0; n < nnz; n++) z += p.w[idx[n]!]! * val[n]!
      return z
    }
    case 'mlp': {
      const H = p.b1.length
      for (let j = 0; j < H; j++) wk.a[j] = p.b1[j]!
      for (let n = 0; n < nnz; n++) {
        const base = idx[n]! * H
        const v = val[n]!
        for (let j = 0; j < H; j++) wk.a[j] = wk.a[j]! + p.W1[base + j]! * v
      }
      let z = p.b[0]!
      for (let j = 0; j < H; j++) {
        const h = wk.a[j]! > 0 ? wk.a[j]! : 0
        wk.h[j] = h
        z += p.w[j]! * h
      }
      return z
    }
    case 'fm': {
      const K = p.V.length / D
      let z = p.b[0]!
      let sq = 0
      for (let f = 0; f < K; f++) wk.s[f] = 0
      for (let n = 0; n < nnz; n++) {
        const i = idx[n]!
        const v = val[n]!
        z += p.w[i]! * v
        for (let f = 0; f < K; f++) {
          const vf = p.V[i * K + f]!
          wk.s[f] = wk.s[f]! + vf * v
          sq += vf * vf * v * v
        }
      }
      let ss = 0
      for (let f = 0; f < K; f++) ss += wk.s[f]! * wk.s[f]!
      return z + 0.5 * (ss - sq)
    }
  }
}

export function predict(p: Params, x: SparseRow, wk: Work): number {
  return sigmoid(logit(p, x, wk))
}

/** Add dLoss/dParams of one row (logistic loss, times `scale`) into g. Call right after logit() for that row. */
export function accumulate(p: Params, x: SparseRow, wk: Work, dz: number, g: Params, scale: number): void {
  const { idx, val } = x
  const nnz = x.n
  const d = dz * scale
  g.b[0] = g.b[0]! + d
  switch (p.spec.kind) {
    case 'lr':
      for (let n = 0; n < nnz; n++) g.w[idx[n]!] = g.w[idx[n]!]! + d * val[n]!
      return
    case 'mlp': {
      const H = p.b1.length
      for (let j = 0; j < H; j++) {
        g.w[j] = g.w[j]! + d * wk.h[j]!
        const dh = wk.a[j]! > 0 ? d * p.w[j]! : 0
        if (dh === 0) continue
        g.b1[j] = g.b1[j]! + dh
        for (let n = 0; n < nnz; n++) g.W1[idx[n]! * H + j] = g.W1[idx[n]! * H + j]! + dh * val[n]!
      }
      return
    }
    case 'fm': {
      const K = p.V.length / p.spec.dim
      for (let n = 0; n < nnz; n++) {
        const i = idx[n]!
        const v = val[n]!
        g.w[i] = g.w[i]! + d * v
        for (let f = 0; f < K; f++) g.V[i * K + f] = g.V[i * K + f]! + d * (v * wk.s[f]! - p.V[i * K + f]! * v * v)
      }
    }
  }
}

export function zerosLike(p: Params): Params {
  return { spec: p.spec, w: new Float64Array(p.w.length), b: new Float64Array(1), W1: new Float64Array(p.W1.length), b1: new Float64Array(p.b1.length), V: new Float64Array(p.V.length) }
}

const KEYS = ['w', 'b', 'W1', 'b1', 'V'] as const

export function copyParams(p: Params): Params {
  return { spec: p.spec, w: p.w.slice(), b: p.b.slice(), W1: p.W1.slice(), b1: p.b1.slice(), V: p.V.slice() }
}

export interface TrainOptions {
  epochs: number
  batch: number
  lr: number
  l2: number
  seed: number
  /** stop when validation loss has not improved for this many epochs */
  patience: number
  onEpoch?: (epoch: number, trainLoss: number, validLoss: number) => void
}

/** Weighted mean log loss of the model over rows. */
export function logLoss(p: Params, rows: Rows): number {
  const wk = new Work(p.spec)
  const buf = scratchRow(p.spec.dim + 2)
  let s = 0
  let wsum = 0
  for (let i = 0; i < rows.n; i++) {
    const q = Math.min(1 - 1e-12, Math.max(1e-12, predict(p, rows.row(i, buf), wk)))
    const w = rows.weight(i)
    s -= w * (rows.label(i) ? Math.log(q) : Math.log(1 - q))
    wsum += w
  }
  return s / Math.max(1e-12, wsum)
}

/**
 * Minibatch Adam with L2 and early stopping on the validation log loss; returns the best parameters.
 * The loss is weighted: a row counts by its weight (a sampled negative standing for 20 counts 20 times).
 */
export function train(spec: ModelSpec, fit: Rows, valid: Rows, o: TrainOptions): { params: Params; epochs: number; validLoss: number } {
  const rng = new Rng(o.seed)
  let p = init(spec, o.seed)
  const g = zerosLike(p)
  const m1 = zerosLike(p)
  const m2 = zerosLike(p)
  const wk = new Work(spec)
  const buf = scratchRow(spec.dim + 2)
  const order = Int32Array.from({ length: fit.n }, (_, i) => i)
  let wTotal = 0
  for (let i = 0; i < fit.n; i++) wTotal += fit.weight(i)
  const wMean = wTotal / Math.max(1, fit.n)
  const beta1 = 0.9, beta2 = 0.999, eps = 1e-8
  let t = 0
  let best = copyParams(p)
  let bestLoss = Infinity
  let bestEpoch = 0
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) { const j = Math.floor(rng.next() * (i + 1)); const tmp = order[i]!; order[i] = order[j]!; order[j] = tmp }
    let lossSum = 0
    for (let start = 0; start < order.length; start += o.batch) {
      const end = Math.min(order.length, start + o.batch)
      for (const k of KEYS) g[k].fill(0)
      // each row's gradient weighs w / (batch size * mean weight): the expected step matches an unweighted run
      const norm = 1 / ((end - start) * wMean)
      for (let r = start; r < end; r++) {
        const i = order[r]!
        const row = fit.row(i, buf)
        const z = logit(p, row, wk)
        const q = sigmoid(z)
        const yy = fit.label(i)
        const w = fit.weight(i)
        lossSum -= w * (yy ? Math.log(Math.max(q, 1e-12)) : Math.log(Math.max(1 - q, 1e-12)))
        accumulate(p, row, wk, q - yy, g, w * norm)
      }
      t++
      const c1 = 1 - beta1 ** t, c2 = 1 - beta2 ** t
      for (const k of KEYS) {
        const pk = p[k], gk = g[k], a = m1[k], b = m2[k]
        const decay = k === 'b' || k === 'b1' ? 0 : o.l2
        for (let i = 0; i < pk.length; i++) {
          const gi = gk[i]! + decay * pk[i]!
          a[i] = beta1 * a[i]! + (1 - beta1) * gi
          b[i] = beta2 * b[i]! + (1 - beta2) * gi * gi
          pk[i] = pk[i]! - (o.lr * (a[i]! / c1)) / (Math.sqrt(b[i]! / c2) + eps)
        }
      }
    }
    const vl = logLoss(p, valid)
    o.onEpoch?.(epoch, lossSum / Math.max(1e-12, wTotal), vl)
    if (vl < bestLoss - 1e-6) { bestLoss = vl; best = copyParams(p); bestEpoch = epoch } else if (epoch - bestEpoch >= o.patience) break
  }
  p = best
  return { params: p, epochs: bestEpoch, validLoss: bestLoss }
}
