/** Presence parts on their own: smoothers, locators, the zone filter, calibration, evaluation. */
import t from 'tap'
import type { Layout } from '../../edge/contract/resources.js'
import { CalibrationRecorder } from '../../edge/presence/calibration.js'
import { Presence, zoneAdjacency } from '../../edge/presence/engine.js'
import { evaluate, splitByTime, type EvalSequence } from '../../edge/presence/evaluate.js'
import { buildPresence, type PresenceConfig } from '../../edge/presence/factory.js'
import { FingerprintLocator, StrongestAnchorLocator, buildFingerprintModel } from '../../edge/presence/locators.js'
import { CentroidLocator, PositionLocator } from '../../edge/presence/tracking.js'
import { checkFingerprints } from '../../edge/presence/model-check.js'
import { EmaSmoother, KalmanSmoother, PercentileSmoother } from '../../edge/presence/smoothing.js'
import type { AnchorTable, Readings, ZoneEvent } from '../../edge/presence/types.js'
import { Rng } from '../../devices/simulator/rng.js'

t.test('kalman: smooths, rejects outliers, follows a real change', async (t) => {
  const k = new KalmanSmoother(0.2, 16, 2.5, 3)
  const b = new Float64Array(3)
  k.init(b, 0, -60)
  for (let i = 0; i < 10; i++) k.update(b, 0, i % 2 ? -58 : -62, 1000)
  t.ok(Math.abs(b[0]! - -60) < 1.5, `steady near -60 (${b[0]!.toFixed(1)})`)
  t.equal(k.update(b, 0, -95, 1000), false, 'a 35 dB dip is an outlier')
  t.ok(Math.abs(b[0]! - -60) < 1.5, 'and does not move the estimate')
  k.update(b, 0, -80, 1000)
  k.update(b, 0, -80, 1000)
  t.equal(k.update(b, 0, -80, 1000), true, 'three in a row: the signal really moved')
  t.equal(b[0], -80, 'restarted at the new level')
})

t.test('percentile window and ema', async (t) => {
  const p = new PercentileSmoother(5, 0.5)
  const b = new Float64Array(3 + p.stateSize)
  p.init(b, 0, -60)
  for (const v of [-61, -90, -59, -60]) p.update(b, 0, v)
  t.equal(b[0], -60, 'median ignores the -90')
  for (const v of [-80, -80, -80]) p.update(b, 0, v)
  t.equal(b[0], -80, 'follows once the majority moved')
  const e = new EmaSmoother(0.5)
  const c = new Float64Array(3)
  e.init(c, 0, -60)
  e.update(c, 0, -70)
  t.equal(c[0], -65)
})

function readings(entries: [number, number][], ts = 0): Readings {
  const buf = new Float64Array(entries.length * 3)
  entries.forEach(([a, v], i) => { buf[i * 3] = a; buf[i * 3 + 1] = ts; buf[i * 3 + 2] = v })
  return { buf, n: entries.length, stride: 3 }
}
const table = (ids: string[], zones: string[], xy?: [number, number][]): AnchorTable => ({
  ids, zones, x: Float64Array.from(ids, (_, i) => xy?.[i]?.[0] ?? NaN), y: Float64Array.from(ids, (_, i) => xy?.[i]?.[1] ?? NaN), txPower: new Float64Array(ids.length).fill(NaN),
})
const layout: Layout = {
  zones: [{ id: 'a', polygon: [[0, 0], [5, 0], [5, 5], [0, 5]] }, { id: 'b', polygon: [[5, 0], [10, 0], [10, 5], [5, 5]] }],
  anchors: [{ id: 'sa', kind: 'scanner', zone: 'a', x: 2.5, y: 2.5 }, { id: 'sb', kind: 'scanner', zone: 'b', x: 7.5, y: 2.5 }],
}

