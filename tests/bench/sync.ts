/**
 * npm run bench:sync -- [--quick] [--events=N] [--crm-db=disk|memory]
 *
 * The outbox drain to the central CRM after an outage, on loopback, against the reference CRM
 * (cloud-sync/reference-crm) running in a process of its own (sync-worker.ts), its SQLite on disk in a temporary
 * folder by default (`--crm-db=memory`: ':memory:').
 *
 *  1. ceiling    the batches the drainer would send (the same envelopes, cut per 2,000-record block into
 *                <= 500 KB batches by cloud-sync/batch.ts) built in memory, no gateway database, POSTed with
 *                the drainer's HttpTransport one at a time to a fresh reference CRM: what the receiver takes
 *  2. drain      N outbox events committed into a running gateway's store while the CRM is down
 *                (`faults.down`), packed by housekeeping as they come (the outage test's way), then the fault
 *                cleared: time until the receiver has all N (events/s), against the ceiling
 *  3. disk       database file (+ -wal) growth per queued event once packed, the outbox's own estimate
 *                (GET /v1/admin/sync budget.bytes / backlog), and 10,000,000 events against crm.outboxBudgetMB
 *  4. hot path   a member's phone sighting completing a 10 s dwell at the fridge -> the offer frame at the
 *                member's WebSocket (tests/bench/members.ts, as bench:decide), idle (CRM up, nothing to drain)
 *                and while the backlog drains; members stand at the fridge one after another so that their
 *                dwells complete while the drain runs
 *  5. peak RSS   of the gateway process (this one) and of the CRM process
 *
 * No timed assertions: the targets are printed as met or not.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
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
const CRM_DB = arg('crm-db') === 'memory' ? 'memory' : 'disk'
if (!Number.isInteger(N) || N < 10_000) throw new Error('--events must be an integer >= 10000')

const WRITE_KEY = 'wk-bench-0123456789'
const STORE_TOKEN = 'st-bench-0123456789'
const STORE = 'test' // the test store's id (tests/helpers/gateway.ts)
/** Outbox default blockRows: the drainer sends one block's records at a time */
const BLOCK = 2000
/** ops a store.write unit carries while filling the outbox, units in flight at once, events between housekeepings */
const UNIT = 500
const UNITS_IN_FLIGHT = 10
const HOUSEKEEP_EVERY = 10_000
/** events prepared in memory at a time for the ceiling (only the POSTs are timed) */
const SLICE = 50_000
const DWELL_S = 10 // the test store's fridge-dairy dwellSeconds
const WARMUP = 5
const K = quick ? 20 : 40 // members per hot-path phase
/** the first dwell of the draining phase completes this long after the fault is cleared */
const LEAD_MS = 600
const BUDGET_MB = 512 // config/default.json crm.outboxBudgetMB
const PROJECT = 10_000_000

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d }) : 'n/a')
const note = (s: string) => console.error(`[bench:sync ${((performance.now()) / 1000).toFixed(1)} s] ${s}`)

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

// ---------------------------------------------------------------- the CRM process

const crmW = await BenchChild.fork<CrmCommand, CrmAnswer>('./sync-worker.ts')
const crm = (c: CrmCommand) => crmW.run(c)
const tmp = mkdtempSync(join(tmpdir(), 'aisle-bench-sync-'))
let crmFiles = 0
const crmDbFile = () => (CRM_DB === 'disk' ? join(tmp, `crm-${++crmFiles}.db`) : null)

// ---------------------------------------------------------------- 1. the ceiling

const ectx: EnvelopeContext = { storeId: STORE, version: version(), unseal: () => null }
let propBytes = 0
let envBytes = 0

