/**
 * The gateway's outbox as the drainer sees it: per stream, in commit order, the oldest compressed blocks first
 * and then the rows the gateway's transactions wrote. Nothing is deleted before its delivery (or parking) is
 * known; deletions commit through the gateway's own write queue.
 *
 * Packing: while a stream cannot be delivered, its oldest rows are deflated into blocks of a few thousand
 * (an outbox row takes about 330 bytes with its indexes, a packed one about 30), so that days of a busy store
 * fit the outbox budget. A block is a contiguous run of one stream's rows, older than any row left in the table,
 * so that the order is kept. A block names its subjects only as keyed hashes, for erasure.
 */
import { promisify } from 'node:util'
import { deflateRaw, inflateRaw, constants } from 'node:zlib'
import type { Store } from '../edge/storage/store.js'

const deflate = promisify(deflateRaw)
const inflate = promisify(inflateRaw)

export type StreamName = 'crm' | 'ops'
export const STREAMS: readonly StreamName[] = ['crm', 'ops']

export interface OutboxRecord {
  id: number
  messageId: string
  event: string
  userId: string | null
  anonymousId: string | null
  /** JSON text */
  properties: string
  ts: number
}

/** what the drainer sends next: a run of one stream's records and where they live */
export interface Chunk {
  stream: StreamName
  source: 'rows' | 'block'
  blockId: number | null
  records: OutboxRecord[]
}

export interface StreamCounts { rows: number; packed: number; oldestTs: number | null; bytes: number }

type Packed = [number, string, string, string | null, string | null, string, number]

const toPacked = (r: OutboxRecord): Packed => [r.id, r.messageId, r.event, r.userId, r.anonymousId, r.properties, r.ts]
const fromPacked = (p: Packed): OutboxRecord => ({ id: p[0], messageId: p[1], event: p[2], userId: p[3], anonymousId: p[4], properties: p[5], ts: p[6] })

interface RowRecord { id: number; message_id: string; event: string; user_id: string | null; anonymous_id: string | null; properties: string; ts: number }
const fromRow = (r: RowRecord): OutboxRecord => ({ id: r.id, messageId: r.message_id, event: r.event, userId: r.user_id, anonymousId: r.anonymous_id, properties: r.properties, ts: r.ts })

export interface OutboxOptions {
  /** keyed hash of a user or anonymous id (never the id itself on disk) */
  subjectHash: (id: string) => string
  /** rows a block packs */
  blockRows?: number
}

export class Outbox {
  readonly blockRows: number

  constructor(readonly store: Store, private readonly o: OutboxOptions) {
    this.blockRows = o.blockRows ?? 2000
  }

  /** The stream's oldest undelivered records: its oldest block, else up to `limit` rows. */
  async next(stream: StreamName, limit: number): Promise<Chunk | null> {
    const b = await this.store.get<{ id: number; data: Buffer }>('SELECT id, data FROM outbox_blocks WHERE stream = ? ORDER BY first_id LIMIT 1', [stream])
    if (b) return { stream, source: 'block', blockId: b.id, records: (JSON.parse((await inflate(b.data)).toString('utf8')) as Packed[]).map(fromPacked) }
    const rows = await this.store.all<RowRecord>('SELECT id, message_id, event, user_id, anonymous_id, properties, ts FROM outbox WHERE stream = ? ORDER BY id LIMIT ?', [stream, limit])
    return rows.length ? { stream, source: 'rows', blockId: null, records: rows.map(fromRow) } : null
  }

  /** The receiver has these records (a contiguous run of the chunk): they leave the outbox. */
  async delivered(chunk: Chunk, records: readonly OutboxRecord[], blockDone: boolean): Promise<void> {
    if (chunk.source === 'block') {
      if (blockDone) await this.store.write([{ op: 'sql', sql: 'DELETE FROM outbox_blocks WHERE id = ?', params: [chunk.blockId] }])
      return
    }
    if (!records.length) return
    await this.store.write([{ op: 'sql', sql: 'DELETE FROM outbox WHERE stream = ? AND id BETWEEN ? AND ?', params: [chunk.stream, records[0]!.id, records[records.length - 1]!.id] }])
    this.store.outboxBacklog = Math.max(0, this.store.outboxBacklog - records.length)
  }

