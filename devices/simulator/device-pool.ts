/**
 * Simulated devices on MQTT, each as a real one is (CONTRACT 7a): its own connection, its device id as user
 * name and the secret store IT got when registering it (PUT /v1/admin/devices/<id>), its status retained with
 * an offline last will. The device a message belongs to, and its kind, follow from the topic. Without a
 * `provision` function (labs, replays with AISLE_MQTT_ANONYMOUS=on) one anonymous connection carries all.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import mqtt, { type MqttClient } from 'mqtt'
import { routeTopic, topics, type InboundKind } from '../../edge/contract/topics.js'

export type SimDeviceKind = 'scanner' | 'espresense' | 'lane' | 'band' | 'button' | 'sensor' | 'cart' | 'inventory' | 'observer'

/** registers a device and answers its secret (the admin API's PUT /v1/admin/devices/<id>) */
export type Provision = (id: string, kind: SimDeviceKind) => Promise<string>

const KIND_OF: Partial<Record<InboundKind, SimDeviceKind>> = {
  ble: 'scanner', espresense: 'espresense', receipt: 'lane', scan: 'sensor', button: 'button', 'band-ack': 'band', 'band-status': 'band',
  dwell: 'sensor', ranging: 'cart', stock: 'inventory',
}

export interface DevicePoolOptions {
  mqttUrl: string
  prefix: string
  provision?: Provision | undefined
  /** a band's alerts (`P/band/<id>/alert`) */
  onAlert?: (band: string, alert: unknown) => void
  /** connections wait for the broker and retry (real time) or fail at once (virtual time) */
  reconnect?: boolean
  /** called when a device could not be provisioned or connected */
  onLog?: (msg: string) => void
}

interface Device { id: string; kind: SimDeviceKind; client: Promise<MqttClient> | null; failed: boolean }

/** The device id and kind a message of this topic comes from (lanes publish their scans, handhelds theirs). */
export function deviceOf(prefix: string, topic: string, lanes: ReadonlySet<string>): { id: string; kind: SimDeviceKind } | null {
  const r = routeTopic(prefix, topic)
  if (typeof r === 'string') return null
  if (r.kind === 'status') return null
  const kind = r.kind === 'scan' && lanes.has(r.device) ? 'lane' : KIND_OF[r.kind]
  return kind ? { id: r.device, kind } : null
}

export class DevicePool {
  private readonly devices = new Map<string, Device>()
  private shared: Promise<MqttClient> | null = null
  private readonly lanes = new Set<string>()
  /** every connection made, connected or still trying (stop ends them all) */
  private readonly clients: MqttClient[] = []
  private stopped = false

  constructor(private readonly o: DevicePoolOptions) {}

  private connect(id: string | null, secret: string | null): Promise<MqttClient> {
    const opts = {
      clientId: id ?? `aisle-sim-${process.pid}-${Date.now().toString(36)}`,
      clean: true,
      reconnectPeriod: this.o.reconnect === false ? 0 : 2000,
      queueQoSZero: false,
      ...(id && secret ? {
        username: id, password: secret,
        will: { topic: topics.deviceStatus(this.o.prefix, id), payload: Buffer.from(JSON.stringify({ online: false })), qos: 1 as const, retain: true },
      } : {}),
    }
    return new Promise<MqttClient>((resolve, reject) => {
      const c = mqtt.connect(this.o.mqttUrl, opts)
      this.clients.push(c)
      c.on('error', (err) => { if (this.o.reconnect === false) reject(err) })
      c.on('connect', () => {
        // no Nagle: a device that also receives (a band) must not have its acks held by a delayed ACK
        ;(c.stream as { setNoDelay?: (v: boolean) => void } | undefined)?.setNoDelay?.(true)
        if (id && secret) c.publish(topics.deviceStatus(this.o.prefix, id), JSON.stringify({ online: true }), { qos: 1, retain: true })
        resolve(c)
      })
      if (this.o.onAlert) {
        const onAlert = this.o.onAlert
        c.on('message', (topic, payload) => {
          const m = /\/band\/([^/]+)\/alert$/.exec(topic)
          if (!m) return
          try { onAlert(m[1]!, JSON.parse(payload.toString())) } catch { /* not an alert */ }
        })
      }
    })
  }

