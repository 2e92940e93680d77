/**
 * Identity at the edge: turns what is heard on the air into a stable pseudonymous subject key, and that key
 * into a member only where the member consented. Pure: time comes in as arguments.
 *
 * - An `rpid:` subject of a member with location consent resolves (current window and both neighbours) to
 *   `pm:<16 hex>` = HMAC(gateway pepper, memberId): stable across rpid rotations, so a dwell does not split
 *   every 15 minutes, yet meaningless outside this gateway and never the member id itself.
 * - Any other subject keeps its id (beacon tags, bands, unknown rpids).
 */
import { createHmac } from 'node:crypto'
import type { Member } from '../contract/resources.js'
import { computeRpid, rpidWindow } from '../contract/rpid.js'

export interface MemberView {
  memberId: string
  consentOffers: boolean
  consentLocation: boolean
  tier?: string | undefined
  rfm?: Member['rfm']
  affinities?: Member['affinities']
  demographics?: Member['demographics']
}

export interface Resolved {
  /** pseudonymous subject key used by presence and events */
  key: string
  /** only for a consenting member */
  memberId?: string
}

/** HMAC of a member id under the gateway's pepper, for erasure tombstones (no id kept). */
export function memberHash(pepper: Buffer, memberId: string): string {
  return createHmac('sha256', pepper).update(`erased:${memberId}`).digest('hex')
}

export class Identity {
  private readonly members = new Map<string, { view: MemberView; key: Buffer }>()
  private readonly rpidToMember = new Map<string, string>()
  private readonly keyToMember = new Map<string, string>()
  private readonly memberToKey = new Map<string, string>()
  private window = Number.NaN
  /** members being erased: invisible at once, removed once the erasure has committed */
  private readonly held = new Set<string>()

  constructor(private readonly pepper: Buffer) {}

  /** Pseudonymous key of a member at this gateway. */
  pseudonym(memberId: string): string {
    let k = this.memberToKey.get(memberId)
    if (!k) {
      k = `pm:${createHmac('sha256', this.pepper).update(memberId).digest('hex').slice(0, 16)}`
    }
    return k
  }

  /** HMAC of a member id for erasure tombstones (no id kept). */
  memberHash(memberId: string): string { return memberHash(this.pepper, memberId) }

  upsert(m: Member): void {
    this.remove(m.memberId)
    const view: MemberView = {
      memberId: m.memberId,
      consentOffers: m.consent.offers,
      consentLocation: m.consent.location,
      tier: m.tier,
      rfm: m.rfm,
      affinities: m.affinities,
      demographics: m.demographics,
    }
    // the key computes the member's rpids: held only for members who consented to location (CONTRACT 5)
    this.members.set(m.memberId, { view, key: m.consent.location ? Buffer.from(m.key, 'hex') : Buffer.alloc(0) })
    const pk = this.pseudonym(m.memberId)
    this.keyToMember.set(pk, m.memberId)
    this.memberToKey.set(m.memberId, pk)
    if (m.consent.location && Number.isFinite(this.window)) {
      for (let w = this.window - 1; w <= this.window + 1; w++) this.rpidToMember.set(computeRpid(this.members.get(m.memberId)!.key, w), m.memberId)
    }
  }

  remove(memberId: string): void {
    this.held.delete(memberId)
    const had = this.members.get(memberId)
    if (!had) return
    this.members.delete(memberId)
    const pk = this.memberToKey.get(memberId)
    if (pk) this.keyToMember.delete(pk)
    this.memberToKey.delete(memberId)
    for (const [rpid, id] of this.rpidToMember) if (id === memberId) this.rpidToMember.delete(rpid)
  }

  member(memberId: string): MemberView | undefined {
    if (this.held.size > 0 && this.held.has(memberId)) return undefined
    return this.members.get(memberId)?.view
  }

  /** An erasure starts: the member is treated as unknown until `release` (erasure failed) or `remove`. */
  hold(memberId: string): void { this.held.add(memberId) }
  release(memberId: string): void { this.held.delete(memberId) }

  get size(): number { return this.members.size }

  /** Recompute the rpid table when the 15-minute window turns; cheap to call on every tick. */
  advance(now: number): void {
    const w = rpidWindow(now)
    if (w === this.window) return
    const prev = this.window
    this.window = w
    if (Number.isFinite(prev) && w === prev + 1) {
      // slide: drop window w-2, add window w+1
      const drop = new Set<string>()
      for (const { view, key } of this.members.values()) if (view.consentLocation) drop.add(computeRpid(key, w - 2))
      for (const r of drop) this.rpidToMember.delete(r)
      for (const { view, key } of this.members.values()) if (view.consentLocation) this.rpidToMember.set(computeRpid(key, w + 1), view.memberId)
      return
    }
    this.rpidToMember.clear()
    for (const { view, key } of this.members.values()) {
      if (!view.consentLocation) continue
      for (let x = w - 1; x <= w + 1; x++) this.rpidToMember.set(computeRpid(key, x), view.memberId)
    }
  }

  /**
   * Subject as heard -> pseudonymous key, without allocating (the ingest hot path). With `now`, an unknown
   * rpid first brings the window table up to date (the 15-minute window may have turned since the last tick).
   */
  keyOf(subject: string, now?: number): string {
    if (subject.charCodeAt(0) === 114 /* r */ && subject.startsWith('rpid:')) {
      let memberId = this.rpidToMember.get(subject)
      if (memberId === undefined && now !== undefined && rpidWindow(now) !== this.window) {
        this.advance(now)
        memberId = this.rpidToMember.get(subject)
      }
      if (memberId !== undefined) return this.memberToKey.get(memberId)!
    }
    return subject
  }

  /** Subject as heard -> pseudonymous key (and member where consented). Call advance(now) first. */
  resolve(subject: string): Resolved {
    if (subject.startsWith('rpid:')) {
      const memberId = this.rpidToMember.get(subject)
      if (memberId !== undefined) return { key: this.memberToKey.get(memberId)!, memberId }
    }
    return { key: subject }
  }

  /** Pseudonymous key -> member id, for the decision step. */
  memberOfKey(key: string): string | undefined {
    const id = this.keyToMember.get(key)
    return id !== undefined && this.held.size > 0 && this.held.has(id) ? undefined : id
  }
}
