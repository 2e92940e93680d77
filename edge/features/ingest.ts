/**
 * Ingest: everything devices publish (P/# and espresense/devices/#) is routed, checked and validated, and
 * handed on as typed events on the bus. Subscribed before the broker accepts devices, so nothing queued for
 * the gateway (a persistent session on an external broker) arrives before there is someone to take it.
 */
import { inboundSubscriptions } from '../contract/index.js'
import type { ReadyCheck } from '../http/services.js'
import { Ingest } from '../ingest/ingest.js'
import type { MqttPort } from '../mqtt/port.js'
import type { DevicesFeature } from './devices.js'
import type { Feature, GatewayContext, GatewayEvents } from './feature.js'
import type { LayoutFeature } from './layout.js'

export class IngestFeature implements Feature {
  readonly name = 'ingest'
  readonly ingest: Ingest
  private unsubscribe: (() => Promise<void>) | null = null

  constructor(private readonly ctx: GatewayContext, private readonly mqtt: MqttPort, d: { devices: DevicesFeature; layout: LayoutFeature }) {
    const { config, clock, metrics, bus, log, prefix } = ctx
    this.ingest = new Ingest({
      prefix, maxPayloadBytes: config.ingest.maxPayloadBytes, clockSkewMs: config.ingest.clockSkewSeconds * 1000, clock,
      emit: (k, p) => bus.emit(k, p as GatewayEvents[typeof k]), messages: metrics.messages, deadLetters: metrics.deadLetters, devices: d.devices.registry,
      knownZone: (z) => d.layout.hasZone(z),
      onInternalError: (err, topic) => log.error({ err, topic }, 'ingest failed on a message'),
    })
  }

  /** take messages from the broker (call before the broker starts accepting devices) */
  async subscribe(): Promise<void> {
    this.unsubscribe = await this.mqtt.subscribe(inboundSubscriptions(this.ctx.prefix), (topic, payload) => this.ingest.handle(topic, payload))
  }

  ready(): Record<string, ReadyCheck> {
    const ok = this.mqtt.isConnected()
    return { broker: { ok, detail: `${this.mqtt.mode} ${this.mqtt.displayUrl}${ok ? '' : ' not connected: the gateway runs offline, retrying'}` } }
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.().catch(() => {})
    this.unsubscribe = null
  }
}
