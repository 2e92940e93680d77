/**
 * Evaluation of a presence configuration on labelled recordings (used by `npm run replay` and by the
 * calibration's own check). Each zone's scans are split by time: the first 70% calibrate, the last 30% test.
 * It feeds scans through the same engine the gateway runs and measures:
 *  - single-sample accuracy and top-2 accuracy (each test scan alone, nothing smoothed)
 *  - streaming accuracy (each zone's test scans in order, 1 a second, through smoothing, locator and zone filter)
 *  - zone changes per minute while standing still (the streaming runs, each zone held for two minutes)
 *  - a walk from each zone to the next: seconds until the new zone is reported, and the dwell-start error
 *    (when the dwell event fires against when the shopper had really stood there for the zone's threshold)
 */
import type { Layout } from '../contract/resources.js'
import { CalibrationRecorder } from './calibration.js'
import { Presence } from './engine.js'
import { buildFingerprintModel, type Fingerprint, type FingerprintModelData } from './locators.js'
import { locatorPolicy, type PresenceConfig } from './factory.js'
import { makeSmoother } from './smoothing.js'
import type { ZoneEvent } from './types.js'

export interface EvalScan { ts: number; readings: { anchor: string; rssi: number }[] }
export interface EvalSequence { zone: string; scans: EvalScan[] }
export interface EvalData { layout: Layout; sequences: EvalSequence[] }

export interface EvalResult {
  single: { accuracy: number; top2: number; n: number }
  streaming: { accuracy: number; top2: number; n: number }
  stationary: { changesPerMinute: number; minutes: number }
  walk: { pairs: number; detectP50: number; detectP90: number; detectMax: number; missed: number; dwellErrP50: number; dwellErrP90: number }
  calibration: { fingerprints: number }
}

const SCAN_MS = 1000
const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!
}

export function splitByTime(seqs: EvalSequence[], share = 0.7): { cal: EvalSequence[]; test: EvalSequence[] } {
  const cal: EvalSequence[] = []
  const test: EvalSequence[] = []
  for (const s of seqs) {
    const cut = Math.max(1, Math.min(s.scans.length - 1, Math.floor(s.scans.length * share)))
    cal.push({ zone: s.zone, scans: s.scans.slice(0, cut) })
    test.push({ zone: s.zone, scans: s.scans.slice(cut) })
  }
  return { cal, test }
}

/** `seconds` of scans for a zone, cycling its recorded scans (a shopper standing there). */
function hold(seq: EvalSequence, seconds: number, t0: number): EvalScan[] {
  const out: EvalScan[] = []
  for (let i = 0; i < seconds; i++) out.push({ ts: t0 + i * SCAN_MS, readings: seq.scans[i % seq.scans.length]!.readings })
  return out
}

function engine(layout: Layout, cfg: PresenceConfig, model: FingerprintModelData | null, emit: (e: ZoneEvent) => void = () => {}): Presence {
  return new Presence(layout, cfg, emit, { smoother: makeSmoother(cfg.smoothing.kind, cfg.smoothing), policy: locatorPolicy(cfg, model) })
}

function feed(p: Presence, subject: string, scan: EvalScan): void {
  for (const r of scan.readings) p.observeRaw(subject, r.anchor, r.rssi, scan.ts)
}

/** Fingerprints the calibration walk records: the engine's smoothed vectors, once a second. */
export function recordCalibration(layout: Layout, cfg: PresenceConfig, cal: EvalSequence[]): Fingerprint[] {
  const prints: Fingerprint[] = []
  cal.forEach((seq, k) => {
    const p = engine(layout, { ...cfg, locator: 'strongest' }, null)
    const subject = `cal-${k}`
    const rec = new CalibrationRecorder({ zone: seq.zone, subject, startedAt: 0, seconds: seq.scans.length })
    seq.scans.forEach((scan, i) => {
      const s = { ts: i * SCAN_MS, readings: scan.readings }
      feed(p, subject, s)
      rec.sample(p, s.ts)
    })
    prints.push(...rec.prints)
  })
  return prints
}

