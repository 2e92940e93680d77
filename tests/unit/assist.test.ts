/** Call-for-service dispatch, pure and in virtual time. */
import t from 'tap'
import { AutoAssist } from '../../edge/assist/auto.js'
import { AssistDispatcher, type AssistEffect, type AssistPolicy } from '../../edge/assist/dispatcher.js'
import { assistFigures, stageStats } from '../../edge/assist/figures.js'
import { polygonCentroid, zoneCentres, zoneDistance } from '../../edge/assist/geometry.js'

// zones on a line: a at 0, b at 10, c at 20, d at 30 (metres)
const X: Record<string, number> = { a: 0, b: 10, c: 20, d: 30 }
const dist = (p: string | null, q: string | null) => (p === null || q === null || !(p in X) || !(q in X) ? Infinity : Math.abs(X[p]! - X[q]!))
const POLICY: AssistPolicy = { mode: 'nearest', acceptTimeoutMs: 20_000, maxOffers: 3, escalateAfterMs: 90_000, expireAfterMs: 15 * 60_000, heartbeatTimeoutMs: 90_000, closeAfterMs: 30 * 60_000, supervisors: ['sup-1'] }

function harness(policy: Partial<AssistPolicy> = {}) {
  const fx: AssistEffect[] = []
  let n = 0
  const d = new AssistDispatcher({ ...POLICY, ...policy }, dist, (e) => fx.push(e), () => `r${++n}`)
  const alerts = (kind?: string) => fx.filter((e): e is Extract<AssistEffect, { kind: 'alert' }> => e.kind === 'alert' && (kind === undefined || e.alert.kind === kind))
  const transitions = () => fx.filter((e): e is Extract<AssistEffect, { kind: 'transition' }> => e.kind === 'transition')
  const ignored = () => fx.filter((e): e is Extract<AssistEffect, { kind: 'ack-ignored' }> => e.kind === 'ack-ignored').map((e) => e.reason)
  const clerk = (band: string, zone: string | null, ts = 0, extra: { clerkId?: string; onShift?: boolean; battery?: number } = {}) => {
    d.bandStatus(band, { clerkId: extra.clerkId ?? `c-${band}`, onShift: extra.onShift ?? true, ...(extra.battery !== undefined ? { battery: extra.battery } : {}) }, ts)
    if (zone !== null) d.bandZone(band, zone, ts)
  }
  const lastAlertTo = (band: string) => alerts().filter((a) => a.band === band).pop()
  return { d, fx, alerts, transitions, ignored, clerk, lastAlertTo }
}

t.test('the nearest free clerk gets it; accept, arrive, done', async (t) => {
  const h = harness()
  h.clerk('b1', 'a')
  h.clerk('b2', 'c')
  h.clerk('b3', 'd')
  const { request: r } = h.d.call({ source: 'button', origin: 'btn-1', zone: 'd', ts: 1000 })
  t.equal(r.state, 'offered')
  t.same(h.alerts().map((a) => [a.band, a.alert.kind, a.alert.zone]), [['b3', 'assist', 'd']], 'b3 is in the zone itself')
  // b3 is already there: accepting is arriving
  h.d.ack('b3', h.lastAlertTo('b3')!.alert.alertId, 'accept', 9000)
  t.equal(r.state, 'arrived')
  t.equal(r.acceptedAt, 9000)
  t.equal(r.arrivedAt, 9000)
  h.d.ack('b3', h.lastAlertTo('b3')!.alert.alertId, 'done', 60_000)
  t.equal(r.state, 'done')
  t.equal(r.closeReason, 'done')
  t.same(h.transitions().map((e) => [e.from, e.to]), [[null, 'queued'], ['queued', 'offered'], ['offered', 'accepted'], ['accepted', 'arrived'], ['arrived', 'done']])

  // next call in b: b1 (10 m) and b2 (10 m) tie; b3 (just freed) is 20 m away
  const { request: r2 } = h.d.call({ source: 'button', origin: 'btn-2', zone: 'b', ts: 61_000 })
  const to = r2.offers[0]!.band
  t.ok(to === 'b1' || to === 'b2')
  h.d.ack(to, r2.offers[0]!.alertId, 'accept', 70_000)
  t.equal(r2.state, 'accepted', 'accepted away from the zone')
  h.d.bandZone(to, 'a', 71_000)
  t.equal(r2.state, 'accepted', 'entering another zone is not arriving')
  h.d.bandZone(to, 'b', 80_000)
  t.equal(r2.state, 'arrived')
  t.equal(r2.arrivedAt, 80_000)
})

