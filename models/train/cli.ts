/**
 * npm run train -- --data <jsonl> [--data <jsonl> ...] [--eval <jsonl>] --out <file.onnx>
 *                   [--model auto|lr|mlp|fm|gbdt|<name>] [--name <model name>] [--seed 1] [--strict]
 *                   [--max-invalid 0.01] [--bootstrap 500] [--gbdt-rows 1000000] [--quiet]
 *
 * Streams interactions into columnar buffers, reports refused rows and values outside the vocabulary
 * before it trains (--strict: any of them is an error), splits by member (20% of members held out unless
 * --eval is given), trains every candidate and keeps the best by validation AUC (auto), writes ONNX,
 * checks that onnxruntime-node reproduces the trainer's scores (max abs diff <= 1e-5), writes the model card
 * (<out>.md), and prints the metrics as JSON beside the baselines measured on the same split, with member
 * bootstrap intervals against logistic regression. It writes only <out> and its card: putting a model into a
 * manifest is `npm run model:publish`.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import * as ort from 'onnxruntime-node'
import { FEATURE_DIM, FEATURE_NAMES, FEATURE_VERSION } from '../../edge/recommend/features.js'
import { version } from '../../edge/version.js'
import { ReadReport } from '../interactions.js'
import { writeCard } from './card.js'
import { encodePopularity, offerRates, readDataset, splitDataset, View, type Dataset } from './dataset.js'
import { DEFAULT_GBDT, gbdtPredict, trainGbdt, type GbdtSpec } from './gbdt.js'
import { evaluateScores, memberBootstrap, type BootstrapResult, type Metrics } from './metrics.js'
import { predict, scratchRow, train, Work, type ModelSpec, type SparseRow } from './nn.js'
import { gbdtToOnnx, toOnnx } from './onnx.js'

export interface Args {
  data: string[]; eval?: string; out: string; model: string; name: string; seed: number; quiet: boolean
  /** refuse any invalid row, value outside the vocabulary or unknown field */
  strict?: boolean
  /** refuse the data when more than this share of rows is invalid (default 0.01) */
  maxInvalid?: number
  /** member bootstrap resamples for the intervals (default 500; 0: none) */
  bootstrap?: number
  /** fit rows the boosted trees use at most (a uniform sample; default 1,000,000) */
  gbdtRows?: number
  /** how the card names the data (default: the file paths) */
  dataLabels?: string[]
  /** progress lines (default: stderr unless quiet) */
  log?: (msg: string) => void
}

const USAGE = 'usage: npm run train -- --data <jsonl> [--data <jsonl> ...] [--eval <jsonl>] --out <file.onnx> [--model auto|lr|mlp|fm|gbdt|<name>] [--name <name>] [--seed 1] [--strict] [--max-invalid 0.01] [--bootstrap 500] [--gbdt-rows 1000000] [--quiet]'

export function parseArgs(argv: string[]): Args {
  const data: string[] = []
  const a: Partial<Args> = { model: 'auto', seed: 1, quiet: false }
  const num = (k: string, v: string | undefined) => { const x = Number(v); if (v === undefined || !Number.isFinite(x)) throw new Error(`${k} needs a number`); return x }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!
    const v = argv[i + 1]
    if (k === '--strict') a.strict = true
    else if (k === '--quiet') a.quiet = true
    else if (v === undefined) throw new Error(`${k}: missing value\n${USAGE}`)
    else if (k === '--data') { data.push(v); i++ } else if (k === '--eval') { a.eval = v; i++ } else if (k === '--out') { a.out = v; i++ } else if (k === '--model') { a.model = v; i++ } else if (k === '--name') { a.name = v; i++ } else if (k === '--seed') { a.seed = num(k, v); i++ } else if (k === '--max-invalid') { a.maxInvalid = num(k, v); i++ } else if (k === '--bootstrap') { a.bootstrap = num(k, v); i++ } else if (k === '--gbdt-rows') { a.gbdtRows = num(k, v); i++ } else throw new Error(`unknown argument ${k}\n${USAGE}`)
  }
  if (data.length === 0 || !a.out) throw new Error(USAGE)
  if (!a.out.endsWith('.onnx')) throw new Error(`--out ${a.out}: the model file must end in .onnx`)
  return { ...a, data, out: a.out, model: a.model!, name: a.name ?? basename(a.out).replace(/\.onnx$/, ''), seed: a.seed!, quiet: a.quiet! } as Args
}

