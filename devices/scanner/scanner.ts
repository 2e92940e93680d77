/**
 * The scanner service: a BLE backend's advertisements through the privacy filter into rate-limited
 * batches, published like any fixed scanner (CONTRACT section 2):
 *   P/ble/<scannerId>     JSON arrays of sightings, QoS 0, every `intervalMs`; beacons as `adv` (the gateway
 *                         decodes them), member apps and fingerprints as `id`; `ts` from this box's clock
 *   P/status/<scannerId>  {"online": true, "ble": <state>, "backend", "adapter", "ts"}, retained, QoS 1, again
 *                         whenever the BLE state changes; {"online": false} is the last will and is also
 *                         published on a clean stop
 * MQTT user name = scanner id and password = the device secret (CONTRACT 7a) whenever a secret is set.
 * Sightings heard while the broker is unreachable are dropped (counted), not queued: they are only worth
 * something now.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { topics, type BleSighting } from '../../edge/contract/index.js'
import { buildAdv } from './ad.js'
import { DEFAULT_BATCHER, SightingBatcher } from './batcher.js'
import type { ScannerConfig } from './config.js'
import { classify, DROP_REASONS, type DropReason } from './privacy.js'
import { systemClock, type Advertisement, type BleBackend, type BleState, type Clock } from './types.js'

const RECONNECT_MS = 2000
const REFUSED_RECONNECT_MS = 30_000

export interface ScannerLog {
  info(o: object, msg: string): void
  warn(o: object, msg: string): void
  error(o: object, msg: string): void
  debug(o: object, msg: string): void
}

export interface ScannerStats {
  advertisements: number
  beacon: number
  member: number
  fingerprint: number
  dropped: Record<DropReason | 'no-adv' | 'too-many-subjects', number>
  merged: number
  sightings: number
  messages: number
  /** sightings dropped because the broker was unreachable */
  offline: number
}

export interface ScannerDeps {
  config: ScannerConfig
  backend: BleBackend
  log: ScannerLog
  clock?: Clock
  /** how often a stats line is logged (0: never) */
  statsEveryMs?: number
  version?: string
  /** MQTT reconnect delays: after a lost connection, and after refused credentials */
  reconnectMs?: { lost: number; refused: number }
}

const newStats = (): ScannerStats => ({
  advertisements: 0, beacon: 0, member: 0, fingerprint: 0,
  dropped: Object.fromEntries([...DROP_REASONS, 'no-adv', 'too-many-subjects'].map((r) => [r, 0])) as ScannerStats['dropped'],
  merged: 0, sightings: 0, messages: 0, offline: 0,
})

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms) })]).finally(() => clearTimeout(timer))
}

