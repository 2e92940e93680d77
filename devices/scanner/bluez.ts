/**
 * The node-ble backend: BlueZ over D-Bus (the default; bluetoothd keeps owning the radio).
 *
 * node-ble opens the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured) and manages the adapter: it finds
 * it, powers it on through the adapter's property helper (node-ble has no call for that), sets the
 * discovery filter (LE, DuplicateData=true so that every advertisement brings its RSSI) and starts
 * discovery. node-ble has no discovery events, and a proxy object per device would cost an Introspect
 * and a match rule per phone walking by, so advertisements are read off the same D-Bus connection with
 * three bus-level match rules (Properties.PropertiesChanged under the adapter, ObjectManager.InterfacesAdded /
 * InterfacesRemoved, NameOwnerChanged of org.bluez). Those rules name org.bluez, which the bus daemon
 * resolves to whoever owns it at the time, so they keep working after bluetoothd restarts; dbus-next
 * proxies, on the other hand, keep the owner they resolved when they were made and silently get nothing
 * from a new bluetoothd, so the adapter's proxies are made afresh on every bring-up. No introspection is
 * needed for the signals (python-dbusmock's bluez5 template, for one, declares none of them).
 *
 * Survival: bluetoothd going away (NameOwnerChanged), the adapter disappearing (InterfacesRemoved, a
 * dongle pulled), powered off or discovery stopped by someone else (PropertiesChanged) all lead to a
 * fresh bring-up, retried with exponential backoff; a watchdog re-checks every `watchdogMs` in case a
 * signal was missed, and a lost bus connection is reopened.
 *
 * Device properties are cached per object path (PropertiesChanged carries only what changed), bounded by
 * `maxDevices`. The path contains the address: it stays in memory and never reaches a log line.
 */
import { Message, MessageType, Variant, type MessageBus } from 'dbus-next'
import NodeBle from 'node-ble'
import { Backoff, fullUuid, scrubMacs, systemClock, type AddressType, type Advertisement, type BackendSink, type BleBackend, type BleState, type Clock } from './types.js'

const BLUEZ = 'org.bluez'
const DEVICE = 'org.bluez.Device1'
const ADAPTER = 'org.bluez.Adapter1'
const PROPS = 'org.freedesktop.DBus.Properties'
const OM = 'org.freedesktop.DBus.ObjectManager'
const DBUS = 'org.freedesktop.DBus'

export interface BluezOptions {
  adapter: string
  clock?: Clock
  log?: { warn(o: object, msg: string): void; info(o: object, msg: string): void; debug(o: object, msg: string): void }
  backoffMinMs?: number
  backoffMaxMs?: number
  /** how often discovery is re-checked when all seems well */
  watchdogMs?: number
  /** a D-Bus call that takes longer fails */
  callTimeoutMs?: number
  maxDevices?: number
}

interface Dev {
  addressType: AddressType
  rssi?: number
  txPower?: number
  flags?: number
  manufacturerData: { company: number; data: Buffer }[]
  serviceData: { uuid: string; data: Buffer }[]
  serviceUuids: string[]
}

/** node-ble's internals this backend relies on (checked at run time: a node-ble upgrade that drops them fails loudly). */
interface NodeBleHelper {
  prop(name: string): Promise<unknown>
  set(name: string, value: Variant): Promise<void>
  callMethod(name: string, ...args: unknown[]): Promise<unknown>
}
interface Session { destroy(): void; bluetooth: NodeBle.Bluetooth; bus: MessageBus }

type Vmap = Record<string, Variant>

const noop = { warn() {}, info() {}, debug() {} }

class TimeoutError extends Error {}

function helperOf(adapter: NodeBle.Adapter): NodeBleHelper {
  const h = (adapter as unknown as { helper?: NodeBleHelper }).helper
  if (!h || typeof h.set !== 'function' || typeof h.callMethod !== 'function') throw new Error('node-ble: Adapter.helper (prop/set/callMethod) not found; this node-ble version is not supported')
  return h
}

const errText = (err: unknown): string => scrubMacs(err instanceof Error ? `${(err as { type?: string }).type ? `${(err as { type?: string }).type}: ` : ''}${err.message}` : String(err))
const dbusErrorType = (err: unknown): string | undefined => (err as { type?: string } | null)?.type

