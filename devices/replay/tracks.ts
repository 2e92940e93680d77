/**
 * Timed walking tracks (ble-rssi-tetam-tracks-dev): 12 fixed receivers hear one walking beacon, each packet with
 * a ground-truth position. Read from ../shared/data at run time, never copied into the repository.
 *
 * The replay feeds the packets in recorded time through the gateway's own presence engine (built from the
 * config as the gateway builds it, the layout then set as `PUT /v1/admin/layout` sets it), ticks it every
 * `tickMs` as the gateway's timer does, and scores once a second against the ground-truth zone. Two baselines
 * see the same packets: the strongest receiver over the last 2 s, and the weighted centroid of the 3 strongest
 * receivers' mean RSSI over 2 s (weights 10^(rssi/10)).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Anchor, Layout, Zone } from '../../edge/contract/resources.js'
import { buildPresence, type PresenceConfig } from '../../edge/presence/factory.js'
import type { PresenceEngine, ZoneEvent } from '../../edge/presence/types.js'

export interface Packet { t: number; anchor: string; rssi: number; x: number; y: number }
export interface Track { name: string; packets: Packet[] }
export interface TrackSet { name: string; receivers: { id: string; x: number; y: number; z: number }[]; tracks: Track[] }

export const TETAM = 'ble-rssi-tetam-tracks-dev'

/** Receivers from cnf/tetam.dev ("Dongles": MAC -> [[x, y, z], colour, alias]); ids are the aliases. */
export function loadTetam(dataDir: string): TrackSet {
  const dir = join(dataDir, TETAM)
  const dev = readFileSync(join(dir, 'cnf', 'tetam.dev'), 'utf8')
  const dongles = /Dongles:\s*(\{.*\})/.exec(dev)?.[1]
  if (!dongles) throw new Error(`${dir}/cnf/tetam.dev: no Dongles line`)
  const parsed = JSON.parse(dongles) as Record<string, [[number, number, number], number, string]>
  const byMac = new Map(Object.entries(parsed).map(([mac, [[x, y, z], , alias]]) => [mac, { id: alias, x, y, z }]))
  const tracks: Track[] = []
  for (const f of readdirSync(join(dir, 'trk')).filter((n) => n.endsWith('_all_sensors.mbd')).sort()) {
    const packets: Packet[] = []
    for (const line of readFileSync(join(dir, 'trk', f), 'utf8').split(/\r?\n/)) {
      if (!line) continue
      const c = line.split(',')
      const rx = byMac.get(c[1]!)
      const rssi = Number(c[3])
      // some recordings of the original set carry positive RSSI: not a reading
      if (!rx || !(rssi < 0) || c.length < 7) continue
      packets.push({ t: Math.round(Number(c[0]) * 1000), anchor: rx.id, rssi, x: Number(c[4]), y: Number(c[5]) })
    }
    packets.sort((a, b) => a.t - b.t)
    tracks.push({ name: f.replace('_all_sensors.mbd', ''), packets })
  }
  return { name: 'tetam', receivers: [...byMac.values()], tracks }
}

const rect = (x0: number, y0: number, x1: number, y1: number): [number, number][] => [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]

export interface Grid { n: number; cell: number; x0: number; y0: number }
/** The zones: a 3 x 3 grid of 6 m cells from the origin (the tracks span 0-18 m), and a finer 4 x 4. */
export const GRIDS: Record<string, Grid> = { '3x3': { n: 3, cell: 6, x0: 0, y0: 0 }, '4x4': { n: 4, cell: 4.5, x0: 0, y0: 0 } }

/** The cell of a point, clamped to the grid (a packet a few cm outside counts in the edge cell). */
export function gridZone(g: Grid, x: number, y: number): string {
  const cx = Math.min(g.n - 1, Math.max(0, Math.floor((x - g.x0) / g.cell)))
  const cy = Math.min(g.n - 1, Math.max(0, Math.floor((y - g.y0) / g.cell)))
  return `c${cx}-${cy}`
}

/** The layout the replay sends: zones as polygons, receivers as scanners with x/y (and their zone unless `zonesOnAnchors` is false). */
export function gridLayout(set: TrackSet, g: Grid, opts: { zonesOnAnchors?: boolean } = {}): Layout {
  const zones: Zone[] = []
  for (let cy = 0; cy < g.n; cy++) for (let cx = 0; cx < g.n; cx++) {
    zones.push({ id: `c${cx}-${cy}`, polygon: rect(g.x0 + cx * g.cell, g.y0 + cy * g.cell, g.x0 + (cx + 1) * g.cell, g.y0 + (cy + 1) * g.cell) })
  }
  const anchors: Anchor[] = set.receivers.map((r) => ({
    id: r.id, kind: 'scanner' as const, x: r.x, y: r.y,
    ...(opts.zonesOnAnchors === false ? {} : { zone: gridZone(g, r.x, r.y) }),
  }))
  return { zones, anchors }
}

