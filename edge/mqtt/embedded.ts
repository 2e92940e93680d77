/**
 * Embedded broker (aedes) listening on TCP (and optionally TLS), consumed in-process.
 *
 * The store network is hostile (CONTRACT 7a): every client authenticates as a registered device and may
 * publish and subscribe only on its own topics; and everything a stranger can make the broker hold is
 * bounded: connections (in all and per address), idle unauthenticated sockets (connect timeout), the size of
 * a packet (checked on its header, before it is buffered), subscriptions per client, retained messages, and
 * persistent sessions (only for kinds whose subscriptions are their own few topics).
 */
import { readFileSync } from 'node:fs'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls'
import { Aedes, type Client } from 'aedes'
import type { Logger } from '../core/log.js'
import type { MessageHandler, MqttPort, PublishOptions, WillMessage } from './port.js'
import type { DeviceIdentity } from './rights.js'

/** Who may connect and what they may do; without it (tests, benchmarks) every client is a trusted lab client. */
export interface BrokerAuth {
  authenticate(username: string | undefined, password: Buffer | undefined, clean: boolean): { ok: true; identity: DeviceIdentity | null } | { ok: false; reason: string }
  canPublish(identity: DeviceIdentity | null, topic: string): boolean
  canSubscribe(identity: DeviceIdentity | null, filter: string): boolean
}

export interface BrokerLimits {
  maxConnections: number
  maxConnectionsPerAddress: number
  /** a socket that has not sent a valid CONNECT by then is closed */
  connectTimeoutMs: number
  /**
   * an MQTT packet larger than this (its header says) closes the connection before it is read; set well above
   * the contract's 64 KiB, so a message a little too big still reaches ingest and is dead-lettered (visible),
   * while megabytes never get buffered
   */
  maxPacketBytes: number
  maxSubscriptionsPerClient: number
  /** retained messages kept (one per topic; only devices' own status topics may retain) */
  maxRetained: number
  maxRetainedBytes: number
}

export const DEFAULT_LIMITS: BrokerLimits = {
  maxConnections: 2000, maxConnectionsPerAddress: 64, connectTimeoutMs: 5000, maxPacketBytes: 256 * 1024,
  maxSubscriptionsPerClient: 32, maxRetained: 5000, maxRetainedBytes: 1024,
}

export interface EmbeddedOptions {
  host: string
  port: number
  /** serve plain MQTT on `port` (false: TLS only) */
  plain?: boolean
  tls?: { port: number; certFile: string; keyFile: string } | undefined
  /** topics that only the gateway may publish (devices are refused) */
  reservedPrefixes: string[]
  /** published (retained) when the gateway stops: the embedded counterpart of a last will */
  will?: WillMessage
  log: Logger
  auth?: BrokerAuth
  limits?: Partial<BrokerLimits>
  /** a refusal, by reason (counted in /metrics) */
  onRefused?: (reason: string) => void
}

const IDENTITY = Symbol('aisle-device')

/** what a refusal means, for the log line store IT reads */
const REFUSAL_TEXT: Record<string, string> = {
  anonymous: 'MQTT client without credentials refused (register devices: PUT /v1/admin/devices/<id>)',
  'unknown-device': 'MQTT client refused: no device registered with this user name',
  'bad-secret': 'MQTT client refused: wrong secret for this device',
  'publish-denied': 'MQTT device published outside its own topics: disconnected',
  'subscribe-denied': 'MQTT device subscribed outside its own topics: refused',
  'reserved-topic': 'MQTT client published on a topic only the gateway may use: disconnected',
  'will-denied': 'MQTT device refused: its last will is not on its own status topic',
  'persistent-session': 'MQTT client refused: a persistent session is not allowed for it',
  'oversized-packet': 'MQTT packet over the size limit: connection closed before reading it',
}
type AuthedClient = Client & { [IDENTITY]?: DeviceIdentity | null; subscriptionCount?: number }

