/**
 * What the scanner's parts share: one advertisement as either backend reports it, the backend interface,
 * and the clock (devices/ imports nothing of the gateway but edge/contract, so these are defined here).
 */

/** epoch milliseconds; tests inject their own */
export interface Clock { now(): number }
export const systemClock: Clock = { now: () => Date.now() }

export type AddressType = 'public' | 'random' | 'unknown'

/**
 * One advertisement (advertising data merged with its scan response), backend-neutral. UUIDs are 128-bit,
 * lower-case, with dashes. `handle` tells advertisers apart for as long as the backend knows them (a BlueZ
 * object path, a noble peripheral id): it may contain the address, so it is used in memory only and never
 * published or logged.
 */
export interface Advertisement {
  handle: string
  addressType: AddressType
  rssi: number
  /** the TX Power Level AD structure (dBm at the antenna), where advertised */
  txPower?: number
  /** the Flags AD structure, where known */
  flags?: number
  manufacturerData: readonly { company: number; data: Buffer }[]
  serviceData: readonly { uuid: string; data: Buffer }[]
  serviceUuids: readonly string[]
  ts: number
}

/** Where a backend stands. Published on the scanner's status topic. */
export type BleState =
  | 'starting'
  /** discovery is on */
  | 'scanning'
  /** bluetoothd (org.bluez) is not on the bus */
  | 'no-bluetoothd'
  /** the adapter is not there (unplugged, wrong name) */
  | 'no-adapter'
  /** the adapter is there but would not power on or start discovery */
  | 'adapter-error'
  | 'stopped'

export interface BackendSink {
  advertisement(ad: Advertisement): void
  state(state: BleState, detail?: string): void
}

/** A BLE backend: node-ble over BlueZ (bluez.ts) or noble on raw HCI (noble.ts). */
export interface BleBackend {
  readonly name: 'node-ble' | 'noble'
  /** Starts scanning and keeps at it (reconnecting with backoff) until stop(). Resolves once the first attempt ran. */
  start(sink: BackendSink): Promise<void>
  stop(): Promise<void>
}

/** Retry delays: exponential from minMs to maxMs, with jitter so that a fleet does not retry in step. */
export class Backoff {
  private n = 0
  constructor(private readonly minMs = 1000, private readonly maxMs = 30_000, private readonly random: () => number = Math.random) {}
  next(): number {
    const base = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.n, 20))
    this.n++
    return Math.round(base * (0.75 + 0.5 * this.random()))
  }
  reset(): void { this.n = 0 }
  get attempts(): number { return this.n }
}

const MAC = /(?<![0-9A-Fa-f])[0-9A-Fa-f]{2}([:_-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])/g

/** Text that may reach a log line (D-Bus error messages carry object paths like .../dev_AA_BB_...): MACs removed. */
export function scrubMacs(text: string): string {
  return text.replace(MAC, '[mac]')
}

const BASE_UUID_TAIL = '-0000-1000-8000-00805f9b34fb'

/** A UUID as backends spell it (16-bit `feaa`, 32-bit, 32 hex digits, dashed) as 128-bit lower-case with dashes; null if it is none. */
export function fullUuid(uuid: string): string | null {
  const u = uuid.toLowerCase().replace(/^0x/, '')
  if (/^[0-9a-f]{1,4}$/.test(u)) return `0000${u.padStart(4, '0')}${BASE_UUID_TAIL}`
  if (/^[0-9a-f]{8}$/.test(u)) return `${u}${BASE_UUID_TAIL}`
  const h = u.replace(/-/g, '')
  if (!/^[0-9a-f]{32}$/.test(h)) return null
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** The 16-bit (4 hex) or 32-bit (8 hex) short form of a UUID on the Bluetooth base UUID, else null. */
export function shortUuid(full: string): string | null {
  if (!full.endsWith(BASE_UUID_TAIL)) return null
  const head = full.slice(0, 8)
  return head.startsWith('0000') ? head.slice(4) : head
}