// ------------------------------------------------------------------ scoring

/** One track replayed: per scored second the true and the reported zone, and the dwell events. */
export interface Timeline { truth: string[]; reported: (string | null)[]; dwells: { zone: string; at: number }[] }

export interface TrackScore {
  seconds: number
  accuracy: number
  changesPerMin: number
  trueChangesPerMin: number
  changes: number
  trueChanges: number
  delays: number[]
  missed: number
  dwells: number
  trueDwells: number
  /** dwell events within 3 s of a true dwell (same zone) */
  dwellsMatched: number
  /** seconds from a true dwell (10 s in the zone) to the matched event */
  dwellDelays: number[]
}

/**
 * Scores a timeline. A true change at second k is detected at the first j >= k, while the walker is still in
 * that zone, at which the reported zone is the new one; delay j - k. Not named before the walker leaves:
 * missed. Reported changes count every switch between two named zones.
 */
export function score(tl: Timeline, dwellSeconds = 10): TrackScore {
  const n = tl.truth.length
  let ok = 0, changes = 0, trueChanges = 0, missed = 0
  const delays: number[] = []
  let last: string | null = null
  for (let k = 0; k < n; k++) {
    if (tl.reported[k] === tl.truth[k]) ok++
    const r = tl.reported[k]!
    if (r !== null) { if (last !== null && r !== last) changes++; last = r }
    if (k > 0 && tl.truth[k] !== tl.truth[k - 1]) {
      trueChanges++
      let j = k
      while (j < n && tl.truth[j] === tl.truth[k] && tl.reported[j] !== tl.truth[k]) j++
      if (j < n && tl.truth[j] === tl.truth[k]) delays.push(j - k)
      else missed++
    }
  }
  // true dwells: the walker has been in a zone for dwellSeconds (the first visit of a track counts from its start)
  const trueDwells: { zone: string; at: number }[] = []
  let since = 0
  for (let k = 0; k < n; k++) {
    if (k > 0 && tl.truth[k] !== tl.truth[k - 1]) since = k
    if (k - since === dwellSeconds) trueDwells.push({ zone: tl.truth[k]!, at: k })
  }
  const used = new Set<number>()
  const dwellDelays: number[] = []
  for (const d of trueDwells) {
    const i = tl.dwells.findIndex((e, i) => !used.has(i) && e.zone === d.zone && Math.abs(e.at - d.at) <= 3)
    if (i >= 0) { used.add(i); dwellDelays.push(tl.dwells[i]!.at - d.at) }
  }
  const minutes = n / 60
  return {
    seconds: n, accuracy: n ? ok / n : 0, changesPerMin: changes / minutes, trueChangesPerMin: trueChanges / minutes, changes, trueChanges,
    delays, missed, dwells: tl.dwells.length, trueDwells: trueDwells.length, dwellsMatched: used.size, dwellDelays,
  }
}

export function combine(scores: TrackScore[]): TrackScore {
  const seconds = scores.reduce((n, s) => n + s.seconds, 0)
  const sum = (f: (s: TrackScore) => number) => scores.reduce((n, s) => n + f(s), 0)
  const minutes = seconds / 60
  return {
    seconds,
    accuracy: sum((s) => s.accuracy * s.seconds) / seconds,
    changes: sum((s) => s.changes), trueChanges: sum((s) => s.trueChanges),
    changesPerMin: sum((s) => s.changes) / minutes, trueChangesPerMin: sum((s) => s.trueChanges) / minutes,
    delays: scores.flatMap((s) => s.delays), missed: sum((s) => s.missed),
    dwells: sum((s) => s.dwells), trueDwells: sum((s) => s.trueDwells), dwellsMatched: sum((s) => s.dwellsMatched), dwellDelays: scores.flatMap((s) => s.dwellDelays),
  }
}

export const pct = (xs: readonly number[], p: number): number => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!
}

// ------------------------------------------------------------------ replay

export interface ReplayOptions {
  tickMs?: number
  /** when the replay starts (epoch ms): every track is shifted to start then, as a replay of all at once does */
  start?: number
}

/**
 * Replays tracks through an engine in recorded time, all at once (each shifted to start at `start`, one
 * subject per track, as a real-time replay of all tracks would): packets in time order as `P/ble/<receiver>`
 * sightings (observeAt with the receiver's slot, as the gateway does), `tick` every tickMs as the gateway's
 * timer does, each track scored at every whole second after its first packet against the zone of its latest
 * ground-truth position; the reported zone is what `GET /v1/admin/presence` would show. The engine is the
 * caller's (built as the gateway builds it, the layout already set).
 */
