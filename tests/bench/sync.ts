/**
 * npm run bench:sync -- [--quick] [--events=N] [--stagger=MS] [--drain-thread=false] [--crm-db=memory|disk] [--progress]
 *
 * The outbox drained to the central CRM after an outage, over loopback HTTP, against the reference CRM
 * (cloud-sync/reference-crm) in a process of its own (sync-worker.ts), its SQLite ':memory:' by default (its own
 * default, as the integration tests run it) or a file in a temporary folder (`--crm-db=disk`).
 *
 *  1. ceiling    the batches the drainer would send (the same envelope JSON, cut per 2,000-record block into
 *                <= 500 KB batches by cloud-sync/batch.ts) built in memory, no gateway database, POSTed with
 *                the drainer's HttpTransport one in flight to a fresh reference CRM: what the receiver takes
 *  2. drain      N outbox events committed into a running gateway's store while the CRM is down
 *                (`faults.down`), packed by housekeeping as they come (the outage test's way), then the fault
 *                cleared: time until the receiver has all N (events/s), against the ceiling. Also the same
 *                against a sink receiver (parses the body, answers 200): the gateway side's own capacity
 *  3. disk       database file (+ -wal) growth per queued event once packed, the outbox's own estimate
 *                (GET /v1/admin/sync budget.bytes / backlog), and 10,000,000 events against crm.outboxBudgetMB
 *  4. hot path   a member's phone sighting completing a 10 s dwell at the fridge -> the offer frame at the
 *                member's WebSocket (tests/bench/members.ts, as bench:decide measures it), idle (CRM up, nothing
 *                to drain) and while the backlog drains: members stand at the fridge one after another, timed so
 *                that their dwells complete while the drain runs; only offers issued during the drain count
 *  5. peak RSS   of the gateway process (this one) and of the receiver's
 *
 * The machine's CPU is sampled too (another job on a 2-core machine shows up as "others"). No timed
 * assertions: the targets are printed as met or not.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { body, cut, envelope, type EnvelopeContext, type Prepared } from '../../cloud-sync/batch.js'
import type { OutboxRecord } from '../../cloud-sync/outbox.js'
import { HttpTransport } from '../../cloud-sync/transport.js'
import { topics } from '../../edge/contract/topics.js'
import { systemClock } from '../../edge/core/clock.js'
import { outboxOp, type OutboxEvent } from '../../edge/storage/store.js'
import { version } from '../../edge/version.js'
import { startTestGateway, TEST_ADMIN, type TestGateway } from '../helpers/gateway.js'
import { BenchChild, RssSampler, mb, percentile, table } from './lib.js'
import type { MembersJob, MembersResult } from './members.js'
import type { CrmAnswer, CrmCommand } from './sync-worker.js'

const quick = process.argv.includes('--quick')
const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
const N = Number(arg('events') ?? (quick ? 100_000 : 1_000_000))
const CRM_DB = arg('crm-db') === 'disk' ? 'disk' : 'memory'
const PROGRESS = process.argv.includes('--progress')
/** `--drain-thread=false`: the drainer on the gateway's main thread (crm.drainThread), to compare */
const DRAIN_THREAD = arg('drain-thread') !== 'false'
if (!Number.isInteger(N) || N < 10_000) throw new Error('--events must be an integer >= 10000')

const WRITE_KEY = 'wk-bench-0123456789'
const STORE_TOKEN = 'st-bench-0123456789'
const STORE = 'test' // the test store's id (tests/helpers/gateway.ts)
/** Outbox default blockRows: the drainer sends one block's records at a time */
const BLOCK = 2000
/** ops per store.write unit while filling the outbox, units in flight at once, events between two housekeepings */
const UNIT = 500
const UNITS_IN_FLIGHT = 10
const HOUSEKEEP_EVERY = 10_000
/** events prepared in memory at a time for the ceiling (only the POSTs are timed) */
const SLICE = 50_000
/** events POSTed to a throwaway CRM first, so that the receiver process is warm for the ceiling as for the drain */
const CRM_WARMUP = quick ? 10_000 : 20_000
/** events of the drain to the sink receiver */
const N_SINK = Math.min(N, quick ? 50_000 : 300_000)
const DWELL_S = 10 // the test store's fridge-dairy dwellSeconds
/** members at the start of the idle phase whose offers are not timed (JIT, the ONNX session) */
const WARMUP = 5
/** members stand at the fridge this far apart (150 ms: about 150 offers timed a phase on a 1M drain, so that the
 *  p99 is not just the slowest of 40) */
