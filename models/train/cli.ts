/**
 * npm run train -- --data <jsonl> [--data <jsonl> ...] [--eval <jsonl>] --out <file.onnx>
 *                   [--model auto|lr|mlp|fm] [--name <model name>] [--seed 1] [--quiet]
 *
 * Trains a ranking model on interactions, splitting by member (20% of members held out unless --eval is
 * given), picks the architecture by validation AUC (auto), writes ONNX, checks that onnxruntime-node
 * reproduces the trainer's scores (max abs diff <= 1e-5), writes the model card (<out>.md) and updates the
 * manifest next to the model, and prints the metrics as JSON beside the baselines measured on the same split.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import * as ort from 'onnxruntime-node'
import { FEATURE_DIM, FEATURE_NAMES, FEATURE_VERSION } from '../../edge/recommend/features.js'
import { version } from '../../edge/version.js'
import { readInteractions, type Interaction } from '../interactions.js'
import { evaluateScores, type Metrics } from './metrics.js'
import { predict, train, Work, type Kind, type ModelSpec, type Params } from './nn.js'
import { toOnnx } from './onnx.js'
import { matrix, offerRates, splitByMember, withPopularity } from './pipeline.js'
import { writeCard } from './card.js'

export interface Args { data: string[]; eval?: string; out: string; model: 'auto' | Kind; name: string; seed: number; quiet: boolean; /** how the card names the data (default: the file paths) */ dataLabels?: string[] }

function parse(argv: string[]): Args {
  const data: string[] = []
  const a: Partial<Args> = { model: 'auto', seed: 1, quiet: false }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const v = argv[i + 1]
    if (k === '--data' && v) { data.push(v); i++ } else if (k === '--eval' && v) { a.eval = v; i++ } else if (k === '--out' && v) { a.out = v; i++ } else if (k === '--model' && v) { a.model = v as Args['model']; i++ } else if (k === '--name' && v) { a.name = v; i++ } else if (k === '--seed' && v) { a.seed = Number(v); i++ } else if (k === '--quiet') a.quiet = true
    else throw new Error(`unknown argument ${k}`)
  }
  if (data.length === 0 || !a.out) throw new Error('usage: npm run train -- --data <jsonl> [--eval <jsonl>] --out <file.onnx> [--model auto|lr|mlp|fm]')
  return { data, out: a.out, model: a.model!, name: a.name ?? basename(a.out).replace(/\.onnx$/, ''), seed: a.seed!, quiet: a.quiet!, ...(a.eval ? { eval: a.eval } : {}) }
}

const CANDIDATES: ModelSpec[] = [
  { kind: 'lr', dim: FEATURE_DIM },
  { kind: 'mlp', dim: FEATURE_DIM, hidden: 32 },
  { kind: 'mlp', dim: FEATURE_DIM, hidden: 64 },
  { kind: 'fm', dim: FEATURE_DIM, factors: 8 },
]
const specName = (s: ModelSpec) => (s.kind === 'mlp' ? `mlp-${s.hidden}` : s.kind === 'fm' ? `fm-${s.factors}` : 'lr')

