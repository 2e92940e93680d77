/**
 * Benchmark process for npm run bench:scanner: one measured run in a process of its own, so that its CPU time
 * and peak RSS are its alone.
 *   baseline  node-ble opens the bus, powers the adapter, starts discovery (DuplicateData) and receives the
 *             same D-Bus signals as the scanner (the same match rules), doing nothing with them: the cost of
 *             BlueZ's signal traffic through dbus-next alone
 *   scanner   the scanner service as `npm run scanner` runs it (node-ble backend, privacy filter, batches,
 *             MQTT), publishing to the parent's broker
 */
import { MessageType, Variant, type Message, type MessageBus } from 'dbus-next'
import NodeBle from 'node-ble'
import { BluezBackend } from '../../devices/scanner/bluez.js'
import { Scanner } from '../../devices/scanner/scanner.js'
import { RssSampler } from './lib.js'

export interface ScannerBenchJob { mode: 'baseline' | 'scanner'; bus: string; mqttUrl: string; prefix: string; warmupMs: number; seconds: number }
export interface ScannerBenchResult { mode: string; cpuMs: number; wallMs: number; signals: number; advertisements: number; sightings: number; messages: number; rssPeak: number }

const quiet = { info() {}, warn() {}, error() {}, debug() {} }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function measure(warmupMs: number, seconds: number, count: () => number, onStart?: () => void): Promise<{ cpuMs: number; wallMs: number; n: number; rssPeak: number }> {
  await sleep(warmupMs)
  onStart?.()
  const rss = new RssSampler().start()
  const n0 = count()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await sleep(seconds * 1000)
  const cpu = process.cpuUsage(cpu0)
  const wallMs = performance.now() - t0
  return { cpuMs: (cpu.user + cpu.system) / 1000, wallMs, n: count() - n0, rssPeak: rss.stop() }
}

async function baseline(job: ScannerBenchJob): Promise<ScannerBenchResult> {
  const { bluetooth, destroy } = NodeBle.createBluetooth()
  const bus = (bluetooth as unknown as { dbus: MessageBus }).dbus
  let signals = 0
  bus.on('message', (m: Message) => { if (m.type === MessageType.SIGNAL && (m.member === 'PropertiesChanged' || m.member === 'InterfacesAdded')) signals++ })
  const { Message: Msg } = await import('dbus-next')
  for (const rule of [
    "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.bluez'",
    "type='signal',sender='org.bluez',interface='org.freedesktop.DBus.ObjectManager',path='/'",
    "type='signal',sender='org.bluez',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path_namespace='/org/bluez/hci0'",
  ]) await bus.call(new Msg({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's', body: [rule] }))
  const adapter = await bluetooth.getAdapter('hci0')
  const helper = (adapter as unknown as { helper: { set(n: string, v: Variant): Promise<void>; callMethod(n: string, ...a: unknown[]): Promise<unknown> } }).helper
  if (!(await adapter.isPowered())) await helper.set('Powered', new Variant('b', true))
  await helper.callMethod('SetDiscoveryFilter', { Transport: new Variant('s', 'le'), DuplicateData: new Variant('b', true) })
  await helper.callMethod('StartDiscovery').catch(() => {})
  const m = await measure(job.warmupMs, job.seconds, () => signals)
  await helper.callMethod('StopDiscovery').catch(() => {})
  destroy()
  return { mode: 'baseline', cpuMs: m.cpuMs, wallMs: m.wallMs, signals: m.n, advertisements: m.n, sightings: 0, messages: 0, rssPeak: m.rssPeak }
}

async function scanner(job: ScannerBenchJob): Promise<ScannerBenchResult> {
  const backend = new BluezBackend({ adapter: 'hci0', log: quiet })
  const s = new Scanner({
    config: { mqttUrl: job.mqttUrl, scannerId: 'scn-bench', prefix: job.prefix, adapter: 'hci0', backend: 'node-ble', intervalMs: 250, maxPerSecond: 4, fingerprints: true, secret: undefined, logLevel: 'silent' },
    backend, log: quiet, statsEveryMs: 0,
  })
  await s.start()
  let st0 = { ...s.stats }
  const m = await measure(job.warmupMs, job.seconds, () => backend.advertisements, () => { st0 = { ...s.stats } })
  const sightings = s.stats.sightings - st0.sightings
  const messages = s.stats.messages - st0.messages
  await s.stop()
  return { mode: 'scanner', cpuMs: m.cpuMs, wallMs: m.wallMs, signals: m.n, advertisements: m.n, sightings, messages, rssPeak: m.rssPeak }
}

process.on('message', (raw) => {
  const job = raw as ScannerBenchJob
  process.env['DBUS_SYSTEM_BUS_ADDRESS'] = job.bus
  ;(job.mode === 'baseline' ? baseline(job) : scanner(job)).then((r) => process.send!({ done: true, ...r }), (err) => process.send!({ error: String((err as Error)?.stack ?? err) }))
})
process.send!({ ready: true })