const STAGGER = Number(arg('stagger') ?? (quick ? 100 : 150))
/** the first dwell of the draining phase completes about this long after the fault is cleared */
const LEAD_MS = 600
const BUDGET_MB = 512 // config/default.json crm.outboxBudgetMB
const PROJECT = 10_000_000

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d }) : 'n/a')
const note = (s: string) => console.error(`[bench:sync ${(performance.now() / 1000).toFixed(1)} s] ${s}`)
const pct = (x: number) => `${fmt(x * 100)}%`

/** the machine's CPU time (all processes), to tell another job's load from ours */
const machine = () => cpus().reduce((a, c) => {
  const t = c.times
  a.busy += t.user + t.nice + t.sys + t.irq
  a.total += t.user + t.nice + t.sys + t.irq + t.idle
  return a
}, { busy: 0, total: 0 })
type Machine = ReturnType<typeof machine>
const busyCores = (a: Machine, b: Machine) => ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * cpus().length
const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000

// ---------------------------------------------------------------- the events

const BASE_TS = Date.UTC(2026, 0, 5, 7, 0, 0)
const ZONES = ['fridge-dairy', 'bakery', 'produce', 'drinks', 'frozen', 'checkout-3']
const CAMPAIGN_IDS = ['dairy-10s', 'bakery-morning', 'drinks-2for1', 'frozen-summer']
/** 8 hex digits from an integer (cheap, deterministic: a stand-in for the gateway's keyed hashes) */
const h8 = (n: number, seed: number) => (Math.imul(n ^ seed, 2654435761) >>> 0).toString(16).padStart(8, '0')
const h16 = (n: number, seed = 0x9e37) => h8(n, seed) + h8(n, seed * 31 + 7)
const iso = (t: number) => new Date(t).toISOString()

/** A realistic mix of CRM events: mostly Zone Dwelled and Offer Issued, members by userId, others by pseudonym. */
function benchEvent(i: number): OutboxEvent {
  const ts = BASE_TS + i * 25
  const k = i % 20
  const memberId = `m-${h8(i % 3000, 11).slice(0, 6)}`
  const zone = ZONES[i % ZONES.length]!
  if (k < 11) {
    // Zone Dwelled: a few by members (userId), most by anonymous pseudonyms
    const member = k < 3
    const subject = member ? `pm:${h16(i % 3000, 5)}` : `anon:${h16(i % 40_000)}`
    const seconds = 10 + (i % 97) / 3
    const since = ts - Math.round(seconds * 1000)
    return {
      stream: 'crm', messageId: `bench:zone-dwelled:${subject}:${zone}:${since}`, event: 'Zone Dwelled', ts,
      ...(member ? { userId: memberId } : { anonymousId: subject }),
      properties: { zone, seconds: Math.round(seconds * 10) / 10, enteredAt: iso(since), storeId: STORE, scanner: `scn-${zone}-${i % 3}`, rssiMedian: -50 - (i % 30), samples: 8 + (i % 40), source: 'presence', aisle: 3 + (i % 9) },
    }
  }
  const offerId = `of-${h16(i, 3)}`
  const campaignId = CAMPAIGN_IDS[i % CAMPAIGN_IDS.length]!
  if (k < 17) {
    return {
      stream: 'crm', messageId: `bench:offer-issued:${offerId}`, event: 'Offer Issued', userId: memberId, ts,
      properties: { offerId, campaignId, zone, trigger: 'dwell', storeId: STORE, expiresAt: iso(ts + 30 * 60_000), category: 'dairy', discount: { kind: 'percent', value: 20 }, rank: 1 + (i % 3), score: Math.round((i % 1000) / 1.7) / 1000, model: 'default@1' },
    }
  }
  if (k < 19) {
    return { stream: 'crm', messageId: `bench:offer-delivered:${offerId}`, event: 'Offer Delivered', userId: memberId, ts, properties: { offerId, campaignId, storeId: STORE, channel: 'websocket', attempt: 1, queuedMs: i % 40, app: 'ios-4.2.1' } }
  }
  return {
    stream: 'crm', messageId: `bench:receipt:${h16(i, 9)}`, event: 'Receipt Recorded', userId: memberId, ts,
    properties: { receiptId: `r-${h16(i, 9)}`, storeId: STORE, lane: 1 + (i % 8), total: Math.round((i % 9000) / 0.7) / 100, currency: 'EUR', items: 1 + (i % 30), offers: i % 3 ? [] : [offerId] },
  }
}

