/**
 * A small promise wrapper over node-sqlite3. The gateway opens two connections to one WAL-mode file:
 * a writer (all writes go through the batching WriteQueue) and a reader (admin queries), so reads never
 * wait behind a write batch.
 */
import sqlite3 from 'sqlite3'

export type Param = string | number | bigint | boolean | null | Buffer | Uint8Array
export interface RunResult { changes: number; lastID: number }

export class Db {
  private constructor(private readonly raw: sqlite3.Database, readonly file: string) {}

  static open(file: string, opts: { readonly?: boolean } = {}): Promise<Db> {
    const mode = opts.readonly ? sqlite3.OPEN_READONLY : sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE
    return new Promise((resolve, reject) => {
      const raw = new sqlite3.Database(file, mode, (err) => {
        if (err) reject(err)
        else resolve(new Db(raw, file))
      })
    })
  }

  /** Statements on this connection execute one after another, in the order they were issued. */
  serialize(): void { this.raw.serialize() }

  configure(busyTimeoutMs: number): void { this.raw.configure('busyTimeout', busyTimeoutMs) }

  run(sql: string, params: readonly Param[] = []): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      this.raw.run(sql, params as unknown[], function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(annotate(err, sql))
        else resolve({ changes: this.changes, lastID: this.lastID })
      })
    })
  }

  all<T = Record<string, unknown>>(sql: string, params: readonly Param[] = []): Promise<T[]> {
    return new Promise((resolve, reject) => {
      this.raw.all(sql, params as unknown[], (err: Error | null, rows: T[]) => (err ? reject(annotate(err, sql)) : resolve(rows)))
    })
  }

  get<T = Record<string, unknown>>(sql: string, params: readonly Param[] = []): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      this.raw.get(sql, params as unknown[], (err: Error | null, row: T | undefined) => (err ? reject(annotate(err, sql)) : resolve(row)))
    })
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.raw.exec(sql, (err) => (err ? reject(annotate(err, sql)) : resolve())))
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.raw.close((err) => (err ? reject(err) : resolve())))
  }
}

function annotate(err: Error, sql: string): Error {
  const short = sql.length > 160 ? `${sql.slice(0, 160)}...` : sql
  err.message = `${err.message} [sql: ${short}]`
  return err
}

export const PRAGMAS = `
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;
PRAGMA temp_store = MEMORY;
PRAGMA wal_autocheckpoint = 2000;
PRAGMA secure_delete = ON;
`
