/**
 * The gateway's storage: one SQLite file in WAL mode, versioned migrations, a batching writer and a reader
 * connection. Repositories below build write ops (so a state change and its outbox row always travel in one
 * unit, hence one transaction) and run read queries.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { Db, PRAGMAS, type Param } from './db.js'
import { migrate } from './migrations.js'
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

export function outboxOp(e: OutboxEvent): InsertOp {
  return {
    op: 'insert',
    table: 'outbox',
    conflict: 'OR IGNORE',
    columns: OUTBOX_COLUMNS,
    row: [e.stream, e.messageId, e.event, e.userId ?? null, e.anonymousId ?? null, JSON.stringify(e.properties), e.ts],
  }
}

export interface StoreOptions extends WriteQueueOptions { now: number }

export class Store {
  private constructor(
    readonly file: string,
    private readonly writer: Db,
    readonly reader: Db,
    readonly queue: WriteQueue,
    /** outbox rows not yet sent, kept current in memory for the aisle_outbox_backlog gauge */
    public outboxBacklog: number,
  ) {}

  static async open(file: string, opts: StoreOptions): Promise<Store> {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
    const writer = await Db.open(file)
    writer.configure(5000)
    await writer.exec(PRAGMAS)
    const mode = await writer.get<{ journal_mode: string }>('PRAGMA journal_mode')
    if (file !== ':memory:' && mode?.journal_mode !== 'wal') throw new Error(`SQLite did not enter WAL mode (got ${mode?.journal_mode})`)
    await migrate(writer, opts.now)
    const reader = file === ':memory:' ? writer : await Db.open(file, { readonly: true })
    if (reader !== writer) reader.configure(5000)
    const backlog = (await reader.get<{ n: number }>('SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL'))?.n ?? 0
    const store = new Store(file, writer, reader, new WriteQueue(writer, opts), backlog)
    return store
  }

  /** Submit one atomic unit; resolves once committed. Counts outbox rows for the backlog gauge. */
  async write(unit: Unit): Promise<void> {
    await this.queue.submit(unit)
    for (const op of unit) if (op.op === 'insert' && op.table === 'outbox') this.outboxBacklog++
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

  all<T>(sql: string, params: readonly Param[] = []): Promise<T[]> { return this.reader.all<T>(sql, params) }
  get<T>(sql: string, params: readonly Param[] = []): Promise<T | undefined> { return this.reader.get<T>(sql, params) }

  async getMeta(key: string): Promise<string | undefined> {
    return (await this.reader.get<{ value: string }>('SELECT value FROM meta WHERE key = ?', [key]))?.value
  }
}

export const metaOp = (key: string, value: string): WriteOp => ({
  op: 'sql', sql: 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value', params: [key, value],
})
