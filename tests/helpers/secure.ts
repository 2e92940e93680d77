/** A gateway as a store runs it (device identity on), devices registered like store IT does, and the tools to measure a flood. */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { startTestGateway, TEST_ADMIN, type TestGateway } from './gateway.js'

export async function startSecureGateway(overlay: Record<string, unknown> = {}, opts: Parameters<typeof startTestGateway>[0] = {}): Promise<TestGateway> {
  return startTestGateway({ ...opts, overlay: { ...overlay, mqtt: { allowAnonymous: false, ...((overlay['mqtt'] as object | undefined) ?? {}) } } })
}

/** PUT /v1/admin/devices/<id>: the secret, shown once */
export async function register(tg: TestGateway, id: string, kind: string, zone?: string): Promise<string> {
  const r = await fetch(`${tg.gw.httpUrl}/v1/admin/devices/${encodeURIComponent(id)}`, { method: 'PUT', headers: { authorization: `Bearer ${TEST_ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ kind, ...(zone ? { zone } : {}) }) })
  if (!r.ok) throw new Error(`register ${id}: ${r.status} ${await r.text()}`)
  return ((await r.json()) as { secret: string }).secret
}

/** connect as a device (or anonymously): resolves with the client, or rejects with the broker's refusal */
export function connectAs(tg: TestGateway, id: string | null, secret?: string, extra: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${tg.gw.mqttPort}`, { clientId: id ?? `anon-${Math.random().toString(36).slice(2)}`, reconnectPeriod: 0, connectTimeout: 5000, ...(id ? { username: id, password: secret ?? 'wrong' } : {}), ...extra })
}

/** resolves when the client is closed by the broker (or after `ms`: false) */
export function closedWithin(c: MqttClient, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (!c.connected) return resolve(true)
    const t = setTimeout(() => resolve(false), ms)
    c.once('close', () => { clearTimeout(t); resolve(true) })
  })
}

let gcFn: (() => void) | null = null
/** a full garbage collection (the heap after a flood, not what is waiting to be collected) */
export function gc(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc')
    gcFn = runInNewContext('gc') as () => void
  }
  gcFn()
  gcFn()
}

/** heap growth (after GC) and the longest event-loop stall while `fn` runs */
export async function measure<T>(fn: () => Promise<T>): Promise<{ result: T; heapMB: number; lagMaxMs: number }> {
  gc()
  const before = process.memoryUsage().heapUsed
  const h = monitorEventLoopDelay({ resolution: 10 })
  h.enable()
  const result = await fn()
  h.disable()
  gc()
  return { result, heapMB: (process.memoryUsage().heapUsed - before) / 1_048_576, lagMaxMs: h.max / 1e6 }
}

/** the QoS the broker granted each filter (128 = refused); a refusal does not throw */
export async function grantedQos(c: MqttClient, filters: string | string[], qos: 0 | 1 = 0): Promise<number[]> {
  try {
    return (await c.subscribeAsync(filters, { qos })).map((g) => g.qos)
  } catch (err) {
    const granted = (err as { packet?: { granted?: (number | { reasonCode: number })[] } }).packet?.granted
    if (!granted) throw err
    return granted.map((g) => (typeof g === 'number' ? g : g.reasonCode))
  }
}
