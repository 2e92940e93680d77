/** Storage: migrations, group commit with multi-row INSERTs, atomic units, failure isolation, outbox. */
import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Db } from '../../edge/storage/db.js'
import { MIGRATIONS, migrate } from '../../edge/storage/migrations.js'
import { Store, outboxOp } from '../../edge/storage/store.js'
import { coalesce, type WriteOp } from '../../edge/storage/writer.js'

const dir = mkdtempSync(join(tmpdir(), 'aisle-store-'))
let n = 0
const file = () => join(dir, `db-${++n}.sqlite`)
const ev = (id: string) => outboxOp({ stream: 'crm', messageId: id, event: 'Test', properties: { id }, ts: 1 })

t.test('coalesce merges inserts between barriers', async (t) => {
  const ins = (table: string, v: number): WriteOp => ({ op: 'insert', table, columns: ['a'], row: [v] })
  const stmts = coalesce([ins('t', 1), ins('u', 2), ins('t', 3), { op: 'sql', sql: 'UPDATE t SET a = 0' }, ins('t', 4)])
  t.same(stmts.map((s) => s.sql), ['INSERT INTO t (a) VALUES (?),(?)', 'INSERT INTO u (a) VALUES (?)', 'UPDATE t SET a = 0', 'INSERT INTO t (a) VALUES (?)'])
  t.same(stmts[0]!.params, [1, 3])
  const many = coalesce(Array.from({ length: 40_000 }, (_, i) => ins('t', i)))
  t.equal(many.length, 2, 'chunked under the SQLite parameter limit')
  t.throws(() => coalesce([{ op: 'insert', table: 't', columns: ['a', 'b'], row: [1] }]), /1 values for 2 columns/)
})

t.test('migrations run once and refuse a newer schema', async (t) => {
  const f = file()
  const db = await Db.open(f)
  const all = MIGRATIONS.map((m) => m.version)
  t.same(await migrate(db, 1), all)
  t.same(await migrate(db, 2), [], 'idempotent')
  await db.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, ?, 0)', ['future'])
  await t.rejects(migrate(db, 3), /newer than this gateway knows/)
  await db.close()
  const broken = await Db.open(file())
  const next = Math.max(...all) + 1
  await t.rejects(migrate(broken, 1, [...MIGRATIONS, { version: next, name: 'bad', sql: 'CREATE TABLE meta (x)' }]), new RegExp(`migration ${next} \\(bad\\) failed`))
  t.same((await broken.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version), all, 'a failed migration leaves no trace')
  await broken.close()
})

t.test('group commit: many units, one transaction, all resolved', async (t) => {
  let commits = 0
  const store = await Store.open(file(), { now: 1, onCommit: () => { commits++ } })
  t.teardown(() => store.close())
  const mode = await store.get<{ journal_mode: string }>('PRAGMA journal_mode')
  t.equal(mode?.journal_mode, 'wal')
  await Promise.all(Array.from({ length: 2000 }, (_, i) => store.write([{ op: 'insert', table: 'meta', columns: ['key', 'value'], row: [`k${i}`, 'v'] }, ev(`e${i}`)])))
  t.ok(commits <= 3, `2000 units in ${commits} commit(s)`)
  t.equal((await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM meta'))!.n, 2000)
  t.equal(store.outboxBacklog, 2000)
})

t.test('a failing unit rolls back whole and never takes the others down', async (t) => {
  const errors: unknown[] = []
  const store = await Store.open(file(), { now: 1, onError: (e) => errors.push(e) })
  t.teardown(() => store.close())
  const good = (i: number) => store.write([{ op: 'insert', table: 'meta', columns: ['key', 'value'], row: [`g${i}`, 'v'] }, ev(`good-${i}`)])
  // the state change succeeds but its second statement fails: neither may be kept
  const first = good(1)
  const bad = store.write([ev('bad-outbox'), { op: 'insert', table: 'meta', columns: ['key', 'value'], row: ['g1', 'duplicate key'] }])
  const results = await Promise.allSettled([first, bad, good(2), good(3)])
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
  t.equal((await store.all('SELECT * FROM outbox WHERE message_id = ?', ['bad-outbox'])).length, 0, 'the outbox row of the failed unit is not kept')
  t.equal((await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM meta'))!.n, 3)
  t.equal(errors.length, 1)
  t.equal(store.queue.stats.failedUnits, 1)
})

t.test('outbox message ids de-duplicate', async (t) => {
  const store = await Store.open(file(), { now: 1 })
  t.teardown(() => store.close())
  await store.write([ev('same')])
  await store.write([ev('same')])
  await store.queue.flush()
  t.equal((await store.all('SELECT * FROM outbox')).length, 1)
})

t.test('writes after close are refused', async (t) => {
  const store = await Store.open(file(), { now: 1 })
  await store.close()
  await t.rejects(store.write([ev('late')]), /closed/)
})

t.test('exclusive work runs one at a time, even when two wait on the same commit', async (t) => {
  const store = await Store.open(':memory:', { now: 0 })
  t.teardown(() => store.close())
  let active = 0
  let most = 0
  const work = () => store.queue.exclusive(async () => { active++; most = Math.max(most, active); await new Promise((r) => setTimeout(r, 20)); active-- })
  void store.write([{ op: 'sql', sql: 'CREATE TABLE IF NOT EXISTS x (a)' }])
  await Promise.all([work(), work(), work()])
  t.equal(most, 1, 'never two at once')
})