  /** A record the receiver refuses for good (or one too large to send): kept aside with the reason. */
  async park(chunk: Chunk, r: OutboxRecord, reason: string, now: number): Promise<void> {
    await this.store.write([
      {
        op: 'insert', table: 'outbox_parked', conflict: 'OR IGNORE',
        columns: ['stream', 'message_id', 'event', 'user_id', 'anonymous_id', 'properties', 'ts', 'reason', 'parked_at'],
        row: [chunk.stream, r.messageId, r.event, r.userId, r.anonymousId, r.properties, r.ts, reason.slice(0, 500), now],
      },
      ...(chunk.source === 'rows' ? [{ op: 'sql' as const, sql: 'DELETE FROM outbox WHERE id = ?', params: [r.id] }] : []),
    ])
    if (chunk.source === 'rows') this.store.outboxBacklog = Math.max(0, this.store.outboxBacklog - 1)
  }

  /**
   * Pack the stream's oldest rows into one block when at least `blockRows` are waiting (nothing else to do:
   * fewer rows go out as they are). `hold()` true means an erasure is in progress: nothing is packed meanwhile.
   * Returns the rows packed.
   */
  async pack(stream: StreamName, hold: () => boolean): Promise<number> {
    if (hold()) return 0
    const rows = (await this.store.all<RowRecord>('SELECT id, message_id, event, user_id, anonymous_id, properties, ts FROM outbox WHERE stream = ? ORDER BY id LIMIT ?', [stream, this.blockRows])).map(fromRow)
    if (rows.length < this.blockRows) return 0
    const data = await deflate(Buffer.from(JSON.stringify(rows.map(toPacked)), 'utf8'), { level: constants.Z_BEST_SPEED + 3 })
    const first = rows[0]!.id
    const last = rows[rows.length - 1]!.id
    let packed = 0
    await this.store.queue.exclusive(async (db) => {
      // an erasure may have started (or deleted some of these rows) while this was compressing
      if (hold()) return
      const n = (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM outbox WHERE stream = ? AND id BETWEEN ? AND ?', [stream, first, last]))?.n ?? 0
      if (n !== rows.length) return
      await db.exec('BEGIN IMMEDIATE')
      try {
        await db.run('INSERT INTO outbox_blocks (stream, first_id, last_id, count, oldest_ts, subjects, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
          [stream, first, last, rows.length, rows[0]!.ts, this.subjects(rows), data])
        await db.run('DELETE FROM outbox WHERE stream = ? AND id BETWEEN ? AND ?', [stream, first, last])
        await db.exec('COMMIT')
        packed = rows.length
      } catch (err) {
        await db.exec('ROLLBACK').catch(() => {})
        throw err
      }
    })
    return packed
  }

  private subjects(rows: readonly OutboxRecord[]): string {
    const set = new Set<string>()
    for (const r of rows) {
      if (r.userId) set.add(this.o.subjectHash(r.userId))
      if (r.anonymousId) set.add(this.o.subjectHash(r.anonymousId))
    }
    return [...set].join(' ')
  }

  /** Remove every packed record naming one of these ids (an erasure); rows and parked ones go with its unit. */
  async erase(ids: readonly string[]): Promise<number> {
    const hashes = ids.map((id) => this.o.subjectHash(id))
    const wanted = new Set(ids)
    let removed = 0
    await this.store.queue.exclusive(async (db) => {
      for (const h of hashes) {
        const blocks = await db.all<{ id: number; data: Buffer }>("SELECT id, data FROM outbox_blocks WHERE instr(' ' || subjects || ' ', ?) > 0", [` ${h} `])
        for (const b of blocks) {
          const all = (JSON.parse((await inflate(b.data)).toString('utf8')) as Packed[]).map(fromPacked)
          const kept = all.filter((r) => !(r.userId !== null && wanted.has(r.userId)) && !(r.anonymousId !== null && wanted.has(r.anonymousId)))
          removed += all.length - kept.length
          if (kept.length === 0) await db.run('DELETE FROM outbox_blocks WHERE id = ?', [b.id])
          else if (kept.length !== all.length) {
            const data = await deflate(Buffer.from(JSON.stringify(kept.map(toPacked)), 'utf8'))
            await db.run('UPDATE outbox_blocks SET count = ?, oldest_ts = ?, subjects = ?, data = ? WHERE id = ?', [kept.length, kept[0]!.ts, this.subjects(kept), data, b.id])
          }
        }
      }
    })
    return removed
  }

  /** Per stream: rows, packed records, oldest record, bytes on disk (estimated for rows, exact for blocks). */
  async counts(): Promise<Record<StreamName, StreamCounts>> {
    const out = Object.fromEntries(STREAMS.map((s) => [s, { rows: 0, packed: 0, oldestTs: null, bytes: 0 }])) as Record<StreamName, StreamCounts>
    const rows = await this.store.all<{ stream: StreamName; n: number; oldest: number | null; bytes: number | null }>(
      'SELECT stream, COUNT(*) AS n, MIN(ts) AS oldest, SUM(LENGTH(properties) + 2 * LENGTH(message_id) + LENGTH(event) + 2 * COALESCE(LENGTH(user_id), 0) + COALESCE(LENGTH(anonymous_id), 0) + 100) AS bytes FROM outbox GROUP BY stream')
    const blocks = await this.store.all<{ stream: StreamName; n: number; oldest: number | null; bytes: number | null }>(
      'SELECT stream, SUM(count) AS n, MIN(oldest_ts) AS oldest, SUM(LENGTH(data) + LENGTH(subjects) + 64) AS bytes FROM outbox_blocks GROUP BY stream')
    for (const r of rows) if (out[r.stream]) Object.assign(out[r.stream], { rows: r.n, oldestTs: r.oldest, bytes: r.bytes ?? 0 })
    for (const b of blocks) {
      const c = out[b.stream]
      if (!c) continue
      c.packed = b.n
      c.bytes += b.bytes ?? 0
      if (b.oldest !== null && (c.oldestTs === null || b.oldest < c.oldestTs)) c.oldestTs = b.oldest
    }
    return out
  }

  /** Drop the stream's oldest undelivered records until about `bytes` are freed (the ops stream at the budget). */
  async dropOldest(stream: StreamName, bytes: number): Promise<number> {
    let freed = 0
    let dropped = 0
    while (freed < bytes) {
      const b = await this.store.get<{ id: number; count: number; size: number }>('SELECT id, count, LENGTH(data) + 64 AS size FROM outbox_blocks WHERE stream = ? ORDER BY first_id LIMIT 1', [stream])
      if (b) {
        await this.store.write([{ op: 'sql', sql: 'DELETE FROM outbox_blocks WHERE id = ?', params: [b.id] }])
        freed += b.size
        dropped += b.count
        continue
      }
      const r = await this.store.get<{ last: number | null; n: number; size: number | null }>(
        'SELECT MAX(id) AS last, COUNT(*) AS n, SUM(LENGTH(properties) + 200) AS size FROM (SELECT id, properties FROM outbox WHERE stream = ? ORDER BY id LIMIT 1000)', [stream])
      if (!r || r.last === null || r.n === 0) break
      await this.store.write([{ op: 'sql', sql: 'DELETE FROM outbox WHERE stream = ? AND id <= ?', params: [stream, r.last] }])
      this.store.outboxBacklog = Math.max(0, this.store.outboxBacklog - r.n)
      freed += r.size ?? 0
      dropped += r.n
    }
    return dropped
  }

  async parked(limit: number): Promise<{ stream: string; messageId: string; event: string; reason: string; parkedAt: number; ts: number }[]> {
    const rows = await this.store.all<{ stream: string; message_id: string; event: string; reason: string; parked_at: number; ts: number }>(
      'SELECT stream, message_id, event, reason, parked_at, ts FROM outbox_parked ORDER BY id DESC LIMIT ?', [limit])
    return rows.map((r) => ({ stream: r.stream, messageId: r.message_id, event: r.event, reason: r.reason, parkedAt: r.parked_at, ts: r.ts }))
  }

  async parkedCounts(): Promise<Record<string, number>> {
    const rows = await this.store.all<{ stream: string; n: number }>('SELECT stream, COUNT(*) AS n FROM outbox_parked GROUP BY stream')
    return Object.fromEntries(rows.map((r) => [r.stream, r.n]))
  }
}
