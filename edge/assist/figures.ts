/**
 * Call-for-service figures: time to accept, to arrive and to done, from the request, overall and per zone,
 * per clerk and per store-local hour. Pure: computed from request records.
 */
import { localTime } from '../recommend/inputs.js'

export interface AssistRecord {
  zone: string | null
  clerkId: string | null
  state: string
  createdAt: number
  acceptedAt: number | null
  arrivedAt: number | null
  closedAt: number | null
  closeReason: string | null
}

export interface StageStats { count: number; median: number | null; p90: number | null; mean: number | null; max: number | null }
export interface StageSet { accept: StageStats; arrive: StageStats; done: StageStats }
export interface AssistFigures {
  requests: number
  byState: Record<string, number>
  overall: StageSet
  byZone: Record<string, StageSet & { requests: number }>
  byClerk: Record<string, StageSet & { requests: number }>
  byHour: Record<string, StageSet & { requests: number }>
}

/** Nearest-rank percentile of sorted values. */
function pct(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

export function stageStats(seconds: number[]): StageStats {
  const s = [...seconds].sort((a, b) => a - b)
  const r = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10)
  return { count: s.length, median: r(pct(s, 50)), p90: r(pct(s, 90)), mean: r(s.length ? s.reduce((a, b) => a + b, 0) / s.length : null), max: r(s.length ? s[s.length - 1]! : null) }
}

/** The stage times of one request, in seconds from the call (done only when a clerk pressed done). */
export function stageTimes(r: AssistRecord): { accept: number | null; arrive: number | null; done: number | null } {
  const since = (t: number | null) => (t === null ? null : Math.max(0, (t - r.createdAt) / 1000))
  return { accept: since(r.acceptedAt), arrive: since(r.arrivedAt), done: r.state === 'done' && r.closeReason === 'done' ? since(r.closedAt) : null }
}

function stageSet(rs: AssistRecord[]): StageSet {
  const t = rs.map(stageTimes)
  const of = (k: 'accept' | 'arrive' | 'done') => stageStats(t.map((x) => x[k]).filter((x): x is number => x !== null))
  return { accept: of('accept'), arrive: of('arrive'), done: of('done') }
}

function groupBy(rs: AssistRecord[], key: (r: AssistRecord) => string | null): Record<string, StageSet & { requests: number }> {
  const groups = new Map<string, AssistRecord[]>()
  for (const r of rs) {
    const k = key(r)
    if (k === null) continue
    let g = groups.get(k)
    if (!g) { g = []; groups.set(k, g) }
    g.push(r)
  }
  const out: Record<string, StageSet & { requests: number }> = {}
  for (const k of [...groups.keys()].sort()) out[k] = { requests: groups.get(k)!.length, ...stageSet(groups.get(k)!) }
  return out
}

export function assistFigures(rs: AssistRecord[], timeZone: string): AssistFigures {
  const byState: Record<string, number> = {}
  for (const r of rs) byState[r.state] = (byState[r.state] ?? 0) + 1
  return {
    requests: rs.length,
    byState,
    overall: stageSet(rs),
    byZone: groupBy(rs, (r) => r.zone ?? 'unknown'),
    byClerk: groupBy(rs, (r) => r.clerkId),
    byHour: groupBy(rs, (r) => String(localTime(r.createdAt, timeZone).hour).padStart(2, '0')),
  }
}
