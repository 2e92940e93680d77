/**
 * npm run replay -- [--data ../shared/data] [--dataset esiiab|esiiab-ground|waldo|demo|all]
 *                   [--locator strongest,fingerprint,position] [--smoothing ema,kalman,percentile]
 *                   [--set presence.key=value ...] [--json]
 *
 * Feeds labelled BLE recordings through the gateway's own presence code and prints, per locator and
 * smoothing, accuracy (single scans and streaming), top-2 accuracy, zone changes per minute while standing
 * still, seconds to detect a zone change and the dwell-start error. The presence settings are the gateway's
 * (config/default.json); --set overrides one, e.g. --set smoothing.q=0.1 --set switchSeconds=3.
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { loadConfig } from '../../edge/config/load.js'
import { evaluate, type EvalResult } from '../../edge/presence/evaluate.js'
import type { PresenceConfig } from '../../edge/presence/factory.js'
import type { LocatorName } from '../../edge/presence/types.js'
import type { SmootherName } from '../../edge/presence/smoothing.js'
import { join } from 'node:path'
import { packageRoot } from '../../edge/config/load.js'
import { ESIIAB_FILES, ESIIAB_GROUND, loadDemo, loadEsiiab, loadWaldo, type Dataset } from './datasets.js'

function args(argv: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith('--')) continue
    const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined]
    const v = inline ?? (argv[i + 1] && !argv[i + 1]!.startsWith('--') ? argv[++i]! : 'true')
    out.set(k, [...(out.get(k) ?? []), v])
  }
  return out
}

function setPath(obj: Record<string, unknown>, path: string, value: string): void {
  const keys = path.replace(/^presence\./, '').split('.')
  let cur = obj
  for (const k of keys.slice(0, -1)) cur = cur[k] as Record<string, unknown>
  const last = keys[keys.length - 1]!
  const old = cur[last]
  cur[last] = typeof old === 'number' ? Number(value) : value
}

export function datasets(dir: string, which: string): Dataset[] {
  const out: Dataset[] = []
  if (which === 'all' || which === 'esiiab') for (const f of ESIIAB_FILES) out.push(loadEsiiab(dir, f))
  if (which === 'all' || which === 'esiiab-ground') for (const f of ESIIAB_GROUND) out.push(loadEsiiab(dir, f))
  if (which === 'all' || which === 'waldo') out.push(loadWaldo(dir))
  if (which === 'all' || which === 'demo') out.push(loadDemo(loadConfig({ file: join(packageRoot(), 'config', 'demo-store.json'), env: {} }).config.layout))
  return out
}

const f2 = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(2))
const f1 = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(1))

function main(): void {
  const a = args(process.argv.slice(2))
  const dir = resolve(a.get('data')?.[0] ?? '../shared/data')
  if (!existsSync(dir) && a.get('dataset')?.[0] !== 'demo') {
    console.error(`no datasets at ${dir}: pass --data <folder holding ble-rssi-esiiab-sectors and ble-rssi-uci-waldo-library>`)
    process.exitCode = 2
    return
  }
  const base: PresenceConfig = loadConfig({ env: {} }).config.presence
  for (const s of a.get('set') ?? []) {
    const [k, v] = s.split('=')
    if (!k || v === undefined) throw new Error(`--set wants key=value, got ${s}`)
    setPath(base as unknown as Record<string, unknown>, k, v)
  }
  const locators = (a.get('locator')?.[0]?.split(',') ?? ['strongest', 'fingerprint', 'position']) as LocatorName[]
  const smoothings = (a.get('smoothing')?.[0]?.split(',') ?? ['ema', 'kalman', 'percentile']) as SmootherName[]
  const json = a.has('json')
  const results: { dataset: string; locator: string; smoothing: string; result: EvalResult }[] = []
  for (const ds of datasets(dir, a.get('dataset')?.[0] ?? 'all')) {
    if (!json) console.log(`\n${ds.name}: ${ds.sequences.length} zones, ${ds.sequences.reduce((n, s) => n + s.scans.length, 0)} scans, ${ds.layout.anchors.length} anchors; ${ds.notes}`)
    const rows: string[][] = []
    for (const locator of locators) {
      if (locator === 'position' && !ds.layout.anchors.some((x) => x.x !== undefined)) continue
      for (const smoothing of smoothings) {
        const cfg: PresenceConfig = { ...base, locator, smoothing: { ...base.smoothing, kind: smoothing } }
        const r = evaluate({ layout: ds.layout, sequences: ds.sequences }, cfg)
        results.push({ dataset: ds.name, locator, smoothing, result: r })
        rows.push([locator, smoothing, f2(r.single.accuracy), f2(r.single.top2), f2(r.streaming.accuracy), f2(r.streaming.top2), f2(r.stationary.changesPerMinute), `${f1(r.walk.detectP50)}/${f1(r.walk.detectP90)}`, String(r.walk.missed), `${f1(r.walk.dwellErrP50)}/${f1(r.walk.dwellErrP90)}`])
      }
    }
    if (!json) {
      const head = ['locator', 'smoothing', 'single acc', 'single top2', 'stream acc', 'stream top2', 'changes/min still', 'detect s p50/p90', 'missed', 'dwell err s p50/p90']
      const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
      console.log(head.map((h, i) => h.padEnd(w[i]!)).join('  '))
      for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '))
    }
  }
  if (json) console.log(JSON.stringify({ presence: base, results }, null, 2))
  else console.log(`\nsplit: first 70% of each zone's scans (in time order) calibrate, last 30% test; scans replayed 1 a second. presence settings: ${JSON.stringify({ ...base, locator: undefined, smoothing: base.smoothing })}`)
}

main()
