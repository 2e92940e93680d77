/**
 * Coupon codes (CONTRACT section 6): verifiable offline by any POS holding the chain key, short enough for
 * a QR code, single use (enforced where redemptions are recorded).
 *
 * Layout (27 bytes, then Crockford base32 = 44 characters, all in QR's alphanumeric set):
 *   0      version (1)
 *   1      key id (which chain key signed it; allows key rotation)
 *   2..5   campaign tag  = HMAC(key, "c:" + campaignId)[0..4]
 *   6..9   member tag    = HMAC(key, "m:" + memberId)[0..4]
 *   10..13 expiry, minutes since 2020-01-01T00:00Z (u32be)
 *   14..18 nonce (5 random bytes; makes every code unique)
 *   19..26 MAC = HMAC-SHA256(key, bytes 0..18)[0..8]
 * Campaign and member are carried as keyed tags: a POS that knows the campaign list and the member on the
 * receipt can check both, while the code alone reveals no member id.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

const VERSION = 1
const EPOCH_MS = Date.UTC(2020, 0, 1)
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
const BODY = 19
const LEN = 27

export type CouponRefusal = 'malformed' | 'unknown-key' | 'bad-mac' | 'expired' | 'wrong-campaign' | 'wrong-member'

export interface CouponClaims {
  keyId: number
  campaignTag: string
  memberTag: string
  expiresAt: number
  nonce: string
}

export interface CouponKey { id: number; key: Buffer }

export class CouponCodec {
  private readonly keys = new Map<number, Buffer>()
  constructor(private readonly current: CouponKey, older: CouponKey[] = [], private readonly random: (n: number) => Buffer = randomBytes) {
    for (const k of [current, ...older]) this.keys.set(k.id, k.key)
  }

  private tag(key: Buffer, label: string): Buffer {
    return createHmac('sha256', key).update(label).digest().subarray(0, 4)
  }

  campaignTag(campaignId: string, keyId = this.current.id): string {
    const key = this.keys.get(keyId)
    return key ? this.tag(key, `c:${campaignId}`).toString('hex') : ''
  }

  memberTag(memberId: string, keyId = this.current.id): string {
    const key = this.keys.get(keyId)
    return key ? this.tag(key, `m:${memberId}`).toString('hex') : ''
  }

  issue(campaignId: string, memberId: string, expiresAt: number): string {
    const { id, key } = this.current
    const b = Buffer.alloc(LEN)
    b[0] = VERSION
    b[1] = id
    this.tag(key, `c:${campaignId}`).copy(b, 2)
    this.tag(key, `m:${memberId}`).copy(b, 6)
    b.writeUInt32BE(Math.ceil((expiresAt - EPOCH_MS) / 60_000) >>> 0, 10)
    this.random(5).copy(b, 14)
    createHmac('sha256', key).update(b.subarray(0, BODY)).digest().copy(b, BODY, 0, 8)
    return encodeBase32(b)
  }

  /**
   * Verify a code offline. `expect` narrows the check to a campaign and/or member when the verifier knows them.
   */
  verify(code: string, now: number, expect: { campaignId?: string; memberId?: string } = {}): { ok: true; claims: CouponClaims } | { ok: false; reason: CouponRefusal } {
    const b = decodeBase32(code.trim().toUpperCase())
    if (!b || b.length !== LEN || b[0] !== VERSION) return { ok: false, reason: 'malformed' }
    const key = this.keys.get(b[1]!)
    if (!key) return { ok: false, reason: 'unknown-key' }
    const mac = createHmac('sha256', key).update(b.subarray(0, BODY)).digest().subarray(0, 8)
    if (!timingSafeEqual(mac, b.subarray(BODY))) return { ok: false, reason: 'bad-mac' }
    const expiresAt = EPOCH_MS + b.readUInt32BE(10) * 60_000
    if (now > expiresAt) return { ok: false, reason: 'expired' }
    const claims: CouponClaims = {
      keyId: b[1]!,
      campaignTag: b.subarray(2, 6).toString('hex'),
      memberTag: b.subarray(6, 10).toString('hex'),
      expiresAt,
      nonce: b.subarray(14, 19).toString('hex'),
    }
    if (expect.campaignId !== undefined && claims.campaignTag !== this.tag(key, `c:${expect.campaignId}`).toString('hex')) return { ok: false, reason: 'wrong-campaign' }
    if (expect.memberId !== undefined && claims.memberTag !== this.tag(key, `m:${expect.memberId}`).toString('hex')) return { ok: false, reason: 'wrong-member' }
    return { ok: true, claims }
  }
}

export function encodeBase32(buf: Buffer): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of buf) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
    value &= (1 << bits) - 1
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31]
  return out
}

export function decodeBase32(s: string): Buffer | null {
  const bytes: number[] = []
  let bits = 0
  let value = 0
  for (const ch of s.replace(/O/g, '0').replace(/[IL]/g, '1')) {
    const i = ALPHABET.indexOf(ch)
    if (i < 0) return null
    value = (value << 5) | i
    bits += 5
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 255)
      bits -= 8
    }
    value &= (1 << bits) - 1
  }
  return Buffer.from(bytes)
}