t.test('not accepted in time or declined: the next nearest; after three rounds, the supervisors too', async (t) => {
  const h = harness()
  h.clerk('b1', 'a')
  h.clerk('b2', 'b')
  h.clerk('b3', 'c')
  h.clerk('b4', 'd')
  h.clerk('s1', 'a', 0, { clerkId: 'sup-1' })
  const { request: r } = h.d.call({ source: 'scan', origin: 'call:d', zone: 'd', ts: 0 })
  t.equal(r.offers[0]!.band, 'b4')
  h.d.tick(19_999)
  t.equal(r.offers.length, 1, 'not yet')
  h.d.tick(20_000)
  t.same(r.offers.map((o) => [o.band, o.outcome]), [['b4', 'timeout'], ['b3', 'pending']], 'next nearest after 20 s')
  h.d.ack('b3', r.offers[1]!.alertId, 'decline', 25_000)
  t.same(r.offers.map((o) => o.band), ['b4', 'b3', 'b2'], 'a decline moves on at once')
  t.equal(h.alerts('escalation').length, 0, 'the supervisor is never offered first')
  h.d.tick(45_000)
  // three rounds done: supervisors alerted, and the offers go round the clerks again
  const esc = h.alerts('escalation')
  t.same(esc.map((a) => [a.band, a.alert.priority]), [['s1', 3]])
  t.ok(r.escalatedAt !== null)
  t.ok(h.fx.some((e) => e.kind === 'event' && e.event === 'escalated'))
  t.equal(r.offers.filter((o) => o.kind === 'assist' && o.outcome === 'pending').length, 1, 'and a clerk is still offered it')
  h.d.ack('s1', esc[0]!.alert.alertId, 'accept', 50_000)
  t.equal(r.state, 'accepted')
  t.same(r.acceptedBy, { band: 's1', clerkId: 'sup-1' })
  t.ok(h.alerts('taken').length >= 1, 'the clerk it was offered to is told it is taken')
  t.equal(r.offers.filter((o) => o.outcome === 'pending').length, 0)
})

t.test('escalation by time while nobody is available; expiry', async (t) => {
  const h = harness()
  h.clerk('s1', 'a', 0, { clerkId: 'sup-1' })
  const { request: r } = h.d.call({ source: 'button', origin: 'btn', zone: 'b', ts: 0 })
  t.equal(r.state, 'queued', 'no clerk: queued')
  h.d.tick(60_000)
  h.d.bandStatus('s1', {}, 60_000)
  t.equal(h.alerts('escalation').length, 0)
  h.d.tick(90_000)
  t.equal(h.alerts('escalation').length, 1, 'escalated after 90 s')
  h.d.tick(15 * 60_000)
  t.equal(r.state, 'expired')
  t.equal(h.alerts('closed').length, 1, "the supervisor's alert is withdrawn")
  t.same(h.transitions().map((e) => e.to), ['queued', 'expired'])
})

t.test('busy, off shift, silent and flat bands are skipped; a freed clerk takes the queue', async (t) => {
  const h = harness()
  h.clerk('near-busy', 'b')
  h.clerk('near-off', 'b', 0, { onShift: false })
  h.clerk('near-flat', 'b', 0, { battery: 0 })
  h.clerk('near-silent', 'b', -100_000)
  h.clerk('far', 'd', 0)
  const first = h.d.call({ source: 'button', origin: 'x', zone: 'b', ts: 0 }).request
  t.equal(first.offers[0]!.band, 'near-busy')
  h.d.ack('near-busy', first.offers[0]!.alertId, 'accept', 1000)
  const r = h.d.call({ source: 'button', origin: 'y', zone: 'b', ts: 2000 }).request
  t.same(r.offers.map((o) => o.band), ['far'], 'only the far clerk is available')
  h.d.ack('far', r.offers[0]!.alertId, 'decline', 3000)
  t.equal(r.state, 'queued', 'declined, nobody else: queued')
  h.d.ack('near-busy', first.offers[0]!.alertId, 'done', 10_000)
  t.equal(r.state, 'offered', 'the freed clerk gets the waiting request')
  t.equal(r.offers[1]!.band, 'near-busy')
  h.d.bandStatus('near-off', { onShift: true }, 11_000)
  t.equal(h.d.band('near-off')!.onShift, true)
})

