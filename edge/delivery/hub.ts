/**
 * Member WebSocket hub (CONTRACT section 4): pushes offers the moment they are issued, keeps the ones a
 * member's app missed (in SQLite, so a restart loses none) and delivers them on connect until they expire,
 * handles ack / dismiss, and hands ranging and assist frames on.
 */
import { AppFrame, compile, describeProblems, type HelloFrame, type OfferFrame, type ServerFrame } from '../contract/index.js'
import type { AppFrame as AppFrameT } from '../contract/ws.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { IssuedOffer } from '../offers/engine.js'
import { offerDeliveredOps, offerDismissedOps, offerSeenOps, liveOffers, rowToOffer } from '../storage/repos.js'
import type { Store } from '../storage/store.js'

export interface MemberSocket {
  send(data: string): void
  close(code?: number, reason?: string): void
  readonly bufferedAmount: number
  readonly readyState: number
}

export interface HubDeps {
  store: Store
  storeId: string
  /** the store's time zone, told to apps in the hello frame */
  timeZone?: string
  clock: Clock
  log: Logger
  queueMax: number
  /** app connections one member may hold; a new one closes the oldest (default 4) */
  maxSocketsPerMember?: number
  onDelivered?: (o: IssuedOffer) => void
  onRanging?: (memberId: string, beacons: { id: string; rssi: number }[], ts: number | undefined) => string | null
  onAssist?: (memberId: string, zone: string | undefined, action: 'call' | 'cancel') => string | null
  /** frames a member's app gets when it connects (e.g. the status of an open call for service) */
  onConnect?: (memberId: string) => ServerFrame[]
}

const appFrame = compile<AppFrameT>(AppFrame)
const OPEN = 1
const MAX_BUFFERED = 1 << 20

export const offerFrame = (o: IssuedOffer): OfferFrame => ({
  type: 'offer',
  offer: { offerId: o.offerId, campaignId: o.campaignId, code: o.code, title: o.title, body: o.body, zone: o.zone, expiresAt: new Date(o.expiresAt).toISOString() },
})

export class MemberHub {
  private readonly sockets = new Map<string, Set<MemberSocket>>()
  private readonly expiry = new Map<MemberSocket, NodeJS.Timeout>()
  /** offers already sent on a socket: a pending offer and a live push can race at connect time */
  private readonly sent = new WeakMap<MemberSocket, Set<string>>()
  badFrames = 0
  /** connections closed because the member opened more than the cap */
  socketsReplaced = 0

  constructor(private readonly d: HubDeps) {}

  get connections(): number {
    let n = 0
    for (const s of this.sockets.values()) n += s.size
    return n
  }

  isConnected(memberId: string): boolean { return (this.sockets.get(memberId)?.size ?? 0) > 0 }

  /** A verified member connected: register, close at token expiry, then deliver what is waiting. */
  async attach(memberId: string, sock: MemberSocket, tokenExp: number): Promise<void> {
    let set = this.sockets.get(memberId)
    if (!set) { set = new Set(); this.sockets.set(memberId, set) }
    // one member token cannot hold the gateway's sockets: past the cap the oldest connection goes
    const max = this.d.maxSocketsPerMember ?? 4
    while (set.size >= max) {
      const oldest = set.values().next().value!
      this.detach(memberId, oldest)
      oldest.close(4008, 'too many connections for this member')
      this.socketsReplaced++
      set = this.sockets.get(memberId) ?? new Set()
      this.sockets.set(memberId, set)
    }
    set.add(sock)
    const ms = Math.max(0, Math.min(tokenExp - this.d.clock.now(), 2 ** 31 - 1))
    this.expiry.set(sock, setTimeout(() => sock.close(4401, 'token expired'), ms))
    const now = this.d.clock.now()
    if (sock.readyState === OPEN) sock.send(JSON.stringify({ type: 'hello', serverTime: new Date(now).toISOString(), ...(this.d.timeZone ? { timeZone: this.d.timeZone } : {}) } satisfies HelloFrame))
    const rows = await liveOffers(this.d.store, memberId, now, this.d.queueMax)
    // an issued offer reaches the phone for the first time (recorded as delivered); the others are shown again
    for (const r of rows.reverse()) {
      const o = rowToOffer(r, this.d.store.vault)
      if (o) this.sendOffer(o, [sock], r.status === 'issued')
    }
    for (const f of this.d.onConnect?.(memberId) ?? []) if (sock.readyState === OPEN) sock.send(JSON.stringify(f))
  }

