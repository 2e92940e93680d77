/**
 * The scanner's configuration, from the environment only (a systemd unit's Environment= lines), checked at
 * start as the gateway checks its own: every problem on one line, and the scanner does not start.
 */
import { defaultPrefix, reDevice, reStore } from '../../edge/contract/index.js'

export type BackendName = 'node-ble' | 'noble'

export interface ScannerConfig {
  mqttUrl: string
  scannerId: string
  prefix: string
  adapter: string
  backend: BackendName
  /** how often a batch of sightings is published, ms (100..500) */
  intervalMs: number
  /** readings per subject per second at most (1..10) */
  maxPerSecond: number
  /** publish ESPresense-style fingerprint ids of devices without a beacon or member id */
  fingerprints: boolean
  /** CONTRACT 7a: MQTT user name = scanner id, password = this */
  secret: string | undefined
  logLevel: string
}

export interface EnvVar { name: string; doc: string; default?: string }

/** Every variable the scanner reads (README and --help list them from here). */
export const SCANNER_ENV: readonly EnvVar[] = [
  { name: 'AISLE_SCANNER_ID', doc: 'this scanner\'s id, its topics\' <scannerId> and its MQTT user name ([A-Za-z0-9_.:-]{1,64}); required' },
  { name: 'AISLE_STORE_ID', doc: 'store id; topics go under aisle/<storeId> (this or AISLE_TOPIC_PREFIX is required)' },
  { name: 'AISLE_TOPIC_PREFIX', doc: 'topic prefix instead of aisle/<storeId>, as the gateway\'s mqtt.topicPrefix' },
  { name: 'AISLE_MQTT_URL', doc: 'the gateway\'s broker', default: 'mqtt://127.0.0.1:1883' },
  { name: 'AISLE_DEVICE_SECRET', doc: 'the secret from PUT /v1/admin/devices/<scannerId> (CONTRACT 7a), sent as the MQTT password' },
  { name: 'AISLE_BLE_ADAPTER', doc: 'Bluetooth adapter', default: 'hci0' },
  { name: 'AISLE_BLE_BACKEND', doc: 'node-ble (BlueZ over D-Bus) or noble (raw HCI, bluetoothd must not hold the adapter)', default: 'node-ble' },
  { name: 'AISLE_SCANNER_INTERVAL_MS', doc: 'publish a batch every this many ms, 100..500', default: '250' },
  { name: 'AISLE_SCANNER_MAX_PER_SECOND', doc: 'readings per subject per second at most, 1..10', default: '4' },
  { name: 'AISLE_BLE_FINGERPRINTS', doc: 'on/off: publish ESPresense-style fingerprint ids of devices without a beacon or member id', default: 'on' },
  { name: 'AISLE_LOG_LEVEL', doc: 'log level', default: 'info' },
]

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export type ConfigResult = { ok: true; config: ScannerConfig } | { ok: false; problems: string[] }

/** An empty variable counts as unset. */
export function scannerConfigFromEnv(env: NodeJS.ProcessEnv): ConfigResult {
  const problems: string[] = []
  const get = (name: string): string | undefined => {
    const v = env[name]
    return v === undefined || v.trim() === '' ? undefined : v.trim()
  }
  const bad = (name: string, value: string | undefined, expected: string): void => {
    problems.push(`${name} = ${value === undefined ? '(missing)' : JSON.stringify(value.slice(0, 120))}: expected ${expected}`)
  }
  const int = (name: string, min: number, max: number, dflt: number): number => {
    const raw = get(name)
    if (raw === undefined) return dflt
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) { bad(name, raw, `an integer from ${min} to ${max}`); return dflt }
    return Number(raw)
  }

  const scannerId = get('AISLE_SCANNER_ID')
  if (scannerId === undefined || !reDevice.test(scannerId)) bad('AISLE_SCANNER_ID', scannerId, 'a scanner id like scn-dairy-1 ([A-Za-z0-9_.:-]{1,64}), as the scanner anchor of the layout')

  const storeId = get('AISLE_STORE_ID')
  const topicPrefix = get('AISLE_TOPIC_PREFIX')
  let prefix = ''
  if (topicPrefix !== undefined) {
    if (/[#+]/.test(topicPrefix) || topicPrefix.startsWith('/') || topicPrefix.endsWith('/') || topicPrefix.includes('//') || topicPrefix.length > 200) {
      bad('AISLE_TOPIC_PREFIX', topicPrefix, 'an MQTT topic prefix without wildcards or empty levels, e.g. aisle/s042')
    }
    prefix = topicPrefix
  } else if (storeId !== undefined) {
    if (!reStore.test(storeId)) bad('AISLE_STORE_ID', storeId, 'a store id like s042 ([a-z0-9-]{1,32})')
    prefix = defaultPrefix(storeId)
  } else {
    problems.push('AISLE_STORE_ID = (missing): expected a store id like s042 (or AISLE_TOPIC_PREFIX, the gateway\'s topic prefix)')
  }

  const mqttUrl = get('AISLE_MQTT_URL') ?? 'mqtt://127.0.0.1:1883'
  try {
    const u = new URL(mqttUrl)
    if (!['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:'].includes(u.protocol) || !u.hostname) throw new Error('protocol')
  } catch {
    bad('AISLE_MQTT_URL', mqttUrl, 'a broker URL like mqtt://gateway.local:1883 (mqtt, mqtts, ws or wss)')
  }

  const adapter = get('AISLE_BLE_ADAPTER') ?? 'hci0'
  if (!/^hci\d{1,3}$/.test(adapter)) bad('AISLE_BLE_ADAPTER', adapter, 'an adapter name like hci0 (see `bluetoothctl list` or `hciconfig`)')

  const backend = get('AISLE_BLE_BACKEND') ?? 'node-ble'
  if (backend !== 'node-ble' && backend !== 'noble') bad('AISLE_BLE_BACKEND', backend, 'node-ble or noble')

  const intervalMs = int('AISLE_SCANNER_INTERVAL_MS', 100, 500, 250)
  const maxPerSecond = int('AISLE_SCANNER_MAX_PER_SECOND', 1, 10, 4)

  let fingerprints = true
  const fp = get('AISLE_BLE_FINGERPRINTS')
  if (fp !== undefined) {
    const v = fp.toLowerCase()
    if (['on', 'true', '1', 'yes'].includes(v)) fingerprints = true
    else if (['off', 'false', '0', 'no'].includes(v)) fingerprints = false
    else bad('AISLE_BLE_FINGERPRINTS', fp, 'on or off')
  }

  const secret = env['AISLE_DEVICE_SECRET'] === undefined || env['AISLE_DEVICE_SECRET'] === '' ? undefined : env['AISLE_DEVICE_SECRET']
  if (secret !== undefined && secret.length > 1024) problems.push('AISLE_DEVICE_SECRET = (hidden): expected at most 1024 characters')

  const logLevel = get('AISLE_LOG_LEVEL') ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) bad('AISLE_LOG_LEVEL', logLevel, LOG_LEVELS.join(', '))

  if (problems.length) return { ok: false, problems }
  return {
    ok: true,
    config: { mqttUrl, scannerId: scannerId!, prefix, adapter, backend: backend as BackendName, intervalMs, maxPerSecond, fingerprints, secret, logLevel },
  }
}
