/**
 * The two simple baselines of the replay, on the static (fingerprint) recordings, over the same test scans and
 * in the same streaming order as evaluate()'s streaming accuracy (1 scan a second): the strongest anchor over
 * the last 2 s, and the weighted centroid of the 3 strongest mean RSSI over 2 s (weights 10^(rssi/10)), placed
 * in the zone whose polygon holds it (or the nearest one). Standing still: the same test scans cycled for two
 * minutes, zone changes counted.
 */
import type { Layout } from '../../edge/contract/resources.js'
import { splitByTime, type EvalSequence } from '../../edge/presence/evaluate.js'
import { edgeDistance, inside } from '../../edge/presence/floor.js'

export type BaselineName = 'strongest' | 'centroid'
export interface BaselineResult { accuracy: number; n: number; stillChangesPerMinute: number }

type Scan = EvalSequence['scans'][number]

function zoneOfPoint(layout: Layout, x: number, y: number): string | null {
  let best: string | null = null
  let bestD = Infinity
  for (const z of layout.zones) {
    const p = z.polygon as [number, number][] | undefined
    if (!p || p.length < 3) continue
    const d = inside(x, y, p) ? 0 : edgeDistance(x, y, p)
    if (d < bestD) { bestD = d; best = z.id }
  }
  return best
}

/** A baseline's zone for the scans of the last 2 s (null: nothing usable heard). */
export function baselineZone(layout: Layout, name: BaselineName, recent: readonly Scan[]): string | null {
  const acc = new Map<string, { s: number; n: number }>()
  for (const scan of recent) for (const r of scan.readings) {
    const a = acc.get(r.anchor) ?? { s: 0, n: 0 }
    a.s += r.rssi
    a.n++
    acc.set(r.anchor, a)
  }
  const anchors = new Map(layout.anchors.map((a) => [a.id, a]))
  const means = [...acc].map(([id, a]) => ({ id, v: a.s / a.n, a: anchors.get(id) })).filter((m) => m.a !== undefined).sort((p, q) => q.v - p.v)
  if (name === 'strongest') {
    for (const m of means) {
      if (m.a!.zone !== undefined) return m.a!.zone
      if (m.a!.x !== undefined && m.a!.y !== undefined) { const z = zoneOfPoint(layout, m.a!.x, m.a!.y); if (z) return z }
    }
    return null
  }
  const top = means.filter((m) => m.a!.x !== undefined && m.a!.y !== undefined).slice(0, 3)
  if (top.length === 0) return null
  let x = 0, y = 0, w = 0
  for (const m of top) { const wi = 10 ** ((m.v - top[0]!.v) / 10); x += wi * m.a!.x!; y += wi * m.a!.y!; w += wi }
  return zoneOfPoint(layout, x / w, y / w)
}

export function evaluateBaseline(data: { layout: Layout; sequences: EvalSequence[] }, name: BaselineName, share = 0.7): BaselineResult {
  const { test } = splitByTime(data.sequences, share)
  let n = 0, ok = 0, changes = 0, minutes = 0
  for (const seq of test) {
    seq.scans.forEach((scan, i) => {
      n++
      if (baselineZone(data.layout, name, [seq.scans[i - 1], scan].filter((s): s is Scan => s !== undefined)) === seq.zone) ok++
    })
    let last: string | null = null
    for (let i = 0; i < 120; i++) {
      const cur = seq.scans[i % seq.scans.length]!
      const prev = i > 0 ? seq.scans[(i - 1) % seq.scans.length] : undefined
      const z = baselineZone(data.layout, name, prev ? [prev, cur] : [cur])
      if (z !== null && last !== null && z !== last) changes++
      if (z !== null) last = z
    }
    minutes += 2
  }
  return { accuracy: n ? ok / n : 0, n, stillChangesPerMinute: changes / minutes }
}
