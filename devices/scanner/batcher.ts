/**
 * Sightings waiting for the next publish, rate-limited per subject. A beacon advertising ten times a
 * second (and BlueZ reports every advertisement with DuplicateData) becomes at most `maxPerSecond`
 * readings in any second: the readings heard in between are merged into one, keeping the strongest RSSI
 * (fading only ever takes signal away; the peak of a short window is the steadiest estimate of distance)
 * and the latest advertisement and time. A subject's reading goes out on a publish tick when fewer than
 * `maxPerSecond` of its readings went out in the last 1000 ms (a sliding window: the limit holds in every
 * second) and its last one is at least 1000/maxPerSecond - intervalMs/2 old (so that the readings are
 * spread over the second instead of bunched at its start). Bounded by `maxSubjects`; a subject not heard
 * for `forgetAfterMs` is forgotten. Pure: time comes in as arguments.
 */
import { MAX_SIGHTINGS_PER_MESSAGE, type BleSighting } from '../../edge/contract/index.js'

export interface BatcherOptions {
  maxPerSecond: number
  /** the publish interval the drains come at */
  intervalMs: number
  maxSubjects: number
  /** payload bytes of one MQTT message (the contract allows 64 KiB) */
  maxMessageBytes: number
  forgetAfterMs: number
}

export const DEFAULT_BATCHER: BatcherOptions = { maxPerSecond: 4, intervalMs: 250, maxSubjects: 5000, maxMessageBytes: 60 * 1024, forgetAfterMs: 10_000 }

interface Entry {
  /** when its last readings went out, oldest first, at most maxPerSecond */
  sent: number[]
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
    this.spacingMs = Math.max(0, 1000 / o.maxPerSecond - o.intervalMs / 2)
  }

  get size(): number { return this.subjects.size }

  offer(key: string, s: BleSighting): OfferResult {
    const ts = s.ts!
    let e = this.subjects.get(key)
    if (!e) {
      if (this.subjects.size >= this.o.maxSubjects) { this.overflow++; return 'full' }
      e = { sent: [], lastHeard: ts, pending: s }
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
    const max = this.o.maxPerSecond
    for (const [key, e] of this.subjects) {
      if (e.pending && this.due(e.sent, now, max)) {
        parts.push(JSON.stringify(e.pending))
        e.pending = null
        if (e.sent.length >= max) e.sent.shift()
        e.sent.push(now)
      } else if (!e.pending && now - e.lastHeard > this.o.forgetAfterMs) {
        this.subjects.delete(key)
      }
    }
    return { payloads: chunk(parts, this.o.maxMessageBytes), sightings: parts.length }
  }

  private due(sent: number[], now: number, max: number): boolean {
    const n = sent.length
    if (n === 0) return true
    if (now - sent[n - 1]! < this.spacingMs) return false
    return n < max || now - sent[0]! >= 1000
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
