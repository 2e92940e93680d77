/**
 * The noble backend (@abandonware/noble): LE scanning on a raw HCI socket, without bluetoothd. For boxes
 * where BlueZ is not wanted or too old. The process needs CAP_NET_RAW and CAP_NET_ADMIN (the systemd unit
 * grants them) and the adapter must be up but not used by bluetoothd (`systemctl disable --now bluetooth`,
 * or `hciconfig hci0 down` before bluetoothd claims it): noble cannot power an adapter on.
 *
 * noble is an optional dependency (it compiles native code at install); it is loaded only when this backend
 * is chosen. Its event API: 'stateChange' (poweredOn, poweredOff, unauthorized, unsupported, resetting),
 * 'scanStart' / 'scanStop', 'discover' with a peripheral whose advertisement holds the parsed AD structures
 * (manufacturerData as one Buffer starting with the company id, serviceData [{uuid, data}] with short or
 * 32-hex UUIDs, serviceUuids, txPowerLevel). noble keeps every peripheral it ever saw (noble/noble#636),
 * which with random addresses grows without end: this backend forgets the oldest past `maxPeripherals`.
 * Flags are not exposed by noble, so `adv` carries no Flags structure on this backend.
 */
import { Backoff, fullUuid, scrubMacs, systemClock, type AddressType, type Advertisement, type BackendSink, type BleBackend, type BleState, type Clock } from './types.js'

/** The part of noble's API this backend uses (a fake of it drives the unit tests). */
export interface NobleLike {
  readonly state: string
  on(event: 'stateChange', listener: (state: string) => void): unknown
  on(event: 'scanStart', listener: (filterDuplicates?: boolean) => void): unknown
  on(event: 'scanStop', listener: () => void): unknown
  on(event: 'discover', listener: (p: NoblePeripheral) => void): unknown
  on(event: 'warning', listener: (message: string) => void): unknown
  removeAllListeners(event?: string): unknown
  startScanning(serviceUuids: string[], allowDuplicates: boolean, callback?: (err?: Error | null) => void): void
  stopScanning(callback?: () => void): void
  /** noble's per-peripheral bookkeeping, pruned here (see the header) */
  _peripherals?: Record<string, unknown>
  _services?: Record<string, unknown>
  _characteristics?: Record<string, unknown>
  _descriptors?: Record<string, unknown>
  _discoveredPeripheralUUids?: Record<string, unknown>
  _bindings?: { _gap?: { _discoveries?: Record<string, unknown> } }
}

export interface NoblePeripheral {
  id: string
  addressType?: string
  rssi: number
  advertisement: {
    txPowerLevel?: number
    manufacturerData?: Buffer
    serviceData?: { uuid: string; data: Buffer }[]
    serviceUuids?: string[]
  }
}

export interface NobleOptions {
  adapter: string
  /** makes the noble instance for an HCI device number; default: @abandonware/noble's with-custom-binding */
  load?: (deviceId: number) => Promise<NobleLike>
  clock?: Clock
  log?: { warn(o: object, msg: string): void; info(o: object, msg: string): void; debug(o: object, msg: string): void }
  backoffMinMs?: number
  backoffMaxMs?: number
  maxPeripherals?: number
}

const noop = { warn() {}, info() {}, debug() {} }

async function loadNoble(deviceId: number): Promise<NobleLike> {
  let factory: (o: { deviceId: number }) => NobleLike
  try {
    const mod = await import('@abandonware/noble/with-custom-binding.js' as string) as { default: typeof factory }
    factory = mod.default
  } catch (err) {
    throw new NobleMissing(`AISLE_BLE_BACKEND=noble, but @abandonware/noble is not installed or did not build (${(err as Error).message}); \`npm install @abandonware/noble\` needs python3, make and a C++ compiler`)
  }
  try {
    return factory({ deviceId })
  } catch (err) {
    throw new Error(`no raw HCI socket for hci${deviceId} (${(err as Error).message}): no Bluetooth in this kernel, or no such adapter`)
  }
}

