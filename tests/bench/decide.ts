/**
 * npm run bench:decide -- [--quick] [--members=N] [--rate=R]
 *
 * From the sighting that completes a dwell to the offer frame arriving at the member's WebSocket client,
 * with a background load of R sightings/s (default 10,000, single-sighting messages from 60 scanners about
 * 2,000 other subjects) published from a process of its own the whole time.
 *
 * Members stand at the fridge one after another (staggered), each phone heard once a second by the fridge's
 * scanner; their sightings are published, and their apps connected, from a second process. The gateway path
 * is the whole product: ingest, identity, presence and dwell, the offer decision (eligibility, caps, budgets,
 * the ONNX recommender over the fridge's campaigns), the SQLite transaction of decision, offer and outbox,
 * the signed coupon and the WebSocket push. The baseline, run side by side on the same broker and in the same
 * process as the loaded gateway, is a bare relay: it parses each sighting, maps the rotating id to its
 * member, and pushes a frame once the member has been heard for the dwell time. Rounds alternate.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { WebSocketServer, type WebSocket } from 'ws'
import { loadConfig } from '../../edge/config/load.js'
import { computeRpid, rpidWindow } from '../../edge/contract/rpid.js'
import { topics } from '../../edge/contract/topics.js'
import { createLogger } from '../../edge/core/log.js'
import { startGateway } from '../../edge/gateway.js'
import { EmbeddedBroker } from '../../edge/mqtt/embedded.js'
import { freePort } from '../helpers/net.js'
import type { MembersJob, MembersResult } from './members.js'
import { BenchChild, Publisher, RssSampler, mb, percentile, table } from './lib.js'

const quick = process.argv.includes('--quick')
const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
const PER_ROUND = Number(arg('members') ?? (quick ? 40 : 100))
const RATE = Number(arg('rate') ?? 10_000)
const ROUNDS = quick ? 1 : 2
const DWELL_S = 10
const STAGGER_MS = 100
const SCANNERS = Array.from({ length: 60 }, (_, i) => `scn-${i}`)
const SUBJECTS = 2000
const BARE = 'aisle/bare'
const log = createLogger({ level: 'silent' })

// members: every round (and the warm-up) has fresh ones, since an offer goes to a member once a day
const WARMUP = 20
const TOTAL = WARMUP + ROUNDS * PER_ROUND * 2
const members = Array.from({ length: TOTAL }, (_, i) => ({ memberId: `bm-${i}`, key: randomBytes(32).toString('hex') }))
const CATS = ['dairy', 'dairy', 'drinks', 'grocery', 'meat', 'bakery']
const campaigns = CATS.map((category, i) => ({
  id: `fridge-${i}`, title: `Fridge offer ${i}`, body: 'Today only',
  trigger: { kind: 'dwell', zone: 'fridge', seconds: DWELL_S },
  offer: { category, discount: i % 2 ? { kind: 'amount', value: 1 + i } : { kind: 'percent', value: 10 + 5 * i } },
  limits: { perMemberPerDay: 1, budgetCount: 100_000 }, validMinutes: 30,
}))

const dataDir = mkdtempSync(join(tmpdir(), 'aisle-bench-decide-'))
const brokerPort = await freePort()
const broker = new EmbeddedBroker({ host: '127.0.0.1', port: brokerPort, reservedPrefixes: [], log })
await broker.start()
const mqttUrl = `mqtt://127.0.0.1:${brokerPort}`
const { config } = loadConfig({
  env: {},
  overlay: {
    store: { id: 'bench', name: 'bench', timezone: 'UTC' },
    dataDir,
    http: { host: '127.0.0.1', port: await freePort() },
    mqtt: { url: null, clientId: `bench-gw-${process.pid}` },
    layout: {
      zones: [...Array.from({ length: 20 }, (_, i) => ({ id: `z-${i}` })), { id: 'fridge', kind: 'fridge', dwellSeconds: DWELL_S }],
      anchors: [...SCANNERS.map((id, i) => ({ id, kind: 'scanner', zone: `z-${i % 20}`, x: i, y: 0 })), { id: 'scn-fridge', kind: 'scanner', zone: 'fridge', x: 200, y: 0 }],
    },
    members: members.map((m) => ({ memberId: m.memberId, key: m.key, consent: { offers: true, location: true }, tier: 'silver' })),
    campaigns,
    offers: { holdoutPercent: 0, quietHours: [] },
    log: { level: 'silent' },
  },
})
const gw = await startGateway({ config, log, mqtt: broker })
const tokens = await Promise.all(members.map((m) => gw.memberToken(m.memberId, 3600)))
const memberJobs = members.map((m, i) => ({ ...m, token: tokens[i]! }))

// ---- the bare relay, in this process beside the gateway
const rpidToMember = new Map<string, number>()
const w = rpidWindow(Date.now())
members.forEach((m, i) => { for (let k = w - 1; k <= w + 2; k++) rpidToMember.set(computeRpid(Buffer.from(m.key, 'hex'), k), i) })
const firstHeard = new Map<number, number>()
const pushed = new Set<number>()
const sockets = new Map<number, WebSocket>()
const wsPort = await freePort()
const wss = new WebSocketServer({ host: '127.0.0.1', port: wsPort })
await new Promise<void>((r) => wss.once('listening', () => r()))
const memberIndex = new Map(members.map((m, i) => [m.memberId, i]))
wss.on('connection', (ws, req) => {
  const i = memberIndex.get(new URL(req.url ?? '/', 'http://x').searchParams.get('member') ?? '')
  if (i === undefined) { ws.close(4401); return }
  sockets.set(i, ws)
  ws.on('message', () => {})
  ws.on('close', () => sockets.delete(i))
})
const stopBare = await broker.subscribe([`${BARE}/ble/#`], (_topic, payload) => {
  const s = JSON.parse(payload.toString('utf8')) as { id: string; rssi: number; ts: number }
  const i = rpidToMember.get(s.id)
  if (i === undefined || pushed.has(i)) return
  const first = firstHeard.get(i)
  if (first === undefined) { firstHeard.set(i, s.ts); return }
  if (s.ts - first >= DWELL_S * 1000) {
    pushed.add(i)
    sockets.get(i)?.send(JSON.stringify({ type: 'offer', ts: s.ts }))
  }
})

// ---- background load and the member process
const pub = await Publisher.start()
const phones = await BenchChild.fork<MembersJob, MembersResult & { done: true }>('./members.ts')
let background = 0
const offBg = gw.bus.on('readings', ({ readings }) => { background += readings.length })
const bgDone = pub.run({ url: mqttUrl, prefix: gw.prefix, count: RATE * 3600, batch: 1, rate: RATE, subjects: SUBJECTS, scanners: SCANNERS }).catch(() => ({ sent: 0, ms: 0 }))

const wsGateway = `${gw.httpUrl.replace(/^http/, 'ws')}/v1/member/ws`
let next = 0
async function phase(mode: 'gateway' | 'bare', count: number) {
  const batch = memberJobs.slice(next, next + count)
  next += count
  const loop = monitorEventLoopDelay({ resolution: 1 })
  const rss = new RssSampler().start()
  const bg0 = background
  const t0 = performance.now()
  loop.enable()
  const r = await phones.run({
    mode, mqttUrl,
    topic: mode === 'gateway' ? topics.ble(gw.prefix, 'scn-fridge') : `${BARE}/ble/scn-fridge`,
    dwellTopic: mode === 'gateway' ? topics.dwellEvents(gw.prefix) : null,
    zone: 'fridge',
    wsUrl: mode === 'gateway' ? wsGateway : `ws://127.0.0.1:${wsPort}/`,
    members: batch, staggerMs: STAGGER_MS, periodMs: 1000, timeoutMs: (DWELL_S + 15) * 1000,
  })
  loop.disable()
  const secs = (performance.now() - t0) / 1000
  return { ...r, bgRate: (background - bg0) / secs, loopP99: loop.percentile(99) / 1e6, rss: rss.stop() }
}

type PhaseResult = Awaited<ReturnType<typeof phase>>
const results: Record<'gateway' | 'bare', PhaseResult[]> = { gateway: [], bare: [] }
try {
  await new Promise((r) => setTimeout(r, 2000)) // background load settles
  await phase('gateway', WARMUP)
  console.error('warm-up done')
  for (let round = 0; round < ROUNDS; round++) {
    results.bare.push(await phase('bare', PER_ROUND))
    results.gateway.push(await phase('gateway', PER_ROUND))
    console.error(`round ${round + 1}/${ROUNDS} done`)
  }
} finally {
  offBg()
  pub.stop()
  phones.stop()
  await bgDone
  await stopBare()
  wss.close()
  await gw.stop()
  await broker.stop()
  rmSync(dataDir, { recursive: true, force: true })
}

const rows: Record<string, string | number>[] = []
const summary: Record<string, { p50: number; p99: number }> = {}
for (const mode of ['bare', 'gateway'] as const) {
  const rs = results[mode]
  const lat = Float64Array.from(rs.flatMap((r) => r.latencies)).sort()
  summary[mode] = { p50: percentile(lat, 50), p99: percentile(lat, 99) }
  rows.push({
    path: mode === 'bare' ? 'bare relay (baseline)' : 'gateway (whole product)',
    members: rs.reduce((n, r) => n + r.latencies.length + r.missing + r.mismatched, 0),
    'offers timed': lat.length,
    missing: rs.reduce((n, r) => n + r.missing + r.mismatched, 0),
    'p50 ms': percentile(lat, 50).toFixed(2),
    'p90 ms': percentile(lat, 90).toFixed(2),
    'p99 ms': percentile(lat, 99).toFixed(2),
    'max ms': (lat.length ? lat[lat.length - 1]! : NaN).toFixed(2),
    'background sightings/s': Math.round(rs.reduce((n, r) => n + r.bgRate, 0) / rs.length).toLocaleString('en'),
    'loop delay p99 ms': Math.max(...rs.map((r) => r.loopP99)).toFixed(1),
    'peak RSS': mb(Math.max(...rs.map((r) => r.rss))),
  })
}
console.log(`\ndecide benchmark (${quick ? 'quick' : 'full'}), node ${process.version}: sighting that completes a ${DWELL_S} s dwell -> offer frame at the member's WebSocket client`)
console.log(`background: ${RATE.toLocaleString('en')} sightings/s (single-sighting messages, ${SCANNERS.length} scanners, ${SUBJECTS} subjects) from its own process; members and their apps in another; ${ROUNDS} alternating rounds of ${PER_ROUND} members per path after a ${WARMUP}-member warm-up; embedded aedes; ${campaigns.length} campaigns ranked by the shipped ONNX model`)
console.log(`background sightings/s = what the gateway processed while the path was timed; loop delay = the gateway process's event loop (relay and gateway share it)\n`)
console.log(table(rows))
const g = summary.gateway!
const b = summary.bare!
console.log(`\nratio gateway / bare relay: p50 ${(g.p50 / b.p50).toFixed(2)}, p99 ${(g.p99 / b.p99).toFixed(2)}; extra time the product adds: p50 ${(g.p50 - b.p50).toFixed(2)} ms, p99 ${(g.p99 - b.p99).toFixed(2)} ms`)
console.log(`target p99 < 20 ms: ${g.p99 < 20 ? 'met' : 'NOT met'} (${g.p99.toFixed(2)} ms)`)
