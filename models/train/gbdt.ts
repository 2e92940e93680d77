/**
 * Gradient-boosted trees for the redemption logit, exported as an ONNX TreeEnsembleRegressor
 * (ai.onnx.ml) followed by a Sigmoid (models/train/onnx.ts), so the gateway serves it with the same
 * onnxruntime session as the other models.
 *
 * Hand-written because no well-kept JavaScript library trains boosted trees and writes ONNX (the npm
 * candidates are small, unmaintained, or wasm builds without an exporter); the algorithm is the usual one:
 * - features are binned once at weighted quantiles (at most `bins` per feature, bins' upper edges are data
 *   values as float32, so `x <= edge` means the same in the trainer and in onnxruntime);
 * - each tree is grown level by level to `depth`, histograms of gradient and hessian per feature and bin
 *   over the rows' nonzero entries only (the zero bin is the node total minus the rest), the larger child's
 *   histogram by subtraction;
 * - second-order split gain with L2 `lambda` on leaf values and `minChildWeight` on each side; shrinkage;
 * - weighted logistic loss (a row's weight multiplies its gradient and hessian);
 * - early stopping on the weighted validation log loss; the best number of trees is kept.
 */
import type { Rows, SparseRow } from './nn.js'
import { scratchRow } from './nn.js'
import { Rng } from '../../devices/simulator/rng.js'

export interface GbdtSpec { kind: 'gbdt'; dim: number; trees: number; depth: number; learningRate: number; minChildWeight: number; lambda: number; bins: number }

export const DEFAULT_GBDT: Omit<GbdtSpec, 'dim'> = { kind: 'gbdt', trees: 300, depth: 5, learningRate: 0.08, minChildWeight: 5, lambda: 5, bins: 32 }

/** One tree, nodes in breadth-first order; a leaf has feature -1. */
export interface Tree { feature: Int16Array; threshold: Float64Array; left: Int32Array; right: Int32Array; value: Float64Array }

export interface GbdtModel { spec: GbdtSpec; base: number; trees: Tree[] }

const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)))

/** The logit of a row; `dense` is a scratch of `dim` zeros, left as zeros. */
export function gbdtLogit(m: GbdtModel, x: SparseRow, dense: Float64Array): number {
  for (let k = 0; k < x.n; k++) dense[x.idx[k]!] = x.val[k]!
  let z = m.base
  for (const t of m.trees) {
    let node = 0
    while (t.feature[node]! >= 0) node = dense[t.feature[node]!]! <= t.threshold[node]! ? t.left[node]! : t.right[node]!
    z += t.value[node]!
  }
  for (let k = 0; k < x.n; k++) dense[x.idx[k]!] = 0
  return z
}

export function gbdtPredict(m: GbdtModel, x: SparseRow, dense: Float64Array): number {
  return sigmoid(gbdtLogit(m, x, dense))
}

/** Rows as (feature, bin) entries of their nonzero values. */
interface Binned { n: number; start: Uint32Array; /** feature * bins + bin of each nonzero entry: its histogram slot */ code: Uint16Array; y: Uint8Array; w: Float64Array; /** n x dim bins, for partitioning and walking trees */ dense: Uint8Array; dim: number }

function binOf(edges: Float64Array, v: number): number {
  // first edge >= v (the last edge is +Infinity)
  let lo = 0, hi = edges.length - 1
  while (lo < hi) { const mid = (lo + hi) >> 1; if (edges[mid]! >= v) hi = mid; else lo = mid + 1 }
  return lo
}