/** noble itself is missing: a configuration problem, not something to retry. */
export class NobleMissing extends Error {}

/** noble's peripheral as an Advertisement. */
export function advertisementOf(p: NoblePeripheral, ts: number): Advertisement {
  const a = p.advertisement ?? {}
  const manufacturerData: { company: number; data: Buffer }[] = []
  const m = a.manufacturerData
  if (Buffer.isBuffer(m) && m.length >= 2) manufacturerData.push({ company: m.readUInt16LE(0), data: m.subarray(2) })
  const serviceData: { uuid: string; data: Buffer }[] = []
  for (const s of a.serviceData ?? []) {
    const u = typeof s?.uuid === 'string' ? fullUuid(s.uuid) : null
    if (u && Buffer.isBuffer(s.data)) serviceData.push({ uuid: u, data: s.data })
  }
  const serviceUuids: string[] = []
  for (const s of a.serviceUuids ?? []) { const u = typeof s === 'string' ? fullUuid(s) : null; if (u) serviceUuids.push(u) }
  const addressType: AddressType = p.addressType === 'public' || p.addressType === 'random' ? p.addressType : 'unknown'
  const ad: Advertisement = { handle: String(p.id), addressType, rssi: p.rssi, manufacturerData, serviceData, serviceUuids, ts }
  if (typeof a.txPowerLevel === 'number' && Number.isInteger(a.txPowerLevel)) ad.txPower = a.txPowerLevel
  return ad
}

export class NobleBackend implements BleBackend {
  readonly name = 'noble' as const
  private readonly clock: Clock
  private readonly log: NonNullable<NobleOptions['log']>
  private readonly backoff: Backoff
  private readonly deviceId: number
  private noble: NobleLike | null = null
  private sink: BackendSink | null = null
  private running = false
  private scanning = false
  /** startScanning was called and neither scanStart nor a failure came back yet */
  private requested = false
  private state: BleState = 'stopped'
  private timer: NodeJS.Timeout | null = null
  /** peripheral ids in the order first seen, for pruning noble's bookkeeping */
  private readonly seen = new Map<string, true>()
  advertisements = 0

  constructor(private readonly o: NobleOptions) {
    this.clock = o.clock ?? systemClock
    this.log = o.log ?? noop
    this.backoff = new Backoff(o.backoffMinMs ?? 1000, o.backoffMaxMs ?? 30_000)
    this.deviceId = Number(/^hci(\d+)$/.exec(o.adapter)?.[1] ?? 'NaN')
    if (!Number.isInteger(this.deviceId)) throw new Error(`noble: adapter ${o.adapter} is not of the form hci<N>`)
  }

  async start(sink: BackendSink): Promise<void> {
    if (this.running) throw new Error('already started')
    this.sink = sink
    this.running = true
    this.setState('starting')
    await this.open()
  }

