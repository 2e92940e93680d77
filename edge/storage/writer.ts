/**
 * Group commit. Callers submit atomic units (a state change and its outbox row); the queue commits every
 * unit waiting when the event loop turns, in one transaction, turning runs of single-row INSERTs into the
 * same table into multi-row INSERTs (about 5x the row rate of one statement per row through sqlite3).
 * A unit's promise resolves once its transaction has committed. If a batch fails, each of its units is
 * retried alone, so one bad unit never takes the others down with it.
 */
import type { Db, Param } from './db.js'

export interface InsertOp {
  op: 'insert'
  table: string
  columns: readonly string[]
  row: readonly Param[]
  /** e.g. 'OR IGNORE' */
  conflict?: 'OR IGNORE' | 'OR REPLACE'
}
export interface SqlOp { op: 'sql'; sql: string; params?: readonly Param[] }
export type WriteOp = InsertOp | SqlOp
export type Unit = readonly WriteOp[]

export interface WriteQueueOptions {
  /** extra wait before committing, ms; 0 = as soon as the event loop is idle */
  flushMs?: number
  /** most ops in one transaction */
  maxBatch?: number
  onError?: (err: unknown) => void
  onCommit?: (stats: { units: number; ops: number; ms: number }) => void
}

interface Pending { unit: Unit; resolve: () => void; reject: (e: unknown) => void }

const MAX_PARAMS = 32_000

export class WriteQueue {
  private queue: Pending[] = []
  private scheduled = false
  private running: Promise<void> | null = null
  private closed = false
  private readonly flushMs: number
  private readonly maxBatch: number
  /** units committed, failed, and the last error, for /readyz and metrics */
  readonly stats = { units: 0, batches: 0, failedUnits: 0, lastError: null as string | null, lastErrorAt: 0, lastCommitAt: 0 }

  constructor(private readonly db: Db, private readonly opts: WriteQueueOptions = {}) {
    this.flushMs = opts.flushMs ?? 0
    this.maxBatch = opts.maxBatch ?? 5000
  }

  get pending(): number { return this.queue.length }

  /** true while the last write failed and none has committed since (disk full, I/O error) */
  get failing(): boolean { return this.stats.lastError !== null && this.stats.lastErrorAt >= this.stats.lastCommitAt }

  submit(unit: Unit): Promise<void> {
    if (this.closed) return Promise.reject(new Error('storage is closed'))
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ unit, resolve, reject })
      this.schedule()
    })
  }

  /** Commit everything queued so far. */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.running) {
      if (this.running) await this.running
      else await this.drainOnce()
    }
  }

  async close(): Promise<void> {
    await this.flush()
    this.closed = true
  }

  /** Run `fn` on the writer connection between batches, outside any transaction (PRAGMAs, checkpoints). */
  async exclusive<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    // one exclusive at a time: two callers waiting on the same commit would otherwise both find the writer idle
    const prev = this.exclusiveTail
    let release!: () => void
    this.exclusiveTail = new Promise<void>((r) => { release = r })
    await prev
    try {
      return await this.exclusiveNow(fn)
    } finally {
      release()
    }
  }

  private exclusiveTail: Promise<void> = Promise.resolve()

  private async exclusiveNow<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    await this.flush()
    const run = (async () => fn(this.db))()
    this.running = run.then(() => {}, () => {})
    try {
      return await run
    } finally {
      this.running = null
      if (this.queue.length > 0) this.schedule()
    }
  }

  private schedule(): void {
    if (this.scheduled || this.running) return
    this.scheduled = true
    const go = () => {
      this.scheduled = false
      void this.drainOnce()
    }
    if (this.flushMs > 0) setTimeout(go, this.flushMs)
    else setImmediate(go)
  }

  private drainOnce(): Promise<void> {
    if (this.running) return this.running
    const batch: Pending[] = []
    let ops = 0
    while (this.queue.length > 0 && (batch.length === 0 || ops + this.queue[0]!.unit.length <= this.maxBatch)) {
      const p = this.queue.shift()!
      batch.push(p)
      ops += p.unit.length
    }
    if (batch.length === 0) return Promise.resolve()
    this.running = this.commit(batch).finally(() => {
      this.running = null
      if (this.queue.length > 0) this.schedule()
    })
    return this.running
  }

  private async commit(batch: Pending[]): Promise<void> {
    const t0 = performance.now()
    try {
      await this.runTransaction(batch.flatMap((p) => p.unit))
      this.stats.units += batch.length
      this.stats.batches++
      this.stats.lastCommitAt = performance.now()
      for (const p of batch) p.resolve()
      this.opts.onCommit?.({ units: batch.length, ops: batch.reduce((n, p) => n + p.unit.length, 0), ms: performance.now() - t0 })
      return
    } catch (err) {
      if (batch.length === 1) {
        this.fail(batch[0]!, err)
        return
      }
    }
    // isolate the failing unit(s): each alone in its own transaction
    for (const p of batch) {
      try {
        await this.runTransaction(p.unit)
        this.stats.units++
        this.stats.lastCommitAt = performance.now()
        p.resolve()
      } catch (err) {
        this.fail(p, err)
      }
    }
  }

  private fail(p: Pending, err: unknown): void {
    this.stats.failedUnits++
    this.stats.lastError = (err as Error).message
    this.stats.lastErrorAt = performance.now()
    this.opts.onError?.(err)
    p.reject(err)
  }

  private async runTransaction(ops: readonly WriteOp[]): Promise<void> {
    await this.db.exec('BEGIN IMMEDIATE')
    try {
      for (const stmt of coalesce(ops)) await this.db.run(stmt.sql, stmt.params)
      await this.db.exec('COMMIT')
    } catch (err) {
      await this.db.exec('ROLLBACK').catch(() => {})
      throw err
    }
  }
}

/**
 * Turn ops into statements. INSERTs into the same table with the same columns are merged into multi-row
 * statements; any other statement is a barrier (inserts before it run before it), so the order of effects
 * that could depend on each other is kept.
 */
export function coalesce(ops: readonly WriteOp[]): { sql: string; params: Param[] }[] {
  const out: { sql: string; params: Param[] }[] = []
  let groups = new Map<string, InsertOp[]>()
  const flushGroups = () => {
    for (const list of groups.values()) out.push(...insertStatements(list))
    groups = new Map()
  }
  for (const op of ops) {
    if (op.op === 'sql') {
      flushGroups()
      out.push({ sql: op.sql, params: [...(op.params ?? [])] })
      continue
    }
    const key = `${op.conflict ?? ''}|${op.table}|${op.columns.join(',')}`
    const list = groups.get(key)
    if (list) list.push(op)
    else groups.set(key, [op])
  }
  flushGroups()
  return out
}

function insertStatements(list: InsertOp[]): { sql: string; params: Param[] }[] {
  const first = list[0]!
  const cols = first.columns.length
  const perStmt = Math.max(1, Math.floor(MAX_PARAMS / cols))
  const tuple = `(${new Array(cols).fill('?').join(',')})`
  const head = `INSERT ${first.conflict ? `${first.conflict} ` : ''}INTO ${first.table} (${first.columns.join(',')}) VALUES `
  const out: { sql: string; params: Param[] }[] = []
  for (let i = 0; i < list.length; i += perStmt) {
    const chunk = list.slice(i, i + perStmt)
    const params: Param[] = []
    for (const op of chunk) {
      if (op.row.length !== cols) throw new Error(`insert into ${op.table}: ${op.row.length} values for ${cols} columns`)
      for (const v of op.row) params.push(v)
    }
    out.push({ sql: head + new Array(chunk.length).fill(tuple).join(','), params })
  }
  return out
}