export type CandidateSpec = ModelSpec | GbdtSpec

export const CANDIDATES: CandidateSpec[] = [
  { kind: 'lr', dim: FEATURE_DIM },
  { kind: 'mlp', dim: FEATURE_DIM, hidden: 32 },
  { kind: 'mlp', dim: FEATURE_DIM, hidden: 64 },
  { kind: 'fm', dim: FEATURE_DIM, factors: 8 },
  { ...DEFAULT_GBDT, dim: FEATURE_DIM },
]
export const specName = (s: CandidateSpec): string => (s.kind === 'mlp' ? `mlp-${s.hidden}` : s.kind === 'fm' ? `fm-${s.factors}` : s.kind === 'gbdt' ? `gbdt-${s.depth}` : 'lr')

/** A trained candidate: how it scores a row and how it is written as ONNX. */
export interface Trained {
  name: string
  spec: CandidateSpec
  /** epochs (networks) or trees (boosting) kept */
  epochs: number
  predict: (row: SparseRow) => number
  onnx: (meta: Record<string, string>) => Uint8Array
  seconds: number
}

export function trainCandidate(spec: CandidateSpec, fit: View, valid: View, o: { seed: number; gbdtRows?: number | undefined; log?: ((m: string) => void) | undefined }): Trained {
  const t0 = performance.now()
  const name = specName(spec)
  if (spec.kind === 'gbdt') {
    const r = trainGbdt(spec, fit, valid, { seed: o.seed, ...(o.gbdtRows ? { maxRows: o.gbdtRows } : {}), onTree: (t, vl) => { if (t % 25 === 0) o.log?.(`  ${name}: ${t} trees, validation loss ${vl.toFixed(5)}`) } })
    const dense = new Float64Array(spec.dim)
    return { name, spec, epochs: r.trees, predict: (row) => gbdtPredict(r.model, row, dense), onnx: (meta) => gbdtToOnnx(r.model, meta), seconds: (performance.now() - t0) / 1000 }
  }
  // bigger data needs fewer passes: stop sooner when validation stalls
  const patience = fit.n > 1_000_000 ? 2 : 4
  const r = train(spec, fit, valid, { epochs: spec.kind === 'lr' ? 150 : 40, batch: 256, lr: spec.kind === 'lr' ? 0.01 : 0.003, l2: 1e-5, seed: o.seed, patience, onEpoch: (e, tl, vl) => o.log?.(`  ${name}: epoch ${e}, training loss ${tl.toFixed(5)}, validation loss ${vl.toFixed(5)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`) })
  const wk = new Work(spec)
  return { name, spec, epochs: r.epochs, predict: (row) => predict(r.params, row, wk), onnx: (meta) => toOnnx(r.params, meta), seconds: (performance.now() - t0) / 1000 }
}

export function scoreView(m: Trained, v: View): Float64Array {
  const buf = scratchRow(v.ds.dim + 2)
  const out = new Float64Array(v.n)
  for (let i = 0; i < v.n; i++) out[i] = m.predict(v.row(i, buf))
  return out
}

/** Max abs difference between onnxruntime and the trainer over the rows of `v`. */
export async function onnxParity(bytes: Uint8Array, m: Trained, v: View, maxRows = 200_000): Promise<number> {
  const session = await ort.InferenceSession.create(Buffer.from(bytes), { intraOpNumThreads: 1, interOpNumThreads: 1 })
  const buf = scratchRow(v.ds.dim + 2)
  let maxDiff = 0
  const batch = 4096
  const D = v.ds.dim
  const n = Math.min(v.n, maxRows)
  try {
    for (let s = 0; s < n; s += batch) {
      const k = Math.min(batch, n - s)
      const res = await session.run({ features: new ort.Tensor('float32', v.dense(s, k), [k, D]) })
      const got = res['score']!.data as Float32Array
      for (let i = 0; i < k; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - m.predict(v.row(s + i, buf))))
    }
  } finally {
    await session.release()
  }
  return maxDiff
}

