/**
 * Sightings waiting for the next publish, rate-limited per subject. A beacon advertising ten times a
 * second (and BlueZ reports every advertisement with DuplicateData) becomes at most `maxPerSecond`
 * readings a second: the readings heard in between are merged into one, keeping the strongest RSSI
 * (fading only ever takes signal away; the peak of a short window is the steadiest estimate of distance)
 * and the latest advertisement and time. Bounded by `maxSubjects`; a subject not heard for
 * `forgetAfterMs` is forgotten. Pure: time comes in as arguments.
 */
import { MAX_SIGHTINGS_PER_MESSAGE, type BleSighting } from '../../edge/contract/index.js'

export interface BatcherOptions {
  maxPerSecond: number
  maxSubjects: number
  /** payload bytes of one MQTT message (the contract allows 64 KiB) */
  maxMessageBytes: number
  forgetAfterMs: number
}

export const DEFAULT_BATCHER: BatcherOptions = { maxPerSecond: 4, maxSubjects: 5000, maxMessageBytes: 60 * 1024, forgetAfterMs: 10_000 }

interface Entry {
  lastSent: number
  lastHeard: number
  pending: BleSighting | null
}

export type OfferResult = 'queued' | 'merged' | 'full'

export class SightingBatcher {
  private readonly subjects = new Map<string, Entry>()
  private readonly spacingMs: number
  /** readings merged into a pending one */
  merged = 0
  /** readings dropped because maxSubjects subjects were already tracked */
  overflow = 0

  constructor(private readonly o: BatcherOptions = DEFAULT_BATCHER) {
    // a little under 1000/maxPerSecond so that readings on a publish tick of the same period are not skipped
    this.spacingMs = Math.max(0, 1000 / o.maxPerSecond - 5)
  }

  get size(): number { return this.subjects.size }

  offer(key: string, s: BleSighting): OfferResult {
    const ts = s.ts!
    let e = this.subjects.get(key)
    if (!e) {
      if (this.subjects.size >= this.o.maxSubjects) { this.overflow++; return 'full' }
      e = { lastSent: -Infinity, lastHeard: ts, pending: s }
      this.subjects.set(key, e)
      return 'queued'
    }
    e.lastHeard = ts
    const p = e.pending
    if (!p) { e.pending = s; return 'queued' }
    this.merged++
    p.rssi = Math.max(p.rssi, s.rssi)
    p.ts = ts
    if (s.adv !== undefined) p.adv = s.adv
    if (s.txPower !== undefined) p.txPower = s.txPower
    return 'merged'
  }

  /** The sightings due at `now`, as MQTT payloads (JSON arrays within the size and count limits). */
  drain(now: number): { payloads: string[]; sightings: number } {
    const parts: string[] = []
    for (const [key, e] of this.subjects) {
      if (e.pending && now - e.lastSent >= this.spacingMs) {
        parts.push(JSON.stringify(e.pending))
        e.pending = null
        e.lastSent = now
      } else if (!e.pending && now - e.lastHeard > this.o.forgetAfterMs) {
        this.subjects.delete(key)
      }
    }
    return { payloads: chunk(parts, this.o.maxMessageBytes), sightings: parts.length }
  }

  clear(): void { this.subjects.clear() }
}

/** JSON arrays of already serialised items, each at most maxBytes and MAX_SIGHTINGS_PER_MESSAGE items. */
export function chunk(parts: string[], maxBytes: number): string[] {
  const out: string[] = []
  let cur: string[] = []
  let bytes = 2
  for (const p of parts) {
    const n = Buffer.byteLength(p) + (cur.length ? 1 : 0)
    if (cur.length && (bytes + n > maxBytes || cur.length >= MAX_SIGHTINGS_PER_MESSAGE)) {
      out.push(`[${cur.join(',')}]`)
      cur = []
      bytes = 2
    }
    cur.push(p)
    bytes += Buffer.byteLength(p) + (cur.length > 1 ? 1 : 0)
  }
  if (cur.length) out.push(`[${cur.join(',')}]`)
  return out
}