export function replayTracks(engine: PresenceEngine, events: ZoneEvent[], tracks: readonly Track[], g: Grid, o: ReplayOptions = {}): Timeline[] {
  const tickMs = o.tickMs ?? 500
  const start = o.start ?? Date.UTC(2026, 0, 5, 9, 0, 0)
  const subjects = tracks.map((tr) => `tetam:${tr.name}`)
  // every packet, shifted, in time order; then the scoring instants
  const feed: { t: number; k: number; p: Packet }[] = []
  tracks.forEach((tr, k) => { const t0 = tr.packets[0]!.t; for (const p of tr.packets) feed.push({ t: start + p.t - t0, k, p }) })
  feed.sort((a, b) => a.t - b.t || a.k - b.k)
  const ends = tracks.map((tr) => start + tr.packets[tr.packets.length - 1]!.t - tr.packets[0]!.t)
  const out: Timeline[] = tracks.map(() => ({ truth: [], reported: [], dwells: [] }))
  const truePos: (Packet | null)[] = tracks.map(() => null)
  const first = events.length
  const last = Math.max(...ends)
  let i = 0
  let nextTick = start + tickMs
  for (let s = start + 1000; s <= last; s += 1000) {
    while (i < feed.length && feed[i]!.t <= s) {
      const f = feed[i]!
      while (nextTick <= f.t) { engine.tick(nextTick); nextTick += tickMs }
      const slot = engine.anchorSlot(f.p.anchor)
      if (slot >= 0) engine.observeAt(subjects[f.k]!, slot, f.p.rssi, f.t)
      truePos[f.k] = f.p
      i++
    }
    while (nextTick <= s) { engine.tick(nextTick); nextTick += tickMs }
    const snap = new Map(engine.snapshot(s).map((x) => [x.subject, x.zone]))
    tracks.forEach((_, k) => {
      if (s > ends[k]!) return
      out[k]!.truth.push(gridZone(g, truePos[k]!.x, truePos[k]!.y))
      out[k]!.reported.push(snap.get(subjects[k]!) ?? null)
    })
  }
  for (const e of events.slice(first)) {
    const k = subjects.indexOf(e.subject)
    // the scored second the event falls in (second 1 is index 0)
    if (k >= 0 && e.state === 'dwell') out[k]!.dwells.push({ zone: e.zone, at: Math.ceil((e.ts - start) / 1000) - 1 })
  }
  return out
}

/** A baseline: a zone from the packets of the last 2 s (null: nothing heard). */
export type Baseline = (recent: readonly Packet[]) => string | null

function meansByAnchor(recent: readonly Packet[]): Map<string, number> {
  const acc = new Map<string, { s: number; n: number }>()
  for (const k of recent) {
    const a = acc.get(k.anchor) ?? { s: 0, n: 0 }
    a.s += k.rssi
    a.n++
    acc.set(k.anchor, a)
  }
  return new Map([...acc].map(([id, a]) => [id, a.s / a.n]))
}

export function strongestBaseline(set: TrackSet, g: Grid): Baseline {
  const pos = new Map(set.receivers.map((r) => [r.id, r]))
  return (recent) => {
    let best: string | null = null
    let bestV = -Infinity
    for (const [id, v] of meansByAnchor(recent)) if (v > bestV) { bestV = v; best = id }
    const r = best === null ? undefined : pos.get(best)
    return r ? gridZone(g, r.x, r.y) : null
  }
}

export function centroidBaseline(set: TrackSet, g: Grid): Baseline {
  const pos = new Map(set.receivers.map((r) => [r.id, r]))
  return (recent) => {
    const top = [...meansByAnchor(recent)].filter(([id]) => pos.has(id)).sort((a, b) => b[1] - a[1]).slice(0, 3)
    if (top.length === 0) return null
    let x = 0, y = 0, w = 0
    for (const [id, v] of top) { const r = pos.get(id)!; const wi = 10 ** (v / 10); x += wi * r.x; y += wi * r.y; w += wi }
    return gridZone(g, x / w, y / w)
  }
}

/** A baseline over the same seconds as replayTracks scores (each track on its own: a baseline has no state). */
export function replayBaseline(b: Baseline, track: Track, g: Grid, windowMs = 2000): Timeline {
  const p = track.packets
  const t0 = p[0]!.t
  const end = p[p.length - 1]!.t
  const truth: string[] = []
  const reported: (string | null)[] = []
  let i = 0, lo = 0
  let truePos = p[0]!
  for (let s = t0 + 1000; s <= end; s += 1000) {
    while (i < p.length && p[i]!.t <= s) truePos = p[i++]!
    while (lo < i && p[lo]!.t <= s - windowMs) lo++
    truth.push(gridZone(g, truePos.x, truePos.y))
    reported.push(b(p.slice(lo, i)))
  }
  // a baseline "dwells" whenever it has named the same zone for 10 s in a row
  const dwells: { zone: string; at: number }[] = []
  let since = 0
  for (let k = 0; k < reported.length; k++) {
    if (k > 0 && reported[k] !== reported[k - 1]) since = k
    if (reported[k] !== null && k - since === 10) dwells.push({ zone: reported[k]!, at: k })
  }
  return { truth, reported, dwells }
}

