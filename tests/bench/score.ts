/**
 * npm run bench:score [-- --dir=<model folder> --model=<name> --iter=3000]
 *
 * One offer decision's scoring: features for every candidate built and scored in one batched run of the
 * shipped model, for 1, 16, 64 and 256 candidates. Side by side: a bare session.run on the same prebuilt
 * tensor (same session options: one intra-op thread, no spinning), and, for reference, a session with
 * onnxruntime's default options. The event loop is blocked by the feature building (measured) and by the
 * inference itself (onnxruntime-node runs it synchronously inside a setImmediate; about the bare run).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { packageRoot } from '../../edge/config/load.js'
import { createLogger } from '../../edge/core/log.js'
import { buildFeatures, FEATURE_DIM, type OfferFeatures } from '../../edge/recommend/features.js'
import { contextFeaturesOf, memberFeaturesOf } from '../../edge/recommend/inputs.js'
import { Ranker } from '../../edge/recommend/ranker.js'
import { ModelRegistry } from '../../edge/recommend/registry.js'
import { SESSION_OPTIONS } from '../../edge/recommend/scorer.js'
import { percentile, table } from './lib.js'

const ITER = Number(process.argv.find((a) => a.startsWith('--iter='))?.split('=')[1] ?? 3000)
const arg = (k: string) => process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1]
const dir = arg('dir') ?? join(packageRoot(), 'models')
const registry = new ModelRegistry([dir], createLogger({ level: 'silent' }))
const r = await registry.activate(arg('model'))
if (!r.ok) throw new Error(r.error)
const ranker = new Ranker(registry)
const bytes = readFileSync(join(dir, registry.active!.entry.file))
const bare = await ort.InferenceSession.create(bytes, SESSION_OPTIONS)
const defaults = await ort.InferenceSession.create(bytes)

const member = memberFeaturesOf({ tier: 'gold', rfm: { recencyDays: 4, frequency: 9, monetary: 140 }, affinities: { dairy: 0.8, bakery: 0.3 }, demographics: { ageRange: '36-45', incomeBracket: 7 } }, { shown: 12, redeemed: 3 })
const context = contextFeaturesOf({ zoneKind: 'fridge', dwellSeconds: 12, ts: Date.UTC(2026, 10, 23, 17), timeZone: 'Europe/Berlin' })
const cats = ['dairy', 'bakery', 'drinks', 'produce', 'meat', 'electronics', 'grocery', 'pharmaceutical']
const offers = (n: number): OfferFeatures[] => Array.from({ length: n }, (_, i) => ({ category: cats[i % cats.length], items: 1 + (i % 9), discount: i % 3 === 0 ? { kind: 'percent' as const, value: 10 + (i % 4) * 5 } : i % 3 === 1 ? { kind: 'amount' as const, value: 1 + (i % 3) } : { kind: 'bogo' as const }, campaignType: 'dwell', popularity: 0.02 + (i % 10) / 100 }))

const stats = (xs: number[]) => { const s = Float64Array.from(xs).sort(); return { p50: percentile(s, 50), p99: percentile(s, 99) } }
const us = (ms: number) => Math.round(ms * 1000)
const rows: Record<string, string | number>[] = []
for (const n of [1, 16, 64, 256]) {
  const list = offers(n)
  const tensorData = new Float32Array(n * FEATURE_DIM)
  for (let i = 0; i < n; i++) buildFeatures({ member, offer: list[i]!, context }, tensorData, i * FEATURE_DIM)
  const tensor = new ort.Tensor('float32', tensorData, [n, FEATURE_DIM])
  const decision: number[] = []
  const blocking: number[] = []
  const bareRun: number[] = []
  const defaultRun: number[] = []
  for (let i = 0; i < 300; i++) { await ranker.rank(member, list, context); await bare.run({ features: tensor }); await defaults.run({ features: tensor }) }
  for (let i = 0; i < ITER; i++) {
    // alternate so that machine noise falls on both
    let t0 = performance.now()
    const p = ranker.rank(member, list, context)
    blocking.push(performance.now() - t0)
    await p
    decision.push(performance.now() - t0)
    t0 = performance.now()
    await bare.run({ features: tensor })
    bareRun.push(performance.now() - t0)
    t0 = performance.now()
    await defaults.run({ features: tensor })
    defaultRun.push(performance.now() - t0)
  }
  const d = stats(decision), b = stats(bareRun), dflt = stats(defaultRun), bl = stats(blocking)
  rows.push({
    candidates: n,
    'decision p50/p99 us': `${us(d.p50)} / ${us(d.p99)}`,
    'bare run p50/p99 us': `${us(b.p50)} / ${us(b.p99)}`,
    'ratio p50/p99': `${(d.p50 / b.p50).toFixed(2)} / ${(d.p99 / b.p99).toFixed(2)}`,
    'features (sync) p50/p99 us': `${us(bl.p50)} / ${us(bl.p99)}`,
    'event loop blocked p50 us': us(bl.p50 + b.p50),
    'default-options run p50/p99 us': `${us(dflt.p50)} / ${us(dflt.p99)}`,
  })
}
console.log(`score benchmark: ${registry.active!.version} (${registry.active!.entry.architecture}), ${FEATURE_DIM} features, ${ITER} decisions per size, node ${process.version}`)
console.log(table(rows))
await registry.close()
await bare.release()
await defaults.release()