t.test('strongest anchor scores', async (t) => {
  const l = new StrongestAnchorLocator(3, 0)
  l.setLayout(layout, table(['sa', 'sb'], ['a', 'b']))
  const out = new Float64Array(2)
  t.ok(l.score(readings([[0, -55], [1, -70]]), 0, out))
  t.ok(out[0]! > out[1]! * 100, 'the clearly stronger zone dominates')
  l.score(readings([[0, -60], [1, -61]]), 0, out)
  t.ok(out[1]! > 0.5 * out[0]!, 'a 1 dB difference is no clear winner')
  t.notOk(l.score(readings([]), 0, out), 'nothing heard: no scores')
  // silence decay: an anchor unheard for 5 s loses 4 x 3 dB
  const d = new StrongestAnchorLocator(3, 3)
  d.setLayout(layout, table(['sa', 'sb'], ['a', 'b']))
  const r = readings([[0, -55], [1, -60]])
  r.buf[1] = -5000 // anchor a last heard 5 s before now
  d.score(r, 0, out)
  t.ok(out[1]! > out[0]!, 'a silent anchor fades')
})

t.test('fingerprint k-NN', async (t) => {
  const prints = [
    ...Array.from({ length: 20 }, (_, i) => ({ zone: 'a', rssi: { sa: -55 - (i % 3), sb: -75 + (i % 2) } })),
    ...Array.from({ length: 20 }, (_, i) => ({ zone: 'b', rssi: { sa: -76 + (i % 2), sb: -54 - (i % 3) } })),
  ]
  const model = buildFingerprintModel(prints, { k: 5 })
  t.same(model.anchors, ['sa', 'sb'])
  const l = new FingerprintLocator(model, 0, 6)
  l.setLayout(layout, table(['sa', 'sb'], ['a', 'b']))
  const out = new Float64Array(2)
  l.score(readings([[0, -56], [1, -74]]), 0, out)
  t.ok(out[0]! > out[1]!, 'near a fingerprints')
  l.score(readings([[1, -55]]), 0, out)
  t.ok(out[1]! > out[0]!, 'an unheard anchor counts as the floor')
  t.notOk(new FingerprintLocator().ready(), 'no model: not ready')
  const check = checkFingerprints(prints, { k: 5, bandwidth: 6 })
  t.equal(check.accuracy, 1)
  t.same(check.problems, [])
  t.match(checkFingerprints(prints.slice(0, 5), { k: 5, bandwidth: 6 }).problems.join(), /at least 2 zones/)
})

t.test('position locator: a fix from the log-distance model, tracked', async (t) => {
  // noiseless readings: a tight likelihood (sigmaDb 3) so that the fix is the model's answer, not the floor's middle
  const l = new PositionLocator({ pathLossExponent: 2, sigmaDb: 3, silenceDecay: 0, learnOffsets: false })
  const lay: Layout = { zones: layout.zones, anchors: [{ id: 'p1', kind: 'beacon', x: 0, y: 0 }, { id: 'p2', kind: 'beacon', x: 10, y: 0 }, { id: 'p3', kind: 'beacon', x: 5, y: 8 }, { id: 'p4', kind: 'beacon', x: 5, y: -3 }] }
  l.setLayout(lay, table(['p1', 'p2', 'p3', 'p4'], ['', '', '', ''], [[0, 0], [10, 0], [5, 8], [5, -3]]))
  t.ok(l.ready())
  // a subject at (8, 2): RSSI by the model with P0 -59, n = 2
  const rssi = (x: number, y: number, a: [number, number]) => -59 - 20 * Math.log10(Math.hypot(x - a[0], y - a[1]))
  const at = (x: number, y: number, ts = 0) => readings([[0, rssi(x, y, [0, 0])], [1, rssi(x, y, [10, 0])], [2, rssi(x, y, [5, 8])], [3, rssi(x, y, [5, -3])]], ts)
  const track = new Float64Array(l.stateSize)
  const out = new Float64Array(2)
  let r = at(8, 2)
  r.track = track
  t.ok(l.score(r, 0, out))
  const p = l.position(r)!
  t.ok(Math.hypot(p.x - 8, p.y - 2) < 1, `first fix near the subject (${p.x.toFixed(2)}, ${p.y.toFixed(2)})`)
  t.ok(out[1]! > out[0]!, 'in zone b')
  // walking from (8, 2) to (2, 2) at 1 m/s: the track follows, and the zone changes once it is well inside a
  let zoneA = -1
  for (let s = 1; s <= 8; s++) {
    const x = Math.max(2, 8 - s)
    r = at(x, 2, s * 1000)
    r.track = track
    l.score(r, s * 1000, out)
    if (zoneA < 0 && out[0]! > out[1]!) zoneA = s
  }
  const q = l.position(r)!
  t.ok(Math.hypot(q.x - 2, q.y - 2) < 1.5, `followed the walk (${q.x.toFixed(2)}, ${q.y.toFixed(2)})`)
  t.ok(zoneA > 0 && zoneA <= 5, `zone a leads ${zoneA} s after leaving (8, 2) (the boundary at x = 5 is crossed at 3 s)`)
  t.ok(track[0] === 1, 'the track lives in the subject state the engine hands over')
})

