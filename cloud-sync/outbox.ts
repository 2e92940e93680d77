/**
 * The gateway's outbox as the drainer sees it: per stream, in commit order, the oldest compressed blocks first
 * and then the rows the gateway's transactions wrote. Nothing is deleted before its delivery (or parking) is
 * known; deletions commit through the gateway's own write queue.
 *
 * Packing: while a stream cannot be delivered, its oldest rows are compressed into blocks of a few thousand
 * (an outbox row takes about 330 bytes with its indexes, a packed one about 30: npm run bench:sync), so that
 * days of a busy store fit the outbox budget. A block is a contiguous run of one stream's rows, older than any row left in the table,
 * so that the order is kept. A block names its subjects only as keyed hashes, for erasure.
 */
import { promisify } from 'node:util'
import { brotliCompress, brotliDecompress, constants } from 'node:zlib'
import type { Store } from '../edge/storage/store.js'

const compress = promisify(brotliCompress)
const decompress = promisify(brotliDecompress)

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

/** a chunk as named across threads: its records stay where they were read */
export interface ChunkRef { stream: StreamName; source: 'rows' | 'block'; blockId: number | null; count: number }

/** a chunk with a block's data still compressed */
export interface RawChunk extends Chunk { data?: Buffer }

/** what the drainer needs of the outbox (the Outbox itself, or its proxy in the drain thread) */
export interface DrainOutbox {
  next(stream: StreamName, limit: number): Promise<Chunk | null>
  delivered(chunk: Chunk, records: readonly OutboxRecord[], blockDone: boolean): Promise<void>
  park(chunk: Chunk, r: OutboxRecord, reason: string, now: number): Promise<void>
}

/** where chunks are read from: the Outbox, or the drain thread's messages to it */
export interface ChunkSource {
  nextRaw(stream: StreamName, limit: number): Promise<RawChunk | null>
  unreadable(stream: StreamName, blockId: number, err: Error): Promise<void>
}

/** The next chunk with its block decoded; a block that cannot be decoded is set aside (unreadable) and the next one read. */
export async function readChunk(src: ChunkSource, stream: StreamName, limit: number): Promise<Chunk | null> {
  for (;;) {
    const raw = await src.nextRaw(stream, limit)
    if (!raw) return null
    const { data, ...chunk } = raw
    if (!data) return chunk
    try {
      return { ...chunk, records: await decodeBlock(Buffer.from(data.buffer, data.byteOffset, data.byteLength)) }
    } catch (err) {
      await src.unreadable(stream, raw.blockId!, err as Error)
    }
  }
}

/** `delivered` as ids (what crosses to the gateway's thread) */
export function deliveredArgs(chunk: Chunk, records: readonly OutboxRecord[], blockDone: boolean): [ChunkRef, { first: number; last: number; n: number } | null, boolean] {
  return [{ stream: chunk.stream, source: chunk.source, blockId: chunk.blockId, count: chunk.records.length },
    records.length ? { first: records[0]!.id, last: records[records.length - 1]!.id, n: records.length } : null, blockDone]
}

export interface StreamCounts { rows: number; packed: number; oldestTs: number | null; bytes: number }

/**
 * A block's records column by column (ids and times as deltas), then Brotli: like values side by side compress
 * best (about 25 bytes an event against 40 row by row with deflate, measured on bench:sync's mix).
 */
interface Columns { i: number[]; m: string[]; e: string[]; u: (string | null)[]; a: (string | null)[]; p: string[]; t: number[] }

const deltas = (xs: readonly number[]): number[] => xs.map((x, k) => (k === 0 ? x : x - xs[k - 1]!))
const undelta = (ds: readonly number[]): number[] => { let acc = 0; return ds.map((d) => (acc += d)) }

