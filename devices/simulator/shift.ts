/**
 * A simulated shift, in virtual time, through the real gateway: clerks restock shelves around the demo
 * store wearing call bands (heard by the scanners, heartbeats, alerts, acks over MQTT), customers call for
 * help from the call buttons in each zone and by scanning shelf call codes. The same shift (same calls, same
 * clerks, same behaviour) runs once per dispatch policy: "nearest" (this gateway's dispatcher) and
 * "broadcast" (every free clerk's band buzzes at once; the first to accept goes: the pager baseline).
 *
 *   npm run sim:shift -- [--clerks 6] [--hours 8] [--calls-per-hour 20] [--seeds 3] [--hedge 8] [--bystander 0.5] [--demo-store] [--json]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { DevicePool, adminProvision } from './device-pool.js'
import type { Layout } from '../../edge/contract/resources.js'
import { topics } from '../../edge/contract/topics.js'
import { loadConfig, packageRoot, deepMerge } from '../../edge/config/load.js'
import { ManualClock } from '../../edge/core/clock.js'
import { createLogger } from '../../edge/core/log.js'
import { startGateway, type Gateway } from '../../edge/gateway.js'
import { stageStats, type StageStats } from '../../edge/assist/figures.js'
import { Db } from '../../edge/storage/db.js'
import { ClerkCrew, type ClerkBehaviour } from './clerks.js'
import { Rng } from './rng.js'
import { StoreSimulator, type SimMessage } from './store-sim.js'

/** the admin token the simulation registers its devices with (the gateway is its own, in-process) */
const SIM_ADMIN = `sim-${process.pid}-admin-token`

export interface ShiftOptions {
  layout: Layout
  clerks: number
  hours: number
  callsPerHour: number
  seed: number
  start: number
  timeZone: string
  behaviour?: Partial<ClerkBehaviour>
}

export interface ShiftVariant {
  name: string
  policy: 'nearest' | 'broadcast'
  hedgeAfterSeconds: number | null
  fanoutMetres?: number
  /** clerks behave differently under this policy (e.g. answer a group page less readily) */
  behaviour?: Partial<ClerkBehaviour>
}

export const VARIANTS: ShiftVariant[] = [
  { name: 'broadcast (pager)', policy: 'broadcast', hedgeAfterSeconds: null },
  { name: 'nearest, one at a time', policy: 'nearest', hedgeAfterSeconds: null, fanoutMetres: 0 },
  { name: 'nearest +15 m, hedged (default)', policy: 'nearest', hedgeAfterSeconds: 10, fanoutMetres: 15 },
]

export interface ShiftReport {
  variant: string
  seed: number
  calls: number
  requests: number
  byState: Record<string, number>
  accept: StageStats
  arrive: StageStats
  done: StageStats
  /** raw seconds, for pooling seeds */
  arriveSeconds: number[]
  acceptSeconds: number[]
  escalated: number
  alertsPerRequest: number
  metresPerRequest: number
  aborted: number
  wallSeconds: number
}

/**
 * A supermarket floor of 60 x 60 m: twelve departments of 15 x 20 m in a grid, a scanner in the middle of
 * each (the demo store is 30 x 20 m, where walking hardly matters).
 */
export function supermarketLayout(): Layout {
  const names = ['entrance', 'produce', 'bakery', 'deli', 'meat', 'fish', 'fridge-dairy', 'frozen', 'drinks', 'household', 'electronics', 'checkout']
  const zones: Layout['zones'] = []
  const anchors: Layout['anchors'] = []
  names.forEach((id, i) => {
    const x0 = (i % 4) * 15
    const y0 = Math.floor(i / 4) * 20
    zones.push({ id, kind: id === 'entrance' || id === 'checkout' ? id : 'aisle', polygon: [[x0, y0], [x0 + 15, y0], [x0 + 15, y0 + 20], [x0, y0 + 20]] })
    anchors.push({ id: `scn-${id}`, kind: 'scanner', zone: id, x: x0 + 7.5, y: y0 + 10, txPower: -59 })
  })
  return { zones, anchors }
}

/** The layout with a call button in every zone but the entrance. */
export function shiftLayout(base: Layout): Layout {
  const zones = base.zones.filter((z) => z.id !== 'entrance')
  return { zones: base.zones, anchors: [...base.anchors.filter((a) => a.kind !== 'button'), ...zones.map((z) => ({ id: `btn-${z.id}`, kind: 'button' as const, zone: z.id }))] }
}

interface Call { at: number; msg: SimMessage }

function callSchedule(o: ShiftOptions, prefix: string): Call[] {
  const rng = new Rng(o.seed * 7919 + 1)
  const zones = o.layout.zones.filter((z) => z.id !== 'entrance').map((z) => z.id)
  const out: Call[] = []
  const end = o.start + o.hours * 3_600_000
  // the first ten minutes let clerks spread out and bands report in
  let t = o.start + 10 * 60_000
  for (;;) {
    t += -Math.log(1 - rng.next()) * (3_600_000 / o.callsPerHour)
    if (t >= end - 15 * 60_000) break
    const zone = rng.pick(zones)
    const at = Math.round(t / 1000) * 1000
    out.push(rng.chance(0.75)
      ? { at, msg: { topic: topics.button(prefix, `btn-${zone}`), payload: { action: 'call', ts: at }, qos: 1 } }
      : { at, msg: { topic: topics.scan(prefix, 'hs-shelf'), payload: { code: `call:${zone}`, kind: 'call', ts: at }, qos: 1 } })
  }
  return out
}

