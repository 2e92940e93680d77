/** Every MQTT and WebSocket message of the contract by name: published as OpenAPI components on /docs. */
import type { TSchema } from 'typebox'
import * as In from './inbound.js'
import * as Out from './outbound.js'
import * as Ws from './ws.js'

export const MESSAGE_SCHEMAS: Record<string, TSchema> = {
  'mqtt.in.BleMessage': In.BleMessage,
  'mqtt.in.EspresenseMessage': In.EspresenseMessage,
  'mqtt.in.RangingMessage': In.RangingMessage,
  'mqtt.in.DwellMessage': In.DwellMessage,
  'mqtt.in.ScanMessage': In.ScanMessage,
  'mqtt.in.ReceiptMessage': In.ReceiptMessage,
  'mqtt.in.ButtonMessage': In.ButtonMessage,
  'mqtt.in.BandAckMessage': In.BandAckMessage,
  'mqtt.in.BandStatusMessage': In.BandStatusMessage,
  'mqtt.in.DeviceStatusMessage': In.DeviceStatusMessage,
  'mqtt.in.StockMessage': In.StockMessage,
  'mqtt.out.BandAlert': Out.BandAlert,
  'mqtt.out.DwellEvent': Out.DwellEvent,
  'mqtt.out.OfferEvent': Out.OfferEvent,
  'mqtt.out.GatewayStatus': Out.GatewayStatus,
  'ws.server.HelloFrame': Ws.HelloFrame,
  'ws.server.RedeemedFrame': Ws.RedeemedFrame,
  'ws.server.OfferFrame': Ws.OfferFrame,
  'ws.server.AssistStatusFrame': Ws.AssistStatusFrame,
  'ws.server.ErrorFrame': Ws.ErrorFrame,
  'ws.app.AckFrame': Ws.AckFrame,
  'ws.app.DismissFrame': Ws.DismissFrame,
  'ws.app.RangingFrame': Ws.RangingFrame,
  'ws.app.AssistFrame': Ws.AssistFrame,
}