  detach(memberId: string, sock: MemberSocket): void {
    const t = this.expiry.get(sock)
    if (t) clearTimeout(t)
    this.expiry.delete(sock)
    const set = this.sockets.get(memberId)
    if (!set) return
    set.delete(sock)
    if (set.size === 0) this.sockets.delete(memberId)
  }

  /** Push a freshly issued (and committed) offer. Returns true when at least one app received it. */
  deliver(o: IssuedOffer): boolean {
    const set = this.sockets.get(o.memberId)
    if (!set || set.size === 0) return false
    return this.sendOffer(o, [...set])
  }

  /** Erasure: close the member's sockets. */
  disconnect(memberId: string, code = 4403, reason = 'member erased'): void {
    for (const s of this.sockets.get(memberId) ?? []) s.close(code, reason)
  }

  private sendOffer(o: IssuedOffer, socks: MemberSocket[], firstDelivery = true): boolean {
    const frame = JSON.stringify(offerFrame(o))
    let sent = false
    for (const s of socks) {
      if (s.readyState !== OPEN) continue
      if (s.bufferedAmount > MAX_BUFFERED) { s.close(1013, 'too slow'); continue }
      let seen = this.sent.get(s)
      if (!seen) { seen = new Set(); this.sent.set(s, seen) }
      if (seen.has(o.offerId)) continue
      seen.add(o.offerId)
      s.send(frame)
      sent = true
    }
    if (sent && firstDelivery) {
      const now = this.d.clock.now()
      this.d.store.write(offerDeliveredOps(o, now, this.d.storeId)).catch((err) => this.d.log.error({ err, offerId: o.offerId }, 'could not record delivery'))
      this.d.onDelivered?.(o)
    }
    return sent
  }

  send(memberId: string, frame: ServerFrame): void {
    const data = JSON.stringify(frame)
    for (const s of this.sockets.get(memberId) ?? []) if (s.readyState === OPEN) s.send(data)
  }

  /** A frame from a member's app. Bad frames get an error frame and are counted; the socket stays open. */
  handleFrame(memberId: string, sock: MemberSocket, raw: string): void {
    let value: unknown
    try {
      value = JSON.parse(raw)
    } catch {
      return this.refuse(sock, 'bad-json')
    }
    if (!appFrame.check(value)) return this.refuse(sock, 'invalid-frame', describeProblems(appFrame.problems(value)))
    const now = this.d.clock.now()
    switch (value.type) {
      case 'ack':
        this.d.store.write(offerSeenOps(value.offerId, memberId, now)).catch((err) => this.d.log.error({ err }, 'could not record ack'))
        return
      case 'dismiss':
        this.d.store.write(offerDismissedOps(value.offerId, memberId, now)).catch((err) => this.d.log.error({ err }, 'could not record dismiss'))
        return
      case 'ranging': {
        const refused = this.d.onRanging ? this.d.onRanging(memberId, value.beacons, value.ts) : 'ranging-unavailable'
        if (refused) this.refuse(sock, refused)
        return
      }
      case 'assist': {
        const refused = this.d.onAssist ? this.d.onAssist(memberId, value.zone, value.action ?? 'call') : 'assist-unavailable'
        if (refused) this.refuse(sock, refused)
        return
      }
    }
  }

  private refuse(sock: MemberSocket, error: string, detail?: string): void {
    this.badFrames++
    if (sock.readyState === OPEN) sock.send(JSON.stringify({ type: 'error', error, ...(detail ? { detail: detail.slice(0, 300) } : {}) }))
  }

  closeAll(): void {
    for (const [, set] of this.sockets) for (const s of set) s.close(1001, 'gateway shutting down')
    for (const t of this.expiry.values()) clearTimeout(t)
    this.expiry.clear()
    this.sockets.clear()
  }
}
