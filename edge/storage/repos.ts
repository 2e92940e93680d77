/**
 * Repositories: write-op builders (a state change always together with its outbox row) and read queries.
 */
import type { Campaign, Layout, Member } from '../contract/resources.js'
import type { DeadLetter } from '../ingest/ingest.js'
import type { DeviceKind, DeviceRecord } from '../ingest/devices.js'
import type { IssuedOffer } from '../offers/engine.js'
import type { ZoneEvent } from '../presence/types.js'
import type { WriteOp } from './writer.js'
import { messageId, outboxOp, type Store } from './store.js'
import type { Vault } from './vault.js'

// ---------- offers ----------

export interface OfferRow {
  offer_id: string; campaign_id: string; member_id: string; zone: string | null; trigger_kind: string
  /** keyed hash of the coupon code */
  code: string
  /** the code, sealed, while it may be re-sent */
  code_enc: string | null
  title: string; body: string; day: string; issued_at: number; expires_at: number; status: string
  delivered_at: number | null; seen_at: number | null; dismissed_at: number | null; redeemed_at: number | null
  skus: string; value: number; receipt_id: string | null
}

/** An offer as stored, its code unsealed (null when it may no longer be re-sent: redeemed, dismissed, expired). */
export const rowToOffer = (r: OfferRow, vault: Vault): IssuedOffer | null => {
  const code = vault.open(r.code_enc)
  if (code === null) return null
  return {
    offerId: r.offer_id, campaignId: r.campaign_id, memberId: r.member_id, zone: r.zone ?? '', triggerKind: r.trigger_kind,
    code, title: r.title, body: r.body, day: r.day, issuedAt: r.issued_at, expiresAt: r.expires_at,
    skus: JSON.parse(r.skus ?? '[]') as string[], value: r.value ?? 0,
  }
}

/** The offer, its coupon stored as a keyed hash (for redemption) and sealed (for re-delivery), and its outbox row. */
export function offerIssuedOps(o: IssuedOffer, storeId: string, vault: Vault): WriteOp[] {
  return [
    {
      op: 'insert', table: 'offers',
      columns: ['offer_id', 'campaign_id', 'member_id', 'zone', 'trigger_kind', 'code', 'code_enc', 'title', 'body', 'day', 'issued_at', 'expires_at', 'status', 'skus', 'value'],
      row: [o.offerId, o.campaignId, o.memberId, o.zone, o.triggerKind, vault.codeHash(o.code), vault.seal(o.code), o.title, o.body, o.day, o.issuedAt, o.expiresAt, 'issued', JSON.stringify(o.skus), o.value],
    },
    outboxOp({
      stream: 'crm', messageId: `offer-issued:${o.offerId}`, event: 'Offer Issued', userId: o.memberId, ts: o.issuedAt,
      properties: { offerId: o.offerId, campaignId: o.campaignId, zone: o.zone, trigger: o.triggerKind, storeId, expiresAt: new Date(o.expiresAt).toISOString() },
    }),
  ]
}

export function offerDeliveredOps(o: Pick<IssuedOffer, 'offerId' | 'memberId' | 'campaignId'>, now: number, storeId: string): WriteOp[] {
  return [
    { op: 'sql', sql: "UPDATE offers SET status = 'delivered', delivered_at = ? WHERE offer_id = ? AND status = 'issued'", params: [now, o.offerId] },
    outboxOp({ stream: 'crm', messageId: `offer-delivered:${o.offerId}`, event: 'Offer Delivered', userId: o.memberId, ts: now, properties: { offerId: o.offerId, campaignId: o.campaignId, storeId } }),
  ]
}

export function offerSeenOps(offerId: string, memberId: string, now: number): WriteOp[] {
  return [{ op: 'sql', sql: "UPDATE offers SET status = CASE WHEN status IN ('issued','delivered') THEN 'seen' ELSE status END, seen_at = COALESCE(seen_at, ?), delivered_at = COALESCE(delivered_at, ?) WHERE offer_id = ? AND member_id = ?", params: [now, now, offerId, memberId] }]
}

export function offerDismissedOps(offerId: string, memberId: string, now: number): WriteOp[] {
  return [{ op: 'sql', sql: "UPDATE offers SET status = CASE WHEN status = 'redeemed' THEN status ELSE 'dismissed' END, code_enc = NULL, dismissed_at = COALESCE(dismissed_at, ?), delivered_at = COALESCE(delivered_at, ?) WHERE offer_id = ? AND member_id = ?", params: [now, now, offerId, memberId] }]
}

/**
 * A member's live coupons, newest first: issued (not yet on the phone), delivered or seen, not expired, not
 * redeemed or dismissed. An app gets all of them on every connect, so a reload or a new phone loses none.
 */