t.test('centroid locator', async (t) => {
  const l = new CentroidLocator(0)
  const lay: Layout = { zones: layout.zones, anchors: layout.anchors }
  l.setLayout(lay, table(['sa', 'sb'], ['a', 'b'], [[2.5, 2.5], [7.5, 2.5]]))
  const out = new Float64Array(2)
  t.ok(l.score(readings([[0, -70], [1, -60]]), 0, out))
  const p = l.position(readings([[0, -70], [1, -60]]), 0)!
  t.ok(p.x > 7 && p.x < 7.5, `pulled hard towards the stronger anchor (${p.x.toFixed(2)})`)
  t.ok(out[1]! > out[0]!)
})

const opts = { staleSeconds: 8, defaultDwellSeconds: 10, exitGraceSeconds: 6, stayProbability: 0.9, switchMargin: 0.3, evidenceFloor: 0.3, locateEveryMs: 1000 }

t.test('zone filter: one odd second does not move a subject; a real move does within seconds', async (t) => {
  const ev: ZoneEvent[] = []
  const p = new Presence(layout, opts, (e) => ev.push(e), { smoother: new EmaSmoother(0.6), locator: new StrongestAnchorLocator(3, 0) })
  const at = (s: number, a: number, b: number) => { p.observeRaw('x', 'sa', a, s * 1000); p.observeRaw('x', 'sb', b, s * 1000) }
  for (let s = 0; s < 20; s++) at(s, s === 10 ? -80 : -55, s === 10 ? -55 : -75) // one odd scan at 10 s
  t.same(ev.filter((e) => e.state === 'enter').map((e) => e.zone), ['a'], 'stays in a')
  for (let s = 20; s < 30; s++) at(s, -78, -55)
  const move = ev.find((e) => e.state === 'enter' && e.zone === 'b')
  t.ok(move, 'moves to b')
  t.ok(move!.ts - 20_000 <= 5000, `within ${(move!.ts - 20_000) / 1000} s`)
  t.same(p.rank('x', 2), ['b', 'a'])
})

t.test('buildPresence falls back while a fingerprint locator has no model, and swaps the locator in later', async (t) => {
  const cfg: PresenceConfig = { ...opts, locator: 'fingerprint', smoothing: { kind: 'kalman', alpha: 0.35, q: 0.2, r: 16, gate: 2.5, window: 9, percentile: 0.5 }, marginDb: 3, pathLossExponent: 2.5, knn: 5, fingerprintBandwidth: 6, silenceDecay: 3 }
  const b = buildPresence(cfg, layout, () => {}, null)
  t.equal(b.locator, 'strongest')
  t.match(b.note, /no calibration yet/)
  const model = buildFingerprintModel([{ zone: 'a', rssi: { sa: -50, sb: -80 } }, { zone: 'b', rssi: { sa: -80, sb: -50 } }], { k: 1 })
  b.engine.setLocator(new FingerprintLocator(model, 0, 6))
  b.engine.observeRaw('y', 'sa', -80, 0)
  b.engine.observeRaw('y', 'sb', -50, 1000)
  t.equal(b.engine.zoneOf('y'), 'b')
  t.equal(buildPresence(cfg, layout, () => {}, model).locator, 'fingerprint')
})

