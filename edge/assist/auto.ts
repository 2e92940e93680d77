/**
 * Requests the gateway raises itself: a member who has stood in a zone marked for assistance (electronics,
 * say) for a configured time gets a clerk sent over, once a visit. Pure: fed the presence engine's zone
 * events, asked what is due.
 */
export interface AutoAssistZone { zone: string; afterSeconds: number }

interface Watch { zone: string; since: number; memberId: string; fired: boolean }

export class AutoAssist {
  private readonly zones: Map<string, number>
  private readonly watching = new Map<string, Watch>()

  constructor(zones: readonly AutoAssistZone[]) {
    this.zones = new Map(zones.map((z) => [z.zone, z.afterSeconds * 1000]))
  }

  get enabled(): boolean { return this.zones.size > 0 }

  /** A zone event of a subject; memberId only for a member who consented to location. */
  zoneEvent(subject: string, memberId: string | undefined, zone: string, state: 'enter' | 'dwell' | 'exit', since: number): void {
    if (state === 'exit') {
      const w = this.watching.get(subject)
      if (w && w.zone === zone) this.watching.delete(subject)
      return
    }
    if (memberId === undefined || !this.zones.has(zone)) return
    const w = this.watching.get(subject)
    if (w && w.zone === zone && w.since === since) return
    this.watching.set(subject, { zone, since, memberId, fired: false })
  }

  /** Members who have now been in their zone long enough (each visit fires once). */
  due(now: number): { memberId: string; zone: string; subject: string }[] {
    const out: { memberId: string; zone: string; subject: string }[] = []
    for (const [subject, w] of this.watching) {
      if (w.fired) continue
      if (now - w.since >= this.zones.get(w.zone)!) {
        w.fired = true
        out.push({ memberId: w.memberId, zone: w.zone, subject })
      }
    }
    return out
  }

  forget(subject: string): void { this.watching.delete(subject) }
}
