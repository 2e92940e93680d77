/**
 * npm run bench:presence
 *
 * Store scale: 2,000 subjects, 60 anchors (20 zones x 3 scanners), each subject heard by the 9 anchors of its
 * zone and the two neighbouring zones once a second, moving to a neighbouring zone every minute. Readings go
 * through smoothing, locating, the zone filter and dwell tracking on one core, in virtual time. Prints
 * readings/s per locator (and the cost of just walking the readings, as a floor), p50/p99 time of one
 * second's batch for one subject, and heap bytes per tracked subject. Run with --expose-gc for memory.
 */
import type { Layout } from '../../edge/contract/resources.js'
import { loadConfig } from '../../edge/config/load.js'
import { Presence } from '../../edge/presence/engine.js'
import { buildPresence, makeLocator, type PresenceConfig } from '../../edge/presence/factory.js'
import { buildFingerprintModel, type Fingerprint } from '../../edge/presence/locators.js'
import { makeSmoother } from '../../edge/presence/smoothing.js'
import type { LocatorName } from '../../edge/presence/types.js'
import { Rng } from '../../devices/simulator/rng.js'
import { percentile, table } from './lib.js'

const SUBJECTS = 2000
const ZONES = 20
const SECONDS = Number(process.argv.find((a) => a.startsWith('--seconds='))?.split('=')[1] ?? 60)
const rect = (x0: number, y0: number): [number, number][] => [[x0, y0], [x0 + 6, y0], [x0 + 6, y0 + 6], [x0, y0 + 6]]
const layout: Layout = {
  zones: Array.from({ length: ZONES }, (_, z) => ({ id: `z-${z}`, polygon: rect((z % 5) * 6, Math.floor(z / 5) * 6) })),
  anchors: Array.from({ length: ZONES * 3 }, (_, i) => {
    const z = i % ZONES
    return { id: `scn-${i}`, kind: 'scanner' as const, zone: `z-${z}`, x: (z % 5) * 6 + 1 + Math.floor(i / ZONES) * 2, y: Math.floor(z / 5) * 6 + 3, txPower: -59 }
  }),
}
const rng = new Rng(1)
/** the 9 anchors that hear a subject in zone z, with a typical RSSI */
function heard(z: number): { anchor: string; base: number }[] {
  const out: { anchor: string; base: number }[] = []
  for (const [dz, base] of [[0, -60], [1, -78], [ZONES - 1, -80]] as const) for (let k = 0; k < 3; k++) out.push({ anchor: `scn-${k * ZONES + ((z + dz) % ZONES)}`, base })
  return out
}
const cfg: PresenceConfig = loadConfig({ env: {} }).config.presence
// a calibration the size a store would have: a minute in each zone
const prints: Fingerprint[] = []
for (let z = 0; z < ZONES; z++) for (let s = 0; s < 60; s++) prints.push({ zone: `z-${z}`, rssi: Object.fromEntries(heard(z).map((h) => [h.anchor, h.base + rng.gauss() * 3])) })
const model = buildFingerprintModel(prints, { k: cfg.knn })

// the whole feed, built up front: [subject, anchor, rssi, ts]
const subjects = Array.from({ length: SUBJECTS }, (_, i) => `watch:s${i}`)
const feed: { s: string; a: string; r: number; t: number }[] = []
const zoneOf = subjects.map((_, i) => i % ZONES)
for (let sec = 0; sec < SECONDS; sec++) {
  for (let i = 0; i < SUBJECTS; i++) {
    if (sec > 0 && (sec + i) % 60 === 0) zoneOf[i] = (zoneOf[i]! + 1) % ZONES
    for (const h of heard(zoneOf[i]!)) feed.push({ s: subjects[i]!, a: h.anchor, r: Math.round(h.base + rng.gauss() * 4), t: sec * 1000 + (i % 1000) })
  }
}

const gc = (globalThis as { gc?: () => void }).gc
const heap = () => { gc?.(); gc?.(); return process.memoryUsage().heapUsed }
const rows: Record<string, string | number>[] = []

{
  // floor: walking the same readings without the engine
  let x = 0
  const t0 = performance.now()
  for (const f of feed) x += f.r + f.s.length + f.a.length
  const ms = performance.now() - t0
  rows.push({ locator: '(walk the readings only)', 'readings/s': Math.round(feed.length / (ms / 1000)).toLocaleString('en'), 'us per subject-second p50/p99': '', 'bytes/subject': '', 'zone events': x > 0 ? 0 : 0 })
}

/** heap bytes per tracked subject: an engine fed 10 s of readings, measured against an empty one */
function bytesPerSubject(name: LocatorName): number | null {
  if (!gc) return null
  const p = new Presence(layout, cfg, () => {}, { smoother: makeSmoother(cfg.smoothing.kind, cfg.smoothing), locator: makeLocator(name, cfg, model) })
  const slots = layout.anchors.map((a) => p.anchorSlot(a.id))
  const index = new Map(layout.anchors.map((a, i) => [a.id, i]))
  const before = heap()
  for (const f of feed) {
    if (f.t >= 10_000) break
    p.observeAt(f.s, slots[index.get(f.a)!]!, f.r, f.t)
  }
  const after = heap()
  return (after - before) / p.trackedSubjects
}

// the default locator (auto) chooses for this layout as the gateway would
const auto = buildPresence(cfg, layout, () => {}, null).engine.locator.name as LocatorName
for (const name of ['strongest', 'fingerprint', 'position', 'centroid'] as LocatorName[]) {
  let events = 0
  const bytes = bytesPerSubject(name)
  const p = new Presence(layout, cfg, () => { events++ }, { smoother: makeSmoother(cfg.smoothing.kind, cfg.smoothing), locator: makeLocator(name, cfg, model) })
  const slots = new Map(layout.anchors.map((a) => [a.id, p.anchorSlot(a.id)]))
  // warm up on the first 10 s, then measure
  const warm = feed.findIndex((f) => f.t >= 10_000)
  for (let i = 0; i < warm; i++) { const f = feed[i]!; p.observeAt(f.s, slots.get(f.a)!, f.r, f.t) }
  const perSubjectSecond: number[] = []
  let tickAt = 10_000
  const t0 = performance.now()
  let batchStart = performance.now()
  for (let i = warm; i < feed.length; i++) {
    const f = feed[i]!
    p.observeAt(f.s, slots.get(f.a)!, f.r, f.t)
    if ((i - warm) % 9 === 8) { const now = performance.now(); perSubjectSecond.push((now - batchStart) * 1000); batchStart = now }
    if (f.t >= tickAt) { p.tick(f.t); tickAt += 500 }
  }
  const ms = performance.now() - t0
  const sorted = Float64Array.from(perSubjectSecond).sort()
  rows.push({
    locator: name === auto ? `${name} (the default here)` : name,
    'readings/s': Math.round((feed.length - warm) / (ms / 1000)).toLocaleString('en'),
    'us per subject-second p50/p99': `${percentile(sorted, 50).toFixed(1)}/${percentile(sorted, 99).toFixed(1)}`,
    'bytes/subject': bytes === null ? 'run with --expose-gc' : Math.round(bytes).toLocaleString('en'),
    'zone events': events,
  })
}
console.log(`presence benchmark: ${SUBJECTS} subjects, ${layout.anchors.length} anchors, 9 readings per subject per second, ${SECONDS} s of store time (${feed.length.toLocaleString('en')} readings), one core; smoothing ${cfg.smoothing.kind}, locate every ${cfg.locateEveryMs} ms, fingerprint model ${model.samples.length} fingerprints`)
console.log(table(rows))