async function encode(rows: readonly OutboxRecord[]): Promise<Buffer> {
  const c: Columns = { i: deltas(rows.map((r) => r.id)), m: rows.map((r) => r.messageId), e: rows.map((r) => r.event), u: rows.map((r) => r.userId), a: rows.map((r) => r.anonymousId), p: rows.map((r) => r.properties), t: deltas(rows.map((r) => r.ts)) }
  const text = Buffer.from(JSON.stringify(c), 'utf8')
  return compress(text, { params: { [constants.BROTLI_PARAM_QUALITY]: 6, [constants.BROTLI_PARAM_SIZE_HINT]: text.length } })
}

/** a block's records (tools and tests read blocks with it) */
export async function decodeBlock(data: Buffer): Promise<OutboxRecord[]> {
  const c = JSON.parse((await decompress(data)).toString('utf8')) as Columns
  const ids = undelta(c.i)
  const ts = undelta(c.t)
  return ids.map((id, k) => ({ id, messageId: c.m[k]!, event: c.e[k]!, userId: c.u[k] ?? null, anonymousId: c.a[k] ?? null, properties: c.p[k]!, ts: ts[k]! }))
}

/** only ids an erasure can name: a member id, or a member's gateway pseudonym */
const erasable = (r: OutboxRecord): string[] => [...(r.userId ? [r.userId] : []), ...(r.anonymousId?.startsWith('pm:') ? [r.anonymousId] : [])]

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
  next(stream: StreamName, limit: number): Promise<Chunk | null> {
    return readChunk(this, stream, limit)
  }

  /** `next` with a block's data left compressed (a drain thread decodes it itself) */
  async nextRaw(stream: StreamName, limit: number): Promise<RawChunk | null> {
    const b = await this.store.get<{ id: number; data: Buffer }>('SELECT id, data FROM outbox_blocks WHERE stream = ? ORDER BY first_id LIMIT 1', [stream])
    if (b) return { stream, source: 'block', blockId: b.id, records: [], data: b.data }
    const rows = await this.store.all<RowRecord>('SELECT id, message_id, event, user_id, anonymous_id, properties, ts FROM outbox WHERE stream = ? AND sent_at IS NULL ORDER BY id LIMIT ?', [stream, limit])
    return rows.length ? { stream, source: 'rows', blockId: null, records: rows.map(fromRow) } : null
  }

  /** a block that cannot be read would block its stream for ever: dropped with a parked note of why */
  async unreadable(stream: StreamName, blockId: number, err: Error): Promise<void> {
    await this.store.write([
      { op: 'insert', table: 'outbox_parked', conflict: 'OR IGNORE', columns: ['stream', 'message_id', 'event', 'user_id', 'anonymous_id', 'properties', 'ts', 'reason', 'parked_at'], row: [stream, `block:${blockId}`, '(unreadable block)', null, null, '{}', 0, `block ${blockId} cannot be decoded: ${err.message}`.slice(0, 500), 0] },
      { op: 'sql', sql: 'DELETE FROM outbox_blocks WHERE id = ?', params: [blockId] },
    ])
  }

  /** The receiver has these records (a contiguous run of the chunk): they leave the outbox. */
  async delivered(chunk: Chunk, records: readonly OutboxRecord[], blockDone: boolean): Promise<void> {
    await this.deliveredRange(...deliveredArgs(chunk, records, blockDone))
  }

  /** `delivered` by ids: a block done, or the rows `first`..`last` (`n` of them) */
  async deliveredRange(chunk: ChunkRef, range: { first: number; last: number; n: number } | null, blockDone: boolean): Promise<void> {
    if (chunk.source === 'block') {
      if (blockDone) {
        await this.store.write([{ op: 'sql', sql: 'DELETE FROM outbox_blocks WHERE id = ?', params: [chunk.blockId] }])
        this.store.outboxBacklog = Math.max(0, this.store.outboxBacklog - chunk.count)
      }
      return
    }
    if (!range) return
    // by rowid range (`+stream`: not through the stream index)
    await this.store.write([{ op: 'sql', sql: 'DELETE FROM outbox WHERE id BETWEEN ? AND ? AND +stream = ?', params: [range.first, range.last, chunk.stream] }])
    this.store.outboxBacklog = Math.max(0, this.store.outboxBacklog - range.n)
  }

  /** A record the receiver refuses for good (or one too large to send): kept aside with the reason. */
  async park(chunk: Pick<Chunk, 'stream' | 'source'>, r: OutboxRecord, reason: string, now: number): Promise<void> {
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
    const rows = (await this.store.all<RowRecord>('SELECT id, message_id, event, user_id, anonymous_id, properties, ts FROM outbox WHERE stream = ? AND sent_at IS NULL ORDER BY id LIMIT ?', [stream, this.blockRows])).map(fromRow)
    if (rows.length < this.blockRows) return 0
    const data = await encode(rows)
    const first = rows[0]!.id
    const last = rows[rows.length - 1]!.id
    let packed = 0
    await this.store.queue.exclusive(async (db) => {
      // an erasure may have started (or deleted some of these rows) while this was compressing
      if (hold()) return
      const n = (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM outbox WHERE id BETWEEN ? AND ? AND +stream = ?', [first, last, stream]))?.n ?? 0
      if (n !== rows.length) return
      await db.exec('BEGIN IMMEDIATE')
      try {
        await db.run('INSERT INTO outbox_blocks (stream, first_id, last_id, count, oldest_ts, subjects, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
          [stream, first, last, rows.length, rows[0]!.ts, this.subjects(rows), data])
        await db.run('DELETE FROM outbox WHERE id BETWEEN ? AND ? AND +stream = ?', [first, last, stream])
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
    for (const r of rows) for (const id of erasable(r)) set.add(this.o.subjectHash(id))
    return [...set].join(' ')
  }

  /** Remove every packed record naming one of these ids (an erasure); rows and parked ones go with its unit. */
  async erase(ids: readonly string[]): Promise<number> {
    const hashes = ids.map((id) => this.o.subjectHash(id))
    const wanted = new Set(ids)
    let removed = 0
    await this.store.queue.exclusive(async (db) => {
      // each block naming any of the ids, once
      const blocks = hashes.length === 0 ? [] : await db.all<{ id: number; data: Buffer }>(
        `SELECT id, data FROM outbox_blocks WHERE ${hashes.map(() => "instr(' ' || subjects || ' ', ?) > 0").join(' OR ')}`, hashes.map((h) => ` ${h} `))
      for (const b of blocks) {
        const all = await decodeBlock(b.data)
        const kept = all.filter((r) => !(r.userId !== null && wanted.has(r.userId)) && !(r.anonymousId !== null && wanted.has(r.anonymousId)))
        removed += all.length - kept.length
        if (kept.length === 0) await db.run('DELETE FROM outbox_blocks WHERE id = ?', [b.id])
        else if (kept.length !== all.length) {
          const data = await encode(kept)
          await db.run('UPDATE outbox_blocks SET count = ?, oldest_ts = ?, subjects = ?, data = ? WHERE id = ?', [kept.length, kept[0]!.ts, this.subjects(kept), data, b.id])
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
        this.store.outboxBacklog = Math.max(0, this.store.outboxBacklog - b.count)
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

  /** parked records are kept for inspection, the newest `keep` of them */
  async pruneParked(keep: number): Promise<number> {
    const r = await this.store.get<{ n: number; max: number | null }>('SELECT COUNT(*) AS n, MAX(id) AS max FROM outbox_parked')
    if (!r || r.n <= keep || r.max === null) return 0
    await this.store.write([{ op: 'sql', sql: 'DELETE FROM outbox_parked WHERE id <= ?', params: [r.max - keep] }])
    return r.n - keep
  }

  async parkedCounts(): Promise<Record<string, number>> {
    const rows = await this.store.all<{ stream: string; n: number }>('SELECT stream, COUNT(*) AS n FROM outbox_parked GROUP BY stream')
    return Object.fromEntries(rows.map((r) => [r.stream, r.n]))
  }
}
