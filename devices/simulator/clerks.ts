/**
 * Clerks wearing call bands (the wristband simulator): they restock shelves around the store, their bands
 * send a status heartbeat, are heard by the scanners as `band:<id>` subjects, and receive alerts. A clerk
 * who is free notices an alert after a reaction time, then accepts, declines or misses it; one who accepts
 * walks to the zone, serves the customer and presses done. A "taken", "cancelled" or "closed" alert sends
 * the clerk back to work. Pure and clock-driven like the store simulator (`step(now)` returns the
 * messages due); the same behaviour whatever the gateway's dispatch policy, so policies can be compared.
 */
import { topics, type BandAckMessage, type BandStatusMessage, type Layout } from '../../edge/contract/index.js'
import { bounds, centroid, dist, type Point } from './radio.js'
import { Rng } from './rng.js'
import type { SimMessage } from './store-sim.js'

export interface ClerkSpec { clerkId: string; band: string }

export interface ClerkBehaviour {
  /** median seconds to notice an alert and react (log-normal) */
  reactionMedianS: number
  reactionSigma: number
  /** a free clerk who notices an alert accepts with this probability, declines with `decline`, else misses it */
  accept: number
  decline: number
  /** median seconds spent with a customer (log-normal, sigma 0.5) */
  serviceMedianS: number
  /** median seconds on a shelf task before moving to another zone */
  taskMedianS: number
  walkSpeed: number
  heartbeatS: number
}

export const DEFAULT_CLERK_BEHAVIOUR: ClerkBehaviour = { reactionMedianS: 8, reactionSigma: 0.7, accept: 0.8, decline: 0.1, serviceMedianS: 90, taskMedianS: 240, walkSpeed: 1.2, heartbeatS: 30 }

export interface BandAlertIn { alertId: string; kind: string; zone: string; priority?: number }

type Activity = 'task' | 'walking' | 'responding' | 'serving'

interface Clerk {
  spec: ClerkSpec
  pos: Point
  target: Point
  activity: Activity
  until: number
  job: { alertId: string; zone: string } | null
  reaction: { alertId: string; zone: string; at: number; choice: 'accept' | 'decline' } | null
  nextHeartbeat: number
  battery: number
}

export interface CrewStats { alerts: number; accepted: number; declined: number; missed: number; aborted: number; served: number; metresResponding: number }

export class ClerkCrew {
  readonly stats: CrewStats = { alerts: 0, accepted: 0, declined: 0, missed: 0, aborted: 0, served: 0, metresResponding: 0 }
  private readonly rng: Rng
  private readonly b: ClerkBehaviour
  private readonly clerks: Clerk[]
  private readonly zoneCenter = new Map<string, Point>()
  private readonly zoneBox = new Map<string, { x0: number; y0: number; x1: number; y1: number }>()
  private readonly workZones: string[]
  private last: number

  constructor(private readonly o: { prefix: string; layout: Layout; clerks: ClerkSpec[]; seed: number; behaviour?: Partial<ClerkBehaviour>; onLog?: (msg: string) => void }, start: number) {
    this.rng = new Rng(o.seed)
    this.b = { ...DEFAULT_CLERK_BEHAVIOUR, ...o.behaviour }
    for (const z of o.layout.zones) {
      const c = centroid(z)
      const bx = bounds(z)
      if (c) this.zoneCenter.set(z.id, c)
      if (bx) this.zoneBox.set(z.id, bx)
    }
    this.workZones = [...this.zoneCenter.keys()].filter((z) => z !== 'entrance')
    this.last = start
    this.clerks = o.clerks.map((spec, i) => {
      const zone = this.workZones[i % this.workZones.length]!
      const pos = this.spot(zone)
      return { spec, pos, target: pos, activity: 'task' as Activity, until: start + this.lognormal(this.b.taskMedianS, 0.6) * 1000, job: null, reaction: null, nextHeartbeat: start + this.rng.range(0, 2) * 1000, battery: this.rng.int(60, 100) }
    })
  }

  /** The bands' device ids. */
  bands(): string[] { return this.clerks.map((c) => c.spec.band) }

  /** The bands as BLE subjects, for the scanners. */
  subjects(): { id: string; pos: Point }[] {
    return this.clerks.map((c) => ({ id: `band:${c.spec.band}`, pos: c.pos }))
  }

  /** Where each clerk is and what they are doing (for logs and tests). */
  view(): { clerkId: string; band: string; activity: Activity; job: string | null; pos: Point }[] {
    return this.clerks.map((c) => ({ clerkId: c.spec.clerkId, band: c.spec.band, activity: c.activity, job: c.job?.alertId ?? null, pos: c.pos }))
  }

