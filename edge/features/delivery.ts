/**
 * Delivery to members' phones: the member WebSocket hub (live push, offline queue in SQLite, ack, dismiss) and
 * member JWT checking. Frames the hub does not handle itself (ranging, call for service) go to the features
 * that registered for them.
 */
import { SignJWT } from 'jose'
import type { ServerFrame } from '../contract/ws.js'
import { MemberHub } from '../delivery/hub.js'
import { MemberTokenVerifier, withRevocations, type MemberAuth } from '../delivery/jwt.js'
import { memberHash } from '../identity/identity.js'
import type { Feature, GatewayContext } from './feature.js'

type RangingHandler = (memberId: string, beacons: { id: string; rssi: number }[], ts: number | undefined) => string | null
type AssistHandler = (memberId: string, zone: string | undefined, action: 'call' | 'cancel') => string | null
type ConnectHandler = (memberId: string) => ServerFrame[]

export class DeliveryFeature implements Feature {
  readonly name = 'delivery'
  readonly hub: MemberHub
  private ranging: RangingHandler | null = null
  private assist: AssistHandler | null = null
  private readonly connectFrames: ConnectHandler[] = []

  /** member tokens: a valid JWT of the CRM's, not issued before the member was erased */
  readonly tokens: MemberAuth

  private constructor(private readonly ctx: GatewayContext, verifier: MemberTokenVerifier, private readonly jwtSecret: string) {
    const { store, storeId, clock, log, config, metrics, bus } = ctx
    const pepper = Buffer.from(ctx.secrets.pepper, 'hex')
    this.tokens = withRevocations(verifier, async (memberId) => (await store.get<{ before: number }>('SELECT before FROM token_revocations WHERE member_hash = ?', [memberHash(pepper, memberId)]))?.before ?? null)
    this.hub = new MemberHub({
      store, storeId, timeZone: config.store.timezone, clock, log, queueMax: config.member.offlineQueueMax, maxSocketsPerMember: config.member.maxSocketsPerMember,
      onDelivered: () => metrics.offersDelivered.inc(),
      onRanging: (memberId, beacons, ts) => (this.ranging ? this.ranging(memberId, beacons, ts) : 'ranging-unavailable'),
      onAssist: (memberId, zone, action) => (this.assist ? this.assist(memberId, zone, action) : 'assist-unavailable'),
      onConnect: (memberId) => this.connectFrames.flatMap((f) => f(memberId)),
    })
    bus.on('offerIssued', (o) => this.hub.deliver(o))
    // an open app takes a coupon off the screen the moment it is redeemed at the till
    bus.on('offerRedeemed', (o) => this.hub.send(o.memberId, { type: 'redeemed', offerId: o.offerId }))
    bus.on('memberErased', ({ memberId }) => this.hub.disconnect(memberId))
  }

  static async create(ctx: GatewayContext): Promise<DeliveryFeature> {
    const jwt = ctx.config.member.jwt
    const secret = jwt.secret ?? ctx.secrets.memberJwtSecret
    return new DeliveryFeature(ctx, await MemberTokenVerifier.create({ ...jwt, secret }), secret)
  }

  handleRanging(fn: RangingHandler): void { this.ranging = fn }
  handleAssist(fn: AssistHandler): void { this.assist = fn }
  /** frames a member's app gets when it connects */
  onConnect(fn: ConnectHandler): void { this.connectFrames.push(fn) }

  /** mint a member JWT with the gateway's own HS256 secret (the demo and tests) */
  memberToken(memberId: string, ttlSeconds = 12 * 3600): Promise<string> {
    const jwt = this.ctx.config.member.jwt
    if (jwt.alg !== 'HS256') return Promise.reject(new Error('member tokens can only be minted with HS256'))
    const now = Math.floor(this.ctx.clock.now() / 1000)
    let t = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(memberId).setIssuedAt(now).setExpirationTime(now + ttlSeconds)
    if (jwt.issuer) t = t.setIssuer(jwt.issuer)
    if (jwt.audience) t = t.setAudience(jwt.audience)
    return t.sign(new TextEncoder().encode(this.jwtSecret))
  }

  stop(): void { this.hub.closeAll() }
}
