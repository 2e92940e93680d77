/**
 * cloud-sync pieces without a network: envelopes and batch cutting (CONTRACT 7.1 limits), backoff, Retry-After,
 * the drainer's split of a refused batch, packing and erasure inside blocks, the order blocks and rows go in.
 */
import t from 'tap'
import { body, cut, envelope, MAX_BATCH_BYTES, MAX_EVENT_BYTES, SEALED_USER, type Prepared } from '../../cloud-sync/batch.js'
import { backoffMs, Drainer } from '../../cloud-sync/drainer.js'
import { Outbox, type OutboxRecord } from '../../cloud-sync/outbox.js'
import { retryAfterMs, type SendResult, type Transport } from '../../cloud-sync/transport.js'
import { Store, outboxOp } from '../../edge/storage/store.js'
import { waitFor } from '../helpers/net.js'

const rec = (i: number, o: Partial<OutboxRecord> = {}): OutboxRecord => ({ id: i, messageId: `m:${i}`, event: 'Zone Dwelled', userId: null, anonymousId: `p-${i % 7}`, properties: JSON.stringify({ i }), ts: Date.UTC(2026, 0, 5) + i, ...o })
const ctx = { storeId: 's042', version: '1.2.3', unseal: (s: string) => (s === 'sealed-x' ? 'member-x' : null) }
const silent = { warn() {}, info() {} }

t.test('envelope: a Segment track event with context, the sealed user id opened, limits', async (t) => {
  const e = envelope(rec(1, { userId: 'm-1', anonymousId: null }), ctx)
  t.ok('json' in e)
  const j = JSON.parse((e as { json: string }).json) as Record<string, unknown>
  t.same(j, { type: 'track', event: 'Zone Dwelled', userId: 'm-1', properties: { i: 1 }, timestamp: new Date(Date.UTC(2026, 0, 5) + 1).toISOString(), messageId: 'm:1', context: { store: 's042', library: { name: 'aisle-edge', version: '1.2.3' } } })
  const a = JSON.parse((envelope(rec(2), ctx) as { json: string }).json) as Record<string, unknown>
  t.equal(a['anonymousId'], 'p-2')
  t.notOk('userId' in a, 'one of userId or anonymousId')
  const erased = JSON.parse((envelope(rec(3, { event: 'Member Erased', anonymousId: 's042', properties: JSON.stringify({ [SEALED_USER]: 'sealed-x', storeId: 's042' }) }), ctx) as { json: string }).json) as Record<string, unknown>
  t.equal(erased['userId'], 'member-x', 'the sealed id is opened only in the envelope')
  t.same(erased['properties'], { storeId: 's042' })
  t.match(envelope(rec(4, { properties: JSON.stringify({ [SEALED_USER]: 'other' }) }), ctx), { refused: /sealed/ })
  t.match(envelope(rec(5, { properties: JSON.stringify({ pad: 'x'.repeat(MAX_EVENT_BYTES) }) }), ctx), { refused: /over 32 KB/ })
  t.match(envelope(rec(6, { messageId: 'x'.repeat(101) }), ctx), { refused: /messageId/ })
  t.match(envelope(rec(7, { properties: '{bad' }), ctx), { refused: /JSON/ })
})

t.test('cut: batches under 500 KB, in order, an event never split', async (t) => {
  const events: Prepared[] = Array.from({ length: 5000 }, (_, i) => {
    const json = (envelope(rec(i, { properties: JSON.stringify({ pad: 'p'.repeat(i % 997) }) }), ctx) as { json: string }).json
    return { record: rec(i), json, bytes: Buffer.byteLength(json) }
  })
  const batches = cut(events)
  t.ok(batches.length > 1)
  t.same(batches.flat().map((p) => p.record.id), events.map((p) => p.record.id), 'every event once, in order')
  for (const b of batches) {
    const text = body(b, '2026-01-05T09:00:00.000Z')
    if (Buffer.byteLength(text) > MAX_BATCH_BYTES) t.fail(`batch of ${Buffer.byteLength(text)} bytes`)
    JSON.parse(text)
  }
  t.ok(Buffer.byteLength(body(batches[0]!, '2026-01-05T09:00:00.000Z')) > MAX_BATCH_BYTES * 0.95, 'batches are filled')
  t.same(cut([]), [])
})