/** The record the drainer reads back from the outbox for this event (the same text outboxOp stores). */
function benchRecord(i: number): OutboxRecord {
  const row = outboxOp(benchEvent(i)).row
  return { id: i + 1, messageId: row[1] as string, event: row[2] as string, userId: row[3] as string | null, anonymousId: row[4] as string | null, properties: row[5] as string, ts: row[6] as number }
}

// ---------------------------------------------------------------- the receiver process

const crmW = await BenchChild.fork<CrmCommand, CrmAnswer>('./sync-worker.ts')
const crm = (c: CrmCommand) => crmW.run(c)
const tmp = mkdtempSync(join(tmpdir(), 'aisle-bench-sync-'))
let crmFiles = 0
const crmDbFile = () => (CRM_DB === 'disk' ? join(tmp, `crm-${++crmFiles}.db`) : null)

// ---------------------------------------------------------------- 1. the ceiling

const ectx: EnvelopeContext = { storeId: STORE, version: version(), unseal: () => null }
let propBytes = 0
let envBytes = 0

/** The batches of events [from, to) as the drainer cuts them: per block of BLOCK records, <= 500 KB each. */
function batchesOf(from: number, to: number, measure: boolean): string[] {
  const bodies: string[] = []
  for (let b = from; b < to; b += BLOCK) {
    const prepared: Prepared[] = []
    for (let i = b; i < Math.min(to, b + BLOCK); i++) {
      const r = benchRecord(i)
      const e = envelope(r, ectx)
      if ('refused' in e) throw new Error(`bench event ${i} not sendable: ${e.refused}`)
      const bytes = e.bytes
      if (measure) { propBytes += r.properties.length; envBytes += bytes }
      prepared.push({ record: r, json: e.json, bytes })
    }
    for (const batch of cut(prepared)) bodies.push(body(batch, new Date().toISOString()))
  }
  return bodies
}

async function ceiling() {
  // a throwaway CRM first: the receiver process's JIT is as warm for the ceiling as it is for the drain
  const w = await crm({ cmd: 'start', writeKey: WRITE_KEY, storeToken: STORE_TOKEN, dbFile: null })
  const tw = new HttpTransport(`${w.url}/v1/batch`, WRITE_KEY, 30_000)
  for (const b of batchesOf(N, N + CRM_WARMUP, false)) if (!(await tw.send(b)).ok) throw new Error('ceiling warm-up refused')
  await crm({ cmd: 'close' })

  const started = await crm({ cmd: 'start', writeKey: WRITE_KEY, storeToken: STORE_TOKEN, dbFile: crmDbFile() })
  await crm({ cmd: 'stats', resetPeak: true })
  const transport = new HttpTransport(`${started.url}/v1/batch`, WRITE_KEY, 30_000)
  const rss = new RssSampler().start()
  let sendMs = 0
  let batches = 0
  let bodyBytes = 0
  let busy = 0
  let mainCpu = 0
  const lat: number[] = []
  for (let s = 0; s < N; s += SLICE) {
    const bodies = batchesOf(s, Math.min(N, s + SLICE), true)
    const m0 = machine()
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    for (const b of bodies) {
      const t1 = performance.now()
      const r = await transport.send(b)
      lat.push(performance.now() - t1)
      if (!r.ok) throw new Error(`ceiling: the CRM refused a batch: ${r.error}`)
      batches++
      bodyBytes += b.length
    }
    const ms = performance.now() - t0
    sendMs += ms
    busy += busyCores(m0, machine()) * ms
    mainCpu += cpuMs(process.cpuUsage(c0))
  }
  const after = await crm({ cmd: 'close' })
  if (after.accepted !== N) throw new Error(`ceiling: the CRM has ${after.accepted} of ${N}`)
  lat.sort((a, b) => a - b)
  return {
    rate: N / (sendMs / 1000), sendMs, batches, bodyBytes, postP50: percentile(lat, 50), postP99: percentile(lat, 99), rss: rss.stop(), crmRss: after.rssPeak,
    crmCpu: after.cpuMs / sendMs, mainCpu: mainCpu / sendMs, busy: busy / sendMs,
  }
}

note(`ceiling: ${fmt(N)} events to a fresh reference CRM (SQLite ${CRM_DB === 'disk' ? 'file in a temp dir' : ':memory:'})`)
globalThis.gc?.()
const ceil = await ceiling()
note(`ceiling: ${fmt(ceil.rate)} events/s`)
globalThis.gc?.()

// ---------------------------------------------------------------- shared by the gateway runs

