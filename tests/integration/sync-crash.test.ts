/**
 * Crash safety of the CRM sync: the gateway runs as a child process (dist/) with a backlog of committed events
 * in its outbox and is killed (SIGKILL) again and again: once while its housekeeping packs the backlog into
 * blocks (the CRM down), then five times while it drains to the reference CRM (slowed down, so that a drain
 * takes a while), each time at another point and restarted on the same database; the last life finishes.
 *
 * After every kill, nothing committed is lost: each event is either at the receiver or still in the outbox
 * (rows or a block), and no event is both a row and in a block. At the end every event is at the receiver,
 * stored once by messageId (re-sends carried the same messageId: the receiver counted duplicates), the first
 * arrivals in commit order, and the outbox (rows, blocks, parked) is empty.
 *
 * The backlog is written straight into the gateway's SQLite file (the `outbox` table, the columns `outboxOp`
 * writes, through `Store.open`) while the gateway is stopped: that is exactly what a committed unit leaves on
 * disk, it takes a second for 20,000 events, and it does not depend on how fast simulated traffic is.
 */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeBlock } from '../../cloud-sync/outbox.js'
import { crmSettings, startTestCrm } from '../helpers/crm.js'
import { Store, outboxOp, type OutboxEvent } from '../../edge/storage/store.js'
import { testStore } from '../helpers/gateway.js'
import { query } from '../helpers/db.js'
import { freePort, waitFor } from '../helpers/net.js'
import { hasDist, spawnGateway, waitReady, type Child } from '../helpers/process.js'

/** events in the backlog: more than the 6000 rows the gateway leaves unpacked */
const N = 20_000
const EVENTS = ['Receipt Recorded', 'Zone Dwelled', 'Offer Issued', 'Offer Delivered'] as const

/**
 * A receipt-sized event (about 1.3 KB as JSON): about 370 go in one 500 KB batch, so that a drain of the backlog
 * takes some 55 batches and a kill can land at many points of it.
 */
const ev = (i: number): OutboxEvent => ({
  stream: 'crm', messageId: `crash-test:${i}`, event: EVENTS[i % EVENTS.length]!, anonymousId: `p-${i % 97}`, ts: Date.UTC(2026, 0, 5, 9, 0, 0) + i * 10,
  properties: { i, lane: `lane-${i % 4}`, items: Array.from({ length: 16 }, (_, k) => ({ sku: `sku-${(i * 31 + k * 7) % 5000}`.padEnd(12, '0'), qty: 1 + (k % 3), price: 0.99 + k })), total: 123.45 },
})

interface OutboxState { rows: string[]; blocks: { id: number; first: number; last: number; ids: string[] }[]; rowIdsInBlocks: number; parked: number }

/** The outbox as it is on disk, read from outside (the gateway is dead or running). */
async function outboxState(dbFile: string): Promise<OutboxState> {
  const rows = (await query<{ message_id: string }>(dbFile, "SELECT message_id FROM outbox WHERE stream = 'crm' ORDER BY id")).map((r) => r.message_id)
  const blocks0 = await query<{ id: number; first_id: number; last_id: number; count: number; data: Buffer }>(dbFile, "SELECT id, first_id, last_id, count, data FROM outbox_blocks WHERE stream = 'crm' ORDER BY first_id")
  const decoded = await Promise.all(blocks0.map(async (b) => ({ id: b.id, first: b.first_id, last: b.last_id, ids: (await decodeBlock(b.data)).map((r) => r.messageId) })))
  const overlap = (await query<{ n: number }>(dbFile, 'SELECT COUNT(*) AS n FROM outbox o JOIN outbox_blocks b ON o.stream = b.stream AND o.id BETWEEN b.first_id AND b.last_id'))[0]!.n
  const parked = (await query<{ n: number }>(dbFile, 'SELECT COUNT(*) AS n FROM outbox_parked'))[0]!.n
  return { rows, blocks: decoded, rowIdsInBlocks: overlap, parked }
}

