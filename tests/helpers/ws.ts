import WebSocket from 'ws'

export interface WsClient {
  ws: WebSocket
  frames: unknown[]
  closed: Promise<{ code: number; reason: string }>
  opened: Promise<void>
  send(v: unknown): void
  close(): void
}

export function wsConnect(url: string, token?: string, via: 'header' | 'query' = 'header'): WsClient {
  const full = via === 'query' && token ? `${url}?token=${encodeURIComponent(token)}` : url
  const ws = new WebSocket(full, via === 'header' && token ? { headers: { authorization: `Bearer ${token}` } } : {})
  const frames: unknown[] = []
  ws.on('message', (d) => {
    try { frames.push(JSON.parse(d.toString())) } catch { frames.push(d.toString()) }
  })
  ws.on('error', () => {})
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('close', () => reject(new Error('closed before open')))
  })
  opened.catch(() => {})
  return { ws, frames, closed, opened, send: (v) => ws.send(typeof v === 'string' ? v : JSON.stringify(v)), close: () => ws.close() }
}
