import mqtt, { type MqttClient } from 'mqtt'

export async function connect(url: string, clientId = `t-${Math.random().toString(36).slice(2)}`): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, connectTimeout: 5000 })
}

export async function publishJson(c: MqttClient, topic: string, payload: unknown, qos: 0 | 1 = 1): Promise<void> {
  await c.publishAsync(topic, typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload), { qos })
}