/** The broker URL as it may be logged: without credentials. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url)
    u.username = ''
    u.password = ''
    return u.toString().replace(/\/$/, '')
  } catch { return '(broker)' }
}

export class Scanner {
  readonly stats: ScannerStats = newStats()
  private readonly clock: Clock
  private readonly batcher: SightingBatcher
  private readonly bleTopic: string
  private readonly statusTopic: string
  private client: MqttClient | null = null
  private flushTimer: NodeJS.Timeout | null = null
  private statsTimer: NodeJS.Timeout | null = null
  private ble: BleState = 'starting'
  private bleDetail: string | undefined
  private lastError = ''
  private stopped = false

  constructor(private readonly d: ScannerDeps) {
    this.clock = d.clock ?? systemClock
    this.batcher = new SightingBatcher({ ...DEFAULT_BATCHER, maxPerSecond: d.config.maxPerSecond, intervalMs: d.config.intervalMs })
    this.bleTopic = topics.ble(d.config.prefix, d.config.scannerId)
    this.statusTopic = topics.deviceStatus(d.config.prefix, d.config.scannerId)
  }

  get bleState(): BleState { return this.ble }
  get connected(): boolean { return this.client?.connected ?? false }

  /** Connects (without waiting for the broker: mqtt.js keeps trying) and starts the backend. */
  async start(): Promise<void> {
    const c = this.d.config
    const client = mqtt.connect(c.mqttUrl, {
      clientId: `aisle-scanner-${c.scannerId}`,
      clean: true,
      keepalive: 30,
      reconnectPeriod: this.d.reconnectMs?.lost ?? RECONNECT_MS,
      connectTimeout: 10_000,
      protocolVersion: 4,
      queueQoSZero: false,
      // a refused CONNACK (a secret not registered yet, a broker still loading its devices) is retried too
      reconnectOnConnackError: true,
      ...(c.secret !== undefined ? { username: c.scannerId, password: c.secret } : {}),
      will: { topic: this.statusTopic, payload: Buffer.from(JSON.stringify({ online: false })), qos: 1, retain: true },
    })
    this.client = client
    client.on('connect', () => {
      this.lastError = ''
      client.options.reconnectPeriod = this.d.reconnectMs?.lost ?? RECONNECT_MS
      ;(client.stream as { setNoDelay?: (v: boolean) => void } | undefined)?.setNoDelay?.(true)
      this.d.log.info({ broker: displayUrl(c.mqttUrl), topic: this.bleTopic }, 'connected to the broker')
      this.publishStatus()
    })
    client.on('offline', () => this.d.log.warn({ broker: displayUrl(c.mqttUrl) }, 'broker unreachable; retrying'))
    client.on('error', (err) => {
      const code = (err as { code?: number }).code
      const refused = code === 4 || code === 5 || code === 134 || code === 135
      // refused credentials will not fix themselves within seconds: retry slowly
      const slow = this.d.reconnectMs?.refused ?? REFUSED_RECONNECT_MS
      if (refused) client.options.reconnectPeriod = slow
      const text = refused
        ? `the broker refused ${c.scannerId}'s credentials (${err.message}): check AISLE_DEVICE_SECRET (PUT /v1/admin/devices/${c.scannerId} issues one); retrying every ${Math.round(slow / 1000)} s`
        : `MQTT: ${err.message}`
      if (text !== this.lastError) this.d.log.warn({ broker: displayUrl(c.mqttUrl) }, text)
      this.lastError = text
    })
    this.flushTimer = setInterval(() => this.flush(), c.intervalMs)
    const every = this.d.statsEveryMs ?? 60_000
    if (every > 0) {
      let last = { ...this.stats, dropped: { ...this.stats.dropped } }
      this.statsTimer = setInterval(() => {
        const s = this.stats
        const dropped = Object.fromEntries(Object.entries(s.dropped).map(([k, v]) => [k, v - last.dropped[k as keyof ScannerStats['dropped']]]).filter(([, v]) => (v as number) > 0))
        this.d.log.info({ ble: this.ble, advertisements: s.advertisements - last.advertisements, sightings: s.sightings - last.sightings, messages: s.messages - last.messages, subjects: this.batcher.size, offline: s.offline - last.offline, dropped }, 'scanner stats')
        last = { ...s, dropped: { ...s.dropped } }
      }, every)
      this.statsTimer.unref()
    }
    try {
      await this.d.backend.start({
        advertisement: (ad) => this.onAdvertisement(ad),
        state: (state, detail) => {
          this.ble = state
          this.bleDetail = detail
          this.publishStatus()
        },
      })
    } catch (err) {
      // a backend that cannot work at all (noble not installed): nothing to scan with, so nothing to run
      await this.stop()
      throw err
    }
  }

  /** Stops the backend, publishes what is pending and the offline status, and disconnects. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.flushTimer) clearInterval(this.flushTimer)
    if (this.statsTimer) clearInterval(this.statsTimer)
    await this.d.backend.stop().catch((err) => this.d.log.warn({ err: String((err as Error)?.message ?? err) }, 'BLE backend did not stop cleanly'))
    const client = this.client
    if (!client) return
    this.flush()
    // bounded: a broker that vanished at the same moment must not hold the stop up (systemd would SIGKILL us)
    if (client.connected) {
      await within(client.publishAsync(this.statusTopic, JSON.stringify({ online: false, ts: this.clock.now() }), { qos: 1, retain: true }), 2000).catch(() => {})
    }
    await within(client.endAsync(), 2000).catch(() => within(client.endAsync(true), 1000)).catch(() => {})
    this.client = null
  }

  onAdvertisement(ad: Advertisement): void {
    const s = this.stats
    s.advertisements++
    const c = classify(ad, { fingerprints: this.d.config.fingerprints })
    let sighting: BleSighting
    if (c.kind === 'drop') { s.dropped[c.reason]++; return }
    if (c.kind === 'beacon') {
      const adv = buildAdv(ad)
      if (adv === null) { s.dropped['no-adv']++; return }
      sighting = { adv, rssi: ad.rssi, ts: ad.ts }
      s.beacon++
    } else {
      sighting = { id: c.id, rssi: ad.rssi, ts: ad.ts }
      s[c.kind]++
    }
    const r = this.batcher.offer(c.key, sighting)
    if (r === 'full') s.dropped['too-many-subjects']++
    else if (r === 'merged') s.merged++
  }

  /** Publishes the sightings that are due. Called every intervalMs. */
  flush(): void {
    const { payloads, sightings } = this.batcher.drain(this.clock.now())
    if (!sightings) return
    const client = this.client
    if (!client?.connected) { this.stats.offline += sightings; return }
    for (const p of payloads) client.publish(this.bleTopic, p, { qos: 0 })
    this.stats.sightings += sightings
    this.stats.messages += payloads.length
  }

  private publishStatus(): void {
    const client = this.client
    if (!client?.connected || this.stopped) return
    const c = this.d.config
    const status: Record<string, unknown> = { online: true, ble: this.ble, backend: this.d.backend.name, adapter: c.adapter, ts: this.clock.now() }
    if (this.bleDetail && this.ble !== 'scanning') status['detail'] = this.bleDetail.slice(0, 200)
    if (this.d.version) status['version'] = this.d.version
    client.publish(this.statusTopic, JSON.stringify(status), { qos: 1, retain: true })
  }
}