const adminH = { authorization: `Bearer ${TEST_ADMIN}`, 'content-type': 'application/json' }
interface SyncView { backlog: number; byStream: { crm: number; ops: number }; budget: { bytes: number; budgetBytes: number; state: string }; streams: { crm: { packed: number } } }
const syncView = async (tg: TestGateway) => (await (await fetch(`${tg.gw.httpUrl}/v1/admin/sync`, { headers: adminH })).json()) as SyncView
const fileBytes = (f: string) => { try { return statSync(f).size } catch { return 0 } }

async function disk(tg: TestGateway) {
  const q = await tg.gw.store.get<{ n: number; free: number; size: number; dataBytes: number | null; subjectBytes: number | null; blockCount: number | null }>(
    'SELECT (SELECT page_count FROM pragma_page_count()) AS n, (SELECT freelist_count FROM pragma_freelist_count()) AS free, (SELECT page_size FROM pragma_page_size()) AS size, (SELECT SUM(LENGTH(data)) FROM outbox_blocks) AS dataBytes, (SELECT SUM(LENGTH(subjects)) FROM outbox_blocks) AS subjectBytes, (SELECT SUM(count) FROM outbox_blocks) AS blockCount')
  const size = q?.size ?? 0
  return {
    db: fileBytes(tg.gw.dbFile), wal: fileBytes(`${tg.gw.dbFile}-wal`), inUse: ((q?.n ?? 0) - (q?.free ?? 0)) * size, free: (q?.free ?? 0) * size,
    dataBytes: q?.dataBytes ?? 0, subjectBytes: q?.subjectBytes ?? 0, blockCount: q?.blockCount ?? 0,
  }
}

/**
 * The outage: n events committed (UNIT a write, UNITS_IN_FLIGHT at once), housekeeping every HOUSEKEEP_EVERY,
 * then packed to the end. `near(ms)` is told, after every housekeeping, about how long is left (a guess).
 */
async function outage(tg: TestGateway, n: number, near?: (ms: number) => void) {
  const t0 = performance.now()
  let housekeepMs = 0
  const calls: number[] = []
  for (let s = 0; s < n; s += HOUSEKEEP_EVERY) {
    const done = Math.min(n, s)
    // the packing left at the end takes about half as long again as committing did
    if (near && done > 0) near(((performance.now() - t0) / done) * (n - done) * 1.5)
    const writes: Promise<void>[] = []
    for (let u = s; u < Math.min(n, s + HOUSEKEEP_EVERY); u += UNIT) {
      const unit = []
      for (let i = u; i < Math.min(n, u + UNIT, s + HOUSEKEEP_EVERY); i++) unit.push(outboxOp(benchEvent(i)))
      writes.push(tg.gw.store.write(unit))
      if (writes.length >= UNITS_IN_FLIGHT) await Promise.all(writes.splice(0))
    }
    await Promise.all(writes)
    const th = performance.now()
    await tg.gw.housekeep()
    calls.push(performance.now() - th)
    housekeepMs += performance.now() - th
  }
  const commitMs = performance.now() - t0
  // what is left is packed as the 5-second housekeeping would go on packing (at most 20 blocks a call)
  const tp = performance.now()
  for (let i = 0; i < 500; i++) {
    const before = (await syncView(tg)).streams.crm.packed
    await tg.gw.housekeep()
    if ((await syncView(tg)).streams.crm.packed === before) break
  }
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
  return { commitMs, housekeepMs, firstCalls: avg(calls.slice(0, 5)), lastCalls: avg(calls.slice(-5)), packTailMs: performance.now() - tp, view: await syncView(tg) }
}

/** Clear the fault, "retry now" (the drainer is otherwise asleep in its backoff, up to crm.maxBackoffSeconds), wait for `target` at the receiver. */
async function drain(tg: TestGateway, target: number) {
  const m0 = machine()
  const c0 = process.cpuUsage()
  await crm({ cmd: 'stats', resetPeak: true })
  const t0 = performance.now()
  await crm({ cmd: 'faults', faults: {} })
  await fetch(`${tg.gw.httpUrl}/v1/admin/sync/retry`, { method: 'POST', headers: adminH, body: '{}' })
  const w = await crm({ cmd: 'waitAccepted', n: target, timeoutMs: quick ? 300_000 : 1_500_000 })
  const t1 = performance.now()
  const gwCpu = cpuMs(process.cpuUsage(c0))
  const busy = busyCores(m0, machine())
  if (PROGRESS) for (const [ms, n, b] of w.progress ?? []) note(`  +${(ms / 1000).toFixed(1)} s: ${fmt(n)} at the receiver, ${b} POSTs`)
  return { t0, t1, ms: t1 - t0, reached: w.reached === true, gwCpu: gwCpu / (t1 - t0), crmCpu: w.cpuMs / (t1 - t0), busy, crmRss: w.rssPeak }
}

