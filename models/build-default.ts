/**
 * npm run model:default -- [--data ../shared/data]
 *
 * Rebuilds the shipped default model: AMExpert 2019 interactions (adapted from ../shared/data at run time,
 * never committed) -> member-split training in a temporary folder -> published into models/ as `default`
 * (default.onnx, its card default.md and the manifest entry with its SHA-256).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { packageRoot } from '../edge/config/load.js'
import { amexpertInteractions } from './adapters/amexpert.js'
import { writeInteractions } from './interactions.js'
import { publishModel } from './publish.js'
import { runTraining } from './train/cli.js'

const argv = process.argv.slice(2)
const i = argv.indexOf('--data')
const data = resolve(i >= 0 ? argv[i + 1]! : join(packageRoot(), '..', 'shared', 'data'))
const dir = mkdtempSync(join(tmpdir(), 'aisle-model-'))
const file = join(dir, 'amexpert-2019-interactions.jsonl')
try {
  const n = await writeInteractions(file, amexpertInteractions(data))
  console.error(`${n} AMExpert interactions`)
  const report = await runTraining({ data: [file], out: join(dir, 'default.onnx'), model: 'auto', name: 'default', seed: 1, quiet: false, dataLabels: ['AMExpert 2019 coupon redemption, train.csv joined with coupons, items, campaigns and demographics (../shared/data/amexpert-2019-coupon-redemption, turned into interactions by models/adapters/amexpert.ts)'] })
  const entry = await publishModel({ model: report.file, dir: join(packageRoot(), 'models'), name: 'default', makeDefault: true })
  console.log(JSON.stringify({ ...report, published: entry }, null, 2))
} finally {
  rmSync(dir, { recursive: true, force: true })
}
