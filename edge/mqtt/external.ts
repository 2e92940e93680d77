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

const MIN_RETRY_MS = 1000
const MAX_RETRY_MS = 30_000
const REMIND_MS = 5 * 60_000

export class ExternalBroker implements MqttPort {
  readonly mode = 'external' as const
  private client: MqttClient | null = null
  private handler: MessageHandler | null = null
  private filters: string[] = []
  private lastError: string | null = null

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
      reconnectPeriod: MIN_RETRY_MS,
      connectTimeout: 10_000,
      protocolVersion: 4,
      username: this.o.username,
      password: this.o.password,
      will: { topic: this.o.will.topic, payload: Buffer.from(this.o.will.payload), qos: this.o.will.qos, retain: this.o.will.retain },
    })
    this.client = client
    const log = this.o.log
    // one line when the broker goes away, one when it is back, a reminder every few minutes; retries back off
    let down: { since: number; lastNote: number; error: string | null } | null = null
    const noteDown = () => {
      const now = Date.now()
      if (!down) {
        down = { since: now, lastNote: now, error: this.lastError }
        log.warn({ broker: this.displayUrl, error: this.lastError ?? undefined }, 'MQTT broker unreachable: the gateway keeps running offline and retries (every 1 s, backing off to 30 s)')
      } else if (now - down.lastNote >= REMIND_MS) {
        down.lastNote = now
        log.warn({ broker: this.displayUrl, error: this.lastError ?? undefined, minutes: Math.round((now - down.since) / 60_000) }, 'MQTT broker still unreachable; retrying')
      }
      client.options.reconnectPeriod = Math.min(MAX_RETRY_MS, (client.options.reconnectPeriod ?? MIN_RETRY_MS) * 2)
    }
    // the handler is in place before the first CONNACK: a persistent session's queued messages arrive at once
    client.on('message', (topic, payload) => this.handler?.(topic, payload))
    client.on('connect', (ack) => {
      // no Nagle: small messages (alerts, events) go out at once instead of waiting for a delayed ACK
      ;(client.stream as { setNoDelay?: (v: boolean) => void } | undefined)?.setNoDelay?.(true)
      client.options.reconnectPeriod = MIN_RETRY_MS
      if (down) log.info({ broker: this.displayUrl, offlineSeconds: Math.round((Date.now() - down.since) / 1000) }, 'MQTT broker reachable again')
      else log.info({ broker: this.displayUrl, sessionPresent: ack.sessionPresent }, 'connected to MQTT broker')
      down = null
      this.lastError = null
      if (this.filters.length) client.subscribe(this.subscriptions(), (err) => { if (err) log.warn({ err: err.message }, 'MQTT subscribe failed') })
      const b = this.o.birth
      if (b) client.publish(b.topic, b.payload, { qos: b.qos, retain: b.retain })
    })
    client.on('reconnect', () => log.debug({ broker: this.displayUrl }, 'reconnecting to MQTT broker'))
    client.on('offline', noteDown)
    client.on('error', (err) => {
      this.lastError = (err as NodeJS.ErrnoException).code ?? err.message
      log.debug({ err: err.message }, 'MQTT client error')
    })
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        noteDown()
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
    // offline, publishes queued in the client would wait for a broker that is not there: end at once (what
    // matters is in SQLite); online, a graceful end, but never longer than a few seconds
    if (!client.connected) await client.endAsync(true)
    else {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([client.endAsync(), new Promise<void>((r) => { timer = setTimeout(r, 5000) })])
      clearTimeout(timer)
      if (!client.disconnected) await client.endAsync(true).catch(() => {})
    }
    this.client = null
  }
}