export async function runTraining(args: Args): Promise<Record<string, unknown>> {
  const log = (msg: string) => { if (!args.quiet) console.error(msg) }
  const all: Interaction[] = []
  for (const f of args.data) all.push(...await readInteractions(f))
  let trainRows: Interaction[]
  let testRows: Interaction[]
  let split: string
  if (args.eval) {
    trainRows = all
    testRows = await readInteractions(args.eval)
    const trainMembers = new Set(trainRows.map((r) => r.memberId))
    const shared = new Set(testRows.filter((r) => trainMembers.has(r.memberId)).map((r) => r.memberId)).size
    split = `train: ${args.data.join(', ')}; test: ${args.eval}${shared ? ` (${shared} members in both!)` : ' (no member in both)'}`
  } else {
    ({ train: trainRows, test: testRows } = splitByMember(all, 0.2))
    split = 'by member: 20% of members (by a hash of the id) held out, no member in both'
  }
  const { train: fitRows, test: validRows } = splitByMember(trainRows, 0.15, 'valid')
  log(`rows: fit ${fitRows.length}, validation ${validRows.length}, test ${testRows.length}`)

  // popularity: out-of-fold for the fit rows, from fit rows for validation, from all training rows for test
  const pv = withPopularity(fitRows, [validRows])
  const pt = withPopularity(trainRows, [testRows])
  const fit = matrix(pv.own, { dropPopularity: 0.2, seed: args.seed })
  const valid = matrix(pv.others[0]!)
  const test = matrix(pt.others[0]!)

  const specs = args.model === 'auto' ? CANDIDATES : CANDIDATES.filter((s) => s.kind === args.model)
  const results: { name: string; spec: ModelSpec; params: Params; valid: Metrics; test: Metrics; epochs: number; ms: number }[] = []
  for (const spec of specs) {
    const t0 = performance.now()
    const r = train(spec, fit.rows, fit.y, valid.rows, valid.y, { epochs: 40, batch: 256, lr: spec.kind === 'lr' ? 0.01 : 0.003, l2: 1e-5, seed: args.seed, patience: 4 })
    const wk = new Work(spec)
    const score = (m: typeof valid) => Float64Array.from(m.rows, (row) => predict(r.params, row, wk))
    const res = { name: specName(spec), spec, params: r.params, valid: evaluateScores(score(valid), valid.y), test: evaluateScores(score(test), test.y), epochs: r.epochs, ms: performance.now() - t0 }
    results.push(res)
    log(`${res.name}: validation AUC ${res.valid.auc.toFixed(4)}, test AUC ${res.test.auc.toFixed(4)} (${r.epochs} epochs, ${(res.ms / 1000).toFixed(1)} s)`)
  }
  // baselines on the same test rows: offer popularity alone, and logistic regression on the same features
  const { rates, prior } = offerRates(trainRows)
  const popularity = evaluateScores(Float64Array.from(testRows, (r) => r.offer.popularity ?? rates.get(r.offerId) ?? prior), test.y)
  const logistic = results.find((r) => r.name === 'lr')?.test ?? null
  // the model is chosen on validation AUC only; the test set is not looked at
  const chosen = [...results].sort((a, b) => b.valid.auc - a.valid.auc)[0]!

  const meta = { featureVersion: FEATURE_VERSION, featureDim: String(FEATURE_DIM), model: chosen.name, name: args.name, trainedAt: new Date().toISOString(), version: version() }
  const bytes = toOnnx(chosen.params, meta)
  const out = resolve(args.out)
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, bytes)
  const sha256 = createHash('sha256').update(bytes).digest('hex')

  // onnxruntime must reproduce the trainer's scores
  const session = await ort.InferenceSession.create(Buffer.from(bytes), { intraOpNumThreads: 1, interOpNumThreads: 1 })
  const wk = new Work(chosen.spec)
  let maxDiff = 0
  const batch = 4096
  for (let s = 0; s < test.n; s += batch) {
    const n = Math.min(batch, test.n - s)
    const res = await session.run({ features: new ort.Tensor('float32', test.dense.slice(s * FEATURE_DIM, (s + n) * FEATURE_DIM), [n, FEATURE_DIM]) })
    const got = res['score']!.data as Float32Array
    for (let i = 0; i < n; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - predict(chosen.params, test.rows[s + i]!, wk)))
  }
  await session.release()
  if (maxDiff > 1e-5) throw new Error(`onnxruntime differs from the trainer by ${maxDiff} (> 1e-5): the export is wrong`)

  const report = {
    name: args.name, file: out, sha256, featureVersion: FEATURE_VERSION, featureDim: FEATURE_DIM,
    model: { architecture: chosen.name, epochs: chosen.epochs, ...chosen.test },
    baselines: { popularity, logistic },
    candidates: results.map((r) => ({ architecture: r.name, validationAuc: r.valid.auc, testAuc: r.test.auc, testLogLoss: r.test.logLoss, precisionTop5: r.test.precisionTop5, epochs: r.epochs, trainSeconds: Math.round(r.ms / 100) / 10 })),
    beatsLogistic: logistic === null ? null : chosen.test.auc > logistic.auc,
    beatsPopularity: chosen.test.auc > popularity.auc,
    onnxMaxAbsDiff: maxDiff,
    split, data: args.dataLabels ?? args.data, eval: args.eval ?? null,
    rows: { fit: fit.n, validation: valid.n, test: test.n, positivesTest: test.y.reduce((a, b) => a + b, 0) },
  }
  writeCard(out.replace(/\.onnx$/, '.md'), report, FEATURE_NAMES)
  updateManifest(dirname(out), { name: args.name, file: basename(out), sha256, featureVersion: FEATURE_VERSION, architecture: chosen.name, trainedAt: meta.trainedAt, auc: chosen.test.auc })
  return report
}

export function updateManifest(dir: string, entry: { name: string; file: string; sha256: string; featureVersion: string; architecture: string; trainedAt: string; auc: number }): void {
  const file = join(dir, 'manifest.json')
  const m = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as { default?: string; models: (typeof entry)[] } : { models: [] }
  m.models = [...m.models.filter((x) => x.name !== entry.name), entry].sort((a, b) => a.name.localeCompare(b.name))
  m.default ??= entry.name
  writeFileSync(file, `${JSON.stringify(m, null, 2)}\n`)
}

if (process.argv[1] && resolve(process.argv[1]).endsWith(join('train', 'cli.ts'))) {
  runTraining(parse(process.argv.slice(2))).then((r) => console.log(JSON.stringify(r, null, 2)), (err) => { console.error(`train failed: ${(err as Error).message}`); process.exitCode = 1 })
}