async function ceiling() {
  const started = await crm({ cmd: 'start', writeKey: WRITE_KEY, storeToken: STORE_TOKEN, dbFile: crmDbFile() })
  await crm({ cmd: 'stats', resetPeak: true })
  const transport = new HttpTransport(`${started.url}/v1/batch`, WRITE_KEY, 30_000)
  const rss = new RssSampler().start()
  let sendMs = 0
  let batches = 0
  let bodyBytes = 0
  const lat: number[] = []
  for (let s = 0; s < N; s += SLICE) {
    const bodies: string[] = []
    for (let b = s; b < Math.min(N, s + SLICE); b += BLOCK) {
      const prepared: Prepared[] = []
      for (let i = b; i < Math.min(N, b + BLOCK, s + SLICE); i++) {
        const r = benchRecord(i)
        propBytes += r.properties.length
        const e = envelope(r, ectx)
        if ('refused' in e) throw new Error(`bench event ${i} not sendable: ${e.refused}`)
        const bytes = Buffer.byteLength(e.json, 'utf8')
        envBytes += bytes
        prepared.push({ record: r, json: e.json, bytes })
      }
      for (const batch of cut(prepared)) bodies.push(body(batch, new Date().toISOString()))
    }
    const t0 = performance.now()
    for (const b of bodies) {
      const t1 = performance.now()
      const r = await transport.send(b)
      lat.push(performance.now() - t1)
      if (!r.ok) throw new Error(`ceiling: the CRM refused a batch: ${r.error}`)
      batches++
      bodyBytes += b.length
    }
    sendMs += performance.now() - t0
  }
  const after = await crm({ cmd: 'close' })
  if (after.accepted !== N) throw new Error(`ceiling: the CRM has ${after.accepted} of ${N}`)
  lat.sort((a, b) => a - b)
  return { rate: N / (sendMs / 1000), sendMs, batches, bodyBytes, postP50: percentile(lat, 50), postP99: percentile(lat, 99), rss: rss.stop(), crmRss: after.rssPeak, crmCpu: after.cpuMs / sendMs }
}

note(`ceiling: ${fmt(N)} events to a fresh reference CRM (${CRM_DB === 'disk' ? 'SQLite file in a temp dir' : ':memory:'})`)
globalThis.gc?.()
const ceil = await ceiling()
note(`ceiling: ${fmt(ceil.rate)} events/s`)
globalThis.gc?.()

// ---------------------------------------------------------------- the gateway against a fresh CRM

const CAMPAIGN = {
  id: 'dairy-10s', title: '20% off yoghurt', body: 'Today only', trigger: { kind: 'dwell', zone: 'fridge-dairy', seconds: DWELL_S },
  offer: { category: 'dairy', discount: { kind: 'percent', value: 20 } }, limits: { perMemberPerDay: 1 }, validMinutes: 30,
}
const members = Array.from({ length: WARMUP + 2 * K }, (_, i) => ({ memberId: `sm-${i}`, key: randomBytes(32).toString('hex') }))
const crmUp = await crm({ cmd: 'start', writeKey: WRITE_KEY, storeToken: STORE_TOKEN, dbFile: crmDbFile() })
// the CRM owns campaigns: a pull retires a store campaign it does not list, so it lists the test store's one
await crm({ cmd: 'putCampaign', store: STORE, campaign: CAMPAIGN })
const tg: TestGateway = await startTestGateway({
  clock: systemClock, // the member process stamps sightings with the wall clock
  overlay: {
    crm: {
      url: crmUp.url, writeKey: WRITE_KEY, storeToken: STORE_TOKEN, maxBackoffSeconds: 1,
      pull: { membersSeconds: 3600, campaignsSeconds: 3600, layoutSeconds: 3600, modelsSeconds: 3600 },
    },
    members: members.map((m) => ({ memberId: m.memberId, key: m.key, consent: { offers: true, location: true } })),
    campaigns: [CAMPAIGN],
    offers: { holdoutPercent: 0, quietHours: [] },
  },
})
const gw = tg.gw
const adminH = { authorization: `Bearer ${TEST_ADMIN}`, 'content-type': 'application/json' }
const syncView = async () => (await (await fetch(`${gw.httpUrl}/v1/admin/sync`, { headers: adminH })).json()) as { backlog: number; byStream: { crm: number; ops: number }; budget: { bytes: number; budgetBytes: number; state: string }; streams: { crm: { packed: number } }; delivered: number; lastError: string | null }
const tokens = await Promise.all(members.map((m) => gw.memberToken(m.memberId, 7200)))
const phones = await BenchChild.fork<MembersJob, MembersResult & { done: true }>('./members.ts')
const offerAt = new Map<string, number>()
const offOffer = gw.bus.on('offerIssued', (o) => { offerAt.set(o.memberId, performance.now()) })
const wsUrl = `${gw.httpUrl.replace(/^http/, 'ws')}/v1/member/ws`
let nextMember = 0

