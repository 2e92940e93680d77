/**
 * npm run model:compare -- [--data ../shared/data] [--bootstrap 500] [--seed 1] [--json]
 *
 * Every candidate (logistic regression, MLPs, factorisation machine, boosted trees) side by side on two real
 * data sets in one run, through the same trainer as `npm run train`: AMExpert 2019 coupon redemption and the
 * Groceries baskets as a leave-one-out member-offer task (models/adapters/groceries.ts). For each: test AUC
 * with a 95% member-bootstrap interval, and the paired difference to logistic regression with its interval
 * (a gain is significant when the interval excludes 0). Data is read from ../shared/data at run time; models
 * go to a temporary folder and are deleted.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { packageRoot } from '../edge/config/load.js'
import { amexpertInteractions } from './adapters/amexpert.js'
import { groceriesInteractions } from './adapters/groceries.js'
import { writeInteractions, type Interaction } from './interactions.js'
import { runTraining, type TrainingReport } from './train/cli.js'

export interface Comparison { dataset: string; rows: number; testMembers: number; chosen: string; report: TrainingReport }

export async function compare(dataDir: string, o: { bootstrap?: number; seed?: number; quiet?: boolean } = {}): Promise<Comparison[]> {
  const dir = mkdtempSync(join(tmpdir(), 'aisle-compare-'))
  const sets: [string, () => Interaction[]][] = [
    ['AMExpert 2019', () => amexpertInteractions(dataDir)],
    ['Groceries, leave one out', () => groceriesInteractions(dataDir)],
  ]
  const out: Comparison[] = []
  try {
    for (const [name, make] of sets) {
      const file = join(dir, `${out.length}.jsonl`)
      const rows = await writeInteractions(file, make())
      if (!o.quiet) console.error(`${name}: ${rows} interactions`)
      const report = await runTraining({ data: [file], out: join(dir, `${out.length}.onnx`), model: 'auto', name: 'compare', seed: o.seed ?? 1, quiet: o.quiet ?? true, strict: true, bootstrap: o.bootstrap ?? 500, dataLabels: [name] })
      out.push({ dataset: name, rows, testMembers: report.bootstrap?.members ?? 0, chosen: report.model.architecture, report })
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return out
}

const f4 = (x: number | null) => (x === null ? 'n/a' : x.toFixed(4))
const s4 = (x: number | null) => (x === null ? 'n/a' : `${x >= 0 ? '+' : ''}${x.toFixed(4)}`)

export function comparisonTable(cs: Comparison[]): string {
  const lines = ['| data set | model | validation AUC | test AUC (95% interval) | against LR (95% interval) | significant |', '|---|---|---|---|---|---|']
  for (const c of cs) {
    const pop = c.report.baselines.popularity
    lines.push(`| ${c.dataset} | offer popularity | | ${f4(pop.auc)} | ${s4(pop.auc - c.report.baselines.logistic.auc)} | |`)
    for (const k of c.report.candidates) {
      const sig = k.architecture === 'lr' ? '' : k.diffLow !== null && k.diffLow > 0 ? 'yes' : k.diffHigh !== null && k.diffHigh < 0 ? 'worse' : 'no'
      lines.push(`| ${c.dataset} | ${k.architecture}${k.architecture === c.chosen ? ' (chosen)' : ''} | ${f4(k.validationAuc)} | ${f4(k.testAuc)} (${f4(k.testAucLow)}-${f4(k.testAucHigh)}) | ${k.architecture === 'lr' ? '' : `${s4(k.diffVsLogistic)} (${s4(k.diffLow)} to ${s4(k.diffHigh)})`} | ${sig} |`)
    }
  }
  return lines.join('\n')
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const get = (k: string) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? argv[i + 1] : undefined }
  const data = resolve(get('data') ?? join(packageRoot(), '..', 'shared', 'data'))
  const cs = await compare(data, { bootstrap: Number(get('bootstrap') ?? 500), seed: Number(get('seed') ?? 1), quiet: false })
  if (argv.includes('--json')) console.log(JSON.stringify(cs.map((c) => ({ dataset: c.dataset, rows: c.rows, chosen: c.chosen, candidates: c.report.candidates, popularity: c.report.baselines.popularity })), null, 2))
  else {
    for (const c of cs) console.log(`${c.dataset}: ${c.rows} rows, ${c.report.rows.test} test rows of ${c.testMembers} members (${c.report.rows.positivesTest} redeemed), ${c.report.bootstrap?.resamples ?? 0} member resamples`)
    console.log(`\n${comparisonTable(cs)}`)
  }
}

if (process.argv[1] && resolve(process.argv[1]).endsWith('compare.ts')) main().catch((err) => { console.error(`compare failed: ${(err as Error).message}`); process.exitCode = 1 })