// ---------------------------------------------------------------- the gateway against a fresh CRM

const CAMPAIGN = {
  id: 'dairy-10s', title: '20% off yoghurt', body: 'Today only', trigger: { kind: 'dwell', zone: 'fridge-dairy', seconds: DWELL_S },
  offer: { category: 'dairy', discount: { kind: 'percent', value: 20 } }, limits: { perMemberPerDay: 1 }, validMinutes: 30,
}
// the drain lasts at least N / ceiling: the draining phase's dwells complete over about 70% of that
const spanMs = Math.max(3000, 0.7 * (N / ceil.rate) * 1000)
const K = Math.max(20, Math.round(spanMs / STAGGER))
const members = Array.from({ length: WARMUP + 2 * K }, (_, i) => ({ memberId: `sm-${i}`, key: randomBytes(32).toString('hex') }))
const crmUp = await crm({ cmd: 'start', writeKey: WRITE_KEY, storeToken: STORE_TOKEN, dbFile: crmDbFile() })
// the CRM owns campaigns: a pull retires a store campaign it does not list, so it lists the test store's one
await crm({ cmd: 'putCampaign', store: STORE, campaign: CAMPAIGN })
const tg: TestGateway = await startTestGateway({
  clock: systemClock, // the member process stamps sightings with the wall clock
  overlay: {
    crm: {
      url: crmUp.url, writeKey: WRITE_KEY, storeToken: STORE_TOKEN, maxBackoffSeconds: 1, drainThread: DRAIN_THREAD,
      pull: { membersSeconds: 3600, campaignsSeconds: 3600, layoutSeconds: 3600, modelsSeconds: 3600 },
    },
    members: members.map((m) => ({ memberId: m.memberId, key: m.key, consent: { offers: true, location: true } })),
    campaigns: [CAMPAIGN],
    offers: { holdoutPercent: 0, quietHours: [] },
  },
})
const gw = tg.gw
const tokens = await Promise.all(members.map((m) => gw.memberToken(m.memberId, 7200)))
const phones = await BenchChild.fork<MembersJob, MembersResult & { done: true }>('./members.ts')
const offerAt = new Map<string, number>()
const offOffer = gw.bus.on('offerIssued', (o) => { offerAt.set(o.memberId, performance.now()) })
let nextMember = 0

function membersJob(count: number): MembersJob {
  const batch = members.slice(nextMember, nextMember + count).map((m, i) => ({ ...m, token: tokens[nextMember + i]! }))
  nextMember += count
  return {
    mode: 'gateway', mqttUrl: gw.mqttUrl, topic: topics.ble(gw.prefix, 'scn-dairy'), dwellTopic: topics.dwellEvents(gw.prefix), zone: 'fridge-dairy',
    wsUrl: `${gw.httpUrl.replace(/^http/, 'ws')}/v1/member/ws`, members: batch, staggerMs: STAGGER, periodMs: 1000, timeoutMs: (DWELL_S + 15) * 1000,
  }
}

/**
 * One hot-path phase of `count` members (the first `skip` not timed), started now; `finish` waits for it. With a
 * window, only the offers issued inside it are timed. The event-loop delay is the gateway process's, from
 * `loopFrom()` on (the phase's start by default).
 */
function startHotPath(count: number, skip: number) {
  const job = membersJob(count)
  const tStart = performance.now()
  let loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  const run = phones.run(job)
  return {
    tStart,
    loopFrom(): void { loop.disable(); loop = monitorEventLoopDelay({ resolution: 1 }); loop.enable() },
    async finish(window?: () => [number, number]) {
      const r = await run
      loop.disable()
      const ids = job.members.map((m) => m.memberId)
      const [a, b] = window ? window() : [-Infinity, Infinity]
      const keep = ids.map((id, i) => { const t = offerAt.get(id); return i >= skip && t !== undefined && t >= a && t <= b })
      // latencies come in member order when none is missing; otherwise only the count can be told
      const lat = r.missing === 0 && r.mismatched === 0 ? r.latencies.filter((_, i) => keep[i]) : r.latencies.slice(skip)
      const sorted = Float64Array.from(lat).sort()
      return {
        members: count - skip, timed: lat.length, inside: keep.filter(Boolean).length, missing: r.missing + r.mismatched,
        p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1]! : NaN,
        over20: lat.filter((x) => x > 20).length,
        loopP99: loop.percentile(99) / 1e6, loopMax: loop.max / 1e6,
      }
    },
  }
}
type HotPath = ReturnType<typeof startHotPath>

