/** Embedded broker (aedes) listening on TCP, consumed in-process. */
import { createServer, type AddressInfo, type Server } from 'node:net'
import { Aedes } from 'aedes'
import type { Logger } from '../core/log.js'
import type { MessageHandler, MqttPort, PublishOptions, WillMessage } from './port.js'

export interface EmbeddedOptions {
  host: string
  port: number
  /** topics that only the gateway may publish (devices are refused) */
  reservedPrefixes: string[]
  /** published (retained) when the gateway stops: the embedded counterpart of a last will */
  will?: WillMessage
  log: Logger
}

export class EmbeddedBroker implements MqttPort {
  readonly mode = 'embedded' as const
  private broker: Aedes | null = null
  private server: Server | null = null
  private subs: { topic: string; fn: (packet: { topic: string; payload: Buffer | string }, cb: () => void) => void }[] = []
  private boundPort = 0

  constructor(private readonly o: EmbeddedOptions) {}

  get port(): number { return this.boundPort }
  get displayUrl(): string {
    const host = this.o.host === '0.0.0.0' || this.o.host === '::' ? 'localhost' : this.o.host
    return `mqtt://${host}:${this.boundPort || this.o.port}`
  }

  async start(): Promise<void> {
    const reserved = this.o.reservedPrefixes
    const log = this.o.log
    this.broker = await Aedes.createBroker({
      drainTimeout: 30_000,
      concurrency: 1000,
      authorizePublish(client, packet, cb) {
        if (packet.topic.startsWith('$SYS/')) return cb(new Error('$SYS topics are reserved'))
        if (client && (reserved.some((p) => packet.topic.startsWith(p)) || (packet.topic.endsWith('/alert') && packet.topic.includes('/band/')))) {
          log.warn({ client: client.id, topic: packet.topic }, 'device tried to publish on a gateway topic; refused')
          return cb(new Error('topic reserved for the gateway'))
        }
        cb(null)
      },
    })
    // in-process subscriptions made before start() are in place before the first device connects
    const b = this.broker
    await Promise.all(this.subs.map((s) => new Promise<void>((resolve) => b.subscribe(s.topic, s.fn as never, resolve))))
    this.broker.on('clientError', (client, err) => log.debug({ client: client.id, err: err.message }, 'mqtt client error'))
    this.broker.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'mqtt connection error'))
    // no Nagle: alerts, offers' events and acks are small messages that must not wait for a delayed ACK (40 ms on Linux)
    const server = createServer({ noDelay: true }, this.broker.handle)
    this.server = server
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(this.o.port, this.o.host, () => {
          server.off('error', reject)
          resolve()
        })
      })
    } catch (err) {
      // nothing half-started stays behind
      await new Promise<void>((resolve) => b.close(() => resolve()))
      this.broker = null
      this.server = null
      throw err
    }
    this.boundPort = (server.address() as AddressInfo).port
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
    return this.broker !== null && !this.broker.closed && this.server !== null && this.server.listening
  }

  async stop(): Promise<void> {
    const broker = this.broker
    if (!broker) return
    if (this.o.will) await this.publish(this.o.will.topic, this.o.will.payload, { qos: this.o.will.qos, retain: this.o.will.retain }).catch(() => {})
    for (const s of this.subs) broker.unsubscribe(s.topic, s.fn as never, () => {})
    this.subs = []
    await new Promise<void>((resolve) => broker.close(() => resolve()))
    const server = this.server
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
    this.broker = null
    this.server = null
  }
}
