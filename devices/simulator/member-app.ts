/** A simulated member app: holds a WebSocket to the gateway, shows (acks) every offer, reconnects. */
import WebSocket from 'ws'
import type { OfferFrame } from '../../edge/contract/ws.js'

export interface MemberAppOptions {
  httpUrl: string
  memberId: string
  token: () => Promise<string>
  onOffer: (memberId: string, offer: OfferFrame['offer']) => void
  onClose?: (code: number) => void
}

export class SimMemberApp {
  private ws: WebSocket | null = null
  private stopped = false
  private retry = 0
  received = 0
  /** an app is sent every live coupon on each connect: count and report each offer once */
  private readonly known = new Set<string>()

  constructor(private readonly o: MemberAppOptions) {}

  async start(): Promise<void> {
    const token = await this.o.token()
    const url = `${this.o.httpUrl.replace(/^http/, 'ws')}/v1/member/ws`
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } })
    this.ws = ws
    ws.on('open', () => { this.retry = 0 })
    ws.on('message', (data) => {
      let f: { type?: string; offer?: OfferFrame['offer'] }
      try { f = JSON.parse(data.toString()) } catch { return }
      if (f.type === 'offer' && f.offer) {
        if (this.known.has(f.offer.offerId)) return
        if (this.known.size >= 1000) this.known.clear()
        this.known.add(f.offer.offerId)
        this.received++
        this.o.onOffer(this.o.memberId, f.offer)
        ws.send(JSON.stringify({ type: 'ack', offerId: f.offer.offerId }))
      }
    })
    ws.on('error', () => {})
    ws.on('close', (code) => {
      this.o.onClose?.(code)
      if (this.stopped || code === 4401 || code === 4403) return
      setTimeout(() => { if (!this.stopped) void this.start().catch(() => {}) }, Math.min(10_000, 500 * 2 ** this.retry++))
    })
  }

  stop(): void {
    this.stopped = true
    this.ws?.close(1000, 'bye')
  }
}