t.test('calibration recorder', async (t) => {
  const src = { vector: (_s: string, now: number) => (now % 2000 === 0 ? { sa: -50 } : { sa: -51 }) }
  const rec = new CalibrationRecorder({ zone: 'a', subject: 's', startedAt: 0, seconds: 10 }, 3000, 1000)
  for (let now = 0; now <= 12_000; now += 250) rec.sample(src, now)
  t.equal(rec.prints.length, 8, 'one a second from 3 s (settling) to 10 s')
  t.ok(rec.done(10_000))
})

t.test('evaluation on synthetic recordings', async (t) => {
  const rng = new Rng(3)
  const seq = (zone: string, a: number, b: number): EvalSequence => ({ zone, scans: Array.from({ length: 100 }, (_, i) => ({ ts: i * 1000, readings: [{ anchor: 'sa', rssi: Math.round(a + rng.gauss() * 3) }, { anchor: 'sb', rssi: Math.round(b + rng.gauss() * 3) }] })) })
  const data = { layout, sequences: [seq('a', -55, -75), seq('b', -75, -55)] }
  const { cal, test } = splitByTime(data.sequences)
  t.equal(cal[0]!.scans.length, 70)
  t.equal(test[0]!.scans[0]!.ts, 70_000, 'split by time, not at random')
  const cfg: PresenceConfig = { ...opts, locator: 'fingerprint', smoothing: { kind: 'kalman', alpha: 0.35, q: 0.2, r: 16, gate: 2.5, window: 9, percentile: 0.5 }, marginDb: 3, pathLossExponent: 2.5, knn: 5, fingerprintBandwidth: 6, silenceDecay: 3 }
  const r = evaluate(data, cfg)
  t.ok(r.single.accuracy > 0.95, `single ${r.single.accuracy}`)
  t.ok(r.streaming.accuracy > 0.95, `streaming ${r.streaming.accuracy}`)
  t.ok(r.stationary.changesPerMinute < 0.5)
  t.ok(r.walk.detectP50 <= 5, `detect ${r.walk.detectP50}`)
  t.ok(r.calibration.fingerprints > 100)
})

const geometry: Layout = {
  zones: [{ id: 'a', polygon: [[0, 0], [6, 0], [6, 4], [0, 4]] }, { id: 'b', polygon: [[6, 0], [12, 0], [12, 4], [6, 4]] }, { id: 'c', polygon: [[12, 0], [18, 0], [18, 4], [12, 4]] }],
  anchors: [{ id: 's0', kind: 'scanner', zone: 'a', x: 0, y: 2 }, { id: 's1', kind: 'scanner', zone: 'b', x: 9, y: 2 }, { id: 's2', kind: 'scanner', zone: 'c', x: 18, y: 2 }, { id: 'btn', kind: 'button', zone: 'a' }],
}
const autoCfg: PresenceConfig = { ...opts, locator: 'auto', smoothing: { kind: 'kalman', alpha: 0.35, q: 10, r: 25, gate: 2.5, window: 9, percentile: 0.5 }, marginDb: 3, pathLossExponent: 1.8, knn: 5, fingerprintBandwidth: 6, silenceDecay: 3 }

