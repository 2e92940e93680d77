/** Call-for-service records: the request's current state, its event log, and its outbox rows. */
import type { AssistOffer, AssistRequest, AssistSource, AssistState } from '../assist/dispatcher.js'
import type { AssistRecord } from '../assist/figures.js'
import type { WriteOp } from './writer.js'
import { messageId, outboxOp, type Store } from './store.js'

export interface AssistRow {
  request_id: string; source: string; origin: string; member_id: string | null; zone: string | null; priority: number; presses: number
  state: string; created_at: number; updated_at: number; escalated_at: number | null; band_id: string | null; clerk_id: string | null
  accepted_at: number | null; arrived_at: number | null; closed_at: number | null; close_reason: string | null; requeues: number; rounds: number; offers: string
}

const COLUMNS = ['request_id', 'source', 'origin', 'member_id', 'zone', 'priority', 'presses', 'state', 'created_at', 'updated_at', 'escalated_at', 'band_id', 'clerk_id', 'accepted_at', 'arrived_at', 'closed_at', 'close_reason', 'requeues', 'rounds', 'offers'] as const

/** origin as stored: never a member id (an app or gateway request is stored under the member's pseudonym) */
export function assistRowOp(r: AssistRequest, storedOrigin: string): WriteOp {
  return {
    op: 'insert', table: 'assist_requests', conflict: 'OR REPLACE', columns: COLUMNS,
    row: [r.id, r.source, storedOrigin, r.memberId, r.zone, r.priority, r.presses, r.state, r.createdAt, r.updatedAt, r.escalatedAt, r.acceptedBy?.band ?? null, r.acceptedBy?.clerkId ?? null, r.acceptedAt, r.arrivedAt, r.closedAt, r.closeReason, r.requeues, r.rounds, JSON.stringify(r.offers)],
  }
}

export function assistEventOp(requestId: string, ts: number, kind: string, from: string | null, to: string | null, detail: string): WriteOp {
  return { op: 'insert', table: 'assist_events', columns: ['request_id', 'ts', 'kind', 'from_state', 'to_state', 'detail'], row: [requestId, ts, kind, from, to, detail.slice(0, 300)] }
}

const EVENT_NAMES: Record<AssistState, string> = {
  queued: 'Assist Queued', offered: 'Assist Offered', accepted: 'Assist Accepted', arrived: 'Assist Arrived',
  done: 'Assist Completed', cancelled: 'Assist Completed', expired: 'Assist Completed',
}

/**
 * A state transition: the row, the event log line and the outbox row in one unit. The CRM stream gets the
 * contract's `Assist Requested` (the first queued) and `Assist Completed` (done, cancelled or expired, with
 * the stage times); the steps between go to the ops stream.
 */
export function assistTransitionOps(o: {
  request: AssistRequest; storedOrigin: string; from: AssistState | null; to: AssistState; reason: string; at: number; storeId: string; seq: string
}): WriteOp[] {
  const r = o.request
  const user = r.memberId !== null ? { userId: r.memberId } : { anonymousId: r.source === 'button' || r.source === 'scan' ? `${r.source}:${r.origin}` : o.storedOrigin }
  const base = { requestId: r.id, zone: r.zone, source: r.source, priority: r.priority, storeId: o.storeId }
  const secs = (t: number | null) => (t === null ? null : Math.round((t - r.createdAt) / 100) / 10)
  let event: ReturnType<typeof outboxOp>
  if (o.from === null) {
    event = outboxOp({ stream: 'crm', messageId: messageId('assist-requested', o.storeId, r.id), event: 'Assist Requested', ts: o.at, ...user, properties: base })
  } else if (o.to === 'done' || o.to === 'cancelled' || o.to === 'expired') {
    event = outboxOp({
      stream: 'crm', messageId: messageId('assist-completed', o.storeId, r.id), event: EVENT_NAMES[o.to], ts: o.at, ...user,
      properties: { ...base, outcome: o.to, reason: r.closeReason, clerkId: r.acceptedBy?.clerkId ?? null, acceptSeconds: secs(r.acceptedAt), arriveSeconds: secs(r.arrivedAt), doneSeconds: o.to === 'done' && r.closeReason === 'done' ? secs(r.closedAt) : null, offers: r.offers.filter((x) => x.kind === 'assist').length, escalated: r.escalatedAt !== null },
    })
  } else {
    event = outboxOp({ stream: 'ops', messageId: messageId('assist', o.storeId, r.id, o.seq), event: EVENT_NAMES[o.to], anonymousId: o.storeId, ts: o.at, properties: { ...base, from: o.from, reason: o.reason, clerkId: r.acceptedBy?.clerkId ?? null } })
  }
  return [assistRowOp(r, o.storedOrigin), assistEventOp(r.id, o.at, 'transition', o.from, o.to, o.reason), event]
}

export function rowToRequest(row: AssistRow): AssistRequest {
  return {
    id: row.request_id, source: row.source as AssistSource, origin: row.origin, memberId: row.member_id, zone: row.zone,
    priority: Math.min(3, Math.max(1, row.priority)) as 1 | 2 | 3, presses: row.presses, state: row.state as AssistState,
    createdAt: row.created_at, updatedAt: row.updated_at, offers: JSON.parse(row.offers) as AssistOffer[], escalatedAt: row.escalated_at,
    acceptedBy: row.band_id ? { band: row.band_id, clerkId: row.clerk_id } : null, acceptedAt: row.accepted_at, arrivedAt: row.arrived_at,
    closedAt: row.closed_at, closeReason: row.close_reason, requeues: row.requeues, rounds: row.rounds,
  }
}

export function rowToRecord(row: AssistRow): AssistRecord {
  return { zone: row.zone, clerkId: row.clerk_id, state: row.state, createdAt: row.created_at, acceptedAt: row.accepted_at, arrivedAt: row.arrived_at, closedAt: row.closed_at, closeReason: row.close_reason }
}

export function openAssistRows(store: Store): Promise<AssistRow[]> {
  return store.all<AssistRow>("SELECT * FROM assist_requests WHERE state IN ('queued','offered','accepted','arrived') ORDER BY created_at")
}

export function assistRows(store: Store, q: { since?: number; until?: number; state?: string; zone?: string; limit?: number }): Promise<AssistRow[]> {
  const where: string[] = []
  const params: (string | number)[] = []
  if (q.since !== undefined) { where.push('created_at >= ?'); params.push(q.since) }
  if (q.until !== undefined) { where.push('created_at < ?'); params.push(q.until) }
  if (q.state !== undefined) { where.push('state = ?'); params.push(q.state) }
  if (q.zone !== undefined) { where.push('zone = ?'); params.push(q.zone) }
  const sql = `SELECT * FROM assist_requests${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC${q.limit ? ' LIMIT ?' : ''}`
  if (q.limit) params.push(q.limit)
  return store.all<AssistRow>(sql, params)
}

export function assistEvents(store: Store, requestId: string): Promise<{ ts: number; kind: string; from_state: string | null; to_state: string | null; detail: string }[]> {
  return store.all('SELECT ts, kind, from_state, to_state, detail FROM assist_events WHERE request_id = ? ORDER BY id', [requestId])
}
