/** Member JWT checking (jose): HS256 with a shared secret or ES256 with the CRM's public key; `exp` required. */
import { importSPKI, jwtVerify, type CryptoKey, type KeyObject } from 'jose'

export interface JwtConfig { alg: 'HS256' | 'ES256'; secret?: string | undefined; publicKey?: string | undefined; issuer?: string | undefined; audience?: string | undefined; maxLifetime?: number | undefined }

/** exp and iat in epoch ms (iat null when the token has none) */
export type JwtResult = { ok: true; memberId: string; exp: number; iat: number | null } | { ok: false; reason: string }

export class MemberTokenVerifier {
  private constructor(private readonly key: Uint8Array | CryptoKey | KeyObject, private readonly cfg: JwtConfig) {}

  static async create(cfg: JwtConfig): Promise<MemberTokenVerifier> {
    if (cfg.alg === 'HS256') {
      if (!cfg.secret) throw new Error('member.jwt.secret is required for HS256')
      return new MemberTokenVerifier(new TextEncoder().encode(cfg.secret), cfg)
    }
    if (!cfg.publicKey) throw new Error('member.jwt.publicKey is required for ES256')
    return new MemberTokenVerifier(await importSPKI(cfg.publicKey, 'ES256'), cfg)
  }

  async verify(token: string | undefined, now: number): Promise<JwtResult> {
    if (!token) return { ok: false, reason: 'missing token' }
    if (token.length > 4096) return { ok: false, reason: 'token too long' }
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [this.cfg.alg],
        issuer: this.cfg.issuer,
        audience: this.cfg.audience,
        requiredClaims: ['exp', 'sub'],
        currentDate: new Date(now),
        clockTolerance: 30,
      })
      if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 64) return { ok: false, reason: 'bad sub' }
      const exp = (payload.exp as number) * 1000
      const iat = typeof payload.iat === 'number' ? payload.iat * 1000 : null
      // a token valid for years (a leaked or forged-by-policy token) is refused
      if (this.cfg.maxLifetime !== undefined && exp - (iat ?? now) > this.cfg.maxLifetime * 1000) return { ok: false, reason: 'lifetime-too-long' }
      return { ok: true, memberId: payload.sub, exp, iat }
    } catch (err) {
      return { ok: false, reason: (err as { code?: string }).code ?? 'invalid token' }
    }
  }
}

/** Member tokens as the gateway accepts them: a valid JWT, not issued before the member's erasure. */
export interface MemberAuth {
  verify(token: string | undefined, now: number): Promise<JwtResult>
}

export function withRevocations(v: MemberTokenVerifier, revokedBefore: (memberId: string) => Promise<number | null>): MemberAuth {
  return {
    async verify(token, now) {
      const r = await v.verify(token, now)
      if (!r.ok) return r
      const before = await revokedBefore(r.memberId)
      if (before !== null && (r.iat === null || r.iat <= before)) return { ok: false, reason: 'revoked' }
      return r
    },
  }
}
