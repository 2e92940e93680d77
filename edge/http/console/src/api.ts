/**
 * The console's connection to its gateway: the admin token (session storage only: never in the URL, never
 * sent anywhere but this origin's Authorization header), REST calls, and the one live stream (SSE over
 * fetch, so the token rides in a header), reconnecting with backoff.
 */
import { EventSourceParserStream } from 'eventsource-parser/stream'

const KEY = 'aisle-console-token'

export function takeTokenFromHash(): void {
  // links may carry #token=...: keep it for this tab and take it out of the address bar at once
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash)
  if (!m) return
  sessionStorage.setItem(KEY, decodeURIComponent(m[1]!))
  history.replaceState(null, '', `${location.pathname}${location.search}#/map`)
}

export const token = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (t: string): void => sessionStorage.setItem(KEY, t),
  clear: (): void => sessionStorage.removeItem(KEY),
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly body: unknown) { super(message) }
}

/** A REST call to the admin API with the session's token. */
export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const t = token.get()
  const headers: Record<string, string> = {}
  if (t) headers['authorization'] = `Bearer ${t}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`/v1/admin${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' })
  const text = await res.text()
  let parsed: unknown = null
  try { parsed = text ? JSON.parse(text) : null } catch { parsed = text }
  if (!res.ok) {
    const msg = (parsed && typeof parsed === 'object' && 'message' in parsed) ? String((parsed as { message: unknown }).message) : `${res.status} ${res.statusText}`
    throw new ApiError(res.status, msg, parsed)
  }
  return parsed as T
}

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'denied'

export interface StreamHandlers {
  onEvent(event: string, data: unknown): void
  onState(state: StreamState, detail?: string): void
}

/** The live stream; returns a function that closes it for good. */
export function openStream(h: StreamHandlers): () => void {
  let stopped = false
  let ctrl: AbortController | null = null
  let attempt = 0
  let timer: ReturnType<typeof setTimeout> | null = null

  const run = async (): Promise<void> => {
    if (stopped) return
    ctrl = new AbortController()
    h.onState(attempt === 0 ? 'connecting' : 'reconnecting')
    try {
      const t = token.get()
      const res = await fetch('/v1/admin/live', { headers: t ? { authorization: `Bearer ${t}` } : {}, signal: ctrl.signal, cache: 'no-store' })
      if (res.status === 401 || res.status === 403) {
        h.onState('denied', res.status === 401 ? 'This token is not known to the gateway.' : 'This token may not open the console.')
        return
      }
      if (!res.ok || !res.body) throw new Error(`stream: ${res.status}`)
      const events = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream())
      const reader = events.getReader()
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        if (value.event === 'snapshot') { attempt = 0; h.onState('live') }
        let data: unknown
        try { data = JSON.parse(value.data) } catch { continue }
        h.onEvent(value.event ?? 'message', data)
      }
    } catch (err) {
      if (stopped) return
      void err
    }
    if (stopped) return
    attempt++
    h.onState('reconnecting')
    timer = setTimeout(() => { void run() }, Math.min(15_000, 500 * 2 ** Math.min(attempt, 5)))
  }
  void run()
  return () => {
    stopped = true
    if (timer) clearTimeout(timer)
    ctrl?.abort()
  }
}

/** What this gateway's admin API offers beyond the basics (from its own OpenAPI document). */
export interface ApiFeatures { deviceRegistration: boolean }

export async function detectFeatures(): Promise<ApiFeatures> {
  try {
    const res = await fetch('/docs/json', { cache: 'no-store' })
    if (!res.ok) return { deviceRegistration: false }
    const doc = await res.json() as { paths?: Record<string, Record<string, unknown>> }
    const p = doc.paths?.['/v1/admin/devices/{id}']
    return { deviceRegistration: !!p?.['put'] && !!p?.['delete'] }
  } catch {
    return { deviceRegistration: false }
  }
}