  async stop(): Promise<void> {
    this.running = false
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    const n = this.noble
    if (n && this.scanning) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000)
        try { n.stopScanning(() => { clearTimeout(t); resolve() }) } catch { clearTimeout(t); resolve() }
      })
    }
    n?.removeAllListeners()
    this.scanning = false
    this.setState('stopped')
  }

  private setState(state: BleState, detail?: string): void {
    if (state === this.state) return
    this.state = state
    if (state === 'scanning') this.log.info({ adapter: this.o.adapter }, 'BLE (noble): scanning')
    else if (state !== 'stopped' && state !== 'starting') this.log.warn({ adapter: this.o.adapter, state }, `BLE (noble): ${detail ?? state}`)
    this.sink?.state(state, detail)
  }

  private retry(fn: () => void, state: BleState, detail: string): void {
    this.setState(state, detail)
    if (!this.running || this.timer) return
    const ms = this.backoff.next()
    this.timer = setTimeout(() => { this.timer = null; if (this.running) fn() }, ms)
    this.timer.unref?.()
  }

  private async open(): Promise<void> {
    let n: NobleLike
    const before = new Set(process.listeners('SIGINT'))
    try {
      n = await (this.o.load ?? loadNoble)(this.deviceId)
    } catch (err) {
      if (err instanceof NobleMissing) { this.running = false; this.setState('stopped'); throw err }
      // no HCI socket support in the kernel, no adapter yet: try again later
      this.retry(() => { void this.open() }, 'no-adapter', scrubMacs((err as Error).message))
      return
    }
    if (!this.running) return
    this.noble = n
    n.on('warning', (message) => {
      const text = scrubMacs(String(message))
      if (!/Initialization/i.test(text)) { this.log.debug({ warning: text }, 'noble warning'); return }
      // the HCI socket could not be bound (no such adapter, no permission): a fresh instance later
      n.removeAllListeners()
      if (this.noble === n) this.noble = null
      this.scanning = false
      this.retry(() => { void this.open() }, 'no-adapter', text)
    })
    n.on('stateChange', (state) => { if (this.noble === n) this.onState(state) })
    n.on('scanStart', () => { if (this.noble !== n) return; this.scanning = true; this.requested = false; this.backoff.reset(); this.setState('scanning') })
    n.on('scanStop', () => {
      if (this.noble !== n) return
      const was = this.scanning
      this.scanning = false
      this.requested = false
      if (was && this.running) this.retry(() => this.scan(), 'adapter-error', 'scanning stopped')
    })
    n.on('discover', (p) => { if (this.noble === n) this.onDiscover(p) })
    // the 'stateChange' listener makes noble initialise its bindings on the next tick
    await new Promise((r) => setImmediate(r))
    // noble exits the process on SIGINT when its handler is the last one; the scanner stops it itself
    for (const l of process.listeners('SIGINT')) if (!before.has(l)) process.removeListener('SIGINT', l)
  }

  private onState(state: string): void {
    if (!this.running) return
    if (state !== 'poweredOn') this.requested = false
    switch (state) {
      case 'poweredOn': this.scan(); return
      case 'poweredOff': this.scanning = false; this.setState('adapter-error', `adapter ${this.o.adapter} is down (noble cannot power it on: \`btmgmt --index ${this.deviceId} power on\` or \`hciconfig ${this.o.adapter} up\`)`); return
      case 'unauthorized': this.scanning = false; this.setState('adapter-error', 'no permission for raw HCI (needs CAP_NET_RAW and CAP_NET_ADMIN)'); return
      case 'unsupported': this.scanning = false; this.setState('no-adapter', `adapter ${this.o.adapter} does not support LE or is missing`); return
      default: this.scanning = false; this.setState('starting', state)
    }
  }

  private scan(): void {
    const n = this.noble
    if (!n || !this.running || this.scanning || this.requested) return
    this.requested = true
    const failed = (err: Error): void => {
      this.requested = false
      this.retry(() => this.scan(), 'adapter-error', scrubMacs(err.message))
    }
    try {
      // allowDuplicates: every advertisement, so that RSSI keeps coming
      n.startScanning([], true, (err) => { if (err) failed(err) })
    } catch (err) {
      failed(err as Error)
    }
  }

  private onDiscover(p: NoblePeripheral): void {
    if (!this.running || !this.sink) return
    try {
      this.advertisements++
      this.sink.advertisement(advertisementOf(p, this.clock.now()))
    } finally {
      this.forget(String(p.id))
    }
  }

  private forget(id: string): void {
    if (this.seen.has(id)) return
    this.seen.set(id, true)
    const max = this.o.maxPeripherals ?? 2048
    if (this.seen.size <= max) return
    const oldest = this.seen.keys().next().value as string
    this.seen.delete(oldest)
    const n = this.noble
    if (!n) return
    delete n._peripherals?.[oldest]
    delete n._services?.[oldest]
    delete n._characteristics?.[oldest]
    delete n._descriptors?.[oldest]
    delete n._discoveredPeripheralUUids?.[oldest]
    // the HCI layer keeps one entry per address too (the id is the address without colons)
    const d = n._bindings?._gap?._discoveries
    if (d) delete d[oldest.replace(/(..)(?!$)/g, '$1:')]
  }
}