export async function runShift(o: ShiftOptions, v: ShiftVariant): Promise<ShiftReport> {
  const t0 = performance.now()
  const dataDir = mkdtempSync(join(tmpdir(), `aisle-shift-${v.policy}-`))
  const clock = new ManualClock(o.start)
  const clerks = Array.from({ length: o.clerks }, (_, i) => ({ clerkId: i === 0 ? 'c-sup' : `c-${i}`, band: `b-${i}` }))
  const { config } = loadConfig({
    env: {},
    overlay: deepMerge({}, {
      store: { id: 'shift', name: 'simulated shift', timezone: o.timeZone },
      dataDir, http: { host: '127.0.0.1', port: 0 }, mqtt: { url: null, embedded: { host: '127.0.0.1', port: 0 } },
      layout: o.layout, presence: { locator: 'strongest' },
      assist: { policy: v.policy, hedgeAfterSeconds: v.hedgeAfterSeconds, fanoutMetres: v.fanoutMetres ?? 0, supervisors: ['c-sup'] },
      recommender: { enabled: false },
      log: { level: 'silent' },
    }) as Record<string, unknown>,
  })
  const gw: Gateway = await startGateway({ config, clock, log: createLogger({ level: 'silent' }), envAdminToken: SIM_ADMIN })
  const behaviour = { ...o.behaviour, ...v.behaviour }
  const crew = new ClerkCrew({ prefix: gw.prefix, layout: o.layout, clerks, seed: o.seed, behaviour }, o.start)
  const sim = new StoreSimulator({ prefix: gw.prefix, layout: o.layout, members: [], shoppers: 0, seed: o.seed + 1, schedule: [], others: () => crew.subjects() }, o.start)
  const calls = callSchedule(o, gw.prefix)
  let alerts = 0
  // the store's devices, registered through the admin API and each on its own connection (CONTRACT 7a)
  const pool = new DevicePool({
    mqttUrl: `mqtt://127.0.0.1:${gw.mqttPort}`, prefix: gw.prefix, provision: adminProvision(gw.httpUrl, SIM_ADMIN), reconnect: false,
    onAlert: (band, alert) => {
      const a = alert as { alertId: string; kind: string; zone: string }
      if (a.kind === 'assist' || a.kind === 'escalation') alerts++
      crew.alert(band, a)
    },
  })
  await Promise.all(crew.bands().map((b) => pool.ensure(b, 'band')))
  let next = 0
  try {
    const end = o.start + o.hours * 3_600_000
    for (let now = o.start; now <= end; now += 1000) {
      clock.set(now)
      const msgs = [...sim.step(now), ...crew.step(now)]
      while (next < calls.length && calls[next]!.at <= now) msgs.push(calls[next++]!.msg)
      if (msgs.length) await Promise.all(msgs.map((m) => pool.publish(m.topic, m.payload, m.qos)))
      // let the gateway handle what arrived and the alerts come back before time moves on
      await new Promise((r) => setImmediate(r))
      await new Promise((r) => setImmediate(r))
      gw.tick()
    }
    await gw.flush()
  } finally {
    await pool.stop()
  }
  const db = await Db.open(gw.dbFile, { readonly: true })
  const rows = await db.all<{ state: string; created_at: number; accepted_at: number | null; arrived_at: number | null; closed_at: number | null; close_reason: string | null; escalated_at: number | null }>('SELECT state, created_at, accepted_at, arrived_at, closed_at, close_reason, escalated_at FROM assist_requests')
  await db.close()
  await gw.stop()
  rmSync(dataDir, { recursive: true, force: true })
  const secs = (a: number | null, b: number) => (a === null ? null : (a - b) / 1000)
  const arrive = rows.map((r) => secs(r.arrived_at, r.created_at)).filter((x): x is number => x !== null)
  const accept = rows.map((r) => secs(r.accepted_at, r.created_at)).filter((x): x is number => x !== null)
  const done = rows.filter((r) => r.state === 'done' && r.close_reason === 'done').map((r) => secs(r.closed_at, r.created_at)!)
  const byState: Record<string, number> = {}
  for (const r of rows) byState[r.state] = (byState[r.state] ?? 0) + 1
  return {
    variant: v.name, seed: o.seed, calls: calls.length, requests: rows.length, byState,
    accept: stageStats(accept), arrive: stageStats(arrive), done: stageStats(done), arriveSeconds: arrive, acceptSeconds: accept,
    escalated: rows.filter((r) => r.escalated_at !== null).length,
    alertsPerRequest: rows.length ? alerts / rows.length : 0,
    metresPerRequest: rows.length ? crew.stats.metresResponding / rows.length : 0,
    aborted: crew.stats.aborted,
    wallSeconds: Math.round((performance.now() - t0) / 100) / 10,
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const num = (k: string, d: number) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? Number(argv[i + 1]) : d }
  const store = argv.includes('--demo-store') ? 'demo' : 'supermarket'
  const layout = store === 'demo' ? loadConfig({ file: join(packageRoot(), 'config', 'demo-store.json'), env: {} }).config.layout : supermarketLayout()
  const base: Omit<ShiftOptions, 'seed'> = {
    layout: shiftLayout(layout), clerks: num('clerks', 6), hours: num('hours', 8), callsPerHour: num('calls-per-hour', 20),
    start: Date.UTC(2026, 10, 24, 8, 0, 0), timeZone: 'Europe/Berlin',
  }
  const seeds = num('seeds', 3)
  const reports: ShiftReport[] = []
  const hedge = num('hedge', 0)
  const fanout = num('fanout', 0)
  const bystander = num('bystander', 0)
  const variants: ShiftVariant[] = [...VARIANTS]
  if (hedge > 0) variants.push({ name: `nearest, hedged ${hedge} s`, policy: 'nearest', hedgeAfterSeconds: hedge, fanoutMetres: 0 })
  if (fanout > 0) variants.push({ name: `nearest +${fanout} m, hedged 10 s`, policy: 'nearest', hedgeAfterSeconds: 10, fanoutMetres: fanout })
  if (argv.includes('--json') === false && variants.length > 4) console.error('(many variants: the table gets wide)')
  // diffusion of responsibility: each clerk answers a page sent to everybody less readily than one sent to them
  if (bystander > 0) variants.splice(1, 0, { name: `broadcast, accept ${Math.round(bystander * 100)}%`, policy: 'broadcast', hedgeAfterSeconds: null, behaviour: { accept: bystander } })
  for (let s = 1; s <= seeds; s++) {
    for (const v of variants) {
      const r = await runShift({ ...base, seed: s }, v)
      console.error(`seed ${s} ${v.name}: ${r.requests} requests, arrive median ${r.arrive.median} s, ${r.wallSeconds} s`)
      reports.push(r)
    }
  }
  if (argv.includes('--json')) { console.log(JSON.stringify(reports, null, 2)); return }
  const pooled = (name: string) => {
    const rs = reports.filter((r) => r.variant === name)
    const sum = (f: (r: ShiftReport) => number) => rs.reduce((n, r) => n + f(r), 0)
    const states: Record<string, number> = {}
    for (const r of rs) for (const [k, v] of Object.entries(r.byState)) states[k] = (states[k] ?? 0) + v
    return {
      requests: sum((r) => r.requests), states, arrive: stageStats(rs.flatMap((r) => r.arriveSeconds)), accept: stageStats(rs.flatMap((r) => r.acceptSeconds)),
      escalated: sum((r) => r.escalated), alerts: sum((r) => r.alertsPerRequest * r.requests), metres: sum((r) => r.metresPerRequest * r.requests), aborted: sum((r) => r.aborted),
      perSeed: rs.map((r) => `${r.arrive.median}/${r.arrive.p90}`).join(', '),
    }
  }
  const cols = variants.map((v) => ({ name: v.name, x: pooled(v.name) }))
  console.log(`\nA simulated shift: ${base.clerks} clerks (one supervisor), ${base.hours} h, about ${base.callsPerHour} calls an hour, ${seeds} seeds; ${store === 'demo' ? 'the demo store (30 x 20 m)' : 'a 60 x 60 m supermarket, 12 departments'}; clerks react in ${DEFAULT_NOTE}\n`)
  const rows: [string, (x: ReturnType<typeof pooled>) => string][] = [
    ['requests', (x) => String(x.requests)],
    ['time to arrive, median', (x) => `${x.arrive.median} s`],
    ['time to arrive, 90th percentile', (x) => `${x.arrive.p90} s`],
    ['  per seed (median/p90)', (x) => x.perSeed],
    ['time to accept, median / p90', (x) => `${x.accept.median} / ${x.accept.p90} s`],
    ['arrived', (x) => `${x.arrive.count} (${((100 * x.arrive.count) / Math.max(1, x.requests)).toFixed(1)}%)`],
    ['expired (nobody came)', (x) => String(x.states.expired ?? 0)],
    ['escalated to the supervisor', (x) => String(x.escalated)],
    ['band alerts per request', (x) => (x.alerts / Math.max(1, x.requests)).toFixed(1)],
    ['clerk metres walked per request', (x) => (x.metres / Math.max(1, x.requests)).toFixed(1)],
    ['clerks turned back (taken)', (x) => String(x.aborted)],
  ]
  console.log(`${''.padEnd(34)}${cols.map((c) => c.name.padEnd(26)).join('')}`)
  for (const [name, f] of rows) console.log(`${name.padEnd(34)}${cols.map((c) => f(c.x).padEnd(26)).join('')}`)
}

const DEFAULT_NOTE = 'a median 8 s (log-normal), accept 80% / decline 10% / miss 10% of alerts, walk 1.2 m/s, serve a median 90 s'

if (process.argv[1] && resolve(process.argv[1]).endsWith('shift.ts')) void main()
