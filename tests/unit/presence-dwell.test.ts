/**
 * Dwell from presence that follows, in virtual time, with the gateway's default presence settings (built as the
 * gateway builds it): a shopper who walks to a fridge and stands there gets a dwell event within 1-2 s of the
 * tenth second there; one who walks past gets none. Scanners hear the shopper's tag twice a second with 4 dB
 * of noise around a log-distance path loss (seeded, so every run is the same).
 */
import t from 'tap'
import type { Layout } from '../../edge/contract/resources.js'
import { loadConfig } from '../../edge/config/load.js'
import { buildPresence, type PresenceConfig } from '../../edge/presence/factory.js'
import type { ZoneEvent } from '../../edge/presence/types.js'
import { Rng } from '../../devices/simulator/rng.js'

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0)
const cfg: PresenceConfig = loadConfig({ env: {} }).config.presence
const rect = (x0: number, x1: number): [number, number][] => [[x0, 0], [x1, 0], [x1, 4], [x0, 4]]
/** an aisle of three zones, 6 m each, scanners along both shelves */
const aisle: Layout = {
  zones: [{ id: 'entrance', polygon: rect(0, 6) }, { id: 'fridge', kind: 'fridge', polygon: rect(6, 12), dwellSeconds: 10 }, { id: 'bakery', polygon: rect(12, 18) }],
  anchors: [
    ...[0, 6, 12, 18].map((x, i) => ({ id: `s-low-${i}`, kind: 'scanner' as const, x, y: 0 })),
    ...[3, 9, 15].map((x, i) => ({ id: `s-high-${i}`, kind: 'scanner' as const, x, y: 4 })),
  ],
}

interface Walk { events: ZoneEvent[]; note: string }

/** A tag moving along `path(t seconds) -> x` (y = 2) for `seconds`, heard every 450 ms by every scanner. */
function walk(path: (s: number) => number, seconds: number, seed: number, layout: Layout = aisle): Walk {
  const events: ZoneEvent[] = []
  const built = buildPresence(cfg, { zones: [], anchors: [] }, (e) => events.push(e), null)
  const p = built.engine
  p.setLayout(layout) // as PUT /v1/admin/layout: auto chooses the position tracker for this layout
  const rng = new Rng(seed)
  const scanners = layout.anchors.filter((a) => a.x !== undefined)
  let nextTick = T0 + 500
  for (let ms = 0; ms <= seconds * 1000; ms += 450) {
    const x = path(ms / 1000)
    for (const [k, a] of scanners.entries()) {
      const ts = T0 + ms + k // the scanners report a few ms apart
      while (nextTick <= ts) { p.tick(nextTick); nextTick += 500 }
      const d = Math.max(0.5, Math.hypot(x - a.x!, 2 - a.y!))
      p.observeAt('watch:tag', p.anchorSlot(a.id), Math.round(-59 - 18 * Math.log10(d) + 4 * rng.gauss()), ts)
    }
  }
  return { events, note: p.note }
}

const fridgeDwells = (w: Walk) => w.events.filter((e) => e.state === 'dwell' && e.zone === 'fridge')

t.test('the layout with zone polygons and placed scanners gets the position tracker', async (t) => {
  t.match(walk(() => 9, 2, 1).note, /auto: position locator/)
})

t.test('walking to the fridge and standing there: a dwell event within 1-2 s of the tenth second', async (t) => {
  // from x = 1 at 1 m/s to the middle of the fridge zone (x = 9), entering it at x = 6 after 5 s, then standing
  const path = (s: number) => Math.min(9, 1 + s)
  const arrived = 5
  const late: number[] = []
  for (let seed = 1; seed <= 12; seed++) {
    const w = walk(path, 30, seed)
    const dwells = fridgeDwells(w)
    t.equal(dwells.length, 1, `seed ${seed}: one dwell at the fridge`)
    const l = (dwells[0]!.ts - T0) / 1000 - (arrived + 10)
    late.push(l)
    // the smoothing (about 1.5 s) and the track lag the walker: never early, rarely more than 2 s late
    t.ok(l >= -1 && l <= 3, `seed ${seed}: dwell ${l.toFixed(1)} s after the tenth second at the fridge`)
    t.notOk(w.events.some((e) => e.state === 'dwell' && e.zone !== 'fridge'), `seed ${seed}: no dwell on the way`)
  }
  late.sort((a, b) => a - b)
  t.ok(late[5]! <= 1.5 && late[9]! <= 2.1, `median ${late[5]!.toFixed(1)} s late, 5 in 6 within ${late[9]!.toFixed(1)} s`)
})