/** Upper bin edges per feature, from weighted values of a sample of rows (zeros included as a value). */
function makeEdges(rows: Rows, sample: Int32Array, dim: number, bins: number): Float64Array[] {
  const values: Map<number, number>[] = Array.from({ length: dim }, () => new Map())
  const buf = scratchRow(dim + 2)
  let total = 0
  for (const i of sample) {
    const r = rows.row(i, buf)
    const w = rows.weight(i)
    total += w
    for (let k = 0; k < r.n; k++) { const m = values[r.idx[k]!]!; m.set(r.val[k]!, (m.get(r.val[k]!) ?? 0) + w) }
  }
  return values.map((m) => {
    let nonzero = 0
    for (const w of m.values()) nonzero += w
    if (total - nonzero > 0) m.set(0, (m.get(0) ?? 0) + total - nonzero)
    const sorted = [...m].sort((a, b) => a[0] - b[0])
    let edges: number[]
    if (sorted.length <= bins) edges = sorted.map(([v]) => v)
    else {
      edges = []
      let acc = 0
      const step = total / bins
      let next = step
      for (const [v, w] of sorted) {
        acc += w
        // a heavy value (zero, a one-hot 1) gets its own edge; otherwise cut every `step` of weight
        if (acc >= next || w >= step) { edges.push(v); while (next <= acc) next += step }
      }
    }
    if (edges.length === 0 || edges[edges.length - 1]! < sorted[sorted.length - 1]![0]) edges.push(Infinity)
    else edges[edges.length - 1] = Infinity
    return Float64Array.from(edges.slice(-(bins + 1)))
  })
}

function binRows(rows: Rows, pick: Int32Array, edges: Float64Array[], zeroBin: Uint8Array, wScale: number, B: number): Binned {
  const D = edges.length
  const dense = new Uint8Array(pick.length * D)
  for (let i = 0; i < pick.length; i++) dense.set(zeroBin, i * D)
  const start = new Uint32Array(pick.length + 1)
  const buf = scratchRow(edges.length + 2)
  let total = 0
  for (let i = 0; i < pick.length; i++) total += rows.row(pick[i]!, buf).n
  const code = new Uint16Array(total)
  const y = new Uint8Array(pick.length)
  const w = new Float64Array(pick.length)
  let p = 0
  for (let i = 0; i < pick.length; i++) {
    const r = rows.row(pick[i]!, buf)
    start[i] = p
    for (let k = 0; k < r.n; k++) { const f = r.idx[k]!; const b = binOf(edges[f]!, r.val[k]!); code[p++] = f * B + b; dense[i * D + f] = b }
    y[i] = rows.label(pick[i]!)
    w[i] = rows.weight(pick[i]!) * wScale
  }
  start[pick.length] = p
  return { n: pick.length, start, code, y, w, dense, dim: D }
}

/** The bin of feature f in binned row i. */
const rowBin = (b: Binned, i: number, f: number): number => b.dense[i * b.dim + f]!

export interface GbdtOptions { seed: number; /** at most this many fit rows are used (a uniform sample) */ maxRows?: number; patience?: number; onTree?: (tree: number, validLoss: number) => void }

