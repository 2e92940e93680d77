/**
 * Runs the store simulator in real time against a gateway, as real devices would: an MQTT connection for
 * the scanners, POS lanes and handhelds, and a WebSocket member app for each member who uses the app.
 */
import mqtt from 'mqtt'
import type { Layout } from '../../edge/contract/resources.js'
import { SimMemberApp } from './member-app.js'
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
}

export interface RunningSimulator {
  sim: StoreSimulator
  apps: SimMemberApp[]
  stop(): Promise<void>
}

export async function runSimulator(o: RunnerOptions): Promise<RunningSimulator> {
  const client = await mqtt.connectAsync(o.mqttUrl, { clientId: `aisle-sim-${process.pid}-${Date.now().toString(36)}`, reconnectPeriod: 1000, clean: true })
  const scanners = o.layout.anchors.filter((a) => a.kind === 'scanner').map((a) => a.id)
  const sim = new StoreSimulator({
    prefix: o.prefix, layout: o.layout, members: o.members, shoppers: o.shoppers, seed: o.seed,
    // the demo mixes device types: one ESPresense node, one scanner forwarding raw advertisements
    espresenseScanners: scanners.includes('scn-bakery') ? ['scn-bakery'] : [],
    advScanners: scanners.includes('scn-produce') ? ['scn-produce'] : [],
    firstStop: o.layout.zones.some((z) => z.id === 'fridge-dairy') ? 'fridge-dairy' : undefined,
  }, Date.now())
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
    for (const msg of sim.step(Date.now())) {
      client.publish(msg.topic, JSON.stringify(msg.payload), { qos: msg.qos })
    }
  }, o.tickMs ?? 250)
  return {
    sim, apps,
    async stop() {
      clearInterval(timer)
      for (const a of apps) a.stop()
      await client.endAsync()
    },
  }
}