export function liveOffers(store: Store, memberId: string, now: number, limit: number): Promise<OfferRow[]> {
  return store.all<OfferRow>("SELECT * FROM offers WHERE member_id = ? AND status IN ('issued','delivered','seen') AND expires_at > ? ORDER BY issued_at DESC LIMIT ?", [memberId, now, limit])
}

export function offersSince(store: Store, since: number): Promise<OfferRow[]> {
  return store.all<OfferRow>('SELECT * FROM offers WHERE issued_at >= ?', [since])
}

// ---------- dwell sessions ----------

export function dwellSessionOps(e: ZoneEvent, dwellAt: number, source: string, userId: string | undefined, storeId: string): WriteOp[] {
  return [
    {
      op: 'insert', table: 'dwell_sessions',
      columns: ['subject', 'zone', 'entered_at', 'dwell_at', 'exited_at', 'seconds', 'source'],
      row: [e.subject, e.zone, e.since, dwellAt, e.ts, e.seconds, source],
    },
    outboxOp({
      stream: 'crm', messageId: messageId('zone-dwelled', storeId, e.subject, e.zone, e.since), event: 'Zone Dwelled', ts: e.ts,
      userId, anonymousId: userId === undefined ? e.subject : undefined,
      properties: { zone: e.zone, seconds: Math.round(e.seconds * 10) / 10, enteredAt: new Date(e.since).toISOString(), storeId },
    }),
  ]
}

// ---------- dead letters ----------

export function deadLetterOps(d: DeadLetter): WriteOp[] {
  return [{
    op: 'insert', table: 'dead_letters',
    columns: ['received_at', 'topic', 'device', 'reason', 'detail', 'size', 'payload'],
    row: [d.receivedAt, d.topic, d.device, d.reason, d.detail, d.size, d.payload],
  }]
}

export function pruneDeadLettersOp(keep: number): WriteOp {
  return { op: 'sql', sql: 'DELETE FROM dead_letters WHERE id <= (SELECT MAX(id) FROM dead_letters) - ?', params: [keep] }
}

// ---------- devices ----------

export function deviceUpsertOps(list: DeviceRecord[]): WriteOp[] {
  return list.map((d) => ({
    op: 'sql' as const,
    sql: `INSERT INTO devices (device_id, kind, first_seen, last_seen, messages, bad_messages, last_bad_reason, last_bad_at, battery, online)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (device_id, kind) DO UPDATE SET last_seen = excluded.last_seen, messages = excluded.messages,
            bad_messages = excluded.bad_messages, last_bad_reason = excluded.last_bad_reason, last_bad_at = excluded.last_bad_at,
            battery = excluded.battery, online = excluded.online`,
    params: [d.id, d.kind, d.firstSeen, d.lastSeen, d.messages, d.badMessages, d.lastBadReason, d.lastBadAt, d.battery, d.online === null ? null : d.online ? 1 : 0],
  }))
}

export async function loadDevices(store: Store): Promise<Parameters<import('../ingest/devices.js').DeviceRegistry['restore']>[0][]> {
  const rows = await store.all<{ device_id: string; kind: DeviceKind; first_seen: number; last_seen: number; messages: number; bad_messages: number; last_bad_reason: string | null; last_bad_at: number | null; battery: number | null; online: number | null }>('SELECT * FROM devices')
  return rows.map((r) => ({
    id: r.device_id, kind: r.kind, firstSeen: r.first_seen, lastSeen: r.last_seen, messages: r.messages, badMessages: r.bad_messages,
    lastBadReason: r.last_bad_reason, lastBadAt: r.last_bad_at, battery: r.battery, online: r.online === null ? null : r.online === 1,
  }))
}

// ---------- members, campaigns, layout ----------

/** A member: the body without its key; the key sealed, and only with location consent (CONTRACT section 5). */
export function memberUpsertOps(m: Member, source: string, now: number, vault: Vault): WriteOp[] {
  const { key, ...body } = m
  return [{
    op: 'sql',
    sql: `INSERT INTO members (member_id, body, key_enc, consent_offers, consent_location, source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (member_id) DO UPDATE SET body = excluded.body, key_enc = excluded.key_enc, consent_offers = excluded.consent_offers,
            consent_location = excluded.consent_location, source = excluded.source, updated_at = excluded.updated_at`,
    params: [m.memberId, JSON.stringify(body), m.consent.location && key ? vault.seal(key) : null, m.consent.offers ? 1 : 0, m.consent.location ? 1 : 0, source, now],
  }]
}

/** the meta key under which config seeding remembers a member's entry (hashed: no member id kept) */
export const seedMemberKey = (memberHash: string): string => `seed:member:${memberHash}`