t.test('backoff: exponential, jittered, capped; Retry-After in seconds or as a date', async (t) => {
  t.equal(backoffMs(1, 1000, 300_000, () => 0), 500)
  t.equal(backoffMs(1, 1000, 300_000, () => 1), 1000)
  t.equal(backoffMs(4, 1000, 300_000, () => 1), 8000)
  t.equal(backoffMs(40, 1000, 300_000, () => 1), 300_000, 'capped')
  t.ok(backoffMs(40, 1000, 300_000, () => 0) >= 150_000, 'half the cap at least: no thundering retries')
  t.equal(retryAfterMs('7', 0), 7000)
  t.equal(retryAfterMs(new Date(60_000).toUTCString(), 0), 60_000)
  t.equal(retryAfterMs('soon', 0), undefined)
  t.equal(retryAfterMs(null, 0), undefined)
})

/** a receiver that takes everything (after `gate`, when given), recording the messageIds */
const recording = (got: string[], gate?: Promise<void>): Transport => ({
  name: 'fake',
  async send(text) { await gate; got.push(...(JSON.parse(text) as { batch: { messageId: string }[] }).batch.map((e) => e.messageId)); return { ok: true } },
  async close() {},
})

/** a receiver that refuses the events it is told to, with or without naming them */
class FakeTransport implements Transport {
  readonly name = 'fake'
  readonly got: string[] = []
  sends = 0
  constructor(private readonly poison: Set<string>, private readonly name400: boolean, private failFirst = 0) {}
  async send(text: string): Promise<SendResult> {
    this.sends++
    if (this.failFirst > 0) { this.failFirst--; return { ok: false, retry: true, error: '503 try later' } }
    const ids = (JSON.parse(text) as { batch: { messageId: string }[] }).batch.map((e) => e.messageId)
    const bad = ids.filter((id) => this.poison.has(id))
    if (bad.length) return { ok: false, retry: false, error: '400 refused', messageIds: this.name400 ? bad : [] }
    this.got.push(...ids)
    return { ok: true }
  }
  async close() {}
}

async function storeWith(n: number, o: { stream?: 'crm' | 'ops'; pad?: number } = {}): Promise<Store> {
  const store = await Store.open(':memory:', { now: 0 })
  const ops = Array.from({ length: n }, (_, i) => outboxOp({ stream: o.stream ?? 'crm', messageId: `m:${i}`, event: 'Zone Dwelled', anonymousId: `pm:${i % 7}`, ts: Date.UTC(2026, 0, 5) + i, properties: { i, pad: 'x'.repeat(o.pad ?? 0) } }))
  for (let i = 0; i < ops.length; i += 1000) await store.write(ops.slice(i, i + 1000))
  return store
}

