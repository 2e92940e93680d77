/** Training pipeline: the interactions format and its checks, columnar reading, member split, leakage-free and weighted popularity, the train and publish commands. */
import t from 'tap'
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { packageRoot } from '../../edge/config/load.js'
import { FEATURE_VERSION } from '../../edge/recommend/features.js'
import { offerLog } from '../../devices/simulator/offer-log.js'
import { amexpertInteractions, parseCsv } from '../../models/adapters/amexpert.js'
import { simlogInteractions } from '../../models/adapters/simlog.js'
import { readInteractions, ReadReport, parseLine, writeInteractions, type Interaction } from '../../models/interactions.js'
import { publishModel } from '../../models/publish.js'
import { parseArgs, runTraining } from '../../models/train/cli.js'
import { Dataset, encodePopularity, readDataset, splitDataset } from '../../models/train/dataset.js'
import { evaluateScores, memberBootstrap } from '../../models/train/metrics.js'
import { init } from '../../models/train/nn.js'
import { toOnnx } from '../../models/train/onnx.js'

const dir = mkdtempSync(join(tmpdir(), 'aisle-train-'))
const shared = join(packageRoot(), '..', 'shared', 'data')

const base = (i: number, over: Partial<Interaction> = {}): Interaction => ({ ts: '2026-01-05T10:00:00Z', memberId: `m${i % 80}`, campaignId: 'c', offerId: `o${i % 5}`, member: {}, offer: {}, context: {}, redeemed: (i % 7 === 0 ? 1 : 0) as 0 | 1, ...over })

t.test('csv with quoted commas', async (t) => {
  t.same(parseCsv('a,b,c\r\n1,"Dairy, Juices & Snacks",3\n2,"say ""hi""",4'), [['a', 'b', 'c'], ['1', 'Dairy, Juices & Snacks', '3'], ['2', 'say "hi"', '4']])
})

t.test('interactions: write, read, refuse a bad line', async (t) => {
  const rows = [...simlogInteractions(offerLog({ members: 30, days: 5, seed: 3, start: Date.UTC(2026, 0, 5), timeZone: 'Europe/Berlin' }))]
  const f = join(dir, 'a.jsonl')
  t.equal(await writeInteractions(f, rows), rows.length)
  t.same(await readInteractions(f), JSON.parse(JSON.stringify(rows)))
  writeFileSync(join(dir, 'bad.jsonl'), '{"memberId":"x"}\n')
  await t.rejects(readInteractions(join(dir, 'bad.jsonl')), /bad\.jsonl:1: row: must have required properties/)
  // the simulator log's history is what came before, never the row's own outcome
  const byMember = new Map<string, Interaction[]>()
  for (const r of rows) byMember.set(r.memberId, [...(byMember.get(r.memberId) ?? []), r])
  for (const list of byMember.values()) list.forEach((r, i) => {
    const before = list.slice(0, i)
    if ((r.member.history?.shown ?? 0) !== before.length || (r.member.history?.redeemed ?? 0) !== before.filter((x) => x.redeemed).length) t.fail(`history of ${r.memberId} #${i}`)
  })
  t.ok(rows.every((r) => r.context.zoneKind && r.context.dwellSeconds !== undefined), 'simulator logs carry zone and dwell')
})