  /** A band received an alert (from `P/band/<id>/alert`). */
  alert(band: string, a: BandAlertIn): void {
    const c = this.clerks.find((x) => x.spec.band === band)
    if (!c) return
    if (a.kind === 'assist' || a.kind === 'escalation') {
      if (c.job?.alertId === a.alertId || c.reaction?.alertId === a.alertId) return // the same alert again (louder)
      this.stats.alerts++
      if (c.job !== null || c.reaction !== null) { this.stats.missed++; return } // busy: not now
      const roll = this.rng.next()
      if (roll >= this.b.accept + this.b.decline) { this.stats.missed++; return }
      c.reaction = { alertId: a.alertId, zone: a.zone, at: this.last + this.lognormal(this.b.reactionMedianS, this.b.reactionSigma) * 1000, choice: roll < this.b.accept ? 'accept' : 'decline' }
      return
    }
    if (a.kind === 'taken' || a.kind === 'cancelled' || a.kind === 'closed') {
      if (c.reaction?.alertId === a.alertId) c.reaction = null
      if (c.job?.alertId === a.alertId) {
        this.stats.aborted++
        c.job = null
        this.backToWork(c, this.last)
      }
    }
    // busy, reminder: nothing to do
  }

  step(now: number): SimMessage[] {
    const out: SimMessage[] = []
    const dt = Math.max(0, (now - this.last) / 1000)
    this.last = now
    for (const c of this.clerks) {
      if (now >= c.nextHeartbeat) {
        c.nextHeartbeat = now + this.b.heartbeatS * 1000
        out.push({ topic: topics.bandStatus(this.o.prefix, c.spec.band), payload: { clerkId: c.spec.clerkId, onShift: true, battery: c.battery, ts: now } satisfies BandStatusMessage, qos: 1 })
      }
      if (c.reaction && now >= c.reaction.at) {
        const r = c.reaction
        c.reaction = null
        out.push(this.ack(c, r.alertId, r.choice, now))
        if (r.choice === 'accept') {
          this.stats.accepted++
          c.job = { alertId: r.alertId, zone: r.zone }
          c.activity = 'responding'
          c.target = this.zoneCenter.has(r.zone) ? this.spot(r.zone) : c.pos
          this.o.onLog?.(`clerk ${c.spec.clerkId} accepted a call in ${r.zone}`)
        } else {
          this.stats.declined++
        }
      }
      this.move(c, dt, now, out)
    }
    return out
  }

  private move(c: Clerk, dt: number, now: number, out: SimMessage[]): void {
    if (c.activity === 'serving') {
      if (now >= c.until) {
        this.stats.served++
        out.push(this.ack(c, c.job!.alertId, 'done', now))
        c.job = null
        this.backToWork(c, now)
      }
      return
    }
    if (c.activity === 'task') {
      if (now >= c.until) this.backToWork(c, now)
      return
    }
    // walking (to a task) or responding (to a call)
    const d = dist(c.pos, c.target)
    const stepM = this.b.walkSpeed * dt
    if (c.activity === 'responding') this.stats.metresResponding += Math.min(d, stepM)
    if (d > stepM) {
      c.pos = { x: c.pos.x + ((c.target.x - c.pos.x) / d) * stepM, y: c.pos.y + ((c.target.y - c.pos.y) / d) * stepM }
      return
    }
    c.pos = c.target
    if (c.activity === 'responding') {
      c.activity = 'serving'
      c.until = now + this.lognormal(this.b.serviceMedianS, 0.5) * 1000
    } else {
      c.activity = 'task'
      c.until = now + this.lognormal(this.b.taskMedianS, 0.6) * 1000
    }
  }

  private backToWork(c: Clerk, _now: number): void {
    c.activity = 'walking'
    c.target = this.spot(this.rng.pick(this.workZones))
  }

  private ack(c: Clerk, alertId: string, action: BandAckMessage['action'], now: number): SimMessage {
    return { topic: topics.bandAck(this.o.prefix, c.spec.band), payload: { alertId, action, ts: now } satisfies BandAckMessage, qos: 1 }
  }

  private spot(zone: string): Point {
    const cz = this.zoneCenter.get(zone)!
    const bx = this.zoneBox.get(zone)
    if (!bx) return cz
    return { x: cz.x + this.rng.range(-0.25, 0.25) * (bx.x1 - bx.x0), y: cz.y + this.rng.range(-0.25, 0.25) * (bx.y1 - bx.y0) }
  }

  private lognormal(median: number, sigma: number): number {
    return median * Math.exp(this.rng.gauss() * sigma)
  }
}
