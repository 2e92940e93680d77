/**
 * Personal data at rest. A copy of the database file alone gives nothing away:
 *  - member keys (which compute a member's rpids) are sealed with AES-256-GCM;
 *  - coupon codes are kept as keyed hashes (HMAC-SHA256), so redemption (single use) works by lookup, and the
 *    code itself is sealed only for as long as it must be re-sent to the member's app (until it is redeemed,
 *    dismissed or expires).
 * Both keys derive (HKDF) from the storage key in <dataDir>/secrets.json (mode 0600, never in the database).
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto'

const PREFIX = 'v1.'

export class Vault {
  private readonly encKey: Buffer
  private readonly macKey: Buffer

  constructor(private readonly storageKey: Buffer) {
    if (storageKey.length < 32) throw new Error('the storage key must be 32 bytes')
    this.encKey = Buffer.from(hkdfSync('sha256', storageKey, Buffer.alloc(0), 'aisle-edge seal v1', 32))
    this.macKey = Buffer.from(hkdfSync('sha256', storageKey, Buffer.alloc(0), 'aisle-edge hash v1', 32))
  }

  /** a copy of the storage key, for a thread of this process that opens sealed values itself (the CRM drain) */
  exportKey(): Uint8Array {
    return Uint8Array.from(this.storageKey)
  }

  seal(plain: string): string {
    const iv = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', this.encKey, iv)
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()])
    return PREFIX + Buffer.concat([iv, c.getAuthTag(), body]).toString('base64url')
  }

  /** null when the text was not sealed with this key (or was altered) */
  open(sealed: string | null | undefined): string | null {
    if (!sealed || !sealed.startsWith(PREFIX)) return null
    const b = Buffer.from(sealed.slice(PREFIX.length), 'base64url')
    if (b.length < 29) return null
    try {
      const d = createDecipheriv('aes-256-gcm', this.encKey, b.subarray(0, 12))
      d.setAuthTag(b.subarray(12, 28))
      return Buffer.concat([d.update(b.subarray(28)), d.final()]).toString('utf8')
    } catch {
      return null
    }
  }

  /** keyed hash of a coupon code (normalised: trimmed, upper case) */
  codeHash(code: string): string {
    return createHmac('sha256', this.macKey).update(code.trim().toUpperCase()).digest('hex')
  }
}