function membersJob(count: number, staggerMs: number): MembersJob {
  const batch = members.slice(nextMember, nextMember + count).map((m, i) => ({ ...m, token: tokens[nextMember + i]! }))
  nextMember += count
  return {
    mode: 'gateway', mqttUrl: gw.mqttUrl, topic: topics.ble(gw.prefix, 'scn-dairy'), dwellTopic: topics.dwellEvents(gw.prefix), zone: 'fridge-dairy',
    wsUrl, members: batch, staggerMs, periodMs: 1000, timeoutMs: (DWELL_S + 15) * 1000,
  }
}

/** One hot-path phase; `during` runs beside it (the drain). Latencies are kept for offers issued inside `window()`. */
async function hotPath(count: number, staggerMs: number, during?: () => Promise<void>, window?: () => [number, number]) {
  const job = membersJob(count, staggerMs)
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  const run = phones.run(job)
  if (during) await during()
  const r = await run
  loop.disable()
  let lat = r.latencies
  let inside = r.latencies.length
  if (window) {
    const [a, b] = window()
    const ids = job.members.map((m) => m.memberId)
    if (r.missing === 0 && r.mismatched === 0) {
      // latencies come in member order when none is missing
      const keep = ids.map((id) => { const t = offerAt.get(id); return t !== undefined && t >= a && t <= b })
      lat = r.latencies.filter((_, i) => keep[i])
      inside = lat.length
    } else inside = ids.filter((id) => { const t = offerAt.get(id); return t !== undefined && t >= a && t <= b }).length
  }
  const sorted = Float64Array.from(lat).sort()
  return { members: count, timed: lat.length, all: r.latencies.length, inside, missing: r.missing + r.mismatched, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1]! : NaN, loopP99: loop.percentile(99) / 1e6, loopMax: loop.max / 1e6 }
}

const fileBytes = (f: string) => { try { return statSync(f).size } catch { return 0 } }
async function disk() {
  const pages = await gw.store.get<{ n: number; free: number; size: number }>('SELECT (SELECT page_count FROM pragma_page_count()) AS n, (SELECT freelist_count FROM pragma_freelist_count()) AS free, (SELECT page_size FROM pragma_page_size()) AS size')
  return { db: fileBytes(gw.dbFile), wal: fileBytes(`${gw.dbFile}-wal`), inUse: ((pages?.n ?? 0) - (pages?.free ?? 0)) * (pages?.size ?? 0), free: (pages?.free ?? 0) * (pages?.size ?? 0) }
}

// ---------------------------------------------------------------- 4a. hot path, idle

// the drain lasts at least N / ceiling; the draining phase's dwells complete over ~70% of that
const spanMs = Math.max(2000, 0.7 * (N / ceil.rate) * 1000)
const STAGGER = Math.max(100, Math.round(spanMs / K))
note(`hot path idle: ${WARMUP} warm-up members, then ${K} members ${STAGGER} ms apart`)
await hotPath(WARMUP, 200)
const gwRss = { idle: 0, outage: 0, drain: 0 }
let rss = new RssSampler().start()
const idle = await hotPath(K, STAGGER)
gwRss.idle = rss.stop()
// what the idle phase committed reaches the CRM first; the drain is counted from there
await sleep(500)
for (let i = 0; i < 200 && (await syncView()).byStream.crm > 0; i++) await sleep(50)
const base = (await crm({ cmd: 'stats' })).accepted

// ---------------------------------------------------------------- 2a. the outage: N events committed and packed

await crm({ cmd: 'faults', faults: { down: true } })
await crm({ cmd: 'stats', resetPeak: true })
await sleep(1500) // the drainer has failed at least once and backs off
const disk0 = await disk()
note(`outage: committing ${fmt(N)} events (${UNIT} per unit, housekeeping every ${fmt(HOUSEKEEP_EVERY)})`)
rss = new RssSampler().start()
const tc0 = performance.now()
let packWaits = 0
for (let s = 0; s < N; s += HOUSEKEEP_EVERY) {
  const writes: Promise<void>[] = []
  for (let u = s; u < Math.min(N, s + HOUSEKEEP_EVERY); u += UNIT) {
    const unit = []
    for (let i = u; i < Math.min(N, u + UNIT, s + HOUSEKEEP_EVERY); i++) unit.push(outboxOp(benchEvent(i)))
    writes.push(gw.store.write(unit))
    if (writes.length >= UNITS_IN_FLIGHT) await Promise.all(writes.splice(0))
  }
  await Promise.all(writes)
  const th = performance.now()
  await gw.housekeep()
  packWaits += performance.now() - th
}
const commitMs = performance.now() - tc0
// the rest is packed as housekeeping would over the next minutes (at most 20 blocks a call)
const tp0 = performance.now()
for (let i = 0; i < 200; i++) {
  const before = (await syncView()).streams.crm.packed
  await gw.housekeep()
  if ((await syncView()).streams.crm.packed === before) break
}
const packTailMs = performance.now() - tp0
const during = await syncView()
const disk1 = await disk()
gwRss.outage = rss.stop()
const crmOutage = await crm({ cmd: 'stats', resetPeak: true })
const grown = disk1.db + disk1.wal - disk0.db - disk0.wal
note(`outage: ${fmt(N / (commitMs / 1000))} events/s committed and packed; backlog ${fmt(during.backlog)} (${fmt(during.streams.crm.packed)} packed); file +${mb(disk1.db - disk0.db)}, wal ${mb(disk1.wal)}`)