for (const named of [true, false]) {
  t.test(`a refused batch: ${named ? 'the events the receiver names are parked' : 'split in halves until the poison event is found'}; the rest goes in order`, async (t) => {
    const store = await storeWith(3000)
    t.teardown(() => store.close())
    const outbox = new Outbox(store, { subjectHash: (s) => s })
    const transport = new FakeTransport(new Set(['m:5', 'm:2222']), named)
    const d = new Drainer({ outbox, transports: { crm: transport }, envelope: ctx, now: () => 0, maxBackoffMs: 10, log: silent })
    d.start()
    await waitFor(() => transport.got.length === 2998, { what: 'all but the poison events' })
    await d.stop()
    t.same(transport.got, Array.from({ length: 3000 }, (_, i) => `m:${i}`).filter((id) => id !== 'm:5' && id !== 'm:2222'), 'in commit order')
    t.same((await outbox.parked(10)).map((p) => p.messageId).sort(), ['m:2222', 'm:5'])
    t.equal(d.state.crm.parked, 2)
    t.ok(transport.sends <= (named ? 10 : 2 * 2 * Math.ceil(Math.log2(3000)) + 1), `${transport.sends} sends (halving: about 2 log2(n) a poison event)`)
    t.equal((await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM outbox'))!.n, 0)
  })
}

t.test('packing: blocks are sent before the newer rows, erasure reaches into a block, a retry of a block resumes after what was delivered', async (t) => {
  const store = await storeWith(5000)
  t.teardown(() => store.close())
  const outbox = new Outbox(store, { subjectHash: (s) => `h(${s})`, blockRows: 2000 })
  t.equal(await outbox.pack('crm', () => false), 2000)
  t.equal(await outbox.pack('crm', () => true), 0, 'nothing is packed while an erasure holds it')
  t.equal(await outbox.pack('crm', () => false), 2000)
  t.equal(await outbox.pack('crm', () => false), 0, 'fewer than a block of rows stay rows')
  const c = await outbox.counts()
  t.equal(c.crm.rows, 1000)
  t.equal(c.crm.packed, 4000)
  t.ok(c.crm.bytes < 1000 * 400 + 4000 * 40, `bytes estimated: ${c.crm.bytes}`)
  // erasure: pm:3's records (a member's gateway pseudonym) leave the blocks
  const removed = await outbox.erase(['pm:3'])
  t.equal(removed, Array.from({ length: 4000 }, (_, i) => i).filter((i) => i % 7 === 3).length, 'every packed record of the subject removed')
  const transport = new FakeTransport(new Set(), true, 2)
  const d = new Drainer({ outbox, transports: { crm: transport }, envelope: ctx, now: () => 0, maxBackoffMs: 5, log: silent })
  d.start()
  const expected = Array.from({ length: 5000 }, (_, i) => i).filter((i) => i >= 4000 || i % 7 !== 3).map((i) => `m:${i}`)
  await waitFor(() => transport.got.length >= expected.length, { what: 'everything delivered' })
  await d.stop()
  t.same(transport.got, expected, 'blocks first, then rows: commit order, nothing twice')
  t.equal((await outbox.counts()).crm.packed, 0)
})

t.test('the budget\'s drop of the ops stream: oldest first, blocks then rows', async (t) => {
  const store = await storeWith(5000, { stream: 'ops', pad: 100 })
  t.teardown(() => store.close())
  const outbox = new Outbox(store, { subjectHash: (s) => s, blockRows: 2000 })
  await outbox.pack('ops', () => false)
  const dropped = await outbox.dropOldest('ops', 1)
  t.equal(dropped, 2000, 'the oldest block first')
  const left = await store.all<{ id: number }>('SELECT MIN(id) AS id FROM outbox')
  t.equal(left[0]!.id, 2001, 'rows untouched')
  t.ok(await outbox.dropOldest('ops', 1e9) === 3000, 'then rows')
})

t.test('messageId: unique per store and kind, never over 100 characters, stable', async (t) => {
  const { messageId } = await import('../../edge/storage/store.js')
  t.equal(messageId('zone-dwelled', 's042', 'pm:0123456789abcdef', 'fridge-dairy', 1767600000000), 'zone-dwelled:s042:pm:0123456789abcdef:fridge-dairy:1767600000000')
  const long = messageId('zone-dwelled', 's042', `eddystone-url:https://example.com/${'x'.repeat(120)}`, 'fridge-dairy', 1)
  t.ok(long.length <= 100, `a long subject is hashed (${long})`)
  t.equal(long, messageId('zone-dwelled', 's042', `eddystone-url:https://example.com/${'x'.repeat(120)}`, 'fridge-dairy', 1), 'the same event, the same id')
  t.not(long, messageId('zone-dwelled', 's043', `eddystone-url:https://example.com/${'x'.repeat(120)}`, 'fridge-dairy', 1), 'another store, another id')
})

t.test('an erasure rewriting a block between two of its batches loses nothing of the others (progress by record id)', async (t) => {
  const store = await storeWith(40, { pad: 20_000 })
  t.teardown(() => store.close())
  const outbox = new Outbox(store, { subjectHash: (s) => `h(${s})`, blockRows: 40 })
  t.equal(await outbox.pack('crm', () => false), 40)
  // the first batch goes through, the second fails once: then the erasure rewrites the block
  let sends = 0
  let erased = false
  const got: string[] = []
  const transport: Transport = {
    name: 'fake',
    async send(text) {
      sends++
      if (sends === 2 && !erased) {
        erased = true
        await outbox.erase(['pm:0'])
        return { ok: false, retry: true, error: '503' }
      }
      got.push(...(JSON.parse(text) as { batch: { messageId: string }[] }).batch.map((e) => e.messageId))
      return { ok: true }
    },
    async close() {},
  }
  const d = new Drainer({ outbox, transports: { crm: transport }, envelope: ctx, now: () => 0, maxBackoffMs: 5, log: silent })
  d.start()
  const wanted = Array.from({ length: 40 }, (_, i) => i).filter((i) => i % 7 !== 0).map((i) => `m:${i}`)
  await waitFor(async () => (await outbox.counts()).crm.packed === 0, { what: 'the block delivered' })
  await d.stop()
  t.ok(erased, 'the block was rewritten mid-way')
  t.same([...new Set(got)].filter((id) => wanted.includes(id)).sort(), [...wanted].sort(), 'every record of the others arrived')
})

t.test('pause() during the read of a chunk: what was read is not sent until after resume() (an erasure in between)', async (t) => {
  const store = await storeWith(10)
  t.teardown(() => store.close())
  const real = new Outbox(store, { subjectHash: (s) => s })
  let reading!: () => void
  const started = new Promise<void>((r) => { reading = r })
  let release!: () => void
  const slowRead = new Promise<void>((r) => { release = r })
  // the read is slow (a drain thread asks the gateway's thread for it): pause() arrives while it runs
  const outbox = { next: async (s: 'crm' | 'ops', n: number) => { const c = await real.next(s, n); if (c) { reading(); await slowRead } return c }, delivered: real.delivered.bind(real), park: real.park.bind(real) }
  const got: string[] = []
  const transport = recording(got)
  const d = new Drainer({ outbox, transports: { crm: transport }, envelope: ctx, now: () => 0, maxBackoffMs: 5, log: silent })
  d.start()
  await started
  let paused = false
  const p = d.pause().then(() => { paused = true })
  await new Promise((r) => setTimeout(r, 20))
  t.notOk(paused, 'pause waits for the read in progress too')
  release()
  await p
  await new Promise((r) => setTimeout(r, 50))
  t.same(got, [], 'what was read before the pause is not sent while paused')
  d.resume()
  await waitFor(() => got.length === 10, { what: 'sent after resume' })
  t.equal(new Set(got).size, 10, 'once each')
  await d.stop()
})

t.test('pause() waits for the chunk in flight and holds the drain until resume()', async (t) => {
  const store = await storeWith(10)
  t.teardown(() => store.close())
  const outbox = new Outbox(store, { subjectHash: (s) => s })
  let release!: () => void
  const gate = new Promise<void>((r) => { release = r })
  const got: string[] = []
  const transport = recording(got, gate)
  const d = new Drainer({ outbox, transports: { crm: transport }, envelope: ctx, now: () => 0, maxBackoffMs: 5, log: silent })
  d.start()
  await new Promise((r) => setTimeout(r, 50))
  let paused = false
  const p = d.pause().then(() => { paused = true })
  await new Promise((r) => setTimeout(r, 30))
  t.notOk(paused, 'pause waits while a batch is in flight')
  release()
  await p
  t.equal(got.length, 10, 'the chunk in flight finished first')
  await store.write([outboxOp({ stream: 'crm', messageId: 'later', event: 'Zone Dwelled', anonymousId: 'x', ts: 1, properties: {} })])
  d.kick()
  await new Promise((r) => setTimeout(r, 100))
  t.notOk(got.includes('later'), 'nothing new starts while paused')
  d.resume()
  await waitFor(() => got.includes('later'), { what: 'resumed' })
  await d.stop()
})
