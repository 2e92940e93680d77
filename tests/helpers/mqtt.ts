import { topics } from '../../edge/contract/topics.js'
import type { ManualClock } from '../../edge/core/clock.js'
import mqtt, { type MqttClient } from 'mqtt'

export async function connect(url: string, clientId = `t-${Math.random().toString(36).slice(2)}`): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, connectTimeout: 5000 })
}

export async function publishJson(c: MqttClient, topic: string, payload: unknown, qos: 0 | 1 = 1): Promise<void> {
  await c.publishAsync(topic, typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload), { qos })
}

/**
 * A subject heard by one scanner once a second for `seconds` seconds of virtual time: `seconds + 1`
 * sightings, the first now, the clock left at the last. `subject` may depend on the time (rotating ids).
 */
export async function heardFor(c: MqttClient, o: { prefix: string; scanner: string; subject: string | ((ts: number) => string); clock: ManualClock; seconds: number; rssi?: number }): Promise<void> {
  for (let i = 0; i <= o.seconds; i++) {
    if (i > 0) o.clock.advance(1000)
    const ts = o.clock.now()
    await publishJson(c, topics.ble(o.prefix, o.scanner), { id: typeof o.subject === 'string' ? o.subject : o.subject(ts), rssi: o.rssi ?? -50, ts })
  }
}
