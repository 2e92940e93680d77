/** Device online state: P/status and its last will, silence past the kind's expected interval, records merged by id. */
import t from 'tap'
import { DeviceRegistry } from '../../edge/ingest/devices.js'
import { expectedIntervals } from '../../edge/features/devices.js'

const intervals = expectedIntervals({ scanner: 30, band: 90, button: null })
const view = (r: DeviceRegistry, id: string, now: number) => r.list(now, () => true).find((d) => d.id === id)!

t.test('a scanner is online while it publishes and silent once it stops for longer than its interval', async (t) => {
  const r = new DeviceRegistry(100, intervals)
  for (let s = 0; s <= 60; s += 2) r.seen('scanner', 'scn-1', s * 1000)
  t.match(view(r, 'scn-1', 60_000), { online: true, onlineReason: 'messages', silent: false, expectedIntervalSeconds: 30 })
  t.match(view(r, 'scn-1', 90_000), { online: true, silent: false }, '30 s after the last message: not yet')
  t.match(view(r, 'scn-1', 90_001), { online: false, onlineReason: 'silent', silent: true })
  t.same([...r.silentByKind(90_001)], [['scanner', 1]])
  r.seen('scanner', 'scn-1', 95_000)
  t.match(view(r, 'scn-1', 95_000), { online: true, silent: false }, 'back when it speaks again')
})

t.test('P/status and the last will apply to the device whatever kind it was seen as', async (t) => {
  const r = new DeviceRegistry(100, intervals)
  r.seen('scanner', 'scn-1', 1000)
  r.online('device', 'scn-1', true, 2000); r.seen('device', 'scn-1', 2000)
  t.equal(r.size, 1, 'no second record for the status topic')
  t.match(view(r, 'scn-1', 2000), { online: true, onlineReason: 'status', kind: 'scanner', messages: 2 })
  // the broker publishes the last will when the connection drops: offline at once, not after 30 s
  r.online('device', 'scn-1', false, 5000); r.seen('device', 'scn-1', 5000)
  t.match(view(r, 'scn-1', 5000), { online: false, onlineReason: 'status' })
  t.equal(r.get('scanner', 'scn-1')!.lastSeen, 2000, 'a last will is no sign of life')
  r.seen('scanner', 'scn-1', 6000)
  t.match(view(r, 'scn-1', 6000), { online: true, onlineReason: 'messages' }, 'a message after the will: it is back')
})

t.test('a kind without an expected interval is online by its status only', async (t) => {
  const r = new DeviceRegistry(100, intervals)
  r.seen('button', 'btn-1', 0)
  t.match(view(r, 'btn-1', 86_400_000), { online: null, onlineReason: null, silent: false, expectedIntervalSeconds: null }, 'a button that has not been pressed for a day is not flagged')
  r.online('device', 'btn-1', true, 1000)
  t.match(view(r, 'btn-1', 86_400_000), { online: true, onlineReason: 'status' })
  r.online('device', 'btn-1', false, 2000)
  t.match(view(r, 'btn-1', 86_400_000), { online: false, onlineReason: 'status' })
})

t.test('a device first known by its status takes its real kind when it speaks', async (t) => {
  const r = new DeviceRegistry(100, intervals)
  r.online('device', 'scn-2', true, 1000); r.seen('device', 'scn-2', 1000)
  t.equal(view(r, 'scn-2', 1000).kind, 'device')
  r.seen('scanner', 'scn-2', 2000)
  t.equal(r.size, 1)
  t.match(view(r, 'scn-2', 2000), { kind: 'scanner', online: true, onlineReason: 'status', messages: 2 })
  t.same(r.takeRemoved().map((d) => d.kind), ['device'], 'the status-only row is to be deleted')
  // restored in either order, the two rows are one device again
  const r2 = new DeviceRegistry(100, intervals)
  r2.restore({ id: 'x', kind: 'scanner', firstSeen: 0, lastSeen: 100, messages: 5, badMessages: 0, lastBadReason: null, lastBadAt: null, battery: null, online: null })
  r2.restore({ id: 'x', kind: 'device', firstSeen: 0, lastSeen: 50, messages: 1, badMessages: 0, lastBadReason: null, lastBadAt: null, battery: null, online: false })
  t.equal(r2.size, 1)
  t.equal(view(r2, 'x', 100).messages, 6)
})

t.test('changes() reports each transition once; the last bad reasons are kept, bounded', async (t) => {
  const r = new DeviceRegistry(100, intervals)
  for (const ts of [0, 0, 0]) { r.seen('scanner', 'a', ts); r.seen('band', 'b', ts) }
  t.equal(r.changes(1000).length, 2, 'first report')
  t.equal(r.changes(2000).length, 0)
  const c = r.changes(31_000)
  t.same(c.map((x) => [x.record.id, x.to.online, x.to.reason]), [['a', false, 'silent']])
  t.equal(r.changes(40_000).length, 0)
  for (let i = 0; i < 8; i++) r.bad('scanner', 'a', i % 2 ? 'bad-json' : 'invalid', 41_000 + i)
  t.equal(view(r, 'a', 42_000).recentBad.length, 5)
  t.equal(view(r, 'a', 42_000).recentBad.at(-1)!.reason, 'bad-json')
})

t.test('a device heard only once or twice (a test publish) has no rhythm to fall out of', async (t) => {
  const r = new DeviceRegistry(100, intervals)
  r.seen('scanner', 'once', 0)
  t.match(view(r, 'once', 600_000), { silent: false }, 'one message, then nothing: not flagged')
  for (const ts of [600_000, 601_000]) r.seen('scanner', 'once', ts)
  t.match(view(r, 'once', 700_000), { silent: true, onlineReason: 'silent' }, 'after a few messages it is expected to keep reporting')
})