t.test('a repeated press raises priority (up to 3); a flood of presses is one request and two re-alerts', async (t) => {
  const h = harness()
  h.clerk('b1', 'a')
  const { request: r, created } = h.d.call({ source: 'button', origin: 'btn-9', zone: 'a', ts: 0 })
  t.ok(created)
  let created2 = 0
  for (let i = 1; i <= 1000; i++) if (h.d.call({ source: 'button', origin: 'btn-9', zone: 'a', ts: i * 10 }).created) created2++
  t.equal(created2, 0)
  t.equal(h.d.list().length, 1)
  t.equal(r.priority, 3)
  t.equal(r.presses, 1001)
  t.same(h.alerts().map((a) => a.alert.priority), [1, 2, 3], 'the offered clerk hears it twice more, louder, then nothing more')
  t.equal(h.alerts().every((a) => a.alert.alertId === r.offers[0]!.alertId), true, 'the same alert id: the band updates it')
  h.d.cancelOrigin('button', 'btn-9', 20_000, 'button btn-9')
  t.equal(r.state, 'cancelled')
  t.equal(h.alerts('cancelled').length, 1, 'the clerk is told')
  const next = h.d.call({ source: 'button', origin: 'btn-9', zone: 'a', ts: 30_000 })
  t.ok(next.created, 'after it closed, a press is a new request')
  t.equal(next.request.priority, 1)
})

t.test('acknowledgements: duplicate, late, taken, closed, busy, unknown, not yours', async (t) => {
  const h = harness()
  h.clerk('b1', 'a')
  h.clerk('b2', 'b')
  h.clerk('b3', 'd')
  const r = h.d.call({ source: 'button', origin: 'p', zone: 'a', ts: 0 }).request
  const a1 = r.offers[0]!.alertId
  t.equal(r.offers[0]!.band, 'b1')
  h.d.tick(20_000)
  t.equal(r.offers[1]!.band, 'b2')
  // b1 accepts late: still welcome, b2's offer is withdrawn
  h.d.ack('b1', a1, 'accept', 21_000)
  t.equal(r.state, 'arrived', 'b1 is in zone a already')
  t.same(r.acceptedBy, { band: 'b1', clerkId: 'c-b1' })
  t.equal(h.lastAlertTo('b2')!.alert.kind, 'taken')
  h.d.ack('b1', a1, 'accept', 21_500)
  h.d.ack('b2', r.offers[1]!.alertId, 'accept', 22_000)
  t.equal(h.lastAlertTo('b2')!.alert.kind, 'taken', 'b2 is told again it is taken')
  h.d.ack('b2', r.offers[1]!.alertId, 'decline', 22_100)
  h.d.ack('b3', a1, 'accept', 22_200)
  h.d.ack('b3', 'nope', 'accept', 22_300)
  h.d.ack('b2', r.offers[1]!.alertId, 'done', 22_400)
  t.same(h.ignored(), ['duplicate', 'taken', 'late', 'not-yours', 'unknown-alert', 'not-accepted'])
  h.d.ack('b1', a1, 'done', 30_000)
  h.d.ack('b1', a1, 'done', 30_001)
  h.d.ack('b1', a1, 'accept', 30_002)
  t.same(h.ignored().slice(-2), ['duplicate', 'closed'])
  t.equal(h.lastAlertTo('b1')!.alert.kind, 'closed', 'accepting a closed request gets a "no longer needed"')
  t.equal(r.state, 'done')
  t.equal(r.closedAt, 30_000)

  // a clerk who accepts two requests: the second is refused, and moves on to somebody else
  const x = h.d.call({ source: 'button', origin: 'x', zone: 'd', ts: 40_000 }).request
  t.equal(x.offers[0]!.band, 'b3')
  h.d.tick(60_000)
  t.equal(x.offers[1]!.band, 'b2', 'x: b3 did not answer, b2 (20 m) before b1 (30 m)')
  const y = h.d.call({ source: 'button', origin: 'y', zone: 'c', ts: 60_500 }).request
  t.equal(y.offers[0]!.band, 'b3', 'y: b3 is free again and nearest')
  h.d.ack('b3', x.offers[0]!.alertId, 'accept', 61_000)
  t.equal(x.state, 'arrived', 'b3 took x after all (late) and is there')
  t.equal(h.lastAlertTo('b2')!.alert.kind, 'taken')
  h.d.ack('b3', y.offers[0]!.alertId, 'accept', 62_000)
  t.equal(h.ignored().pop(), 'busy', 'b3 cannot take y as well')
  t.equal(h.lastAlertTo('b3')!.alert.kind, 'busy')
  t.equal(y.offers[0]!.outcome, 'busy')
  t.equal(y.offers[1]!.band, 'b2', 'y moves on at once')
  t.equal(y.acceptedBy, null)
})