/** Erasure: every record at the edge that names the member, in one transaction, plus a tombstone. */
export function memberEraseOps(memberId: string, memberHash: string, pseudonym: string, now: number): WriteOp[] {
  return [
    { op: 'sql', sql: 'DELETE FROM meta WHERE key = ? OR key = ?', params: [seedMemberKey(memberHash), `seed:member:${memberId}`] },
    { op: 'sql', sql: 'INSERT OR REPLACE INTO token_revocations (member_hash, before) VALUES (?, ?)', params: [memberHash, now] },
    { op: 'sql', sql: 'DELETE FROM members WHERE member_id = ?', params: [memberId] },
    { op: 'sql', sql: 'DELETE FROM redemptions WHERE offer_id IN (SELECT offer_id FROM offers WHERE member_id = ?)', params: [memberId] },
    { op: 'sql', sql: 'DELETE FROM offers WHERE member_id = ?', params: [memberId] },
    { op: 'sql', sql: 'DELETE FROM decisions WHERE member_id = ?', params: [memberId] },
    { op: 'sql', sql: 'DELETE FROM exposures WHERE member_id = ?', params: [memberId] },
    { op: 'sql', sql: 'DELETE FROM receipts WHERE member_id = ?', params: [memberId] },
    { op: 'sql', sql: 'DELETE FROM dwell_sessions WHERE subject = ?', params: [pseudonym] },
    { op: 'sql', sql: "UPDATE assist_requests SET member_id = NULL, origin = 'erased' WHERE member_id = ? OR origin = ?", params: [memberId, pseudonym] },
    { op: 'sql', sql: 'DELETE FROM outbox WHERE user_id = ? OR anonymous_id = ?', params: [memberId, pseudonym] },
    { op: 'sql', sql: 'DELETE FROM outbox_parked WHERE user_id = ? OR anonymous_id = ?', params: [memberId, pseudonym] },
    { op: 'sql', sql: "DELETE FROM dead_letters WHERE instr(CAST(payload AS TEXT), ?) > 0", params: [memberId] },
    { op: 'sql', sql: 'INSERT OR REPLACE INTO erased_members (member_hash, erased_at) VALUES (?, ?)', params: [memberHash, now] },
  ]
}

/** Members with their keys unsealed (an empty key where none is kept: no location consent). */
export async function loadMembers(store: Store): Promise<Member[]> {
  return (await store.all<{ body: string; key_enc: string | null }>('SELECT body, key_enc FROM members ORDER BY member_id')).map((r) => ({ ...(JSON.parse(r.body) as Omit<Member, 'key'>), key: store.vault.open(r.key_enc) ?? '' }))
}

export async function isErased(store: Store, memberHash: string): Promise<boolean> {
  return (await store.get('SELECT 1 AS x FROM erased_members WHERE member_hash = ?', [memberHash])) !== undefined
}

export function campaignUpsertOps(c: Campaign, source: string, now: number): WriteOp[] {
  return [{
    op: 'sql',
    sql: `INSERT INTO campaigns (id, body, source, updated_at, retired_at) VALUES (?, ?, ?, ?, NULL)
          ON CONFLICT (id) DO UPDATE SET body = excluded.body, source = excluded.source, updated_at = excluded.updated_at, retired_at = NULL`,
    params: [c.id, JSON.stringify(c), source, now],
  }]
}

export function campaignRetireOps(id: string, now: number): WriteOp[] {
  return [{ op: 'sql', sql: 'UPDATE campaigns SET retired_at = ?, updated_at = ? WHERE id = ? AND retired_at IS NULL', params: [now, now, id] }]
}

export async function loadCampaigns(store: Store, includeRetired = false): Promise<{ campaign: Campaign; retiredAt: number | null; source: string }[]> {
  const rows = await store.all<{ body: string; retired_at: number | null; source: string }>(
    `SELECT body, retired_at, source FROM campaigns ${includeRetired ? '' : 'WHERE retired_at IS NULL'} ORDER BY id`)
  return rows.map((r) => ({ campaign: JSON.parse(r.body) as Campaign, retiredAt: r.retired_at, source: r.source }))
}

export function layoutOps(l: Layout, source: string, now: number): WriteOp[] {
  return [{
    op: 'sql',
    sql: 'INSERT INTO layout (id, body, source, updated_at) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body, source = excluded.source, updated_at = excluded.updated_at',
    params: [JSON.stringify(l), source, now],
  }]
}

export async function loadLayout(store: Store): Promise<Layout | undefined> {
  const r = await store.get<{ body: string }>('SELECT body FROM layout WHERE id = 1')
  return r ? (JSON.parse(r.body) as Layout) : undefined
}