t.test('every field is checked, with the row number; nothing outside the vocabulary vanishes', async (t) => {
  const good = JSON.stringify(base(1, { member: { tier: 'gold', demographics: { ageRange: '36-45' } }, offer: { category: 'dairy', campaignType: 'mailer-x', durationDays: 30 }, weight: 2 }))
  const lines = [
    good,
    good.replace('"2026-01-05T10:00:00Z"', '"05/01/2026"'),
    good.replace('"2026-01-05T10:00:00Z"', '"2026-13-45T10:00:00Z"'),
    good.replace('"redeemed":0', '"redeemed":"no"'),
    good.replace('"durationDays":30', '"durationDays":"30"'),
    good.replace('"weight":2', '"weight":-1'),
    good.replace('"ageRange":"36-45"', '"ageRange":"25-34"'),
    good.replace('"campaignType":"mailer-x"', '"campaignType":"TypeA"'),
    good.replace('"tier":"gold"', '"tier":"gold","teir":"x"'),
    good.replace('"category":"dairy"', '"category":null'),
    '{"ts": 1',
    '',
  ]
  const f = join(dir, 'mixed.jsonl')
  writeFileSync(f, lines.join('\n'))
  const report = new ReadReport()
  const { ds } = await readDataset([f], { report })
  t.equal(ds.n, 5, 'good rows, and rows whose only fault is a word outside the vocabulary or an extra field, are kept')
  t.equal(report.invalid, 6)
  t.same([...report.problems.keys()].sort(), ['offer.durationDays: must be number', 'not JSON', 'redeemed: must be 0 or 1', 'ts: not an ISO 8601 time', 'weight: must be > 0'].sort())
  t.equal(report.problems.get('ts: not an ISO 8601 time'), 2)
  t.match(report.first[0], /mixed\.jsonl:2: ts: not an ISO 8601 time \(got "05\/01\/2026"\)/)
  t.match(report.first.join('\n'), /mixed\.jsonl:4: redeemed: must be 0 or 1/)
  t.same(report.toJSON()['outOfVocabulary'], { 'member.demographics.ageRange': { rows: 1, values: { '25-34': 1 } }, 'offer.campaignType': { rows: 1, values: { TypeA: 1 } } })
  t.same(report.toJSON()['unknownFields'], { 'member.teir': 1 })
  t.notOk(report.clean)
  t.match(report.describe().join('\n'), /outside the vocabulary: offer\.campaignType in 1 rows \("TypeA" 1\); they encode as unknown/)
  // JSON null is "not known"
  const r = new ReadReport()
  t.equal(parseLine(lines[9]!, 'x:1', r)?.offer.category, undefined)
  t.equal(r.invalid, 0)
  // --strict refuses all of it; without it, 6 of 11 invalid rows is over the 1% limit
  await t.rejects(runTraining({ data: [f], out: join(dir, 'strict', 'm.onnx'), model: 'lr', name: 'm', seed: 1, quiet: true, strict: true }), /--strict: 6 invalid rows, 2 values outside the vocabulary, 1 unknown fields/)
  await t.rejects(runTraining({ data: [f], out: join(dir, 'strict', 'm.onnx'), model: 'lr', name: 'm', seed: 1, quiet: true }), /6 of 11 rows are invalid \(54\.55% > 1\.00%, --max-invalid\); first: .*mixed\.jsonl:2/)
  t.notOk(existsSync(join(dir, 'strict')), 'nothing written when the data is refused')
  t.throws(() => parseArgs(['--data', 'x', '--out', 'y.bin']), /must end in \.onnx/)
  t.throws(() => parseArgs(['--data', 'x', '--out', 'y.onnx', '--seed', 'z']), /--seed needs a number/)
})

t.test('a file of 130,000 rows streams into columns (the old reader overflowed the stack above 120,000)', async (t) => {
  const f = join(dir, 'big.jsonl')
  const ws = createWriteStream(f)
  for (let i = 0; i < 130_000; i++) ws.write(`${JSON.stringify(base(i, { memberId: `m${i % 5000}`, offer: { category: 'bakery', discount: { kind: 'percent', value: i % 30 } } }))}\n`)
  await new Promise<void>((res) => ws.end(() => res()))
  const { ds, report } = await readDataset([f])
  t.equal(ds.n, 130_000)
  t.equal(report.rows, 130_000)
  t.equal(ds.memberIds.length, 5000)
  t.ok(ds.usedBytes() < 130_000 * 120, `${ds.usedBytes() / 130_000} bytes a row`)
})

