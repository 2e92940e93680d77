/** The hand-written trainer: gradients against finite differences, convergence, metrics, ONNX export. */
import t from 'tap'
import * as ort from 'onnxruntime-node'
import { accumulate, arrayRows, init, logit, predict, sparse, train, Work, zerosLike, type Kind, type Params } from '../../models/train/nn.js'
import { evaluateScores, precisionAt, rocAuc } from '../../models/train/metrics.js'
import { gbdtToOnnx, toOnnx, onnxMetadata } from '../../models/train/onnx.js'
import { DEFAULT_GBDT, gbdtPredict, trainGbdt, type GbdtModel } from '../../models/train/gbdt.js'
import { Rng } from '../../devices/simulator/rng.js'

const D = 7
const rng = new Rng(9)
const rows = Array.from({ length: 5 }, () => sparse(Float64Array.from({ length: D }, () => (rng.chance(0.4) ? 0 : rng.gauss()))))
const loss = (p: Params, x: ReturnType<typeof sparse>, y: number, wk: Work) => {
  const q = predict(p, x, wk)
  return -(y * Math.log(q) + (1 - y) * Math.log(1 - q))
}

for (const kind of ['lr', 'mlp', 'fm'] as Kind[]) {
  t.test(`${kind}: gradients match finite differences`, async (t) => {
    const p = init({ kind, dim: D, hidden: 5, factors: 3 }, 3)
    for (const arr of [p.w, p.b, p.W1, p.b1, p.V]) for (let i = 0; i < arr.length; i++) arr[i] = arr[i]! + rng.gauss() * 0.3
    const wk = new Work(p.spec)
    let worst = 0
    rows.forEach((x, r) => {
      const y = r % 2
      const g = zerosLike(p)
      const z = logit(p, x, wk)
      accumulate(p, x, wk, 1 / (1 + Math.exp(-z)) - y, g, 1)
      for (const key of ['w', 'b', 'W1', 'b1', 'V'] as const) {
        const arr = p[key]
        for (let i = 0; i < arr.length; i++) {
          const keep = arr[i]!
          arr[i] = keep + 1e-6
          const up = loss(p, x, y, wk)
          arr[i] = keep - 1e-6
          const down = loss(p, x, y, wk)
          arr[i] = keep
          worst = Math.max(worst, Math.abs((up - down) / 2e-6 - g[key][i]!))
        }
      }
    })
    t.ok(worst < 1e-5, `max gradient error ${worst.toExponential(2)}`)
  })
}

t.test('training recovers a known rule', async (t) => {
  // y depends on an interaction of features 0 and 1 (xor-like) and on feature 2
  const make = (n: number, seed: number) => {
    const r = new Rng(seed)
    const xs: ReturnType<typeof sparse>[] = []
    const ys: number[] = []
    for (let i = 0; i < n; i++) {
      const a = r.chance(0.5) ? 1 : 0, b = r.chance(0.5) ? 1 : 0, c = r.next()
      const p = 1 / (1 + Math.exp(-(3 * (a ^ b) + 2 * c - 2.5)))
      xs.push(sparse(Float64Array.from([a, b, c, r.next() * 0.1, 0, 0, 0])))
      ys.push(r.chance(p) ? 1 : 0)
    }
    return { xs, ys }
  }
  const tr = make(6000, 1), va = make(1500, 2), te = make(3000, 3)
  const aucOf = (kind: Kind) => {
    const r = train({ kind, dim: D, hidden: 8, factors: 4 }, arrayRows(tr.xs, tr.ys), arrayRows(va.xs, va.ys), { epochs: 40, batch: 64, lr: 0.01, l2: 1e-5, seed: 1, patience: 5 })
    const wk = new Work(r.params.spec)
    return rocAuc(te.xs.map((x) => predict(r.params, x, wk)), te.ys)
  }
  const lr = aucOf('lr'), mlp = aucOf('mlp'), fm = aucOf('fm')
  t.ok(mlp > lr + 0.05, `an MLP learns the interaction a linear model cannot (mlp ${mlp.toFixed(3)}, lr ${lr.toFixed(3)})`)
  t.ok(fm > lr + 0.03, `so does a factorisation machine (fm ${fm.toFixed(3)})`)
  const g = trainGbdt({ ...DEFAULT_GBDT, dim: D }, arrayRows(tr.xs, tr.ys), arrayRows(va.xs, va.ys), { seed: 1 })
  const dense = new Float64Array(D)
  const gb = rocAuc(te.xs.map((x) => gbdtPredict(g.model, x, dense)), te.ys)
  t.ok(gb > lr + 0.05, `and boosted trees (gbdt ${gb.toFixed(3)}, ${g.trees} trees)`)
  t.ok(g.trees > 5 && g.trees < DEFAULT_GBDT.trees, 'early stopping keeps the trees that help')
})

