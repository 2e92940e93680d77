/**
 * npm run bench:floods [-- --dist <a dist/ folder, e.g. of an older build>] [--only <flood>]
 *
 * The store-Wi-Fi floods of issue 11, each against a fresh gateway process (built dist/, on loopback), measured
 * from outside: the gateway's RSS growth (VmRSS from /proc, after the flood settles), its longest event-loop
 * stall (prom-client's eventloop lag max, reset at each scrape), its open file descriptors. Run with `--dist`
 * pointing at an older build to put the figures before and after side by side; the gateway runs as a lab
 * (AISLE_MQTT_ANONYMOUS=on), the worst case, since with device identity on a stranger gets no further than
 * the refused CONNECT.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqtt, { type MqttClient } from 'mqtt'
import { freePort, sleep } from '../helpers/net.js'
import { distMain } from '../helpers/process.js'

const arg = (name: string) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : undefined }
/** the dist/ folder of the build to measure */
const dist = arg('dist') ?? join(distMain(), '..', '..')
const only = arg('only')

interface Gw { proc: ChildProcess; http: string; mqtt: string; dir: string; prefix: string }

async function start(): Promise<Gw> {
  const dir = mkdtempSync(join(tmpdir(), 'aisle-flood-'))
  const http = await freePort()
  const mq = await freePort()
  const cfg = join(dir, 'store.json')
  writeFileSync(cfg, JSON.stringify({
    store: { id: 'flood', timezone: 'Europe/Berlin' },
    layout: { zones: [{ id: 'fridge-dairy', dwellSeconds: 10 }, { id: 'bakery' }], anchors: [{ id: 'scn-dairy', kind: 'scanner', zone: 'fridge-dairy' }, { id: 'scn-bakery', kind: 'scanner', zone: 'bakery' }] },
    log: { level: 'warn' },
  }))
  const child = join(dirname(fileURLToPath(import.meta.url)), 'flood-child.mjs')
  const prof = process.env['FLOOD_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['FLOOD_PROF']}`] : []
  const proc = spawn(process.execPath, ['--expose-gc', ...prof, child, dist], { env: { ...process.env, AISLE_CONFIG: cfg, AISLE_DATA_DIR: dir, AISLE_HTTP_PORT: String(http), AISLE_MQTT_PORT: String(mq), AISLE_HTTP_HOST: '127.0.0.1', AISLE_MQTT_HOST: '127.0.0.1', AISLE_SIMULATOR: 'off', AISLE_MQTT_ANONYMOUS: 'on', AISLE_ADMIN_TOKEN: 'flood-admin-token' }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const url = `http://127.0.0.1:${http}`
  await new Promise((resolve) => proc.once('message', resolve))
  return { proc, http: url, mqtt: `mqtt://127.0.0.1:${mq}`, dir, prefix: 'aisle/flood' }
}

async function stop(g: Gw): Promise<void> {
  g.proc.send!('stop')
  setTimeout(() => g.proc.kill('SIGKILL'), 10_000).unref()
  await new Promise((r) => g.proc.once('exit', r))
  rmSync(g.dir, { recursive: true, force: true })
}

/** the gateway's heap after a full GC, its RSS, and its longest event-loop stall since the last call */
function measure(g: Gw): Promise<{ heapMB: number; rssMB: number; lagMs: number }> {
  return new Promise((resolve) => {
    g.proc.once('message', (m) => resolve(m as { heapMB: number; rssMB: number; lagMs: number }))
    g.proc.send!('measure')
  })
}
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length
async function healthMs(g: Gw): Promise<number> {
  const t0 = performance.now()
  try { await fetch(`${g.http}/healthz`, { signal: AbortSignal.timeout(10_000) }); return performance.now() - t0 } catch { return Infinity }
}

async function client(g: Gw, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(g.mqtt, { reconnectPeriod: 0, ...opts })
}

async function blast(c: MqttClient, n: number, msg: (i: number) => [string, string | Buffer], qos: 0 | 1 = 1, opts: { retain?: boolean; batch?: number } = {}): Promise<number> {
  let sent = 0
  // a broker that drops the connection leaves publishes unanswered: the flood ends there
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()))
  const batch = opts.batch ?? 500
  for (let i = 0; i < n && c.connected; i += batch) {
    const round = Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => { const [t, p] = msg(i + j); return c.publishAsync(t, p, { qos, retain: opts.retain ?? false }).then(() => { sent++ }, () => {}) }))
    await Promise.race([round, closed])
  }
  return sent
}

interface Row { flood: string; rss: number; heap: number; lag: number; fd?: number; health?: number; note: string }