t.test('member split and popularity without leakage', async (t) => {
  const ds = Dataset.fromInteractions(Array.from({ length: 400 }, (_, i) => base(i)))
  const s = splitDataset(ds)
  const trainMembers = new Set(Array.from(s.train, (r) => ds.member[r]))
  t.notOk(Array.from(s.test).some((r) => trainMembers.has(ds.member[r]!)), 'no member in both')
  t.ok(s.test.length > 40 && s.test.length < 120)
  t.equal(s.fit.length + s.valid.length, s.train.length)
  // flipping a training row's label must not change that row's own popularity
  const before = encodePopularity(ds, s.train, [s.test]).own[0]
  ds.label[s.train[0]!] = 1 - ds.label[s.train[0]!]!
  t.equal(encodePopularity(ds, s.train, [s.test]).own[0], before, 'out of fold')
})

t.test('weights: a sampled negative with weight k counts as k rows, in popularity and in every metric', async (t) => {
  // full: every negative three times; sampled: once, weight 3
  const full: Interaction[] = []
  const sampled: Interaction[] = []
  for (let i = 0; i < 600; i++) {
    const r = base(i, { memberId: `m${i % 150}`, offerId: `o${i % 4}` })
    if (r.redeemed) { full.push(r); sampled.push(r) } else { full.push(r, r, r); sampled.push({ ...r, weight: 3 }) }
  }
  const a = Dataset.fromInteractions(full)
  const b = Dataset.fromInteractions(sampled)
  const pa = encodePopularity(a, Int32Array.from({ length: a.n }, (_, i) => i), [Int32Array.from([0])])
  const pb = encodePopularity(b, Int32Array.from({ length: b.n }, (_, i) => i), [Int32Array.from([0])])
  t.ok(Math.abs(pa.others[0]![0]! - pb.others[0]![0]!) < 1e-6, `the same offer rate (${pa.others[0]![0]} / ${pb.others[0]![0]})`)
  const scoreOf = (r: Interaction) => (Number(r.offerId.slice(1)) + (r.memberId.length % 3)) / 10
  const ma = evaluateScores(full.map(scoreOf), full.map((r) => r.redeemed))
  const mb = evaluateScores(sampled.map(scoreOf), sampled.map((r) => r.redeemed), sampled.map((r) => r.weight ?? 1))
  for (const k of ['auc', 'logLoss', 'precisionTop5', 'rate', 'meanScore'] as const) t.ok(Math.abs(ma[k] - mb[k]) < 1e-9, `${k}: ${ma[k]} = ${mb[k]}`)
  const unweighted = evaluateScores(sampled.map(scoreOf), sampled.map((r) => r.redeemed))
  t.ok(unweighted.rate > mb.rate * 2, 'without the weights the sample overstates the redemption rate')
})

t.test('member bootstrap: intervals hold the estimate, a copy of LR does not beat it', async (t) => {
  const n = 3000
  const y = Array.from({ length: n }, (_, i) => (i % 9 === 0 ? 1 : 0))
  const members = Array.from({ length: n }, (_, i) => i % 300)
  const lr = y.map((v, i) => v * 0.3 + ((i * 7919) % 101) / 100)
  const better = y.map((v, i) => v * 0.8 + ((i * 7919) % 101) / 100)
  const b = memberBootstrap({ lr, same: lr.slice(), better }, y, undefined, members, 'lr', 200, 3)
  t.ok(b.auc['lr']!.lo < b.auc['lr']!.estimate && b.auc['lr']!.estimate < b.auc['lr']!.hi)
  t.equal(b.diff['same']!.lo, 0)
  t.equal(b.diff['same']!.hi, 0)
  t.ok(b.diff['better']!.lo > 0, `a real gain is significant (${b.diff['better']!.lo.toFixed(4)})`)
  t.equal(b.members, 300)
})