t.test('SIGKILL during packing and repeatedly during a drain: every committed event arrives once, in order; the outbox ends empty', {
  skip: hasDist() ? false : 'dist/ is not built: run `npm run build` first (the gateway runs as a child from dist/)',
  timeout: 170_000,
}, async (t) => {
  const crm = await startTestCrm(t)
  crm.faults = { down: true }

  const dir = mkdtempSync(join(tmpdir(), 'aisle-sync-crash-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const httpPort = await freePort()
  const mqttPort = await freePort()
  const cfg = testStore({
    http: { host: '127.0.0.1', port: httpPort },
    mqtt: { embedded: { host: '127.0.0.1', port: mqttPort } },
    log: { level: 'warn' },
    crm: crmSettings(crm, { timeoutSeconds: 20 }),
  })
  const file = join(dir, 'store.json')
  writeFileSync(file, JSON.stringify(cfg))
  const env = { AISLE_CONFIG: file, AISLE_DATA_DIR: dir, AISLE_SIMULATOR: 'off' }
  const httpUrl = `http://127.0.0.1:${httpPort}`
  const dbFile = join(dir, 'aisle-edge.db')

  let child: Child | null = null
  t.teardown(() => { if (child && child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL') })
  const start = async (): Promise<Child> => {
    const c = spawnGateway([], env)
    child = c
    await waitReady(httpUrl, c)
    return c
  }
  const kill = async (c: Child): Promise<void> => {
    c.proc.kill('SIGKILL')
    await c.exited
    t.equal(c.proc.signalCode, 'SIGKILL', 'killed by SIGKILL')
  }

  // what the receiver has of the CRM stream, first arrivals in order (read incrementally)
  const arrived: string[] = []
  let lastSeq = 0
  const received = async (): Promise<number> => {
    for (const e of await crm.events({ stream: 'crm', after: lastSeq })) { arrived.push(e.messageId); lastSeq = e.seq }
    return arrived.length
  }

  const committed = Array.from({ length: N }, (_, i) => ev(i))
  const committedIds = committed.map((e) => e.messageId)
  /** after a kill: each committed event is at the receiver or still in the outbox, never only in memory */
  const nothingLost = async (when: string): Promise<OutboxState> => {
    const s = await outboxState(dbFile)
    await received()
    const inOutbox = [...s.blocks.flatMap((b) => b.ids), ...s.rows]
    t.equal(new Set(inOutbox).size, inOutbox.length, `${when}: no event twice in the outbox`)
    t.equal(s.rowIdsInBlocks, 0, `${when}: no row left inside a block's range`)
    const have = new Set([...inOutbox, ...arrived])
    const missing = committedIds.filter((id) => !have.has(id))
    t.same(missing.slice(0, 5), [], `${when}: nothing lost (${arrived.length} at the receiver, ${s.rows.length} rows and ${s.blocks.length} block(s) in the outbox)`)
    t.equal(s.parked, 0, `${when}: nothing parked`)
    return s
  }

  // first life, the CRM down: the gateway makes its database, then stops cleanly
  let c = await start()
  c.proc.kill('SIGTERM')
  t.equal(await c.exited, 0, 'first life: clean stop')

  // the backlog: N committed events in its outbox, as its own transactions leave them
  const store = await Store.open(dbFile, { now: Date.now() })
  try {
    for (let i = 0; i < N; i += 1000) await store.write(committed.slice(i, i + 1000).map(outboxOp))
  } finally {
    await store.close()
  }
  t.equal((await query<{ n: number }>(dbFile, "SELECT COUNT(*) AS n FROM outbox WHERE stream = 'crm'"))[0]!.n, N, `${N} events committed to the outbox`)

  // second life, the CRM still down: housekeeping packs the backlog; killed once blocks are being written
  c = await start()
  const blocks = await waitFor(async () => {
    const n = (await query<{ n: number }>(dbFile, 'SELECT COUNT(*) AS n FROM outbox_blocks'))[0]!.n
    return n >= 2 ? n : false
  }, { what: 'blocks packed by housekeeping', timeoutMs: 30_000, intervalMs: 10 })
  await kill(c)
  const packed = await nothingLost('killed while packing')
  t.ok(packed.blocks.length >= blocks, `${packed.blocks.length} blocks on disk after the kill (${blocks} seen before it)`)
  t.equal(arrived.length, 0, 'nothing reached the CRM while it was down')
  t.comment(`killed after ${packed.blocks.length} blocks (a full pass packs ${Math.ceil((N - 6000) / 2000)}): ${packed.blocks.reduce((a, b) => a + b.ids.length, 0)} packed, ${packed.rows.length} rows`)

  // the CRM comes back, slow: killed five times while draining, each time after the receiver got a bit more
  crm.faults = { slowMs: 40 }
  const killAt = [1, Math.round(N * 0.17), Math.round(N * 0.38), Math.round(N * 0.6), Math.round(N * 0.83)]
  for (const [k, at] of killAt.entries()) {
    const before = await received()
    c = await start()
    const n = await waitFor(async () => { const n = await received(); return n >= Math.max(at, before + 1) ? n : false }, { what: `the receiver at ${at} events`, timeoutMs: 60_000, intervalMs: 10 })
    await kill(c)
    const s = await nothingLost(`kill ${k + 1} of the drain, at ${n} of ${N}`)
    t.ok(s.rows.length + s.blocks.length > 0, `kill ${k + 1}: the drain was not finished`)
  }

  // the last life drains everything
  c = await start()
  await waitFor(async () => (await received()) >= N, { what: 'every event at the receiver', timeoutMs: 90_000, intervalMs: 100 })
  await waitFor(async () => {
    const left = await query<{ n: number }>(dbFile, 'SELECT (SELECT COUNT(*) FROM outbox) + (SELECT COUNT(*) FROM outbox_blocks) AS n')
    return left[0]!.n === 0
  }, { what: 'the outbox empty', timeoutMs: 30_000, intervalMs: 100 })
  c.proc.kill('SIGTERM')
  t.equal(await c.exited, 0, 'last life: clean stop')

  await received()
  t.equal(arrived.length, N, 'every committed event at the receiver')
  t.equal(new Set(arrived).size, arrived.length, 'each messageId stored once')
  t.same(arrived.filter((id, i) => id !== committedIds[i]).slice(0, 5), [], 'first arrivals in commit order')
  t.ok(crm.stats.duplicates > 0, `re-sends after the kills carried the same messageId (${crm.stats.duplicates} de-duplicated by the receiver)`)
  const end = await outboxState(dbFile)
  t.same({ rows: end.rows.length, blocks: end.blocks.length, parked: end.parked }, { rows: 0, blocks: 0, parked: 0 }, 'the outbox ends empty')
  t.equal((await query<{ n: number }>(dbFile, 'SELECT COUNT(*) AS n FROM outbox'))[0]!.n, 0, 'no row of either stream left')
  // the content, not only the ids: one event compared whole
  const e = (await crm.events({ stream: 'crm', limit: 1 }))[0]!
  t.same({ event: e.event, anonymousId: e.anonymousId, timestamp: e.timestamp, properties: e.properties }, { event: committed[0]!.event, anonymousId: committed[0]!.anonymousId, timestamp: new Date(committed[0]!.ts).toISOString(), properties: committed[0]!.properties }, 'an event arrives as committed')
})
