/** External broker (Mosquitto, EMQX, ...) through mqtt.js: persistent session, QoS 1 subscriptions, last will. */
import mqtt, { type MqttClient } from 'mqtt'
import type { Logger } from '../core/log.js'
import type { MessageHandler, MqttPort, PublishOptions, WillMessage } from './port.js'

export interface ExternalOptions {
  url: string
  clientId: string
  username?: string | undefined
  password?: string | undefined
  will: WillMessage
  /** published retained on every (re)connect, e.g. online: true */
  birth?: WillMessage
  log: Logger
  /** how long start() waits for the first connection before carrying on offline */
  connectWaitMs?: number
}

export class ExternalBroker implements MqttPort {
  readonly mode = 'external' as const
  private client: MqttClient | null = null
  private handler: MessageHandler | null = null
  private filters: string[] = []

  constructor(private readonly o: ExternalOptions) {}

  get displayUrl(): string {
    try {
      const u = new URL(this.o.url)
      u.username = ''
      u.password = ''
      return u.toString().replace(/\/$/, '')
    } catch {
      return '(external broker)'
    }
  }

  start(): Promise<void> {
    const client = mqtt.connect(this.o.url, {
      clientId: this.o.clientId,
      clean: false,
      keepalive: 30,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      protocolVersion: 4,
      username: this.o.username,
      password: this.o.password,
      will: { topic: this.o.will.topic, payload: Buffer.from(this.o.will.payload), qos: this.o.will.qos, retain: this.o.will.retain },
    })
    this.client = client
    // the handler is in place before the first CONNACK: a persistent session's queued messages arrive at once
    client.on('message', (topic, payload) => this.handler?.(topic, payload))
    client.on('connect', (ack) => {
      // no Nagle: small messages (alerts, events) go out at once instead of waiting for a delayed ACK
      ;(client.stream as { setNoDelay?: (v: boolean) => void } | undefined)?.setNoDelay?.(true)
      this.o.log.info({ broker: this.displayUrl, sessionPresent: ack.sessionPresent }, 'connected to MQTT broker')
      if (this.filters.length) client.subscribe(this.subscriptions(), (err) => { if (err) this.o.log.warn({ err: err.message }, 'MQTT subscribe failed') })
      const b = this.o.birth
      if (b) client.publish(b.topic, b.payload, { qos: b.qos, retain: b.retain })
    })
    client.on('reconnect', () => this.o.log.debug('reconnecting to MQTT broker'))
    client.on('offline', () => this.o.log.warn({ broker: this.displayUrl }, 'MQTT broker unreachable; retrying'))
    client.on('error', (err) => this.o.log.warn({ err: err.message }, 'MQTT client error'))
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.o.log.warn({ broker: this.displayUrl }, 'MQTT broker not reachable yet; starting offline and retrying')
        resolve()
      }, this.o.connectWaitMs ?? 5000)
      client.once('connect', () => { clearTimeout(timer); resolve() })
    })
  }

  private subscriptions(): Record<string, { qos: 1 }> {
    return Object.fromEntries(this.filters.map((f) => [f, { qos: 1 as const }]))
  }

  /** May be called before start(): the subscription is then made on every connect. */
  async subscribe(filters: string[], handler: MessageHandler): Promise<() => Promise<void>> {
    this.handler = handler
    this.filters = filters
    const client = this.client
    if (client?.connected) await client.subscribeAsync(this.subscriptions())
    return async () => {
      this.handler = null
      this.filters = []
      if (this.client?.connected) await this.client.unsubscribeAsync(filters)
    }
  }

  async publish(topic: string, payload: string | Buffer, opts: PublishOptions): Promise<void> {
    const client = this.client
    if (!client) throw new Error('broker client not started')
    await client.publishAsync(topic, payload, { qos: opts.qos, retain: opts.retain ?? false })
  }

  isConnected(): boolean { return this.client?.connected ?? false }

  async stop(): Promise<void> {
    const client = this.client
    if (!client) return
    if (client.connected) {
      await client.publishAsync(this.o.will.topic, this.o.will.payload, { qos: this.o.will.qos, retain: this.o.will.retain }).catch(() => {})
    }
    await client.endAsync()
    this.client = null
  }
}
