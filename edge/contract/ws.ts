/** Member app WebSocket frames (CONTRACT.md section 4). */
import Type, { type Static } from 'typebox'
import { CampaignId, Ts, ZoneId } from './ids.js'
import { RangingBeacon } from './inbound.js'

export const OfferPayload = Type.Object({
  offerId: Type.String(),
  campaignId: CampaignId,
  code: Type.String({ description: 'signed single-use coupon code (section 6)' }),
  title: Type.String(),
  body: Type.String(),
  zone: Type.String(),
  expiresAt: Type.String({ description: 'ISO 8601 time' }),
})
export type OfferPayload = Static<typeof OfferPayload>

export const OfferFrame = Type.Object({ type: Type.Literal('offer'), offer: OfferPayload })
export type OfferFrame = Static<typeof OfferFrame>
export const AssistStatusFrame = Type.Object({
  type: Type.Literal('assist'),
  status: Type.Enum(['queued', 'accepted', 'done']),
  requestId: Type.String(),
  /** additive: the finer state (queued, offered, accepted, arrived, done, cancelled, expired) */
  state: Type.Optional(Type.Enum(['queued', 'offered', 'accepted', 'arrived', 'done', 'cancelled', 'expired'])),
  /** additive: where the clerk is going */
  zone: Type.Optional(Type.String()),
})
export type AssistStatusFrame = Static<typeof AssistStatusFrame>
/** Additive to the contract: tells the app why a frame it sent was refused (apps ignore unknown types). */
export const ErrorFrame = Type.Object({ type: Type.Literal('error'), error: Type.String(), detail: Type.Optional(Type.String()) })
export type ErrorFrame = Static<typeof ErrorFrame>
/**
 * Additive to the contract: the first frame on every connection. `serverTime` is the gateway's clock, so an app
 * judges coupon expiry by the gateway's time, not by a phone clock that may run ahead or behind.
 */
export const HelloFrame = Type.Object({ type: Type.Literal('hello'), serverTime: Type.String({ description: 'ISO 8601 time on the gateway' }), timeZone: Type.Optional(Type.String({ description: 'the store\'s IANA time zone: apps show times in it (a visitor\'s phone may be set to another)' })) })
export type HelloFrame = Static<typeof HelloFrame>
/** Additive to the contract: a coupon of this member was redeemed (at a till): the app takes it off the screen. */
export const RedeemedFrame = Type.Object({ type: Type.Literal('redeemed'), offerId: Type.String() })
export type RedeemedFrame = Static<typeof RedeemedFrame>
export type ServerFrame = HelloFrame | OfferFrame | AssistStatusFrame | ErrorFrame | RedeemedFrame

const OfferRef = Type.String({ minLength: 1, maxLength: 64 })
export const AckFrame = Type.Object({ type: Type.Literal('ack'), offerId: OfferRef })
export const DismissFrame = Type.Object({ type: Type.Literal('dismiss'), offerId: OfferRef })
export const RangingFrame = Type.Object({
  type: Type.Literal('ranging'),
  beacons: Type.Array(RangingBeacon, { maxItems: 200 }),
  ts: Type.Optional(Ts),
})
/** `action` is additive: `cancel` withdraws the member's open request (default `call`) */
export const AssistFrame = Type.Object({ type: Type.Literal('assist'), zone: Type.Optional(ZoneId), action: Type.Optional(Type.Enum(['call', 'cancel'])) })
export const AppFrame = Type.Union([AckFrame, DismissFrame, RangingFrame, AssistFrame])
export type AppFrame = Static<typeof AppFrame>