t.test('a clerk who accepts two requests is refused the second', async (t) => {
  const h = harness({ mode: 'broadcast' })
  h.clerk('b1', 'a')
  h.clerk('b2', 'd')
  const x = h.d.call({ source: 'button', origin: 'x', zone: 'a', ts: 0 }).request
  t.same(x.offers.map((o) => o.band).sort(), ['b1', 'b2'], 'broadcast: every free clerk')
  const y = h.d.call({ source: 'button', origin: 'y', zone: 'b', ts: 100 }).request
  t.equal(y.state, 'queued', 'everyone has a pending alert')
  h.d.ack('b1', x.offers.find((o) => o.band === 'b1')!.alertId, 'accept', 1000)
  t.equal(x.state, 'arrived')
  t.ok(h.alerts('taken').some((a) => a.band === 'b2'), 'the others stand down')
  t.equal(y.state, 'offered', 'b2 is free again and gets y')
  t.equal(h.lastAlertTo('b2')!.alert.kind, 'assist')
  // b1 sees y's alert on a colleague's band? no: b1 may only use alerts sent to b1; give b1 an old alert id of y
  h.d.ack('b1', y.offers[0]!.alertId, 'accept', 1100)
  t.equal(h.ignored().pop(), 'not-yours')
  // escalate y to supervisors, b1 is one of them in this store
  const h2 = harness({ supervisors: ['c-b1'], maxOffers: 1 })
  h2.clerk('b1', 'a')
  h2.clerk('b2', 'd')
  h2.clerk('b3', 'c')
  const first = h2.d.call({ source: 'button', origin: 'x', zone: 'd', ts: 0 }).request
  h2.d.ack('b2', first.offers[0]!.alertId, 'accept', 500)
  const second = h2.d.call({ source: 'button', origin: 'y', zone: 'c', ts: 1000 }).request
  h2.d.tick(21_000) // b3 did not answer: escalation to b1 (supervisor) and to... b2 is busy
  const esc = h2.alerts('escalation')
  t.same(esc.map((a) => a.band), ['b1'])
  h2.d.ack('b1', esc[0]!.alert.alertId, 'accept', 22_000)
  t.equal(second.state, 'accepted', 'the supervisor takes it')
  const third = h2.d.call({ source: 'button', origin: 'z', zone: 'a', ts: 23_000 }).request
  h2.d.tick(44_000)
  const esc3 = h2.alerts('escalation').filter((a) => a.alert.alertId.startsWith(third.id))
  t.equal(esc3.length, 1, 'a busy supervisor still hears escalations')
  h2.d.ack('b1', esc3[0]!.alert.alertId, 'accept', 45_000)
  t.equal(h2.ignored().pop(), 'busy', 'but cannot take a second request')
  t.equal(h2.lastAlertTo('b1')!.alert.kind, 'busy')
  t.equal(third.acceptedBy, null)
})

