/**
 * npm run bench:scanner -- [--quick] [--rate=1000] [--seconds=10] [--rounds=3]
 *
 * CPU of the gateway's own BLE scanner per 1,000 advertisements a second, beside the cost of node-ble's D-Bus
 * signal handling alone. BlueZ is python-dbusmock's bluez5 template on a private bus (tests/helpers/bluez.ts)
 * with 100 devices advertising 10 times a second each (half iBeacons, a quarter member phones with rpids, the
 * rest phones that are fingerprinted or dropped); every advertisement is one PropertiesChanged, as bluetoothd
 * sends them with DuplicateData. Each run is a process of its own (tests/bench/scanner-child.ts):
 *   baseline  node-ble + the same match rules, signals received and thrown away
 *   scanner   the scanner service, publishing to a broker in this process
 * Runs alternate (baseline, scanner, baseline, ...) so that a busy machine hurts both alike. Prints CPU (% of
 * one core) normalised to 1,000 advertisements a second, the ratio, peak RSS, and the age of sightings when
 * they reach a subscriber (p50 / p99: mostly the publish interval's batching).
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { Aedes } from 'aedes'
import mqtt from 'mqtt'
import { packageRoot } from '../../edge/config/load.js'
import { RPID_SERVICE_UUID, rpidAt } from '../../edge/contract/index.js'
import { bluezMockMissing, startBluezMock, type RadioSpec } from '../helpers/bluez.js'
import { BenchChild, mb, percentile, table } from './lib.js'
import type { ScannerBenchJob, ScannerBenchResult } from './scanner-child.js'

const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
const quick = process.argv.includes('--quick')
const RATE = Number(arg('rate') ?? 1000)
const SECONDS = Number(arg('seconds') ?? (quick ? 5 : 10))
const ROUNDS = Number(arg('rounds') ?? (quick ? 1 : 3))
const DEVICES = 100
const PREFIX = 'aisle/bench'

const hex = (n: number, w: number): string => n.toString(16).padStart(w, '0')

function radios(): RadioSpec[] {
  const interval = Math.round((DEVICES / RATE) * 1000)
  const out: RadioSpec[] = []
  for (let i = 0; i < DEVICES; i++) {
    const mac = `${i < 50 ? 'C4' : '5A'}:00:00:00:${hex(i >> 8, 2)}:${hex(i & 0xff, 2)}`.toUpperCase()
    const base = { address: mac, intervalMs: interval, offsetMs: (i * interval) / DEVICES, rssi: [-55 - (i % 20), -58 - (i % 20), -61 - (i % 20)] }
    if (i < 50) out.push({ ...base, addressType: 'public', flags: 6, manufacturerData: { '76': `0215b9407f30f5f8466eaff925556b57fe6d${hex(1, 4)}${hex(i, 4)}c5` } })
    else if (i < 75) out.push({ ...base, addressType: 'random', flags: 0x1a, serviceData: { [RPID_SERVICE_UUID]: rpidAt(hex(i, 2).repeat(32), Date.now()).slice(5) } })
    else if (i < 90) out.push({ ...base, addressType: 'random', manufacturerData: { '76': `10${hex(5 + (i % 3), 2)}1c${hex(i, 6)}` }, txPower: 12 })
    else out.push({ ...base, addressType: 'random', name: `phone-${i}` })
  }
  return out
}

async function main(): Promise<void> {
  const missing = bluezMockMissing()
  if (missing) { console.error(`bench:scanner needs the BlueZ mock: ${missing}`); process.exitCode = 1; return }
  const mock = await startBluezMock()
  const aedes = await Aedes.createBroker()
  const server = createServer({ noDelay: true }, aedes.handle)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const mqttUrl = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
  const ages: number[] = []
  const sub = await mqtt.connectAsync(mqttUrl, { clientId: 'bench-scanner-sub' })
  sub.on('message', (_topic, payload) => {
    const now = Date.now()
    for (const s of JSON.parse(String(payload)) as { ts: number }[]) ages.push(now - s.ts)
  })
  await sub.subscribeAsync(`${PREFIX}/ble/#`)
  for (const r of radios()) await mock.addRadio(r)

  console.log(`bench:scanner: ${DEVICES} devices, ${RATE} advertisements/s target, ${ROUNDS} round(s) of ${SECONDS} s per side, node ${process.version}`)
  const rows: Record<string, string | number>[] = []
  const per: Record<'baseline' | 'scanner', number[]> = { baseline: [], scanner: [] }
  const rss: Record<'baseline' | 'scanner', number[]> = { baseline: [], scanner: [] }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const mode of ['baseline', 'scanner'] as const) {
      const child = await BenchChild.fork<ScannerBenchJob, ScannerBenchResult>('./scanner-child.ts')
      if (mode === 'scanner') ages.length = 0
      const s0 = (await mock.state()).reported ?? 0
      const w0 = performance.now()
      const r = await child.run({ mode, bus: mock.address, mqttUrl, prefix: PREFIX, warmupMs: 2000, seconds: SECONDS })
      const mockRate = (((await mock.state()).reported ?? 0) - s0) / ((performance.now() - w0) / 1000)
      child.stop()
      const rate = r.advertisements / (r.wallMs / 1000)
      const cpuPct = (r.cpuMs / r.wallMs) * 100
      const per1k = cpuPct * (1000 / rate)
      per[mode].push(per1k)
      rss[mode].push(r.rssPeak)
      const sorted = Float64Array.from(ages).sort()
      rows.push({
        round, run: mode,
        'adv/s received': rate.toFixed(0),
        'mock adv/s': mockRate.toFixed(0),
        'CPU %': cpuPct.toFixed(1),
        'CPU % per 1k adv/s': per1k.toFixed(1),
        'sightings/s': (r.sightings / (r.wallMs / 1000)).toFixed(0),
        'msgs/s': (r.messages / (r.wallMs / 1000)).toFixed(1),
        'age p50/p99 ms': mode === 'scanner' && sorted.length ? `${percentile(sorted, 50).toFixed(0)} / ${percentile(sorted, 99).toFixed(0)}` : '-',
        'peak RSS': mb(r.rssPeak),
      })
    }
  }
  // the real thing: the built scanner process as systemd runs it (its RSS without the TypeScript loader)
  const dist = join(packageRoot(), 'dist', 'devices', 'scanner', 'main.js')
  if (existsSync(dist) && existsSync('/proc/self/stat')) {
    const proc = spawn(process.execPath, [dist], { stdio: 'ignore', env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: mock.address, AISLE_SCANNER_ID: 'scn-dist', AISLE_TOPIC_PREFIX: PREFIX, AISLE_MQTT_URL: mqttUrl, AISLE_LOG_LEVEL: 'warn' } })
    const ticks = (): number => { const f = readFileSync(`/proc/${proc.pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return Number(f[11]) + Number(f[12]) }
    const hwm = (): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024
    await new Promise((r) => setTimeout(r, 3000))
    const c0 = ticks()
    const s0 = (await mock.state()).reported ?? 0
    const w0 = performance.now()
    await new Promise((r) => setTimeout(r, SECONDS * 1000))
    const wallMs = performance.now() - w0
    const cpuMs = (ticks() - c0) * 10 // USER_HZ = 100 on Linux
    const rate = (((await mock.state()).reported ?? 0) - s0) / (wallMs / 1000)
    const peak = hwm()
    proc.kill('SIGTERM')
    await new Promise((r) => proc.once('exit', r))
    rows.push({ round: '-', run: 'npm run scanner (dist)', 'adv/s received': '-', 'mock adv/s': rate.toFixed(0), 'CPU %': ((cpuMs / wallMs) * 100).toFixed(1), 'CPU % per 1k adv/s': ((cpuMs / wallMs) * 100 * (1000 / rate)).toFixed(1), 'sightings/s': '-', 'msgs/s': '-', 'age p50/p99 ms': '-', 'peak RSS': mb(peak) })
  }
  console.log(table(rows))
  const med = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }
  const b = med(per.baseline)
  const s = med(per.scanner)
  console.log(`\nmedian CPU per 1,000 advertisements/s: baseline (node-ble signals alone) ${b.toFixed(1)} % of a core, scanner ${s.toFixed(1)} %: ratio ${(s / b).toFixed(2)}x; the scanner's own work ${(s - b).toFixed(1)} %`)
  console.log(`peak RSS: baseline ${mb(Math.max(...rss.baseline))}, scanner ${mb(Math.max(...rss.scanner))}`)

  await sub.endAsync()
  await new Promise<void>((r) => aedes.close(() => r()))
  await new Promise<void>((r) => server.close(() => r()))
  await mock.stop()
}

main().catch((err) => { console.error(err); process.exitCode = 1 })
