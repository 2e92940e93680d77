/**
 * The store simulator (shoppers, scanners, clerks' bands, call buttons) driven in virtual time against a
 * test gateway over MQTT, as real devices would talk to it: `advance(ms)` moves the gateway's clock in
 * steps, publishes what the devices send and runs the gateway's periodic work. `run()` keeps it going in
 * the background (for a browser watching the console), `mute(id)` stops a device publishing.
 */
import type { MqttClient } from 'mqtt'
import type { Layout } from '../../edge/contract/resources.js'
import { topics } from '../../edge/contract/topics.js'
import type { ManualClock } from '../../edge/core/clock.js'
import type { Gateway } from '../../edge/gateway.js'
import { ClerkCrew } from '../../devices/simulator/clerks.js'
import { StoreSimulator, type SimMember } from '../../devices/simulator/store-sim.js'
import { connect } from './mqtt.js'

export interface VirtualStore {
  sim: StoreSimulator
  crew: ClerkCrew
  client: MqttClient
  /** move virtual time on by `ms` in `stepMs` steps */
  advance(ms: number, stepMs?: number): Promise<void>
  /** keep advancing `stepMs` of virtual time every `everyMs` of real time until stopped */
  run(o?: { stepMs?: number; everyMs?: number }): void
  pause(): Promise<void>
  mute(deviceId: string): void
  unmute(deviceId: string): void
  /** a customer presses a call button */
  call(button: string): Promise<void>
  published: number
  stop(): Promise<void>
}

export async function startVirtualStore(o: { gw: Gateway; clock: ManualClock; layout: Layout; members: SimMember[]; shoppers?: number; clerks?: number; seed?: number }): Promise<VirtualStore> {
  const { gw, clock } = o
  const client = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`)
  const start = clock.now()
  const crew = new ClerkCrew({ prefix: gw.prefix, layout: o.layout, clerks: Array.from({ length: o.clerks ?? 3 }, (_, i) => ({ clerkId: `clerk-${i + 1}`, band: `band-${i + 1}` })), seed: (o.seed ?? 7) + 7 }, start)
  client.on('message', (topic, payload) => {
    const m = /\/band\/([^/]+)\/alert$/.exec(topic)
    if (!m) return
    try { crew.alert(m[1]!, JSON.parse(payload.toString()) as { alertId: string; kind: string; zone: string }) } catch { /* not an alert */ }
  })
  await client.subscribeAsync(`${gw.prefix}/band/+/alert`, { qos: 1 })
  const scanners = o.layout.anchors.filter((a) => a.kind === 'scanner').map((a) => a.id)
  const sim = new StoreSimulator({
    prefix: gw.prefix, layout: o.layout, members: o.members, shoppers: o.shoppers ?? 12, seed: o.seed ?? 7,
    espresenseScanners: scanners.includes('scn-bakery') ? ['scn-bakery'] : [],
    firstStop: o.layout.zones.some((z) => z.id === 'fridge-dairy') ? 'fridge-dairy' : undefined,
    others: () => crew.subjects(),
  }, start)
  const muted = new Set<string>()
  const isMuted = (topic: string) => {
    for (const id of muted) if (topic.endsWith(`/${id}`) || topic.includes(`/${id}/`)) return true
    return false
  }
  let timer: ReturnType<typeof setInterval> | null = null
  let running: Promise<void> = Promise.resolve()
  const vs: VirtualStore = {
    sim, crew, client, published: 0,
    async advance(ms, stepMs = 250) {
      const until = clock.now() + ms
      while (clock.now() < until) {
        const now = clock.advance(Math.min(stepMs, until - clock.now()))
        const msgs = [...sim.step(now), ...crew.step(now)]
        await Promise.all(msgs.filter((m) => !isMuted(m.topic)).map((m) => client.publishAsync(m.topic, JSON.stringify(m.payload), { qos: m.qos })))
        vs.published += msgs.length
        gw.tick()
      }
    },
    run({ stepMs = 500, everyMs = 100 } = {}) {
      if (timer) return
      let busy = false
      timer = setInterval(() => {
        if (busy) return
        busy = true
        running = vs.advance(stepMs, stepMs).catch(() => {}).finally(() => { busy = false })
      }, everyMs)
    },
    async pause() {
      if (timer) clearInterval(timer)
      timer = null
      await running
    },
    mute: (id) => { muted.add(id) },
    unmute: (id) => { muted.delete(id) },
    async call(button) { await client.publishAsync(topics.button(gw.prefix, button), JSON.stringify({ action: 'call', ts: clock.now() }), { qos: 1 }) },
    async stop() {
      await vs.pause()
      await client.endAsync()
    },
  }
  return vs
}