export class BluezBackend implements BleBackend {
  readonly name = 'node-ble' as const
  private readonly clock: Clock
  private readonly log: NonNullable<BluezOptions['log']>
  private readonly backoff: Backoff
  private readonly adapterPath: string
  private readonly devicePrefix: string
  private readonly devices = new Map<string, Dev>()
  private readonly fetching = new Set<string>()
  private sink: BackendSink | null = null
  private session: Session | null = null
  private helper: NodeBleHelper | null = null
  private bluezOwner: string | null = null
  private running = false
  private scanning = false
  private state: BleState = 'stopped'
  private timer: NodeJS.Timeout | null = null
  private timerAt = Infinity
  private ensuring: Promise<void> | null = null
  private again = false
  /** advertisements handed on, for benchmarks and tests */
  advertisements = 0

  constructor(private readonly o: BluezOptions) {
    this.clock = o.clock ?? systemClock
    this.log = o.log ?? noop
    this.backoff = new Backoff(o.backoffMinMs ?? 1000, o.backoffMaxMs ?? 30_000)
    this.adapterPath = `/org/bluez/${o.adapter}`
    this.devicePrefix = `${this.adapterPath}/`
  }

  async start(sink: BackendSink): Promise<void> {
    if (this.running) throw new Error('already started')
    this.sink = sink
    this.running = true
    this.setState('starting')
    await this.ensure()
  }

  async stop(): Promise<void> {
    this.running = false
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    // a bring-up under way notices `running` at its next step; do not wait out its D-Bus timeouts
    if (this.ensuring) await Promise.race([this.ensuring.catch(() => {}), new Promise((r) => setTimeout(r, 1000))])
    // also when a bring-up may just have started it (BlueZ ends a client's discovery when its connection
    // closes anyway; this is the tidy way)
    const helper = this.helper
    if (helper && this.session) {
      await this.timed(helper.callMethod('StopDiscovery'), 'StopDiscovery', 2000).catch(() => {})
    }
    this.scanning = false
    this.closeSession()
    this.setState('stopped')
  }

  /** Run a bring-up, or remember to run another one if one is under way. */
  private ensure(): Promise<void> {
    if (this.ensuring) { this.again = true; return this.ensuring }
    this.ensuring = (async () => {
      do {
        this.again = false
        await this.bringUp()
      } while (this.again && this.running)
    })().finally(() => { this.ensuring = null })
    return this.ensuring
  }