export interface CandidateReport { architecture: string; validationAuc: number; testAuc: number; testAucLow: number | null; testAucHigh: number | null; diffVsLogistic: number; diffLow: number | null; diffHigh: number | null; testLogLoss: number; precisionTop5: number; epochs: number; trainSeconds: number }

export interface TrainingReport {
  name: string; file: string; card: string; sha256: string; featureVersion: string; featureDim: number
  model: { architecture: string; epochs: number } & Metrics
  baselines: { popularity: Metrics; logistic: Metrics }
  candidates: CandidateReport[]
  beatsLogistic: { auc: number; low: number | null; high: number | null; significant: boolean } | null
  /** why this candidate (validation members only) */
  choice: string
  beatsPopularity: boolean
  onnxMaxAbsDiff: number
  split: string; data: string[]; eval: string | null
  rows: { fit: number; validation: number; test: number; positivesTest: number; weighted: boolean }
  input: Record<string, unknown>
  seconds: { read: number; total: number }
  peakRssMiB: number
  bootstrap: { resamples: number; members: number } | null
  trainedAt: string
}

/** Refuse data that --strict or --max-invalid does not accept; say what was found either way. */
export function checkInput(report: ReadReport, o: { strict?: boolean | undefined; maxInvalid?: number | undefined }, log: (m: string) => void): void {
  for (const line of report.describe()) log(line)
  if (report.rows === 0) throw new Error(`no usable rows (${report.invalid} refused${report.first[0] ? `; first: ${report.first[0]}` : ''})`)
  if (o.strict && !report.clean) throw new Error(`--strict: ${report.invalid} invalid rows, ${[...report.outOfVocabulary.values()].reduce((a, f) => a + f.rows, 0)} values outside the vocabulary, ${report.unknownFields.size} unknown fields (listed above)`)
  const share = report.invalid / Math.max(1, report.rows + report.invalid)
  const max = o.maxInvalid ?? 0.01
  if (share > max) throw new Error(`${report.invalid} of ${report.rows + report.invalid} rows are invalid (${(100 * share).toFixed(2)}% > ${(100 * max).toFixed(2)}%, --max-invalid); first: ${report.first[0]}`)
}

export async function runTraining(args: Args): Promise<TrainingReport> {
  const log = args.log ?? ((msg: string) => { if (!args.quiet) console.error(msg) })
  const t0 = performance.now()
  const { ds, report: input } = await readDataset(args.data, { eval: args.eval, onProgress: log })
  const readSeconds = (performance.now() - t0) / 1000
  log(`read ${ds.n.toLocaleString('en')} rows in ${readSeconds.toFixed(1)} s (${ds.memberIds.length.toLocaleString('en')} members, ${ds.offerIds.length.toLocaleString('en')} offers, ${Math.round(ds.bytes() / 2 ** 20)} MiB of buffers; peak rss so far ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB)`)
  checkInput(input, args, log)
  return trainOn(ds, input, args, t0, readSeconds)
}

