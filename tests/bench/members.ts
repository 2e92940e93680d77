/**
 * Benchmark member process for bench:decide: phones standing at a fridge (their sightings published the way
 * a scanner reports them) and the same members' apps connected on the WebSocket, in a process of their own
 * as phones and scanners are. Times from the publish of the sighting that completes a dwell to the offer
 * frame arriving, both on this process's monotonic clock.
 */
import mqtt from 'mqtt'
import WebSocket from 'ws'
import { rpidAt } from '../../edge/contract/rpid.js'

export interface MembersJob {
  mode: 'gateway' | 'bare'
  mqttUrl: string
  /** the scanner's sighting topic */
  topic: string
  /** gateway mode: P/events/dwell, to learn which sighting completed each dwell */
  dwellTopic: string | null
  zone: string
  /** full WebSocket URL without the query */
  wsUrl: string
  members: { memberId: string; key: string; token: string }[]
  staggerMs: number
  periodMs: number
  /** give up on a member this long after its first sighting */
  timeoutMs: number
}

export interface MembersResult {
  latencies: number[]
  missing: number
  /** the sighting that completed a dwell was another member's (gateway mode): never expected */
  mismatched: number
  frames: number
}

interface Sent { member: number; at: number }

async function run(job: MembersJob): Promise<MembersResult> {
  const client = await mqtt.connectAsync(job.mqttUrl, { clientId: `bench-members-${process.pid}-${Date.now()}`, reconnectPeriod: 0, clean: true })
  const sent = new Map<number, Sent>()
  const completedBy = new Map<number, number>() // member -> ts of the completing sighting
  let mismatched = 0
  // the dwell events come on a connection of their own: a scanner's connection only publishes
  const events = job.dwellTopic ? await mqtt.connectAsync(job.mqttUrl, { clientId: `bench-events-${process.pid}-${Date.now()}`, reconnectPeriod: 0, clean: true }) : null
  if (events && job.dwellTopic) {
    events.on('message', (_t, payload) => {
      const e = JSON.parse(payload.toString()) as { zone: string; state: string; ts: number }
      if (e.zone !== job.zone || e.state !== 'dwell') return
      const s = sent.get(e.ts)
      if (s) completedBy.set(s.member, e.ts)
    })
    await events.subscribeAsync(job.dwellTopic, { qos: 0 })
  }

  const n = job.members.length
  const arrived = new Float64Array(n).fill(NaN)
  const bareTs = new Float64Array(n).fill(NaN)
  const timers: (NodeJS.Timeout | null)[] = new Array(n).fill(null)
  let frames = 0
  let resolved = 0
  let finish!: () => void
  const done = new Promise<void>((r) => { finish = r })
  const settle = (i: number) => {
    if (timers[i]) { clearInterval(timers[i]!); timers[i] = null }
    if (++resolved === n) finish()
  }

  const sockets = await Promise.all(job.members.map((m, i) => new Promise<WebSocket>((resolve, reject) => {
    const q = job.mode === 'gateway' ? `token=${encodeURIComponent(m.token)}` : `member=${encodeURIComponent(m.memberId)}`
    const ws = new WebSocket(`${job.wsUrl}?${q}`)
    ws.on('message', (data) => {
      const at = performance.now()
      const f = JSON.parse(data.toString()) as { type: string; offer?: { offerId: string }; ts?: number }
      if (f.type !== 'offer') return
      frames++
      if (!Number.isNaN(arrived[i]!)) return
      arrived[i] = at
      if (f.ts !== undefined) bareTs[i] = f.ts
      if (f.offer) ws.send(JSON.stringify({ type: 'ack', offerId: f.offer.offerId }))
      settle(i)
    })
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })))

  let lastTs = 0
  const publish = (i: number) => {
    const ts = Math.max(Date.now(), lastTs + 1) // unique, so a dwell event's ts names its sighting
    lastTs = ts
    sent.set(ts, { member: i, at: performance.now() })
    client.publish(job.topic, `{"id":"${rpidAt(job.members[i]!.key, ts)}","rssi":-52,"ts":${ts}}`, { qos: 0 })
  }
  job.members.forEach((_, i) => {
    setTimeout(() => {
      const started = performance.now()
      publish(i)
      timers[i] = setInterval(() => {
        if (performance.now() - started > job.timeoutMs) { settle(i); return }
        publish(i)
      }, job.periodMs)
    }, i * job.staggerMs)
  })
  await done
  await new Promise((r) => setTimeout(r, 300)) // late dwell events
  for (const ws of sockets) ws.close()
  await client.endAsync()
  await events?.endAsync()

  const latencies: number[] = []
  let missing = 0
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(arrived[i]!)) { missing++; continue }
    const ts = job.mode === 'bare' ? bareTs[i]! : completedBy.get(i)
    const s = ts === undefined ? undefined : sent.get(ts)
    if (!s) { missing++; continue }
    if (s.member !== i) { mismatched++; continue }
    latencies.push(arrived[i]! - s.at)
  }
  return { latencies, missing, mismatched, frames }
}

process.on('message', (job) => {
  run(job as MembersJob).then((r) => process.send!({ done: true, ...r }), (err) => process.send!({ error: String(err?.stack ?? err) }))
})
process.send!({ ready: true })
