/**
 * The gateway's storage: one SQLite file in WAL mode, versioned migrations, a batching writer and a reader
 * connection. Repositories below build write ops (so a state change and its outbox row always travel in one
 * unit, hence one transaction) and run read queries.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import { Db, PRAGMAS, type Param } from './db.js'
import { migrate } from './migrations.js'
import { Vault } from './vault.js'
import { createHash, randomBytes } from 'node:crypto'
import { WriteQueue, type InsertOp, type Unit, type WriteOp, type WriteQueueOptions } from './writer.js'

export type OutboxStream = 'crm' | 'ops'

export interface OutboxEvent {
  stream: OutboxStream
  /** stable per event, so that retries de-duplicate at the CRM */
  messageId: string
  event: string
  userId?: string | undefined
  anonymousId?: string | undefined
  properties: Record<string, unknown>
  ts: number
}

export const OUTBOX_COLUMNS = ['stream', 'message_id', 'event', 'user_id', 'anonymous_id', 'properties', 'ts'] as const

/**
 * A messageId unique in the chain and stable per event (CONTRACT 7.1: at most 100 characters): the parts joined,
 * or, when that is too long (a long Eddystone-URL subject, say), a hash of them.
 */
export function messageId(kind: string, ...parts: (string | number)[]): string {
  const plain = `${kind}:${parts.join(':')}`
  return plain.length <= 100 ? plain : `${kind}:h:${createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 32)}`
}

/** undelivered outbox records: rows, and those packed into blocks during an outage (cloud-sync) */
export async function countBacklog(db: { get<T>(sql: string, params?: readonly Param[]): Promise<T | undefined> }): Promise<number> {
  return (await db.get<{ n: number }>('SELECT (SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL) + (SELECT COALESCE(SUM(count), 0) FROM outbox_blocks) AS n'))?.n ?? 0
}

export function outboxOp(e: OutboxEvent): InsertOp {
  return {
    op: 'insert',
    table: 'outbox',
    conflict: 'OR IGNORE',
    columns: OUTBOX_COLUMNS,
    row: [e.stream, e.messageId, e.event, e.userId ?? null, e.anonymousId ?? null, JSON.stringify(e.properties), e.ts],
  }
}

export interface StoreOptions extends WriteQueueOptions {
  now: number
  /** 32 bytes: seals member keys and coupon codes (a random one when absent: tests, tools) */
  storageKey?: Buffer
  /** told of one-time maintenance (the first VACUUM of an old file) */
  onNote?: (msg: string) => void
}

export class Store {
  private constructor(
    readonly file: string,
    private readonly writer: Db,
    readonly reader: Db,
    readonly queue: WriteQueue,
    /** outbox rows not yet sent, kept current in memory for the aisle_outbox_backlog gauge */
    public outboxBacklog: number,
    readonly vault: Vault,
  ) {}

  static async open(file: string, opts: StoreOptions): Promise<Store> {
    if (file !== ':memory:') {
      // the data folder and the database are the gateway's alone: 0700 and 0600 (SQLite gives the WAL and
      // shared-memory files the mode of the database)
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
      try { chmodSync(dirname(file), 0o700) } catch { /* not ours to change */ }
      if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600))
      for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600)
    }
    const writer = await Db.open(file)
    writer.configure(5000)
    // freed pages are given back to the file system (incremental vacuum, after erasures and outbox drains)
    const av = await writer.get<{ auto_vacuum: number }>('PRAGMA auto_vacuum')
    if (av?.auto_vacuum !== 2) {
      await writer.exec('PRAGMA auto_vacuum = INCREMENTAL')
      const tables = await writer.get<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table'")
      if ((tables?.n ?? 0) > 0) {
        opts.onNote?.('converting the database to incremental vacuum (once)')
        await writer.exec('VACUUM')
      }
    }
    await writer.exec(PRAGMAS)
    const mode = await writer.get<{ journal_mode: string }>('PRAGMA journal_mode')
    if (file !== ':memory:' && mode?.journal_mode !== 'wal') throw new Error(`SQLite did not enter WAL mode (got ${mode?.journal_mode})`)
    await migrate(writer, opts.now)
    const reader = file === ':memory:' ? writer : await Db.open(file, { readonly: true })
    if (reader !== writer) reader.configure(5000)
    const backlog = await countBacklog(reader)
    const store = new Store(file, writer, reader, new WriteQueue(writer, opts), backlog, new Vault(opts.storageKey ?? randomBytes(32)))
    return store
  }

  /**
   * Give freed pages back and empty the write-ahead log, so that deleted rows (an erased member) survive
   * neither in free pages (secure_delete zeroes them) nor in old WAL frames. Runs between write batches.
   */
  async compact(opts: { full?: boolean } = {}): Promise<void> {
    await this.queue.exclusive(async (db) => {
      // a full VACUUM rewrites every page (nothing of a deleted row survives, not even as a b-tree divider);
      // on a large file the incremental one gives free pages back without stopping writes for long
      await db.exec(opts.full ? 'VACUUM' : 'PRAGMA incremental_vacuum')
      for (let i = 0; i < 5; i++) {
        const r = await db.get<{ busy: number; log: number; checkpointed: number }>('PRAGMA wal_checkpoint(TRUNCATE)')
        if (r?.busy === 0) return
        await new Promise((res) => setTimeout(res, 20))
      }
    })
  }

  /**
   * Set by CRM sync at its outbox budget: an outbox record it refuses (discretionary events only) is left out of
   * its unit, which commits without it; the refusal is counted there.
   */
  outboxGate: ((stream: string, event: string, asking?: boolean) => boolean) | null = null
  /** told of every committed outbox record, by stream */
  onOutbox: ((stream: string) => void) | null = null

  /** Submit one atomic unit; resolves once committed. Counts outbox rows for the backlog gauge. */
  async write(unit: Unit): Promise<void> {
    const gate = this.outboxGate
    if (gate) {
      const kept = unit.filter((op) => !(op.op === 'insert' && op.table === 'outbox' && !gate(String(op.row[0]), String(op.row[2]))))
      if (kept.length !== unit.length) unit = kept
    }
    await this.queue.submit(unit)
    for (const op of unit) {
      if (op.op !== 'insert' || op.table !== 'outbox') continue
      this.outboxBacklog++
      if (this.onOutbox) this.onOutbox(String(op.row[0]))
    }
  }

  async close(): Promise<void> {
    await this.queue.close()
    if (this.reader !== this.writer) await this.reader.close()
    await this.writer.exec('PRAGMA wal_checkpoint(TRUNCATE)').catch(() => {})
    await this.writer.close()
  }

  /** A write that bypasses batching (start-up seeding, admin changes): same transaction semantics. */
  async writeNow(unit: Unit): Promise<void> {
    await this.write(unit)
    await this.queue.flush()
  }

  /** bytes the database file takes (pages in use and free) */
  async sizeBytes(): Promise<number> {
    const r = await this.reader.get<{ n: number }>('SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()')
    return r?.n ?? 0
  }

  all<T>(sql: string, params: readonly Param[] = []): Promise<T[]> { return this.reader.all<T>(sql, params) }
  get<T>(sql: string, params: readonly Param[] = []): Promise<T | undefined> { return this.reader.get<T>(sql, params) }

  async getMeta(key: string): Promise<string | undefined> {
    return (await this.reader.get<{ value: string }>('SELECT value FROM meta WHERE key = ?', [key]))?.value
  }
}

export const metaOp = (key: string, value: string): WriteOp => ({
  op: 'sql', sql: 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value', params: [key, value],
})
