/** Benchmark publisher process: publishes sightings the way scanners do, as fast as asked, QoS 0. */
import mqtt, { type MqttClient } from 'mqtt'
import type { PublishJob } from './lib.js'

const clients = new Map<string, MqttClient>()

async function client(url: string): Promise<MqttClient> {
  let c = clients.get(url)
  if (!c) {
    c = await mqtt.connectAsync(url, { clientId: `bench-pub-${process.pid}-${clients.size}`, reconnectPeriod: 0, clean: true })
    clients.set(url, c)
  }
  return c
}

/**
 * A stable store: subject n stands in zone n % zones; a scanner in zone z hears the subjects of its own zone
 * strongly and those of the neighbouring zones weakly (so presence sees realistic, mostly steady readings).
 */
function sighting(job: PublishJob, scanner: number, i: number, now: number): string {
  const zones = Math.max(1, Math.min(20, job.scanners.length))
  const zone = scanner % zones
  const perZone = Math.max(1, Math.floor(job.subjects / zones))
  const offset = (i % 3) - 1 // own zone, or a neighbour
  const z = (zone + offset + zones) % zones
  const n = z + zones * ((i * 7919) % perZone)
  const rssi = offset === 0 ? -55 - (i % 10) : -75 - (i % 10)
  return `{"id":"watch:s${n}","rssi":${rssi},"ts":${now}}`
}

function payload(job: PublishJob, i: number, now: number): string {
  const scanner = i % job.scanners.length
  if (job.batch === 1) return sighting(job, scanner, i, now)
  let s = '['
  for (let k = 0; k < job.batch; k++) s += `${k ? ',' : ''}${sighting(job, scanner, i * job.batch + k, now)}`
  return `${s}]`
}

async function run(job: PublishJob): Promise<{ sent: number; ms: number }> {
  const c = await client(job.url)
  const topics = job.scanners.map((s) => `${job.prefix}/ble/${s}`)
  const t0 = performance.now()
  const chunk = job.rate > 0 ? Math.max(1, Math.round(job.rate / 100)) : 200
  let sent = 0
  while (sent < job.count) {
    const n = Math.min(chunk, job.count - sent)
    const now = Date.now()
    await new Promise<void>((resolve) => {
      for (let k = 0; k < n; k++) {
        const i = sent + k
        c.publish(topics[i % topics.length]!, payload(job, i, now), { qos: 0 }, k === n - 1 ? () => resolve() : undefined)
      }
    })
    sent += n
    if (job.rate > 0) {
      const due = t0 + (sent / job.rate) * 1000
      const wait = due - performance.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    }
  }
  return { sent, ms: performance.now() - t0 }
}

process.on('message', (job) => {
  run(job as PublishJob).then((r) => process.send!({ done: true, ...r }), (err) => process.send!({ error: String(err) }))
})
process.send!({ ready: true })