t.test('AMExpert adapter', { skip: existsSync(join(shared, 'amexpert-2019-coupon-redemption')) ? false : 'no ../shared/data (not part of the repository)' }, async (t) => {
  const rows = amexpertInteractions(shared)
  t.equal(rows.length, 78_369)
  t.equal(rows.filter((r) => r.redeemed).length, 729)
  t.ok(rows.every((r) => r.offer.campaignType === 'mailer-x' || r.offer.campaignType === 'mailer-y'))
  t.ok(rows.every((r) => r.offer.durationDays !== undefined && r.offer.durationDays > 0), 'campaign duration from the campaign dates')
  t.ok(rows.filter((r) => r.member.demographics).length > 30_000, 'demographics where the customer has them')
  t.ok(rows.some((r) => r.offer.category === 'Dairy, Juices & Snacks'), 'quoted categories read whole')
  t.ok(rows.some((r) => r.member.history), 'history from earlier campaigns')
  const report = new ReadReport()
  for (const r of rows.slice(0, 5000)) parseLine(JSON.stringify(r), 'amx', report)
  t.ok(report.clean, `AMExpert rows pass --strict: ${report.describe().join('; ')}`)
})

t.test('npm run train: a model and its card, only where asked; onnxruntime agreeing; baselines and intervals beside it; publish is its own step', async (t) => {
  const rows = [...simlogInteractions(offerLog({ members: 1000, days: 14, seed: 5, start: Date.UTC(2026, 0, 5), timeZone: 'Europe/Berlin' }))]
  const data = join(dir, 'sim.jsonl')
  await writeInteractions(data, rows)
  const out = join(dir, 'models', 'sim.onnx')
  const r = await runTraining({ data: [data], out, model: 'auto', name: 'sim', seed: 1, quiet: true, bootstrap: 100 })
  t.same(readdirSync(join(dir, 'models')).sort(), ['sim.md', 'sim.onnx'], 'the model and its card; no manifest')
  t.ok(r.onnxMaxAbsDiff <= 1e-5)
  t.match(r.split, /no member in both/)
  // about 6,000 offers: enough for the simulator's habits to show (AUC 0.66-0.71 over seeds 5-7; with 200
  // members it is noise, 0.49-0.57)
  t.ok(r.model.auc > 0.62, `AUC ${r.model.auc.toFixed(3)}`)
  t.ok(r.model.auc > r.baselines.popularity.auc + 0.05, 'better than offer popularity alone')
  t.same(r.candidates.map((c) => c.architecture), ['lr', 'mlp-32', 'mlp-64', 'fm-8', 'gbdt-5'])
  for (const c of r.candidates) t.ok(c.testAucLow! <= c.testAuc && c.testAuc <= c.testAucHigh!, `${c.architecture}: ${c.testAuc.toFixed(3)} in (${c.testAucLow!.toFixed(3)}, ${c.testAucHigh!.toFixed(3)})`)
  const card = readFileSync(join(dir, 'models', 'sim.md'), 'utf8')
  t.match(card, r.sha256)
  t.match(card, /baseline: logistic regression/)
  t.match(card, /member-bootstrap interval \(100 resamples/)

  const entry = await publishModel({ model: out, dir: join(dir, 'shipped') })
  t.equal(entry.sha256, r.sha256)
  t.equal(entry.architecture, r.model.architecture)
  const manifest = JSON.parse(readFileSync(join(dir, 'shipped', 'manifest.json'), 'utf8')) as { default: string; models: { name: string; sha256: string; file: string }[] }
  t.same(manifest.models.map((m) => [m.name, m.file, m.sha256]), [['sim', 'sim.onnx', r.sha256]])
  t.equal(manifest.default, 'sim')
  t.ok(existsSync(join(dir, 'shipped', 'sim.md')), 'the card comes along')
  const old = join(dir, 'old.onnx')
  writeFileSync(old, toOnnx(init({ kind: 'lr', dim: 88 }), { featureVersion: 'f88-c67477828c36', name: 'old' }))
  await t.rejects(publishModel({ model: old, dir: join(dir, 'shipped') }), new RegExp(`trained for features f88-c67477828c36, this code builds ${FEATURE_VERSION}; retrain it`))
})