t.test('bands that go offline: a pending offer moves on, an accepted request goes back to the queue', async (t) => {
  const h = harness()
  h.clerk('b1', 'a', 0)
  h.clerk('b2', 'c', 0)
  const r = h.d.call({ source: 'button', origin: 'p', zone: 'b', ts: 1000 }).request
  const first = r.offers[0]!.band
  const other = first === 'b1' ? 'b2' : 'b1'
  // only the other band keeps sending heartbeats
  for (let ts = 30_000; ts <= 120_000; ts += 30_000) h.d.bandStatus(other, {}, ts)
  h.d.tick(19_000)
  h.d.ack(first, r.offers[0]!.alertId, 'accept', 19_500)
  t.equal(r.state, 'accepted')
  h.d.tick(91_000)
  t.equal(r.state, 'accepted', 'heartbeat timeout is 90 s after the last sign of life (the accept)')
  h.d.tick(110_000)
  t.equal(r.state, 'offered', 'back to the queue and offered again')
  t.equal(r.requeues, 1)
  t.equal(r.priority, 2, 'with a higher priority')
  t.equal(r.offers.at(-1)!.band, other)
  t.ok(h.transitions().some((e) => e.to === 'queued' && /no heartbeat/.test(e.reason)))
  // the offered band goes quiet too: its offer ends before the 20 s timeout, and nobody is left
  h.d.tick(215_000)
  t.equal(r.state, 'queued')
  t.equal(r.offers.at(-1)!.outcome, 'offline')
  // it comes back: the request is offered at once
  h.d.bandStatus(first, {}, 216_000)
  t.equal(r.state, 'offered')
  // off shift mid-offer
  h.d.bandStatus(first, { onShift: false }, 217_000)
  t.equal(r.state, 'queued')
})

t.test('accepted or arrived and never closed: closed as done after closeAfter, without a done time', async (t) => {
  const h = harness({ closeAfterMs: 60_000 })
  h.clerk('b1', 'a')
  const r = h.d.call({ source: 'button', origin: 'p', zone: 'a', ts: 0 }).request
  h.d.ack('b1', r.offers[0]!.alertId, 'accept', 5000)
  for (let ts = 30_000; ts <= 90_000; ts += 30_000) h.d.bandStatus('b1', {}, ts)
  h.d.tick(64_000)
  t.equal(r.state, 'arrived')
  h.d.tick(65_000)
  t.equal(r.state, 'done')
  t.equal(r.closeReason, 'auto-closed')
  t.equal(h.d.band('b1')!.busyWith, null, 'the clerk is free again')
  const f = assistFigures([{ zone: 'a', clerkId: 'c-b1', state: r.state, createdAt: r.createdAt, acceptedAt: r.acceptedAt, arrivedAt: r.arrivedAt, closedAt: r.closedAt, closeReason: r.closeReason }], 'UTC')
  t.equal(f.overall.done.count, 0, 'no done time for an auto-closed request')
  t.equal(f.overall.accept.median, 5)
})

t.test('app requests: status to the member; cancel by the member only', async (t) => {
  const h = harness()
  h.clerk('b1', 'a')
  const r = h.d.call({ source: 'app', origin: 'm-1', memberId: 'm-1', zone: 'b', ts: 0 }).request
  t.equal(h.d.openFor('m-1'), r)
  t.equal(h.d.cancel(r.id, 100, 'member', 'm-2'), null, 'not yours')
  h.d.ack('b1', r.offers[0]!.alertId, 'accept', 1000)
  h.d.bandZone('b1', 'b', 9000)
  t.same(h.fx.filter((e) => e.kind === 'member').map((e) => (e as { state: string }).state), ['queued', 'offered', 'accepted', 'arrived'])
  t.equal(h.d.cancel(r.id, 10_000, 'member', 'm-1')?.state, 'cancelled')
  t.equal(h.lastAlertTo('b1')!.alert.kind, 'cancelled')
  t.equal(h.d.band('b1')!.busyWith, null)
})