  /** the connection a device publishes on (created, and the device registered, the first time) */
  private clientFor(id: string, kind: SimDeviceKind): Promise<MqttClient> {
    if (!this.o.provision) {
      this.shared ??= this.connect(null, null).then(async (c) => {
        if (this.o.onAlert) await c.subscribeAsync(`${this.o.prefix}/band/+/alert`, { qos: 1 })
        return c
      })
      return this.shared
    }
    let d = this.devices.get(id)
    if (!d) {
      d = { id, kind, client: null, failed: false }
      this.devices.set(id, d)
    }
    if (!d.client) {
      const provision = this.o.provision
      d.client = provision(id, kind).then((secret) => this.connect(id, secret)).then(async (c) => {
        if (kind === 'band') await c.subscribeAsync(topics.bandAlert(this.o.prefix, id), { qos: 1 })
        return c
      })
      d.client.catch((err) => {
        d!.failed = true
        d!.client = null
        this.o.onLog?.(`simulated device ${id} (${kind}) could not connect: ${(err as Error).message}`)
      })
    }
    return d.client
  }

  /** a lane: its scans are a lane's (registered as kind lane) */
  lane(id: string): void { this.lanes.add(id) }

  /** Bring a device up before it publishes (a band must be subscribed to its alerts before it is offered any). */
  async ensure(id: string, kind: SimDeviceKind): Promise<void> { await this.clientFor(id, kind) }

  /** Publish as the device the topic names; resolves when the broker has it (QoS 1) or it is sent (QoS 0). */
  async publish(topic: string, payload: unknown, qos: 0 | 1 = 0): Promise<void> {
    if (this.stopped) return
    const dev = deviceOf(this.o.prefix, topic, this.lanes)
    if (!dev) return
    const c = await this.clientFor(dev.id, dev.kind)
    if (!c.connected) return // an offline device sends nothing
    await c.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos })
  }

  /** Publish without waiting (real-time simulations); errors are the device's own problem. */
  send(topic: string, payload: unknown, qos: 0 | 1 = 0): void {
    this.publish(topic, payload, qos).catch(() => {})
  }

  get size(): number { return this.o.provision ? this.devices.size : this.shared ? 1 : 0 }

  async stop(): Promise<void> {
    this.stopped = true
    await Promise.all(this.clients.map((c) => c.endAsync(true).catch(() => {})))
  }
}

/** Provisioning through the gateway's admin API, as store IT does it (role operator). */
export function adminProvision(httpUrl: string, token: string): Provision {
  return async (id, kind) => {
    const r = await fetch(`${httpUrl}/v1/admin/devices/${encodeURIComponent(id)}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ kind }) })
    if (!r.ok) throw new Error(`registering ${id} failed: ${r.status} ${await r.text()}`)
    return ((await r.json()) as { secret: string }).secret
  }
}

/**
 * Provisioning that remembers the secrets it was given (a file of the demo's own, mode 0600, in the gateway's
 * data folder): on the next start a device whose registration is unchanged (same kind, not rotated or revoked
 * since) keeps its secret, so the demo does not rotate every device on every start and the commands it prints
 * keep working.
 */
export function rememberingProvision(file: string, httpUrl: string, token: string): Provision {
  type Entry = { secret: string; kind: string; rotatedAt: string | undefined }
  let cache: Record<string, Entry> = {}
  try { cache = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Entry> } catch { /* none yet */ }
  const registered = async (): Promise<Map<string, { kind: string; rotatedAt: string }>> => {
    const r = await fetch(`${httpUrl}/v1/admin/devices/registered`, { headers: { authorization: `Bearer ${token}` } })
    if (!r.ok) return new Map()
    return new Map(((await r.json()) as { devices: { id: string; kind: string; rotatedAt: string }[] }).devices.map((d) => [d.id, d]))
  }
  const atStart = registered()
  const fresh = adminProvision(httpUrl, token)
  let saving = Promise.resolve()
  return async (id, kind) => {
    const c = cache[id]
    const now = (await atStart).get(id)
    if (c && now && now.kind === kind && now.rotatedAt === c.rotatedAt) return c.secret
    const secret = await fresh(id, kind)
    cache[id] = { secret, kind, rotatedAt: (await registered()).get(id)?.rotatedAt }
    saving = saving.then(() => writeFileSync(file, JSON.stringify(cache, null, 1), { mode: 0o600 })).catch(() => {})
    await saving
    return secret
  }
}