/** Everything after reading: split, popularity, candidates, choice, export, card. */
export async function trainOn(ds: Dataset, input: ReadReport, args: Args, t0 = performance.now(), readSeconds = 0): Promise<TrainingReport> {
  const log = args.log ?? ((msg: string) => { if (!args.quiet) console.error(msg) })
  const split = splitDataset(ds)
  if (split.test.length === 0) throw new Error('no test rows: too few members for a 20% member split (or an empty --eval file)')
  if (split.valid.length === 0 || split.fit.length === 0) throw new Error('too few members to hold out a validation share')
  let splitText: string
  if (args.eval) {
    const trainMembers = new Set<number>()
    for (const r of split.train) trainMembers.add(ds.member[r]!)
    const shared = new Set<number>()
    for (const r of split.test) if (trainMembers.has(ds.member[r]!)) shared.add(ds.member[r]!)
    splitText = `train: ${args.data.join(', ')}; test: ${args.eval}${shared.size ? ` (${shared.size} members in both!)` : ' (no member in both)'}`
  } else splitText = 'by member: 20% of members (by a hash of the id) held out, no member in both'
  log(`rows: fit ${split.fit.length}, validation ${split.valid.length}, test ${split.test.length}`)

  // popularity: out-of-fold for the fit rows, from fit rows for validation, from all training rows for test
  const pv = encodePopularity(ds, split.fit, [split.valid], { drop: 0.2, seed: args.seed })
  const pt = encodePopularity(ds, split.train, [split.test])
  const fit = new View(ds, split.fit, pv.own)
  const valid = new View(ds, split.valid, pv.others[0]!)
  const test = new View(ds, split.test, pt.others[0]!)
  const yTest = test.labels()
  const wTest = test.weights()
  const weighted = wTest.some((w) => w !== 1) || fit.n > 0 && Array.from({ length: Math.min(fit.n, 100_000) }, (_, i) => fit.weight(i)).some((w) => w !== 1)

  const wanted = (s: CandidateSpec) => args.model === 'auto' || s.kind === args.model || specName(s) === args.model
  const specs = CANDIDATES.filter((s) => wanted(s) || s.kind === 'lr')
  if (!specs.some(wanted)) throw new Error(`--model ${args.model}: none of ${CANDIDATES.map(specName).join(', ')}`)
  const results: { m: Trained; valid: Metrics; test: Metrics; scores: Float64Array; validScores: Float64Array; candidate: boolean }[] = []
  for (const spec of specs) {
    log(`training ${specName(spec)} on ${fit.n.toLocaleString('en')} rows`)
    const m = trainCandidate(spec, fit, valid, { seed: args.seed, gbdtRows: args.gbdtRows, log })
    const scores = scoreView(m, test)
    const validScores = scoreView(m, valid)
    const res = { m, valid: evaluateScores(validScores, valid.labels(), valid.weights()), test: evaluateScores(scores, yTest, wTest), scores, validScores, candidate: wanted(spec) }
    results.push(res)
    log(`${m.name}: validation AUC ${res.valid.auc.toFixed(4)}, test AUC ${res.test.auc.toFixed(4)} (${m.epochs} ${spec.kind === 'gbdt' ? 'trees' : 'epochs'}, ${m.seconds.toFixed(1)} s; rss ${Math.round(process.memoryUsage.rss() / 2 ** 20)} MiB, peak ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB)`)
  }
  // baselines on the same test rows: offer popularity alone, and logistic regression on the same features
  const { rate, prior } = offerRates(ds, split.train)
  const popScores = Float64Array.from(split.test, (r) => (!Number.isNaN(ds.popIn[r]!) ? ds.popIn[r]! : rate(ds.offer[r]!) ?? prior))
  const popularity = evaluateScores(popScores, yTest, wTest)
  const lr = results.find((r) => r.m.name === 'lr')!
  // the model is chosen on the validation members only; the test set is not looked at. A candidate other
  // than logistic regression has to earn its place: its validation AUC must beat logistic regression's on
  // a paired member bootstrap of the validation set (95% interval above 0), else the simpler model ships.
  const best = results.filter((r) => r.candidate).sort((a, b) => b.valid.auc - a.valid.auc)[0]!
  let chosen = best
  let choice = `${best.m.name}: the best validation AUC (${best.valid.auc.toFixed(4)})`
  const resamples = args.bootstrap ?? 500
  if (best !== lr && lr.candidate) {
    const vw = valid.weights()
    const vb = memberBootstrap({ best: best.validScores, lr: lr.validScores }, valid.labels(), weighted ? vw : undefined, valid.members(), 'lr', Math.max(resamples, 100), args.seed + 1)
    const d = vb.diff['best']!
    const gain = `validation AUC ${best.valid.auc.toFixed(4)} against ${lr.valid.auc.toFixed(4)} for logistic regression, ${d.estimate >= 0 ? '+' : ''}${d.estimate.toFixed(4)} (95% interval ${d.lo.toFixed(4)} to ${d.hi.toFixed(4)} over ${vb.members} validation members)`
    if (d.lo > 0) choice = `${best.m.name}: ${gain}, a significant gain`
    else { chosen = lr; choice = `lr: the best candidate, ${best.m.name}, had ${gain}, not a significant gain, so the simpler model` }
  }
  log(`chosen: ${choice}`)

  let boot: BootstrapResult | null = null
  if ((args.bootstrap ?? 500) > 0) {
    const models = Object.fromEntries([...results.map((r) => [r.m.name, r.scores] as const), ['popularity', popScores] as const])
    boot = memberBootstrap(models, yTest, weighted ? wTest : undefined, test.members(), 'lr', args.bootstrap ?? 500, args.seed)
  }

  const trainedAt = new Date().toISOString()
  const meta = { featureVersion: FEATURE_VERSION, featureDim: String(FEATURE_DIM), model: chosen.m.name, name: args.name, trainedAt, version: version(), auc: String(chosen.test.auc), rows: String(ds.n) }
  const bytes = chosen.m.onnx(meta)
  const out = resolve(args.out)
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, bytes)
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  // onnxruntime must reproduce the trainer's scores
  const maxDiff = await onnxParity(bytes, chosen.m, test)
  if (maxDiff > 1e-5) throw new Error(`onnxruntime differs from the trainer by ${maxDiff} (> 1e-5): the export is wrong`)

  const ci = (name: string) => boot ? { lo: boot.auc[name]!.lo, hi: boot.auc[name]!.hi, dlo: boot.diff[name]!.lo, dhi: boot.diff[name]!.hi } : null
  const candidates: CandidateReport[] = results.map((r) => {
    const c = ci(r.m.name)
    return { architecture: r.m.name, validationAuc: r.valid.auc, testAuc: r.test.auc, testAucLow: c?.lo ?? null, testAucHigh: c?.hi ?? null, diffVsLogistic: r.test.auc - lr.test.auc, diffLow: c?.dlo ?? null, diffHigh: c?.dhi ?? null, testLogLoss: r.test.logLoss, precisionTop5: r.test.precisionTop5, epochs: r.m.epochs, trainSeconds: Math.round(r.m.seconds * 10) / 10 }
  })
  const cc = ci(chosen.m.name)
  const report: TrainingReport = {
    name: args.name, file: out, card: out.replace(/\.onnx$/, '.md'), sha256, featureVersion: FEATURE_VERSION, featureDim: FEATURE_DIM,
    model: { architecture: chosen.m.name, epochs: chosen.m.epochs, ...chosen.test },
    baselines: { popularity, logistic: lr.test },
    candidates,
    beatsLogistic: chosen.m.name === 'lr' ? null : { auc: chosen.test.auc - lr.test.auc, low: cc?.dlo ?? null, high: cc?.dhi ?? null, significant: cc !== null && cc.dlo > 0 },
    beatsPopularity: chosen.test.auc > popularity.auc,
    choice,
    onnxMaxAbsDiff: maxDiff,
    split: splitText, data: args.dataLabels ?? args.data, eval: args.eval ?? null,
    rows: { fit: fit.n, validation: valid.n, test: test.n, positivesTest: chosen.test.positives, weighted },
    input: input.toJSON(),
    seconds: { read: Math.round(readSeconds * 10) / 10, total: Math.round((performance.now() - t0) / 100) / 10 },
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    bootstrap: boot ? { resamples: boot.resamples, members: boot.members } : null,
    trainedAt,
  }
  writeCard(report.card, report, FEATURE_NAMES, { popularity: boot?.auc['popularity'] ?? null })
  return report
}

if (process.argv[1] && resolve(process.argv[1]).endsWith(join('train', 'cli.ts'))) {
  let args: Args | null = null
  try {
    args = parseArgs(process.argv.slice(2))
  } catch (err) {
    console.error((err as Error).message)
    process.exitCode = 2
  }
  if (args) runTraining(args).then((r) => console.log(JSON.stringify(r, null, 2)), (err) => { console.error(`train failed: ${(err as Error).message}`); process.exitCode = 1 })
}
