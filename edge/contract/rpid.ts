/**
 * Rotating member pseudonyms (CONTRACT section 5):
 *   rpid = hex(HMAC-SHA256(memberKey, "rpid" || u32be(floor(unixSeconds / 900))))[0..16]
 */
import { createHmac } from 'node:crypto'

export const RPID_WINDOW_SECONDS = 900
const LABEL = Buffer.from('rpid', 'ascii')

export function rpidWindow(epochMs: number): number {
  return Math.floor(epochMs / 1000 / RPID_WINDOW_SECONDS)
}

export function computeRpid(memberKey: Buffer, window: number): string {
  const msg = Buffer.alloc(8)
  LABEL.copy(msg, 0)
  msg.writeUInt32BE(window >>> 0, 4)
  return `rpid:${createHmac('sha256', memberKey).update(msg).digest('hex').slice(0, 16)}`
}

/** The rpid a member's app advertises at a given time. */
export function rpidAt(memberKeyHex: string, epochMs: number): string {
  return computeRpid(Buffer.from(memberKeyHex, 'hex'), rpidWindow(epochMs))
}