export function evaluate(data: EvalData, cfg: PresenceConfig, opts: { share?: number; dwellSeconds?: number } = {}): EvalResult {
  const { cal, test } = splitByTime(data.sequences, opts.share ?? 0.7)
  const layout = data.layout
  const dwellSeconds = opts.dwellSeconds ?? 10
  const ecfg: PresenceConfig = { ...cfg, defaultDwellSeconds: dwellSeconds }
  const layoutNoDwell: Layout = { ...layout, zones: layout.zones.map(({ dwellSeconds: _d, ...z }) => z) }

  // single samples: fingerprints are the raw calibration scans
  const rawPrints: Fingerprint[] = cal.flatMap((s) => s.scans.map((scan) => ({ zone: s.zone, rssi: Object.fromEntries(scan.readings.map((r) => [r.anchor, r.rssi])) })))
  const singleModel = cfg.locator === 'fingerprint' ? buildFingerprintModel(rawPrints, { k: cfg.knn }) : null
  const single = engine(layoutNoDwell, ecfg, singleModel)
  let n1 = 0, ok1 = 0, ok1top2 = 0
  test.forEach((seq) => seq.scans.forEach((scan) => {
    const subject = `single-${n1}`
    feed(single, subject, { ts: 0, readings: scan.readings })
    const ranked = single.rankNow(subject, 2)
    n1++
    if (ranked[0] === seq.zone) ok1++
    if (ranked.includes(seq.zone)) ok1top2++
    single.forget(subject)
  }))

  // streaming: the calibration walk records smoothed fingerprints, the test scans stream through the engine
  const prints = cfg.locator === 'fingerprint' ? recordCalibration(layoutNoDwell, ecfg, cal) : []
  const model = cfg.locator === 'fingerprint' ? buildFingerprintModel(prints, { k: cfg.knn }) : null
  let n2 = 0, ok2 = 0, ok2top2 = 0, changes = 0, heldMs = 0
  test.forEach((seq, k) => {
    const p = engine(layoutNoDwell, ecfg, model)
    const subject = `stream-${k}`
    let last: string | null = null
    // the real test scans in order, scored one by one
    seq.scans.forEach((scan, i) => {
      feed(p, subject, { ts: i * SCAN_MS, readings: scan.readings })
      const z = p.zoneOf(subject)
      n2++
      if (z === seq.zone) ok2++
      if (p.rank(subject, 2).includes(seq.zone)) ok2top2++
    })
    // standing still for two minutes (the test scans, cycled): count zone changes
    const p2 = engine(layoutNoDwell, ecfg, model)
    for (const scan of hold(seq, 120, 0)) {
      feed(p2, subject, scan)
      const z = p2.zoneOf(subject)
      if (z !== null && last !== null && z !== last) changes++
      if (z !== null) last = z
    }
    heldMs += 120 * SCAN_MS
  })

  // walks: each zone to the next in the dataset's order (mostly neighbours), 40 s in each
  const detect: number[] = []
  const dwellErr: number[] = []
  let missed = 0
  for (let k = 0; k < test.length; k++) {
    const a = test[k]!
    const b = test[(k + 1) % test.length]!
    if (a.zone === b.zone) continue
    const events: ZoneEvent[] = []
    const p = engine(layoutNoDwell, ecfg, model, (e) => events.push(e))
    const subject = `walk-${k}`
    const switchAt = 40 * SCAN_MS
    let detectedAt: number | null = null
    for (const scan of [...hold(a, 40, 0), ...hold(b, 40, switchAt)]) {
      feed(p, subject, scan)
      if (detectedAt === null && scan.ts >= switchAt && p.zoneOf(subject) === b.zone) detectedAt = scan.ts
    }
    if (detectedAt === null) { missed++; continue }
    detect.push((detectedAt - switchAt) / 1000)
    const dwell = events.find((e) => e.state === 'dwell' && e.zone === b.zone && e.ts >= switchAt)
    if (dwell) dwellErr.push((dwell.ts - (switchAt + dwellSeconds * 1000)) / 1000)
  }
  return {
    single: { accuracy: ok1 / n1, top2: ok1top2 / n1, n: n1 },
    streaming: { accuracy: ok2 / n2, top2: ok2top2 / n2, n: n2 },
    stationary: { changesPerMinute: changes / (heldMs / 60_000), minutes: heldMs / 60_000 },
    walk: { pairs: detect.length + missed, detectP50: pct(detect, 0.5), detectP90: pct(detect, 0.9), detectMax: detect.length ? Math.max(...detect) : Number.NaN, missed, dwellErrP50: pct(dwellErr.map(Math.abs), 0.5), dwellErrP90: pct(dwellErr.map(Math.abs), 0.9) },
    calibration: { fingerprints: prints.length },
  }
}