// ---------------------------------------------------------------- 4a. hot path, idle (the CRM up, nothing to drain)

note(`hot path, idle: ${WARMUP} warm-up + ${K} members ${STAGGER} ms apart`)
const gwRss = { idle: 0, outage: 0, drain: 0, sink: 0 }
let rss = new RssSampler().start()
const idle = await startHotPath(WARMUP + K, WARMUP).finish()
gwRss.idle = rss.stop()
// what the idle phase committed reaches the CRM; the drain is counted from there
await sleep(500)
for (let i = 0; i < 200 && (await syncView(tg)).byStream.crm > 0; i++) await sleep(50)

// ---------------------------------------------------------------- 2a. the outage: N events committed and packed

await crm({ cmd: 'faults', faults: { down: true } })
await sleep(1100) // the drainer has failed and backs off
const base = (await crm({ cmd: 'stats', resetPeak: true })).accepted
const disk0 = await disk(tg)
note(`outage: committing ${fmt(N)} events (${UNIT} a unit, housekeeping every ${fmt(HOUSEKEEP_EVERY)})`)
rss = new RssSampler().start()
// the draining phase's members come to the fridge while the outage's last events are committed, so that the
// first dwells complete just after the fault clears (no need to wait a whole dwell after the outage)
const PLAN_MS = DWELL_S * 1000 - LEAD_MS
let hp: HotPath | null = null
const out = await outage(tg, N, (left) => { if (!hp && left < PLAN_MS - 1000) hp = startHotPath(K, 0) })
const disk1 = await disk(tg)
gwRss.outage = rss.stop()
const crmOutage = await crm({ cmd: 'stats' })
// everything queued now reaches the CRM before what the draining phase's members commit (commit order)
const queued = out.view.byStream.crm
note(`outage: ${fmt(N / (out.commitMs / 1000))} events/s committed; backlog ${fmt(out.view.backlog)} (${fmt(out.view.streams.crm.packed)} packed); file ${mb(disk0.db)} -> ${mb(disk1.db)}, wal ${mb(disk1.wal)}`)

// ---------------------------------------------------------------- 2b + 4b. the drain, members at the fridge

hp ??= startHotPath(K, 0)
const late = performance.now() - (hp.tStart + PLAN_MS)
if (late > 0) note(`drain: the outage took ${fmt(late)} ms longer than planned: the first members' offers come before the drain (not timed)`)
else await sleep(-late)
note(`drain: ${K} members at the fridge ${STAGGER} ms apart; the fault cleared ~${LEAD_MS} ms before the first dwell completes`)
rss = new RssSampler().start()
hp.loopFrom()
const dr = await drain(tg, base + queued)
note(`drain: ${dr.reached ? 'all' : 'NOT all'} ${fmt(queued)} at the CRM in ${fmt(dr.ms / 1000, 1)} s`)
const draining = await hp.finish(() => [dr.t0, dr.t1])
gwRss.drain = rss.stop()
const disk2 = await disk(tg)
const stored = await crm({ cmd: 'count' })
const drainRate = queued / (dr.ms / 1000)
offOffer()
phones.stop()
await tg.close()
await crm({ cmd: 'close' })

// ---------------------------------------------------------------- extra: the same drain to a sink receiver

note(`sink: ${fmt(N_SINK)} events through a second gateway to a receiver that only parses and counts`)
const sinkUp = await crm({ cmd: 'startSink' })
await crm({ cmd: 'faults', faults: { down: true } })
const tg2 = await startTestGateway({ overlay: { crm: { url: sinkUp.url, writeKey: WRITE_KEY, storeToken: STORE_TOKEN, maxBackoffSeconds: 1, drainThread: DRAIN_THREAD, pull: { membersSeconds: 3600, campaignsSeconds: 3600, layoutSeconds: 3600, modelsSeconds: 3600 } } } })
await sleep(1500)
await outage(tg2, N_SINK)
const sinkQueued = (await syncView(tg2)).byStream.crm
rss = new RssSampler().start()
const sinkLoop = monitorEventLoopDelay({ resolution: 1 })
sinkLoop.enable()
const sk = await drain(tg2, (await crm({ cmd: 'stats' })).accepted + sinkQueued)
sinkLoop.disable()
gwRss.sink = rss.stop()
const sinkRate = sinkQueued / (sk.ms / 1000)
note(`sink: ${fmt(sinkRate)} events/s`)
await tg2.close()
await crm({ cmd: 'close' })
crmW.stop()
rmSync(tmp, { recursive: true, force: true })

