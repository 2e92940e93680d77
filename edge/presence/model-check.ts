/**
 * Checking a fingerprint model before it goes live: each zone's calibration fingerprints are split by time
 * (first 70% build, last 30% test) and the test ones are classified one by one. A model is only activated
 * when every zone has enough samples and the check passes.
 */
import { FingerprintLocator, buildFingerprintModel, type Fingerprint, type FingerprintModelData } from './locators.js'
import type { AnchorTable, Readings } from './types.js'

export interface ModelCheck {
  zones: { zone: string; samples: number; tested: number; accuracy: number }[]
  accuracy: number
  problems: string[]
}

export const MIN_SAMPLES_PER_ZONE = 10

export function checkFingerprints(prints: readonly Fingerprint[], opts: { k: number; bandwidth: number; share?: number }): ModelCheck {
  const byZone = new Map<string, Fingerprint[]>()
  for (const p of prints) byZone.set(p.zone, [...(byZone.get(p.zone) ?? []), p])
  const problems: string[] = []
  if (byZone.size < 2) problems.push(`calibrate at least 2 zones (have ${byZone.size})`)
  for (const [zone, list] of byZone) if (list.length < MIN_SAMPLES_PER_ZONE) problems.push(`zone ${zone} has ${list.length} samples; record at least ${MIN_SAMPLES_PER_ZONE} (10 s of walking)`)
  const train: Fingerprint[] = []
  const test: Fingerprint[] = []
  for (const list of byZone.values()) {
    const cut = Math.max(1, Math.floor(list.length * (opts.share ?? 0.7)))
    train.push(...list.slice(0, cut))
    test.push(...list.slice(cut))
  }
  const model = buildFingerprintModel(train, { k: opts.k })
  const zones = [...byZone.keys()].sort()
  const anchors = model.anchors
  const table: AnchorTable = { ids: anchors, zones: anchors.map(() => ''), x: new Float64Array(anchors.length).fill(NaN), y: new Float64Array(anchors.length).fill(NaN), txPower: new Float64Array(anchors.length).fill(NaN) }
  const loc = new FingerprintLocator(model, 0, opts.bandwidth)
  loc.setLayout({ zones: zones.map((id) => ({ id })), anchors: [] }, table)
  const scores = new Float64Array(zones.length)
  const perZone = new Map<string, { tested: number; ok: number }>()
  const col = new Map(anchors.map((a, i) => [a, i]))
  for (const p of test) {
    const entries = Object.entries(p.rssi).filter(([a]) => col.has(a))
    const r: Readings = { buf: new Float64Array(entries.length * 3), n: entries.length, stride: 3 }
    entries.forEach(([a, v], i) => { r.buf[i * 3] = col.get(a)!; r.buf[i * 3 + 1] = 0; r.buf[i * 3 + 2] = v })
    const z = perZone.get(p.zone) ?? { tested: 0, ok: 0 }
    z.tested++
    if (loc.score(r, 0, scores)) {
      let best = 0
      for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i
      if (zones[best] === p.zone) z.ok++
    }
    perZone.set(p.zone, z)
  }
  const rows = zones.map((zone) => {
    const z = perZone.get(zone) ?? { tested: 0, ok: 0 }
    return { zone, samples: byZone.get(zone)!.length, tested: z.tested, accuracy: z.tested ? z.ok / z.tested : 0 }
  })
  const tested = rows.reduce((n, r) => n + r.tested, 0)
  return { zones: rows, accuracy: tested ? rows.reduce((n, r) => n + r.accuracy * r.tested, 0) / tested : 0, problems }
}

export function buildCheckedModel(prints: readonly Fingerprint[], opts: { k: number; bandwidth: number }): { model: FingerprintModelData; check: ModelCheck } {
  return { model: buildFingerprintModel(prints, { k: opts.k }), check: checkFingerprints(prints, opts) }
}
