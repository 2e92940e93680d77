/**
 * Runs the store simulator in real time against a gateway, as real devices would: an MQTT connection for
 * the scanners, POS lanes and handhelds, and a WebSocket member app for each member who uses the app.
 */
import type { Layout } from '../../edge/contract/resources.js'
import { topics } from '../../edge/contract/topics.js'
import { ClerkCrew } from './clerks.js'
import { DevicePool, type Provision } from './device-pool.js'
import { SimMemberApp } from './member-app.js'
import { Rng } from './rng.js'
import { StoreSimulator, type SimMember } from './store-sim.js'

export interface RunnerOptions {
  mqttUrl: string
  httpUrl: string
  prefix: string
  layout: Layout
  members: SimMember[]
  shoppers: number
  seed: number
  /** mints a member token for the simulated apps (the CRM's job in a real store) */
  memberToken?: (memberId: string) => Promise<string>
  onLog?: (msg: string) => void
  tickMs?: number
  /** clerks wearing call bands (clerk-1 / band-1, ...) */
  clerks?: number
  /** customers pressing the layout's call buttons */
  callsPerHour?: number
  /** registers each simulated device with the gateway (CONTRACT 7a) and answers its secret; absent: one anonymous connection */
  provision?: Provision | undefined
}

export interface RunningSimulator {
  sim: StoreSimulator
  pool: DevicePool
  crew: ClerkCrew | null
  apps: SimMemberApp[]
  stop(): Promise<void>
}

export async function runSimulator(o: RunnerOptions): Promise<RunningSimulator> {
  // the simulated devices behave like real ones: each its own connection and credentials, connecting when the
  // broker is there and retrying meanwhile, publishing nothing while offline (no backlog piles up in memory)
  let crewRef: ClerkCrew | null = null
  const pool = new DevicePool({
    mqttUrl: o.mqttUrl, prefix: o.prefix, provision: o.provision, reconnect: true,
    onAlert: (band, alert) => crewRef?.alert(band, alert as { alertId: string; kind: string; zone: string }),
    onLog: o.onLog,
  })
  const scanners = o.layout.anchors.filter((a) => a.kind === 'scanner').map((a) => a.id)
  const start = Date.now()
  const crew = (o.clerks ?? 0) > 0
    ? new ClerkCrew({ prefix: o.prefix, layout: o.layout, clerks: Array.from({ length: o.clerks! }, (_, i) => ({ clerkId: `clerk-${i + 1}`, band: `band-${i + 1}` })), seed: o.seed + 7, onLog: o.onLog }, start)
    : null
  crewRef = crew
  // bands come on the air (and subscribe to their alerts) at once; they connect whenever the broker is there
  if (crew) for (const b of crew.bands()) pool.ensure(b, 'band').catch(() => {})
  const buttons = o.layout.anchors.filter((a) => a.kind === 'button').map((a) => a.id)
  const callRng = new Rng(o.seed + 11)
  const nextCall = (from: number) => from + -Math.log(1 - callRng.next()) * (3_600_000 / Math.max(1e-9, o.callsPerHour ?? 0))
  let callAt = crew && buttons.length && (o.callsPerHour ?? 0) > 0 ? start + 45_000 : Infinity
  const sim = new StoreSimulator({
    prefix: o.prefix, layout: o.layout, members: o.members, shoppers: o.shoppers, seed: o.seed,
    // the demo mixes device types: one ESPresense node, one scanner forwarding raw advertisements
    espresenseScanners: scanners.includes('scn-bakery') ? ['scn-bakery'] : [],
    advScanners: scanners.includes('scn-produce') ? ['scn-produce'] : [],
    firstStop: o.layout.zones.some((z) => z.id === 'fridge-dairy') ? 'fridge-dairy' : undefined,
    ...(crew ? { others: () => crew.subjects() } : {}),
  }, start)
  const apps: SimMemberApp[] = []
  if (o.memberToken) {
    const mint = o.memberToken
    for (const m of o.members.filter((x) => x.consent.offers)) {
      const app = new SimMemberApp({
        httpUrl: o.httpUrl, memberId: m.memberId, token: () => mint(m.memberId),
        onOffer: (memberId, offer) => {
          sim.offerReceived(memberId, offer)
          o.onLog?.(`member ${memberId} received offer "${offer.title}" (${offer.campaignId})`)
        },
      })
      await app.start().catch(() => {})
      apps.push(app)
    }
  }
  const timer = setInterval(() => {
    const now = Date.now()
    const msgs = sim.step(now)
    if (crew) msgs.push(...crew.step(now))
    if (now >= callAt) {
      const button = callRng.pick(buttons)
      msgs.push({ topic: topics.button(o.prefix, button), payload: { action: 'call', ts: now }, qos: 1 })
      o.onLog?.(`a customer pressed call button ${button}`)
      callAt = nextCall(now)
    }
    for (const msg of msgs) pool.send(msg.topic, msg.payload, msg.qos)
  }, o.tickMs ?? 250)
  return {
    sim, crew, apps, pool,
    async stop() {
      clearInterval(timer)
      for (const a of apps) a.stop()
      await pool.stop()
    },
  }
}
