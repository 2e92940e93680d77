/**
 * npm run bench:ingest -- [--quick]
 *
 * The same sightings published to the same broker, consumed by (a) a bare subscriber that connects the way
 * the gateway does and only parses JSON, and (b) the gateway's full ingest path (route, validate, decode,
 * identity, presence, dwell events and what must be stored). Embedded aedes and Mosquitto; single sightings
 * and arrays of 50. Prints both rates, their ratio, lag from publish to processed, and peak RSS.
 * The publisher runs in its own process, as devices do.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { loadConfig } from '../../edge/config/load.js'
import { createLogger } from '../../edge/core/log.js'
import { startGateway } from '../../edge/gateway.js'
import { EmbeddedBroker } from '../../edge/mqtt/embedded.js'
import type { MqttPort } from '../../edge/mqtt/port.js'
import { freePort } from '../helpers/net.js'
import { mosquittoBinary, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js'
import { Publisher, RssSampler, mb, percentile, table, type PublishJob } from './lib.js'

const quick = process.argv.includes('--quick')
const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
const onlyBroker = arg('broker')
const onlyBatch = arg('batch') ? Number(arg('batch')) : undefined
const PREFIX = 'aisle/bench'
const SCANNERS = Array.from({ length: 60 }, (_, i) => `scn-${i}`)
const SUBJECTS = 2000
const log = createLogger({ level: 'silent' })

interface Counter { n: number; first: number; last: number; lags: number[]; expected: number; done: () => void }

function counter(expected: number, done: () => void): Counter {
  return { n: 0, first: 0, last: 0, lags: [], expected, done }
}
function hit(c: Counter, ts: number): void {
  const now = performance.now()
  if (c.n === 0) c.first = now
  c.last = now
  c.n++
  if ((c.n & 7) === 0) c.lags.push(Date.now() - ts)
  if (c.n === c.expected) c.done()
}

async function measure(pub: Publisher, job: PublishJob, attach: (c: Counter) => Promise<() => Promise<void>>) {
  let resolve!: () => void
  const finished = new Promise<void>((r) => { resolve = r })
  const c = counter(job.count, () => resolve())
  const detach = await attach(c)
  const rss = new RssSampler().start()
  const cpu0 = process.cpuUsage()
  const sent = await pub.run(job)
  // done when everything arrived, or nothing new arrived for 3 s (a drop is reported, not hidden)
  let seen = -1
  while (c.n < job.count && c.n !== seen) {
    seen = c.n
    await Promise.race([finished, new Promise((r) => setTimeout(r, 3000))])
  }
  const cpu = process.cpuUsage(cpu0)
  const peak = rss.stop()
  await detach()
  const secs = (c.last - c.first) / 1000
  const lags = Float64Array.from(c.lags).sort()
  return { received: c.n, sent: sent.sent, rate: secs > 0 ? (c.n - 1) / secs : NaN, p50: percentile(lags, 50), p99: percentile(lags, 99), rss: peak, cpuUs: (cpu.user + cpu.system) / Math.max(1, c.n) }
}

function gatewayConfig(dataDir: string, httpPort: number, mqttUrl: string | null) {
  return loadConfig({
    env: {},
    overlay: {
      store: { id: 'bench', name: 'bench', timezone: 'UTC' },
      dataDir,
      http: { host: '127.0.0.1', port: httpPort },
      mqtt: { url: mqttUrl, clientId: `bench-gw-${process.pid}-${httpPort}` },
      layout: {
        zones: Array.from({ length: 20 }, (_, i) => ({ id: `z-${i}` })),
        anchors: SCANNERS.map((id, i) => ({ id, kind: 'scanner', zone: `z-${i % 20}`, x: i, y: 0 })),
      },
      log: { level: 'silent' },
    },
  }).config
}

/** Baseline: connects the way the gateway does, only parses JSON. */
function bareHandler(c: Counter) {
  return (_topic: string, payload: Buffer) => {
    const v = JSON.parse(payload.toString('utf8')) as { ts: number } | { ts: number }[]
    hit(c, Array.isArray(v) ? v[0]!.ts : v.ts)
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const ROUNDS = quick ? 1 : 5
let zoneEvents = 0
const BARE_PREFIX = 'aisle/bare'

/**
 * Bare subscriber and gateway run side by side on the same broker, each on its own topic prefix, so rounds
 * can alternate (spreading this machine's noise over both) while the gateway keeps running warm.
 */
async function runBroker(name: 'embedded' | 'mosquitto', pub: Publisher, mosq: Mosquitto | null) {
  const rows: Record<string, string | number>[] = []
  for (const batch of [1, 50]) {
    if (onlyBatch !== undefined && batch !== onlyBatch) continue
    const count = batch === 1 ? (quick ? 40_000 : 150_000) : (quick ? 2_000 : 12_000)
    const dataDir = mkdtempSync(join(tmpdir(), 'aisle-bench-'))
    let port: MqttPort | null = null
    let url: string
    if (name === 'embedded') {
      const p = await freePort()
      const b = new EmbeddedBroker({ host: '127.0.0.1', port: p, reservedPrefixes: [], log })
      await b.start()
      port = b
      url = `mqtt://127.0.0.1:${p}`
    } else {
      url = mosq!.url
    }
    const job = (prefix: string, n: number, rate = 0): PublishJob => ({ url, prefix, count: n, batch, rate, subjects: SUBJECTS, scanners: SCANNERS })

    // (a) bare subscriber: connects the way the gateway does, only parses JSON
    let bareCounter: Counter | null = null
    const bareFn = (topic: string, payload: Buffer) => { if (bareCounter) bareHandler(bareCounter)(topic, payload) }
    let bareStop: () => Promise<void>
    if (port) {
      bareStop = await port.subscribe([`${BARE_PREFIX}/#`], bareFn)
    } else {
      const client = await mqtt.connectAsync(url, { clientId: `bench-bare-${process.pid}-${batch}`, clean: false, reconnectPeriod: 0 })
      client.on('message', bareFn)
      await client.subscribeAsync({ [`${BARE_PREFIX}/#`]: { qos: 1 } })
      bareStop = async () => { await client.unsubscribeAsync(`${BARE_PREFIX}/#`); await client.endAsync() }
    }
    const bare = (n: number, rate = 0) => measure(pub, job(BARE_PREFIX, n, rate), async (c) => { bareCounter = c; return async () => { bareCounter = null } })

    // (b) the gateway, long-running; a message counts once presence has seen it (our listener runs after the gateway's own)
    const config = gatewayConfig(dataDir, await freePort(), name === 'embedded' ? null : url)
    const gw = await startGateway({ config, log, ...(port ? { mqtt: port } : {}) })
    const gateway = (n: number, rate = 0) => measure(pub, job(PREFIX, n, rate), async (c) => {
      const off = gw.bus.on('readings', ({ readings }) => hit(c, readings[0]!.ts))
      const offZone = gw.bus.on('zone', () => { zoneEvents++ })
      return async () => { off(); offZone() }
    })

    const b: Awaited<ReturnType<typeof bare>>[] = []
    const g: Awaited<ReturnType<typeof bare>>[] = []
    let bp: Awaited<ReturnType<typeof bare>>
    let gp: Awaited<ReturnType<typeof bare>>
    let pacedRate = 0
    try {
      await bare(count)
      await gateway(count)
      zoneEvents = 0
      for (let r = 0; r < ROUNDS; r++) {
        b.push(await bare(count))
        g.push(await gateway(count))
      }
      // latency at half the gateway's measured capacity, the same paced load for both
      pacedRate = Math.round(median(g.map((x) => x.rate)) / 2)
      const pacedN = Math.min(count, pacedRate * 4)
      bp = await bare(pacedN, pacedRate)
      gp = await gateway(pacedN, pacedRate)
    } finally {
      await gw.stop()
      await bareStop()
      if (port) await port.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
    const bareRate = median(b.map((x) => x.rate))
    const gwRate = median(g.map((x) => x.rate))
    // per round ratio: each gateway round against the bare round just before it
    const ratios = g.map((x, i) => x.rate / b[i]!.rate)
    const zonePerK = (zoneEvents / (ROUNDS * count * batch)) * 1000
    zoneEvents = 0
    const lost = [...b, ...g].reduce((n, r) => n + Math.max(0, r.sent - r.received), 0)
    rows.push({
      broker: name,
      message: batch === 1 ? 'single' : `array of ${batch}`,
      'bare msg/s': Math.round(bareRate).toLocaleString('en'),
      'gateway msg/s': Math.round(gwRate).toLocaleString('en'),
      'gateway sightings/s': Math.round(gwRate * batch).toLocaleString('en'),
      ratio: median(ratios).toFixed(2),
      'ratio min-max': `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`,
      'CPU us/msg (bare | gw)': `${median(b.map((x) => x.cpuUs)).toFixed(1)} | ${median(g.map((x) => x.cpuUs)).toFixed(1)}`,
      'paced msg/s': pacedRate.toLocaleString('en'),
      'lag p50/p99 ms (bare | gw)': `${bp.p50}/${bp.p99} | ${gp.p50}/${gp.p99}`,
      'peak RSS': mb(Math.max(...[...b, ...g].map((x) => x.rss))),
      'zone events / 1k sightings': zonePerK.toFixed(2),
      lost,
    })
    console.error(`done: ${name}, batch ${batch}`)
  }
  return rows
}

const pub = await Publisher.start()
const rows: Record<string, string | number>[] = []
try {
  if (!onlyBroker || onlyBroker === 'embedded') rows.push(...await runBroker('embedded', pub, null))
  if (onlyBroker === 'embedded') { /* skip */ } else if (mosquittoBinary()) {
    const mosq = await startMosquitto()
    try {
      rows.push(...await runBroker('mosquitto', pub, mosq))
    } finally {
      await mosq.stop()
    }
  } else {
    console.error('mosquitto is not installed: skipping the Mosquitto rows (apt-get install -y mosquitto)')
  }
} finally {
  pub.stop()
}
console.log(`\ningest benchmark (${quick ? 'quick' : 'full'}), node ${process.version}, ${SCANNERS.length} scanners, ${SUBJECTS} subjects; publisher in its own process, QoS 0`)
console.log(`rates are medians of ${ROUNDS} alternating rounds (bare and gateway side by side on one broker, separate topic prefixes); ratio = median of per-round ratios; lag is publish-to-processed at a paced half load; RSS is the whole process (broker included when embedded)\n`)
console.log(table(rows))