// ---------------------------------------------------------------- report

const grown = disk1.db + disk1.wal - disk0.db - disk0.wal
const perEvent = grown / N
const estPerEvent = out.view.budget.bytes / Math.max(1, out.view.backlog)
const inUsePerEvent = (disk1.inUse - disk0.inUse) / N
const dataPerEvent = disk1.dataBytes / Math.max(1, disk1.blockCount)
const subjectsPerEvent = disk1.subjectBytes / Math.max(1, disk1.blockCount)
const projMB = (b: number) => (b * PROJECT) / 1048576
const ratio = drainRate / ceil.rate
const fits = (x: number) => (projMB(x) <= BUDGET_MB ? 'fits' : `over; full at ${fmt((BUDGET_MB * 1048576) / x / 1e6, 1)} M events`)
const rows: Record<string, string>[] = [
  { measure: 'ceiling: batches from memory -> fresh CRM', value: `${fmt(ceil.rate)} events/s`, detail: `${fmt(ceil.batches)} POSTs of ${fmt(ceil.bodyBytes / ceil.batches / 1024)} KB, one in flight, POST p50 ${fmt(ceil.postP50, 1)} ms p99 ${fmt(ceil.postP99, 1)} ms; CPU: CRM ${pct(ceil.crmCpu)}, client ${pct(ceil.mainCpu)}, machine ${fmt(ceil.busy, 1)} of ${cpus().length} cores`, target: '' },
  { measure: 'drain: gateway outbox -> CRM after the outage', value: `${fmt(drainRate)} events/s`, detail: `${fmt(queued)} in ${fmt(dr.ms / 1000, 1)} s, ${stored.count! - base >= queued ? 'all' : 'NOT all'} stored, ${fmt(stored.duplicates)} duplicates; CPU: gateway ${pct(dr.gwCpu)}, CRM ${pct(dr.crmCpu)}, machine ${fmt(dr.busy, 1)} of ${cpus().length} cores`, target: `>= 20,000/s: ${drainRate >= 20_000 ? 'met' : 'NOT met'}` },
  { measure: 'drain / ceiling', value: fmt(ratio, 2), detail: '', target: `>= 0.50: ${ratio >= 0.5 ? 'met' : 'NOT met'}` },
  { measure: 'drain to a sink receiver (gateway side alone)', value: `${fmt(sinkRate)} events/s`, detail: `${fmt(sinkQueued)} in ${fmt(sk.ms / 1000, 1)} s; CPU: gateway ${pct(sk.gwCpu)}, sink ${pct(sk.crmCpu)}; gateway loop delay p99 ${fmt(sinkLoop.percentile(99) / 1e6, 1)} ms, max ${fmt(sinkLoop.max / 1e6, 1)} ms`, target: `>= 20,000/s: ${sinkRate >= 20_000 ? 'met' : 'NOT met'}` },
  { measure: 'outage: commit + pack (housekeeping as it goes)', value: `${fmt(N / (out.commitMs / 1000))} events/s`, detail: `${fmt(out.commitMs / 1000, 1)} s (housekeeping ${fmt(out.housekeepMs / 1000, 1)} s of it: ${fmt(out.firstCalls)} ms a call at first, ${fmt(out.lastCalls)} ms at the end) + ${fmt(out.packTailMs / 1000, 1)} s packing the rest; ${fmt(out.view.streams.crm.packed)} of ${fmt(out.view.backlog)} packed`, target: '' },
  { measure: 'disk per queued event: file + wal growth', value: `${fmt(perEvent, 1)} B`, detail: `file ${mb(disk0.db)} -> ${mb(disk1.db)}, wal ${mb(disk0.wal)} -> ${mb(disk1.wal)}; pages in use ${fmt(inUsePerEvent, 1)} B/event, ${mb(disk1.free)} free pages; a packed event: ${fmt(dataPerEvent, 1)} B compressed + ${fmt(subjectsPerEvent, 1)} B subject hashes`, target: '' },
  { measure: 'disk after the drain (nothing queued)', value: `${mb(disk2.db + disk2.wal)}`, detail: `file ${mb(disk2.db)} + wal ${mb(disk2.wal)}, of which ${mb(disk2.free)} free pages (the sync feature gives a drained outage's pages back: incremental vacuum and a WAL truncate)`, target: '' },
  { measure: 'disk per queued event: outbox estimate', value: `${fmt(estPerEvent, 1)} B`, detail: `GET /v1/admin/sync budget.bytes ${fmt(out.view.budget.bytes / 1048576, 1)} MB / backlog ${fmt(out.view.backlog)}`, target: '' },
  { measure: `${fmt(PROJECT)} events (3 days offline)`, value: `${fmt(projMB(inUsePerEvent))} MB of pages`, detail: `at ${fmt(inUsePerEvent, 1)} B/event in use (+ the high-water mark of unpacked rows, free pages and the WAL: ${fmt(projMB(perEvent))} MB at this run's file + wal growth); by the outbox estimate ${fmt(projMB(estPerEvent))} MB; budget ${BUDGET_MB} MB`, target: `pages: ${fits(inUsePerEvent)}; estimate: ${fits(estPerEvent)}` },
  { measure: 'dwell -> offer p50, idle / draining', value: `${fmt(idle.p50, 1)} / ${fmt(draining.p50, 1)} ms`, detail: `ratio ${fmt(draining.p50 / idle.p50, 2)}; p90 ${fmt(idle.p90, 1)} / ${fmt(draining.p90, 1)} ms, ratio ${fmt(draining.p90 / idle.p90, 2)}`, target: '' },
  { measure: 'dwell -> offer p99, idle / draining', value: `${fmt(idle.p99, 1)} / ${fmt(draining.p99, 1)} ms`, detail: `ratio ${fmt(draining.p99 / idle.p99, 2)} (${draining.timed} offers during the drain, ${idle.timed} idle; over 20 ms: ${draining.over20} draining, ${idle.over20} idle)`, target: `<= 1.5x: ${draining.p99 / idle.p99 <= 1.5 ? 'met' : 'NOT met'}` },
  { measure: 'peak RSS gateway process', value: mb(Math.max(gwRss.idle, gwRss.outage, gwRss.drain)), detail: `idle ${mb(gwRss.idle)}, outage ${mb(gwRss.outage)}, drain ${mb(gwRss.drain)}; (extra runs in this process: ceiling client ${mb(ceil.rss)}, sink drain ${mb(gwRss.sink)})`, target: '' },
  { measure: 'peak RSS CRM process', value: mb(Math.max(ceil.crmRss, crmOutage.rssPeak, dr.crmRss)), detail: `ceiling ${mb(ceil.crmRss)}, outage ${mb(crmOutage.rssPeak)}, drain ${mb(dr.crmRss)} (SQLite ${CRM_DB === 'disk' ? 'file' : ':memory:'})`, target: '' },
]
const hot = (name: string, h: typeof idle) => ({
  phase: name, members: String(h.members), 'offers timed': String(h.timed), missing: String(h.missing),
  'p50 ms': fmt(h.p50, 2), 'p90 ms': fmt(h.p90, 2), 'p99 ms': fmt(h.p99, 2), 'max ms': fmt(h.max, 2), '> 20 ms': String(h.over20), 'loop delay p99 ms': fmt(h.loopP99, 1), 'loop delay max ms': fmt(h.loopMax, 1),
})

