/**
 * npm run model:publish -- --model <file.onnx> [--dir models] [--name <name>] [--default]
 *
 * Puts a trained model into a model folder's manifest: checks that it is ONNX the gateway can load, with
 * the feature version this code builds, copies it (and its card, <file>.md) into the folder as <name>.onnx,
 * and adds or replaces the manifest entry with its SHA-256. `npm run train` never does this by itself; for
 * the shipped models/ folder this is the explicit step (`npm run model:default` runs it for the default).
 * A running gateway takes models by upload instead: PUT /v1/admin/models/<name>?sha256=<hex>.
 */
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { packageRoot } from '../edge/config/load.js'
import { FEATURE_VERSION } from '../edge/recommend/features.js'
import type { Manifest, ManifestEntry } from '../edge/recommend/registry.js'
import { Scorer } from '../edge/recommend/scorer.js'
import { onnxMetadata } from './train/onnx.js'

export interface PublishOptions { model: string; dir: string; name?: string | undefined; makeDefault?: boolean | undefined }

export async function publishModel(o: PublishOptions): Promise<ManifestEntry & { manifest: string; default: string }> {
  const src = resolve(o.model)
  const bytes = readFileSync(src)
  let meta: Record<string, string>
  try {
    meta = onnxMetadata(bytes)
  } catch (err) {
    throw new Error(`${o.model}: not an ONNX model (${(err as Error).message})`)
  }
  const name = o.name ?? meta['name'] ?? basename(src).replace(/\.onnx$/, '')
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/i.test(name)) throw new Error(`model name ${JSON.stringify(name)}: letters, digits, '.', '_' or '-', at most 64`)
  if (meta['featureVersion'] !== FEATURE_VERSION) throw new Error(`${o.model}: trained for features ${meta['featureVersion'] ?? '(none recorded)'}, this code builds ${FEATURE_VERSION}; retrain it`)
  const scorer = await Scorer.load(bytes)
  await scorer.release()
  const dir = resolve(o.dir)
  mkdirSync(dir, { recursive: true })
  const file = `${name}.onnx`
  const dst = join(dir, file)
  if (resolve(dst) !== src) copyFileSync(src, dst)
  const card = src.replace(/\.onnx$/, '.md')
  if (existsSync(card) && resolve(join(dir, `${name}.md`)) !== card) copyFileSync(card, join(dir, `${name}.md`))
  const entry: ManifestEntry = {
    name, file, sha256: createHash('sha256').update(bytes).digest('hex'), featureVersion: FEATURE_VERSION,
    ...(meta['model'] ? { architecture: meta['model'] } : {}), ...(meta['trainedAt'] ? { trainedAt: meta['trainedAt'] } : {}),
    ...(meta['auc'] && Number.isFinite(Number(meta['auc'])) ? { auc: Number(meta['auc']) } : {}),
  }
  const mf = join(dir, 'manifest.json')
  const m: Manifest = existsSync(mf) ? JSON.parse(readFileSync(mf, 'utf8')) as Manifest : { models: [] }
  m.models = [...(m.models ?? []).filter((x) => x.name !== name), entry].sort((a, b) => a.name.localeCompare(b.name))
  if (o.makeDefault || !m.default) m.default = name
  writeFileSync(`${mf}.tmp`, `${JSON.stringify({ models: m.models, default: m.default }, null, 2)}\n`)
  renameSync(`${mf}.tmp`, mf)
  return { ...entry, manifest: mf, default: m.default }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const get = (k: string) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? argv[i + 1] : undefined }
  const model = get('model')
  if (!model) { console.error('usage: npm run model:publish -- --model <file.onnx> [--dir models] [--name <name>] [--default]'); process.exitCode = 2; return }
  try {
    const e = await publishModel({ model, dir: get('dir') ?? join(packageRoot(), 'models'), name: get('name'), makeDefault: argv.includes('--default') })
    console.log(`${e.name} (${e.architecture ?? 'model'}, ${e.sha256.slice(0, 12)}) added to ${e.manifest}; default: ${e.default}`)
  } catch (err) {
    console.error(`publish failed: ${(err as Error).message}`)
    process.exitCode = 1
  }
}

if (process.argv[1] && resolve(process.argv[1]).endsWith('publish.ts')) void main()