// ---------------------------------------------------------------- 2b + 4b. the drain, with members at the fridge

let tClear = 0
let tDone = 0
let reached = false
const cpu0 = process.cpuUsage()
rss = new RssSampler().start()
note(`drain: ${K} members at the fridge ${STAGGER} ms apart, the fault cleared ${LEAD_MS} ms before the first dwell completes`)
const draining = await hotPath(K, STAGGER, async () => {
  await sleep(DWELL_S * 1000 - LEAD_MS)
  tClear = performance.now()
  await crm({ cmd: 'faults', faults: {} })
  // the operator's "retry now" (the drainer is otherwise asleep in its backoff, at most crm.maxBackoffSeconds)
  await fetch(`${gw.httpUrl}/v1/admin/sync/retry`, { method: 'POST', headers: adminH, body: '{}' })
  const w = await crm({ cmd: 'waitAccepted', n: base + N, timeoutMs: quick ? 300_000 : 1_200_000 })
  tDone = performance.now()
  reached = w.reached === true
  note(`drain: ${reached ? 'all' : 'NOT all'} ${fmt(N)} at the CRM in ${fmt((tDone - tClear) / 1000, 1)} s`)
}, () => [tClear, tDone])
const drainMs = tDone - tClear
const gwCpu = process.cpuUsage(cpu0)
gwRss.drain = rss.stop()
const crmDrain = await crm({ cmd: 'count' })
const drainRate = N / (drainMs / 1000)
offOffer()

phones.stop()
await tg.close()
await crm({ cmd: 'close' })
crmW.stop()
rmSync(tmp, { recursive: true, force: true })

// ---------------------------------------------------------------- report

