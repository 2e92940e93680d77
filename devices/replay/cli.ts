/**
 * npm run replay -- [--data ../shared/data] [--dataset tracks|esiiab|esiiab-ground|waldo|demo|all]
 *                   [--locator auto,strongest,centroid,position,fingerprint] [--smoothing kalman,ema,percentile]
 *                   [--grid 3x3,4x4] [--per-track] [--loto] [--set presence.key=value ...] [--json]
 *
 * Feeds real BLE recordings through the gateway's own presence code, with the gateway's settings
 * (config/default.json; --set overrides one, e.g. --set smoothing.q=5 --set position.zoneScale=0.7).
 *
 * Walking tracks (ble-rssi-tetam-tracks-dev): every track at once in recorded time, as P/ble sightings of one
 * subject each, into an engine built as the gateway builds it with the zones and receivers then set as
 * PUT /v1/admin/layout does; scored once a second against the ground-truth zone on a 3 x 3 grid of 6 m cells
 * and a 4 x 4 grid of 4.5 m cells, side by side with the strongest receiver over 2 s and the weighted centroid
 * of the 3 strongest over 2 s. --loto adds leave-one-track-out figures for the choice of settings.
 *
 * Static fingerprint sets (ESIIAB, Waldo): per locator, single-scan and streaming accuracy on a time split,
 * zone changes a minute standing still, walks between zones, next to the two baselines.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { loadConfig, packageRoot } from '../../edge/config/load.js'
import { evaluate, type EvalResult } from '../../edge/presence/evaluate.js'
import type { PresenceConfig } from '../../edge/presence/factory.js'
import type { SmootherName } from '../../edge/presence/smoothing.js'
import type { LocatorChoice } from '../../edge/presence/types.js'
import { evaluateBaseline, type BaselineResult } from './baselines.js'
import { ESIIAB_FILES, ESIIAB_GROUND, loadDemo, loadEsiiab, loadWaldo, type Dataset } from './datasets.js'
import { GRIDS, TETAM, combine, evaluateTrackBaseline, evaluateTracks, leaveOneTrackOut, loadTetam, pct, type TrackEval, type TrackScore, type TrackSet } from './tracks.js'

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

/** --set presence.a.b=value on a copy (numbers stay numbers, true/false booleans) */
export function withSetting(cfg: PresenceConfig, path: string, value: string): PresenceConfig {
  const copy = structuredClone(cfg) as unknown as Record<string, unknown>
  const keys = path.replace(/^presence\./, '').split('.')
  let cur = copy
  for (const k of keys.slice(0, -1)) {
    if (typeof cur[k] !== 'object' || cur[k] === null) throw new Error(`--set ${path}: no such setting`)
    cur = cur[k] as Record<string, unknown>
  }
  const last = keys[keys.length - 1]!
  if (!(last in cur)) throw new Error(`--set ${path}: no such setting`)
  const old = cur[last]
  cur[last] = typeof old === 'number' ? Number(value) : typeof old === 'boolean' ? value === 'true' : value
  return copy as unknown as PresenceConfig
}

export function staticDatasets(dir: string, which: string): Dataset[] {
  const out: Dataset[] = []
  if (which === 'all' || which === 'esiiab') for (const f of ESIIAB_FILES) out.push(loadEsiiab(dir, f))
  if (which === 'all' || which === 'esiiab-ground') for (const f of ESIIAB_GROUND) out.push(loadEsiiab(dir, f))
  if (which === 'all' || which === 'waldo') out.push(loadWaldo(dir))
  if (which === 'all' || which === 'demo') out.push(loadDemo(loadConfig({ file: join(packageRoot(), 'config', 'demo-store.json'), env: {} }).config.layout))
  return out
}

const f2 = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(2))
const f1 = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(1))

function print(head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  console.log(head.map((h, i) => h.padEnd(w[i]!)).join('  '))
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '))
}

