import t from 'tap'
import { EventBus } from '../../edge/core/bus.js'
import { HotCounter } from '../../edge/core/metrics.js'
import { Registry } from 'prom-client'
import { DeviceRegistry } from '../../edge/ingest/devices.js'

t.test('typed bus: order, isolation of a throwing listener, off', async (t) => {
  const errors: string[] = []
  const bus = new EventBus<{ a: number; b: string }>((e) => errors.push(e))
  const seen: string[] = []
  const off = bus.on('a', (n) => seen.push(`1:${n}`))
  bus.on('a', () => { throw new Error('boom') })
  bus.on('a', (n) => seen.push(`3:${n}`))
  bus.emit('a', 7)
  t.same(seen, ['1:7', '3:7'])
  t.same(errors, ['a'])
  off()
  bus.emit('a', 8)
  t.same(seen, ['1:7', '3:7', '3:8'])
  t.equal(bus.listenerCount('b'), 0)
})

t.test('hot counters reach prom-client at scrape time', async (t) => {
  const r = new Registry()
  const c = new HotCounter(r, 'x_total', 'x', ['kind', 'outcome'])
  c.inc(['ble', 'ok'])
  c.inc(['ble', 'ok'], 4)
  c.inc(['scan', 'dead-letter'])
  t.match(await r.metrics(), /x_total\{kind="ble",outcome="ok"\} 5/)
  c.inc(['ble', 'ok'])
  t.match(await r.metrics(), /x_total\{kind="ble",outcome="ok"\} 6/, 'only the delta is added')
  t.equal(c.total(), 7)
})

t.test('device registry is bounded and tracks rates', async (t) => {
  const d = new DeviceRegistry(2)
  d.seen('scanner', 'a', 0)
  d.seen('scanner', 'b', 0)
  d.seen('scanner', 'c', 0)
  t.equal(d.size, 2)
  t.equal(d.untracked, 1)
  for (let i = 1; i <= 40; i++) d.seen('scanner', 'a', i * 1000)
  const a = d.list(40_000, () => true).find((x) => x.id === 'a')!
  t.ok(a.messageRate > 0.8 && a.messageRate < 1.2, `about 1 msg/s (${a.messageRate})`)
  d.bad('scanner', 'a', 'bad-json', 41_000)
  t.match(d.list(41_000, () => false).find((x) => x.id === 'a'), { badMessages: 1, lastBadReason: 'bad-json', placed: false })
  t.equal(d.takeDirty().length, 2)
  t.equal(d.takeDirty().length, 0)
})