t.test('unplaced calls and unlocated clerks: routed anyway, located clerks first', async (t) => {
  const h = harness()
  h.clerk('nowhere', null)
  h.clerk('b1', 'd')
  const r = h.d.call({ source: 'button', origin: 'loose', zone: 'a', ts: 0 }).request
  t.equal(r.offers[0]!.band, 'b1', 'a located clerk before one whose place is unknown')
  const u = h.d.call({ source: 'button', origin: 'unplaced', zone: null, ts: 1 }).request
  t.equal(u.offers[0]!.band, 'nowhere', 'a call from an unplaced button still reaches a clerk')
  t.match(h.lastAlertTo('nowhere')!.alert, { zone: 'unknown', text: /Call button: button unplaced \(not placed in the layout/ }, 'the clerk is told which button')
})

t.test('restore after a restart: the accepting clerk has a heartbeat period to report', async (t) => {
  const h = harness()
  h.clerk('b1', 'a')
  const r = h.d.call({ source: 'button', origin: 'p', zone: 'b', ts: 0 }).request
  h.d.ack('b1', r.offers[0]!.alertId, 'accept', 1000)
  const saved = JSON.parse(JSON.stringify(h.d.list()))
  const h2 = harness()
  h2.d.restore(saved, 500_000)
  t.equal(h2.d.band('b1')!.busyWith, r.id)
  h2.d.bandZone('b1', 'b', 510_000)
  t.equal(h2.d.get(r.id)!.state, 'arrived')
  h2.d.ack('b1', r.offers[0]!.alertId, 'done', 520_000)
  t.equal(h2.d.get(r.id)!.state, 'done', 'acks of alerts sent before the restart still work')
  t.equal(h2.d.call({ source: 'button', origin: 'p', zone: 'b', ts: 530_000 }).created, true)
})

t.test('the gateway calls a clerk for a member standing long in an assist zone, once a visit', async (t) => {
  const a = new AutoAssist([{ zone: 'electronics', afterSeconds: 60 }])
  a.zoneEvent('pm:1', 'm-1', 'electronics', 'enter', 0)
  a.zoneEvent('pm:2', undefined, 'electronics', 'enter', 0)
  a.zoneEvent('pm:3', 'm-3', 'dairy', 'enter', 0)
  t.same(a.due(59_000), [])
  t.same(a.due(60_000), [{ memberId: 'm-1', zone: 'electronics', subject: 'pm:1' }], 'members only, assist zones only')
  t.same(a.due(120_000), [], 'once')
  a.zoneEvent('pm:1', 'm-1', 'electronics', 'dwell', 0)
  t.same(a.due(130_000), [], 'the dwell event of the same visit changes nothing')
  a.zoneEvent('pm:1', 'm-1', 'electronics', 'exit', 0)
  a.zoneEvent('pm:1', 'm-1', 'electronics', 'enter', 200_000)
  a.zoneEvent('pm:1', 'm-1', 'electronics', 'exit', 230_000)
  t.same(a.due(300_000), [], 'left before the time')
  a.zoneEvent('pm:1', 'm-1', 'electronics', 'enter', 400_000)
  t.equal(a.due(460_000).length, 1, 'a new visit')
})

t.test('figures: per stage, zone, clerk and hour', async (t) => {
  t.same(stageStats([]), { count: 0, median: null, p90: null, mean: null, max: null })
  t.same(stageStats([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]), { count: 10, median: 50, p90: 90, mean: 55, max: 100 })
  const base = Date.UTC(2026, 10, 23, 9, 0, 0) // 10:00 in Berlin
  const rec = (zone: string, clerk: string | null, acc: number | null, arr: number | null, done: number | null, hour = 0) => ({
    zone, clerkId: clerk, state: done !== null ? 'done' : arr !== null ? 'arrived' : acc !== null ? 'accepted' : 'expired',
    createdAt: base + hour * 3_600_000, acceptedAt: acc === null ? null : base + hour * 3_600_000 + acc * 1000, arrivedAt: arr === null ? null : base + hour * 3_600_000 + arr * 1000,
    closedAt: done === null ? null : base + hour * 3_600_000 + done * 1000, closeReason: done === null ? null : 'done',
  })
  const f = assistFigures([rec('a', 'c1', 10, 60, 300), rec('a', 'c2', 20, 80, 200, 1), rec('b', 'c1', 30, 90, null, 1), rec('b', null, null, null, null, 2)], 'Europe/Berlin')
  t.equal(f.requests, 4)
  t.same(f.byState, { done: 2, arrived: 1, expired: 1 })
  t.same(f.overall.arrive, { count: 3, median: 80, p90: 90, mean: 76.7, max: 90 })
  t.same(Object.keys(f.byZone), ['a', 'b'])
  t.equal(f.byZone.b!.requests, 2)
  t.same(Object.keys(f.byClerk), ['c1', 'c2'])
  t.equal(f.byClerk.c1!.accept.median, 10)
  t.same(Object.keys(f.byHour), ['10', '11', '12'], 'store-local hours')
})

t.test('zone geometry', async (t) => {
  t.same(polygonCentroid([[0, 0], [4, 0], [4, 2], [0, 2]]), [2, 1])
  t.same(polygonCentroid([[0, 0], [2, 0]]), [1, 0], 'degenerate: the mean')
  const c = zoneCentres({ zones: [{ id: 'p', polygon: [[0, 0], [10, 0], [10, 10], [0, 10]] }, { id: 'q' }, { id: 'r' }], anchors: [{ id: 's1', kind: 'scanner', zone: 'q', x: 20, y: 5 }, { id: 's2', kind: 'scanner', zone: 'q', x: 30, y: 5 }] })
  t.same(c.get('p'), [5, 5])
  t.same(c.get('q'), [25, 5])
  t.notOk(c.has('r'))
  const d = zoneDistance(c)
  t.equal(d('p', 'q'), 20)
  t.equal(d('p', 'p'), 0)
  t.equal(d('p', 'r'), Infinity)
  t.equal(d(null, 'p'), Infinity)
})

t.test('after a restart: bands are told what they hold; an arrived call whose band stays silent closes and frees it', async (t) => {
  const h = harness()
  h.clerk('b1', 'a')
  const { request: r } = h.d.call({ source: 'button', origin: 'btn-1', zone: 'a', ts: 1000 })
  h.d.ack('b1', h.lastAlertTo('b1')!.alert.alertId, 'accept', 2000)
  t.equal(r.state, 'arrived')
  // the gateway restarts with the request open
  const h2 = harness()
  h2.d.restore([JSON.parse(JSON.stringify(r))], 100_000)
  t.equal(h2.d.band('b1')!.busyWith, r.id, 'the band holds it again')
  h2.d.remind(100_000)
  const again = h2.lastAlertTo('b1')!.alert
  t.match(again, { kind: 'assist', alertId: r.offers[0]!.alertId, text: 'Still yours: a' }, 'told again, with the same alert id (done still works)')
  // the band never reports again: after the heartbeat timeout the call is closed as served, the band freed
  h2.d.tick(100_000 + 91_000)
  const closed = h2.d.get(r.id)!
  t.equal(closed.state, 'done')
  t.match(closed.closeReason, /after arriving/)
  t.equal(h2.d.band('b1')!.busyWith, null, 'not busy forever')

  // restored again, and this time the band is there and presses done
  const h3 = harness()
  h3.d.restore([JSON.parse(JSON.stringify(r))], 100_000)
  h3.clerk('b1', 'a', 100_500)
  h3.d.remind(100_500)
  h3.d.ack('b1', r.offers[0]!.alertId, 'done', 101_000)
  t.equal(h3.d.get(r.id)!.closeReason, 'done')
  t.equal(h3.d.band('b1')!.busyWith, null)
})

t.test('band texts name zones by their names; a call from an unplaced button says which button', async (t) => {
  const fx: AssistEffect[] = []
  const d = new AssistDispatcher(POLICY, dist, (e) => fx.push(e), () => 'r1', (z) => ({ a: 'Dairy fridges', b: 'Bakery' } as Record<string, string>)[z] ?? z)
  d.bandStatus('b1', { clerkId: 'c1', onShift: true }, 0)
  d.bandZone('b1', 'b', 0)
  d.call({ source: 'button', origin: 'btn-9', zone: 'a', ts: 1000 })
  const first = fx.filter((e) => e.kind === 'alert').pop() as Extract<AssistEffect, { kind: 'alert' }>
  t.equal(first.alert.text, 'Call button: Dairy fridges')
  t.equal(first.alert.zone, 'a', 'the zone field stays the id (machines read it)')
  const fx2: AssistEffect[] = []
  const d2 = new AssistDispatcher(POLICY, dist, (e) => fx2.push(e), () => 'r2')
  d2.bandStatus('b1', { clerkId: 'c1', onShift: true }, 0)
  d2.bandZone('b1', 'b', 0)
  d2.call({ source: 'button', origin: 'btn-lost', zone: null, ts: 1000 })
  const a = fx2.filter((e) => e.kind === 'alert').pop() as Extract<AssistEffect, { kind: 'alert' }> | undefined
  t.ok(a, 'a call from an unplaced button still alerts a clerk')
  t.match(a!.alert.text, /button btn-lost \(not placed in the layout/)
})
