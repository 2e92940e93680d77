/** Presence, first step: smoothing, nearest anchor with hysteresis, dwell with a grace period. Virtual time only. */
import t from 'tap'
import type { Layout } from '../../edge/contract/resources.js'
import { Presence as EmaPresenceEngine } from '../../edge/presence/engine.js'
import type { ZoneEvent } from '../../edge/presence/types.js'

const layout: Layout = {
  zones: [{ id: 'fridge', dwellSeconds: 10 }, { id: 'bakery' }],
  anchors: [{ id: 'A', kind: 'scanner', zone: 'fridge' }, { id: 'B', kind: 'scanner', zone: 'bakery' }, { id: 'btn', kind: 'button', zone: 'fridge' }],
}
const opts = { staleSeconds: 8, defaultDwellSeconds: 5, exitGraceSeconds: 6, stayProbability: 0.9, switchMargin: 0.2, evidenceFloor: 0.05, locateEveryMs: 0 }
const T0 = 1_800_000_000_000

function run(feed: (p: EmaPresenceEngine, ev: ZoneEvent[]) => void): ZoneEvent[] {
  const ev: ZoneEvent[] = []
  const p = new EmaPresenceEngine(layout, opts, (e) => ev.push(e))
  feed(p, ev)
  return ev
}

t.test('enter, dwell after the zone threshold, exit after the grace period', async (t) => {
  const ev = run((p) => {
    for (let s = 0; s <= 12; s++) {
      p.observe({ subject: 'x', anchor: 'A', rssi: -55, ts: T0 + s * 1000 })
      p.observe({ subject: 'x', anchor: 'B', rssi: -80, ts: T0 + s * 1000 })
    }
    p.tick(T0 + 14_000)
    t.equal(p.trackedSubjects, 1, 'still tracked inside the grace period')
    p.tick(T0 + 30_000)
    t.equal(p.trackedSubjects, 0, 'forgotten once stale')
  })
  t.same(ev.map((e) => [e.state, e.zone, e.seconds]), [['enter', 'fridge', 0], ['dwell', 'fridge', 10], ['exit', 'fridge', 12]])
})

t.test('a short dropout does not split a visit', async (t) => {
  const ev = run((p) => {
    for (const s of [0, 1, 2, 3, 7, 8, 9, 10, 11]) p.observe({ subject: 'x', anchor: 'A', rssi: -60, ts: T0 + s * 1000 })
    p.tick(T0 + 11_500)
  })
  t.same(ev.map((e) => e.state), ['enter', 'dwell'], 'one visit across a 4 s gap')
})

t.test('hysteresis: a challenger must be clearly stronger', async (t) => {
  const ev = run((p) => {
    for (let s = 0; s < 20; s++) {
      // B is only slightly stronger now and then: stays in fridge
      p.observe({ subject: 'x', anchor: 'A', rssi: -62, ts: T0 + s * 1000 })
      p.observe({ subject: 'x', anchor: 'B', rssi: s % 3 === 0 ? -61 : -66, ts: T0 + s * 1000 })
    }
    for (let s = 20; s < 30; s++) {
      p.observe({ subject: 'x', anchor: 'A', rssi: -80, ts: T0 + s * 1000 })
      p.observe({ subject: 'x', anchor: 'B', rssi: -55, ts: T0 + s * 1000 })
    }
  })
  const enters = ev.filter((e) => e.state === 'enter').map((e) => e.zone)
  t.same(enters, ['fridge', 'bakery'], 'no flip-flop, then a real move')
  t.ok(ev.some((e) => e.state === 'exit' && e.zone === 'fridge'))
})

t.test('unknown anchors and buttons are not located; layout change restarts presence', async (t) => {
  const ev: ZoneEvent[] = []
  const p = new EmaPresenceEngine(layout, opts, (e) => ev.push(e))
  p.observe({ subject: 'x', anchor: 'nowhere', rssi: -40, ts: T0 })
  p.observe({ subject: 'x', anchor: 'btn', rssi: -40, ts: T0 })
  t.equal(ev.length, 0)
  p.observe({ subject: 'y', anchor: 'A', rssi: -50, ts: T0 })
  t.equal(p.snapshot(T0).length, 1)
  p.setLayout({ zones: [{ id: 'fridge' }], anchors: [{ id: 'A', kind: 'scanner', zone: 'fridge' }] })
  t.equal(p.snapshot(T0).length, 0, 'state dropped on a new layout')
  t.same(ev.map((e) => e.state), ['enter', 'exit'], 'open visits are closed')
})

t.test('old readings are ignored and a long gap restarts the average', async (t) => {
  const ev = run((p) => {
    p.observe({ subject: 'x', anchor: 'A', rssi: -60, ts: T0 + 20_000 })
    p.observe({ subject: 'x', anchor: 'B', rssi: -40, ts: T0 + 1000 })
    t.equal(p.snapshot(T0 + 20_000)[0]!.zone, 'fridge', 'a reading older than the staleness window does not move the subject')
    // A goes quiet for longer than the staleness window, then comes back weak: no memory of the old -60
    p.observe({ subject: 'y', anchor: 'A', rssi: -50, ts: T0 })
    p.observe({ subject: 'y', anchor: 'B', rssi: -70, ts: T0 + 9_500 })
    p.observe({ subject: 'y', anchor: 'A', rssi: -90, ts: T0 + 9_600 })
    t.equal(p.snapshot(T0 + 9_600).find((s) => s.subject === 'y')!.zone, 'bakery', 'the average restarts after a gap')
  })
  t.equal(ev.filter((e) => e.subject === 'x' && e.zone === 'bakery').length, 0)
})