t.test('auto: the locator is chosen again on every layout and when a calibration arrives', async (t) => {
  const b = buildPresence(autoCfg, { zones: [], anchors: [] }, () => {}, null)
  t.equal(b.locator, 'strongest', 'an empty layout at start-up: the strongest anchor')
  t.match(b.note, /auto: strongest/)
  const p = b.engine
  p.setLayout(geometry)
  t.equal(p.locator.name, 'position', 'zone polygons and three placed scanners: the position tracker')
  t.match(p.note, /auto: position locator/)
  const tracker = p.locator
  p.setLayout({ ...geometry, zones: geometry.zones.map((z) => ({ ...z })) })
  t.equal(p.locator, tracker, 'a new layout with geometry keeps the same tracker (and the gains it learned)')
  p.setLayout(layout) // two anchors only
  t.equal(p.locator.name, 'strongest', 'fewer than three placed anchors: back to the strongest anchor')
  // a calibration: fingerprints from now on, on every later layout
  const model = buildFingerprintModel([{ zone: 'a', rssi: { s0: -50, s1: -80 } }, { zone: 'b', rssi: { s0: -80, s1: -50 } }], { k: 1 })
  p.setLocator(new FingerprintLocator(model, 0, 6))
  t.equal(p.locator.name, 'fingerprint')
  p.setLayout(geometry)
  t.equal(p.locator.name, 'fingerprint', 'calibrated: fingerprints even where the layout has geometry')
  t.match(p.note, /fingerprint locator \(\d+ zones, \d+ fingerprints\)/)
  // strongest stays strongest, and a configured position tracker waits for geometry
  const s = buildPresence({ ...autoCfg, locator: 'strongest' }, geometry, () => {}, null)
  t.equal(s.locator, 'strongest')
  const q = buildPresence({ ...autoCfg, locator: 'position' }, layout, () => {}, null)
  t.equal(q.locator, 'strongest')
  t.match(q.note, /position locator not usable/)
  q.engine.setLayout(geometry)
  t.equal(q.engine.locator.name, 'position')
})

t.test('fingerprint configured, no calibration yet: the position tracker where the layout allows', async (t) => {
  const b = buildPresence({ ...autoCfg, locator: 'fingerprint' }, geometry, () => {}, null)
  t.equal(b.locator, 'position')
  t.match(b.note, /fingerprint locator not usable yet \(no calibration yet\): using the position locator/)
})

t.test('zone adjacency: polygons that touch are neighbours; a zone without a polygon is reached from anywhere alike', async (t) => {
  const adj = zoneAdjacency({ zones: [...geometry.zones, { id: 'loose' }, { id: 'near', polygon: [[0, 4.5], [6, 4.5], [6, 8], [0, 8]] }], anchors: [] })
  const of = (z: number) => [...adj.list.slice(adj.start[z]!, adj.start[z + 1]!)]
  t.same(of(0), [1, 4], 'a: b (touching) and a zone 0.5 m away')
  t.same(of(1), [0, 2, 4], 'b: a, c, and the corner of the one 0.5 m away')
  t.same(of(2), [1])
  t.same(of(3), [], 'no polygon, no list: the even share')
})

t.test('zone filter: between two equally likely zones, the one next door wins', async (t) => {
  // the strongest-anchor locator sees b and c equally loud after a: b touches a, c does not
  const lay: Layout = { zones: geometry.zones, anchors: [{ id: 'sa', kind: 'scanner', zone: 'a' }, { id: 'sb', kind: 'scanner', zone: 'b' }, { id: 'sc', kind: 'scanner', zone: 'c' }] }
  const p = new Presence(lay, opts, () => {}, { smoother: new EmaSmoother(1), locator: new StrongestAnchorLocator(3, 0) })
  for (let s = 0; s < 10; s++) { p.observeRaw('x', 'sa', -50, s * 1000); p.observeRaw('x', 'sb', -80, s * 1000 + 1); p.observeRaw('x', 'sc', -80, s * 1000 + 2) }
  t.equal(p.zoneOf('x'), 'a')
  for (let s = 10; s < 20; s++) { p.observeRaw('x', 'sa', -80, s * 1000); p.observeRaw('x', 'sb', -55, s * 1000 + 1); p.observeRaw('x', 'sc', -55, s * 1000 + 2) }
  t.equal(p.zoneOf('x'), 'b')
})