/** Train on `fit`, stop early on `valid`. */
export function trainGbdt(spec: GbdtSpec, fit: Rows, valid: Rows, o: GbdtOptions): { model: GbdtModel; trees: number; validLoss: number; rowsUsed: number } {
  const D = spec.dim
  const rng = new Rng(o.seed)
  const maxRows = o.maxRows ?? 1_000_000
  const all = Int32Array.from({ length: fit.n }, (_, i) => i)
  let pick = all
  if (fit.n > maxRows) {
    for (let i = 0; i < maxRows; i++) { const j = i + Math.floor(rng.next() * (fit.n - i)); const t = all[i]!; all[i] = all[j]!; all[j] = t }
    pick = all.slice(0, maxRows).sort()
  }
  // every row up to 100,000; beyond, 50,000 of them place 32 quantile edges well (counting the distinct
  // values of more only costs memory)
  const sample = pick.length > 100_000 ? pick.filter((_, i) => i % Math.ceil(pick.length / 50_000) === 0) : pick
  const edges = makeEdges(fit, sample, D, spec.bins)
  const zeroBin = Uint8Array.from(edges, (e) => binOf(e, 0))
  let wsum = 0
  for (const i of pick) wsum += fit.weight(i)
  const wScale = pick.length / Math.max(1e-12, wsum)
  const B = spec.bins + 1
  if (D * B > 0xffff) throw new Error(`gbdt: ${D} features x ${B} bins do not fit the 16-bit histogram slots`)
  const tr = binRows(fit, pick, edges, zeroBin, wScale, B)
  // early stopping needs no more than a quarter million validation rows
  const vstep = Math.max(1, Math.ceil(valid.n / 250_000))
  const va = binRows(valid, Int32Array.from({ length: Math.ceil(valid.n / vstep) }, (_, i) => i * vstep), edges, zeroBin, wScale, B)

  let P = 0, W = 0
  for (let i = 0; i < tr.n; i++) { W += tr.w[i]!; if (tr.y[i]) P += tr.w[i]! }
  const prior = Math.min(1 - 1e-6, Math.max(1e-6, P / Math.max(1e-12, W)))
  const base = Math.log(prior / (1 - prior))
  const F = new Float64Array(tr.n).fill(base)
  const FV = new Float64Array(va.n).fill(base)
  const g = new Float64Array(tr.n)
  const h = new Float64Array(tr.n)
  const model: GbdtModel = { spec, base, trees: [] }
  const vloss = () => {
    let s = 0, ws = 0
    for (let i = 0; i < va.n; i++) { const q = Math.min(1 - 1e-12, Math.max(1e-12, sigmoid(FV[i]!))); s -= va.w[i]! * (va.y[i] ? Math.log(q) : Math.log(1 - q)); ws += va.w[i]! }
    return s / Math.max(1e-12, ws)
  }
  let best = vloss()
  let bestTrees = 0
  const patience = o.patience ?? 25
  const order = new Int32Array(tr.n)
  for (let t = 0; t < spec.trees; t++) {
    for (let i = 0; i < tr.n; i++) { const p = sigmoid(F[i]!); g[i] = tr.w[i]! * (p - tr.y[i]!); h[i] = tr.w[i]! * Math.max(1e-9, p * (1 - p)) }
    const tree = growTree(tr, g, h, order, edges, zeroBin, spec, B)
    model.trees.push(tree.tree)
    // update the fit rows by their leaf, the validation rows by walking the tree in bin space
    for (let i = 0; i < tr.n; i++) F[order[i]!] = F[order[i]!]! + tree.leafOfPos(i)
    for (let i = 0; i < va.n; i++) {
      let node = 0
      const tt = tree.tree
      while (tt.feature[node]! >= 0) node = rowBin(va, i, tt.feature[node]!) <= tree.splitBin[node]! ? tt.left[node]! : tt.right[node]!
      FV[i] = FV[i]! + tt.value[node]!
    }
    const vl = vloss()
    o.onTree?.(t + 1, vl)
    if (vl < best - 1e-7) { best = vl; bestTrees = t + 1 } else if (t + 1 - bestTrees >= patience) break
  }
  model.trees.length = bestTrees
  return { model, trees: bestTrees, validLoss: best, rowsUsed: tr.n }
}

interface Grown { tree: Tree; splitBin: Int32Array; leafOfPos: (pos: number) => number }