export function trackRow(label: string, s: TrackScore): string[] {
  const dd = s.dwellDelays
  return [
    label, f2(s.accuracy), `${f1(s.changesPerMin)} / ${f1(s.trueChangesPerMin)}`,
    s.delays.length ? `${pct(s.delays, 0.5)} / ${pct(s.delays, 0.9)}` : 'n/a', `${s.missed} / ${s.trueChanges}`,
    `${s.dwells} / ${s.trueDwells}`, `${s.dwellsMatched}${dd.length ? ` (${f1(pct(dd.map(Math.abs), 0.5))} s)` : ''}`,
  ]
}
const TRACK_HEAD = ['', 'accuracy', 'changes/min (true)', 'delay s p50 / p90', 'missed', 'dwells (true)', 'within 3 s (median |error|)']

function tracks(dir: string, base: PresenceConfig, locators: LocatorChoice[], grids: string[], perTrack: boolean, loto: boolean, json: boolean): unknown {
  const set: TrackSet = loadTetam(dir)
  const out: Record<string, unknown> = {}
  if (!json) console.log(`\nwalking tracks (${TETAM}): ${set.tracks.length} tracks, ${set.tracks.reduce((n, t) => n + t.packets.length, 0)} packets, ${set.receivers.length} receivers; all tracks at once in recorded time, scored once a second`)
  for (const grid of grids) {
    const evals: { label: string; e: TrackEval }[] = []
    for (const l of locators) evals.push({ label: `gateway, ${l}`, e: evaluateTracks(set, { ...base, locator: l }, grid) })
    evals.push({ label: 'strongest receiver, 2 s', e: evaluateTrackBaseline(set, 'strongest', grid) })
    evals.push({ label: 'weighted centroid of 3, 2 s', e: evaluateTrackBaseline(set, 'centroid', grid) })
    out[grid] = evals.map(({ label, e }) => ({ label, note: e.note, total: e.total, perTrack: e.perTrack, gains: e.gains }))
    if (json) continue
    const g = GRIDS[grid]!
    console.log(`\n${grid} grid of ${g.cell} m cells`)
    const rows: string[][] = []
    for (const { label, e } of evals) {
      rows.push(trackRow(label, e.total))
      if (perTrack) for (const p of e.perTrack) rows.push(trackRow(`  ${p.name}`, p.score))
    }
    print(TRACK_HEAD, rows)
    for (const { label, e } of evals) if (e.note && label.startsWith('gateway')) console.log(`  ${label}: ${e.note}`)
    const gains = evals.find((x) => x.e.gains)?.e.gains
    if (gains) console.log(`  receiver gains learned on line (dB): ${Object.entries(gains).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  }
  if (loto) {
    const candidates: { label: string; cfg: PresenceConfig }[] = []
    for (const n of [1.6, 1.8, 2.0, 2.2]) for (const q of [5, 10, 20]) for (const zs of [0.35, 0.5, 0.7]) {
      let c = withSetting(base, 'pathLossExponent', String(n))
      c = withSetting(c, 'smoothing.q', String(q))
      c = withSetting(c, 'position.zoneScale', String(zs))
      candidates.push({ label: `n ${n}, q ${q}, zoneScale ${zs}`, cfg: { ...c, locator: 'auto' } })
    }
    for (const grid of grids) {
      const res = leaveOneTrackOut(set, base, candidates, grid)
      out[`loto-${grid}`] = res
      if (json) continue
      console.log(`\nleave one track out, ${grid}: for each track the best of ${candidates.length} settings (path-loss exponent, smoothing q, zone scale) on the other tracks, scored on it`)
      const rows = [trackRow('held-out tracks together', combine(res.map((r) => r.score))), ...res.map((r) => trackRow(`  ${r.track} (${r.chosen})`, r.score))]
      print(TRACK_HEAD, rows)
    }
  }
  return out
}

function statics(dir: string, base: PresenceConfig, which: string, locators: LocatorChoice[], smoothings: SmootherName[], json: boolean): unknown {
  const results: { dataset: string; locator: string; smoothing: string; result: EvalResult | BaselineResult }[] = []
  for (const ds of staticDatasets(dir, which)) {
    if (!json) console.log(`\n${ds.name}: ${ds.sequences.length} zones, ${ds.sequences.reduce((n, s) => n + s.scans.length, 0)} scans, ${ds.layout.anchors.length} anchors; ${ds.notes}`)
    const rows: string[][] = []
    const placed = ds.layout.anchors.some((x) => x.x !== undefined)
    for (const locator of locators) {
      if ((locator === 'position' || locator === 'centroid') && !placed) continue
      for (const smoothing of smoothings) {
        const cfg: PresenceConfig = { ...base, locator, smoothing: { ...base.smoothing, kind: smoothing } }
        const r = evaluate({ layout: ds.layout, sequences: ds.sequences }, cfg)
        results.push({ dataset: ds.name, locator, smoothing, result: r })
        const label = locator === 'auto' ? `auto (${placed && ds.layout.zones.some((z) => z.polygon) ? 'position' : 'strongest'}, uncalibrated)` : locator === 'fingerprint' ? 'fingerprint (calibrated)' : locator
        rows.push([label, smoothing, f2(r.single.accuracy), f2(r.streaming.accuracy), f2(r.streaming.top2), f2(r.stationary.changesPerMinute), `${f1(r.walk.detectP50)} / ${f1(r.walk.detectP90)}`, `${r.walk.missed} / ${r.walk.pairs}`, `${f1(r.walk.dwellErrP50)} / ${f1(r.walk.dwellErrP90)}`])
      }
    }
    for (const b of ['strongest', 'centroid'] as const) {
      if (b === 'centroid' && !placed) continue
      const r = evaluateBaseline(ds, b)
      results.push({ dataset: ds.name, locator: `${b} baseline`, smoothing: '2 s mean', result: r })
      rows.push([b === 'strongest' ? 'strongest anchor, 2 s' : 'weighted centroid of 3, 2 s', '2 s mean', '', f2(r.accuracy), '', f2(r.stillChangesPerMinute), '', '', ''])
    }
    if (!json) print(['locator', 'smoothing', 'single acc', 'stream acc', 'stream top2', 'changes/min still', 'detect s p50 / p90', 'walks missed', 'dwell err s p50 / p90'], rows)
  }
  if (!json) console.log('\nsplit: the first 70% of each zone\'s scans (in time order) calibrate, the last 30% test; scans replayed 1 a second')
  return results
}

function main(): void {
  const a = args(process.argv.slice(2))
  const dir = resolve(a.get('data')?.[0] ?? '../shared/data')
  const which = a.get('dataset')?.[0] ?? 'all'
  if (!existsSync(dir) && which !== 'demo') {
    console.error(`no datasets at ${dir}: pass --data <folder holding ${TETAM}, ble-rssi-esiiab-sectors and ble-rssi-uci-waldo-library>`)
    process.exitCode = 2
    return
  }
  let base: PresenceConfig = loadConfig({ env: {} }).config.presence
  for (const s of a.get('set') ?? []) {
    const at = s.indexOf('=')
    if (at < 1) throw new Error(`--set wants key=value, got ${s}`)
    base = withSetting(base, s.slice(0, at), s.slice(at + 1))
  }
  const json = a.has('json')
  const out: Record<string, unknown> = { presence: base }
  if (which === 'all' || which === 'tracks') {
    if (existsSync(join(dir, TETAM))) {
      const locators = (a.get('locator')?.[0]?.split(',') ?? ['auto', 'strongest', 'centroid']) as LocatorChoice[]
      out.tracks = tracks(dir, base, locators.filter((l) => l !== 'fingerprint'), a.get('grid')?.[0]?.split(',') ?? Object.keys(GRIDS), a.has('per-track'), a.has('loto'), json)
    } else if (which === 'tracks') {
      console.error(`no ${TETAM} under ${dir}`)
      process.exitCode = 2
      return
    }
  }
  if (which !== 'tracks') {
    const locators = (a.get('locator')?.[0]?.split(',') ?? ['auto', 'strongest', 'centroid', 'position', 'fingerprint']) as LocatorChoice[]
    const smoothings = (a.get('smoothing')?.[0]?.split(',') ?? [base.smoothing.kind]) as SmootherName[]
    out.static = statics(dir, base, which, locators, smoothings, json)
  }
  if (json) console.log(JSON.stringify(out, null, 2))
  else console.log(`\npresence settings: ${JSON.stringify(base)}`)
}

main()