t.test('metrics', async (t) => {
  t.equal(rocAuc([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1]), 1)
  t.equal(rocAuc([0.4, 0.3, 0.2, 0.1], [0, 0, 1, 1]), 0)
  t.equal(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]), 0.5, 'ties count half')
  t.equal(precisionAt([0.9, 0.8, 0.1, 0.2], [1, 0, 0, 0], 0.5), 0.5)
  const m = evaluateScores([0.9, 0.1, 0.2, 0.8, 0.3, 0.1, 0.05, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
  t.equal(m.precisionTop5, 1)
  t.equal(m.liftTop5, 10)
})

for (const kind of ['lr', 'mlp', 'fm'] as Kind[]) {
  t.test(`${kind}: onnxruntime reproduces the trainer`, async (t) => {
    const p = init({ kind, dim: D, hidden: 6, factors: 3 }, 4)
    for (const arr of [p.w, p.b, p.W1, p.b1, p.V]) for (let i = 0; i < arr.length; i++) arr[i] = arr[i]! + rng.gauss() * 0.5
    const bytes = toOnnx(p, { featureVersion: 'test', model: kind })
    t.same(onnxMetadata(bytes), { featureVersion: 'test', model: kind })
    const s = await ort.InferenceSession.create(Buffer.from(bytes))
    const n = 50
    const dense = Float32Array.from({ length: n * D }, () => (rng.chance(0.3) ? 0 : Math.fround(rng.gauss())))
    const out = (await s.run({ features: new ort.Tensor('float32', dense, [n, D]) }))['score']!.data as Float32Array
    const wk = new Work(p.spec)
    let diff = 0
    for (let i = 0; i < n; i++) diff = Math.max(diff, Math.abs(out[i]! - predict(p, sparse(dense.subarray(i * D, (i + 1) * D)), wk)))
    t.ok(diff <= 1e-5, `max abs diff ${diff.toExponential(2)}`)
    await s.release()
  })
}

t.test('gbdt: onnxruntime reproduces the trainer (TreeEnsembleRegressor), weights count, an empty ensemble is the base rate', async (t) => {
  const r = new Rng(12)
  const xs: ReturnType<typeof sparse>[] = []
  const ys: number[] = []
  for (let i = 0; i < 3000; i++) {
    const v = Float32Array.from({ length: D }, (_, k) => (k < 2 ? (r.chance(0.5) ? 1 : 0) : r.chance(0.3) ? 0 : Math.fround(r.gauss())))
    xs.push(sparse(v))
    ys.push(r.chance(1 / (1 + Math.exp(-(2 * v[0]! * v[2]! - v[1]! + 0.5 * v[3]!)))) ? 1 : 0)
  }
  const fit = arrayRows(xs.slice(0, 2000), ys.slice(0, 2000)), valid = arrayRows(xs.slice(2000), ys.slice(2000))
  const g = trainGbdt({ ...DEFAULT_GBDT, dim: D, depth: 4 }, fit, valid, { seed: 2 })
  const empty: GbdtModel = { spec: g.model.spec, base: -1.2, trees: [] }
  for (const m of [g.model, empty]) {
    const s = await ort.InferenceSession.create(Buffer.from(gbdtToOnnx(m, { featureVersion: 'test' })))
    const dense = new Float32Array(1000 * D)
    xs.slice(2000).forEach((x, i) => { for (let k = 0; k < x.n; k++) dense[i * D + x.idx[k]!] = x.val[k]! })
    const out = (await s.run({ features: new ort.Tensor('float32', dense, [1000, D]) }))['score']!.data as Float32Array
    const scratch = new Float64Array(D)
    let diff = 0
    for (let i = 0; i < 1000; i++) diff = Math.max(diff, Math.abs(out[i]! - gbdtPredict(m, xs[2000 + i]!, scratch)))
    t.ok(diff <= 1e-5, `${m.trees.length} trees: max abs diff ${diff.toExponential(2)}`)
    await s.release()
  }
  // weight 3 on every negative: the base rate (and so the prior logit) follows the weighted share
  const w = ys.slice(0, 2000).map((y) => (y ? 1 : 3))
  const gw = trainGbdt({ ...DEFAULT_GBDT, dim: D, trees: 1 }, arrayRows(xs.slice(0, 2000), ys.slice(0, 2000), w), valid, { seed: 2, patience: 1 })
  const pos = ys.slice(0, 2000).filter(Boolean).length
  const rate = pos / (pos + 3 * (2000 - pos))
  t.ok(Math.abs(gw.model.base - Math.log(rate / (1 - rate))) < 1e-6, 'the base logit is the weighted rate')
})
