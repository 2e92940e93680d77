/**
 * Where batches go: HTTP POST (Segment, RudderStack, the chain's own API, the reference CRM) or MQTT to a cloud
 * broker (an IoT hub, an EMQX cluster). A transport says only what happened; the drainer decides what to do.
 */
import mqtt, { type MqttClient } from 'mqtt'

export type SendResult =
  | { ok: true }
  /** try again later: network error, 429, 5xx, timeout, no PUBACK */
  | { ok: false; retry: true; error: string; retryAfterMs?: number }
  /** the receiver will never take this batch (400): it names the events it refuses when it can */
  | { ok: false; retry: false; error: string; messageIds: string[] }

export interface Transport {
  readonly name: string
  send(body: string): Promise<SendResult>
  close(): Promise<void>
}

/** `Retry-After`: seconds or an HTTP date */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined
  const s = Number(header)
  if (Number.isFinite(s) && s >= 0) return s * 1000
  const d = Date.parse(header)
  return Number.isFinite(d) ? Math.max(0, d - now) : undefined
}

export class HttpTransport implements Transport {
  readonly name = 'http'
  private readonly auth: string

  constructor(private readonly url: string, writeKey: string, private readonly timeoutMs: number, private readonly now: () => number = Date.now) {
    // Segment's convention: the write key as the user name, an empty password
    this.auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`
  }

  async send(body: string): Promise<SendResult> {
    let res: Response
    try {
      // no redirects: a 301 to https would turn the POST into a GET whose 200 is not a delivery
      res = await fetch(this.url, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json', authorization: this.auth }, body, signal: AbortSignal.timeout(this.timeoutMs) })
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } }
      return { ok: false, retry: true, error: e.name === 'TimeoutError' ? `no answer within ${this.timeoutMs / 1000} s` : `network: ${e.cause?.code ?? e.cause?.message ?? e.message}` }
    }
    const text = await res.text().catch(() => '')
    if (res.status >= 200 && res.status < 300) return { ok: true }
    if (res.status >= 300 && res.status < 400) return { ok: false, retry: true, error: `${res.status} redirect to ${res.headers.get('location') ?? '?'}: point crm.url at it` }
    if (res.status === 400 || res.status === 413 || res.status === 422) {
      let ids: string[] = []
      let reason = text.slice(0, 200)
      try {
        const j = JSON.parse(text) as { error?: unknown; messageIds?: unknown }
        if (Array.isArray(j.messageIds)) ids = j.messageIds.filter((x): x is string => typeof x === 'string')
        if (typeof j.error === 'string') reason = j.error.slice(0, 200)
      } catch { /* not JSON */ }
      return { ok: false, retry: false, error: `${res.status} ${reason}`.trim(), messageIds: ids }
    }
    const after = res.status === 429 || res.status === 503 ? retryAfterMs(res.headers.get('retry-after'), this.now()) : undefined
    const what = res.status === 401 || res.status === 403 ? `${res.status}: the CRM refuses the write key (check crm.writeKey)` : `${res.status} ${text.slice(0, 120)}`.trim()
    return { ok: false, retry: true, error: what, ...(after !== undefined ? { retryAfterMs: after } : {}) }
  }

  async close(): Promise<void> {}
}

/** Batches as MQTT messages on `aisle-central/<storeId>/batch`, QoS 1, persistent session: delivered on PUBACK. */
export class MqttTransport implements Transport {
  readonly name = 'mqtt'
  private readonly client: MqttClient
  readonly topic: string
  lastError: string | null = null

  constructor(url: string, storeId: string, private readonly timeoutMs: number, auth: { username?: string | undefined; password?: string | undefined } = {}) {
    this.topic = `aisle-central/${storeId}/batch`
    this.client = mqtt.connect(url, {
      clientId: `aisle-edge-sync-${storeId}`.slice(0, 64), clean: false, reconnectPeriod: 2000, connectTimeout: 10_000,
      ...(auth.username ? { username: auth.username } : {}), ...(auth.password ? { password: auth.password } : {}),
    })
    this.client.on('error', (err) => { this.lastError = err.message })
  }

  async send(body: string): Promise<SendResult> {
    if (!this.client.connected) return { ok: false, retry: true, error: `cloud broker not connected${this.lastError ? ` (${this.lastError})` : ''}` }
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        this.client.publishAsync(this.topic, body, { qos: 1 }),
        new Promise((_r, reject) => { timer = setTimeout(() => reject(new Error(`no PUBACK within ${this.timeoutMs / 1000} s`)), this.timeoutMs) }),
      ])
      return { ok: true }
    } catch (err) {
      return { ok: false, retry: true, error: (err as Error).message }
    } finally {
      clearTimeout(timer)
    }
  }

  async close(): Promise<void> { await this.client.endAsync(true).catch(() => {}) }
}

/** where the streams go, as the gateway's `crm` settings say (plain data: a drain thread builds them too) */
export interface TransportSettings {
  url: string
  writeKey: string | null
  /** the ops stream's receiver; none: ops records stay at the edge */
  opsUrl: string | null
  timeoutMs: number
  mqtt: { url: string | null; username?: string | undefined; password?: string | undefined }
}

/** the transport each stream takes (null: none), as transportsFor builds them */
export function transportNames(s: TransportSettings): Record<'crm' | 'ops', string | null> {
  return { crm: s.mqtt.url ? 'mqtt' : 'http', ops: s.opsUrl ? 'http' : null }
}

/** The CRM stream over MQTT when `mqtt.url` is set, else HTTP POST to `<url>/v1/batch`; ops over HTTP to `opsUrl`. */
export function transportsFor(s: TransportSettings, storeId: string, now: () => number): Partial<Record<'crm' | 'ops', Transport>> {
  const out: Partial<Record<'crm' | 'ops', Transport>> = {}
  out.crm = s.mqtt.url
    ? new MqttTransport(s.mqtt.url, storeId, s.timeoutMs, { username: s.mqtt.username, password: s.mqtt.password })
    : new HttpTransport(new URL('v1/batch', s.url.endsWith('/') ? s.url : `${s.url}/`).toString(), s.writeKey ?? '', s.timeoutMs, now)
  if (s.opsUrl) out.ops = new HttpTransport(s.opsUrl, s.writeKey ?? '', s.timeoutMs, now)
  return out
}