t.test('walking past the fridge makes no dwell', async (t) => {
  // through all three zones at 1 m/s: 6 s in the fridge zone
  for (let seed = 1; seed <= 8; seed++) {
    const w = walk((s) => Math.min(17, 1 + s), 16, seed)
    t.same(fridgeDwells(w), [], `seed ${seed}: no dwell at the fridge`)
    t.ok(w.events.some((e) => e.state === 'enter' && e.zone === 'fridge'), `seed ${seed}: but it was seen passing`)
    t.ok(w.events.some((e) => e.state === 'enter' && e.zone === 'bakery'), `seed ${seed}: and arriving at the bakery`)
  }
})

t.test('a shopper slowly browsing along the fridge (0.5 m/s, 12 s in the zone) does dwell', async (t) => {
  const w = walk((s) => Math.min(17, 1 + 0.5 * s), 34, 3)
  t.equal(fridgeDwells(w).length, 1)
})

t.test('without geometry (anchors in zones only): the strongest anchor, dwell at the tenth second', async (t) => {
  const simple: Layout = { zones: [{ id: 'fridge', dwellSeconds: 10 }, { id: 'bakery' }], anchors: [{ id: 'scn-f', kind: 'scanner', zone: 'fridge' }, { id: 'scn-b', kind: 'scanner', zone: 'bakery' }] }
  const events: ZoneEvent[] = []
  const p = buildPresence(cfg, simple, (e) => events.push(e), null).engine
  t.match(p.note, /auto: strongest/)
  // heard by the fridge's scanner at -50 once a second, the bakery's far weaker
  for (let s = 0; s <= 14; s++) {
    p.observeRaw('watch:x', 'scn-f', -50, T0 + s * 1000)
    p.observeRaw('watch:x', 'scn-b', -85, T0 + s * 1000 + 100)
  }
  const enter = events.find((e) => e.state === 'enter')!
  t.equal(enter.zone, 'fridge')
  t.ok(enter.ts - T0 <= 2000, `placed within ${(enter.ts - T0) / 1000} s`)
  const dwell = events.find((e) => e.state === 'dwell')!
  t.ok(dwell.ts - enter.since >= 10_000 && dwell.ts - enter.since <= 11_000, `dwell ${(dwell.ts - enter.since) / 1000} s after entering`)
})

t.test('back after a long absence (no tick in between): a new visit from now, dwell 10 s later', async (t) => {
  const simple: Layout = { zones: [{ id: 'fridge', dwellSeconds: 10 }, { id: 'bakery' }], anchors: [{ id: 'scn-f', kind: 'scanner', zone: 'fridge' }, { id: 'scn-b', kind: 'scanner', zone: 'bakery' }] }
  for (const gap of [7_000, 86_400_000]) {
    const events: ZoneEvent[] = []
    const p = buildPresence(cfg, simple, (e) => events.push(e), null).engine
    const stand = (from: number) => { for (let s = 0; s <= 12; s++) p.observeRaw('watch:x', 'scn-f', -50, from + s * 1000) }
    stand(T0)
    if (gap < 10_000) p.tick(T0 + 12_000 + gap - 500) // a short absence the grace period ends, seen by a tick
    const back = T0 + 12_000 + gap
    events.length = 0
    stand(back)
    const enter = events.find((e) => e.state === 'enter')!
    t.ok(enter.since >= back && enter.seconds < 2, `gap ${gap / 1000} s: the new visit starts when the shopper is back (${enter.seconds} s before the enter event)`)
    const dwell = events.find((e) => e.state === 'dwell')!
    t.ok(dwell.ts - back >= 10_000 && dwell.seconds < 12, `gap ${gap / 1000} s: dwell ${(dwell.ts - back) / 1000} s after coming back`)
  }
})