export class EmbeddedBroker implements MqttPort {
  readonly mode = 'embedded' as const
  private broker: Aedes | null = null
  private servers: (Server | TlsServer)[] = []
  private subs: { topic: string; fn: (packet: { topic: string; payload: Buffer | string }, cb: () => void) => void }[] = []
  private boundPort = 0
  private boundTlsPort = 0
  private readonly limits: BrokerLimits
  private readonly perAddress = new Map<string, number>()
  private readonly byDevice = new Map<string, Set<AuthedClient>>()
  private readonly retained = new Set<string>()

  constructor(private readonly o: EmbeddedOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...o.limits }
  }

  get port(): number { return this.boundPort }
  get tlsPort(): number { return this.boundTlsPort }
  get displayUrl(): string {
    const host = this.o.host === '0.0.0.0' || this.o.host === '::' ? 'localhost' : this.o.host
    return this.o.plain === false && this.o.tls ? `mqtts://${host}:${this.boundTlsPort || this.o.tls.port}` : `mqtt://${host}:${this.boundPort || this.o.port}`
  }

  /** connected clients, and those authenticated as each device */
  get connections(): number { return this.broker?.connectedClients ?? 0 }
  /** TCP/TLS sockets open on the broker's ports, connected over MQTT or not yet */
  get sockets(): number { let n = 0; for (const v of this.perAddress.values()) n += v; return n }

  connectionsOf(deviceId: string): number { return this.byDevice.get(deviceId)?.size ?? 0 }

  /** Close every connection of a device at once (its registration was revoked or its secret rotated). */
  disconnect(deviceId: string): number {
    const set = this.byDevice.get(deviceId)
    if (!set) return 0
    const n = set.size
    for (const c of [...set]) c.close()
    this.byDevice.delete(deviceId)
    return n
  }

  async start(): Promise<void> {
    const reserved = this.o.reservedPrefixes
    const log = this.o.log
    const auth = this.o.auth
    const limits = this.limits
    // a refusal is one warning per client and reason a minute (a flood is counted, not logged line by line)
    const warned = new Map<string, number>()
    const refuse = (reason: string, detail: Record<string, unknown> = {}) => {
      this.o.onRefused?.(reason)
      const key = `${reason}|${String(detail['client'] ?? detail['user'] ?? detail['address'] ?? '')}`
      const now = Date.now()
      const last = warned.get(key)
      if (last !== undefined && now - last < 60_000) return log.debug({ reason, ...detail }, 'mqtt client refused')
      if (warned.size >= 1000) warned.clear()
      warned.set(key, now)
      log.warn({ reason, ...detail }, REFUSAL_TEXT[reason] ?? 'mqtt client refused')
    }
    const byDevice = this.byDevice
    const retained = this.retained
    this.broker = await Aedes.createBroker({
      // a subscriber that stops reading holds deliveries to everyone else for at most this long (aedes waits for
      // its socket to drain): 5 s, not the default minute
      drainTimeout: 5000,
      concurrency: 1000,
      connectTimeout: limits.connectTimeoutMs,
      authenticate(client, username, password, cb) {
        const c = client as AuthedClient
        if (!auth) { c[IDENTITY] = null; return cb(null, true) }
        const r = auth.authenticate(username, password, client.clean !== false)
        if (!r.ok) {
          refuse(r.reason, { client: client.id, user: username?.slice(0, 64) })
          return cb(Object.assign(new Error(r.reason), { returnCode: r.reason === 'bad-secret' || r.reason === 'unknown-device' ? 4 : 5 }), false)
        }
        const identity = r.identity
        // its last will is published on its behalf later: it must be a message it may send itself
        const will = (client as unknown as { _will?: { topic: string; retain?: boolean; payload?: Buffer } })._will
        if (will) {
          const ownStatus = identity ? will.topic.endsWith(`/status/${identity.id}`) : /\/status\/[^/]+$/.test(will.topic)
          if (reserved.some((p) => will.topic.startsWith(p)) || !auth.canPublish(identity, will.topic) || (will.retain && (!ownStatus || (will.payload?.length ?? 0) > limits.maxRetainedBytes))) {
            refuse('will-denied', { client: client.id, topic: will.topic.slice(0, 128) })
            return cb(Object.assign(new Error('last will on a topic that is not yours'), { returnCode: 5 }), false)
          }
        }
        // a device may not take over the connection (client id) of another device
        const existing = (this as unknown as { clients: Record<string, AuthedClient> }).clients?.[client.id]
        if (existing && existing[IDENTITY]?.id !== identity?.id) {
          refuse('client-id-taken', { client: client.id })
          return cb(Object.assign(new Error('client id in use by another device'), { returnCode: 2 }), false)
        }
        c[IDENTITY] = identity
        if (identity) {
          let set = byDevice.get(identity.id)
          if (!set) { set = new Set(); byDevice.set(identity.id, set) }
          set.add(c)
        }
        cb(null, true)
      },
      authorizePublish(client, packet, cb) {
        if (packet.topic.startsWith('$SYS/')) return cb(new Error('$SYS topics are reserved'))
        if (!client) return cb(null) // the gateway itself
        const c = client as AuthedClient
        if (reserved.some((p) => packet.topic.startsWith(p)) || (packet.topic.endsWith('/alert') && packet.topic.includes('/band/'))) {
          refuse('reserved-topic', { client: client.id, topic: packet.topic.slice(0, 128) })
          return cb(new Error('topic reserved for the gateway'))
        }
        if (auth && !auth.canPublish(c[IDENTITY] ?? null, packet.topic)) {
          refuse('publish-denied', { client: client.id, topic: packet.topic.slice(0, 128) })
          return cb(new Error('not your topic'))
        }
        if (packet.retain) {
          // only a device's own status may be retained, small, and only so many (its last will is its status)
          const own = c[IDENTITY] === null || c[IDENTITY] === undefined ? /\/status\/[^/]+$/.test(packet.topic) : packet.topic.endsWith(`/status/${c[IDENTITY].id}`)
          const size = packet.payload.length
          if (!own || size > limits.maxRetainedBytes || (size > 0 && !retained.has(packet.topic) && retained.size >= limits.maxRetained)) {
            refuse('retain-refused', { client: client.id, topic: packet.topic.slice(0, 128), size })
            packet.retain = false
          } else if (size === 0) retained.delete(packet.topic)
          else retained.add(packet.topic)
        }
        cb(null)
      },
      authorizeSubscribe(client, sub, cb) {
        const c = client as AuthedClient
        if (!client) return cb(null, sub)
        if (auth && !auth.canSubscribe(c[IDENTITY] ?? null, sub.topic)) {
          refuse('subscribe-denied', { client: client.id, filter: sub.topic.slice(0, 128) })
          return cb(null, null) // negated: SUBACK 128, the connection stays
        }
        const n = (c.subscriptionCount ?? 0) + 1
        if (n > limits.maxSubscriptionsPerClient) {
          refuse('too-many-subscriptions', { client: client.id })
          return cb(null, null)
        }
        c.subscriptionCount = n
        cb(null, sub)
      },
    })
    this.broker.on('unsubscribe', (unsubs, client) => {
      const c = client as AuthedClient | undefined
      if (c?.subscriptionCount) c.subscriptionCount = Math.max(0, c.subscriptionCount - unsubs.length)
    })
    this.broker.on('clientDisconnect', (client) => {
      const c = client as AuthedClient
      const id = c[IDENTITY]?.id
      if (id) {
        const set = byDevice.get(id)
        set?.delete(c)
        if (set && set.size === 0) byDevice.delete(id)
      }
    })
    // in-process subscriptions made before start() are in place before the first device connects
    const b = this.broker
    await Promise.all(this.subs.map((s) => new Promise<void>((resolve) => b.subscribe(s.topic, s.fn as never, resolve))))
    this.broker.on('clientError', (client, err) => log.debug({ client: client.id, err: err.message }, 'mqtt client error'))
    this.broker.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'mqtt connection error'))

    const onConnection = (socket: Socket) => {
      const addr = socket.remoteAddress ?? '?'
      const n = (this.perAddress.get(addr) ?? 0) + 1
      if (n > limits.maxConnectionsPerAddress) {
        refuse('too-many-connections-from-address', { address: addr })
        socket.destroy()
        return
      }
      this.perAddress.set(addr, n)
      socket.once('close', () => {
        const left = (this.perAddress.get(addr) ?? 1) - 1
        if (left <= 0) this.perAddress.delete(addr)
        else this.perAddress.set(addr, left)
      })
      const client = b.handle(socket) as unknown as { _parser: { parse(buf: Buffer): number; packet: { length: number } } }
      // the packet's declared length is checked as soon as its header is in: an oversized packet is never buffered
      const parser = client._parser
      const parse = parser.parse.bind(parser)
      parser.parse = (buf: Buffer) => {
        const r = parse(buf)
        if (parser.packet && parser.packet.length > limits.maxPacketBytes) {
          refuse('oversized-packet', { address: addr, bytes: parser.packet.length })
          socket.destroy()
        }
        return r
      }
    }
    const listen = (server: Server | TlsServer, port: number) => new Promise<number>((resolve, reject) => {
      server.maxConnections = limits.maxConnections
      server.once('error', reject)
      server.listen(port, this.o.host, () => {
        server.off('error', reject)
        resolve((server.address() as AddressInfo).port)
      })
    })
    try {
      if (this.o.plain !== false || !this.o.tls) {
        // no Nagle: alerts, offers' events and acks are small messages that must not wait for a delayed ACK (40 ms on Linux)
        const server = createServer({ noDelay: true }, onConnection)
        this.servers.push(server)
        this.boundPort = await listen(server, this.o.port)
      }
      if (this.o.tls) {
        const tls = createTlsServer({ cert: readFileSync(this.o.tls.certFile), key: readFileSync(this.o.tls.keyFile), minVersion: 'TLSv1.2' }, (s) => { s.setNoDelay(true); onConnection(s) })
        this.servers.push(tls)
        this.boundTlsPort = await listen(tls, this.o.tls.port)
      }
    } catch (err) {
      // nothing half-started stays behind
      for (const s of this.servers) s.close()
      this.servers = []
      await new Promise<void>((resolve) => b.close(() => resolve()))
      this.broker = null
      throw err
    }
  }

  /** May be called before start(): the broker then takes the subscription before it accepts any client. */
  async subscribe(filters: string[], handler: MessageHandler): Promise<() => Promise<void>> {
    const fn = (packet: { topic: string; payload: Buffer | string }, cb: () => void) => {
      try {
        handler(packet.topic, typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload)
      } finally {
        cb()
      }
    }
    const mine = filters.map((topic) => ({ topic, fn }))
    this.subs.push(...mine)
    const broker = this.broker
    if (broker) await Promise.all(mine.map((s) => new Promise<void>((resolve) => broker.subscribe(s.topic, s.fn as never, resolve))))
    return async () => {
      this.subs = this.subs.filter((s) => s.fn !== fn)
      const b = this.broker
      if (b) await Promise.all(mine.map((s) => new Promise<void>((resolve) => b.unsubscribe(s.topic, s.fn as never, resolve))))
    }
  }

  publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    const broker = this.broker
    if (!broker || broker.closed) return Promise.reject(new Error('broker not running'))
    return new Promise((resolve, reject) => {
      broker.publish({ cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: opts.qos, retain: opts.retain ?? false, dup: false }, (err) => (err ? reject(err) : resolve()))
    })
  }

  isConnected(): boolean {
    return this.broker !== null && !this.broker.closed && this.servers.length > 0 && this.servers.every((s) => s.listening)
  }

  async stop(): Promise<void> {
    const broker = this.broker
    if (!broker) return
    if (this.o.will) await this.publish(this.o.will.topic, this.o.will.payload, { qos: this.o.will.qos, retain: this.o.will.retain }).catch(() => {})
    for (const s of this.subs) broker.unsubscribe(s.topic, s.fn as never, () => {})
    this.subs = []
    await new Promise<void>((resolve) => broker.close(() => resolve()))
    await Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
    this.broker = null
    this.servers = []
  }
}