const perEvent = grown / N
const estPerEvent = during.budget.bytes / Math.max(1, during.backlog)
const inUsePerEvent = (disk1.inUse - disk0.inUse) / N
const projMB = (b: number) => (b * PROJECT) / 1048576
const ratio = drainRate / ceil.rate
const rows: Record<string, string>[] = [
  { measure: 'ceiling: batches from memory -> fresh CRM', value: `${fmt(ceil.rate)} events/s`, detail: `${fmt(ceil.batches)} POSTs of ${fmt(ceil.bodyBytes / ceil.batches / 1024)} KB, POST p50 ${fmt(ceil.postP50, 1)} ms p99 ${fmt(ceil.postP99, 1)} ms; CRM CPU ${fmt(ceil.crmCpu * 100)}%`, target: '' },
  { measure: 'drain: gateway outbox -> CRM after the outage', value: `${fmt(drainRate)} events/s`, detail: `${fmt(N)} in ${fmt(drainMs / 1000, 1)} s; gateway CPU ${fmt(((gwCpu.user + gwCpu.system) / 1000 / drainMs) * 100)}%, CRM CPU ${fmt((crmDrain.cpuMs / drainMs) * 100)}%; ${fmt(crmDrain.duplicates)} duplicates, ${crmDrain.count! - base >= N ? 'all' : 'NOT all'} stored`, target: `>= 20,000/s: ${drainRate >= 20_000 ? 'met' : 'NOT met'}` },
  { measure: 'drain / ceiling', value: fmt(ratio, 2), detail: '', target: `>= 0.50: ${ratio >= 0.5 ? 'met' : 'NOT met'}` },
  { measure: 'outage: commit + pack (housekeep as it comes)', value: `${fmt(N / (commitMs / 1000))} events/s`, detail: `${fmt(commitMs / 1000, 1)} s (housekeeping ${fmt(packWaits / 1000, 1)} s of it) + ${fmt(packTailMs / 1000, 1)} s to pack the rest; ${fmt(during.streams.crm.packed)} of ${fmt(during.backlog)} packed`, target: '' },
  { measure: 'disk per queued event: file + wal growth', value: `${fmt(perEvent, 1)} B`, detail: `file +${mb(disk1.db - disk0.db)}, wal ${mb(disk0.wal)} -> ${mb(disk1.wal)}; pages in use ${fmt(inUsePerEvent, 1)} B/event, free pages ${mb(disk1.free)}`, target: '' },
  { measure: 'disk per queued event: outbox estimate', value: `${fmt(estPerEvent, 1)} B`, detail: `budget.bytes ${mb(during.budget.bytes)} / backlog ${fmt(during.backlog)}`, target: '' },
  { measure: `${fmt(PROJECT)} events (3 days offline)`, value: `${fmt(projMB(perEvent))} MB on disk`, detail: `estimate ${fmt(projMB(estPerEvent))} MB against the ${BUDGET_MB} MB budget (${fmt((projMB(estPerEvent) / BUDGET_MB) * 100)}%)`, target: `fits ${BUDGET_MB} MB: ${projMB(estPerEvent) <= BUDGET_MB && projMB(perEvent) <= BUDGET_MB ? 'yes' : projMB(estPerEvent) <= BUDGET_MB ? 'by the estimate only' : 'NO'}` },
  { measure: 'dwell -> offer p50, idle / draining', value: `${fmt(idle.p50, 1)} / ${fmt(draining.p50, 1)} ms`, detail: `ratio ${fmt(draining.p50 / idle.p50, 2)}`, target: '' },
  { measure: 'dwell -> offer p99, idle / draining', value: `${fmt(idle.p99, 1)} / ${fmt(draining.p99, 1)} ms`, detail: `ratio ${fmt(draining.p99 / idle.p99, 2)}`, target: `<= 1.5x: ${draining.p99 / idle.p99 <= 1.5 ? 'met' : 'NOT met'}` },
  { measure: 'peak RSS gateway process', value: mb(Math.max(gwRss.idle, gwRss.outage, gwRss.drain)), detail: `idle ${mb(gwRss.idle)}, outage ${mb(gwRss.outage)}, drain ${mb(gwRss.drain)} (ceiling client ${mb(ceil.rss)})`, target: '' },
  { measure: 'peak RSS CRM process', value: mb(Math.max(ceil.crmRss, crmOutage.rssPeak, crmDrain.rssPeak)), detail: `ceiling ${mb(ceil.crmRss)}, drain ${mb(crmDrain.rssPeak)}`, target: '' },
]
const hot = (name: string, h: typeof idle) => ({
  phase: name, members: String(h.members), 'offers timed': String(h.timed), 'during drain': name === 'idle' ? '-' : `${h.inside}/${h.all}`, missing: String(h.missing),
  'p50 ms': fmt(h.p50, 2), 'p90 ms': fmt(h.p90, 2), 'p99 ms': fmt(h.p99, 2), 'max ms': fmt(h.max, 2), 'loop delay p99 ms': fmt(h.loopP99, 1), 'loop delay max ms': fmt(h.loopMax, 1),
})

console.log(`\nsync benchmark (${quick ? 'quick' : 'full'}), node ${process.version}, ${fmt(N)} events: outbox drain to the reference CRM over loopback HTTP`)
console.log(`events: ${fmt(propBytes / N)} B of properties, ${fmt(envBytes / N)} B of envelope on average (Zone Dwelled 55%, Offer Issued 30%, Offer Delivered 10%, Receipt Recorded 5%)`)
console.log(`reference CRM in its own process, SQLite ${CRM_DB === 'disk' ? 'file in a temp dir (its default pragmas: rollback journal, synchronous FULL)' : ':memory:'}; gateway in this process (test store, crm.maxBackoffSeconds 1, "retry now" when the fault clears)`)
console.log(`hot path: ${K} members per phase, ${STAGGER} ms apart, ${DWELL_S} s dwell at fridge-dairy, sightings over MQTT from another process, the app on the WebSocket; "during drain" = offers issued while the drain ran\n`)
console.log(table(rows))
console.log('')
console.log(table([hot('idle', idle), hot('draining', draining)]))
