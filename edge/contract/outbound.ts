/** MQTT outbound messages (CONTRACT.md section 3). */
import Type, { type Static } from 'typebox'
import { CampaignId, SubjectId, Ts, ZoneId } from './ids.js'
import { DwellState } from './inbound.js'

export const BandAlert = Type.Object({
  alertId: Type.String({ minLength: 1, maxLength: 64 }),
  kind: Type.String({ description: 'assist | checkout | escalation | ...' }),
  zone: ZoneId,
  text: Type.String({ maxLength: 200 }),
  priority: Type.Integer({ minimum: 1, maximum: 3 }),
  ts: Ts,
}, { description: 'P/band/<bandId>/alert (QoS 1)' })
export type BandAlert = Static<typeof BandAlert>

export const DwellEvent = Type.Object({
  subject: SubjectId,
  zone: ZoneId,
  state: DwellState,
  seconds: Type.Number({ minimum: 0 }),
  ts: Ts,
}, { description: 'P/events/dwell (QoS 0; pseudonymous: no member id)' })
export type DwellEvent = Static<typeof DwellEvent>

export const OfferEvent = Type.Object({
  offerId: Type.String(),
  campaignId: CampaignId,
  zone: ZoneId,
  ts: Ts,
}, { description: 'P/events/offer (QoS 0)' })
export type OfferEvent = Static<typeof OfferEvent>

export const GatewayStatus = Type.Object({
  online: Type.Boolean(),
  version: Type.String(),
  ts: Ts,
}, { description: 'P/gateway/status (QoS 1, retained, also the last will)' })
export type GatewayStatus = Static<typeof GatewayStatus>