t.test('a ranging report is located once complete, and a single report is located at the next tick', async (t) => {
  const lay: Layout = { zones: [{ id: 'a' }, { id: 'b' }], anchors: [{ id: 'ba', kind: 'beacon', zone: 'a' }, { id: 'bb', kind: 'beacon', zone: 'b' }] }
  const p = new Presence(lay, { ...opts, locateEveryMs: 400 }, () => {}, { smoother: new EmaSmoother(1), locator: new StrongestAnchorLocator(3, 0) })
  // one report: b loud, a weak, in that order, one timestamp
  p.observeRaw('phone', 'ba', -85, 1000)
  p.observeRaw('phone', 'bb', -55, 1000)
  t.equal(p.zoneOf('phone'), null, 'not located on the first beacon of the report')
  p.tick(1500)
  t.equal(p.zoneOf('phone'), 'b', 'located on the whole report at the next tick')
  // the next reports: a loud now; each is located when the one after starts or at the tick
  for (let s = 2; s <= 8; s++) { p.observeRaw('phone', 'ba', -50, s * 1000); p.observeRaw('phone', 'bb', -85, s * 1000); p.tick(s * 1000 + 500) }
  t.equal(p.zoneOf('phone'), 'a')
})

t.test('position tracker: a phone ranging beacons gets the weighted centroid; gains are learned and kept', async (t) => {
  const beacons: Layout = { zones: geometry.zones, anchors: geometry.anchors.filter((a) => a.kind !== 'button').map((a) => ({ ...a, kind: 'beacon' as const })) }
  const p = new Presence(beacons, { ...opts, locateEveryMs: 400 }, () => {}, { smoother: new EmaSmoother(1), locator: new PositionLocator({ silenceDecay: 0 }) })
  const loc = p.locator as PositionLocator
  // loudest at s1 (x = 9): the centroid sits by s1, in zone b
  for (let s = 0; s < 6; s++) { for (const [id, v] of [['s0', -80], ['s1', -60], ['s2', -82]] as const) p.observeRaw('phone', id, v, s * 1000); p.tick(s * 1000 + 500) }
  t.equal(p.zoneOf('phone'), 'b')
  const r = new PositionLocator({ silenceDecay: 0 })
  const q = new Presence(geometry, { ...opts, locateEveryMs: 400 }, () => {}, { smoother: new EmaSmoother(1), locator: r })
  // scanners, s1 hearing 6 dB too weak: subjects at many places teach it
  const rssi = (x: number, ax: number) => -59 - 18 * Math.log10(Math.max(1, Math.abs(x - ax)))
  for (let s = 0; s < 300; s++) {
    const x = 1 + (s % 17)
    for (const [k, a] of [[0, 0], [1, 9], [2, 18]] as const) q.observeRaw(`w${Math.floor(s / 17)}`, `s${k}`, rssi(x, a) - (k === 1 ? 6 : 0), s * 1000 + k)
  }
  const gains = r.offsets()
  t.ok(gains.s1! < -2, `s1 learned as weak (${gains.s1} dB)`)
  q.setLayout({ ...geometry, zones: geometry.zones.map((z) => ({ ...z })) })
  t.equal(r.offsets().s1, gains.s1, 'kept across a new layout with the same anchors')
  q.setLayout({ zones: geometry.zones, anchors: geometry.anchors.filter((a) => a.id !== 's1') })
  q.setLayout(geometry)
  t.ok(Math.abs(r.offsets().s1!) < 2, `an anchor removed from the layout is forgotten, bounded by the layout (${r.offsets().s1} dB now)`)
  void loc
})