function growTree(tr: Binned, g: Float64Array, h: Float64Array, order: Int32Array, edges: Float64Array[], zeroBin: Uint8Array, spec: GbdtSpec, B: number): Grown {
  const D = spec.dim
  for (let i = 0; i < tr.n; i++) order[i] = i
  const maxNodes = 2 ** (spec.depth + 1) - 1
  const feature = new Int16Array(maxNodes).fill(-1)
  const threshold = new Float64Array(maxNodes)
  const left = new Int32Array(maxNodes).fill(-1)
  const right = new Int32Array(maxNodes).fill(-1)
  const value = new Float64Array(maxNodes)
  const splitBin = new Int32Array(maxNodes).fill(-1)
  // each node: its rows are order[lo, hi)
  const lo = new Int32Array(maxNodes), hi = new Int32Array(maxNodes)
  const G = new Float64Array(maxNodes), H = new Float64Array(maxNodes)
  const hists = new Map<number, Float64Array>()
  let count = 1
  lo[0] = 0; hi[0] = tr.n
  for (let i = 0; i < tr.n; i++) { G[0] = G[0]! + g[i]!; H[0] = H[0]! + h[i]! }
  const build = (node: number): Float64Array => {
    const hist = new Float64Array(D * B * 2)
    for (let k = lo[node]!; k < hi[node]!; k++) {
      const i = order[k]!
      const gi = g[i]!, hi_ = h[i]!
      const code = tr.code
      for (let p = tr.start[i]!, e = tr.start[i + 1]!; p < e; p++) { const c = code[p]! * 2; hist[c] = hist[c]! + gi; hist[c + 1] = hist[c + 1]! + hi_ }
    }
    // rows without an entry for f sit in its zero bin
    for (let f = 0; f < D; f++) {
      let sg = 0, sh = 0
      for (let b = 0; b < B; b++) { sg += hist[(f * B + b) * 2]!; sh += hist[(f * B + b) * 2 + 1]! }
      const c = (f * B + zeroBin[f]!) * 2
      hist[c] = hist[c]! + G[node]! - sg
      hist[c + 1] = hist[c + 1]! + H[node]! - sh
    }
    return hist
  }
  hists.set(0, build(0))
  const lam = spec.lambda
  const score = (gs: number, hs: number) => (gs * gs) / (hs + lam)
  const leaf = (node: number) => { value[node] = (-G[node]! / (H[node]! + lam)) * spec.learningRate }
  let levelStart = 0, levelEnd = 1
  for (let depth = 0; depth <= spec.depth; depth++) {
    const next: number[] = []
    for (let node = levelStart; node < levelEnd; node++) {
      if (lo[node]! >= hi[node]! && node !== 0) { leaf(node); continue }
      const hist = hists.get(node)!
      hists.delete(node)
      let bestGain = 1e-9, bestF = -1, bestB = -1, bGL = 0, bHL = 0
      if (depth < spec.depth) {
        const parent = score(G[node]!, H[node]!)
        for (let f = 0; f < D; f++) {
          const nb = edges[f]!.length
          let gl = 0, hl = 0
          for (let b = 0; b < nb - 1; b++) {
            gl += hist[(f * B + b) * 2]!; hl += hist[(f * B + b) * 2 + 1]!
            const hr = H[node]! - hl
            if (hl < spec.minChildWeight || hr < spec.minChildWeight) continue
            const gain = score(gl, hl) + score(G[node]! - gl, hr) - parent
            if (gain > bestGain) { bestGain = gain; bestF = f; bestB = b; bGL = gl; bHL = hl }
          }
        }
      }
      if (bestF < 0) { leaf(node); continue }
      // split: partition order[lo, hi) into bin <= bestB | the rest
      let a = lo[node]!, z = hi[node]! - 1
      while (a <= z) {
        if (rowBin(tr, order[a]!, bestF) <= bestB) a++
        else { const t = order[a]!; order[a] = order[z]!; order[z] = t; z-- }
      }
      const l = count++, r = count++
      feature[node] = bestF; threshold[node] = Math.fround(edges[bestF]![bestB]!); splitBin[node] = bestB
      left[node] = l; right[node] = r
      lo[l] = lo[node]!; hi[l] = a; lo[r] = a; hi[r] = hi[node]!
      G[l] = bGL; H[l] = bHL; G[r] = G[node]! - bGL; H[r] = H[node]! - bHL
      if (depth + 1 < spec.depth) {
        // build the smaller child, subtract for the larger
        const small = hi[l]! - lo[l]! <= hi[r]! - lo[r]! ? l : r
        const large = small === l ? r : l
        const hs = build(small)
        for (let k = 0; k < hist.length; k++) hist[k] = hist[k]! - hs[k]!
        hists.set(small, hs)
        hists.set(large, hist)
      }
      next.push(l, r)
    }
    if (next.length === 0) break
    levelStart = next[0]!
    levelEnd = next[next.length - 1]! + 1
  }
  // compact to the nodes used (breadth-first ids are already dense: 0..count-1)
  const tree: Tree = { feature: feature.slice(0, count), threshold: threshold.slice(0, count), left: left.slice(0, count), right: right.slice(0, count), value: value.slice(0, count) }
  // leaf value of the row at position k of `order`
  const leafAt = new Float64Array(tr.n)
  for (let node = 0; node < count; node++) if (feature[node]! < 0) for (let k = lo[node]!; k < hi[node]!; k++) leafAt[k] = value[node]!
  return { tree, splitBin: splitBin.slice(0, count), leafOfPos: (k) => leafAt[k]! }
}