  /** Run ensure() in `ms` (an earlier request wins). */
  private schedule(ms: number): void {
    if (!this.running) return
    const at = Date.now() + ms
    if (this.timer && this.timerAt <= at) return
    if (this.timer) clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => { this.timer = null; this.timerAt = Infinity; void this.ensure() }, ms)
    this.timer.unref?.()
  }

  private retry(state: BleState, detail: string): void {
    this.setState(state, detail)
    const ms = this.backoff.next()
    this.log.debug({ state, retryMs: ms }, `BLE: ${detail}; retrying`)
    this.schedule(ms)
  }

  private setState(state: BleState, detail?: string): void {
    if (state === this.state) return
    this.state = state
    if (state === 'scanning') this.log.info({ adapter: this.o.adapter }, 'BLE: discovering')
    else if (state !== 'stopped' && state !== 'starting') this.log.warn({ adapter: this.o.adapter, state }, `BLE: ${detail ?? state}`)
    this.sink?.state(state, detail)
  }

  private timed<T>(p: Promise<T>, what: string, ms = this.o.callTimeoutMs ?? 5000): Promise<T> {
    let t: NodeJS.Timeout
    return Promise.race([
      p,
      new Promise<never>((_, reject) => { t = setTimeout(() => reject(new TimeoutError(`${what}: no answer in ${ms} ms`)), ms) }),
    ]).finally(() => clearTimeout(t))
  }

  private async call(msg: ConstructorParameters<typeof Message>[0], what: string): Promise<unknown[]> {
    const bus = this.session?.bus
    if (!bus) throw new Error('no D-Bus connection')
    const reply = await this.timed(bus.call(new Message(msg)), what)
    return reply?.body ?? []
  }

  private async openSession(): Promise<void> {
    const { bluetooth, destroy } = NodeBle.createBluetooth()
    const bus = (bluetooth as unknown as { dbus?: MessageBus }).dbus
    if (!bus || typeof bus.call !== 'function') { destroy(); throw new Error('node-ble: Bluetooth.dbus not found; this node-ble version is not supported') }
    // connected once the bus said Hello; a socket that cannot be opened fails at once
    try {
      await this.timed(new Promise<void>((resolve, reject) => {
        bus.once('connect', () => resolve())
        bus.once('error', (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))))
      }), 'D-Bus connection')
    } catch (err) {
      bus.removeAllListeners()
      bus.on('error', () => {})
      try { destroy() } catch { /* never opened */ }
      throw new Error(`no D-Bus system bus (${process.env['DBUS_SYSTEM_BUS_ADDRESS'] ?? 'unix:path=/var/run/dbus/system_bus_socket'}): ${(err as Error).message}`)
    }
    bus.removeAllListeners('error')
    const session: Session = { bluetooth, destroy, bus }
    this.session = session
    bus.on('error', (err: unknown) => {
      if (this.session !== session) return
      this.log.debug({ err: errText(err) }, 'BLE: D-Bus connection error')
      this.closeSession()
      this.retry('no-bluetoothd', `D-Bus connection lost: ${errText(err)}`)
    })
    bus.on('message', (msg: Message) => { if (this.session === session) this.onMessage(msg) })
    const rules = [
      `type='signal',sender='${DBUS}',interface='${DBUS}',member='NameOwnerChanged',arg0='${BLUEZ}'`,
      `type='signal',sender='${BLUEZ}',interface='${OM}',path='/'`,
      `type='signal',sender='${BLUEZ}',interface='${PROPS}',member='PropertiesChanged',path_namespace='${this.adapterPath}'`,
    ]
    for (const rule of rules) await this.call({ destination: DBUS, path: '/org/freedesktop/DBus', interface: DBUS, member: 'AddMatch', signature: 's', body: [rule] }, 'AddMatch')
  }

  private closeSession(): void {
    const s = this.session
    this.session = null
    this.helper = null
    this.scanning = false
    this.bluezOwner = null
    this.devices.clear()
    this.fetching.clear()
    if (s) {
      s.bus.removeAllListeners('message')
      try { s.destroy() } catch { /* already closed */ }
    }
  }

  private async bringUp(): Promise<void> {
    if (!this.running) return
    try {
      if (!this.session) await this.openSession()
      if (!this.running) { this.closeSession(); return }
      const [owner] = await this.call({ destination: DBUS, path: '/org/freedesktop/DBus', interface: DBUS, member: 'NameHasOwner', signature: 's', body: [BLUEZ] }, 'NameHasOwner')
      if (!owner) {
        this.bluezOwner = null
        this.scanning = false
        this.retry('no-bluetoothd', 'bluetoothd (org.bluez) is not running')
        return
      }
      const [unique] = await this.call({ destination: DBUS, path: '/org/freedesktop/DBus', interface: DBUS, member: 'GetNameOwner', signature: 's', body: [BLUEZ] }, 'GetNameOwner')
      if (unique !== this.bluezOwner) {
        // a new bluetoothd: everything known about the old one is stale
        this.bluezOwner = unique as string
        this.devices.clear()
        this.scanning = false
        this.helper = null
      }
      if (this.scanning && this.helper) {
        // the watchdog: discovery should still be on
        if (await this.timed(this.helper.prop('Discovering'), 'Discovering') === true) { this.schedule(this.o.watchdogMs ?? 30_000); return }
        this.scanning = false
      }
      let adapter: NodeBle.Adapter
      try {
        adapter = await this.timed(this.session!.bluetooth.getAdapter(this.o.adapter), 'getAdapter')
      } catch (err) {
        if ((err as Error).message === 'Adapter not found') { this.retry('no-adapter', `adapter ${this.o.adapter} not found`); return }
        throw err
      }
      // fresh proxies (see the header): node-ble's Adapter makes its own on first use
      const helper = helperOf(adapter)
      this.helper = helper
      if (await this.timed(helper.prop('Powered'), 'Powered') !== true) {
        this.log.info({ adapter: this.o.adapter }, 'BLE: powering the adapter on')
        await this.timed(helper.set('Powered', new Variant('b', true)), 'Set Powered')
        await this.waitPowered(helper)
      }
      if (!this.running) return
      await this.timed(helper.callMethod('SetDiscoveryFilter', { Transport: new Variant('s', 'le'), DuplicateData: new Variant('b', true) }), 'SetDiscoveryFilter')
      try {
        await this.timed(helper.callMethod('StartDiscovery'), 'StartDiscovery')
      } catch (err) {
        // InProgress: this connection's discovery is on already
        if (dbusErrorType(err) !== 'org.bluez.Error.InProgress') throw err
      }
      if (!this.running) return
      this.scanning = true
      await this.seedDevices()
      if (!this.running) return
      this.backoff.reset()
      this.setState('scanning')
      this.schedule(this.o.watchdogMs ?? 30_000)
    } catch (err) {
      if (!this.running) return
      this.scanning = false
      // no answer at all: the connection may be dead without saying so (dbus-next does not report a closed
      // socket until it writes); a fresh one costs little
      if (err instanceof TimeoutError) this.closeSession()
      this.retry(this.session ? 'adapter-error' : 'no-bluetoothd', errText(err))
    }
  }

  private async waitPowered(helper: NodeBleHelper): Promise<void> {
    for (let i = 0; i < 50; i++) {
      if (await this.timed(helper.prop('Powered'), 'Powered') === true) return
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`adapter ${this.o.adapter} did not power on (rfkill? \`rfkill unblock bluetooth\`)`)
  }

  /** Devices bluetoothd already knows (cached or paired): their data, so that an RSSI change can be used at once. */
  private async seedDevices(): Promise<void> {
    const [objects] = await this.call({ destination: BLUEZ, path: '/', interface: OM, member: 'GetManagedObjects' }, 'GetManagedObjects')
    for (const [path, ifaces] of Object.entries((objects ?? {}) as Record<string, Record<string, Vmap>>)) {
      const props = ifaces[DEVICE]
      if (!props || !path.startsWith(this.devicePrefix) || this.devices.has(path)) continue
      const d = this.newDevice(path, props)
      delete d.rssi // a cached RSSI is old news: wait for the next advertisement
    }
  }

  private newDevice(path: string, props: Vmap): Dev {
    const max = this.o.maxDevices ?? 8192
    if (this.devices.size >= max) {
      const oldest = this.devices.keys().next().value
      if (oldest !== undefined) this.devices.delete(oldest)
    }
    const d: Dev = { addressType: 'unknown', manufacturerData: [], serviceData: [], serviceUuids: [] }
    this.apply(d, props)
    this.devices.set(path, d)
    return d
  }

  private apply(d: Dev, props: Vmap): void {
    for (const key in props) {
      const v = props[key]?.value
      switch (key) {
        case 'RSSI': d.rssi = typeof v === 'number' ? v : undefined; break
        case 'TxPower': d.txPower = typeof v === 'number' ? v : undefined; break
        case 'AddressType': d.addressType = v === 'public' || v === 'random' ? v : 'unknown'; break
        case 'AdvertisingFlags': d.flags = Buffer.isBuffer(v) && v.length ? v[0] : undefined; break
        case 'ManufacturerData': {
          const out: Dev['manufacturerData'] = []
          if (v && typeof v === 'object') {
            for (const [company, data] of Object.entries(v as Record<string, Variant>)) {
              const c = Number(company)
              if (Number.isInteger(c) && c >= 0 && c <= 0xffff && Buffer.isBuffer(data?.value)) out.push({ company: c, data: data.value })
            }
          }
          d.manufacturerData = out
          break
        }
        case 'ServiceData': {
          const out: Dev['serviceData'] = []
          if (v && typeof v === 'object') {
            for (const [uuid, data] of Object.entries(v as Record<string, Variant>)) {
              const u = fullUuid(uuid)
              if (u && Buffer.isBuffer(data?.value)) out.push({ uuid: u, data: data.value })
            }
          }
          d.serviceData = out
          break
        }
        case 'UUIDs': {
          const out: string[] = []
          if (Array.isArray(v)) for (const u of v) { const f = typeof u === 'string' ? fullUuid(u) : null; if (f) out.push(f) }
          d.serviceUuids = out
          break
        }
      }
    }
  }

  private emit(path: string, d: Dev): void {
    if (d.rssi === undefined || !this.sink) return
    this.advertisements++
    const ad: Advertisement = {
      handle: path,
      addressType: d.addressType,
      rssi: d.rssi,
      manufacturerData: d.manufacturerData,
      serviceData: d.serviceData,
      serviceUuids: d.serviceUuids,
      ts: this.clock.now(),
    }
    if (d.txPower !== undefined) ad.txPower = d.txPower
    if (d.flags !== undefined) ad.flags = d.flags
    this.sink.advertisement(ad)
  }

  private onMessage(msg: Message): void {
    if (msg.type !== MessageType.SIGNAL || !this.running) return
    try {
      if (msg.member === 'PropertiesChanged') {
        if (msg.sender !== this.bluezOwner || msg.interface !== PROPS) return
        const [iface, changed] = msg.body as [string, Vmap]
        if (iface === DEVICE && msg.path.startsWith(this.devicePrefix)) this.deviceChanged(msg.path, changed)
        else if (iface === ADAPTER && msg.path === this.adapterPath) this.adapterChanged(changed)
      } else if (msg.member === 'InterfacesAdded') {
        if (msg.sender !== this.bluezOwner || msg.interface !== OM) return
        const [path, ifaces] = msg.body as [string, Record<string, Vmap>]
        const dev = ifaces[DEVICE]
        if (dev && path.startsWith(this.devicePrefix)) this.emit(path, this.newDevice(path, dev))
        else if (ifaces[ADAPTER] && path === this.adapterPath) this.schedule(50) // the adapter is back
      } else if (msg.member === 'InterfacesRemoved') {
        if (msg.sender !== this.bluezOwner || msg.interface !== OM) return
        const [path, ifaces] = msg.body as [string, string[]]
        if (path.startsWith(this.devicePrefix)) this.devices.delete(path)
        else if (path === this.adapterPath && ifaces.includes(ADAPTER)) {
          this.scanning = false
          this.helper = null
          this.devices.clear()
          this.retry('no-adapter', `adapter ${this.o.adapter} removed`)
        }
      } else if (msg.member === 'NameOwnerChanged' && msg.sender === DBUS) {
        const [name, , owner] = msg.body as [string, string, string]
        if (name !== BLUEZ) return
        this.scanning = false
        this.helper = null
        this.devices.clear()
        this.fetching.clear()
        if (owner === '') {
          this.bluezOwner = null
          this.retry('no-bluetoothd', 'bluetoothd (org.bluez) went away')
        } else {
          this.bluezOwner = owner
          this.backoff.reset()
          this.schedule(200) // give the new bluetoothd a moment to register its adapters
        }
      }
    } catch (err) {
      // a malformed signal is bluetoothd's problem, never ours to crash on
      this.log.debug({ err: errText(err) }, 'BLE: signal ignored')
    }
  }

  private deviceChanged(path: string, changed: Vmap): void {
    const d = this.devices.get(path)
    if (!d) { this.fetchDevice(path); return }
    this.apply(d, changed)
    if ('RSSI' in changed) this.emit(path, d)
  }

  private adapterChanged(changed: Vmap): void {
    const powered = changed['Powered']?.value
    const discovering = changed['Discovering']?.value
    if (powered === false) {
      this.scanning = false
      this.retry('adapter-error', `adapter ${this.o.adapter} powered off`)
    } else if (discovering === false && this.scanning) {
      this.scanning = false
      this.retry('adapter-error', 'discovery stopped')
    }
  }

  /** A device we missed the InterfacesAdded of (or forgot): read its properties once. */
  private fetchDevice(path: string): void {
    if (this.fetching.has(path) || this.fetching.size >= 64) return
    this.fetching.add(path)
    this.call({ destination: BLUEZ, path, interface: PROPS, member: 'GetAll', signature: 's', body: [DEVICE] }, 'GetAll')
      .then(([props]) => {
        if (!this.fetching.delete(path) || this.devices.has(path)) return
        this.emit(path, this.newDevice(path, props as Vmap))
      }, () => { this.fetching.delete(path) })
  }
}