const floods: Record<string, (g: Gw) => Promise<Omit<Row, 'flood' | 'rss' | 'heap' | 'lag'>>> = {
  'dwell reports of 200k made-up subjects, no exit': async (g) => {
    const c = await client(g)
    const n = await blast(c, 200_000, (i) => [`${g.prefix}/dwell/tof-x`, JSON.stringify({ zone: 'fridge-dairy', subject: `watch:${i}`, state: 'dwell', seconds: 12 })])
    await c.endAsync()
    return { note: `${n} sent` }
  },
  '50k made-up bands reporting': async (g) => {
    const c = await client(g)
    const n = await blast(c, 50_000, (i) => [`${g.prefix}/band/fake-${i}/status`, JSON.stringify({ clerkId: `c-${i}`, onShift: true, battery: 90 })])
    await c.endAsync()
    const body = await (await fetch(`${g.http}/v1/admin/assist`, { headers: { authorization: 'Bearer flood-admin-token' } })).text()
    return { note: `${n} sent; GET /v1/admin/assist ${(body.length / 1_048_576).toFixed(2)} MB` }
  },
  '20k subscriptions from one client': async (g) => {
    const c = await client(g)
    let granted = 0
    for (let i = 0; i < 20_000; i += 500) {
      const r = await c.subscribeAsync(Array.from({ length: 500 }, (_, j) => `${g.prefix}/x/${i + j}`), { qos: 0 }).catch((e: { packet?: { granted?: number[] } }) => (e.packet?.granted ?? []).map((q) => ({ qos: q })))
      granted += r.filter((x) => x.qos !== 128).length
      if (!c.connected) break
    }
    await c.endAsync(true)
    return { note: `${granted} granted` }
  },
  '2,000 idle connections': async (g) => {
    const socks: Socket[] = []
    for (let i = 0; i < 2000; i++) { const s = createConnection({ host: '127.0.0.1', port: Number(new URL(g.mqtt).port) }); s.on('error', () => {}); socks.push(s) }
    await sleep(1500)
    const fd = fds(g.proc.pid!)
    const health = await healthMs(g)
    await sleep(6000)
    const open = socks.filter((s) => !s.destroyed && s.readyState === 'open').length
    for (const s of socks) s.destroy()
    return { fd, health, note: `${open} still open after 7.5 s` }
  },
  '20 retained messages of 8 MB': async (g) => {
    const c = await client(g)
    const n = await blast(c, 20, (i) => [`${g.prefix}/status/dev-${i}`, Buffer.alloc(8 * 1024 * 1024, 0x61)], 1, { retain: true, batch: 1 })
    await c.endAsync(true).catch(() => {})
    return { note: `${n} accepted by the broker` }
  },
  'a persistent session with 100k queued messages reconnecting': async (g) => {
    const sub = await client(g, { clientId: 'flood-persistent', clean: false }).catch(() => null)
    if (!sub) return { note: 'refused: no persistent session without credentials' }
    await sub.subscribeAsync(`${g.prefix}/#`, { qos: 1 })
    await sub.endAsync(true)
    const pub = await client(g)
    await blast(pub, 100_000, (i) => [`${g.prefix}/status/dev-${i % 10}`, JSON.stringify({ online: true, n: i })])
    await pub.endAsync()
    await measure(g) // reset the window: only the reconnect counts
    const again = await client(g, { clientId: 'flood-persistent', clean: false })
    await sleep(3000)
    await again.endAsync(true)
    return { note: 'reconnected' }
  },
}

const rows: Row[] = []
for (const [name, run] of Object.entries(floods)) {
  if (only && !name.includes(only)) continue
  const g = await start()
  try {
    await sleep(1000)
    const before = await measure(g)
    const extra = await run(g)
    await sleep(1500)
    const after = await measure(g)
    rows.push({ flood: name, rss: after.rssMB - before.rssMB, heap: after.heapMB - before.heapMB, lag: after.lagMs, ...extra })
  } catch (err) {
    rows.push({ flood: name, rss: NaN, heap: NaN, lag: NaN, note: `failed: ${(err as Error).message}` })
  } finally {
    await stop(g)
  }
  const r = rows[rows.length - 1]!
  process.stdout.write(`${r.flood}: RSS +${r.rss.toFixed(0)} MB, heap +${r.heap.toFixed(0)} MB, event loop max ${r.lag.toFixed(0)} ms${r.fd !== undefined ? `, ${r.fd} fds, /healthz ${r.health === Infinity ? 'no answer' : `${r.health!.toFixed(0)} ms`}` : ''}; ${r.note}\n`)
}
console.log(`\n| flood (${dist}) | RSS growth | heap held | event loop max | note |\n|---|---|---|---|---|`)
for (const r of rows) console.log(`| ${r.flood} | +${r.rss.toFixed(0)} MB | +${r.heap.toFixed(0)} MB | ${r.lag.toFixed(0)} ms | ${r.fd !== undefined ? `${r.fd} fds, /healthz ${r.health === Infinity ? 'no answer' : `${r.health!.toFixed(0)} ms`}; ` : ''}${r.note} |`)