console.log(`\nsync benchmark (${quick ? 'quick' : 'full'}), node ${process.version}, ${cpus().length} cores, ${fmt(N)} events: the outbox drained to the reference CRM over loopback HTTP`)
console.log(`events: ${fmt(propBytes / N)} B of properties, ${fmt(envBytes / N)} B of envelope on average (Zone Dwelled 55%, Offer Issued 30%, Offer Delivered 10%, Receipt Recorded 5%; userId for members, anon: pseudonyms otherwise)`)
console.log(`receiver: the reference CRM in its own process, SQLite ${CRM_DB === 'disk' ? 'file in a temp dir (its pragmas: rollback journal, synchronous FULL)' : ':memory:'}; the gateway in this process (the test store, crm.maxBackoffSeconds 1, "retry now" as the fault clears)`)
console.log(`drain on ${DRAIN_THREAD ? "its own thread (crm.drainThread)" : "the main thread (--drain-thread=false)"}`)
console.log(`hot path: ${K} members a phase ${STAGGER} ms apart, ${DWELL_S} s dwell at fridge-dairy, sightings over MQTT and the app's WebSocket in another process; draining = offers issued while the drain ran`)
console.log(`machine = CPU busy across all processes (another job on the machine counts there too)\n`)
console.log(table(rows))
console.log('')
console.log(table([hot('idle', idle), hot('draining', draining)]))
console.log(`\nran ${fmt(performance.now() / 1000)} s`)