// ------------------------------------------------------------------ evaluation as the gateway runs

export interface TrackEval {
  grid: string
  /** what the engine said it uses (auto's choice) */
  note: string
  total: TrackScore
  perTrack: { name: string; score: TrackScore }[]
  /** each anchor's gain the position locator learned during the replay, dB */
  gains: Record<string, number> | null
}

/**
 * The replay of the walking tracks through the gateway's presence: the engine built from the config by
 * buildPresence on the config's (empty) layout, as at start-up, then the tracks' layout set as
 * `PUT /v1/admin/layout` sets it (so `auto` chooses on it), all tracks at once in recorded time.
 */
export function evaluateTracks(set: TrackSet, cfg: PresenceConfig, gridName: string, opts: { zonesOnAnchors?: boolean; tracks?: readonly Track[]; dwellSeconds?: number } = {}): TrackEval {
  const g = GRIDS[gridName]
  if (!g) throw new Error(`unknown grid ${gridName} (${Object.keys(GRIDS).join(', ')})`)
  const events: ZoneEvent[] = []
  const built = buildPresence({ ...cfg, defaultDwellSeconds: opts.dwellSeconds ?? 10 }, { zones: [], anchors: [] }, (e) => events.push(e), null)
  const engine = built.engine
  engine.setLayout(gridLayout(set, g, { zonesOnAnchors: opts.zonesOnAnchors ?? true }))
  const tracks = opts.tracks ?? set.tracks
  const tls = replayTracks(engine, events, tracks, g, { tickMs: cfg.tickMs ?? 500 })
  const perTrack = tls.map((tl, k) => ({ name: tracks[k]!.name, score: score(tl, opts.dwellSeconds ?? 10) }))
  const loc = engine.locator as { offsets?: () => Record<string, number> }
  return { grid: gridName, note: engine.note, total: combine(perTrack.map((p) => p.score)), perTrack, gains: loc.offsets ? loc.offsets() : null }
}

/** The same seconds scored for a baseline. */
export function evaluateTrackBaseline(set: TrackSet, name: 'strongest' | 'centroid', gridName: string): TrackEval {
  const g = GRIDS[gridName]!
  const b = name === 'strongest' ? strongestBaseline(set, g) : centroidBaseline(set, g)
  const perTrack = set.tracks.map((tr) => ({ name: tr.name, score: score(replayBaseline(b, tr, g)) }))
  return { grid: gridName, note: `${name} baseline`, total: combine(perTrack.map((p) => p.score)), perTrack, gains: null }
}

/**
 * How well the defaults hold up on a track they were not chosen on: for each track, the setting among
 * `candidates` that does best on the other tracks (accuracy, less penalties for flicker beyond 1.5 times the
 * true changes, for more than 1 change in 5 missed and for a median delay beyond 4 s) is scored on that track.
 * All tracks are replayed together every time (the anchor gains are learned from every walker at once, as
 * in the gateway); only the choice of setting leaves the track out.
 */
export function leaveOneTrackOut(set: TrackSet, base: PresenceConfig, candidates: { label: string; cfg: PresenceConfig }[], gridName: string): { track: string; chosen: string; score: TrackScore }[] {
  const runs = candidates.map((c) => ({ label: c.label, perTrack: evaluateTracks(set, c.cfg, gridName).perTrack }))
  const objective = (s: TrackScore): number => {
    const missRate = s.trueChanges ? s.missed / s.trueChanges : 0
    const flicker = s.trueChangesPerMin > 0 ? s.changesPerMin / s.trueChangesPerMin : 1
    const delay = s.delays.length ? pct(s.delays, 0.5) : 10
    return s.accuracy - 0.1 * Math.max(0, flicker - 1.5) - Math.max(0, missRate - 0.2) - 0.05 * Math.max(0, delay - 4)
  }
  void base
  return set.tracks.map((tr, k) => {
    let best = runs[0]!
    let bestV = -Infinity
    for (const r of runs) {
      const v = objective(combine(r.perTrack.filter((_, j) => j !== k).map((p) => p.score)))
      if (v > bestV) { bestV = v; best = r }
    }
    return { track: tr.name, chosen: best.label, score: best.perTrack[k]!.score }
  })
}
